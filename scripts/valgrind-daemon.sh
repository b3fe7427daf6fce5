#!/usr/bin/env bash
# valgrind-daemon.sh — mqbridged under valgrind with realistic load, one command away.
#
# Starts (all on free 127.0.0.1 ports, all state under one temp dir):
#   a mosquitto broker, a librdkafka mock cluster (build/tests/kafka_mock),
#   mqbridged under `valgrind --leak-check=full --error-exitcode=99` with two streams,
#   a keyed route, a Kafka forward and a consumer group.
# Then publishes N messages with mosquitto_pub, runs `mqbridge consume --group ...
# --count C` (under valgrind as well), scrapes /metrics /stats /groups /healthz /readyz, stops the daemon with
# SIGTERM and runs `mqbridge log dump` and `mqbridge log verify` under valgrind too.
# Exit 0 only if every valgrind run reports no errors and no definite/indirect leaks
# and every step worked; the valgrind logs are kept in the temp dir on failure.
#
#   scripts/valgrind-daemon.sh            (BUILD_DIR=build, MESSAGES=3000, CONSUME=500)
#   BUILD_DIR=build-x MESSAGES=5000 KEEP=1 scripts/valgrind-daemon.sh
# Needs a non-sanitizer build (valgrind and ASan do not mix) with the tests built
# (for kafka_mock); it builds BUILD_DIR if the binaries are missing. Takes ~1-3 min.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
BUILD_DIR=${BUILD_DIR:-build}
MESSAGES=${MESSAGES:-3000}
CONSUME=${CONSUME:-500}
KEEP=${KEEP:-0}

for tool in valgrind mosquitto mosquitto_pub curl python3; do
	command -v "$tool" >/dev/null || { echo "valgrind-daemon: $tool not installed" >&2; exit 2; }
done
if [ ! -x "$BUILD_DIR/bridge/daemon/mqbridged" ] || [ ! -x "$BUILD_DIR/tools/mqbridge" ] ||
   [ ! -x "$BUILD_DIR/tests/kafka_mock" ]; then
	cmake -S . -B "$BUILD_DIR" >/dev/null
	cmake --build "$BUILD_DIR" -j2 --target mqbridged mqbridge kafka_mock >/dev/null
fi
if grep -Eq '^MQB_(ASAN|TSAN):BOOL=ON' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
	echo "valgrind-daemon: $BUILD_DIR is a sanitizer build; use a plain one" >&2
	exit 2
fi
DAEMON=$(realpath "$BUILD_DIR/bridge/daemon/mqbridged")
CLI=$(realpath "$BUILD_DIR/tools/mqbridge")
MOCK=$(realpath "$BUILD_DIR/tests/kafka_mock")

