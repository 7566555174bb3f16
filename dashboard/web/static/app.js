// The dashboard: the plant, a site, an area, a line or a machine over any window, drawn
// from /api/report (and /api/machine on a machine's page) as tables and SVG charts. The
// whole state of the page (window, level, sort, filter) is in its address, so a copied link
// shows the same view. No library, nothing loaded from elsewhere.
"use strict";

const REFRESH_MS = 30000;
const STATE_COLOURS = {
  RUNNING: "#2da44e", IDLE: "#d4a72c", DOWN: "#cf222e", SETUP: "#8250df",
  PLANNED_STOP: "#8c959f", OFF: "#d0d7de", UNKNOWN: "#57606a",
};
const LOSSES = { breakdowns: N("breakdowns"), setup: N("setup"), small_stops: N("small stops"),
                 reduced_speed: N("reduced speed"), startup_rejects: N("start-up rejects"),
                 production_rejects: N("production rejects") };
const LEVEL_NAMES = [N("plant"), N("site"), N("area"), N("line"), N("machine")];
const LEVEL_PLURALS = [N("plants"), N("sites"), N("areas"), N("lines"), N("machines")];
const STATE_NAMES = { RUNNING: N("running"), IDLE: N("idle"), DOWN: N("down"), SETUP: N("setup"),
                      PLANNED_STOP: N("planned stop"), OFF: N("off"), UNKNOWN: N("unknown") };
const RULE_NAMES = { breakdown: N("breakdown"), silent: N("silent or offline"), oee: N("OEE below target"),
                     availability: N("availability below target"), anomaly: N("anomaly"),
                     demand: N("demand near the contracted maximum"), energy_intensity: N("energy per good unit above baseline"),
                     deadletters: N("dead letters") };
const SEVERITY_NAMES = { critical: N("critical"), warning: N("warning") };
const SIGNAL_NAMES = { vibration_mm_s: N("vibration"), temperature_c: N("temperature") };
function signalName(s) { return SIGNAL_NAMES[s] ? t(SIGNAL_NAMES[s]) : s; }
function stateName(s) { return STATE_NAMES[s] ? t(STATE_NAMES[s]) : s; }
// A run's loss category (/api/machine: analytics/oee/timeline.py).
const CATEGORY_LOSSES = { running: N("running"), small_stop: N("small stop"), breakdown: N("breakdown"),
                          setup: N("setup"), not_planned: N("not planned") };
function lossName(k) { return CATEGORY_LOSSES[k] ? t(CATEGORY_LOSSES[k]) : k.replace("_", " "); }
const MAPS = ["plant", "sites", "areas", "lines", "machines"];
const COLUMNS = [
  ["name", N("name")], ["oee", "OEE"], ["availability", "A"], ["performance", "P"], ["quality", "Q"],
  ...Object.entries(LOSSES).map(([k, label]) => ["loss:" + k, label, " (min)"]),
  ["kwh_per_good_unit", N("kWh per good unit")], ["delta", N("OEE vs previous")],
];

let presets = [];
let targets = {};
let defaultTarget = 0.85;
let report = null;      // the window's report
let previous = null;    // the previous window of the same length
let periods = null;     // the window's report by hour, shift or day
let token = 0;          // the view being drawn (a newer navigation cancels older draws)

