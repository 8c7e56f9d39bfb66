#!/usr/bin/env bash
# log.hot.reads=true vs false (the hot tier's writev from a mapping vs
# sendfile), alternating, a fresh broker per run; prints strata-bench's
# throughput and e2e latency, the broker's CPU seconds and the
# strata_fetch_bytes_total series of each run. Not part of the tests.
#   bench/hot_reads.sh [build-dir]    (default: build)
#   env: REPS="1 2 3", ONLY1K=1 (skip the 100 B latency case),
#        RATE=records/s for the 1 KiB 4-partition case (default: unlimited)
set -u
. "$(dirname "$0")/broker_up.sh"
B=${1:-build}
REPS=${REPS:-1 2 3}
ONLY1K=${ONLY1K:-}
RATE=${RATE:-}
run() { # hot case args...
  local hot=$1 name=$2; shift 2
  local d=$(mktemp -d /tmp/hotb.XXXXXX) port=$(bench_port)
  $B/strata --set listeners=PLAINTEXT://127.0.0.1:$port --set log.dirs=$d/data --set metrics.listener=127.0.0.1:$((port+1)) --set log.hot.reads=$hot > $d/log 2>&1 &
  local pid=$!
  bench_wait_broker $pid $port $d/log || { rm -rf $d; return 1; }
  out=$($B/strata-bench "$@" --bootstrap 127.0.0.1:$port --json --quiet 2>/dev/null)
  src=$(curl -s 127.0.0.1:$((port+1))/metrics | grep '^strata_fetch_bytes_total' | tr '\n' ' ')
  cpu=$(awk '{printf "%.2f", ($14+$15)/100}' /proc/$pid/stat)
  kill $pid; wait $pid 2>/dev/null; rm -rf $d
  echo "$name hot=$hot $(echo "$out" | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); l=j.get("latency_ms",j.get("latency",{})); print("rec/s=%.0f MB/s=%.1f" % (j.get("records_per_sec",0), j.get("mb_per_sec",0)), "lat:", {k:l[k] for k in l if k in ("p50","p99","p99_9")})' 2>&1 | head -2) | cpu=${cpu}s | $src"
  sleep 3
}
for r in $REPS; do
  [ -z "$ONLY1K" ] && for h in true false; do
    run $h e2e100 e2e --topic e2e --record-size 100 --throughput 10000 --duration 10 --linger-ms 0
  done
  for h in true false; do
    if [ -n "$RATE" ]; then run $h e2e1k-4p-$RATE e2e --topic t4 --partitions 4 --record-size 1024 --duration 8 --throughput $RATE
    else run $h e2e1k-4p e2e --topic t4 --partitions 4 --record-size 1024 --duration 8; fi
  done
done
