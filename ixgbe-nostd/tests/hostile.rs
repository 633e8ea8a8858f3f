//! A hostile device: random descriptor write-backs and head values. The
//! driver must never panic, never hand out a buffer twice and never lose one.

mod common;

use std::collections::HashSet;

use common::*;
use ixgbe_nostd::{Config, TxCompletion};
use nic_sim::i82599::reg;
use nic_traits::{Batch, CardDriver, ErrorKind, QueueDriver, TxFlags};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn ring_base(dev: &nic_sim::i82599::I82599, block: usize) -> u64 {
    let m = dev.model();
    u64::from(m.peek(block + reg::BAL)) | (u64::from(m.peek(block + reg::BAH)) << 32)
}

#[test]
fn random_receive_write_backs_never_lose_or_duplicate_a_buffer() {
    let (mut delivered, mut faulted_seeds) = (0, 0);
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (dev, dma, mut card) = card();
        let mut q = card.queue(0, small_queue()).unwrap();
        let mut b: Batch<64> = batch(pool(&dma, 63));
        assert_eq!(q.refill(&mut b).unwrap(), 63);
        let base = ring_base(&dev, reg::rx(0));
        let mut seen = HashSet::new();
        for round in 0..200u16 {
            // Real traffic, and now and then the device scribbles over a
            // descriptor: a random word, or a plausible DD|EOP with a
            // random length.
            dev.inject(&udp(MAC_A, round, 9));
            if rng.next().is_multiple_of(4) {
                let slot = rng.next() % 64;
                let word = rng.next() % 2;
                let v = if rng.next().is_multiple_of(2) {
                    0b11 | ((rng.next() % 4096) << 32)
                } else {
                    rng.next()
                };
                // SAFETY: the driver touches its ring only through raw
                // pointers (volatile), so no reference into it is live; the
                // test is single-threaded.
                unsafe { dma.write_u64(base + 16 * slot + 8 * word, v) }.unwrap();
            }
            let mut out: Batch<16> = Batch::new();
            let r = q.rx_burst(&mut out);
            // No buffer is in the host's hands twice at once.
            seen.clear();
            for buf in out.iter() {
                assert!(
                    seen.insert(buf.tag()),
                    "buffer {} handed out twice",
                    buf.tag()
                );
                assert!(buf.len() <= 2048);
                delivered += 1;
            }
            // Recycle them, as a host would.
            for buf in out.iter_mut() {
                buf.reset(128);
            }
            q.refill(&mut out).unwrap();
            assert!(out.is_empty());
            match r {
                Ok(_) => {}
                Err(ErrorKind::DeviceFault) => {
                    faulted_seeds += 1;
                    break;
                }
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        // Stop and take everything back: every buffer exactly once.
        card.stop_queue(0).unwrap();
        let mut rest: Batch<64> = Batch::new();
        q.release(&mut rest);
        let tags: HashSet<u32> = rest.iter().map(|b| b.tag()).collect();
        assert_eq!(
            tags.len(),
            rest.len(),
            "seed {seed}: a buffer released twice"
        );
        assert_eq!(rest.len(), 63, "seed {seed}: buffers lost");
    }
    // Both outcomes were exercised.
    assert!(delivered > 500, "{delivered} delivered");
    assert!(faulted_seeds > 5, "{faulted_seeds} seeds saw a fault");
}

#[test]
fn random_transmit_completions_never_lose_or_duplicate_a_buffer() {
    for completion in [TxCompletion::DescriptorDone, TxCompletion::HeadWriteBack] {
        let (mut reclaimed, mut faults) = (0, 0);
        for seed in 1..=10u64 {
            let mut rng = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03));
            let config = Config {
                tx_completion: completion,
                ..Config::default()
            };
            let (dev, dma, mut card) = card_with(MAC_A, config);
            let mut q = card.queue(0, small_queue()).unwrap();
            // The link is down: the model holds transmits, so every
            // completion the driver sees is the hostile one below.
            dev.model().set_link(false);
            let base = ring_base(&dev, reg::tx(0));
            let wb = {
                let m = dev.model();
                u64::from(m.peek(reg::tx(0) + reg::WBAL) & !3)
                    | (u64::from(m.peek(reg::tx(0) + reg::WBAH)) << 32)
            };
            let mut free: Vec<_> = pool(&dma, 100);
            let total = free.len();
            let mut back = HashSet::new();
            for _ in 0..100 {
                let mut out: Batch<8> = Batch::new();
                for _ in 0..(rng.next() % 8) {
                    if let Some(mut buf) = free.pop() {
                        buf.append(&udp(MAC_B, 1, 2)).unwrap();
                        out.push_back(buf).unwrap();
                    }
                }
                let _ = q.tx_burst(&mut out);
                free.extend(out.into_iter().map(|mut b| {
                    b.reset(128);
                    b
                }));
                for _ in 0..(rng.next() % 3) {
                    let slot = rng.next() % 64;
                    // Random words, half of them with STA.DD set.
                    let v = rng.next() | ((rng.next() & 1) << 32);
                    // SAFETY: as in the receive test: the ring is reached
                    // only through raw pointers.
                    unsafe { dma.write_u64(base + 16 * slot + 8, v) }.unwrap();
                }
                if completion == TxCompletion::HeadWriteBack {
                    let head = (rng.next() % 80) as u32;
                    // SAFETY: the driver reads the write-back area only
                    // through a raw pointer (volatile).
                    unsafe { dma.write(wb, &head.to_le_bytes()) }.unwrap();
                }
                let mut done: Batch<16> = Batch::new();
                match q.tx_reclaim(&mut done) {
                    Ok(n) => reclaimed += n,
                    Err(ErrorKind::DeviceFault) => faults += 1,
                    Err(e) => panic!("unexpected {e:?}"),
                }
                for buf in done {
                    assert!(
                        back.insert(buf.tag()),
                        "buffer {} reclaimed twice",
                        buf.tag()
                    );
                    let mut buf = buf;
                    buf.reset(128);
                    free.push(buf);
                }
                back.clear();
            }
            card.stop_queue(0).unwrap();
            let mut rest: Batch<128> = Batch::new();
            q.release(&mut rest);
            let mut tags: HashSet<u32> = free.iter().map(|b| b.tag()).collect();
            for buf in rest.iter() {
                assert!(
                    tags.insert(buf.tag()),
                    "buffer {} both free and released",
                    buf.tag()
                );
            }
            assert_eq!(tags.len(), total, "{completion:?} seed {seed}");
        }
        assert!(reclaimed > 20, "{completion:?}: {reclaimed} reclaimed");
        if completion == TxCompletion::HeadWriteBack {
            assert!(faults > 20, "{completion:?}: {faults} faults");
        }
    }
}

