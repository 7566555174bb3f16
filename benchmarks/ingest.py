"""Ingest throughput and lag, against the broker's ceiling, InfluxDB's raw rate and a naive bridge.

    python -m benchmarks.ingest [--machines 20] [--hours 8] [--lag-seconds 10] [--lag-rate 10000]

All measurements use the same batched messages (100 readings each) of a
simulated fleet, a real Mosquitto and a real InfluxDB started for the run:

- ``readings_per_s``: our ingest (QoS 1, validation, ack after write) draining a
  backlog the broker holds for its persistent session into InfluxDB;
- ``live_readings_per_s``: the same messages published as fast as the broker takes
  them (QoS 1, 1,000 in flight, from another process) while our ingest stores them
  into InfluxDB: from the first publish to the last reading stored. Publisher,
  broker, ingest and InfluxDB share the machine's cores, so this is lower;
- ``sqlite_readings_per_s``: our ingest draining the same backlog into the embedded
  SQLite store (WAL, one transaction per batch) instead of InfluxDB;
- ``broker_readings_per_s``: Mosquitto delivering the same backlog to
  ``mosquitto_sub`` (the broker's ceiling on this machine);
- ``influx_raw_readings_per_s``: the same lines posted straight to ``/write``
  in batches of 5,000 (the database's ceiling);
- ``naive_readings_per_s``: a paho ``on_message`` that decodes the JSON and
  makes one synchronous HTTP write per message over one kept-alive connection,
  acking on arrival (what a quick script, or Node-RED's InfluxDB node, does: no
  validation, no ack-after-write);
- ``cpu_s_per_100k`` / ``naive_cpu_s_per_100k``: CPU seconds the ingest process
  spent per 100,000 readings stored (all its threads), the steadiest figure on a
  shared machine;
- ``lag_p50_s`` / ``lag_p99_s``: from a reading's ``ts`` to stored while a publisher
  aims at ``lag_rate_readings_per_s`` (10,000 by default, ``--lag-rate``);
  ``lag_achieved_readings_per_s`` is the rate it reached;
- ``sparkplug_readings_per_s``: our ingest draining the same readings as Sparkplug B into
  InfluxDB, as our edge agent sends them with ``FACTORY_EDGE__PAYLOAD=sparkplug`` (births,
  then one DDATA by alias per reading: 100 times the messages of the JSON batches);
  ``sparkplug_vs_json`` its ratio to ``readings_per_s``;
- ``rich_readings_per_s`` / ``rich_influx_raw_readings_per_s``: ours and InfluxDB's
  raw rate again with rich readings (two process sensors per telemetry reading,
  power factor and voltage per meter reading): more fields per point, so both
  are lower.

The headline figures use basic readings (state, counters, ideal cycle, product;
power and energy), the payload the targets were set for.

Each ingest variant runs in its own process (its own peak RSS). Last line: JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

BATCH = 100


def messages(
    machines: int, hours: float, root: str, *, rich: bool = False
) -> tuple[list[tuple[str, bytes]], int]:
    """The fleet's messages as `factory simulate` builds them, and their reading count.

    Basic readings (state, counters, power, energy) or rich ones (+ 2 sensors, PF, voltage).
    """
    from simulators import Fleet, FleetConfig
    from simulators.faults import Faults, fleet_messages

    fleet = Fleet(
        FleetConfig(
            machines=machines,
            lines=max(1, machines // 10),
            hours=hours,
            sensors=rich,
            meter_details=rich,
        )
    )
    stream, _ = fleet_messages(fleet, Faults(), root=root, batch=BATCH)
    return list(stream), fleet.reading_count


def sparkplug_messages(
    msgs: list[tuple[str, bytes]], root: str, group: str
) -> tuple[list[tuple[str, bytes]], int]:
    """The same readings as our edge agent's Sparkplug node publishes them, and how many
    status readings (one per device birth) a host stores besides."""
    from edge_agent.sparkplug_node import SparkplugNode
    from telemetry.topic import Topic

    node = SparkplugNode(group, "bench-node", 0)
    out = node.births()
    for topic, payload in msgs:
        t = Topic.parse(topic, root)
        out += node.messages(t.path, t.channel, json.loads(payload))
    return out, node.dbirths


def register_session(port: int, client_id: str, topic_filter: str) -> None:
    """Subscribe once with a persistent session, so the broker queues what follows."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    done = []
    c.on_subscribe = lambda *a: done.append(1)
    c.connect("127.0.0.1", port)
    c.subscribe(topic_filter, qos=1)
    deadline = time.monotonic() + 10
    while not done and time.monotonic() < deadline:
        c.loop(0.1)
    c.disconnect()
    c.loop(0.1)


