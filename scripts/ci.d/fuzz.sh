#!/usr/bin/env bash
# Fuzzing smoke run: builds every cargo-fuzz target in fuzz/ and runs each for
# FUZZ_SECONDS (default 30) from a temporary copy of its committed seed corpus,
# two targets at a time (the machine has two cores). Fails on any build
# failure or crash; the crashing input is left in fuzz/artifacts/<target>/
# (git-ignored) for `cargo +nightly fuzz run --fuzz-dir fuzz <target> <file>`.
# Installs the nightly toolchain and cargo-fuzz itself if missing; under
# CI=true nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${FUZZ_SECONDS:-30}"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked || cargo install cargo-fuzz
fi

targets=$(cargo +nightly fuzz list --fuzz-dir fuzz)
if [ -z "$targets" ]; then
    echo "fuzz: no targets listed" >&2
    exit 1
fi

echo "fuzz: building $(echo "$targets" | wc -w) targets"
cargo +nightly fuzz build --fuzz-dir fuzz

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run_one() {
    local t=$1
    mkdir -p "$work/$t" fuzz/artifacts/"$t"
    if [ -d "fuzz/corpus/$t" ]; then
        cp -r "fuzz/corpus/$t/." "$work/$t/"
    fi
    local dict=()
    if [ -f "fuzz/dict/$t.dict" ]; then
        dict=("-dict=$PWD/fuzz/dict/$t.dict")
    fi
    # The outer timeout bounds a hung target; -timeout flags a slow input.
    timeout $((seconds + 120)) cargo +nightly fuzz run --fuzz-dir fuzz "$t" "$work/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=3072 -print_final_stats=1 \
        "${dict[@]}" >"$work/$t.log" 2>&1
}

status=0
set -- $targets
while [ $# -gt 0 ]; do
    pids=()
    names=()
    for _ in 1 2; do
        [ $# -gt 0 ] || break
        run_one "$1" &
        pids+=($!)
        names+=("$1")
        shift
    done
    for i in "${!pids[@]}"; do
        t=${names[$i]}
        if wait "${pids[$i]}"; then
            execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$' || true)
            echo "fuzz: $t ok (${execs:-?} executions in ${seconds}s)"
        else
            echo "fuzz: $t FAILED; last lines of its log:" >&2
            tail -n 40 "$work/$t.log" >&2
            status=1
        fi
    done
done
exit "$status"
