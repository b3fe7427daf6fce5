#!/usr/bin/env bash
# check_layers.sh ROOT — the layering rule of docs/ARCHITECTURE.md, checked on the sources:
#   1. the core (bridge/, except bridge/daemon/, the composition root) includes no
#      connector header and no protocol library (libmosquitto, the broker plugin API,
#      librdkafka, Qpid Proton, OpenSSL: kafka_api's TLS);
#   2. a connector includes no other connector (connectors/connector.h is shared);
#   3. nothing outside tests/ and bench/ includes a test header; the core includes no tools/.
# Prints every offending line as FILE:LINE: text and exits 1; exits 0 when clean.
#   check_layers.sh --self-test   builds a small tree with one violation of each rule and
#                                 checks that each is reported (the check can fail).
set -u
PROTO='(mosquitto\.h|mosquitto_broker\.h|mosquitto_plugin\.h|mqtt_protocol\.h|librdkafka/|proton/|openssl/)'

check() {
	local root=$1 bad=0 out
	cd "$root" || return 2
	out=$(find bridge -name '*.[ch]' -not -path 'bridge/daemon/*' -print0 2>/dev/null |
		xargs -0r grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]([^>\"]*/)?(connectors/|tools/|tests/|$PROTO)" )
	[ -n "$out" ] && { echo "core includes a connector, tool, test or protocol header:"; echo "$out"; bad=1; }
	for d in connectors/*/; do
		[ -d "$d" ] || continue
		local name=${d#connectors/}; name=${name%/}
		out=$(find "$d" -name '*.[ch]' -print0 | xargs -0r grep -nE \
			"^[[:space:]]*#[[:space:]]*include[[:space:]]*\"connectors/[^\"]*/" |
			grep -vE "\"connectors/$name/" )
		[ -n "$out" ] && { echo "connector $name includes another connector:"; echo "$out"; bad=1; }
	done
	out=$(find bridge connectors tools -name '*.[ch]' -print0 2>/dev/null |
		xargs -0r grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"tests/')
	[ -n "$out" ] && { echo "production code includes a test header:"; echo "$out"; bad=1; }
	return $bad
}

self_test() {
	local t fails=0
	t=$(mktemp -d) || exit 2
	trap 'rm -rf "$t"' RETURN
	mkdir -p "$t/bridge/daemon" "$t/bridge/groups" "$t/connectors/mqtt" "$t/connectors/kafka" "$t/tools"
	printf '#include "bridge/err.h"\n' >"$t/bridge/groups/ok.c"
	printf '#include "connectors/mqtt/session.h"\n#include <mosquitto.h>\n' >"$t/bridge/daemon/main.c"
	printf '#include "connectors/connector.h"\n#include "connectors/mqtt/session.h"\n' >"$t/connectors/mqtt/a.c"
	check "$t" >/dev/null || { echo "self-test: a clean tree was refused"; fails=1; }
	for bad in 'bridge/groups/x.c:#include "connectors/mqtt/session.h"' \
		   'bridge/groups/x.c:#include <mosquitto.h>' \
		   'bridge/x.h:#  include <librdkafka/rdkafka.h>' \
		   'bridge/store/x.c:#include <proton/proactor.h>' \
		   'bridge/stats/x.c:#include <openssl/ssl.h>' \
		   'connectors/kafka/x.c:#include "connectors/mqtt/session.h"' \
		   'tools/x.c:#include "tests/support/harness.h"'; do
		local f=${bad%%:*} line=${bad#*:}
		mkdir -p "$t/$(dirname "$f")"
		printf '%s\n' "$line" >"$t/$f"
		if check "$t" >/dev/null; then echo "self-test: not caught: $f: $line"; fails=1; fi
		rm -f "$t/$f"
	done
	[ $fails = 0 ] && echo "self-test: every violation caught, the clean tree accepted"
	return $fails
}

if [ "${1:-}" = --self-test ]; then self_test; exit $?; fi
check "${1:-.}" && echo "layers: clean"
