//! A hostile device: between the driver's calls, arbitrary receive and
//! transmit descriptor write-backs, head write-backs and the 82599 model's
//! garbage knobs, mixed with real traffic. The queue driver never panics,
//! reports what it cannot believe as `DeviceFault`, and loses or duplicates
//! no buffer: every buffer given to it comes back exactly once, from
//! `rx_burst`, `tx_reclaim` or, after the queue stops, `release`.
#![no_main]

use std::collections::HashSet;

use arbitrary::Arbitrary;
use ixgbe_nostd::{Config, Ixgbe, TxCompletion};
use libfuzzer_sys::fuzz_target;
use nic_sim::SimDma;
use nic_sim::i82599::{I82599, NoDelay, RxGarbage, reg};
use nic_traits::{
    Batch, CardDriver, Dma, DmaRegion, ErrorKind, PacketBuf, QueueConfig, QueueDriver,
};

const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const RING: u16 = 64;
const BUFS: usize = 96;
// Header (64) + headroom + the 2048 bytes the device may write.
const BUF_LEN: usize = 2240;
const HEADROOM: u32 = 128;

#[derive(Debug, Arbitrary, Clone, Copy)]
enum Garbage {
    LengthTooLarge,
    DoneOnUnposted,
    TxHeadBeyondTail,
    TxHeadOutOfRange,
}

#[derive(Debug, Arbitrary)]
enum Op {
    /// A frame arrives from the wire: (length, fill byte).
    Inject(u16, u8),
    /// The device writes a receive descriptor word: (slot, upper word?,
    /// value, plausible?). Plausible values are DD|EOP with a length.
    RxDesc(u8, bool, u64, bool),
    /// The device writes a transmit descriptor's upper word (status).
    TxDesc(u8, u64),
    /// The device writes its transmit head to host memory.
    HeadWriteBack(u32),
    /// The model's next write-back carries this garbage.
    Knob(Garbage),
    /// Link up or down (down: the model holds transmits).
    Link(bool),
    /// The host posts up to this many free buffers.
    Refill(u8),
    /// The host takes received frames (up to 16).
    RxBurst,
    /// The host queues up to this many frames of this length.
    TxBurst(u8, u16),
    /// The host reclaims sent frames (up to 16).
    TxReclaim,
}

#[derive(Debug, Arbitrary)]
struct Input {
    head_write_back: bool,
    ops: Vec<Op>,
}

fn read_u64(dev: &I82599, off: usize) -> u64 {
    let m = dev.model();
    u64::from(m.peek(off)) | (u64::from(m.peek(off + 4)) << 32)
}

struct Ledger {
    /// Tags of the buffers the driver holds.
    driver: HashSet<u32>,
    /// Buffers the host holds.
    host: Vec<PacketBuf>,
}

impl Ledger {
    /// Buffers that left `batch` went to the driver.
    fn given<const N: usize>(&mut self, before: &[u32], batch: Batch<N>) {
        let left: HashSet<u32> = batch.iter().map(PacketBuf::tag).collect();
        for t in before {
            if !left.contains(t) {
                assert!(self.driver.insert(*t), "buffer {t} given twice");
            }
        }
        self.host.extend(batch);
    }

    /// Buffers the driver handed back.
    fn taken<const N: usize>(&mut self, batch: Batch<N>, what: &str) {
        for mut b in batch {
            assert!(
                self.driver.remove(&b.tag()),
                "{what} returned buffer {} the driver did not hold",
                b.tag()
            );
            assert!(b.len() <= b.capacity(), "{what}: length past capacity");
            let _ = b.data();
            b.reset(HEADROOM);
            self.host.push(b);
        }
    }
}

