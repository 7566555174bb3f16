#!/usr/bin/env bash
# Installs the real servers the integration tests start: Debian's mosquitto, influxdb and
# victoria-metrics (a real peer for the InfluxDB v2 write API), chromium for the
# dashboard's browser test (driven by Playwright with this executable), and socat.
set -euo pipefail
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto mosquitto-clients)
command -v influxd >/dev/null 2>&1 || need+=(influxdb)
command -v victoria-metrics >/dev/null 2>&1 || need+=(victoria-metrics)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# socat: the virtual serial pair of the Modbus RTU tests (an RS-485 line without hardware)
command -v socat >/dev/null 2>&1 || need+=(socat)
# node and npm: Eclipse Tahu's JavaScript Sparkplug client, the Sparkplug tests' other side
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "missing ${need[*]}: install them (apt-get install ${need[*]}) or run as root" >&2
    exit 0   # the test session itself fails under CI=true when a server binary is missing
fi
echo "installing ${need[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
