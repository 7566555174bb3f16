// A Sparkplug B edge node made with Eclipse Tahu's JavaScript client (sparkplug-client), driven
// by the Python tests: JSON commands on stdin, JSON events on stdout, one per line.
//
//   node edge_node.js '{"broker": "mqtt://127.0.0.1:1883", "group": "plant1", "node": "gw1",
//                       "devices": {"press01": [{"name": "State", "alias": 1, "type": "String",
//                                                "value": "RUNNING"}, ...]},
//                       "birth_on_connect": true}'
//
// Commands: {"op": "births"}, {"op": "ddata", "device": D, "metrics": [...]},
// {"op": "dbirth", "device": D}, {"op": "ddeath", "device": D}, {"op": "stop"} (NDEATH, exit),
// {"op": "kill"} (exit without a word: the broker sends the NDEATH will).
// Events: {"event": "connected"}, {"event": "births"}, {"event": "ncmd", "metrics": [...]}
// (a rebirth request makes it publish its births again: {"event": "reborn"}), {"event": "sent"}.
"use strict";

const sparkplug = require("sparkplug-client");
const readline = require("readline");

const cfg = JSON.parse(process.argv[2]);
const devices = cfg.devices || {};
const say = (event) => process.stdout.write(JSON.stringify(event) + "\n");

const client = sparkplug.newClient({
  serverUrl: cfg.broker,
  username: "",
  password: "",
  groupId: cfg.group,
  edgeNode: cfg.node,
  clientId: cfg.client_id || `tahu-${cfg.node}-${process.pid}`,
  publishDeath: true,
  version: "spBv1.0",
});

function now() { return Date.now(); }

function births() {
  client.publishNodeBirth({
    timestamp: now(),
    metrics: [{ name: "Node Control/Rebirth", type: "Boolean", value: false }],
  });
  for (const [device, metrics] of Object.entries(devices)) {
    client.publishDeviceBirth(device, { timestamp: now(), metrics });
  }
  say({ event: "births" });
}

client.on("birth", () => {
  say({ event: "connected" });
  if (cfg.birth_on_connect !== false) births();
});
client.on("ncmd", (payload) => {
  const metrics = (payload.metrics || []).map((m) => ({ name: m.name, type: m.type, value: m.value }));
  say({ event: "ncmd", metrics });
  if (metrics.some((m) => m.name === "Node Control/Rebirth" && m.value === true)) {
    births();
    say({ event: "reborn" });
  }
});
client.on("error", (err) => say({ event: "error", error: String(err) }));

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const cmd = JSON.parse(line);
  if (cmd.op === "births") births();
  else if (cmd.op === "ddata") {
    const metrics = cmd.metrics.map((m) => ({ timestamp: now(), ...m }));
    for (const m of cmd.metrics) {  // remember the values for a later rebirth
      const known = (devices[cmd.device] || []).find((k) => (m.name && k.name === m.name) || (m.alias !== undefined && k.alias === m.alias));
      if (known) known.value = m.value;
    }
    client.publishDeviceData(cmd.device, { timestamp: now(), metrics });
  } else if (cmd.op === "dbirth") client.publishDeviceBirth(cmd.device, { timestamp: now(), metrics: devices[cmd.device] });
  else if (cmd.op === "ddeath") client.publishDeviceDeath(cmd.device, { timestamp: now() });
  else if (cmd.op === "stop") { client.stop(); setTimeout(() => process.exit(0), 500); return; }
  else if (cmd.op === "kill") { process.kill(process.pid, "SIGKILL"); return; }
  say({ event: "sent", op: cmd.op });
});
lines.on("close", () => { client.stop(); setTimeout(() => process.exit(0), 500); });