fuzz_target!(|input: Input| {
    let config = Config {
        tx_completion: if input.head_write_back {
            TxCompletion::HeadWriteBack
        } else {
            TxCompletion::DescriptorDone
        },
        ..Config::default()
    };
    let dma = SimDma::new();
    let dev = I82599::new(dma.clone(), MAC);
    let mut card: Ixgbe<I82599, SimDma, NoDelay> =
        Ixgbe::new(dev.clone(), dma.clone(), NoDelay, config).expect("bring-up");
    let mut q = card
        .queue(
            0,
            QueueConfig {
                rx_ring: RING,
                tx_ring: RING,
                rx_buf_len: 2048,
            },
        )
        .expect("queue");
    let region = dma.alloc(BUFS * BUF_LEN, 4096).expect("dma");
    let pool = (region.virt(), region.phys(), region.len());
    let mut ledger = Ledger {
        driver: HashSet::new(),
        host: region.into_buffers(BUF_LEN, HEADROOM as usize).collect(),
    };
    let all: HashSet<u32> = ledger.host.iter().map(PacketBuf::tag).collect();
    assert_eq!(all.len(), BUFS);
    let rx_base = read_u64(&dev, reg::rx(0) + reg::BAL);
    let tx_base = read_u64(&dev, reg::tx(0) + reg::BAL);
    let wb = read_u64(&dev, reg::tx(0) + reg::WBAL) & !3;

    for op in input.ops.iter().take(128) {
        match *op {
            Op::Inject(len, fill) => {
                let len = usize::from(len % 2100).max(14);
                let mut f = vec![fill; len];
                f[..6].copy_from_slice(&MAC);
                dev.inject(&f);
            }
            Op::RxDesc(slot, upper, v, plausible) => {
                let v = if plausible {
                    0b11 | ((v & 0xffff) << 32)
                } else {
                    v
                };
                let at = rx_base + 16 * (u64::from(slot) % u64::from(RING)) + 8 * u64::from(upper);
                // SAFETY: the hostile device writes the receive ring, which the
                // driver reads only through raw volatile accesses; no Rust
                // reference to it is live, and the target is single-threaded.
                unsafe { dma.write_u64(at, v) }.expect("ring write");
            }
            Op::TxDesc(slot, v) => {
                let at = tx_base + 16 * (u64::from(slot) % u64::from(RING)) + 8;
                // SAFETY: as for the receive ring.
                unsafe { dma.write_u64(at, v) }.expect("ring write");
            }
            Op::HeadWriteBack(h) => {
                if wb != 0 {
                    // SAFETY: the head write-back word is read by the driver
                    // only through a raw volatile load; no reference is live.
                    unsafe { dma.write(wb, &h.to_le_bytes()) }.expect("write-back area");
                }
            }
            Op::Knob(g) => {
                dev.model().faults.garbage = Some(match g {
                    Garbage::LengthTooLarge => RxGarbage::LengthTooLarge,
                    Garbage::DoneOnUnposted => RxGarbage::DoneOnUnposted,
                    Garbage::TxHeadBeyondTail => RxGarbage::TxHeadBeyondTail,
                    Garbage::TxHeadOutOfRange => RxGarbage::TxHeadOutOfRange,
                });
            }
            Op::Link(up) => dev.model().set_link(up),
            Op::Refill(n) => {
                let mut b: Batch<64> = Batch::new();
                for _ in 0..usize::from(n % 65) {
                    let Some(buf) = ledger.host.pop() else { break };
                    b.push_back(buf).expect("fits");
                }
                let before: Vec<u32> = b.iter().map(PacketBuf::tag).collect();
                let r = q.refill(&mut b);
                if let Ok(n) = r {
                    assert_eq!(n, before.len() - b.len());
                }
                ledger.given(&before, b);
            }
            Op::RxBurst => {
                let mut out: Batch<16> = Batch::new();
                let r = q.rx_burst(&mut out);
                if let Ok(n) = r {
                    assert_eq!(n, out.len());
                }
                match r {
                    Ok(_) | Err(ErrorKind::DeviceFault) => {}
                    Err(e) => panic!("rx_burst: {e:?}"),
                }
                ledger.taken(out, "rx_burst");
            }
            Op::TxBurst(n, len) => {
                let mut b: Batch<64> = Batch::new();
                let len = usize::from(len % 2048).max(14);
                for _ in 0..usize::from(n % 65) {
                    let Some(mut buf) = ledger.host.pop() else {
                        break;
                    };
                    let mut f = vec![0x5a; len.min(buf.tailroom() as usize)];
                    f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x0b]);
                    buf.append(&f).expect("frame fits");
                    b.push_back(buf).expect("fits");
                }
                let before: Vec<u32> = b.iter().map(PacketBuf::tag).collect();
                let r = q.tx_burst(&mut b);
                if let Ok(n) = r {
                    assert_eq!(n, before.len() - b.len());
                }
                for buf in b.iter_mut() {
                    buf.reset(HEADROOM);
                }
                ledger.given(&before, b);
            }
            Op::TxReclaim => {
                let mut done: Batch<16> = Batch::new();
                let r = q.tx_reclaim(&mut done);
                if let Ok(n) = r {
                    assert_eq!(n, done.len());
                }
                match r {
                    Ok(_) | Err(ErrorKind::DeviceFault) => {}
                    Err(e) => panic!("tx_reclaim: {e:?}"),
                }
                ledger.taken(done, "tx_reclaim");
            }
        }
        assert_eq!(
            ledger.driver.len() + ledger.host.len(),
            BUFS,
            "buffers lost"
        );
        assert!(q.rx_free() <= usize::from(RING));
        assert!(q.tx_free() <= usize::from(RING));
    }

    // Stop the queue and take everything back: exactly what the driver held.
    card.stop_queue(0).expect("stop");
    let mut guard = 0;
    loop {
        let mut rest: Batch<32> = Batch::new();
        let n = q.release(&mut rest);
        ledger.taken(rest, "release");
        guard += 1;
        assert!(guard <= BUFS, "release never finishes");
        if n < 32 {
            break;
        }
    }
    assert!(
        ledger.driver.is_empty(),
        "buffers never released: {:?}",
        ledger.driver
    );
    let tags: HashSet<u32> = ledger.host.iter().map(PacketBuf::tag).collect();
    assert_eq!(tags, all);

    // Give the memory back: the simulated DMA allocator frees only on
    // `dealloc`, and leaked rings would exhaust memory over a long run.
    drop(ledger);
    let (rx, tx, head) = q.into_rings();
    // SAFETY: the queue is stopped and consumed, so neither it nor the
    // simulated device (whose queue is disabled) touches its rings again;
    // every packet buffer of the pool was dropped with the ledger, so the
    // pool region, rebuilt from the parts `alloc` returned, has no user left.
    unsafe {
        dma.dealloc(rx);
        dma.dealloc(tx);
        if let Some(h) = head {
            dma.dealloc(h);
        }
        dma.dealloc(DmaRegion::from_raw_parts(pool.0, pool.1, pool.2));
    }
    drop(card);
    assert_eq!(dma.live_regions(), 0, "DMA regions left allocated");
});
