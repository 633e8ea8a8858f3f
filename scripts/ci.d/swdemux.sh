#!/usr/bin/env bash
# swdemux: differential tests against libpcap (tcpdump's bytecode in our
# interpreter, and our expression compiler), on the committed real captures.
# Installs tcpdump and libpcap-dev itself; under CI=true nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."
need_install=false
command -v tcpdump >/dev/null 2>&1 || need_install=true
[ -e /usr/include/pcap/pcap.h ] || need_install=true
if $need_install; then
    if ! { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y tcpdump libpcap-dev >/dev/null; }; then
        echo "swdemux: could not install tcpdump and libpcap-dev" >&2
        if [ "${CI:-false}" = "true" ]; then exit 1; fi
    fi
fi
# The differential tests are #[ignore]d in plain `cargo test` (they need the
# tools above); run them here, where CI=true makes a missing tool fatal.
cargo test -p swdemux --release --test libpcap_diff -- --include-ignored
