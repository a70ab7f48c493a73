// Each result in the list: rename and delete (in the original app's modals and messages),
// and the before/after slider over its two pictures.
import {
  closeAsGone, closeDialog, oneAtATime, refresh, send, showAlert, showRowOutcome,
} from "./app.js";

// ---- before/after ---------------------------------------------------------------------

// The slider's value is where the divider stands, from the left: the original shows to
// its left, the result (clipped by the stylesheet through --compare-at) to its right.
// Set through the CSSOM, which a policy without 'unsafe-inline' styles allows.
function showDivider(range) {
  const at = Number(range.value);
  const compare = range.closest(".compare");
  if (!compare) return;
  compare.style.setProperty("--compare-at", at + "%");
  range.setAttribute("aria-valuetext", at + "% original, " + (100 - at) + "% result");
}

// Where each slider was left, by its id (its record's): the list is drawn again after
// every change, and its sliders came back to the middle.
const leftAt = new Map();

function syncSliders() {
  document.querySelectorAll(".compare-range").forEach(function (range) {
    if (leftAt.has(range.id)) range.value = leftAt.get(range.id);
    showDivider(range);
  });
}

// Delegated: rows come and go as the list is refreshed.
document.addEventListener("input", function (event) {
  if (event.target.classList && event.target.classList.contains("compare-range")) {
    leftAt.set(event.target.id, event.target.value);
    showDivider(event.target);
  }
});
document.addEventListener("ibp:refreshed", syncSliders);
// A browser may restore a slider's last value when the page is shown again.
window.addEventListener("pageshow", syncSliders);
syncSliders();

// ---- times ----------------------------------------------------------------------------

// The server writes a record's time in UTC, the one zone it knows; the browser knows the
// visitor's, so the time is shown there, in the same shape, with the zone's name (and the
// UTC time on hover: an hour that repeats when the clocks go back is still told apart).
// Only a whole time: a date alone (the original app's records may hold anything) stays.
const WHOLE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

function pad(number) { return String(number).padStart(2, "0"); }

function showLocalTimes() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  document.querySelectorAll("#records time[datetime]").forEach(function (time) {
    const label = time.parentElement.querySelector(".time-zone");
    if (!WHOLE_TIME.test(time.dateTime) || !zone || !label) return;
    const at = new Date(time.dateTime);
    time.title = time.dateTime.replace("T", " ").replace("Z", " UTC");
    time.textContent = at.getFullYear() + "-" + pad(at.getMonth() + 1) + "-" +
      pad(at.getDate()) + " " + pad(at.getHours()) + ":" + pad(at.getMinutes()) + ":" +
      pad(at.getSeconds());
    label.textContent = zone;
  });
}

document.addEventListener("ibp:refreshed", showLocalTimes);
showLocalTimes();

// ---- rename ---------------------------------------------------------------------------

// Each dialog's own record: a rename still waiting must not forget the record a delete
// opened meanwhile.
let renaming = null;
let deleting = null;
const editModal = document.getElementById("edit-modal");
const editName = document.getElementById("edit-name");
const editError = document.getElementById("edit-error");
if (editModal) {
  editModal.addEventListener("show.bs.modal", function (event) {
    renaming = event.relatedTarget;
    editName.value = renaming ? renaming.dataset.recordName : "";
    editName.dispatchEvent(new Event("input"));  // its count: this record's name's
    editError.hidden = true;
  });
  editModal.addEventListener("shown.bs.modal", function () { editName.focus(); editName.select(); });
  document.getElementById("edit-form").addEventListener("submit", oneAtATime(async function (event) {
    event.preventDefault();
    if (!renaming) return;
    const id = renaming.dataset.recordId;
    const name = editName.value.trim();
    const result = await send("PUT", renaming.dataset.updateUrl,
      { record_id: id, record_name: name });
    if (result.status === 404) {
      renaming = null;
      closeAsGone(editModal, result.message);
      return;
    }
    if (!result.ok) {
      editError.textContent = result.message || "Error occurred while editing";
      editError.hidden = false;
      editName.focus();
      return;
    }
    editModal.addEventListener("hidden.bs.modal", async function () {
      await refresh();
      showRowOutcome("Image name edited successfully", "success", id, ".edit-btn");
    }, { once: true });
    renaming = null;  // done: a click while the dialog fades out sends nothing
    closeDialog(editModal);
  }));
}

// ---- delete ---------------------------------------------------------------------------

const deleteModal = document.getElementById("delete-modal");
const deleteError = document.getElementById("delete-error");
if (deleteModal) {
  deleteModal.addEventListener("show.bs.modal", function (event) {
    deleting = event.relatedTarget;
    document.getElementById("delete-name").textContent = deleting ? deleting.dataset.recordName : "";
    deleteError.hidden = true;
  });
  // The safe choice has the focus: Enter right away keeps the image.
  deleteModal.addEventListener("shown.bs.modal", function () {
    document.getElementById("delete-cancel").focus();
  });
  document.getElementById("delete-confirm").addEventListener("click", oneAtATime(async function () {
    if (!deleting) return;
    const result = await send("DELETE", deleting.dataset.removeUrl);
    if (result.status === 404) {
      deleting = null;
      closeAsGone(deleteModal, result.message);
      return;
    }
    if (!result.ok) {
      deleteError.textContent = result.message || "Error occurred while deleting";
      deleteError.hidden = false;
      return;
    }
    deleteModal.addEventListener("hidden.bs.modal", async function () {
      await refresh();
      showAlert("Deleted successfully", "success");
    }, { once: true });
    deleting = null;
    closeDialog(deleteModal);
  }));
}
