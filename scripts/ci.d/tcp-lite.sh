#!/usr/bin/env bash
# tcp-lite: runs the tests of its optional features (UDP, CUBIC), then builds the
# size-comparison project (tcp-lite and smoltcp echo servers for thumbv7em-none-eabihf) and
# fails if tcp-lite is not smaller than smoltcp in flash and in per-connection RAM.
set -euo pipefail
cargo test -p tcp-lite --features udp,cubic
out=$(bash tcp-lite/size/measure.sh)
echo "$out"
flash() { echo "$out" | awk -v b="$1" '$1==b{print $5}'; }
ram() { echo "$out" | awk -v s="$1" '$1==s{print $2}'; }
tl=$(flash tcplite_echo); sm=$(flash smoltcp_echo)
tr=$(ram TCPLITE_SOCKET); sr=$(ram SMOLTCP_SOCKET)
[ -n "$tl" ] && [ -n "$sm" ] && [ -n "$tr" ] && [ -n "$sr" ] || { echo "measure.sh printed no figures" >&2; exit 1; }
[ "$tl" -lt "$sm" ] || { echo "tcp-lite flash $tl >= smoltcp $sm" >&2; exit 1; }
[ "$tr" -lt "$sr" ] || { echo "tcp-lite socket $tr B >= smoltcp $sr B" >&2; exit 1; }
echo "tcp-lite size check passed: flash $tl < $sm, socket $tr B < $sr B"
