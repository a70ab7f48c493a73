// The "Edit result" dialog: a record's result made again with other options (background,
// crop, format, edges) from the stored photo and mask, without running the model. Sent
// with fetch to POST /edit/<id>; the new result shows in the dialog and in the list behind
// it, and the dialog stays open to try another look.
import { closeAsGone, refresh, rowButton, send, showRowOutcome } from "./app.js";
import { opaque, resultOptions } from "./options.js";
import { messages, rules } from "./rules.js";

const modal = document.getElementById("result-modal");
const form = document.getElementById("result-form");
const options = resultOptions(form.querySelector("[data-result-options]"));
const nameLabel = document.getElementById("result-name");
const preview = document.getElementById("result-preview");
const progress = document.getElementById("result-progress");
const error = document.getElementById("result-error");
const done = document.getElementById("result-done");
const save = document.getElementById("result-save");
let record = null;
let busy = false;
let changed = false;

// The record as its row's "Edit result" button describes it (the server renders both).
function showRecord(button) {
  const data = button.dataset;
  record = { id: data.recordId, url: data.editUrl };
  form.action = data.editUrl;  // without the script's handler, a plain post still works
  nameLabel.textContent = data.recordName;
  preview.src = data.preview;
  preview.srcset = data.preview + " 1x, " + data.preview2x + " 2x";
  preview.alt = "Current result: " + data.recordName;
  preview.classList.toggle("checkerboard", !opaque(data.output));
  options.set({
    output: data.output,
    background: data.background,
    crop: data.crop === "true",
    cropMargin: data.cropMargin,
    format: data.format,
    refineEdges: data.refineEdges === "true",
    hasBackdrop: data.hasBackdrop === "true",
  });
}

function showError(message) {
  error.textContent = message;
  error.hidden = false;
  error.scrollIntoView({ block: "nearest" });
}

function setWorking(working) {
  busy = working;
  form.setAttribute("aria-busy", working ? "true" : "false");
  progress.hidden = !working;
  // Not disabled: the focus may be on it, and a disabled button would drop it.
  save.setAttribute("aria-disabled", working ? "true" : "false");
  save.textContent = working ? "Applying…" : "Apply changes";
}

modal.addEventListener("show.bs.modal", function (event) {
  if (!event.relatedTarget) return;
  showRecord(event.relatedTarget);
  error.hidden = true;
  done.hidden = true;
  changed = false;
});
modal.addEventListener("shown.bs.modal", function () { options.focus(); });
// The change being made finishes first: a short wait, and what is shown stays true.
modal.addEventListener("hide.bs.modal", function (event) {
  if (busy) event.preventDefault();
});
modal.addEventListener("hidden.bs.modal", function () {
  if (!changed || !record) return;
  // The list was redrawn: the button that opened the dialog is a new one.
  showRowOutcome(messages.edited, "success", record.id, ".result-btn");
});

form.addEventListener("submit", async function (event) {
  event.preventDefault();
  if (busy || !record) return;
  error.hidden = true;
  done.hidden = true;
  if (options.output() === "image" && !options.backdropFile() && !options.hasKeptBackdrop()) {
    showError(messages.no_backdrop);
    form.querySelector('[name="background_image"]').focus();
    return;
  }
  setWorking(true);
  const result = await send("POST", record.url, options.formData());
  if (result.status === 404) {
    setWorking(false);
    record = null;
    closeAsGone(modal, result.message);
    return;
  }
  if (!result.ok) {
    setWorking(false);
    showError(result.message || messages.unexpected);
    return;
  }
  changed = true;
  await refresh();
  const button = rowButton(record.id, ".result-btn");
  if (button) {
    showRecord(button);
  } else {
    // The list could not be fetched again: show the answer's result, as a new URL so the
    // browser does not reuse the picture it showed before.
    const fresh = "?v=" + Date.now();
    preview.srcset = "";
    preview.src = result.data.processed.thumbnails[rules.thumb_sizes[0]] + fresh;
  }
  setWorking(false);
  done.textContent = messages.edited;
  done.hidden = false;
  preview.scrollIntoView({ block: "nearest" });  // the new look, where a phone scrolled away
});
