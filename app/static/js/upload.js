// Uploading what choose.js chose: each photo on its own request, one after another, with a
// progress bar, and each with its own message. A photo the server was too busy for is sent
// again after the wait its Retry-After gives, counted down on the photo's row (cancellable).
import {
  addAlert, clearAlerts, clearFieldErrors, csrfToken, fieldError, focusAlerts, isolated,
  LIST_STALE, refresh, UNREACHABLE,
} from "./app.js";
import { choice } from "./choose.js";
import { resultOptions } from "./options.js";
import { messages, rules } from "./rules.js";

const form = document.getElementById("upload-form");
const fileInput = document.getElementById("image");
const nameInput = document.getElementById("name");
const progressBox = document.getElementById("progress-box");
const progress = document.getElementById("progress");
const progressBar = document.getElementById("progress-bar");
const progressLabel = document.getElementById("progress-label");
const progressCount = document.getElementById("progress-count");
const submit = document.getElementById("submit");
const options = resultOptions(form.querySelector("[data-result-options]"));
let busy = false;
// Codes below are the error codes of the app's answers and its front's (nginx), all in the
// API's document (tests/unit/test_said_once.py holds them to it).
// A photo the server was too busy for (or counted too many of, or the app restarting
// behind the front) is sent again after the wait its Retry-After asks for: at most this
// many times, and never past this total wait.
const WAITED = {
  codes: ["busy", "rate_limited", "app_unavailable", "too_many_requests"],
  resends: 5, seconds: 180,
};
const CANCELLED = "Sending it again was cancelled.";
// A photo refused for one of these may be made later as it is: it stays chosen (a refusal
// of an option, the background photo, the name or the page's token is not the photo's).
// One refused for itself (damaged, too large) goes with the ones made.
const LATER = WAITED.codes.concat(["limit_reached", "storage_unavailable", "engine_failed",
  "app_timeout", "invalid_options", "invalid_background", "invalid_name", "csrf_failed"]);

// With the script, names can come from the files, and several photos are sent one by
// one; the browser's own checks would demand a name and stop at the first file.
form.noValidate = true;
nameInput.required = false;
fileInput.multiple = true;  // without the script the page's form takes one photo
document.getElementById("name-help").hidden = false;

// A name from the typed one (numbered when there are several photos), else the file's
// or the address's last part.
// At most `count` characters as the server counts them (code points, not UTF-16 units:
// a cut through an emoji would leave half of it).
function first(text, count) {
  return Array.from(text).slice(0, count).join("");
}

// What a name may not hold (line breaks, control characters), as the server says; a
// file's or an address's name (%0A decodes to a line break) has them become spaces.
const notInNames = new RegExp("[" + rules.not_in_names + "]+", "g");

// The number a typed name's photos start from: after the highest the list already shows
// ("Batch 1", "Batch 2"), so that photos sent again go on, not from 1 again.
function firstNumber(base) {
  let highest = 0;
  document.querySelectorAll("#records .record-name").forEach(function (cell) {
    const name = cell.textContent.trim();
    const number = name.startsWith(base + " ") ? name.slice(base.length + 1) : "";
    if (/^[1-9][0-9]*$/.test(number)) highest = Math.max(highest, Number(number));
  });
  return highest + 1;
}

// The typed name as records are named after it: on one line, trimmed.
function typedBase(typed) {
  return typed.replace(notInNames, " ").trim();
}

function recordName(typed, item, index, total, start) {
  const max = rules.name_max;
  const base = typedBase(typed);
  if (base) {
    if (total === 1) return base;
    const suffix = " " + (start + index);
    return first(base, max - suffix.length).trim() + suffix;
  }
  let stem = "";
  if (item.file) {
    stem = item.file.name;
  } else {
    try {
      const address = new URL(item.url);
      const last = address.pathname.split("/").pop() || "";
      try {
        stem = decodeURIComponent(last);
      } catch (err) { /* a malformed %-escape: the name falls back to the host */ }
      stem = stem || address.hostname;
    } catch (err) { /* not an address: the server says so */ }
  }
  stem = stem.replace(/\.[^.]+$/, "").replace(notInNames, " ").trim();
  return first(stem || "image", max);
}

function setProgress(percent, label, count) {
  const value = Math.max(0, Math.min(100, Math.round(percent)));
  progressBar.style.width = value + "%";
  progress.setAttribute("aria-valuenow", String(value));
  progress.setAttribute("aria-valuetext", label);
  progressLabel.textContent = label;
  progressCount.textContent = count;
}

function setWorking(working) {
  busy = working;
  choice.setBusy(working);
  // Not disabled: the focus is on it after a click or Enter, and a disabled button drops it
  // to the page's body (onSubmit ignores a second press while busy).
  submit.setAttribute("aria-disabled", working ? "true" : "false");
  submit.querySelector(".spinner-border").hidden = !working;
  submit.querySelector(".label").textContent = working ? "Working…" : "Remove background";
  progressBox.hidden = !working;
  form.setAttribute("aria-busy", working ? "true" : "false");
}

