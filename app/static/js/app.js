// The page's behaviour: choose or drop several images, upload them one by one with a
// progress bar, rename and delete through fetch, messages in place.
// No inline script and no innerHTML with data: names and messages are only ever set as text;
// the results list is refreshed by taking the server's own rendering of the page.
(function () {
  "use strict";

  const SUCCESS = "Image generated successfully";
  const UNREACHABLE = "The server could not be reached. Check your connection and try again.";
  const UNEXPECTED = "Something went wrong";

  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  const alerts = document.getElementById("alerts");

  // ---- messages -------------------------------------------------------------------------

  function alertBox(message, category) {
    const box = document.createElement("div");
    box.className = "alert alert-" + category + " alert-dismissible text-center";
    box.setAttribute("role", category === "danger" ? "alert" : "status");
    box.textContent = message;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close";
    close.setAttribute("data-bs-dismiss", "alert");
    close.setAttribute("aria-label", "Close");
    box.appendChild(close);
    return box;
  }

  function clearAlerts() { if (alerts) alerts.replaceChildren(); }

  function addAlert(message, category) {
    if (alerts) alerts.appendChild(alertBox(message, category));
  }

  function showAlert(message, category) {
    clearAlerts();
    addAlert(message, category);
    focusAlerts();
  }

  // Move focus to the messages, so keyboard and screen-reader users land on the outcome.
  function focusAlerts() {
    if (!alerts || !alerts.firstElementChild) return;
    alerts.focus({ preventScroll: true });
    alerts.scrollIntoView({ block: "nearest" });
  }

  // ---- talking to the server ------------------------------------------------------------

  async function send(method, url, body) {
    const options = {
      method: method,
      headers: { "X-CSRFToken": csrfToken, "Accept": "application/json" },
      credentials: "same-origin",
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (err) {
      return { ok: false, message: UNREACHABLE };
    }
    let data = {};
    try { data = await response.json(); } catch (err) { /* an error page, not JSON */ }
    return { ok: response.ok, message: data.message || "" };
  }

  // Replace the results and the "n used" count with the server's fresh rendering of the
  // page: one template renders rows, whether the page was loaded or updated in place.
  async function refresh() {
    let response;
    try {
      response = await fetch(window.location.pathname, {
        headers: { "Accept": "text/html" }, credentials: "same-origin",
      });
    } catch (err) {
      return false;
    }
    if (!response.ok) return false;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    ["results", "usage"].forEach(function (id) {
      const current = document.getElementById(id);
      const replacement = fresh.getElementById(id);
      if (current && replacement) current.replaceWith(document.importNode(replacement, true));
    });
    return true;
  }

  // ---- choosing files -------------------------------------------------------------------

  const form = document.getElementById("upload-form");
  const fileInput = document.getElementById("image");
  const nameInput = document.getElementById("name");
  const dropzone = document.getElementById("dropzone");
  const previews = document.getElementById("previews");
  const previewTemplate = document.getElementById("preview-template");
  const progressBox = document.getElementById("progress-box");
  const progress = document.getElementById("progress");
  const progressBar = document.getElementById("progress-bar");
  const progressLabel = document.getElementById("progress-label");
  const progressCount = document.getElementById("progress-count");
  const submit = document.getElementById("submit");
  let previewUrls = [];
  let busy = false;

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

  function showPreviews() {
    clearPreviews();
    const files = Array.from(fileInput.files);
    files.forEach(function (file) {
      const item = previewTemplate.content.firstElementChild.cloneNode(true);
      const thumb = item.querySelector(".preview-thumb");
      if (file.type.startsWith("image/")) {
        const url = URL.createObjectURL(file);
        previewUrls.push(url);
        thumb.src = url;
        thumb.alt = "Preview of " + file.name;
      } else {
        thumb.hidden = true;
      }
      item.querySelector(".preview-file").textContent = file.name;
      item.querySelector(".preview-status").textContent = humanSize(file.size);
      previews.appendChild(item);
    });
    previews.hidden = files.length === 0;
  }

  function setItemStatus(index, text, state) {
    const item = previews.children[index];
    if (!item) return;
    item.classList.remove("is-active", "is-done", "is-failed");
    if (state) item.classList.add(state);
    item.querySelector(".preview-status").textContent = text;
  }

  if (form && fileInput) {
    // With the script, names can come from the files, and several files are sent one by
    // one; the browser's own checks would demand a name and stop at the first file.
    form.noValidate = true;
    nameInput.required = false;
    document.getElementById("name-help").hidden = false;

    fileInput.addEventListener("change", showPreviews);

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
      showPreviews();
      fileInput.focus();
    });
    // A file dropped just beside the zone must not make the browser leave the page for it.
    ["dragover", "drop"].forEach(function (type) {
      window.addEventListener(type, function (event) {
        if (!dropzone.contains(event.target)) event.preventDefault();
      });
    });

    // Picking a colour means wanting the colour output.
    document.getElementById("background").addEventListener("input", function () {
      document.getElementById("output-color").checked = true;
    });
    const crop = document.getElementById("crop");
    const margin = document.getElementById("crop_margin");
    const syncMargin = function () { margin.disabled = !crop.checked; };
    crop.addEventListener("change", syncMargin);
    syncMargin();

    form.addEventListener("submit", onSubmit);
  }

  // ---- uploading ------------------------------------------------------------------------

  function recordName(base, file, index, total) {
    const max = Number(form.dataset.nameMax) || 50;
    if (base) {
      if (total === 1) return base;
      const suffix = " " + (index + 1);
      return base.slice(0, max - suffix.length).trim() + suffix;
    }
    const stem = file.name.replace(/\.[^.]+$/, "").trim();
    return (stem || "image").slice(0, max);
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
    submit.disabled = working;
    fileInput.disabled = working;
    dropzone.classList.toggle("opacity-50", working);
    submit.querySelector(".spinner-border").hidden = !working;
    submit.querySelector(".label").textContent = working ? "Working…" : "Remove background";
    progressBox.hidden = !working;
    form.setAttribute("aria-busy", working ? "true" : "false");
  }

  // One file, one request (so each becomes its own record with its own message). The form
  // post answers JSON when asked to; XMLHttpRequest, unlike fetch, reports upload progress.
  function uploadOne(file, name, index, total) {
    return new Promise(function (resolve) {
      const data = new FormData(form);
      data.delete("image");
      data.set("image", file, file.name);
      data.set("name", name);
      const count = total > 1 ? (index + 1) + " of " + total : "";
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-CSRFToken", csrfToken);
      xhr.responseType = "json";
      progressBar.classList.remove("progress-bar-striped", "progress-bar-animated");
      setProgress(0, "Uploading " + file.name + "…", count);
      setItemStatus(index, "Uploading…", "is-active");
      xhr.upload.addEventListener("progress", function (event) {
        if (!event.lengthComputable) return;
        const percent = (event.loaded / event.total) * 100;
        setProgress(percent, "Uploading " + file.name + "… " + Math.round(percent) + "%", count);
      });
      // Everything is sent: from here on the engine is working.
      xhr.upload.addEventListener("load", function () {
        progressBar.classList.add("progress-bar-striped", "progress-bar-animated");
        setProgress(100, "Removing background…", count);
        setItemStatus(index, "Removing background…", "is-active");
      });
      xhr.addEventListener("load", function () {
        const body = xhr.response || {};
        if (xhr.status === 201) {
          resolve({ ok: true, message: body.note ? SUCCESS + ". " + body.note : SUCCESS });
        } else {
          resolve({ ok: false, message: body.message || UNEXPECTED });
        }
      });
      xhr.addEventListener("error", function () { resolve({ ok: false, message: UNREACHABLE }); });
      xhr.send(data);
    });
  }

  async function onSubmit(event) {
    event.preventDefault();
    if (busy) return;
    const files = Array.from(fileInput.files);
    if (!files.length) {
      showAlert("Please choose an image to upload.", "danger");
      fileInput.focus();
      return;
    }
    const base = nameInput.value.trim();
    const maxBytes = Number(form.dataset.maxBytes) || Infinity;
    const tooLarge = "The file is too large. Please upload an image of at most " +
      form.dataset.maxText + ".";
    clearAlerts();
    setWorking(true);
    let created = 0;
    let failed = 0;
    for (let index = 0; index < files.length; index++) {
      const file = files[index];
      // Checked here too, so a file that cannot fit is not sent at all.
      const result = file.size > maxBytes ? { ok: false, message: tooLarge }
        : await uploadOne(file, recordName(base, file, index, files.length), index, files.length);
      if (result.ok) { created++; } else { failed++; }
      setItemStatus(index, result.ok ? "Done" : "Not uploaded", result.ok ? "is-done" : "is-failed");
      addAlert(files.length > 1 ? file.name + ": " + result.message : result.message,
        result.ok ? "success" : "danger");
    }
    if (created) await refresh();
    setWorking(false);
    // The chosen output options stay for the next upload; the name and files do not.
    if (!failed) nameInput.value = "";
    fileInput.value = "";
    clearPreviews();
    focusAlerts();
  }

  // ---- rename and delete ----------------------------------------------------------------

  let current = null;

  function focusRowButton(id, selector) {
    const button = document.querySelector(selector + '[data-record-id="' + CSS.escape(id) + '"]');
    if (button) button.focus();
  }

  const editModal = document.getElementById("edit-modal");
  const editName = document.getElementById("edit-name");
  const editError = document.getElementById("edit-error");
  if (editModal) {
    editModal.addEventListener("show.bs.modal", function (event) {
      current = event.relatedTarget;
      editName.value = current ? current.dataset.recordName : "";
      editError.hidden = true;
    });
    editModal.addEventListener("shown.bs.modal", function () { editName.focus(); editName.select(); });
    document.getElementById("edit-form").addEventListener("submit", async function (event) {
      event.preventDefault();
      if (!current) return;
      const id = current.dataset.recordId;
      const name = editName.value.trim();
      const result = await send("PUT", current.dataset.updateUrl,
        { record_id: id, record_name: name });
      if (!result.ok) {
        editError.textContent = result.message || "Error occurred while editing";
        editError.hidden = false;
        editName.focus();
        return;
      }
      editModal.addEventListener("hidden.bs.modal", async function () {
        await refresh();
        showAlert("Image name edited successfully", "success");
        focusRowButton(id, ".edit-btn");
      }, { once: true });
      bootstrap.Modal.getOrCreateInstance(editModal).hide();
    });
  }

  const deleteModal = document.getElementById("delete-modal");
  const deleteError = document.getElementById("delete-error");
  if (deleteModal) {
    deleteModal.addEventListener("show.bs.modal", function (event) {
      current = event.relatedTarget;
      document.getElementById("delete-name").textContent = current ? current.dataset.recordName : "";
      deleteError.hidden = true;
    });
    // The safe choice has the focus: Enter right away keeps the image.
    deleteModal.addEventListener("shown.bs.modal", function () {
      document.getElementById("delete-cancel").focus();
    });
    document.getElementById("delete-confirm").addEventListener("click", async function () {
      if (!current) return;
      const result = await send("DELETE", current.dataset.removeUrl);
      if (!result.ok) {
        deleteError.textContent = result.message || "Error occurred while deleting";
        deleteError.hidden = false;
        return;
      }
      deleteModal.addEventListener("hidden.bs.modal", async function () {
        await refresh();
        showAlert("Deleted successfully", "success");
      }, { once: true });
      bootstrap.Modal.getOrCreateInstance(deleteModal).hide();
    });
  }
})();
