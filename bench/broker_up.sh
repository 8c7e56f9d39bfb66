# Sourced by the bench scripts: starting a broker on a loopback port.

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
