#!/usr/bin/env bash
# Install everything mqbridge needs to build, run and test, from Debian's archive.
# Idempotent; skips apt when every package is already installed.
set -euo pipefail
PKGS=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libmosquitto-dev mosquitto-dev librdkafka-dev libconfig-dev libcmocka-dev libmicrohttpd-dev
      libcjson-dev libsystemd-dev
      # mosquitto-dev: mosquitto_plugin.h / mosquitto_broker.h for mqbridge_plugin.so
      mosquitto mosquitto-clients kcat prometheus systemd curl python3 valgrind
      chromium            # integration.status_page: the status page in a real browser
      groff-base          # unit.man: groff -ww -z -man on docs/man/*
      dpkg-dev file lintian)  # cpack -G DEB (dpkg-shlibdeps, file) and the package check
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
