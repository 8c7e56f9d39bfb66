# Sourced by the bench scripts: starting a broker on a loopback port, and
# the steal time of a run.

# A port for a broker: below the ephemeral range (32768 on), where a
# client's own connection could hold it.
bench_port() { echo $((20000 + RANDOM % 12000)); }

# Waits up to 5 s for the broker PID to listen on PORT; returns 1, with the
# last line of its LOG on stderr, when it exited instead (the port taken,
# a bad setting), rather than leaving a client to wait for it forever.
bench_wait_broker() { # pid port log
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && break
        sleep 0.1
    done
    kill -0 "$1" 2>/dev/null && return 0
    echo "the broker did not start: $(tail -1 "$3")" >&2
    return 1
}

# Steal time: the share of CPU time the hypervisor gave to other guests
# (/proc/stat). On a shared host it comes and goes by the minute and moves
# every figure, so the scripts print it. bench_steal_mark saves the
# counters; bench_steal_pct prints the percentage since then.
bench_steal_mark() {
    bench_steal0=$(awk '/^cpu / {print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $9}' /proc/stat)
}
bench_steal_pct() {
    awk -v m="$bench_steal0" '/^cpu / {
        split(m, a, " ")
        all = $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 - a[1]
        printf "%.1f", (all > 0 ? 100 * ($9 - a[2]) / all : 0)
    }' /proc/stat
}

# CPU time of a whole process (every thread, user + system), in clock
# ticks, and the CPU-seconds per GB between two readings: steadier than
# the rates on a noisy machine.
bench_cpu_ticks() { # pid
    awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat"
}
bench_cpu_per_gb() { # ticks0 ticks1 bytes
    awk -v t=$(($2 - $1)) -v hz="$(getconf CLK_TCK)" -v b="$3" \
        'BEGIN { if (b > 0) printf "%.3f", t / hz / (b / 1e9); else print "n/a" }'
}
