#!/usr/bin/env bash
# nic-sim: tcpdump must read the capture files nic-sim writes. Installs
# tcpdump when missing; under CI=true a missing tcpdump fails the run.
set -euo pipefail
if ! command -v tcpdump >/dev/null 2>&1; then
    echo "installing tcpdump"
    (apt-get update -qq && apt-get install -y -qq tcpdump >/dev/null) ||
        echo "apt-get could not install tcpdump" >&2
fi
if ! command -v tcpdump >/dev/null 2>&1; then
    if [ "${CI:-false}" = "true" ]; then
        echo "CI=true and tcpdump is not available" >&2
        exit 1
    fi
    echo "SKIPPED: tcpdump is not available, the capture-format check did not run" >&2
    exit 0
fi
cargo test -p nic-sim --test tcpdump -- --ignored
