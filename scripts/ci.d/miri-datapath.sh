#!/usr/bin/env bash
# Miri over the receive/transmit data path's unsafe code: nic-traits' unit tests (PacketBuf
# headers, Batch slots kept as MaybeUninit with the occupied range as the only record, the
# panic-safety of bulk drains) and the ixgbe data-path tests that move buffers through the
# driver's receive slots and rings against the 82599 model (recycle, refill refusals, device
# faults, multi-descriptor frames, ring exhaustion, mixed transmit contexts). The test helpers
# leak their DMA regions on purpose (`Box::leak` stands in for memory that outlives the
# device), hence -Zmiri-ignore-leaks. About 1.5 minutes on the 2-core machine.
# Runs from the repository root. Under CI=true nothing is skipped.
set -euo pipefail
CI=${CI:-false}

if ! { rustup +nightly component list --installed 2>/dev/null | grep -q '^miri' \
    || rustup +nightly component add miri rust-src >/dev/null 2>&1; }; then
    if [ "$CI" = "true" ]; then
        echo "miri-datapath: miri could not be installed (rustup +nightly component add miri rust-src)" >&2
        exit 1
    fi
    echo "SKIPPED: miri-datapath (miri not installable here)" >&2
    exit 0
fi
cargo +nightly miri setup >/dev/null 2>&1 || true
export MIRIFLAGS="-Zmiri-ignore-leaks"

echo "-- nic-traits: miri (unit tests)"
cargo +nightly miri test -p nic-traits --lib --target-dir target/miri

echo "-- ixgbe-nostd: miri (data-path tests)"
TESTS=(
    recycle_moves_sent_buffers_back_to_the_receive_ring
    garbage_length_is_a_device_fault_and_keeps_the_buffer
    done_on_an_unposted_descriptor_is_a_device_fault
    a_multi_descriptor_frame_is_dropped_whole_and_the_ring_keeps_working
    ring_exhaustion_counts_drops_and_loses_no_buffer
    mixed_offloads_share_and_switch_contexts_and_a_full_ring_keeps_the_order
    refill_refuses_a_buffer_too_small_for_the_device_and_keeps_the_order
    release_keeps_the_buffers_while_the_device_runs_the_queue
)
cargo +nightly miri test -p ixgbe-nostd --test datapath --target-dir target/miri \
    -- --exact "${TESTS[@]}" | tee target/miri/datapath.log
# Every named test ran: a rename cannot drop one silently.
grep -q "${#TESTS[@]} passed" target/miri/datapath.log
