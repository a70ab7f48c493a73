// Runs npm's remove.bg client (unmodified, from node_modules) against our server: only its
// URL constant is changed, to REMOVEBG_URL. Each call named on the command line is made with
// the arguments a program would give; one JSON line per call says what came back.
"use strict";
const fs = require("fs");
const Module = require("module");
const path = require("path");

const file = require.resolve("remove.bg");
const source = fs.readFileSync(file, "utf8");
const ENDPOINT = "https://api.remove.bg/v1.0/removebg";
if (!source.includes(ENDPOINT)) throw new Error("the client's endpoint is not where it was");
const patched = new Module(file, module);
patched.filename = file;
patched.paths = Module._nodeModulePaths(path.dirname(file));
patched._compile(source.replace(ENDPOINT, process.env.REMOVEBG_URL), file);
const removebg = patched.exports;

const [photo, photoUrl, outDir, apiKey] = process.argv.slice(2, 6);
const calls = {
  file: () => removebg.removeBackgroundFromImageFile({
    path: photo, apiKey, size: "regular", type: "auto", outputFile: path.join(outDir, "file.png")}),
  base64: () => removebg.removeBackgroundFromImageBase64({
    base64img: fs.readFileSync(photo).toString("base64"), apiKey, size: "full",
    bg_color: "81d4fa", outputFile: path.join(outDir, "base64.jpg")}),
  url: () => removebg.removeBackgroundFromImageUrl({
    url: photoUrl, apiKey, size: "preview", crop: true, crop_margin: "10%",
    outputFile: path.join(outDir, "url.png")}),
  wrong_key: () => removebg.removeBackgroundFromImageUrl({
    url: photoUrl, apiKey: apiKey + "x", size: "preview"}),
};

(async () => {
  for (const name of process.argv.slice(6)) {
    try {
      const result = await calls[name]();
      delete result.base64img;
      console.log(JSON.stringify({call: name, ok: true, result}));
    } catch (errors) {
      console.log(JSON.stringify({call: name, ok: false, errors}));
    }
  }
})();
