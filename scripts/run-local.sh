#!/usr/bin/env bash
# Run the main job on this machine: install packages, build, start a local mosquitto
# on 127.0.0.1:1883 if nothing listens there, then run mqbridged on conf/mqbridge.conf
# in the foreground (Ctrl-C stops it cleanly: flush, fsync, clean-shutdown marker).
# The mosquitto started here (if any) keeps running; its pid is in _run/mosquitto.pid.
#
#   scripts/run-local.sh --plugin   plugin mode instead: run mosquitto in the foreground
#                                   on 127.0.0.1:1883 with build/.../mqbridge_plugin.so
#                                   loaded on conf/mqbridge.conf (the broker acknowledges
#                                   only what is stored); Ctrl-C stops the broker, which
#                                   closes the store cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD_DIR=${BUILD_DIR:-build}    # scripts/build.sh builds there too
export BUILD_DIR
PLUGIN=0
case "${1:-}" in
  --plugin) PLUGIN=1 ;;
  "") ;;
  *) echo "usage: scripts/run-local.sh [--plugin]" >&2; exit 2 ;;
esac

scripts/deps.sh   # silent when every package is installed

# The build's output goes to a log: one line here, the errors only if it fails.
mkdir -p _run _data
BUILD_LOG=_run/build.log
echo "run-local: building in $BUILD_DIR (output in $BUILD_LOG)"
if ! scripts/build.sh >"$BUILD_LOG" 2>&1; then
  echo "run-local: the build failed:" >&2
  { grep -E -A4 '(error|Error)( |:)' "$BUILD_LOG" || tail -n 30 "$BUILD_LOG"; } | head -n 60 >&2
  echo "run-local: full output in $BUILD_LOG" >&2
  exit 1
fi
port_open() {  # 0 when something accepts connections on 127.0.0.1:$1
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0 || return 1
}

if [ "$PLUGIN" = 1 ]; then
  if port_open 1883; then
    echo "run-local --plugin: something already listens on 127.0.0.1:1883; stop it first" >&2
    exit 1
  fi
  cat > _run/mosquitto-plugin.conf <<CONF
listener 1883 127.0.0.1
allow_anonymous true
persistence true
persistence_location $ROOT/_run/
log_dest stderr
plugin $ROOT/$BUILD_DIR/bridge/daemon/mqbridge_plugin.so
plugin_opt_config $ROOT/conf/mqbridge.conf
CONF
  [ "$(id -u)" -eq 0 ] && echo "user root" >> _run/mosquitto-plugin.conf
  cat <<MSG

mosquitto is starting with the mqbridge plugin on conf/mqbridge.conf (store in ./_data;
the mqtt section's connection settings are unused in this mode). In another terminal:
  publish:  mosquitto_pub -V 5 -h 127.0.0.1 -t sensors/dev1/telemetry -q 1 -m hello
  dump:     $BUILD_DIR/tools/mqbridge log dump _data
  metrics:  curl -s http://127.0.0.1:9883/metrics | grep mqbridge_plugin
Ctrl-C stops the broker; the plugin closes the store cleanly.

MSG
  exec mosquitto -c _run/mosquitto-plugin.conf
fi
if port_open 1883; then
  echo "run-local: a broker already listens on 127.0.0.1:1883; using it"
else
  cat > _run/mosquitto.conf <<CONF
listener 1883 127.0.0.1
allow_anonymous true
persistence true
persistence_location $ROOT/_run/
log_dest file $ROOT/_run/mosquitto.log
pid_file $ROOT/_run/mosquitto.pid
CONF
  [ "$(id -u)" -eq 0 ] && echo "user root" >> _run/mosquitto.conf
  mosquitto -c _run/mosquitto.conf -d
  for _ in $(seq 1 50); do port_open 1883 && break; sleep 0.1; done
  port_open 1883 || { echo "run-local: mosquitto did not start (see _run/mosquitto.log)" >&2; exit 1; }
  echo "run-local: started mosquitto on 127.0.0.1:1883 (pid $(cat _run/mosquitto.pid 2>/dev/null), log _run/mosquitto.log)"
  echo "           stop it with: kill \$(cat _run/mosquitto.pid)"
fi

cat <<MSG

mqbridged is starting on conf/mqbridge.conf (store in ./_data). In another terminal:
  publish:  mosquitto_pub -h 127.0.0.1 -t sensors/dev1/telemetry -q 1 -m hello
  dump:     $BUILD_DIR/tools/mqbridge log dump _data
  metrics:  curl -s http://127.0.0.1:9883/metrics | grep mqbridge_
Ctrl-C stops mqbridged cleanly.

MSG
exec "$BUILD_DIR/bridge/daemon/mqbridged" -c conf/mqbridge.conf
