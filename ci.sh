#!/usr/bin/env bash
# The test command: every check the project has, from a fresh machine.
#
#   ./ci.sh            everything
#
# Installs what it needs (rustup targets and components, Debian packages,
# cargo tools) and is idempotent. Under CI=true nothing may be skipped: a
# step that cannot run fails the run. Elsewhere a step that needs something
# missing says why it is skipped.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
export ROOT
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
CI=${CI:-false}
export CI

FAILURES=()
step() { printf '\n==== %s\n' "$*"; }
fail_later() { printf '!!!! %s\n' "$*" >&2; FAILURES+=("$*"); }
# skip REASON: a step could not run. Fatal under CI=true.
skip() {
    if [ "$CI" = "true" ]; then
        fail_later "CI=true and a step cannot run: $*"
    else
        printf 'SKIPPED: %s\n' "$*" >&2
    fi
}

# Library crates: no_std, built for bare-metal targets and linked by the canary.
LIB_CRATES=(netwire nic-traits bulk-queue swdemux hwdemux ixgbe-nostd tcp-lite)
NO_STD_TARGETS=(thumbv7em-none-eabihf thumbv6m-none-eabi x86_64-unknown-none)
MSRV=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)

step "toolchain: components and targets"
rustup component add rustfmt clippy >/dev/null 2>&1 || fail_later "rustup could not add rustfmt/clippy"
# Miri (bulk-queue, miri-datapath) and cargo-fuzz (fuzz) need nightly; the ci.d scripts add their components.
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal >/dev/null 2>&1 || fail_later "rustup could not install nightly"
fi
INSTALLED_TARGETS=()
for t in "${NO_STD_TARGETS[@]}"; do
    if rustup target list --installed | grep -qx "$t" || rustup target add "$t" >/dev/null 2>&1; then
        INSTALLED_TARGETS+=("$t")
    else
        printf '\n!!!!!!!! could not install target %s: its no_std build is NOT checked; the canary still runs !!!!!!!!\n\n' "$t" >&2
        skip "no_std build for $t (target not installable)"
    fi
done

step "cargo fmt --check"
cargo fmt --all -- --check
# Projects outside the workspace: the canary and tcp-lite's size comparison.
for extra in canary tcp-lite/size; do cargo fmt --manifest-path "$extra/Cargo.toml" -- --check; done

step "cargo clippy (all targets, all features, -D warnings)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo test (unit, integration, doc)"
cargo test --workspace

step "cargo doc (broken links and doc warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features

step "no_std builds of the library crates"
pkgs=()
for c in "${LIB_CRATES[@]}"; do pkgs+=(-p "$c"); done
for t in "${INSTALLED_TARGETS[@]}"; do
    echo "-- $t"
    cargo build --release --target "$t" "${pkgs[@]}"
    cargo build --release --target "$t" "${pkgs[@]}" --features "$(printf '%s/defmt,' "${LIB_CRATES[@]}" | sed 's/,$//')"
done

step "no_std canary: a #![no_main] binary linking every library crate"
(cd canary && cargo build --release)
echo "canary linked: $(stat -c %s canary/target/x86_64-unknown-linux-gnu/release/canary) bytes"
# The canary must be able to fail: enabling one crate's std feature must break the link.
if (cd canary && cargo build --release --features leak-std --target-dir target/leak) >target-leak.log 2>&1; then
    fail_later "canary linked with a deliberate std leak: it cannot catch one"
elif grep -q 'duplicate lang item' target-leak.log; then
    echo "canary with a deliberate std leak fails as it should: $(grep -m1 -o 'found duplicate lang item `panic_impl`' target-leak.log)"
else
    cat target-leak.log >&2
    fail_later "the std-leak canary build failed for another reason than the leak"
fi
rm -f target-leak.log

step "MSRV $MSRV: cargo check of the library crates"
if rustup toolchain list | grep -q "^$MSRV" || rustup toolchain install "$MSRV" --profile minimal >/dev/null 2>&1; then
    cargo "+$MSRV" check --target-dir target/msrv "${pkgs[@]}"
else
    skip "MSRV check ($MSRV toolchain not installable)"
fi

# Crate-specific checks (loom, differential tests, fuzz smoke runs, ...).
for extra in scripts/ci.d/*.sh; do
    [ -e "$extra" ] || continue
    step "$extra"
    bash "$extra" || fail_later "$extra"
done

step "main demonstration"
cargo run --release -p nic-examples --bin demo

if [ ${#FAILURES[@]} -ne 0 ]; then
    printf '\nFAILED:\n' >&2
    printf '  %s\n' "${FAILURES[@]}" >&2
    exit 1
fi
printf '\nci.sh: all checks passed\n'
