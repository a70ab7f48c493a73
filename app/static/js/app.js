// The page's behaviour: file preview, rename and delete through fetch, messages in place.
// No inline script and no innerHTML with data: names are only ever set as text.
(function () {
  "use strict";

  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  const alerts = document.getElementById("alerts");

  function showAlert(message, category) {
    if (!alerts) return;
    const box = document.createElement("div");
    box.className = "alert alert-" + category + " alert-dismissible text-center";
    box.setAttribute("role", "alert");
    box.textContent = message;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close";
    close.setAttribute("data-bs-dismiss", "alert");
    close.setAttribute("aria-label", "Close");
    box.appendChild(close);
    alerts.replaceChildren(box);
    box.scrollIntoView({ block: "nearest" });
  }

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
      return { ok: false, message: "The server could not be reached. Check your connection and try again." };
    }
    let data = {};
    try { data = await response.json(); } catch (err) { /* an error page, not JSON */ }
    return { ok: response.ok, message: data.message || "" };
  }

  // Preview of the chosen file before it is sent, and a warning if it is too big.
  const form = document.getElementById("upload-form");
  const fileInput = document.getElementById("image");
  const preview = document.getElementById("preview");
  const previewImg = document.getElementById("preview-img");
  if (fileInput && preview) {
    fileInput.addEventListener("change", function () {
      const file = fileInput.files[0];
      if (previewImg.src) URL.revokeObjectURL(previewImg.src);
      if (!file) { preview.hidden = true; return; }
      previewImg.src = URL.createObjectURL(file);
      preview.hidden = false;
      const max = Number(form.dataset.maxBytes);
      fileInput.setCustomValidity(max && file.size > max ? "This file is too large." : "");
    });
  }
  if (form) {
    form.addEventListener("submit", function () {
      const button = document.getElementById("submit");
      button.disabled = true;
      button.querySelector(".spinner-border").hidden = false;
      button.querySelector(".label").textContent = "Removing background…";
    });
  }

  // Rename in the modal.
  let current = null;
  const editModal = document.getElementById("edit-modal");
  const editName = document.getElementById("edit-name");
  const editError = document.getElementById("edit-error");
  if (editModal) {
    editModal.addEventListener("show.bs.modal", function (event) {
      current = event.relatedTarget;
      editName.value = current.dataset.recordName;
      editError.hidden = true;
    });
    editModal.addEventListener("shown.bs.modal", function () { editName.focus(); });
    document.getElementById("edit-form").addEventListener("submit", async function (event) {
      event.preventDefault();
      const id = current.dataset.recordId;
      const name = editName.value.trim();
      const result = await send("PUT", "/update/" + encodeURIComponent(id),
        { record_id: id, record_name: name });
      if (!result.ok) {
        editError.textContent = result.message || "Error occurred while editing";
        editError.hidden = false;
        return;
      }
      const row = document.querySelector('tr[data-record-id="' + CSS.escape(id) + '"]');
      row.querySelector(".record-name").textContent = name;
      row.querySelectorAll("[data-record-name]").forEach(function (el) { el.dataset.recordName = name; });
      bootstrap.Modal.getOrCreateInstance(editModal).hide();
      showAlert("Image name edited successfully", "success");
    });
  }

  // Delete after confirmation.
  const deleteModal = document.getElementById("delete-modal");
  const deleteError = document.getElementById("delete-error");
  if (deleteModal) {
    deleteModal.addEventListener("show.bs.modal", function (event) {
      current = event.relatedTarget;
      document.getElementById("delete-name").textContent = current.dataset.recordName;
      deleteError.hidden = true;
    });
    document.getElementById("delete-confirm").addEventListener("click", async function () {
      const id = current.dataset.recordId;
      const result = await send("DELETE", "/remove/" + encodeURIComponent(id));
      if (!result.ok) {
        deleteError.textContent = result.message || "Error occurred while deleting";
        deleteError.hidden = false;
        return;
      }
      bootstrap.Modal.getOrCreateInstance(deleteModal).hide();
      // Reload so the list and the "n used" count come from the server.
      sessionStorage.setItem("flash", "Deleted successfully");
      window.location.assign("/");
    });
  }

  const pending = sessionStorage.getItem("flash");
  if (pending) {
    sessionStorage.removeItem("flash");
    showAlert(pending, "success");
  }
})();
