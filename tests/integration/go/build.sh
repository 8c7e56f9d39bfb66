#!/bin/sh
# Builds sarama_client.go against Debian's Go packages, in GOPATH mode:
#   build.sh OUT   (OUT: absolute path of the executable; Go's build cache
#                   goes beside it, in gocache/)
# Used by test_sarama.py and tests/tools/capture_proxy.py.
set -e
out=$1
cd "$(dirname "$0")"
GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= \
    GOCACHE="$(dirname "$out")/gocache" exec go build -o "$out" sarama_client.go
