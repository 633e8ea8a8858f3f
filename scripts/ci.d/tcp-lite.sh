#!/usr/bin/env bash
# tcp-lite: runs the tests of its optional features (UDP, CUBIC), then builds the
# size-comparison project (tcp-lite, smoltcp 0.14 and smoltcp 0.13 echo servers for
# thumbv7em-none-eabihf) and fails if tcp-lite's per-connection RAM (socket without buffers)
# exceeds 160 bytes (the target), if its RAM or flash is not below each smoltcp's, or if its
# flash exceeds FLASH_CEILING, the target of 12 KiB (12 288 bytes) for the echo server
# (see tcp-lite/BENCHMARKS.md).
set -euo pipefail
FLASH_CEILING=12288 # the target; measured 12 102 B (tcp-lite/BENCHMARKS.md)
RAM_TARGET=160
cargo test -p tcp-lite --features udp,cubic
out=$(bash tcp-lite/size/measure.sh)
echo "$out"
flash() { echo "$out" | awk -v b="$1" '$1==b{print $5}'; }
ram() { echo "$out" | awk -v s="$1" '$1==s{print $2}'; }
tl=$(flash tcplite_echo); sm=$(flash smoltcp_echo); sm13=$(flash smoltcp013_echo)
tr=$(ram TCPLITE_SOCKET); sr=$(ram SMOLTCP_SOCKET); sr13=$(ram SMOLTCP013_SOCKET)
for v in "$tl" "$sm" "$sm13" "$tr" "$sr" "$sr13"; do
    [ -n "$v" ] || { echo "measure.sh printed no figures" >&2; exit 1; }
done
[ "$tr" -le "$RAM_TARGET" ] || { echo "tcp-lite socket $tr B > $RAM_TARGET B" >&2; exit 1; }
[ "$tr" -lt "$sr" ] || { echo "tcp-lite socket $tr B >= smoltcp 0.14 $sr B" >&2; exit 1; }
[ "$tr" -lt "$sr13" ] || { echo "tcp-lite socket $tr B >= smoltcp 0.13 $sr13 B" >&2; exit 1; }
[ "$tl" -lt "$sm" ] || { echo "tcp-lite flash $tl >= smoltcp 0.14 $sm" >&2; exit 1; }
[ "$tl" -lt "$sm13" ] || { echo "tcp-lite flash $tl >= smoltcp 0.13 $sm13" >&2; exit 1; }
[ "$tl" -le "$FLASH_CEILING" ] || { echo "tcp-lite flash $tl > ceiling $FLASH_CEILING" >&2; exit 1; }
echo "tcp-lite size check passed: flash $tl B (< smoltcp 0.14 $sm B, < smoltcp 0.13 $sm13 B," \
    "<= $FLASH_CEILING B), socket $tr B (<= $RAM_TARGET B, smoltcp 0.14 $sr B, 0.13 $sr13 B)"