def backlog(port: int, client_id: str, topic_filter: str, msgs: list[tuple[str, bytes]]) -> None:
    """Messages the broker holds for ``client_id``'s persistent session, ready to drain."""
    from simulators.load import publish
    from telemetry.urls import parse_mqtt_url

    register_session(port, client_id, topic_filter)
    publish(msgs, parse_mqtt_url(f"mqtt://127.0.0.1:{port}"), rate=None, qos=1)


def influx_post(port: int, path: str, data: bytes, params: dict[str, str]) -> None:
    from urllib.parse import urlencode

    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}?{urlencode(params)}", data=data, method="POST"
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        resp.read()


def influx_raw_rate(
    port: int, db: str, msgs: list[tuple[str, bytes]], root: str, total: int
) -> float:
    """Readings per second InfluxDB takes for the same lines, posted 5,000 at a time."""
    from telemetry.codec import decode
    from telemetry.lineprotocol import message_lines

    lines: list[str] = []
    for topic, payload in msgs:
        lines.extend(message_lines(decode(topic, payload, root=root)))
    influx_post(port, "/query", b"", {"q": f'CREATE DATABASE "{db}"'})
    started = time.perf_counter()
    for i in range(0, len(lines), 5000):
        body = "\n".join(lines[i : i + 5000]).encode()
        influx_post(port, "/write", body, {"db": db, "precision": "ms"})
    return total / (time.perf_counter() - started)


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM; ru_maxrss would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- child processes ----------------------------------------------------------------------
def make_service(
    port: int, store_url: str, root: str, client_id: str, sparkplug: str | None = None
) -> Any:
    """Our ingest service, as `factory ingest` builds it, into the store ``store_url`` names;
    ``sparkplug``: a Sparkplug group it hosts too."""
    from ingest.config import IngestConfig
    from ingest.service import IngestService
    from ingest.sparkplug_config import SparkplugConfig
    from store import open_store, parse_store_url
    from telemetry.urls import parse_mqtt_url

    groups = (sparkplug,) if sparkplug else ()
    return IngestService(
        endpoint=parse_mqtt_url(f"mqtt://127.0.0.1:{port}"),
        store=open_store(parse_store_url(store_url)),
        config=IngestConfig(client_id=client_id, sparkplug=SparkplugConfig(groups=groups)),
        root=root,
    )