// One photo, one request (so each becomes its own record with its own message). The form
// post answers JSON when asked to; XMLHttpRequest, unlike fetch, reports upload progress.
function uploadOne(item, name, index, total) {
  return new Promise(function (resolve) {
    const data = new FormData(form);
    data.delete("image");
    data.delete("image_url");
    if (item.file) {
      data.set("image", item.file, item.file.name);
    } else {
      data.set("image_url", item.url);
    }
    data.set("name", name);
    const label = item.file ? isolated(item.file.name) : "the photo at its address";
    const count = total > 1 ? (index + 1) + " of " + total : "";
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader(rules.csrf_header, csrfToken);
    xhr.responseType = "json";
    progressBar.classList.remove("progress-bar-striped", "progress-bar-animated");
    setProgress(0, "Uploading " + label + "…", count);
    choice.setItemStatus(index, "Uploading…", "is-active");
    xhr.upload.addEventListener("progress", function (event) {
      if (!event.lengthComputable) return;
      const percent = (event.loaded / event.total) * 100;
      setProgress(percent, "Uploading " + label + "… " + Math.round(percent) + "%", count);
    });
    // Everything is sent: from here on the server fetches (for an address) and the
    // engine works.
    xhr.upload.addEventListener("load", function () {
      const working = item.file ? "Removing background…"
        : "Fetching the photo, removing background…";
      progressBar.classList.add("progress-bar-striped", "progress-bar-animated");
      setProgress(100, working, count);
      choice.setItemStatus(index, working, "is-active");
    });
    xhr.addEventListener("load", function () {
      const body = xhr.response || {};
      if (xhr.status === 201) {
        resolve({ ok: true, message: body.message || messages.success });
      } else {
        resolve({
          ok: false, message: body.message || messages.unexpected, error: body.error,
          later: LATER.includes(body.error),
          wait: WAITED.codes.includes(body.error) ? retryAfter(xhr) : null,
        });
      }
    });
    xhr.addEventListener("error", function () {
      resolve({ ok: false, message: UNREACHABLE, later: true });
    });
    xhr.send(data);
  });
}

// Retry-After's wait in whole seconds (it may be a date instead); null without one.
function retryAfter(xhr) {
  const value = (xhr.getResponseHeader("Retry-After") || "").trim();
  if (!value) return null;
  const seconds = /^\d+$/.test(value) ? Number(value)
    : Math.ceil((Date.parse(value) - Date.now()) / 1000);
  return Number.isFinite(seconds) ? Math.max(1, seconds) : null;
}

// One photo, sent again after each wait the server asks for while that stays within bounds;
// the visitor may cancel a wait on the photo's row. The last answer is the result.
async function sendWaiting(item, name, index, total) {
  const count = total > 1 ? (index + 1) + " of " + total : "";
  let waited = 0;
  for (let resends = 0; ; resends++) {
    const result = await uploadOne(item, name, index, total);
    const wait = result.wait;
    if (result.ok || !wait || resends >= WAITED.resends || waited + wait > WAITED.seconds) {
      return result;
    }
    waited += wait;
    progressBar.classList.remove("progress-bar-striped", "progress-bar-animated");
    const sent = await choice.waitItem(index, wait,
      function (left) { return "Server busy: trying again in " + left + " s…"; },
      CANCELLED,
      function (words) { setProgress(0, words, count); });
    if (!sent) {
      return { ok: false, cancelled: true, later: true, message: result.message + " " + CANCELLED };
    }
  }
}

async function onSubmit(event) {
  event.preventDefault();
  if (busy) return;
  const address = choice.address();
  clearFieldErrors();  // each check says its own again
  const items = choice.files().map(function (file) { return { file: file }; });
  if (address) items.push({ url: address });
  if (!items.length) {
    fieldError(fileInput, messages.no_photo, document.getElementById("dropzone"));
    return;
  }
  if (!nameInput.checkValidity()) {  // too long, counted as the server counts (app.js)
    fieldError(nameInput, nameInput.validationMessage);
    return;
  }
  if (options.output() === "image" && !options.backdropFile()) {
    fieldError(form.querySelector('[name="background_image"]'), messages.no_backdrop);
    return;
  }
  const base = nameInput.value.trim();
  const start = firstNumber(typedBase(base));
  clearAlerts();
  choice.showPreviews(address);
  setWorking(true);
  let created = 0;
  let failed = 0;
  let full = null;  // the server's refusal once the gallery is full
  let addressFailed = false;
  const failedFiles = [];
  for (let index = 0; index < items.length; index++) {
    const item = items[index];
    // Checked here too, so a file that cannot fit is not sent at all; nor is one after the
    // gallery was found full (its photo would be uploaded only to be refused the same way).
    const result = item.file && item.file.size > rules.max_upload
      ? { ok: false, message: messages.too_large }
      : full || await sendWaiting(item, recordName(base, item, index, items.length, start),
        index, items.length);
    if (result.ok) { created++; } else { failed++; }
    if (result.error === "limit_reached") full = result;
    if (!result.ok && item.url) addressFailed = true;
    if (!result.ok && result.later && item.file) failedFiles.push(item.file);
    choice.setItemStatus(index, result.ok ? "Done"
      : result.cancelled ? CANCELLED : "Not uploaded",
    result.ok ? "is-done" : "is-failed");
    const who = isolated(item.file ? item.file.name : item.url);
    addAlert(items.length > 1 ? who + ": " + result.message : result.message,
      result.ok ? "success" : "danger");
  }
  // The list as the server has it: with what was made, or, when the gallery was full,
  // with what another tab put in it (else "remove a record" beside an empty list).
  if ((created || full) && !(await refresh())) addAlert(LIST_STALE, "warning");
  setWorking(false);
  // The chosen output options stay for the next upload; the name and the photos made do
  // not (a photo that may be made later stays, with the name, to be sent again).
  if (!failed) {
    nameInput.value = "";
    nameInput.dispatchEvent(new Event("input"));  // its count, as typing would
  }
  choice.clear(failedFiles, addressFailed);
  focusAlerts();
}

form.addEventListener("submit", onSubmit);
// An address typed is a photo given: "choose an image" no longer stands.
document.getElementById("image_url").addEventListener("input", clearFieldErrors);
// Leaving while photos are being sent or made would lose what is not sent yet, and a result
// still being made would appear only on some later visit: the browser asks first.
window.addEventListener("beforeunload", function (event) {
  if (busy) event.preventDefault();
});
