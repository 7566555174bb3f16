// The dashboard: one report from /api/report, drawn as tables and SVG charts, refreshed
// every 15 s without reloading the page. No library, nothing loaded from elsewhere.
"use strict";

const REFRESH_MS = 15000;
const params = new URLSearchParams(window.location.search);
const STATE_COLOURS = {
  RUNNING: "#2da44e", IDLE: "#d4a72c", DOWN: "#cf222e", SETUP: "#8250df",
  PLANNED_STOP: "#8c959f", OFF: "#d0d7de", UNKNOWN: "#57606a",
};
let selected = null;
let lastReport = null;

function pct(v) { return v === null || v === undefined ? "no data" : (100 * v).toFixed(1) + " %"; }
function num(v, digits) {
  if (v === null || v === undefined) return "–";
  return Number(v).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
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
function query(extra) {
  const q = new URLSearchParams();
  for (const k of ["from", "to", "site", "area", "line", "machine", "by"]) {
    if (params.get(k)) q.set(k, params.get(k));
  }
  for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
  return q.toString();
}

function tile(parent, label, value, cls) {
  const t = el("div", { class: "tile" });
  t.appendChild(el("span", { class: "muted" }, label));
  const b = el("b", { class: cls || "" }, value);
  t.appendChild(b);
  parent.appendChild(t);
}

function kpiCells(tr, s, e, key) {
  const cells = [
    ["oee", pct(s.oee), grade(s.oee, 0.85, 0.6), s.oee],
    ["availability", pct(s.availability), grade(s.availability, 0.9, 0.75), s.availability],
    ["performance", pct(s.performance) + (s.performance_suspect ? " !" : ""),
      s.performance_suspect ? "bad" : grade(s.performance, 0.95, 0.8), s.performance],
    ["quality", pct(s.quality), grade(s.quality, 0.99, 0.95), s.quality],
    ["good_count", num(s.good_count, 0), "", s.good_count],
    ["kwh_per_good_unit", num(e ? e.kwh_per_good_unit : null, 4), "", e ? e.kwh_per_good_unit : null],
    ["no_data_min", num(s.no_data_min, 0) + " min", "", s.no_data_min],
  ];
  for (const [name, text, cls, raw] of cells) {
    const td = el("td", { class: cls, "data-kpi": name, "data-key": key,
                          "data-value": raw === null || raw === undefined ? "" : String(raw) }, text);
    tr.appendChild(td);
  }
}

function drawOverview(r) {
  const tiles = document.getElementById("plant-kpis");
  tiles.replaceChildren();
  const p = r.oee.plant;
  if (p) {
    tile(tiles, "OEE", pct(p.oee), grade(p.oee, 0.85, 0.6));
    tile(tiles, "Availability", pct(p.availability));
    tile(tiles, "Performance", pct(p.performance));
    tile(tiles, "Quality", pct(p.quality));
    tile(tiles, "Good units", num(p.good_count, 0));
  }
  const body = document.querySelector("#oee-table tbody");
  const rows = document.createDocumentFragment();
  const byLine = {};
  for (const machine of Object.keys(r.oee.machines)) {
    const line = machine.split("/").slice(0, 3).join("/");
    (byLine[line] = byLine[line] || []).push(machine);
  }
  for (const [line, ls] of Object.entries(r.oee.lines)) {
    const tr = el("tr", { class: "line", "data-line": line });
    tr.appendChild(el("td", {}, line));
    kpiCells(tr, ls, r.energy.lines[line], line);
    rows.appendChild(tr);
    for (const machine of byLine[line] || []) {
      const ms = r.oee.machines[machine];
      const row = el("tr", { class: "machine", "data-machine": machine });
      row.appendChild(el("td", {}, machine.split("/").pop()));
      kpiCells(row, ms, r.energy.machines[machine], machine);
      row.addEventListener("click", () => { selected = machine; drawTimeline(); });
      rows.appendChild(row);
    }
  }
  body.replaceChildren(rows);
}

async function drawTimeline() {
  if (!selected && lastReport) selected = Object.keys(lastReport.oee.machines)[0] || null;
  if (!selected) return;
  document.getElementById("timeline-machine").textContent = selected;
  const res = await fetch("/api/timeline?" + query({ machine: selected }));
  if (!res.ok) return;
  const t = await res.json();
  const W = 900, H = 40, span = t.end_ms - t.start_ms;
  const box = svg("svg", { viewBox: `0 0 ${W} ${H + 18}`, width: "100%", role: "img",
                           "aria-label": "state timeline of " + selected });
  for (const run of t.runs) {
    const x = ((run.start_ms - t.start_ms) / span) * W;
    const w = Math.max(((run.end_ms - run.start_ms) / span) * W, 0.5);
    const rect = svg("rect", { x, y: 0, width: w, height: H, fill: STATE_COLOURS[run.state] || "#999" });
    rect.appendChild(svg("title", {}, `${run.state} ${run.reason} (${run.loss}) ` +
      `${new Date(run.start_ms).toISOString().slice(11, 19)}–${new Date(run.end_ms).toISOString().slice(11, 19)} UTC`));
    box.appendChild(rect);
  }
  for (let i = 0; i <= 4; i++) {
    const ms = t.start_ms + (span * i) / 4;
    box.appendChild(svg("text", { x: Math.min((W * i) / 4, W - 40), y: H + 14 },
      new Date(ms).toISOString().slice(11, 16)));
  }
  document.getElementById("gantt").replaceChildren(box);
  const legend = document.getElementById("gantt-legend");
  legend.replaceChildren();
  for (const [state, colour] of Object.entries(STATE_COLOURS)) {
    const s = el("span"); const i = el("i"); i.style.background = colour;
    s.appendChild(i); s.appendChild(document.createTextNode(state)); legend.appendChild(s);
  }
}

function bars(container, items, unit) {
  const W = 420, row = 20, H = Math.max(items.length * row, row);
  const max = Math.max(...items.map((i) => i.value), 1e-9);
  const box = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img" });
  items.forEach((item, k) => {
    const w = (Math.max(item.value, 0) / max) * (W - 230);
    box.appendChild(svg("text", { x: 0, y: k * row + 14 }, item.label));
    box.appendChild(svg("rect", { x: 130, y: k * row + 4, width: w, height: 12, fill: item.colour || "#0969da" }));
    box.appendChild(svg("text", { x: 135 + w, y: k * row + 14 }, num(item.value, 1) + unit));
  });
  container.replaceChildren(box);
}

function drawLosses(r) {
  const p = r.oee.plant;
  if (!p) return;
  const names = { breakdowns: "breakdowns", setup: "setup", small_stops: "small stops",
                  reduced_speed: "reduced speed", startup_rejects: "start-up rejects",
                  production_rejects: "production rejects" };
  bars(document.getElementById("six-losses"),
       Object.entries(names).map(([k, label]) => ({ label, value: p.losses_min[k] || 0, colour: "#cf222e" })), " min");
  bars(document.getElementById("pareto"),
       r.pareto.slice(0, 10).map((x) => ({ label: x.reason, value: x.minutes })), " min");
}

function drawEnergy(r) {
  const e = r.energy.plant;
  const tiles = document.getElementById("energy-kpis");
  tiles.replaceChildren();
  if (e) {
    tile(tiles, "kWh", num(e.energy_kwh, 1));
    tile(tiles, "kWh per good unit", num(e.kwh_per_good_unit, 4));
    tile(tiles, "Not running", pct(e.idle_share));
    tile(tiles, "Peak 15-min demand", e.peak_15min ? num(e.peak_15min.kw, 1) + " kW" : "–");
    tile(tiles, "CO2e", num(e.co2e_kg, 0) + " kg");
  }
  for (const [path, m] of Object.entries(r.energy.main_meters)) {
    tile(tiles, "Non-production (" + path.split("/")[0] + ")", num(m.non_production_kwh, 1) + " kWh");
  }
  // Intensity per period (the report's periods, else nothing to draw).
  const pts = r.periods.filter((p) => p.plant && p.plant.kwh_per_good_unit !== null)
    .map((p) => ({ label: p.period, value: p.plant.kwh_per_good_unit }));
  const box = document.getElementById("intensity");
  if (pts.length < 2) {
    box.textContent = "add ?by=hour (or shift, day) to the address for a trend";
  } else {
    const W = 420, H = 160, max = Math.max(...pts.map((p) => p.value)) * 1.1;
    const s = svg("svg", { viewBox: `0 0 ${W} ${H + 20}`, width: "100%", role: "img" });
    const xy = pts.map((p, i) => [20 + (i * (W - 40)) / (pts.length - 1), H - (p.value / max) * H]);
    s.appendChild(svg("polyline", { points: xy.map((q) => q.join(",")).join(" "), fill: "none",
                                    stroke: "#0969da", "stroke-width": 2 }));
    xy.forEach(([x, y], i) => {
      const c = svg("circle", { cx: x, cy: y, r: 3, fill: "#0969da" });
      c.appendChild(svg("title", {}, `${pts[i].label}: ${num(pts[i].value, 4)} kWh/unit`));
      s.appendChild(c);
    });
    s.appendChild(svg("text", { x: 20, y: H + 16 }, pts[0].label));
    s.appendChild(svg("text", { x: W - 140, y: H + 16 }, pts[pts.length - 1].label));
    box.replaceChildren(s);
  }
  if (e) {
    bars(document.getElementById("by-state"), Object.entries(e.energy_by_state_kwh)
      .map(([state, kwh]) => ({ label: state, value: kwh, colour: STATE_COLOURS[state] })), " kWh");
  }
}

function drawMaturity(r) {
  const m = r.maturity;
  document.getElementById("maturity-label").textContent = m.label;
  const dims = Object.entries(m.dimensions);
  const R = 110, C = 150, n = dims.length;
  const s = svg("svg", { viewBox: "-60 -10 420 320", width: "420", role: "img", "aria-label": "maturity radar" });
  const at = (i, v) => [C + R * v * Math.sin((2 * Math.PI * i) / n), C - R * v * Math.cos((2 * Math.PI * i) / n)];
  for (const ring of [0.25, 0.5, 0.75, 1]) {
    s.appendChild(svg("polygon", { points: dims.map((_, i) => at(i, ring).join(",")).join(" "),
                                   fill: "none", stroke: "#d0d7de" }));
  }
  s.appendChild(svg("polygon", { points: dims.map(([, v], i) => at(i, v || 0).join(",")).join(" "),
                                 fill: "rgba(9,105,218,0.25)", stroke: "#0969da", "stroke-width": 2 }));
  dims.forEach(([name, v], i) => {
    const [x, y] = at(i, 1.18);
    s.appendChild(svg("text", { x: x - 30, y, "data-dimension": name }, `${name.replace("_", " ")} ${v === null ? "–" : v.toFixed(2)}`));
  });
  document.getElementById("radar").replaceChildren(s);
  const steps = document.getElementById("next-steps");
  steps.replaceChildren(...m.next_steps.map((x) => el("li", {}, `${x.step} (${x.criterion})`)));
  const body = document.querySelector("#evidence tbody");
  body.replaceChildren();
  for (const c of m.criteria) {
    const tr = el("tr");
    tr.appendChild(el("td", { title: c.what }, c.criterion));
    tr.appendChild(el("td", {}, c.value === null ? "not measurable" : num(c.value, 3)));
    tr.appendChild(el("td", {}, c.score === null ? "–" : num(c.score, 2)));
    tr.appendChild(el("td", { class: "muted" }, c.source));
    body.appendChild(tr);
  }
}

function drawChecks(r) {
  const list = document.getElementById("flags");
  const items = [...r.flags];
  if (r.anomalies) {
    for (const ev of r.anomalies.events) {
      items.push(`${new Date(ev.start_ms).toISOString().slice(0, 16)} UTC ${ev.machine}: vibration anomaly (z = ${ev.peak_z})`);
    }
  }
  list.replaceChildren(...(items.length ? items : ["nothing to check"]).map((t) => el("li", {}, t)));
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const res = await fetch("/api/report?" + query());
    const data = await res.json();
    if (!res.ok) { status.textContent = data.error || res.statusText; return; }
    lastReport = data;
    document.getElementById("window").textContent = `${data.window.from} to ${data.window.to}`;
    drawOverview(data);
    status.textContent = "updated " + (data.generated_at || "").slice(11, 19) + " UTC";
    document.body.setAttribute("data-ready", "true");  // the numbers are on screen
    drawLosses(data);
    drawEnergy(data);
    drawMaturity(data);
    drawChecks(data);
    await drawTimeline();
  } catch (err) {
    status.textContent = "cannot reach the server: " + err;
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
