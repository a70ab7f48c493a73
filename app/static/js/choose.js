// Choosing the photos to upload: the file chooser, files dropped on the zone, images pasted
// (Ctrl+V / Cmd+V anywhere on the page), an address; a preview of each. upload.js sends
// them (`choice`).

const fileInput = document.getElementById("image");
const urlInput = document.getElementById("image_url");
const dropzone = document.getElementById("dropzone");
const previews = document.getElementById("previews");
const previewTemplate = document.getElementById("preview-template");
const choiceStatus = document.getElementById("choice-status");
let previewUrls = [];
let busy = false;
let pasted = 0;

function humanSize(bytes) {
  if (bytes < 1024) return bytes + " B";
  if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
  return (bytes / 1024 / 1024).toFixed(1) + " MB";
}

function clearPreviews() {
  previewUrls.forEach(function (url) { URL.revokeObjectURL(url); });
  previewUrls = [];
  previews.replaceChildren();
  previews.hidden = true;
}

function previewItem(name, status) {
  const item = previewTemplate.content.firstElementChild.cloneNode(true);
  item.querySelector(".preview-file").textContent = name;
  item.querySelector(".preview-status").textContent = status;
  previews.appendChild(item);
  return item;
}

// One entry per photo to upload: the chosen files, then the address if one is given.
function showPreviews(address) {
  clearPreviews();
  Array.from(fileInput.files).forEach(function (file) {
    const thumb = previewItem(file.name, humanSize(file.size)).querySelector(".preview-thumb");
    if (file.type.startsWith("image/")) {
      const url = URL.createObjectURL(file);
      previewUrls.push(url);
      // Named and typed as a photo but none the browser can show: no broken picture with
      // its alt text squeezed into the box, as for a file of another type.
      thumb.addEventListener("error", function () { thumb.hidden = true; }, { once: true });
      thumb.src = url;
      thumb.alt = "Preview of " + file.name;
    } else {
      thumb.hidden = true;
    }
  });
  if (address) {
    // The address's photo is not shown: the page loads images from its own site only.
    previewItem(address, "From its address").querySelector(".preview-thumb").hidden = true;
  }
  previews.hidden = previews.children.length === 0;
}

function setItemStatus(index, text, state) {
  const item = previews.children[index];
  if (!item) return;
  item.classList.remove("is-active", "is-done", "is-failed");
  if (state) item.classList.add(state);
  item.querySelector(".preview-status").textContent = text;
}

// A row's wait before its photo is sent again: its status counts down each second
// (`words(seconds)`), its live region says the wait once, and a button stops it. True when
// the wait ran out, false when the visitor cancelled it (`cancelled` is then said).
function waitItem(index, seconds, words, cancelled, onTick) {
  const item = previews.children[index];
  if (!item) return Promise.resolve(true);
  const status = item.querySelector(".preview-status");
  const said = item.querySelector(".preview-said");
  const actions = item.querySelector(".preview-actions");
  const name = item.querySelector(".preview-file").textContent;
  const deadline = Date.now() + seconds * 1000;
  return new Promise(function (resolve) {
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "btn btn-sm btn-outline-secondary mt-1 preview-cancel";
    cancel.textContent = "Cancel";
    cancel.setAttribute("aria-label", "Cancel sending " + name + " again");
    let shown = 0;
    function show(left) {
      if (left === shown) return;
      shown = left;
      status.textContent = words(left);
      if (onTick) onTick(words(left));
    }
    function end(sent) {
      clearInterval(timer);
      // Focus on the button would be lost with it: it goes to its row instead.
      const focused = document.activeElement === cancel;
      cancel.remove();
      if (focused) {
        item.tabIndex = -1;
        item.focus();
      }
      resolve(sent);
    }
    function tick() {
      const left = Math.ceil((deadline - Date.now()) / 1000);
      if (left <= 0) {
        said.textContent = "";  // so the next wait, worded the same, is said again
        end(true);
        return;
      }
      show(left);
    }
    const timer = setInterval(tick, 250);
    cancel.addEventListener("click", function () {
      status.textContent = cancelled;
      said.textContent = cancelled;
      end(false);
    });
    item.classList.remove("is-active", "is-done", "is-failed");
    show(seconds);
    said.textContent = words(seconds);
    actions.replaceChildren(cancel);
  });
}

// ---- pasting --------------------------------------------------------------------------