#[test]
fn a_context_descriptor_is_freed_only_with_its_frame() {
    for recycle in [false, true] {
        let (dev, dma, mut card) = card_with(MAC_A, Config::default());
        let mut q = card.queue(0, small_queue()).unwrap();
        // The link is down: only the completions written below happen.
        dev.model().set_link(false);
        let base = ring_base(&dev, reg::tx(0));
        let take_back = |q: &mut common::Queue| -> usize {
            if recycle {
                q.recycle(128).unwrap()
            } else {
                let mut done: Batch<4> = Batch::new();
                q.tx_reclaim(&mut done).unwrap()
            }
        };
        let mut buf = pool(&dma, 1).pop().unwrap();
        buf.append(&udp(MAC_B, 1, 2)).unwrap();
        buf.tx_mut().flags = TxFlags::IPV4_CSUM;
        buf.tx_mut().l2_len = 14;
        buf.tx_mut().l3_len = 20;
        let mut out: Batch<4> = batch([buf]);
        assert_eq!(q.tx_burst(&mut out).unwrap(), 1);
        // Slot 0 holds the context descriptor, slot 1 the frame.
        assert_eq!(q.tx_free(), 63 - 2);
        // DD in the context slot alone completes nothing: the device may
        // not have fetched the pair yet, so neither slot may be reused.
        // SAFETY: the ring is reached only through raw pointers.
        unsafe { dma.write_u64(base + 8, 1 << 32) }.unwrap();
        assert_eq!(take_back(&mut q), 0, "recycle {recycle}");
        assert_eq!(q.tx_free(), 63 - 2);
        // DD on the data descriptor: the frame and its context are done.
        // SAFETY: as above.
        unsafe { dma.write_u64(base + 16 + 8, 1 << 32) }.unwrap();
        assert_eq!(take_back(&mut q), 1, "recycle {recycle}");
        assert_eq!(q.tx_free(), 63);
        assert_eq!(q.rx_free(), if recycle { 62 } else { 63 });
    }
}
