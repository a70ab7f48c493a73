// What the page's scripts share: messages in the live region, calls to the server with the
// CSRF token, and refreshing the results from the server's own rendering. The modules that
// use it, each loaded by templates/index.html or imported by one that is:
//   upload.js   uploading the chosen photos, one by one, with progress
//     choose.js   photos chosen, dropped, pasted or given by address, with previews
//     options.js  the "Result" fields of the upload form and of the "Edit result" dialog
//   gallery.js  rename, delete and the before/after sliders of each result
//   edit.js     the "Edit result" dialog
//   rules.js    the server's rules and sentences, read from the page
// No inline script and no innerHTML with data: names and messages are only ever set as text.
import { messages, rules } from "./rules.js";

// The page's own words: the server cannot say it, since it was not reached.
export const UNREACHABLE = "The server could not be reached. Check your connection and try again.";
export const LIST_STALE = "The list of your images could not be loaded again: reload the page to see it as it is.";

export const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
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

// A name the visitor chose (a file's, an address) set inside a sentence: isolated (U+2068
// ... U+2069), so a right-to-left override in it cannot turn the words after it around.
export function isolated(text) { return "\u2068" + text + "\u2069"; }

// The messages, and a row's outcome (with the description it gave its button).
export function clearAlerts() {
  if (alerts) alerts.replaceChildren();
  document.querySelectorAll(".row-outcome").forEach(function (box) {
    const button = document.querySelector('[aria-describedby="' + box.id + '"]');
    if (button) button.removeAttribute("aria-describedby");
    box.remove();
  });
}

export function addAlert(message, category) {
  if (alerts) alerts.appendChild(alertBox(message, category));
}

// Move focus to the messages, so keyboard and screen-reader users land on the outcome.
export function focusAlerts() {
  if (!alerts || !alerts.firstElementChild) return;
  alerts.focus({ preventScroll: true });
  alerts.scrollIntoView({ block: "nearest" });
}

export function showAlert(message, category) {
  clearAlerts();
  addAlert(message, category);
  focusAlerts();
}

// The outcome of a change made from a row (a rename, an edit), said in the row, under the
// button the focus goes back to, which it describes: on a phone the messages' place below
// the form was a screen or more above the row. The next drawing of the list takes it away.
export function showRowOutcome(message, category, id, selector) {
  clearAlerts();
  const button = rowButton(id, selector);
  if (!button) return showAlert(message, category);
  const box = document.createElement("div");
  box.id = "outcome-" + id;
  box.className = "alert alert-" + category + " row-outcome small py-2 mt-2 mb-0";
  box.textContent = message;
  button.parentElement.after(box);
  button.setAttribute("aria-describedby", box.id);
  button.focus({ preventScroll: true });
  button.scrollIntoView({ block: "nearest" });
  box.scrollIntoView({ block: "nearest" });
}

// A check the page makes before sending, said under the field it is about, where the focus
// goes (the messages below the form were a screen away from it on a phone): the field is
// marked invalid and described by the sentence until it is changed. `below`: the element
// the sentence follows, when it is not the field itself (a file input inside its zone).
const fieldErrors = new Map();  // field -> what takes its sentence away

export function fieldError(field, message, below) {
  clearAlerts();
  const id = field.id + "-error";
  let note = document.getElementById(id);
  if (!fieldErrors.has(field)) {
    note = document.createElement("div");
    note.id = id;
    note.className = "invalid-feedback d-block";
    note.setAttribute("role", "alert");  // said also when the focus was on the field already
    (below || field).after(note);
    const described = field.getAttribute("aria-describedby");
    field.setAttribute("aria-describedby", described ? id + " " + described : id);
    const clear = function () {
      note.remove();
      field.removeAttribute("aria-invalid");
      if (described) field.setAttribute("aria-describedby", described);
      else field.removeAttribute("aria-describedby");
      field.removeEventListener("input", clear);
      field.removeEventListener("change", clear);
      fieldErrors.delete(field);
    };
    fieldErrors.set(field, clear);
    field.addEventListener("input", clear);
    field.addEventListener("change", clear);
  }
  note.textContent = message;
  field.setAttribute("aria-invalid", "true");
  field.focus({ preventScroll: true });
  (below || field).scrollIntoView({ block: "center" });
}

