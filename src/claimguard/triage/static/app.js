// claimguard triage: the only script. Loads a claim's lines when its row is opened,
// and inserts scenario tags into the note. Everything works without it (links).
"use strict";
document.addEventListener("toggle", (event) => {
  const details = event.target;
  if (!(details instanceof HTMLDetailsElement) || !details.open) return;
  const url = details.dataset.linesUrl;
  if (!url || details.dataset.loaded) return;
  details.dataset.loaded = "1";
  const body = details.querySelector(".lines-body");
  body.textContent = "Loading…";
  fetch(url, { credentials: "same-origin" })
    .then((r) => (r.ok ? r.text() : Promise.reject(new Error(r.status + " " + r.statusText))))
    .then((html) => {
      // the fragment is rendered by the server with autoescape: no claim text is markup
      body.innerHTML = html;
    })
    .catch((err) => {
      body.textContent = "Could not load the lines (" + err.message + ").";
      delete details.dataset.loaded;
    });
}, true);

document.addEventListener("click", (event) => {
  const btn = event.target.closest("button.tag");
  if (!btn) return;
  const note = document.getElementById("note");
  if (!note) return;
  const tag = btn.dataset.tag;
  if (!note.value.includes(tag)) note.value = (note.value ? note.value.trimEnd() + " " : "") + tag + " ";
  note.focus();
});
