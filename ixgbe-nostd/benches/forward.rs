//! Forwarding loop on the 82599 model, for instruction counts per packet.
//!
//! Each round: the model receives 32 frames; the driver takes them with
//! one `rx_burst`, sends them with one `tx_burst`, reclaims the sent
//! buffers with `tx_reclaim` and posts them again with `refill` (argument
//! `plain`), or moves them straight back with `recycle` (argument
//! `recycle`). The first argument picks the transmit completion: `dd`
//! (descriptor done) or `head` (head write-back). The four
//! driver calls go through `#[inline(never)]` wrappers (`drv_*`) so
//! callgrind can count their inclusive cost alone:
//!
//! ```text
//! cargo bench -p ixgbe-nostd --bench forward --no-run
//! valgrind --tool=callgrind --callgrind-out-file=cg.out \
//!     --toggle-collect='forward::drv_*' target/release/deps/forward-<hash> dd plain 2000
//! callgrind_annotate cg.out | head
//! ```
//!
//! Doorbell writes (RDT, TDT) from inside the driver are latched in an
//! atomic (one store, like the MMIO store on hardware) and handed to the
//! model after each driver call, so the model's work is not counted in the
//! driver's; the model's own cost is counted under `forward::model_*`.
//! Every round checks that the frames the model transmitted are the frames
//! it received, unchanged and in order.
//!
//! The driver keeps each frame's receive write-back raw; a fourth argument
//! `meta` makes the loop decode every frame's metadata (`PacketBuf::rx`) in
//! `forward::user_meta`, counted with `--toggle-collect='forward::user_*'`.
//! The argument `floor` runs the contract floor instead (`forward::floor_*`).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use ixgbe_nostd::{Config, Ixgbe, IxgbeQueue, TxCompletion, regs};
use nic_sim::SimDma;
use nic_sim::i82599::{I82599, NoDelay};
use nic_traits::{Batch, CardDriver, Dma, PacketBuf, QueueConfig, QueueDriver, RegisterAccess};

const BURST: usize = 32;
const NONE: u32 = u32::MAX;

/// Register access to the model that latches the queue's two doorbells.
#[derive(Debug, Clone)]
struct Latched {
    dev: I82599,
    rdt: Arc<AtomicU32>,
    tdt: Arc<AtomicU32>,
}

impl RegisterAccess for Latched {
    #[inline(always)]
    fn read32(&self, offset: usize) -> u32 {
        self.dev.read32(offset)
    }

    #[inline(always)]
    fn write32(&self, offset: usize, value: u32) {
        if offset == regs::rdt(0) {
            self.rdt.store(value, Ordering::Relaxed);
        } else if offset == regs::tdt(0) {
            self.tdt.store(value, Ordering::Relaxed);
        } else {
            self.dev.write32(offset, value)
        }
    }
}

type Q = IxgbeQueue<Latched, 512, 512>;

#[inline(never)]
fn drv_rx(q: &mut Q, b: &mut Batch<BURST>) -> usize {
    q.rx_burst(b).unwrap_or(0)
}

#[inline(never)]
fn drv_tx(q: &mut Q, b: &mut Batch<BURST>) -> usize {
    q.tx_burst(b).unwrap_or(0)
}

#[inline(never)]
fn drv_reclaim(q: &mut Q, b: &mut Batch<BURST>) -> usize {
    q.tx_reclaim(b).unwrap_or(0)
}

#[inline(never)]
fn drv_refill(q: &mut Q, b: &mut Batch<BURST>) -> usize {
    q.refill(b).unwrap_or(0)
}

#[inline(never)]
fn drv_recycle(q: &mut Q) -> usize {
    q.recycle(128).unwrap_or(0)
}

#[inline(never)]
fn model_receive(dev: &I82599, frames: &[Vec<u8>]) {
    let mut m = dev.model();
    for f in frames {
        m.inject(f);
    }
}

#[inline(never)]
fn model_doorbells(l: &Latched) -> Vec<Vec<u8>> {
    for (reg, cell) in [(regs::rdt(0), &l.rdt), (regs::tdt(0), &l.tdt)] {
        let v = cell.swap(NONE, Ordering::Relaxed);
        if v != NONE {
            l.dev.write32(reg, v);
        }
    }
    l.dev.model().take_transmitted()
}

/// What a stack asks of the received frames' metadata (decoded on access
/// from the raw write-back the driver kept): counted on its own, as
/// `forward::user_*`, with the fourth argument `meta`.
#[inline(never)]
fn user_meta(b: &Batch<BURST>) -> u32 {
    b.iter().fold(0, |a, buf| {
        let m = buf.rx();
        a ^ m.rss_hash ^ u32::from(m.flags.bits()) ^ u32::from(m.packet_type)
    })
}

/// The contract's floor: the same four hand-overs per packet (slot to batch,
/// batch to slot, twice) with no descriptor, register or validation work.
/// The rings are `Option<PacketBuf>` slots (as the driver's transmit ring)
/// indexed by free-running counters.
struct Floor {
    rx: [Option<PacketBuf>; 512],
    tx: [Option<PacketBuf>; 512],
    rx_next: usize,
    rx_tail: usize,
    tx_next: usize,
    tx_tail: usize,
}

/// Moves up to `tail - next` buffers from `ring` (from `next` on) to `b`.
#[inline(always)]
fn floor_take(
    ring: &mut [Option<PacketBuf>; 512],
    next: &mut usize,
    tail: usize,
    b: &mut Batch<BURST>,
) -> usize {
    let mut k = *next;
    let n = b.fill_from(tail.wrapping_sub(k), || {
        let buf = ring[k % 512].take();
        k = k.wrapping_add(1);
        buf
    });
    *next = next.wrapping_add(n);
    n
}

