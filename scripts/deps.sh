#!/usr/bin/env bash
# Install everything mqbridge needs to build, run and test, from Debian's archive.
# Idempotent; skips apt when every package is already installed.
set -euo pipefail
PKGS=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libmosquitto-dev mosquitto-dev librdkafka-dev libconfig-dev libcmocka-dev libmicrohttpd-dev
      libcjson-dev
      libssl-dev openssl  # TLS on the Kafka listener (OpenSSL); the CLI makes test certificates
      # mosquitto-dev: mosquitto_plugin.h / mosquitto_broker.h for mqbridge_plugin.so
      mosquitto mosquitto-clients kcat prometheus systemd curl python3 valgrind
      chromium            # integration.status_page: the status page in a real browser
      groff-base          # unit.man: groff -ww -z -man on docs/man/*
      dpkg-dev file lintian   # cpack -G DEB (dpkg-shlibdeps, file) and the package check
      libqpid-proton11-dev    # connectors/amqp (Qpid Proton's proactor API)
      python3-qpid-proton     # AMQP tests: run with /usr/bin/python3
      nodejs)                 # JS clients of tests/js (kafkajs, rhea)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# npm ships inside nodesource's nodejs; Debian's own nodejs needs the npm package
if ! command -v npm >/dev/null 2>&1; then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends npm
fi
# the JS client libraries the integration tests drive, pinned by tests/js/package-lock.json
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -d "$root/tests/js/node_modules/kafkajs" ] || [ ! -d "$root/tests/js/node_modules/rhea" ] ||
   [ "$root/tests/js/package-lock.json" -nt "$root/tests/js/node_modules" ]; then
  (cd "$root/tests/js" && npm ci --no-audit --no-fund --loglevel=error)
fi
