// The "Result" fields (templates/_result_options.html), in the upload form and in the
// "Edit result" dialog: they are kept consistent here, the way the server's rules are:
// a background photo only with "Photo", JPEG only for results without transparency, a
// margin only when cropping. resultOptions(fieldset) also sets and reads them.
import { rules } from "./rules.js";

// Whether a result of `output` has no transparency: JPEG can hold it, and no checkerboard
// shows behind it (the server's list).
export function opaque(output) { return rules.opaque.indexOf(output) >= 0; }

export function resultOptions(fieldset) {
  const field = function (name) { return fieldset.querySelector('[name="' + name + '"]'); };
  const outputs = Array.from(fieldset.querySelectorAll('input[name="output"]'));
  const colour = field("background");
  const backdrop = field("background_image");
  const crop = field("crop");
  const margin = field("crop_margin");
  const format = field("format");
  const refine = field("refine_edges");
  const jpeg = format.querySelector('option[value="jpeg"]');
  const jpegReason = fieldset.querySelector(".jpeg-reason");
  const backdropKept = fieldset.querySelector(".backdrop-kept");
  let keptBackdrop = false;
  let jpegUndone = false;  // JPEG was chosen, then undone by a transparent output

  function output() {
    const checked = outputs.find(function (radio) { return radio.checked; });
    return checked ? checked.value : rules.defaults.output;
  }

  function sync() {
    const chosen = output();
    backdrop.disabled = chosen !== "image";
    if (backdropKept) backdropKept.hidden = !keptBackdrop;
    const fits = opaque(chosen);
    jpeg.disabled = !fits;
    jpegReason.hidden = fits;
    // A hidden description is still read out when named: name it only while it applies.
    if (fits) format.removeAttribute("aria-describedby");
    else format.setAttribute("aria-describedby", jpegReason.id);
    // The choice that no longer fits falls back to the default format, and comes back
    // with an output it fits (Transparent and back to Colour lost it: helper 77).
    if (!fits && format.value === "jpeg") {
      format.value = rules.defaults.format;
      jpegUndone = true;
    } else if (fits && jpegUndone) {
      format.value = "jpeg";
      jpegUndone = false;
    }
    margin.disabled = !crop.checked;
  }

  // Picking a colour means wanting the colour output.
  colour.addEventListener("input", function () {
    fieldset.querySelector('input[name="output"][value="color"]').checked = true;
    sync();
  });
  outputs.forEach(function (radio) { radio.addEventListener("change", sync); });
  format.addEventListener("change", function () { jpegUndone = false; });
  crop.addEventListener("change", sync);
  sync();

  return {
    output: output,
    backdropFile: function () { return backdrop.files.length ? backdrop.files[0] : null; },
    // Show a record's options (as the server stores them) in the fields.
    set: function (options) {
      outputs.forEach(function (radio) { radio.checked = radio.value === options.output; });
      // A record without a colour (another output) leaves the last one picked: after
      // Photo, Colour comes back with it, not with white (helper 77).
      colour.value = options.background || colour.value || rules.defaults.background;
      jpegUndone = false;
      crop.checked = options.crop;
      margin.value = String(options.cropMargin);
      format.value = options.format;
      refine.checked = options.refineEdges;
      backdrop.value = "";
      keptBackdrop = options.hasBackdrop;
      sync();
    },
    // Every option, stated: a field left out of an edit would keep the record's value.
    formData: function () {
      const data = new FormData();
      data.set("output", output());
      data.set("background", colour.value);
      data.set("crop", crop.checked ? "true" : "false");
      if (crop.checked) data.set("crop_margin", margin.value.trim());
      data.set("format", format.value);
      data.set("refine_edges", refine.checked ? "true" : "false");
      const file = output() === "image" && backdrop.files.length ? backdrop.files[0] : null;
      if (file) data.set("background_image", file, file.name);
      return data;
    },
    hasKeptBackdrop: function () { return keptBackdrop; },
    focus: function () {
      const checked = outputs.find(function (radio) { return radio.checked; }) || outputs[0];
      checked.focus();
    },
  };
}
