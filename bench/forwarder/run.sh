#!/bin/sh
# lbfwd against HAProxy 2.6 and nginx stream on loopback: see run.py --help and
# doc/performance.md. Examples:
#   bench/forwarder/run.sh --quick            # everything once, briefly (CI smoke test)
#   bench/forwarder/run.sh                    # 5 runs x 5 s per path, 8000 connections held
#   bench/forwarder/run.sh --paths haproxy-splice,lbfwd --measures throughput
ulimit -n 20000 2>/dev/null || true
exec python3 "$(dirname "$0")/run.py" "$@"
