#!/usr/bin/env bash
# Instructions per call (callgrind, exact and repeatable) for swdemux and
# libpcap on the same frames, in one run. Needs valgrind, tcpdump, libpcap.
# Usage (from the repository root): bash swdemux/benches/callgrind.sh
set -euo pipefail
cargo build --release -p swdemux --example bpf_callgrind >/dev/null 2>&1
BIN=target/release/examples/bpf_callgrind
per_call() { # mode arg iterations toggle-function
    local ir
    ir=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect="$4" \
        "$BIN" "$1" "$2" "$3" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
    echo $(( ir / $3 ))
}
cases=("ip" "tcp dst port 80" "tcp port 80" "udp and host 10.0.0.1")
printf '%-24s %8s %8s %6s\n' filter swdemux libpcap ratio
for i in 0 1 2 3; do
    o=$(per_call ours $i 10000 '*run_ours*')
    l=$(per_call libpcap $i 10000 'pcap_offline_filter')
    printf '%-24s %8d %8d %6.2f\n' "${cases[$i]}" "$o" "$l" "$(echo "$o / $l" | bc -l)"
done
printf '\n%-6s %14s %20s\n' N swdemux-table libpcap-first-match
for n in 1 8 64 512 4096; do
    t=$(per_call table $n 10000 '*run_table*')
    if [ "$n" -le 512 ]; then l=$(per_call libpcap-list $n 200 '*run_pcap_list*'); else l=-; fi
    printf '%-6s %14s %20s\n' "$n" "$t" "$l"
done
