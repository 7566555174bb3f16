// The pages' language: the catalogue of /api/i18n (gettext, core/locale), the static
// page's texts translated in place, and t() for what the scripts write. English is the
// source language: a message's key is its English text.
"use strict";

let LANG = "en";
let LOCALE = "en-US";
let MESSAGES = {};
const missing = new Set();  // messages shown without a translation (the browser test reads it)
window.i18nMissing = missing;
/** ``msg`` (English, the catalogue's key) in the page's language, ``{name}``s filled in. */
function t(msg, params) {
  let out = msg;
  if (LANG !== "en") {
    if (Object.prototype.hasOwnProperty.call(MESSAGES, msg)) out = MESSAGES[msg]; else missing.add(msg);
  }
  if (params) out = out.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
  return out;
}
/** Marks a message for the catalogue; translated where shown (with t). */
function N(msg) { return msg; }
/** The static page's texts and labels, translated once the catalogue is in. */
function translatePage() {
  document.documentElement.lang = LANG;
  const walk = document.createTreeWalker(document, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walk.nextNode()) nodes.push(walk.currentNode);
  for (const node of nodes) {
    const parent = node.parentElement;
    if (!parent || ["SCRIPT", "STYLE", "CODE"].includes(parent.tagName)) continue;
    const text = node.nodeValue.replace(/\s+/g, " ").trim();
    if (!/\p{L}/u.test(text)) continue;
    node.nodeValue = node.nodeValue.replace(node.nodeValue.trim(), t(text));
  }
  for (const attr of ["placeholder", "title", "aria-label"]) {
    for (const e of document.querySelectorAll(`[${attr}]`)) e.setAttribute(attr, t(e.getAttribute(attr)));
  }
}
async function loadLanguage() {
  const asked = new URLSearchParams(window.location.search).get("lang");
  if (asked) window.localStorage.setItem("lang", asked);
  const wanted = asked || window.localStorage.getItem("lang") || "";
  const res = await fetch("/api/i18n?" + new URLSearchParams(wanted ? { lang: wanted } : {}));
  if (!res.ok) return;
  const doc = await res.json();
  LANG = doc.lang; LOCALE = doc.locale; MESSAGES = doc.messages;
  translatePage();
  const pick = document.getElementById("lang");
  if (pick) {
    pick.replaceChildren(...Object.entries(doc.languages).map(([code, name]) => {
      const o = document.createElement("option");
      o.value = code; o.textContent = name;
      return o;
    }));
    pick.value = LANG;
    pick.addEventListener("change", () => { window.localStorage.setItem("lang", pick.value); window.location.reload(); });
  }
}
