#!/usr/bin/env bash
# Produce throughput of two or more broker builds, alternating, a fresh
# broker (own data dir) per run: each run is one rdkafka_performance
# produce (the same settings as bench/run.sh) and one strata-bench
# produce, both 1 partition, acks and record size as given. Prints every
# run (rdkafka msgs/s, strata-bench records/s, and the broker's
# CPU-seconds per GB during the strata-bench run), then the medians per
# build. Measures only; not part of the tests.
#   bench/produce_ab.sh [-n pairs] [-s size] [-a 1|all] BIN...
#   env: COUNT (rdkafka records, default 1000000, 3000000 for 100 B),
#        DUR (strata-bench seconds, 4)
# Needs build/bench/rdkafka_performance (bench/run.sh builds it) and
# build/strata-bench.
set -u
cd "$(dirname "$0")/.."
. bench/broker_up.sh
pairs=6 size=1024 acks=1
while getopts n:s:a: o; do
    case $o in
    n) pairs=$OPTARG ;;
    s) size=$OPTARG ;;
    a) acks=$OPTARG ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: $0 [-n pairs] [-s size] [-a 1|all] BIN..." >&2; exit 2; }
perf=build/bench/rdkafka_performance
[ -x "$perf" ] && [ -x build/strata-bench ] || { echo "run bench/run.sh -q -r 1 first (it builds both clients)" >&2; exit 2; }
count=${COUNT:-$([ "$size" -le 100 ] && echo 3000000 || echo 1000000)}
rd_acks=$([ "$acks" = all ] && echo -1 || echo "$acks")
out=$(mktemp /tmp/produce_ab.XXXXXX)
trap 'rm -f "$out"' EXIT

one() { # bin -> "rdkafka_msgs/s strata-bench_records/s"
    local d port pid rd sb
    d=$(mktemp -d /tmp/produce_ab.XXXXXX)
    port=$(bench_port)
    "$1" --set "listeners=PLAINTEXT://127.0.0.1:$port" --set "log.dirs=$d/data" >"$d/log" 2>&1 &
    pid=$!
    bench_wait_broker $pid "$port" "$d/log" || { rm -rf "$d"; echo "n/a n/a"; return; }
    rd=$("$perf" -P -t r -p 0 -s "$size" -c "$count" -a "$rd_acks" -b "127.0.0.1:$port" \
        -X linger.ms=5 -X batch.size=1048576 -X queue.buffering.max.messages=2000000 \
        -X queue.buffering.max.kbytes=2097151 2>&1 |
        sed -n 's/.* \([0-9]*\) msgs\/s and \([0-9.]*\) MB\/s.*/\1/p' | tail -1)
    t0=$(bench_cpu_ticks $pid)
    sb=$(build/strata-bench produce --bootstrap "127.0.0.1:$port" --topic s \
        --record-size "$size" --acks "$acks" --duration "${DUR:-4}" --json --quiet 2>/dev/null |
        /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print(int(j["records_per_sec"]), j["bytes"])')
    t1=$(bench_cpu_ticks $pid)
    kill $pid
    wait $pid 2>/dev/null
    rm -rf "$d"
    # the broker's CPU-seconds (every thread, user + system) per GB
    # strata-bench produced: steadier than the rates on a noisy machine
    set -- $sb
    cpu=n/a
    [ -n "${2:-}" ] && [ "$2" -gt 0 ] && cpu=$(bench_cpu_per_gb "$t0" "$t1" "$2")
    echo "${rd:-n/a} ${1:-n/a} $cpu"
}

bench_steal_mark

for i in $(seq "$pairs"); do
    for b in "$@"; do
        echo "$b $(one "$b")" | tee -a "$out"
    done
done
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'; }
printf '\nmedians of %d runs, %s B, acks=%s (records/s); steal time %s%%\n' "$pairs" "$size" "$acks" \
    "$(bench_steal_pct)"
printf '%-40s %14s %14s %10s\n' build rdkafka strata-bench cpu-s/GB
for b in "$@"; do
    printf '%-40s %14s %14s %10s\n' "$b" \
        "$(awk -v b="$b" '$1 == b && $2 != "n/a" {print $2}' "$out" | median)" \
        "$(awk -v b="$b" '$1 == b && $3 != "n/a" {print $3}' "$out" | median)" \
        "$(awk -v b="$b" '$1 == b && $4 != "n/a" {print $4}' "$out" | median)"
done
