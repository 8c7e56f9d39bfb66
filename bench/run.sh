#!/usr/bin/env bash
# Strata vs librdkafka's in-memory mock broker, with librdkafka's own load
# client (rdkafka_performance, built here from the example source in
# Debian's librdkafka-dev). Prints the median of several repetitions of each
# case and the Strata/mock ratio measured in the same run. Measures only:
# nothing here asserts a speed.
#
#   bench/run.sh [-r REPS] [-q] [-s KEY=VALUE]...
#
# -q: a quick, smaller matrix; -s: a broker setting (--set), repeatable,
# to measure a configuration against the defaults.
#
# Needs root for apt-get the first time (librdkafka-dev, fio). The broker runs
# from build/ (release preset) with a temporary data dir on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=3
quick=0
sets=()
while getopts "r:qs:" o; do
    case $o in
    r) reps=$OPTARG ;;
    q) quick=1 ;;
    s) sets+=(--set "$OPTARG") ;;
    *) echo "usage: bench/run.sh [-r REPS] [-q] [-s KEY=VALUE]..." >&2; exit 2 ;;
    esac
done

for pkg in librdkafka-dev fio; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
    fi
done
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" --target strata strata-bench >/dev/null

# rdkafka_performance: the example as Debian ships it, its internal
# includes pointed at our shim (bench/rdkafka_shim/rd.h).
perf_dir=build/bench/rdkafka_performance.d
perf=build/bench/rdkafka_performance
src=/usr/share/doc/librdkafka-dev/examples/rdkafka_performance.c
if [ ! -x "$perf" ] || [ "$src" -nt "$perf" ]; then
    mkdir -p "$perf_dir"
    sed -e 's|#include "../src/rd.h"|#include "rd.h"|' \
        -e 's|#include "rdtime.h"||' \
        -e 's|#include "rdkafka.h"|#include <librdkafka/rdkafka.h>|' \
        "$src" > "$perf_dir/rdkafka_performance.c"
    cc -O2 -Ibench/rdkafka_shim -o "$perf" "$perf_dir/rdkafka_performance.c" \
        $(pkg-config --cflags --libs rdkafka)
fi

# The mock cluster as a process of its own, for strata-bench to target.
mock_bin=build/bench/mock_broker
if [ ! -x "$mock_bin" ] || [ bench/mock_broker.c -nt "$mock_bin" ]; then
    mkdir -p build/bench
    cc -O2 -o "$mock_bin" bench/mock_broker.c $(pkg-config --cflags --libs rdkafka)
fi

work=$(mktemp -d /tmp/strata-bench.XXXXXX)
. bench/broker_up.sh
port=$(bench_port)
./build/strata --set "listeners=PLAINTEXT://127.0.0.1:$port" \
    --set "log.dirs=$work/data" "${sets[@]}" >"$work/strata.log" 2>&1 &
broker=$!
"$mock_bin" >"$work/mock.addr" 2>/dev/null &
mock=$!
trap 'kill $broker $mock 2>/dev/null; wait $broker $mock 2>/dev/null; cp "$work/strata.log" /tmp/strata-bench-broker.log 2>/dev/null; rm -rf "$work"' EXIT
bench_wait_broker $broker "$port" "$work/strata.log" || exit 1

bench_steal_mark

n100=3000000
n1k=1000000
if [ "$quick" = 1 ]; then
    n100=500000
    n1k=200000
fi
common=(-X linger.ms=5 -X batch.size=1048576
    -X queue.buffering.max.messages=2000000
    -X queue.buffering.max.kbytes=2097151)