// ---- helpers --------------------------------------------------------------------------------
function pct(v) { return v === null || v === undefined ? t("no data") : num(100 * v, 1) + " %"; }
function num(v, digits) {
  if (v === null || v === undefined) return "–";
  return Number(v).toLocaleString(LOCALE, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
/** The label of a column of the children's table, in the page's language. */
function columnLabel(c) { return (["OEE", "A", "P", "Q"].includes(c[1]) ? c[1] : t(c[1])) + (c[2] || ""); }
function grade(v, good, bad) {
  if (v === null || v === undefined) return "";
  return v >= good ? "good" : v < bad ? "bad" : "warn";
}
function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function svg(tag, attrs, text) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
/** A moment to the minute, UTC, in the locale's order (en: 2026-11-30 14:05; vi: 14:05 30/11/2026). */
function iso(ms) {
  if (LANG === "en") return new Date(ms).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  return new Intl.DateTimeFormat(LOCALE, { timeZone: "UTC", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
                                           day: "2-digit", month: "2-digit", year: "numeric" }).format(ms) + " UTC";
}
/** Day and time without the year, for axes. */
function shortWhen(ms) {
  if (LANG === "en") return new Date(ms).toISOString().slice(5, 16).replace("T", " ");
  return new Intl.DateTimeFormat(LOCALE, { timeZone: "UTC", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
                                           day: "2-digit", month: "2-digit" }).format(ms);
}
function tile(parent, label, value, cls, extra) {
  const t = el("div", { class: "tile" });
  t.appendChild(el("span", { class: "muted" }, label));
  t.appendChild(el("b", { class: cls || "" }, value));
  if (extra) t.appendChild(extra);
  parent.appendChild(t);
}

// ---- the state of the page, in its address ---------------------------------------------------
function state() {
  const p = new URLSearchParams(window.location.search);
  return {
    win: p.get("win") || (p.get("from") ? "custom" : "default"),
    from: p.get("from"), to: p.get("to"),
    path: (p.get("path") || "").split("/").filter(Boolean),
    sort: p.get("sort") || "oee", dir: p.get("dir") || "asc", q: p.get("q") || "",
  };
}
/** The address of this view with ``changes`` (defaults left out). */
function address(changes) {
  const s = { ...state(), ...changes };
  const p = new URLSearchParams();
  if (s.win !== "default") p.set("win", s.win);
  if (s.win === "custom") { p.set("from", s.from); p.set("to", s.to); }
  if (s.path.length) p.set("path", s.path.join("/"));
  if (s.sort !== "oee") p.set("sort", s.sort);
  if (s.dir !== "asc") p.set("dir", s.dir);
  if (s.q) p.set("q", s.q);
  return window.location.pathname + (p.toString() ? "?" + p : "");
}
/** A link that opens ``path`` in this window (what the drill-down, breadcrumbs and finds use). */
function pathLink(path, attrs, label) {
  const a = el("a", { href: address({ path, q: "" }), ...attrs }, label);
  a.addEventListener("click", (ev) => { ev.preventDefault(); go({ path, q: "" }); });
  return a;
}
function go(changes, replace) {
  const url = address(changes);
  if (replace) window.history.replaceState(null, "", url); else window.history.pushState(null, "", url);
  load();
}
window.addEventListener("popstate", () => load());

function windowOf(s) {
  if (s.win === "custom" && s.from && s.to) return { from: Number(s.from), to: Number(s.to) };
  const p = presets.find((x) => x.id === s.win);
  if (!p || p.id === "default") return null;  // the server's live window (computed ahead)
  return { from: p.from_ms, to: p.to_ms };
}
function reportUrl(w, extra) {
  const q = new URLSearchParams(extra || {});
  if (w) { q.set("from", String(w.from)); q.set("to", String(w.to)); }
  return "/api/report?" + q;
}
let me = null;           // who is signed in (/api/me): user, role, csrf
function signIn() {
  window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname + window.location.search));
}
async function getJson(url, options) {
  const res = await fetch(url, options);
  if (res.status === 401) { signIn(); throw new Error("signed out"); }
  const data = await res.json();
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}
/** A write: the session's CSRF token goes along (cookie sign-ins). */
function postJson(url, body) {
  const headers = { "X-CSRF-Token": (me && me.csrf) || "" };
  if (body === undefined) return getJson(url, { method: "POST", headers });
  headers["Content-Type"] = "application/json";
  return getJson(url, { method: "POST", headers, body: JSON.stringify(body) });
}
async function drawStops(path, win) {
  const section = document.getElementById("stop-reasons");
  const q = new URLSearchParams({ from: String(win.from), to: String(win.to), ...onlyOf(path) });
  let doc;
  try {
    doc = await getJson("/api/stops?" + q);
  } catch (err) {  // no plant model, or a window too long to list stops
    section.hidden = true;
    return;
  }
  section.hidden = !!doc.unavailable || doc.stops.length === 0;
  document.getElementById("stops-count").textContent = t("({n} unexplained)", { n: doc.unexplained });
  document.querySelector("#stops-table tbody").replaceChildren(...doc.stops.map((s) => {
    const row = el("tr", { "data-stop": `${s.machine}@${s.start_ms}` });
    [s.machine, iso(s.start_ms), num(s.minutes, 0), stateName(s.state), s.sent_reason]
      .forEach((v) => row.appendChild(el("td", {}, String(v))));
    const cell = el("td");
    const mine = s.explained && me && s.explained.user === me.user;
    if (s.explained) {
      cell.appendChild(el("span", { class: "explained" },
        `${s.explained.reason} (${s.explained.user}, ${iso(s.explained.at_ms)})` +
        (s.explained.comment ? ": " + s.explained.comment : "")));
    }
    if (mayOperate() && (!s.explained || mine || me.role === "admin")) {
      const pick = el("select", { class: "reason" });
      pick.appendChild(el("option", { value: "" }, t("reason…")));
      doc.catalogue.forEach((r) => pick.appendChild(el("option", { value: r.code }, `${r.label} (${t(CATEGORY_NAMES[r.category] || r.category)})`)));
      const note = el("input", { class: "comment", placeholder: t("comment"), maxlength: "500" });
      const button = el("button", { type: "button", class: "explain" }, s.explained ? t("change") : t("explain"));
      const said = el("span", { class: "muted" });
      button.addEventListener("click", async () => {
        if (!pick.value) { said.textContent = t("pick a reason"); return; }
        try {
          await postJson("/api/stops/reason", { machine: s.machine, start_ms: s.start_ms, reason: pick.value, comment: note.value });
          load();
        } catch (err) {
          said.textContent = t("not stored: {why}", { why: err.message || err });
        }
      });
      [pick, note, button, said].forEach((x) => cell.appendChild(x));
    }
    row.appendChild(cell);
    return row;
  }));
}
const CATEGORY_NAMES = { breakdown: N("breakdown"), setup: N("setup"), planned_stop: N("planned stop") };
function mayOperate() { return !!me && ["operator", "admin"].includes(me.role); }
async function drawAlerts(path) {
  const doc = await getJson("/api/alerts");
  const prefix = path.join("/");
  const mine = doc.alerts.filter((a) => !prefix || a.subject.startsWith(prefix));
  document.getElementById("alerts-count").textContent =
    t("({here} open here, {plant} in the plant)", { here: mine.filter((a) => a.resolved_ms === null).length, plant: doc.open });
  document.getElementById("alerts-none").hidden = mine.length > 0;
  document.getElementById("alerts-table").hidden = mine.length === 0;
  document.querySelector("#alerts-table tbody").replaceChildren(...mine.map((a) => {
    const open = a.resolved_ms === null;
    const row = el("tr", { class: open ? a.severity : "resolved", "data-alert": a.id });
    [t(SEVERITY_NAMES[a.severity] || a.severity), RULE_NAMES[a.rule] ? t(RULE_NAMES[a.rule]) : a.rule, a.message,
     iso(a.fired_ms), num(a.minutes, 0), open ? t("open") : t("resolved {when}", { when: iso(a.resolved_ms) })]
      .forEach((v) => row.appendChild(el("td", {}, String(v))));
    const ack = el("td");
    if (a.acked_by) {
      ack.textContent = `${a.acked_by}, ${iso(a.acked_ms)}`;
    } else if (open && mayOperate()) {
      const button = el("button", { type: "button", class: "ack" }, t("acknowledge"));
      button.addEventListener("click", async () => {
        try {
          await postJson("/api/alerts/ack", { id: a.id });
          await drawAlerts(state().path);
        } catch (err) {
          ack.textContent = t("not acknowledged: {why}", { why: err.message || err });
        }
      });
      ack.appendChild(button);
    }
    row.appendChild(ack);
    return row;
  }));
  const bad = doc.undelivered.filter((n) => n.status === "failed");
  const undelivered = document.getElementById("undelivered");
  undelivered.hidden = bad.length === 0;
  undelivered.textContent = bad.length ? t("{n} notification(s) could not be delivered (kept; `factory alerts retry` sends them again):", { n: bad.length }) +
    " " + [...new Set(bad.map((n) => `${n.channel}: ${n.error}`))].slice(-3).join("; ") : "";
}
const ROLE_NAMES = { viewer: N("viewer"), operator: N("operator"), admin: N("admin") };
async function drawWho() {
  me = await getJson("/api/me");
  document.getElementById("who-name").textContent =
    me.via === "anonymous" ? t("not signed in (read only)") : `${me.user} (${t(ROLE_NAMES[me.role] || me.role)})`;
  const out = document.getElementById("sign-out");
  out.hidden = me.via !== "session";
  document.getElementById("forecast-save").hidden = !["operator", "admin"].includes(me.role);
}
async function drawAudit() {
  const section = document.getElementById("audit");
  section.hidden = !me || me.role !== "admin";
  if (section.hidden) return;
  const { events } = await getJson("/api/audit?limit=50");
  section.querySelector("tbody").replaceChildren(...events.map((e) => {
    const row = el("tr", { class: e.ok ? "" : "bad" });
    [iso(e.ts), e.user, e.action, e.ok ? t("yes") : t("no"), e.source, e.detail]
      .forEach((v) => row.appendChild(el("td", {}, String(v))));
    return row;
  }));
}

