// The server's rules, limits, defaults and sentences, as the page's view wrote them into the
// page (the JSON block in templates/index.html, from app/web/pages.py). The scripts take them
// from here and never retype them, so a changed rule or sentence is changed on the server only.
export const rules = JSON.parse(document.getElementById("rules").textContent);
export const messages = rules.messages;
