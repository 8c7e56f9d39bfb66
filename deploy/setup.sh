#!/usr/bin/env bash
# Strata set-up on a fresh Debian/Ubuntu machine, as root:
#   deploy/setup.sh run [strata args...]   install what is missing, build
#                                          (release preset, build/), start
#                                          build/strata with its defaults
#   deploy/setup.sh test                   the same set-up, then the whole
#                                          test suite: format check, unit +
#                                          integration (release, and the core
#                                          tests again in every log.io.mode),
#                                          again under
#                                          ASan/UBSan with -Werror, and the
#                                          decoder fuzzers (clang, -Werror)
# Packages are installed with apt-get only when missing, so a second run is
# quick and works offline.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
[ $# -gt 0 ] && shift

build_pkgs=(build-essential cmake pkg-config libuv1-dev liblz4-dev
    liburing-dev libnuma-dev libjemalloc-dev libcmocka-dev libzstd-dev
    libsnappy-dev zlib1g-dev libmicrohttpd-dev)
# prometheus: for promtool, which checks the /metrics output and the alert
# rules (where systemd runs, the package also starts a Prometheus server on
# :9090); python3-yaml: test_deploy.py reads the rules and the dashboard;
# golang-go and golang-github-shopify-sarama-dev: test_sarama.py builds a
# sarama (Go) client
test_pkgs=(kcat python3 python3-pytest python3-confluent-kafka python3-kafka
    clang libclang-rt-dev clang-format prometheus python3-yaml
    golang-go golang-github-shopify-sarama-dev)

missing() {
    local p out=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q "install ok installed" || out+=("$p")
    done
    echo "${out[@]}"
}

install() {
    local need
    need=$(missing "$@")
    [ -z "$need" ] && return 0
    echo "setup: installing $need"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $need >/dev/null
}

jobs=$(nproc 2>/dev/null || echo 2)

build() { # preset
    cmake --preset "$1" >/dev/null
    cmake --build --preset "$1" -j"$jobs"
}

case "$mode" in
run)
    install "${build_pkgs[@]}"
    build release
    exec ./build/strata "$@"
    ;;
test)
    install "${build_pkgs[@]}" "${test_pkgs[@]}"
    command -v node >/dev/null && command -v npm >/dev/null || install nodejs npm
    if [ -f tests/integration/js/package-lock.json ]; then
        (cd tests/integration/js && npm ci --no-audit --no-fund --loglevel=error)
    fi
    export CTEST_OUTPUT_ON_FAILURE=1
    build release
    cmake --build build --target format-check
    # io_modes: the core integration tests again under each log.io.mode
    ctest --test-dir build -j2 -L 'unit|integration|io_modes'
    echo "setup: again under AddressSanitizer + UBSan"
    build asan
    ctest --test-dir build-asan -j2 -L 'unit|integration'
    echo "setup: decoder fuzzers (libFuzzer)"
    build fuzz
    ctest --test-dir build-fuzz -L fuzz
    ;;
*)
    echo "usage: deploy/setup.sh run|test [strata args...]" >&2
    exit 2
    ;;
esac
