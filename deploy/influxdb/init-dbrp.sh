#!/bin/sh
# Run once by the influxdb:2 image after its setup: map the bucket to a v1 database and
# retention policy of the same name, so that InfluxQL (Grafana, `factory report`) can
# query it. The factory's readers use InfluxQL through InfluxDB 2's v1 API.
set -e
bucket_id=$(influx bucket list --name "$DOCKER_INFLUXDB_INIT_BUCKET" --hide-headers | cut -f1)
influx v1 dbrp create --bucket-id "$bucket_id" --db "$DOCKER_INFLUXDB_INIT_BUCKET" \
    --rp autogen --default
