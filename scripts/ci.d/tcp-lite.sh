#!/usr/bin/env bash
# tcp-lite: runs the tests of its optional features (UDP, CUBIC), then builds the
# size-comparison project (tcp-lite and smoltcp echo servers for thumbv7em-none-eabihf) and
# fails if tcp-lite's per-connection RAM (socket without buffers) exceeds 160 bytes (the
# target), if its RAM or flash is not below smoltcp's, or if its flash exceeds FLASH_CEILING,
# the target of 12 KiB (12 288 bytes) for the echo server (see tcp-lite/BENCHMARKS.md).
set -euo pipefail
FLASH_CEILING=12288 # the target; measured 12 102 B (tcp-lite/BENCHMARKS.md)
RAM_TARGET=160
cargo test -p tcp-lite --features udp,cubic
out=$(bash tcp-lite/size/measure.sh)
echo "$out"
flash() { echo "$out" | awk -v b="$1" '$1==b{print $5}'; }
ram() { echo "$out" | awk -v s="$1" '$1==s{print $2}'; }
tl=$(flash tcplite_echo); sm=$(flash smoltcp_echo)
tr=$(ram TCPLITE_SOCKET); sr=$(ram SMOLTCP_SOCKET)
[ -n "$tl" ] && [ -n "$sm" ] && [ -n "$tr" ] && [ -n "$sr" ] || { echo "measure.sh printed no figures" >&2; exit 1; }
[ "$tr" -le "$RAM_TARGET" ] || { echo "tcp-lite socket $tr B > $RAM_TARGET B" >&2; exit 1; }
[ "$tr" -lt "$sr" ] || { echo "tcp-lite socket $tr B >= smoltcp $sr B" >&2; exit 1; }
[ "$tl" -lt "$sm" ] || { echo "tcp-lite flash $tl >= smoltcp $sm" >&2; exit 1; }
[ "$tl" -le "$FLASH_CEILING" ] || { echo "tcp-lite flash $tl > ceiling $FLASH_CEILING" >&2; exit 1; }
echo "tcp-lite size check passed: flash $tl B (< smoltcp $sm B, <= $FLASH_CEILING B), socket $tr B (<= $RAM_TARGET B, smoltcp $sr B)"