def child_ours(
    port: int,
    store_url: str,
    root: str,
    client_id: str,
    total: int,
    *,
    live: bool = False,
    sparkplug: str | None = None,
) -> dict[str, float]:
    """Store ``total`` readings. Drain a backlog, or (``live``) say ``ready`` on stdout, wait
    for ``go`` on stdin (the parent starts publishing then) and time from there."""

    async def run() -> dict[str, float]:
        service = make_service(port, store_url, root, client_id, sparkplug)
        task = asyncio.create_task(service.run())
        if live:
            await service.ready.wait()
            print("ready", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        started = time.perf_counter()
        cpu = time.process_time()
        while service.stats.written_readings < total:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        lag = service.stats.lag_quantiles()
        service.stop()
        await task
        return {
            "seconds": elapsed,
            "readings_per_s": total / elapsed,
            "cpu_s_per_100k": cpu / total * 100_000,
            "lag_p99_s": lag.get("0.99", 0.0),
        }

    result = asyncio.run(run())
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def child_naive(
    port: int, store_url: str, root: str, client_id: str, total: int
) -> dict[str, float]:
    """What a quick script does: decode, one synchronous write per message over a kept-alive
    HTTP connection, ack on arrival."""
    import http.client
    from urllib.parse import urlencode, urlsplit

    from telemetry.layout import TABLE_BY_CHANNEL
    from telemetry.models import Channel

    url = urlsplit(store_url)
    influx, db = url.port or 8086, url.path.strip("/")
    written = 0
    first: list[float] = []
    http_conn = http.client.HTTPConnection("127.0.0.1", influx, timeout=60)
    write_path = "/write?" + urlencode({"db": db, "precision": "ms"})

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        nonlocal written
        if not first:
            first.append(time.perf_counter())
        levels = msg.topic.split("/")
        site, area, line, machine, channel = levels[-5:]
        table = TABLE_BY_CHANNEL[Channel(channel)]
        readings = json.loads(msg.payload)
        lines = []
        for r in readings:
            fields = []
            for f in table.fields:
                v = r.get(f.name)
                if v is None:
                    continue
                if f.kind == "int":
                    fields.append(f"{f.name}={v}i")
                elif f.kind == "str":
                    fields.append(f'{f.name}="{v}"')
                else:
                    fields.append(f"{f.name}={float(v)}")
            lines.append(
                f"{table.name},area={area},line={line},machine={machine},site={site} "
                f"{','.join(fields)} {r['ts']}"
            )
        http_conn.request("POST", write_path, body="\n".join(lines).encode())
        response = http_conn.getresponse()
        response.read()
        if response.status != 204:
            raise RuntimeError(f"naive write returned {response.status}")
        written += len(readings)

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    c.on_message = on_message
    influx_post(influx, "/query", b"", {"q": f'CREATE DATABASE "{db}"'})
    started = time.perf_counter()
    cpu = time.process_time()
    c.connect("127.0.0.1", port)
    c.subscribe(f"{root}/v1/+/+/+/+/+", qos=1)
    while written < total:
        c.loop(0.1)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    c.disconnect()
    return {"seconds": elapsed, "readings_per_s": total / elapsed,
            "cpu_s_per_100k": cpu / total * 100_000, "peak_rss_mb": peak_rss_mb()}  # fmt: skip


def child_lag(
    port: int, store_url: str, root: str, client_id: str, seconds: float, rate: float
) -> dict[str, float]:
    """A steady ``rate`` readings/s with fresh timestamps; the lag quantiles from the service."""
    per_msg, machines = BATCH, 50

    async def run() -> dict[str, float]:
        service = make_service(port, store_url, root, client_id)
        task = asyncio.create_task(service.run())
        await service.ready.wait()
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"lagpub-{uuid.uuid4().hex[:6]}")
        pub.max_inflight_messages_set(1000)
        pub.connect("127.0.0.1", port)
        pub.loop_start()
        sent = 0
        seq = 0
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            now_ms = int(time.time() * 1000)
            for m in range(machines):
                if sent >= rate * (time.monotonic() - started):
                    break
                payload = json.dumps(
                    [
                        {"ts": now_ms - per_msg + k, "seq": seq + k, "power_kw": 5.0,
                         "energy_kwh": float(seq + k)}
                        for k in range(per_msg)
                    ]
                ).encode()  # fmt: skip
                pub.publish(f"{root}/v1/s/a/l/m{m:03d}/energy", payload, qos=1)
                sent += per_msg
            seq += per_msg
            await asyncio.sleep(0.005)
        published_s = time.monotonic() - started
        while service.stats.written_readings < sent:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        lag = service.stats.lag_quantiles()
        pub.loop_stop()
        pub.disconnect()
        service.stop()
        await task
        return {"lag_p50_s": lag["0.5"], "lag_p99_s": lag["0.99"], "readings": sent,
                "achieved_readings_per_s": sent / published_s}  # fmt: skip

    return asyncio.run(run())


