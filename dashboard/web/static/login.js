// The sign-in form: POST /api/login, then back to where the user was going (same site only).
"use strict";

function target() {
  const next = new URLSearchParams(window.location.search).get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

document.getElementById("form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const message = document.getElementById("message");
  message.textContent = "";
  const body = JSON.stringify({
    user: document.getElementById("user").value,
    password: document.getElementById("password").value,
  });
  try {
    const res = await fetch("/api/login", { method: "POST", headers: { "Content-Type": "application/json" }, body });
    const data = await res.json();
    if (!res.ok) { message.textContent = data.error || res.statusText; return; }
    window.location.assign(target());
  } catch (err) {
    message.textContent = t("cannot reach the server: {why}", { why: err.message || err });
  }
});
loadLanguage();
