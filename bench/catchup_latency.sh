#!/usr/bin/env bash
# What a catch-up consumer does to the other connections of its shard, and
# how fast it reads, for one or more strata binaries, alternating (A/B
# builds). Not part of the tests; measures only.
#
#   bench/catchup_latency.sh [-r RUNS] [-m disk|cached|alone|warm] [-s SECS] STRATA...
#
# disk, cached: one shard; 2 M x 1 KiB records produced to topic A, then
#   strata-bench e2e at 10,000 records/s of 100 B (linger 0) on topic B for
#   5 s while rdkafka_performance reads A from offset 0 four times over.
#   disk: log.io.mode=writeback and drop_caches before each read (needs
#   root); cached: log.io.mode=pwrite, the data stays in memory.
#   Prints the e2e p50/p99/p99.9 and the catch-up MB/s of each read.
# alone: the default settings; 1 M x 1 KiB produced, then two reads from
#   offset 0, each after drop_caches. Prints the MB/s of each read.
# warm: alone, with the segment files read into the page cache (cat)
#   after each drop_caches, so the reads come from memory.
# -s SECS: idle that long after each drop_caches (alone, warm): the pages
#   it freed are then handed back to the host (free page reporting), and
#   reading into new page-cache pages costs what it does on a quiet VM.
#
# Needs build/strata-bench and build/bench/rdkafka_performance (bench/run.sh
# builds both).
set -u
cd "$(dirname "$0")/.."
runs=2
mode=disk
idle=0
while getopts "r:m:s:" o; do
    case $o in
    r) runs=$OPTARG ;;
    m) mode=$OPTARG ;;
    s) idle=$OPTARG ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-r RUNS] [-m disk|cached|alone|warm] [-s SECS] STRATA..." >&2; exit 2; }
. bench/broker_up.sh
sb=build/strata-bench
perf=build/bench/rdkafka_performance
pargs=(-X linger.ms=5 -X batch.size=1048576
    -X queue.buffering.max.messages=2000000
    -X queue.buffering.max.kbytes=2097151)
drop() { sync; echo 1 >/proc/sys/vm/drop_caches; }
consume() { # port count -> MB/s
    "$perf" -C -t A -p 0 -o beginning -c "$2" -b "127.0.0.1:$1" \
        -X fetch.message.max.bytes=10485760 2>&1 |
        sed -n 's/.*consumed in [0-9]*ms: [0-9]* msgs\/s (\([0-9.]*\) MB\/s).*/\1/p' | tail -1
}

one() { # binary
    local bin=$1 d port pid io=writeback n=2000000 out=""
    d=$(mktemp -d /tmp/catchup.XXXXXX)
    port=$(bench_port)
    [ "$mode" = cached ] && io=pwrite
    if [ "$mode" = alone ] || [ "$mode" = warm ]; then
        n=1000000
        "$bin" --set "listeners=PLAINTEXT://127.0.0.1:$port" \
            --set "log.dirs=$d/data" >"$d/log" 2>&1 &
    else
        "$bin" --set "listeners=PLAINTEXT://127.0.0.1:$port" \
            --set "log.dirs=$d/data" --set num.shards=1 \
            --set "log.io.mode=$io" >"$d/log" 2>&1 &
    fi
    pid=$!
    if ! bench_wait_broker $pid "$port" "$d/log"; then
        rm -rf "$d"
        return 1
    fi
    "$perf" -P -t A -p 0 -s 1024 -c "$n" -a 1 -b "127.0.0.1:$port" "${pargs[@]}" >/dev/null 2>&1
    if [ "$mode" = alone ] || [ "$mode" = warm ]; then
        for _ in 1 2; do
            drop
            sleep "$idle"
            [ "$mode" = warm ] && cat "$d"/data/A-0/*.log >/dev/null
            out="$out $(consume "$port" "$n")"
        done
        echo "$(basename "$bin") $mode: catch-up MB/s:$out"
    else
        [ "$mode" = disk ] && drop
        (for _ in 1 2 3 4; do
            consume "$port" "$n" >>"$d/cu"
            [ "$mode" = disk ] && drop
        done) &
        local cpid=$!
        sleep 0.3
        out=$("$sb" e2e --bootstrap "127.0.0.1:$port" --topic B --record-size 100 \
            --throughput 10000 --linger-ms 0 --duration 5 --json --quiet 2>/dev/null |
            /usr/bin/python3 -c 'import json,sys; l=json.load(sys.stdin)["latency_ms"]; print("p50 %.2f p99 %.2f p99.9 %.2f ms" % (l["p50"], l["p99"], l["p99_9"]))')
        wait $cpid
        echo "$(basename "$bin") $mode: e2e $out; catch-up MB/s: $(tr '\n' ' ' <"$d/cu")"
    fi
    kill $pid
    wait $pid 2>/dev/null
    rm -rf "$d"
}

for _ in $(seq "$runs"); do
    for bin in "$@"; do one "$bin"; done
done