# -- orchestration ------------------------------------------------------------------------
def run_child(kind: str, *args: Any) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.ingest", "--child", kind, *map(str, args)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_live(
    port: int, store_url: str, root: str, msgs: list[tuple[str, bytes]], total: int
) -> dict[str, float]:
    """Our ingest in a child process while this process publishes ``msgs`` at full speed."""
    from simulators.load import publish
    from telemetry.urls import parse_mqtt_url

    cid = f"live-{uuid.uuid4().hex[:6]}"
    args = ["--child", "live", str(port), store_url, root, cid, str(total)]
    # The child's log goes to a file: a pipe nobody reads while we publish could fill and stall it.
    with tempfile.TemporaryFile("w+") as log, subprocess.Popen(
        [sys.executable, "-m", "benchmarks.ingest", *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
    ) as child:  # fmt: skip
        assert child.stdin and child.stdout
        started = child.stdout.readline().strip() == "ready"
        if started:
            child.stdin.write("go\n")
            child.stdin.flush()
            publish(msgs, parse_mqtt_url(f"mqtt://127.0.0.1:{port}"), rate=None, qos=1)
        out, _ = child.communicate(timeout=600)
        if not started or child.returncode != 0:
            log.seek(0)
            raise RuntimeError(f"live ingest failed:\n{log.read()[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=20)
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--lag-seconds", type=float, default=10.0)
    parser.add_argument("--lag-rate", type=float, default=10_000.0)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, port, url, root, client_id, n, *more = args.child
        if kind == "lag":
            result = child_lag(int(port), url, root, client_id, float(n), float(more[0]))
        elif kind == "naive":
            result = child_naive(int(port), url, root, client_id, int(n))
        elif kind == "sparkplug":
            result = child_ours(int(port), url, root, client_id, int(n), sparkplug=more[0])
        else:
            result = child_ours(int(port), url, root, client_id, int(n), live=kind == "live")
        print(json.dumps(result))
        return

    from tests.helpers.servers import influxd, mosquitto

    root = f"bench{uuid.uuid4().hex[:6]}"
    msgs, total = messages(args.machines, args.hours, root)
    print(f"{len(msgs):,} messages, {total:,} readings, {BATCH} readings per message")
    sub_filter = f"{root}/v1/+/+/+/+/+"
    res: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        mosquitto(Path(tmp) / "mq") as mq,
        influxd(Path(tmp) / "influx") as ix,
    ):
        # 1. the broker's ceiling: mosquitto_sub drains the backlog
        sub = shutil.which("mosquitto_sub")
        if sub:
            cid = f"sub-{uuid.uuid4().hex[:6]}"
            backlog(mq.port, cid, sub_filter, msgs)
            started = time.perf_counter()
            subprocess.run(
                [sub, "-h", "127.0.0.1", "-p", str(mq.port), "-i", cid, "-c", "-q", "1",
                 "-t", sub_filter, "-C", str(len(msgs))],
                stdout=subprocess.DEVNULL, check=True, timeout=300,
            )  # fmt: skip
            res["broker"] = total / (time.perf_counter() - started)
            print(f"broker ceiling (mosquitto_sub)  {res['broker']:>12,.0f} readings/s")

        # 2. InfluxDB's raw write rate for the same lines
        res["raw"] = influx_raw_rate(ix.port, "raw", msgs, root, total)
        print(f"InfluxDB raw /write             {res['raw']:>12,.0f} readings/s")

        # 3. ours, 4. naive and 5. ours into SQLite, each draining the same backlog
        influx = f"influxdb://127.0.0.1:{ix.port}"
        for key, kind, url, label in (
            ("ours", "ours", f"{influx}/ours", "our ingest"),
            ("naive", "naive", f"{influx}/naive", "naive bridge"),
            ("sqlite", "ours", f"sqlite:///{tmp}/bench.db", "our ingest into SQLite"),
        ):
            cid = f"{key}-{uuid.uuid4().hex[:6]}"
            backlog(mq.port, cid, sub_filter, msgs)
            res[key] = r = run_child(kind, mq.port, url, root, cid, total)
            print(
                f"{label:<31} {r['readings_per_s']:>12,.0f} readings/s, "
                f"{r['cpu_s_per_100k']:.3f} CPU s per 100k, peak RSS {r['peak_rss_mb']:.0f} MB"
            )

        # 6. live: a publisher at full speed while ours stores (no backlog)
        # (its own root: the persistent sessions above would queue a copy of every message)
        live = [(f"l{topic}", payload) for topic, payload in msgs]
        res["live"] = r = run_live(mq.port, f"{influx}/live", f"l{root}", live, total)
        print(f"{'our ingest, live publisher':<31} {r['readings_per_s']:>12,.0f} readings/s")

        # 6b. the same readings as Sparkplug B, as our agent sends them
        group = f"g{root}"
        spb, statuses = sparkplug_messages(msgs, root, group)
        cid = f"spb-{uuid.uuid4().hex[:6]}"
        backlog(mq.port, cid, f"spBv1.0/{group}/#", spb)
        res["sparkplug"] = r = run_child("sparkplug", mq.port, f"{influx}/spb", root, cid,
                                         total + statuses, group)  # fmt: skip
        print(f"{'our ingest, Sparkplug B':<31} {r['readings_per_s']:>12,.0f} readings/s "
              f"({len(spb):,} messages), {r['cpu_s_per_100k']:.3f} CPU s per 100k")  # fmt: skip

        # 7. lag at a steady rate
        cid = f"lag-{uuid.uuid4().hex[:6]}"
        res["lag"] = lag = run_child(
            "lag", mq.port, f"{influx}/lag", f"lag{root}", cid, args.lag_seconds, args.lag_rate
        )
        print(
            f"lag aiming at {args.lag_rate:,.0f} readings/s (reached "
            f"{lag['achieved_readings_per_s']:,.0f}): p50 {lag['lag_p50_s']:.3f} s, "
            f"p99 {lag['lag_p99_s']:.3f} s"
        )

        # 8. the same, with rich readings (process sensors, power factor, voltage)
        rich, rich_total = messages(args.machines, args.hours, f"r{root}", rich=True)
        res["rich_raw"] = influx_raw_rate(ix.port, "rawrich", rich, f"r{root}", rich_total)
        cid = f"rich-{uuid.uuid4().hex[:6]}"
        backlog(mq.port, cid, f"r{root}/v1/+/+/+/+/+", rich)
        res["rich"] = run_child("ours", mq.port, f"{influx}/rich", f"r{root}", cid, rich_total)
        print(
            f"rich readings: our ingest {res['rich']['readings_per_s']:,.0f} readings/s, "
            f"InfluxDB raw {res['rich_raw']:,.0f} readings/s"
        )

    ours = res["ours"]
    summary = {
        "readings_per_s": round(ours["readings_per_s"]),
        "naive_readings_per_s": round(res["naive"]["readings_per_s"]),
        "cpu_s_per_100k": round(ours["cpu_s_per_100k"], 3),
        "naive_cpu_s_per_100k": round(res["naive"]["cpu_s_per_100k"], 3),
        "speedup_vs_naive": round(ours["readings_per_s"] / res["naive"]["readings_per_s"], 2),
        "live_readings_per_s": round(res["live"]["readings_per_s"]),
        "sqlite_readings_per_s": round(res["sqlite"]["readings_per_s"]),
        "sqlite_cpu_s_per_100k": round(res["sqlite"]["cpu_s_per_100k"], 3),
        "broker_readings_per_s": round(res.get("broker", 0)),
        "influx_raw_readings_per_s": round(res["raw"]),
        "lag_p50_s": round(res["lag"]["lag_p50_s"], 3),
        "lag_p99_s": round(res["lag"]["lag_p99_s"], 3),
        "lag_rate_readings_per_s": round(args.lag_rate),
        "lag_achieved_readings_per_s": round(res["lag"]["achieved_readings_per_s"]),
        "peak_rss_mb": round(ours["peak_rss_mb"], 1),
        "readings": total,
        "readings_per_message": BATCH,
        "sparkplug_readings_per_s": round(res["sparkplug"]["readings_per_s"]),
        "sparkplug_vs_json": round(res["sparkplug"]["readings_per_s"] / ours["readings_per_s"], 3),
        "sparkplug_cpu_s_per_100k": round(res["sparkplug"]["cpu_s_per_100k"], 3),
        "rich_readings_per_s": round(res["rich"]["readings_per_s"]),
        "rich_influx_raw_readings_per_s": round(res["rich_raw"]),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