document.getElementById("forecast-save").addEventListener("click", async () => {
  const said = document.getElementById("forecast-saved");
  try {
    const r = await postJson("/api/forecast");
    said.textContent = t("stored {n} points from {origin}", { n: r.stored, origin: r.origin });
  } catch (err) {
    said.textContent = t("not stored: {why}", { why: err.message || err });
  }
});
document.getElementById("sign-out").addEventListener("click", async () => {
  try { await postJson("/api/logout"); } finally { signIn(); }
});

// ---- levels -----------------------------------------------------------------------------------
/** The figures of ``path`` in a report (``r.oee``) or in one of its periods (levels at the top). */
function figuresOf(r, path) {
  if (!r) return null;
  const levels = r.oee || r;
  if (path.length === 0) return levels.plant;
  return levels[MAPS[path.length]][path.join("/")] || null;
}
function energyOf(r, path) {
  if (!r) return null;
  const key = path.join("/");
  if (path.length === 0) return r.energy.plant;
  if (path.length === 1) return r.energy.sites[key] || null;
  if (path.length === 3) return r.energy.lines[key] || null;
  if (path.length === 4) return r.energy.machines[key] || null;
  return null;
}
/** The level shown below ``path``: its children; from the plant, the first level with more than
 * one member (a one-site, one-area plant shows its lines at once). */
/** The tariff's bill of ``path`` (plant: the machines; a site: its main meter if any). */
function costOf(r, path) {
  const c = r.energy.cost;
  if (!c) return null;
  if (path.length === 0) return c.plant;
  if (path.length === 1) return c.sites[path[0]] || null;
  if (path.length === 3) return c.lines[path.join("/")] || null;
  if (path.length === 4) return c.machines[path.join("/")] || null;
  return null;
}

function childLevel(r, path) {
  let level = path.length + 1;
  if (path.length === 0) {
    while (level < 4 && Object.keys(r.oee[MAPS[level]]).length <= 1) level++;
  }
  return level;
}
function childrenOf(r, path, level) {
  const prefix = path.length ? path.join("/") + "/" : "";
  return Object.keys(r.oee[MAPS[level]]).filter((k) => k.startsWith(prefix)).map((k) => k.split("/"));
}
function targetOf(key) {
  return targets[key] !== undefined ? targets[key] : defaultTarget;
}

// ---- drawing ----------------------------------------------------------------------------------
function drawCrumbs(path) {
  const ol = document.getElementById("crumbs");
  ol.replaceChildren();
  const items = [[t("Plant"), []], ...path.map((name, i) => [name, path.slice(0, i + 1)])];
  items.forEach(([label, p], i) => {
    const li = el("li");
    if (i === items.length - 1) {
      li.appendChild(el("span", { "aria-current": "page" }, label));
    } else {
      li.appendChild(pathLink(p, { "data-path": p.join("/") }, label));
    }
    ol.appendChild(li);
  });
}

function delta(now, before) {
  if (now === null || now === undefined || before === null || before === undefined) return null;
  return now - before;
}
function arrow(d) {
  if (d === null) return el("span", { class: "muted delta" }, "–");
  const up = d >= 0;
  return el("span", { class: "delta " + (Math.abs(d) < 0.0005 ? "" : up ? "good" : "bad"),
                      title: t("against the previous window of the same length") },
            (Math.abs(d) < 0.0005 ? "= " : up ? "▲ " : "▼ ") + num(100 * d, 1) + " " + t("pt"));
}

function drawKpis(path) {
  const f = figuresOf(report, path);
  const before = figuresOf(previous, path);
  const tiles = document.getElementById("kpis");
  tiles.replaceChildren();
  if (!f) { tiles.appendChild(el("p", { class: "muted" }, t("no data in this window"))); return; }
  tile(tiles, "OEE", pct(f.oee), grade(f.oee, 0.85, 0.6), arrow(delta(f.oee, before && before.oee)));
  tile(tiles, t("Availability"), pct(f.availability), "", arrow(delta(f.availability, before && before.availability)));
  tile(tiles, t("Performance"), pct(f.performance), "", arrow(delta(f.performance, before && before.performance)));
  tile(tiles, t("Quality"), pct(f.quality), "", arrow(delta(f.quality, before && before.quality)));
  tile(tiles, t("Good units"), num(f.good_count, 0));
  tile(tiles, t("kWh per good unit"), num(f.kwh_per_good_unit, 4));
  if (path.length === 3) tile(tiles, t("OEE target"), pct(targetOf(path.join("/"))));
}

function cellValue(r, key, level, column) {
  const f = r.oee[MAPS[level]][key];
  if (column === "name") return key.split("/").pop();
  if (column === "delta") {
    const b = previous ? previous.oee[MAPS[level]][key] : null;
    return delta(f.oee, b ? b.oee : null);
  }
  if (column.startsWith("loss:")) return f.losses_min[column.slice(5)];
  return f[column];
}