// Each field's sentence taken away: the form was sent (a file dropped or pasted changes the
// file field without an event).
export function clearFieldErrors() {
  fieldErrors.forEach(function (clear) { clear(); });
}

// ---- talking to the server ------------------------------------------------------------

// A JSON answer as {ok, status, message, data}; `body` is JSON, or FormData sent as it is.
export async function send(method, url, body) {
  const options = {
    method: method,
    headers: { [rules.csrf_header]: csrfToken, "Accept": "application/json" },
    credentials: "same-origin",
  };
  if (body instanceof FormData) {
    options.body = body;
  } else if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    return { ok: false, status: 0, message: UNREACHABLE, data: {} };
  }
  let data = {};
  try { data = await response.json(); } catch (err) { /* an error page, not JSON */ }
  return { ok: response.ok, status: response.status, message: data.message || "", data: data };
}

// `handler` for an event, ignored while its last call is still waiting for the server: a
// double click or a second Enter would send the same change twice (a delete's second one
// answered "does not exist" under the first's success). A form's submit is still stopped.
export function oneAtATime(handler) {
  let waiting = false;
  return async function (event) {
    if (waiting) {
      event.preventDefault();
      return;
    }
    waiting = true;
    try {
      await handler.call(this, event);
    } finally {
      waiting = false;
    }
  };
}

// Close a dialog whose work is done. Bootstrap ignores hide() while the dialog is still
// opening, so an answer faster than its fade-in (a loaded machine, a confirm clicked at
// once) left it open, and what waits for its closing (the refreshed list) never came.
export function closeDialog(element) {
  const dialog = bootstrap.Modal.getOrCreateInstance(element);
  function again() { dialog.hide(); }
  element.addEventListener("shown.bs.modal", again, { once: true });
  element.addEventListener("hidden.bs.modal", function () {
    element.removeEventListener("shown.bs.modal", again);
  }, { once: true });
  dialog.hide();
}

// A record gone meanwhile (deleted in another tab: a 404): its dialog closes, and the list
// is loaded again without it, with the server's sentence.
export function closeAsGone(element, message) {
  element.addEventListener("hidden.bs.modal", async function () {
    await refresh();
    showAlert(message, "danger");
  }, { once: true });
  closeDialog(element);
}

// Cancel, Close and the cross too: clicked while the dialog still fades in, Bootstrap's own
// dismissal is ignored the same way, and the dialog stayed open (seen in CI under load).
document.addEventListener("click", function (event) {
  const dismiss = event.target.closest('[data-bs-dismiss="modal"]');
  if (dismiss) closeDialog(dismiss.closest(".modal"));
});

// Replace the results and the "n used" count with the server's fresh rendering of the
// page: one template renders rows, whether the page was loaded or updated in place.
export async function refresh() {
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
  document.dispatchEvent(new CustomEvent("ibp:refreshed"));
  return true;
}

// The row's button for a record, found again after a refresh replaced the rows.
export function rowButton(id, selector) {
  return document.querySelector(selector + '[data-record-id="' + CSS.escape(id) + '"]');
}

// ---- names ----------------------------------------------------------------------------

// The server counts a name's characters (code points, accents composed); maxlength counts
// UTF-16 units, so half as many emoji would fill the field. With scripts, the page counts as
// the server does instead (without them, maxlength stays: stricter, never looser).
// Without maxlength nothing stopped the typing: a count under the field says how much of
// the allowance is used, as the server counts it.
document.querySelectorAll("input[data-count-chars]").forEach(function (field) {
  field.removeAttribute("maxlength");
  const counter = document.createElement("div");
  counter.id = field.id + "-count";
  counter.className = "form-text text-end mt-0";
  field.after(counter);
  const described = field.getAttribute("aria-describedby");
  field.setAttribute("aria-describedby", described ? described + " " + counter.id : counter.id);
  function check() {
    const count = Array.from(field.value.normalize("NFC").trim()).length;
    field.setCustomValidity(count > rules.name_max ? messages.name : "");
    counter.textContent = count + " / " + rules.name_max;
    counter.classList.toggle("text-danger", count > rules.name_max);
  }
  field.addEventListener("input", check);
  field.addEventListener("focus", check);  // also after a script set the value
  check();
});
