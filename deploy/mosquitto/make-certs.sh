#!/usr/bin/env bash
# Make a plant CA and a server certificate for Mosquitto's TLS listener, or client
# certificates for mutual TLS.
#
#   deploy/mosquitto/make-certs.sh OUT_DIR HOST [HOST...]
#   deploy/mosquitto/make-certs.sh OUT_DIR --client NAME [NAME...]
#
# --client: a certificate per gateway (or for ingest) signed by the CA in OUT_DIR, its
# common name NAME (the MQTT user name under mosquitto-mtls.conf, so the ACL of
# `factory acl` applies): OUT_DIR/clients/NAME.crt and NAME.key, for
# FACTORY_EDGE__CERT_FILE/KEY_FILE or FACTORY_INGEST__CERT_FILE/KEY_FILE.
#
# HOST: the names and addresses clients use to reach the broker (DNS names or IPv4/IPv6
# addresses). Writes OUT_DIR/ca.crt and ca.key (the plant CA: keep ca.key offline),
# server.crt and server.key (for mosquitto-secure.conf). Clients verify the broker with
# ca.crt (FACTORY_EDGE__CA_FILE, FACTORY_INGEST__CA_FILE). An existing CA is reused, so
# the server certificate can be renewed without touching the clients.
#
# server.key is mode 0640 and given to the group the broker runs as: CERT_GROUP, or
# Debian's `mosquitto` group when it exists and this user may give files to it (root).
# Mosquitto drops root before it reads its key, so without that it cannot start.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 OUT_DIR HOST [HOST...]   (e.g. $0 /etc/mosquitto/certs broker.local 10.0.0.5)" >&2
    exit 2
fi
out=$1
shift
days=${CERT_DAYS:-825}
mkdir -p "$out"
umask 077

if [ "$1" = "--client" ]; then
    shift
    if [ $# -lt 1 ] || [ ! -f "$out/ca.key" ]; then
        echo "usage: $0 OUT_DIR --client NAME [NAME...]   (the CA must be in OUT_DIR: make it first)" >&2
        exit 2
    fi
    mkdir -p "$out/clients"
    for name in "$@"; do
        if [[ ! $name =~ ^[A-Za-z0-9_.-]{1,64}$ ]]; then
            echo "client name '$name': use 1 to 64 of A-Z a-z 0-9 _ . -" >&2
            exit 2
        fi
        openssl req -newkey rsa:3072 -nodes -sha256 -subj "/CN=$name" \
            -keyout "$out/clients/$name.key" -out "$out/clients/$name.csr" 2>/dev/null
        printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' > "$out/clients/$name.ext"
        openssl x509 -req -sha256 -days "$days" -in "$out/clients/$name.csr" -CA "$out/ca.crt" \
            -CAkey "$out/ca.key" -CAcreateserial -extfile "$out/clients/$name.ext" \
            -out "$out/clients/$name.crt" 2>/dev/null
        rm -f "$out/clients/$name.csr" "$out/clients/$name.ext"
        chmod 644 "$out/clients/$name.crt"
        chmod 600 "$out/clients/$name.key"
        echo "client: $out/clients/$name.crt, $out/clients/$name.key (CN=$name)"
    done
    exit 0
fi

san=""
for host in "$@"; do
    if [[ $host =~ ^[0-9.]+$ || $host == *:* ]]; then
        san="${san:+$san,}IP:$host"
    else
        san="${san:+$san,}DNS:$host"
    fi
done

if [ ! -f "$out/ca.key" ]; then
    openssl req -x509 -newkey rsa:3072 -nodes -sha256 -days 3650 \
        -subj "/CN=Factory plant CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
fi
openssl req -newkey rsa:3072 -nodes -sha256 -subj "/CN=$1" \
    -keyout "$out/server.key" -out "$out/server.csr" 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$san" > "$out/server.ext"
openssl x509 -req -sha256 -days "$days" -in "$out/server.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
    -CAcreateserial -extfile "$out/server.ext" -out "$out/server.crt" 2>/dev/null
rm -f "$out/server.csr" "$out/server.ext"
chmod 644 "$out/ca.crt" "$out/server.crt"
chmod 640 "$out/server.key"
group=${CERT_GROUP:-}
if [ -z "$group" ] && [ "$(id -u)" = "0" ] && getent group mosquitto >/dev/null 2>&1; then
    group=mosquitto
fi
if [ -n "$group" ]; then
    chgrp "$group" "$out/server.key"
    echo "key:    $out/server.key (mode 0640, group $group: the broker's user reads it)"
else
    echo "key:    $out/server.key (mode 0640, your group: set CERT_GROUP=mosquitto, or run as root, if Mosquitto runs as another user)"
fi
echo "CA:     $out/ca.crt (give to every client; keep $out/ca.key offline)"
echo "server: $out/server.crt, $out/server.key for: $*"
