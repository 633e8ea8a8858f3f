#!/usr/bin/env bash
# Builds the tcp-lite, smoltcp 0.14 (smoltcp_echo) and smoltcp 0.13 (smoltcp013_echo) echo
# servers for thumbv7em-none-eabihf (opt-level "s", LTO, panic=abort, codegen-units=1) and
# prints flash (text + rodata) and per-connection RAM.
set -euo pipefail
cd "$(dirname "$0")"
rustup target add thumbv7em-none-eabihf >/dev/null 2>&1 || true
SIZE=$(command -v llvm-size || command -v rust-size || command -v arm-none-eabi-size || true)
NM=$(command -v llvm-nm || command -v arm-none-eabi-nm || true)
if [ -z "$SIZE" ] || [ -z "$NM" ]; then
    apt-get update >/dev/null && apt-get install -y llvm >/dev/null
    SIZE=$(command -v llvm-size); NM=$(command -v llvm-nm)
fi
cargo build --release --bins --quiet
OUT=target/thumbv7em-none-eabihf/release
printf '%-16s %8s %8s %8s %10s\n' binary text rodata data flash
for b in tcplite_echo smoltcp_echo smoltcp013_echo; do
    read -r text rodata data < <("$SIZE" -A "$OUT/$b" | awk '
        $1==".text"{t=$2} $1==".rodata"{r=$2} $1==".data"{d=$2} END{print t+0, r+0, d+0}')
    printf '%-16s %8d %8d %8d %10d\n' "$b" "$text" "$rodata" "$data" $((text + rodata))
done
echo "per-connection RAM without buffer storage (size_of on thumbv7em):"
"$NM" -S "$OUT/probe" | while read -r _ size _ name; do case "$name" in TCPLITE_SOCKET|SMOLTCP_SOCKET|SMOLTCP013_SOCKET) printf "  %-18s %d bytes\n" "$name" $((16#$size));; esac; done
