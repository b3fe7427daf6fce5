#!/usr/bin/env bash
# Build the libFuzzer targets with clang (ASan+UBSan) in build-fuzz and run each one for
# SECONDS (default 20). Seeds: tests/fuzz/seeds/<target>/; the growing corpus is kept
# in build-fuzz/corpus/<target>/. Exit status is non-zero when a target finds a crash
# (the reproducer is left in build-fuzz/crash-*).
#   tests/fuzz/run.sh 30
set -euo pipefail
secs=${1:-20}
root=$(cd "$(dirname "$0")/../.." && pwd)
b=${MQB_FUZZ_BUILD_DIR:-$root/build-fuzz}
CC=clang cmake -S "$root" -B "$b" -DMQB_FUZZ=ON -DMQB_ASAN=ON -DMQB_UBSAN=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link >/dev/null
cmake --build "$b" -j2 --target fuzz_all
for src in "$root"/tests/fuzz/fuzz_*.c; do
  t=$(basename "$src" .c)
  corpus="$b/corpus/$t"
  mkdir -p "$corpus"
  echo "== $t for ${secs} s"
  (cd "$b" && "$b/tests/fuzz/$t" -max_total_time="$secs" -max_len=16384 \
     -rss_limit_mb=2048 -print_final_stats=1 "$corpus" $( [ -d "$root/tests/fuzz/seeds/$t" ] && echo "$root/tests/fuzz/seeds/$t") \
     2>&1 | tail -n 15)
  # tail hides the exit status: re-check for a reproducer
  if ls "$b"/crash-* "$b"/leak-* "$b"/timeout-* >/dev/null 2>&1; then
    echo "fuzz: $t found a problem:" "$b"/crash-* "$b"/leak-* "$b"/timeout-* 2>/dev/null
    exit 1
  fi
done
