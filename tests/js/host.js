// A Sparkplug B host made of Eclipse Tahu's JavaScript payload codec (sparkplug-payload) and
// the MQTT client it ships with: it prints every spBv1.0 message of a group, decoded by Tahu,
// as one JSON line on stdout, and sends a rebirth request when told so on stdin.
//
//   node host.js '{"broker": "mqtt://127.0.0.1:1883", "group": "plant1"}'
//   stdin: {"op": "rebirth", "node": "gw1"}
"use strict";

const mqtt = require("mqtt");
const readline = require("readline");
const sparkplug = require("sparkplug-payload").get("spBv1.0");

const cfg = JSON.parse(process.argv[2]);
const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");
// Tahu decodes 64-bit integers as Long objects: numbers for JSON (our values fit).
const plain = (v) => (v !== null && typeof v === "object" && typeof v.toNumber === "function" ? v.toNumber() : v);

const client = mqtt.connect(cfg.broker, { clientId: `tahu-host-${process.pid}`, clean: true });
client.on("connect", () => {
  client.subscribe(`spBv1.0/${cfg.group}/#`, { qos: 1 }, () => say({ event: "subscribed" }));
});
client.on("message", (topic, message) => {
  let payload;
  try {
    payload = sparkplug.decodePayload(message);
  } catch (err) {
    say({ event: "undecodable", topic, error: String(err) });
    return;
  }
  const metrics = (payload.metrics || []).map((m) => ({
    name: m.name === undefined ? null : m.name,
    alias: m.alias === undefined ? null : plain(m.alias),
    type: m.type,
    value: plain(m.value),
    timestamp: m.timestamp === undefined ? null : plain(m.timestamp),
  }));
  say({ event: "message", topic, timestamp: plain(payload.timestamp), seq: payload.seq === undefined ? null : plain(payload.seq), metrics });
});

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line);
  if (cmd.op === "rebirth") {
    const payload = sparkplug.encodePayload({
      timestamp: Date.now(),
      metrics: [{ name: "Node Control/Rebirth", type: "Boolean", value: true }],
    });
    client.publish(`spBv1.0/${cfg.group}/NCMD/${cmd.node}`, Buffer.from(payload), { qos: 0 }, () => say({ event: "sent" }));
  }
});