// Pasted files join those already chosen (a file chooser's own choice replaces them).
function addFiles(files) {
  const transfer = new DataTransfer();
  Array.from(fileInput.files).concat(files).forEach(function (file) { transfer.items.add(file); });
  fileInput.files = transfer.files;
  chosen();
}

// As a choice in the file chooser: the previews, and a sentence the field had taken away.
function chosen() { fileInput.dispatchEvent(new Event("change")); }

// A pasted image is usually called "image.png" whatever it shows: number them instead.
function pastedFile(file) {
  pasted += 1;
  const extension = (file.type.split("/")[1] || "png").replace("jpeg", "jpg");
  return new File([file], "pasted-" + pasted + "." + extension, { type: file.type });
}

function isTextField(element) {
  return element && (element.isContentEditable || element.tagName === "TEXTAREA" ||
    (element.tagName === "INPUT" &&
      ["text", "url", "search", "email", "number"].indexOf(element.type) >= 0));
}

function pastedImages(data) {
  const items = Array.from(data.items || [])
    .filter(function (item) { return item.kind === "file" && item.type.startsWith("image/"); })
    .map(function (item) { return item.getAsFile(); })
    .filter(Boolean);
  if (items.length) return items;
  return Array.from(data.files || []).filter(function (file) {
    return file.type.startsWith("image/");
  });
}

function onPaste(event) {
  // The dialogs have their own fields: a paste there is theirs.
  if (busy || document.querySelector(".modal.show") || !event.clipboardData) return;
  const data = event.clipboardData;
  // Text pasted into a field is text, even when the clipboard holds a picture of it too
  // (office programs copy both).
  if (isTextField(event.target) && data.types.indexOf("text/plain") >= 0) return;
  const files = pastedImages(data);
  if (files.length) {
    event.preventDefault();
    const named = files.map(pastedFile);
    addFiles(named);
    const count = fileInput.files.length;
    choiceStatus.textContent = "Pasted " + named.map(function (f) { return f.name; }).join(", ") +
      ". " + count + " image" + (count === 1 ? "" : "s") + " chosen.";
    return;
  }
  // An address pasted outside a text field goes to the address field.
  const text = (data.getData("text/plain") || "").trim();
  if (!isTextField(event.target) && /^https?:\/\/\S+$/i.test(text)) {
    event.preventDefault();
    urlInput.value = text;
    urlInput.focus();
    choiceStatus.textContent = "Address pasted.";
  }
}

// ---- dropping -------------------------------------------------------------------------

["dragenter", "dragover"].forEach(function (type) {
  dropzone.addEventListener(type, function (event) {
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
    dropzone.classList.add("is-dragover");
  });
});
["dragleave", "dragend"].forEach(function (type) {
  dropzone.addEventListener(type, function () { dropzone.classList.remove("is-dragover"); });
});
dropzone.addEventListener("drop", function (event) {
  event.preventDefault();
  dropzone.classList.remove("is-dragover");
  if (busy || !event.dataTransfer || !event.dataTransfer.files.length) return;
  fileInput.files = event.dataTransfer.files;
  chosen();
  fileInput.focus();
});
// A file dropped just beside the zone must not make the browser leave the page for it.
["dragover", "drop"].forEach(function (type) {
  window.addEventListener(type, function (event) {
    if (!dropzone.contains(event.target)) event.preventDefault();
  });
});

fileInput.addEventListener("change", function () { showPreviews(); });
document.addEventListener("paste", onPaste);
dropzone.querySelector(".paste-hint").hidden = false;

export const choice = {
  files: function () { return Array.from(fileInput.files); },
  address: function () { return urlInput.value.trim(); },
  showPreviews: showPreviews,
  setItemStatus: setItemStatus,
  waitItem: waitItem,
  setBusy: function (working) {
    busy = working;
    fileInput.disabled = working;
    urlInput.readOnly = working;
    dropzone.classList.toggle("opacity-50", working);
  },
  // What was made goes; a photo or an address that failed stays, to be sent again (after
  // deleting an image, say) or corrected, without choosing it again.
  clear: function (keepFiles, keepAddress) {
    if (!keepAddress) urlInput.value = "";
    const transfer = new DataTransfer();
    keepFiles.forEach(function (file) { transfer.items.add(file); });
    fileInput.files = transfer.files;
    if (keepFiles.length) { showPreviews(); } else { clearPreviews(); }
  },
};