function drawChildren(path, s) {
  const box = document.getElementById("children-box");
  const note = document.getElementById("children-note");
  if (path.length === 4) { box.hidden = true; return; }
  box.hidden = false;
  const level = childLevel(report, path);
  const head = document.querySelector("#children thead tr");
  head.replaceChildren();
  for (const c of COLUMNS) {
    const key = c[0];
    const th = el("th", { scope: "col", "aria-sort": s.sort === key ? (s.dir === "asc" ? "ascending" : "descending") : "none" });
    const b = el("button", { type: "button", "data-sort": key }, key === "name" ? t(LEVEL_NAMES[level]) : columnLabel(c));
    b.addEventListener("click", () => go({ sort: key, dir: s.sort === key && s.dir === "asc" ? "desc" : "asc" }, true));
    th.appendChild(b);
    head.appendChild(th);
  }
  const q = s.q.toLowerCase();
  let keys = childrenOf(report, path, level).map((p) => p.join("/"));
  const total = keys.length;
  if (q) keys = keys.filter((k) => k.toLowerCase().includes(q));
  const sign = s.dir === "asc" ? 1 : -1;
  keys.sort((a, b) => {
    const va = cellValue(report, a, level, s.sort), vb = cellValue(report, b, level, s.sort);
    if (va === null || va === undefined) return vb === null || vb === undefined ? a.localeCompare(b) : 1;
    if (vb === null || vb === undefined) return -1;
    if (typeof va === "string") return sign * va.localeCompare(vb);
    return sign * (va - vb) || a.localeCompare(b);
  });
  const rows = document.createDocumentFragment();
  for (const key of keys) {
    const f = report.oee[MAPS[level]][key];
    const tr = el("tr", { "data-key": key });
    const name = el("td");
    name.appendChild(pathLink(key.split("/"), {}, key.split("/").pop()));
    tr.appendChild(name);
    const cells = [
      ["oee", pct(f.oee), grade(f.oee, level === 3 ? targetOf(key) : 0.85, 0.6), f.oee],
      ["availability", pct(f.availability), grade(f.availability, 0.9, 0.75), f.availability],
      ["performance", pct(f.performance) + (f.performance_suspect ? " !" : ""),
        f.performance_suspect ? "bad" : grade(f.performance, 0.95, 0.8), f.performance],
      ["quality", pct(f.quality), grade(f.quality, 0.99, 0.95), f.quality],
      ...Object.keys(LOSSES).map((k) => ["loss:" + k, num(f.losses_min[k], 0), "", f.losses_min[k]]),
      ["kwh_per_good_unit", num(f.kwh_per_good_unit, 4), "", f.kwh_per_good_unit],
    ];
    for (const [kpi, text, cls, raw] of cells) {
      tr.appendChild(el("td", { class: cls, "data-kpi": kpi, "data-key": key,
                                "data-value": raw === null || raw === undefined ? "" : String(raw) }, text));
    }
    const d = cellValue(report, key, level, "delta");
    const td = el("td", { "data-kpi": "delta" });
    td.appendChild(arrow(d));
    tr.appendChild(td);
    rows.appendChild(tr);
  }
  document.querySelector("#children tbody").replaceChildren(rows);
  const levels = t(LEVEL_PLURALS[level]);
  note.textContent = q ? t("{n} of {total} {levels} match “{q}”", { n: keys.length, total, levels, q: s.q }) :
    t("{total} {levels}, sorted by {column}", { total, levels, column: columnLabel(COLUMNS.find((c) => c[0] === s.sort)) }) +
    (s.dir === "asc" ? t(", worst first") : "") + ". " + t("Lines and sites are sums of their machines' times and counts (ISO 22400-2).");
  // Search: machines anywhere below this level whose name matches.
  const found = document.getElementById("found");
  found.replaceChildren();
  if (q && level < 4) {
    const prefix = path.length ? path.join("/") + "/" : "";
    const hits = Object.keys(report.oee.machines)
      .filter((k) => k.startsWith(prefix) && k.slice(prefix.length).toLowerCase().includes(q)).slice(0, 20);
    for (const key of hits) {
      const li = el("li");
      li.appendChild(pathLink(key.split("/"), { "data-found": key }, key));
      li.appendChild(document.createTextNode(" " + pct(report.oee.machines[key].oee)));
      found.appendChild(li);
    }
  }
}

function heatColour(v) {
  if (v === null || v === undefined) return "#eaeef2";
  const t = Math.max(0, Math.min(1, (v - 0.4) / 0.5));  // 40 % red .. 90 % green
  const r = Math.round(207 + (45 - 207) * t), g = Math.round(34 + (164 - 34) * t), b = Math.round(46 + (78 - 46) * t);
  return `rgb(${r},${g},${b})`;
}

function drawHeat(path, s) {
  const box = document.getElementById("heatmap");
  const trend = document.getElementById("trend");
  if (!periods) { box.textContent = t("loading…"); trend.replaceChildren(); return; }
  const ps = periods.periods;
  const level = path.length === 4 ? 4 : childLevel(periods, path);
  let rows = path.length === 4 ? [path.join("/")] : childrenOf(periods, path, level).map((p) => p.join("/"));
  // The same rows, in the same order, as the table above (worst first by default).
  const order = [...document.querySelectorAll("#children tbody tr")].map((tr) => tr.dataset.key);
  if (order.length) rows = order.filter((k) => rows.includes(k));
  rows = rows.slice(0, 60);
  if (!ps.length || !rows.length) { box.textContent = t("no periods in this window"); trend.replaceChildren(); return; }
  const label = 150, cw = Math.max(8, Math.min(48, Math.floor(820 / ps.length))), ch = 20;
  const W = label + cw * ps.length, H = ch * rows.length + 24;
  const s2 = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: Math.min(W, 1100), role: "grid",
                          "aria-label": t("OEE per {level} and period", { level: t(LEVEL_NAMES[level]) }) });
  const readout = document.getElementById("heat-readout");
  rows.forEach((key, i) => {
    s2.appendChild(svg("text", { x: 0, y: i * ch + 14 }, key.split("/").pop()));
    ps.forEach((p, j) => {
      const f = p[MAPS[level]][key];
      const v = f ? f.oee : null;
      const text = `${key.split("/").pop()}, ${p.period}: OEE ${pct(v)}`;
      const cell = svg("rect", { x: label + j * cw, y: i * ch, width: cw - 1, height: ch - 1, fill: heatColour(v),
                                 tabindex: "0", role: "gridcell", "aria-label": text, "data-key": key,
                                 "data-period": p.period, "data-value": v === null || v === undefined ? "" : String(v) });
      cell.appendChild(svg("title", {}, text));
      const open = () => go({ path: key.split("/"), win: "custom", from: String(Date.parse(p.from)),
                              to: String(Date.parse(p.to)), q: "" });
      cell.addEventListener("click", open);
      cell.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(); } });
      cell.addEventListener("focus", () => { readout.textContent = text; });
      cell.addEventListener("mouseenter", () => { readout.textContent = text; });
      s2.appendChild(cell);
      if (cw >= 34 && v !== null && v !== undefined) {
        s2.appendChild(svg("text", { x: label + j * cw + 3, y: i * ch + 14, "pointer-events": "none",
                                     fill: v < 0.65 ? "#fff" : "#1f2328" }, (100 * v).toFixed(0)));
      }
    });
  });
  const step = Math.max(1, Math.ceil(ps.length / 8));
  ps.forEach((p, j) => {
    if (j % step === 0) s2.appendChild(svg("text", { x: label + j * cw, y: H - 6 }, p.period.slice(-11)));
  });
  box.replaceChildren(s2);
  // Trend: OEE per period of the rows (at most 6, worst first) against their targets.
  const Wt = 820, Ht = 160;
  const chart = svg("svg", { viewBox: `0 -12 ${Wt} ${Ht + 42}`, width: String(Wt), role: "img",
                         "aria-label": t("OEE trend against target") });
  const xs = (j) => 40 + (ps.length === 1 ? 0 : (j * (Wt - 60)) / (ps.length - 1));
  const ys = (v) => Ht - v * Ht;
  for (const g of [0, 0.5, 1]) {
    chart.appendChild(svg("line", { x1: 40, x2: Wt - 20, y1: ys(g), y2: ys(g), stroke: "#eaeef2" }));
    chart.appendChild(svg("text", { x: 0, y: ys(g) + 4 }, (100 * g).toFixed(0) + " %"));
  }
  const palette = ["#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#57606a"];
  rows.slice(0, 6).forEach((key, i) => {
    const pts = ps.map((p, j) => [j, p[MAPS[level]][key]]).filter(([, f]) => f && f.oee !== null);
    if (!pts.length) return;
    const target = level === 3 ? targetOf(key) : defaultTarget;
    chart.appendChild(svg("line", { x1: 40, x2: Wt - 20, y1: ys(target), y2: ys(target), stroke: palette[i],
                                    "stroke-dasharray": "4 4", "stroke-opacity": 0.6 }));
    chart.appendChild(svg("polyline", { points: pts.map(([j, f]) => `${xs(j)},${ys(f.oee)}`).join(" "),
                                        fill: "none", stroke: palette[i], "stroke-width": 2 }));
    chart.appendChild(svg("text", { x: 40 + i * 130, y: Ht + 26, fill: palette[i] },
      t("{name} (target {target} %)", { name: key.split("/").pop(), target: (100 * target).toFixed(0) })));
  });
  trend.replaceChildren(chart);
}