WORK=$(mktemp -d /tmp/mqb-valgrind.XXXXXX)
MOSQ_PID= MOCK_PID= DAEMON_PID= status=1
cleanup() {
	for p in $DAEMON_PID $MOSQ_PID; do kill "$p" 2>/dev/null || true; done
	# the mock exits when its stdin closes
	exec 7>&- 2>/dev/null || true
	for p in $DAEMON_PID $MOSQ_PID $MOCK_PID; do wait "$p" 2>/dev/null || true; done
	if [ "$status" = 0 ] && [ "$KEEP" != 1 ]; then
		rm -rf "$WORK"
	else
		echo "valgrind-daemon: logs kept in $WORK"
	fi
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() { # port timeout_s
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "valgrind-daemon: nothing listens on port $1 after $2 s" >&2
	return 1
}
metric_sum() { # sum of the samples whose line starts with $1
	curl -s "http://127.0.0.1:$HTTP_PORT/metrics" |
		awk -v m="$1" 'index($0, m) == 1 {s += $2} END {print s + 0}'
}
VG=(valgrind --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --num-callers=30)

MQTT_PORT=$(free_port)
HTTP_PORT=$(free_port)
cat >"$WORK/mosquitto.conf" <<EOF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 100000
EOF
mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
MOSQ_PID=$!
wait_port "$MQTT_PORT" 10

# kafka_mock prints BOOTSTRAP=... then reads commands on stdin (fd 7 here).
mkfifo "$WORK/mock.in"
"$MOCK" --brokers 1 --topic edge.telemetry:4 <"$WORK/mock.in" >"$WORK/mock.out" 2>"$WORK/mock.err" &
MOCK_PID=$!
exec 7>"$WORK/mock.in"
for ((i = 0; i < 100; i++)); do
	grep -q '^BOOTSTRAP=' "$WORK/mock.out" 2>/dev/null && break
	sleep 0.1
done
BOOTSTRAP=$(sed -n 's/^BOOTSTRAP=//p' "$WORK/mock.out")
[ -n "$BOOTSTRAP" ] || { echo "valgrind-daemon: kafka_mock did not start" >&2; exit 1; }

cat >"$WORK/mqbridge.conf" <<EOF
data_dir = "$WORK/data";
log_level = "info";
mqtt = { host = "127.0.0.1"; port = $MQTT_PORT; client_id = "mqb-valgrind";
         protocol = "v5"; clean_start = true; };
stats = { listen = "127.0.0.1:$HTTP_PORT"; };
streams = (
  { name = "telemetry"; partitions = 4; segment_bytes = 262144;
    flush = { interval_ms = 50; }; },
  { name = "events"; partitions = 2; }
);
routes = (
  { filter = "sensors/+/telemetry"; qos = 1; stream = "telemetry"; key = "{1}"; },
  { filter = "sensors/+/events/#";  qos = 1; stream = "events"; }
);
kafka = {
  bootstrap_servers = "$BOOTSTRAP";
  properties = ( ("linger.ms", 5) );
  forward = ( { stream = "telemetry"; topic = "edge.telemetry"; } );
};
groups_prefix = "mqbridge";
groups = (
  { name = "analytics"; stream = "telemetry"; mode = "exclusive";
    session_timeout_ms = 6000; heartbeat_interval_ms = 1000; start = "earliest"; },
  { name = "workers"; stream = "events"; mode = "shared"; start = "earliest"; }
);
EOF

echo "== mqbridged under valgrind (logs: $WORK)"
"${VG[@]}" --log-file="$WORK/valgrind-daemon.log" "$DAEMON" -c "$WORK/mqbridge.conf" \
	>"$WORK/mqbridged.log" 2>&1 &
DAEMON_PID=$!
wait_port "$HTTP_PORT" 60
for ((i = 0; i < 600; i++)); do
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/readyz" || true)
	[ "$code" = 200 ] && break
	sleep 0.1
done
[ "$code" = 200 ] || { echo "valgrind-daemon: mqbridged never became ready" >&2; exit 1; }

echo "== publishing $MESSAGES messages"
python3 - "$MESSAGES" >"$WORK/pub.txt" <<'EOF'
import sys
n = int(sys.argv[1])
for i in range(n):
    print(f"sensors/dev{i % 37}/telemetry {{\"seq\":{i},\"temp\":{20 + i % 13}}}")
EOF
# one mosquitto_pub per topic, each reading its lines from stdin (-l): QoS 1
awk '{print $1}' "$WORK/pub.txt" | sort -u | while read -r topic; do
	grep "^$topic " "$WORK/pub.txt" | cut -d' ' -f2- |
		mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t "$topic" -l
done
for i in $(seq 1 50); do
	mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t "sensors/dev$i/events/door" -m "open $i"
done

# wait until everything is stored (the telemetry stream's records_in counter)
expect=$MESSAGES
for ((i = 0; i < 600; i++)); do
	got=$(metric_sum 'mqbridge_log_end_offset{stream="telemetry"')
	[ "${got%.*}" -ge "$expect" ] 2>/dev/null && break
	sleep 0.2
done
echo "   stored: $got of $expect telemetry records"
[ "${got%.*}" -ge "$expect" ] || { echo "valgrind-daemon: not everything was stored" >&2; exit 1; }

echo "== consuming $CONSUME records through group analytics, then 20 through workers"
# the member under valgrind too (its exit path: last acks, leave, disconnect)
crc=0
"${VG[@]}" --log-file="$WORK/valgrind-consume.log" "$CLI" consume --group analytics \
	--count "$CONSUME" -h 127.0.0.1 -p "$MQTT_PORT" -i vg-consumer-1 --quiet \
	>"$WORK/consume.out" 2>"$WORK/consume.err" || crc=$?
"$CLI" consume --group workers --count 20 -h 127.0.0.1 -p "$MQTT_PORT" \
	-i vg-consumer-2 --quiet >>"$WORK/consume.out" 2>>"$WORK/consume.err"

echo "== scraping /metrics /stats /groups /healthz /readyz"
for path in /metrics /stats /groups /groups/analytics /healthz /readyz /nope; do
	curl -s -o "$WORK/scrape$(echo "$path" | tr / _)" -w "   $path %{http_code}\n" \
		"http://127.0.0.1:$HTTP_PORT$path"
done
"$CLI" groups list --url "http://127.0.0.1:$HTTP_PORT" >/dev/null
"$CLI" groups describe analytics --url "http://127.0.0.1:$HTTP_PORT" >/dev/null

# everything stored is forwarded to the mock cluster (backlog 0, forwarded = stored)
for ((i = 0; i < 300; i++)); do
	fwd=$(metric_sum 'mqbridge_kafka_records_forwarded_total{stream="telemetry"')
	[ "${fwd%.*}" -ge "$MESSAGES" ] 2>/dev/null && break
	sleep 0.2
done
echo "   forwarded to Kafka: $fwd of $MESSAGES"
[ "${fwd%.*}" -ge "$MESSAGES" ] || { echo "valgrind-daemon: forwarding incomplete" >&2; exit 1; }
# the group committed what consume acknowledged
committed=$(python3 -c 'import json,sys; print(sum(p["committed"] for p in json.load(open(sys.argv[1]))["partitions"]))' \
	"$WORK/scrape_groups_analytics")
echo "   group analytics committed: $committed (consumed $CONSUME)"
[ "$committed" -ge "$CONSUME" ] || { echo "valgrind-daemon: commits missing" >&2; exit 1; }
echo "== SIGTERM"
kill -TERM "$DAEMON_PID"
rc=0
wait "$DAEMON_PID" || rc=$?
DAEMON_PID=
echo "   mqbridged exit status under valgrind: $rc"

vg_check() { # name log rc
	local defs
	defs=$(grep -E 'definitely lost:|indirectly lost:|ERROR SUMMARY:' "$2" | sed 's/^==[0-9]*== */     /')
	echo "   $1:"
	echo "$defs"
	if [ "$3" != 0 ]; then
		echo "valgrind-daemon: $1 failed (exit $3); see $2" >&2
		return 1
	fi
}
fail=0
vg_check "mqbridge consume" "$WORK/valgrind-consume.log" "$crc" || fail=1
vg_check mqbridged "$WORK/valgrind-daemon.log" "$rc" || fail=1

echo "== mqbridge log dump / log verify under valgrind"
rc=0
"${VG[@]}" --log-file="$WORK/valgrind-dump.log" "$CLI" log dump "$WORK/data" --stream telemetry \
	--partition 0 --count 200 --json >"$WORK/dump.out" || rc=$?
vg_check "log dump" "$WORK/valgrind-dump.log" "$rc" || fail=1
rc=0
"${VG[@]}" --log-file="$WORK/valgrind-verify.log" "$CLI" log verify "$WORK/data" \
	>"$WORK/verify.out" || rc=$?
vg_check "log verify" "$WORK/valgrind-verify.log" "$rc" || fail=1
rc=0
"${VG[@]}" --log-file="$WORK/valgrind-reset.log" "$CLI" groups reset -c "$WORK/mqbridge.conf" \
	--group analytics --to earliest >"$WORK/reset.out" 2>&1 || rc=$?
vg_check "groups reset" "$WORK/valgrind-reset.log" "$rc" || fail=1

if [ "$fail" = 0 ]; then
	echo "== clean: no valgrind errors, no definite or indirect leaks"
	status=0
fi
exit "$fail"