/// Moves every buffer of `b` into `ring` from `tail` on.
#[inline(always)]
fn floor_put(ring: &mut [Option<PacketBuf>; 512], tail: &mut usize, b: &mut Batch<BURST>) -> usize {
    let mut t = *tail;
    let n = b.drain_into(usize::MAX, |buf| {
        ring[t % 512] = Some(buf);
        t = t.wrapping_add(1);
        Ok(())
    });
    *tail = t;
    n
}

#[inline(never)]
fn floor_rx(f: &mut Floor, b: &mut Batch<BURST>) -> usize {
    floor_take(&mut f.rx, &mut f.rx_next, f.rx_tail, b)
}

#[inline(never)]
fn floor_tx(f: &mut Floor, b: &mut Batch<BURST>) -> usize {
    floor_put(&mut f.tx, &mut f.tx_tail, b)
}

#[inline(never)]
fn floor_reclaim(f: &mut Floor, b: &mut Batch<BURST>) -> usize {
    floor_take(&mut f.tx, &mut f.tx_next, f.tx_tail, b)
}

#[inline(never)]
fn floor_refill(f: &mut Floor, b: &mut Batch<BURST>) -> usize {
    floor_put(&mut f.rx, &mut f.rx_tail, b)
}

/// Runs the floor loop: `rounds` rounds of 32 buffers.
fn floor(dma: &SimDma, rounds: usize) {
    let region = dma.alloc(64 * 2240, 4096).expect("dma");
    let mut f = Floor {
        rx: [const { None }; 512],
        tx: [const { None }; 512],
        rx_next: 0,
        rx_tail: 0,
        tx_next: 0,
        tx_tail: 0,
    };
    for buf in region.into_buffers(2240, 128) {
        f.rx[f.rx_tail] = Some(buf);
        f.rx_tail += 1;
    }
    let mut batch: Batch<BURST> = Batch::new();
    let mut moved = 0;
    for _ in 0..rounds {
        floor_rx(&mut f, &mut batch);
        moved += floor_tx(&mut f, &mut batch);
        floor_reclaim(&mut f, &mut batch);
        floor_refill(&mut f, &mut batch);
    }
    assert_eq!(moved, rounds * BURST);
    println!("floor: moved {moved} buffers through the four hand-overs");
}

fn frame(i: u8) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 0xa]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 0xb]);
    f[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    f[14] = i;
    f
}

fn main() {
    let completion = match std::env::args().nth(1).as_deref() {
        Some("head") => TxCompletion::HeadWriteBack,
        _ => TxCompletion::DescriptorDone,
    };
    let recycle = std::env::args().nth(2).as_deref() == Some("recycle");
    let meta = std::env::args().nth(4).as_deref() == Some("meta");
    let rounds: usize = std::env::args()
        .nth(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let dma = SimDma::new();
    if std::env::args().nth(1).as_deref() == Some("floor") {
        floor(&dma, rounds);
        return;
    }
    let dev = I82599::new(dma.clone(), [2, 0, 0, 0, 0, 0xa]);
    let regs = Latched {
        dev: dev.clone(),
        rdt: Arc::new(AtomicU32::new(NONE)),
        tdt: Arc::new(AtomicU32::new(NONE)),
    };
    let config = Config {
        tx_completion: completion,
        ..Config::default()
    };
    let mut card: Ixgbe<_, _, _, 512, 512> =
        Ixgbe::new(regs.clone(), dma.clone(), NoDelay, config).expect("bring-up");
    let qc = QueueConfig {
        rx_ring: 512,
        tx_ring: 512,
        rx_buf_len: 2048,
    };
    let mut q: Q = card.queue(0, qc).expect("queue");
    let region = dma.alloc(544 * 2240, 4096).expect("dma");
    let mut bufs = region.into_buffers(2240, 128);
    // Fill the receive ring (511 usable slots) in bursts.
    loop {
        let mut b: Batch<BURST> = Batch::new();
        for buf in bufs.by_ref().take(BURST.min(q.rx_free())) {
            let _ = b.push_back(buf);
        }
        if b.is_empty() {
            break;
        }
        drv_refill(&mut q, &mut b);
        assert!(b.is_empty());
    }
    assert!(model_doorbells(&regs).is_empty());
    let frames: Vec<Vec<u8>> = (0..BURST as u8).map(frame).collect();
    let mut forwarded = 0usize;
    let mut batch: Batch<BURST> = Batch::new();
    let mut free: Batch<BURST> = Batch::new();
    for _ in 0..rounds {
        model_receive(&dev, &frames);
        let n = drv_rx(&mut q, &mut batch);
        if meta {
            black_box(user_meta(&batch));
        }
        let sent = drv_tx(&mut q, &mut batch);
        assert_eq!((n, sent), (BURST, BURST));
        // Every frame received went out unchanged, in order.
        assert_eq!(model_doorbells(&regs), frames);
        if recycle {
            assert_eq!(drv_recycle(&mut q), BURST);
        } else {
            let done = drv_reclaim(&mut q, &mut free);
            assert_eq!(done, BURST);
            for b in free.iter_mut() {
                b.reset(128);
            }
            let posted = drv_refill(&mut q, &mut free);
            assert_eq!(posted, BURST);
        }
        assert!(model_doorbells(&regs).is_empty());
        forwarded += sent;
    }
    let m = dev.model();
    assert_eq!(m.counters.missed, 0);
    assert_eq!(m.counters.transmitted as usize, forwarded);
    let how = if recycle {
        "recycle"
    } else {
        "tx_reclaim + refill"
    };
    println!("forwarded {forwarded} packets in {rounds} rounds of {BURST} ({completion:?}, {how})");
}