function bars(container, items, unit) {
  const W = 420, row = 20, H = Math.max(items.length * row, row);
  const max = Math.max(...items.map((i) => i.value), 1e-9);
  const box = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: String(W), role: "img" });
  items.forEach((item, k) => {
    const w = (Math.max(item.value, 0) / max) * (W - 230);
    box.appendChild(svg("text", { x: 0, y: k * row + 14 }, item.label));
    box.appendChild(svg("rect", { x: 130, y: k * row + 4, width: w, height: 12, fill: item.colour || "#0969da" }));
    box.appendChild(svg("text", { x: 135 + w, y: k * row + 14 }, num(item.value, 1) + unit));
  });
  container.replaceChildren(box);
}

function drawLosses(path) {
  const f = figuresOf(report, path);
  if (!f) return;
  bars(document.getElementById("six-losses"),
       Object.entries(LOSSES).map(([k, label]) => ({ label: t(label), value: f.losses_min[k] || 0, colour: "#cf222e" })), " min");
  const reasons = Object.entries(f.downtime_by_reason_min).sort((a, b) => b[1] - a[1]).slice(0, 10);
  bars(document.getElementById("pareto"), reasons.map(([reason, minutes]) => ({ label: reason, value: minutes })), " min");
}

function drawEnergy(path) {
  const f = figuresOf(report, path);
  const e = energyOf(report, path);
  const tiles = document.getElementById("energy-kpis");
  tiles.replaceChildren();
  if (f) {
    tile(tiles, "kWh", num(f.energy_kwh, 1));
    tile(tiles, t("kWh per good unit"), num(f.kwh_per_good_unit, 4));
    tile(tiles, t("Idle kWh"), num(f.idle_kwh, 1));
    if (e && e.peak_15min !== undefined) tile(tiles, t("Peak 15-min demand"), e.peak_15min ? num(e.peak_15min.kw, 1) + " kW" : "–");
    if (e && e.co2e_kg !== undefined) tile(tiles, "CO2e", num(e.co2e_kg, 0) + " kg");
  }
  const cost = costOf(report, path);
  if (cost) {
    const c = report.energy.cost;
    const money = (v, digits) => v === null || v === undefined ? "–" : new Intl.NumberFormat(LOCALE, {
      style: "currency", currency: c.currency, minimumFractionDigits: digits, maximumFractionDigits: digits }).format(v);
    tile(tiles, t("Energy cost"), money(cost.cost, c.decimals));
    tile(tiles, t("Cost per good unit"), money(cost.cost_per_good_unit, c.decimals === 0 ? 1 : c.decimals + 2));
    tile(tiles, t("kWh at peak"), pct(cost.peak_share));
  }
  if (path.length === 0) {
    for (const [p, m] of Object.entries(report.energy.main_meters)) {
      tile(tiles, t("Non-production ({site})", { site: p.split("/")[0] }), num(m.non_production_kwh, 1) + " kWh");
    }
  }
  const box = document.getElementById("intensity");
  const pts = (periods ? periods.periods : []).map((p) => ({ label: p.period, f: figuresOf(p, path) }))
    .filter((x) => x.f && x.f.kwh_per_good_unit !== null).map((x) => ({ label: x.label, value: x.f.kwh_per_good_unit }));
  if (pts.length < 2) {
    box.textContent = periods ? t("fewer than two periods with good units") : t("loading…");
  } else {
    const W = 420, H = 160, max = Math.max(...pts.map((p) => p.value)) * 1.1;
    const s = svg("svg", { viewBox: `0 0 ${W} ${H + 20}`, width: String(W), role: "img", "aria-label": t("kWh per good unit per period") });
    const xy = pts.map((p, i) => [20 + (i * (W - 40)) / (pts.length - 1), H - (p.value / max) * H]);
    s.appendChild(svg("polyline", { points: xy.map((q) => q.join(",")).join(" "), fill: "none", stroke: "#0969da", "stroke-width": 2 }));
    xy.forEach(([x, y], i) => {
      const c = svg("circle", { cx: x, cy: y, r: 3, fill: "#0969da" });
      c.appendChild(svg("title", {}, `${pts[i].label}: ${num(pts[i].value, 4)} ` + t("kWh/unit")));
      s.appendChild(c);
    });
    s.appendChild(svg("text", { x: 20, y: H + 16 }, pts[0].label));
    s.appendChild(svg("text", { x: W - 140, y: H + 16 }, pts[pts.length - 1].label));
    box.replaceChildren(s);
  }
  if (f) {
    bars(document.getElementById("by-state"), Object.entries(f.energy_by_state_kwh)
      .map(([st, kwh]) => ({ label: stateName(st), value: kwh, colour: STATE_COLOURS[st] })), " kWh");
  }
}

let outlook = null;      // the energy forecast (/api/forecast), refreshed with the page
let outlookAt = 0;

function forecastTarget(doc, path) {
  const want = path.length === 3 ? ["line", path.join("/")] : ["site", path.length ? path[0] : null];
  return doc.targets.find((t) => t.kind === want[0] && (want[1] === null || t.name === want[1]));
}

function kwhRange(x) {
  return x.p50 === null ? "–" : num(x.p50, 0) + " kWh" + (x.p10 === null ? "" : ` (${num(x.p10, 0)}–${num(x.p90, 0)})`);
}