# one run: prints "msgs/s MB/s"
produce() { # target size count acks topic
    local args
    if [ "$1" = mock ]; then args=(-X test.mock.num.brokers=1); else args=(-b "127.0.0.1:$port"); fi
    "$perf" -P -t "$5" -p 0 -s "$2" -c "$3" -a "$4" "${args[@]}" "${common[@]}" 2>&1 |
        sed -n 's/.* \([0-9]*\) msgs\/s and \([0-9.]*\) MB\/s.*/\1 \2/p' | tail -1
}
consume() { # topic count
    "$perf" -C -t "$1" -p 0 -o beginning -c "$2" -b "127.0.0.1:$port" \
        -X fetch.message.max.bytes=10485760 2>&1 |
        sed -n 's/.*consumed in [0-9]*ms: \([0-9]*\) msgs\/s (\([0-9.]*\) MB\/s).*/\1 \2/p' | tail -1
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'; }

declare -A res
run_case() { # name command...
    local name=$1 out msgs mb cpu
    shift
    for r in $(seq "$reps"); do
        # a failed run is reported (n/a), not the end of the whole matrix
        out=$("$@" "$r") || { echo "$name run $r failed" >&2; out="n/a n/a"; }
        read -r msgs mb cpu <<<"$out"
        res[$name.msgs]+="$msgs "
        res[$name.mb]+="$mb "
        res[$name.cpu]+="${cpu:-n/a} "
    done
}
p100() { produce "$1" 100 "$n100" "$2" "p100-$1-$2-$3"; }
p1k() { produce "$1" 1024 "$n1k" "$2" "p1k-$1-$2-$3"; }
c1k() { consume "p1k-strata-1-$1" "$n1k"; }
# strata-bench --json on stdin -> "records/s MB/s"
rate() {
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(int(d["records_per_sec"]), round(d["mb_per_sec"], 2))'
}
# The same catch-up with strata-bench, which sends its next Fetch before it
# goes through the records of the last one (rdkafka_performance does not).
sbc1k() {
    ./build/strata-bench consume --bootstrap "127.0.0.1:$port" \
        --topic "p1k-strata-1-$1" --count "$n1k" --json --quiet 2>/dev/null |
        rate
}

# The references for a catch-up, on the same files (those of the rdkafka
# catch-up's topic): the disk alone, read by fio with O_DIRECT, 1 MiB at a
# queue depth of 16 through io_uring (the best sequential rate it has
# shown here), and the catch-up with the files read into the page cache
# first (as a broker with log.io.mode=pwrite, which keeps what it wrote
# cached, or one whose log fits in memory would find them). fio counts the
# files' bytes, about 1% more than the records' values the clients count.
seg_files() { ls "$work/data/p1k-strata-1-$1-0/"*.log; }
ddisk() { # rep -> "- MB/s"
    fio --name=disk --filename="$(seg_files "$1" | paste -sd:)" --rw=read \
        --direct=1 --bs=1M --iodepth=16 --ioengine=io_uring \
        --file_service_type=sequential --output-format=terse \
        --terse-version=3 2>/dev/null |
        awk -F';' '{ printf "- %.2f\n", $7 * 1024 / 1e6 }'
}
cached() { # rep -> files of the topic read into the page cache
    cat $(seg_files "$1") >/dev/null
}
wc1k() { cached "$1"; c1k "$1"; }
wsbc1k() { cached "$1"; sbc1k "$1"; }

# Every strata run writes gigabytes: its topics are deleted once measured,
# so that the matrix fits a modest disk.
drop() { # topic-name prefix
    /usr/bin/python3 - "127.0.0.1:$port" "$1" >/dev/null 2>&1 <<'PY' || true
import sys
from confluent_kafka.admin import AdminClient
a = AdminClient({"bootstrap.servers": sys.argv[1]})
names = [t for t in a.list_topics(timeout=10).topics
         if t.startswith(sys.argv[2])]
for f in (a.delete_topics(names, operation_timeout=30).values()
          if names else []):
    f.result(30)
PY
}

run_case mock_100_acks1 p100 mock 1
run_case strata_100_acks1 p100 strata 1
drop p100-strata-
run_case strata_100_acksall p100 strata -1
drop p100-strata-
run_case mock_1k_acks1 p1k mock 1
run_case strata_1k_acks1 p1k strata 1
run_case strata_1k_acksall p1k strata -1
drop p1k-strata--1-
run_case strata_1k_catchup c1k
run_case sb_strata_1k_catchup sbc1k
run_case disk_1k_read ddisk
run_case strata_1k_catchup_cached wc1k
run_case sb_strata_1k_catchup_cached wsbc1k
drop p1k-strata-

# The same with strata-bench as the client, against both brokers.
for _ in $(seq 50); do [ -s "$work/mock.addr" ] && break; sleep 0.1; done
mock_addr=$(head -1 "$work/mock.addr")
# The broker's CPU per byte too (every thread, the mock's or Strata's):
# the two share the machine with the client, so the rates follow it.
sb() { # target size acks rep -> "records/s MB/s broker-CPU-s/GB"
    local addr="127.0.0.1:$port" pid=$broker t0 t1 out
    [ "$1" = mock ] && addr=$mock_addr && pid=$mock
    t0=$(bench_cpu_ticks "$pid")
    out=$(./build/strata-bench produce --bootstrap "$addr" --topic "sb-$1-$2-$3-$4" \
        --record-size "$2" --acks "$3" --duration 5 --json --quiet 2>/dev/null |
        /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(int(d["records_per_sec"]), round(d["mb_per_sec"], 2), d["bytes"])') || return 1
    t1=$(bench_cpu_ticks "$pid")
    set -- $out
    echo "$1 $2 $(bench_cpu_per_gb "$t0" "$t1" "$3")"
}
sb100() { sb "$1" 100 "$2" "$3"; }
sb1k() { sb "$1" 1024 "$2" "$3"; }
# The reference for the produce rows: the disk alone, writing a new file
# beside the broker's data with O_DIRECT through io_uring, 4 MiB at a queue
# depth of 8 (about the requests the broker's writeback sends, which
# average 3.8 MiB), its blocks reserved first as the broker reserves
# them. Every byte produced has to reach the disk this way or another;
# the mock keeps its records in memory.
dwrite() { # rep -> "- MB/s"
    local f="$work/data/fio-write.tmp"
    rm -f "$f"
    fio --name=disk --filename="$f" --rw=write --direct=1 --bs=4M \
        --iodepth=8 --ioengine=io_uring --size=4G --output-format=terse \
        --terse-version=3 2>/dev/null |
        awk -F';' '{ printf "- %.2f\n", $48 * 1024 / 1e6 }'
    rm -f "$f"
}
run_case disk_write dwrite
run_case sb_mock_100_acks1 sb100 mock 1
run_case sb_strata_100_acks1 sb100 strata 1
drop sb-strata-
run_case sb_strata_100_acksall sb100 strata all
drop sb-strata-
run_case sb_mock_1k_acks1 sb1k mock 1
run_case sb_strata_1k_acks1 sb1k strata 1
drop sb-strata-
run_case sb_strata_1k_acksall sb1k strata all
drop sb-strata-

# End-to-end latency with strata-bench: 10,000 msg/s of 100 B, linger 0,
# latency from each record's intended send time to its consumption.
e2e() { # rep
    ./build/strata-bench e2e --bootstrap "127.0.0.1:$port" --topic "e2e-$1" \
        --record-size 100 --throughput 10000 --duration 10 --linger-ms 0 \
        --json --quiet 2>/dev/null |
        /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); l=d["latency_ms"]; print(l["p50"], l["p99"], l["p99_9"])'
}
declare -a lat50 lat99 lat999
for r in $(seq "$reps"); do
    read -r a b c < <(e2e "$r")
    lat50+=("$a"); lat99+=("$b"); lat999+=("$c")
done

med() { echo "${res[$1]}" | tr ' ' '\n' | grep . | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# The six produce cases of one client: keys KEY-PREFIX{mock,strata}_..., each
# printed by PRINTER; ratios against the mock's rate in the same run.
produce_rows() { # printer key-prefix
    local m100 m1k
    m100=$(med "$2mock_100_acks1.msgs")
    m1k=$(med "$2mock_1k_acks1.mb")
    $1 "mock, 100 B, acks=1" "$2mock_100_acks1" "1.00"
    $1 "strata, 100 B, acks=1" "$2strata_100_acks1" "$(ratio "$(med "$2strata_100_acks1.msgs")" "$m100")"
    $1 "strata, 100 B, acks=all" "$2strata_100_acksall" "$(ratio "$(med "$2strata_100_acksall.msgs")" "$m100")"
    $1 "mock, 1 KiB, acks=1" "$2mock_1k_acks1" "1.00"
    $1 "strata, 1 KiB, acks=1" "$2strata_1k_acks1" "$(ratio "$(med "$2strata_1k_acks1.mb")" "$m1k")"
    $1 "strata, 1 KiB, acks=all" "$2strata_1k_acksall" "$(ratio "$(med "$2strata_1k_acksall.mb")" "$m1k")"
}
printf '\nmedians of %d runs (%s, %d cores, rdkafka_performance %s)\n' "$reps" \
    "$(date -u +%Y-%m-%dT%H:%MZ)" "$(nproc)" "$(pkg-config --modversion rdkafka)"
[ ${#sets[@]} -gt 0 ] && printf 'broker settings: %s\n' "${sets[*]}"
printf 'steal time during the runs: %s%% of the CPU time\n' "$(bench_steal_pct)"
printf '\nclient rdkafka_performance\n'
printf '%-36s %12s %10s %10s\n' case msgs/s MB/s "vs mock"
line() { # label key ref
    printf '%-36s %12s %10s %10s\n' "$1" "$(med "$2.msgs")" "$(med "$2.mb")" "$3"
}
produce_rows line ""
dk=$(med disk_1k_read.mb)
line "strata, 1 KiB, consumer catch-up" strata_1k_catchup "$(ratio "$(med strata_1k_catchup.mb)" "$dk") disk"
line "  the same from the page cache" strata_1k_catchup_cached "-"
line "the disk alone (fio O_DIRECT)" disk_1k_read "1.00 disk"
printf '\nclient strata-bench (cpu-s/GB: the broker'"'"'s, or the mock'"'"'s, CPU-seconds per GB)\n'
printf '%-36s %12s %10s %10s %10s\n' case records/s MB/s "vs mock" cpu-s/GB
sbline() { # label key ref
    printf '%-36s %12s %10s %10s %10s\n' "$1" "$(med "$2.msgs")" "$(med "$2.mb")" "$3" "$(med "$2.cpu")"
}
produce_rows sbline sb_
line "strata, 1 KiB, consumer catch-up" sb_strata_1k_catchup "$(ratio "$(med sb_strata_1k_catchup.mb)" "$dk") disk"
line "  the same from the page cache" sb_strata_1k_catchup_cached "-"
line "the disk alone, write (fio O_DIRECT)" disk_write "$(ratio "$(med disk_write.mb)" "$(med sb_mock_100_acks1.mb)") mock"
printf '%-36s p50 %s ms, p99 %s ms, p99.9 %s ms\n' "strata e2e, 10k msg/s, 100 B" \
    "$(printf '%s\n' "${lat50[@]}" | median)" "$(printf '%s\n' "${lat99[@]}" | median)" \
    "$(printf '%s\n' "${lat999[@]}" | median)"

printf '\nresources\n'
/usr/bin/python3 bench/resources.py --strata build/strata