async function drawForecast(path, my) {
  const section = document.getElementById("forecast");
  section.hidden = path.length === 2 || path.length === 4;
  if (section.hidden) return;
  const status = document.getElementById("forecast-status");
  if (!outlook || Date.now() - outlookAt > REFRESH_MS) {
    let why = null;
    try {
      outlook = await getJson("/api/forecast");
      outlookAt = Date.now();
      if (outlook.unavailable) why = outlook.unavailable;
    } catch (err) {
      why = err.message || String(err);
    }
    if (my !== token) return;
    if (why !== null) {
      outlook = null;
      status.textContent = t("no forecast: {why}", { why });
      ["forecast-kpis", "forecast-chart", "forecast-demand"].forEach((id) => document.getElementById(id).replaceChildren());
      document.querySelector("#forecast-flex tbody").replaceChildren();
      return;
    }
  }
  if (my !== token) return;
  const ft = forecastTarget(outlook, path);
  if (!ft) { status.textContent = t("no metered energy for this level"); return; }
  document.getElementById("forecast-target").textContent = `${t(ft.kind)} ${ft.name}`;
  status.textContent = t("from {when}, learnt from {days} days; 80 % intervals; peak hours {bands} ({days_of_week}, {zone})",
    { when: iso(outlook.origin_ms), days: outlook.history_days, bands: outlook.peak_hours.bands.join(", "),
      days_of_week: outlook.peak_hours.days.join(" "), zone: outlook.timezone });
  const tiles = document.getElementById("forecast-kpis");
  tiles.replaceChildren();
  tile(tiles, t("Next 24 h"), kwhRange(ft.next_24h_kwh));
  tile(tiles, t("Rest of today"), kwhRange(ft.rest_of_day_kwh));
  const top = ft.blocks.reduce((a, b) => (b[2] > a[2] ? b : a));
  tile(tiles, t("Forecast peak"), num(top[2], 1) + " kW", "", el("span", { class: "muted" }, " " + t("at {when}", { when: iso(top[0]) })));
  const site = ft.kind === "site" ? ft.name : ft.name.split("/")[0];
  const demand = outlook.demand.filter((d) => d.site === site);
  const list = document.getElementById("forecast-demand");
  list.replaceChildren(...demand.map((d) => {
    if (d.contracted_kw === null) return el("li", {}, `${d.site}: ` + t("no contracted demand in the plant model (main_meter.contracted_kw)"));
    const hot = d.approaching.map((h) => t("{from} to {to} (up to {kw} kW)", { from: iso(Date.parse(h.from)), to: h.to.slice(11, 16), kw: num(h.p90_kw, 0) }));
    return el("li", { class: hot.length ? "bad" : "" }, `${d.site}: ` + t("contracted {kw} kW", { kw: num(d.contracted_kw, 0) }) + "; " +
      (hot.length ? t("may reach {kw} kW", { kw: num(d.warning_kw, 0) }) + " " + hot.join(", ") : t("stays below {kw} kW", { kw: num(d.warning_kw, 0) })));
  }));
  const body = document.querySelector("#forecast-flex tbody");
  body.replaceChildren(...outlook.flexible.filter((f) => f.target.split("/")[0] === site &&
    (ft.kind === "site" || f.target === ft.name)).map((f) => {
    const row = el("tr");
    [t(f.load), f.target, num(f.kwh_in_peak, 1), f.kw_at_site_peak === null ? "–" : num(f.kw_at_site_peak, 1), t(f.action)]
      .forEach((v) => row.appendChild(el("td", {}, String(v))));
    return row;
  }));
  const past = outlook.past[`${ft.kind} ${ft.name}`] || { actual: [], forecast: [] };
  const W = 820, H = 160, t0 = past.actual.length ? past.actual[0][0] : ft.blocks[0][0];
  const t1 = ft.blocks[ft.blocks.length - 1][0] + 900000, span = t1 - t0;
  const max = Math.max(...ft.blocks.map((b) => b[3]), ...past.actual.map((a) => a[1] || 0), 1) * 1.1;
  const x = (ms) => ((ms - t0) / span) * W, y = (kw) => H - (kw / max) * H;
  const s = svg("svg", { viewBox: `0 0 ${W} ${H + 18}`, width: String(W), role: "img",
    "aria-label": t("load: metered, forecast a day ahead, and the next 24 hours with its 80 % interval") });
  const fmt = new Intl.DateTimeFormat("en-GB", { timeZone: outlook.timezone, weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const bands = outlook.peak_hours.bands.map((b) => b.split("-").map((h) => +h.slice(0, 2) * 60 + +h.slice(3)));
  for (const b of ft.blocks) {
    const parts = Object.fromEntries(fmt.formatToParts(b[0]).map((p) => [p.type, p.value]));
    const m = +parts.hour * 60 + +parts.minute;
    if (outlook.peak_hours.days.includes(parts.weekday) && bands.some(([a, z]) => m >= a && m < z)) {
      s.appendChild(svg("rect", { x: x(b[0]), y: 0, width: (900000 / span) * W + 0.5, height: H, fill: "#fff1e5" }));
    }
  }
  const band = ft.blocks.map((b) => `${x(b[0])},${y(b[3])}`).concat(ft.blocks.slice().reverse().map((b) => `${x(b[0])},${y(b[1])}`));
  s.appendChild(svg("polygon", { points: band.join(" "), fill: "#ddf4ff" }));
  const line = (pts, attrs) => s.appendChild(svg("polyline", { points: pts.map(([a, v]) => `${x(a)},${y(v)}`).join(" "), fill: "none", ...attrs }));
  line(ft.blocks.map((b) => [b[0], b[2]]), { stroke: "#0969da", "stroke-width": 2 });
  line(past.forecast.map((b) => [b[0], b[2]]), { stroke: "#0969da", "stroke-width": 1, "stroke-dasharray": "4 3" });
  line(past.actual.filter((a) => a[1] !== null), { stroke: "#24292f", "stroke-width": 1.2 });
  s.appendChild(svg("line", { x1: x(outlook.origin_ms), x2: x(outlook.origin_ms), y1: 0, y2: H, stroke: "#57606a" }));
  s.appendChild(svg("text", { x: 2, y: 12 }, num(max / 1.1, 0) + " kW"));
  s.appendChild(svg("text", { x: 2, y: H + 14 }, iso(t0)));
  s.appendChild(svg("text", { x: Math.min(x(outlook.origin_ms) + 4, W - 60), y: H + 14 }, t("now")));
  document.getElementById("forecast-chart").replaceChildren(s,
    el("p", { class: "muted" }, t("black: metered; dashed: as forecast a day ahead; blue: the next 24 h, shaded its 80 % interval; orange: peak hours")));
}

function curve(container, points, unit, label, marks) {
  if (!points.length) { container.textContent = t("no {what} in this window", { what: label }); return; }
  const W = 820, H = 120, t0 = report.window.start_ms, span = report.window.end_ms - t0;
  const max = Math.max(...points.map((p) => p[1]), 1e-9) * 1.1;
  const s = svg("svg", { viewBox: `0 0 ${W} ${H + 18}`, width: String(W), role: "img", "aria-label": label });
  for (const [a, b] of marks || []) {
    s.appendChild(svg("rect", { x: ((a - t0) / span) * W, y: 0, width: Math.max(((b - a) / span) * W, 2), height: H, fill: "#ffebe9" }));
  }
  s.appendChild(svg("polyline", { points: points.map(([t, v]) => `${((t - t0) / span) * W},${H - (v / max) * H}`).join(" "),
                                  fill: "none", stroke: "#0969da", "stroke-width": 1.5 }));
  s.appendChild(svg("text", { x: 2, y: 12 }, num(max / 1.1, 1) + " " + unit));
  s.appendChild(svg("text", { x: 2, y: H + 14 }, iso(t0)));
  container.replaceChildren(s);
}

async function drawMachine(path, my) {
  const page = document.getElementById("machine-page");
  if (path.length !== 4) { page.hidden = true; return; }
  page.hidden = false;
  const key = path.join("/");
  document.getElementById("machine-name").textContent = key;
  const w = report.window;
  let m;
  try {
    m = await getJson(`/api/machine?machine=${encodeURIComponent(key)}&from=${w.start_ms}&to=${w.end_ms}`);
  } catch (err) {
    document.getElementById("gantt").textContent = String(err.message || err);
    return;
  }
  if (my !== token) return;
  const W = 900, H = 40, span = w.end_ms - w.start_ms;
  const box = svg("svg", { viewBox: `0 0 ${W} ${H + 18}`, width: "100%", role: "img", "aria-label": t("state timeline of {machine}", { machine: key }) });
  for (const run of m.runs) {
    const x = ((run.start_ms - w.start_ms) / span) * W;
    const rw = Math.max(((run.end_ms - run.start_ms) / span) * W, 0.5);
    const rect = svg("rect", { x, y: 0, width: rw, height: H, fill: STATE_COLOURS[run.state] || "#999" });
    rect.appendChild(svg("title", {}, `${stateName(run.state)} ${run.reason} (${lossName(run.loss)}) ${iso(run.start_ms)} – ${iso(run.end_ms)}`));
    box.appendChild(rect);
  }
  for (let i = 0; i <= 4; i++) {
    box.appendChild(svg("text", { x: Math.min((W * i) / 4, W - 90), y: H + 14 }, shortWhen(w.start_ms + (span * i) / 4)));
  }
  document.getElementById("gantt").replaceChildren(box);
  const legend = document.getElementById("gantt-legend");
  legend.replaceChildren();
  for (const [st, colour] of Object.entries(STATE_COLOURS)) {
    const sp = el("span"); const i = el("i"); i.style.background = colour;
    sp.appendChild(i); sp.appendChild(document.createTextNode(stateName(st))); legend.appendChild(sp);
  }
  const body = document.querySelector("#stops tbody");
  document.getElementById("stops-note").textContent = m.stops.length > 15 ?
    t("the 15 longest of {n} stops", { n: m.stops.length }) : t("{n} stops", { n: m.stops.length });
  body.replaceChildren(...m.stops.slice(0, 15).map((x) => {
    const tr = el("tr", { "data-minutes": String(x.minutes) });
    for (const v of [iso(x.start_ms), num(x.minutes, 1), lossName(x.loss), stateName(x.state), x.reason]) tr.appendChild(el("td", {}, v));
    return tr;
  }));
  if (!m.stops.length) body.appendChild(el("tr", {}, t("no stops")));
  const events = (report.anomalies ? report.anomalies.events : []).filter((ev) => ev.machine === key);
  curve(document.getElementById("power"), m.power_kw, "kW", t("power"));
  document.getElementById("events").replaceChildren(...(events.length ? events.map((ev) =>
    el("li", {}, `${iso(ev.start_ms)} – ${iso(ev.end_ms)}: ` + t("{signal} anomaly, peak z = {z}", { signal: signalName(ev.signal), z: num(ev.peak_z, 1) }))) : [el("li", {}, t("none"))]));
  const vib = document.getElementById("vibration");
  if (m.vibration_mm_s.length) curve(vib, m.vibration_mm_s, "mm/s", t("vibration"), events.map((ev) => [ev.start_ms, ev.end_ms]));
  else vib.replaceChildren();
}

function drawMaturity(r) {
  const m = r.maturity;
  document.getElementById("maturity-label").textContent = /\p{L}/u.test(m.label) ? t(m.label) : num(m.level, 1);
  const dims = Object.entries(m.dimensions);
  const R = 110, C = 150, n = dims.length;
  const s = svg("svg", { viewBox: "-60 -10 420 320", width: "420", role: "img", "aria-label": t("maturity radar") });
  const at = (i, v) => [C + R * v * Math.sin((2 * Math.PI * i) / n), C - R * v * Math.cos((2 * Math.PI * i) / n)];
  for (const ring of [0.25, 0.5, 0.75, 1]) {
    s.appendChild(svg("polygon", { points: dims.map((_, i) => at(i, ring).join(",")).join(" "), fill: "none", stroke: "#d0d7de" }));
  }
  s.appendChild(svg("polygon", { points: dims.map(([, v], i) => at(i, v || 0).join(",")).join(" "),
                                 fill: "rgba(9,105,218,0.25)", stroke: "#0969da", "stroke-width": 2 }));
  dims.forEach(([name, v], i) => {
    const [x, y] = at(i, 1.18);
    s.appendChild(svg("text", { x: x - 30, y, "data-dimension": name }, `${t(name.replace("_", " "))} ${v === null ? "–" : num(v, 2)}`));
  });
  document.getElementById("radar").replaceChildren(s);
  document.getElementById("next-steps").replaceChildren(...m.next_steps.map((x) => el("li", {}, `${t(x.step)} (${x.criterion})`)));
  const body = document.querySelector("#evidence tbody");
  body.replaceChildren();
  for (const c of m.criteria) {
    const tr = el("tr");
    tr.appendChild(el("td", { title: t(c.what) }, c.criterion));
    tr.appendChild(el("td", {}, c.value === null ? t("not measurable") : num(c.value, 3)));
    tr.appendChild(el("td", {}, c.score === null ? "–" : num(c.score, 2)));
    tr.appendChild(el("td", { class: "muted" }, t(c.source)));
    body.appendChild(tr);
  }
}

// A finding found for many machines is one line, its machines behind a click.
function checkItem(c) {
  if (c.subjects.length <= 1) return el("li", {}, c.subjects.length ? `${c.subjects[0]}: ${c.finding}` : c.finding);
  const details = el("details");
  details.appendChild(el("summary", {}, t("{n} machines: {finding}", { n: num(c.subjects.length, 0), finding: c.finding })));
  details.appendChild(el("div", { class: "muted subjects" }, c.subjects.join(", ")));
  const li = el("li");
  li.appendChild(details);
  return li;
}

function drawChecks(r, path) {
  const prefix = path.join("/");
  const items = path.length ? [] : (r.checks || []).map(checkItem);
  for (const ev of r.anomalies ? r.anomalies.events : []) {
    if (ev.machine.startsWith(prefix)) items.push(el("li", {}, `${iso(ev.start_ms)} ${ev.machine}: ` + t("{signal} anomaly, peak z = {z}", { signal: signalName(ev.signal), z: num(ev.peak_z, 1) })));
  }
  document.getElementById("flags").replaceChildren(...(items.length ? items : [el("li", {}, t("nothing to check"))]));
}

function drawControls(s, w) {
  const select = document.getElementById("win");
  select.replaceChildren(...presets.map((p) => el("option", { value: p.id }, t(p.text, { name: p.name }))),
    el("option", { value: "custom" }, t("Custom range…")));
  select.value = s.win;
  const custom = document.getElementById("custom");
  custom.hidden = s.win !== "custom";
  if (report) {
    const local = (ms) => new Date(ms).toISOString().slice(0, 16);
    document.getElementById("from").value = local(report.window.start_ms);
    document.getElementById("to").value = local(report.window.end_ms);
  }
  const filter = document.getElementById("filter");
  if (document.activeElement !== filter) filter.value = s.q;
  if (report) {
    const [from, to] = LANG === "en" ? [report.window.from, report.window.to] : [iso(report.window.start_ms), iso(report.window.end_ms)];
    document.getElementById("window").textContent = t("{from} to {to}", { from, to }) +
      (w ? "" : " " + t("(live)"));
  }
}

function periodFor(w) {
  const span = w.to - w.from;
  if (span <= 26 * 3600e3) return N("hour");
  if (span <= 8 * 86400e3 && presets.some((p) => p.id.endsWith("shift"))) return N("shift");
  return N("day");
}
function onlyOf(path) {
  const only = {};
  ["site", "area", "line", "machine"].forEach((lvl, i) => { if (path[i]) only[lvl] = path[i]; });
  return only;
}

async function load() {
  const my = ++token;
  const s = state();
  const status = document.getElementById("status");
  try {
    if (!me) { await loadLanguage(); await drawWho(); }
    if (!presets.length) {
      const info = await getJson("/api/windows");
      presets = info.windows; targets = info.targets; defaultTarget = info.default_target;
    }
    const w = windowOf(s);
    status.textContent = t("loading…");
    const data = await getJson(reportUrl(w));
    if (my !== token) return;
    report = data; previous = null; periods = null;
    const win = w || { from: report.window.start_ms, to: report.window.end_ms };
    drawControls(s, w);
    drawCrumbs(s.path);
    document.getElementById("title").textContent =
      s.path.length ? `${t(LEVEL_NAMES[s.path.length])} ${s.path.join("/")}` : t("Plant") + " " + (report.plant_model || "");
    drawKpis(s.path);
    drawChildren(s.path, s);
    status.textContent = t("updated {time} UTC", { time: (report.generated_at || "").slice(11, 19) });
    document.body.setAttribute("data-ready", "true");  // the overview is on screen
    if (!performance.getEntriesByName("overview").length) performance.mark("overview");
    drawLosses(s.path);
    drawEnergy(s.path);
    const forecast = drawForecast(s.path, my);
    document.getElementById("maturity").hidden = s.path.length > 0;
    if (s.path.length === 0) drawMaturity(report);
    drawChecks(report, s.path);
    const audit = drawAudit().catch(() => {});
    const stops = drawStops(s.path, win).catch(() => {});
    const alerts = drawAlerts(s.path).catch((err) => {
      document.getElementById("alerts-count").textContent = t("(cannot be read: {why})", { why: err.message || err });
    });
    drawHeat(s.path, s);
    const machine = drawMachine(s.path, my);
    const by = periodFor(win);
    document.getElementById("heat-by").textContent = t(by);
    const span = win.to - win.from;
    const [pd, prev] = await Promise.allSettled([
      getJson(reportUrl(win, { by, ...onlyOf(s.path.slice(0, 3)) })),
      getJson(reportUrl({ from: win.from - span, to: win.from }, { anomalies: "false" })),
    ]);
    await machine;
    await forecast;
    await audit;
    await alerts;
    await stops;
    if (my !== token) return;
    if (pd.status === "fulfilled") periods = pd.value;
    if (prev.status === "fulfilled") previous = prev.value;
    drawKpis(s.path);
    drawChildren(s.path, s);
    drawHeat(s.path, s);
    drawEnergy(s.path);
    document.body.setAttribute("data-complete", "true");  // heatmap and comparison too
  } catch (err) {
    if (my === token) status.textContent = t("cannot show this view: {why}", { why: err.message || err });
  }
}

document.getElementById("win").addEventListener("change", (ev) => {
  const v = ev.target.value;
  if (v === "custom") {
    document.getElementById("custom").hidden = false;
    document.getElementById("from").focus();
  } else {
    go({ win: v });
  }
});
document.getElementById("apply").addEventListener("click", () => {
  const from = Date.parse(document.getElementById("from").value + "Z");
  const to = Date.parse(document.getElementById("to").value + "Z");
  const status = document.getElementById("status");
  if (!(from < to)) { status.textContent = t("the custom range needs a start before its end"); return; }
  go({ win: "custom", from: String(from), to: String(to) });
});
let typing = null;
document.getElementById("filter").addEventListener("input", (ev) => {
  clearTimeout(typing);
  typing = setTimeout(() => {
    const url = new URL(window.location.href);
    if (ev.target.value) url.searchParams.set("q", ev.target.value); else url.searchParams.delete("q");
    window.history.replaceState(null, "", url.pathname + url.search);
    drawChildren(state().path, state());
    drawHeat(state().path, state());
  }, 150);
});

load();
setInterval(() => { if (state().win === "default" && !document.hidden) load(); }, REFRESH_MS);
