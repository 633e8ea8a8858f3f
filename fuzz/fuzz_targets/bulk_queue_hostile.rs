//! A hostile peer writes arbitrary values into the shared region between
//! the honest side's operations: ring indices, wakeup words, descriptors,
//! the header and the pool. The honest side (the producer, the consumer, or
//! both) never panics, never touches memory outside the region (the region
//! is its own heap allocation of exactly its length, so AddressSanitizer
//! sees any access past it), never loops (libFuzzer's timeout), and every
//! descriptor it accepts lies inside the pool.
#![no_main]

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::sync::atomic::{AtomicU32, Ordering};

use arbitrary::Arbitrary;
use bulk_queue::{BulkConsumer, BulkProducer, Descriptor, Geometry, REGION_ALIGN, Region};
use libfuzzer_sys::fuzz_target;

const G: Geometry = Geometry::new(8, 12, 64, 3);
/// Cache lines of the region layout (bulk-queue's `bulk` module docs):
/// header, forward producer and consumer lines, return producer and
/// consumer lines, then the forward entries.
const LINE: usize = 128;

#[derive(Debug, Arbitrary, Clone, Copy)]
enum Where {
    /// Word `i` of cache line `line` (0 header, 1..=4 index lines, 5.. the
    /// forward entries, and on into the return entries and the pool).
    Line(u8, u8),
    /// Any aligned word.
    Anywhere(u16),
}

#[derive(Debug, Arbitrary, Clone, Copy)]
enum Value {
    Set(u32),
    /// Add to what is there (indices a little off).
    Add(i8),
}

#[derive(Debug, Arbitrary)]
enum Op {
    Scribble(Where, Value),
    Alloc,
    Write(u8),
    Send(u8, u8, u8),
    SendBatch(Vec<(u8, u8, u8)>),
    Reclaim,
    Dealloc(u8),
    ProducerSleep,
    Recv,
    RecvBatch(u8),
    Read(u8),
    Release(u8),
    ConsumerSleep,
    Awake,
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// 0: honest producer only, 1: honest consumer only, else both.
    sides: u8,
    ops: Vec<Op>,
}

fn in_pool(d: &Descriptor) -> bool {
    d.pool == 3 && d.slot < 12 && u64::from(d.offset) + u64::from(d.len) <= 64
}

fuzz_target!(|input: Input| {
    let len = G.region_len();
    let layout = Layout::from_size_align(len, REGION_ALIGN).expect("layout");
    // SAFETY: the layout has a non-zero size.
    let base = unsafe { alloc_zeroed(layout) };
    assert!(!base.is_null());
    {
        // SAFETY: `base` is valid for `len` bytes until the `dealloc` below,
        // after every side and this region are gone; this program touches it
        // only through the region and the atomic stores of `scribble`.
        let region = unsafe { Region::from_raw_parts(base, len) }.expect("aligned");
        region.format(G).expect("format");
        let mut pmap = [0u32; G.producer_map_words()];
        let mut cmap = [0u32; G.consumer_map_words()];
        let (mut p, mut c) = match input.sides % 3 {
            0 => (BulkProducer::attach(region, G, &mut pmap).ok(), None),
            1 => (None, BulkConsumer::attach(region, G, &mut cmap).ok()),
            _ => (
                BulkProducer::attach(region, G, &mut pmap).ok(),
                BulkConsumer::attach(region, G, &mut cmap).ok(),
            ),
        };
        assert!(
            p.is_some() || c.is_some(),
            "attach to a freshly formatted region"
        );
        let mut held: Vec<Descriptor> = Vec::new();

        let scribble = |w: Where, v: Value| {
            let off = match w {
                Where::Line(line, i) => usize::from(line) * LINE + usize::from(i % 32) * 4,
                Where::Anywhere(o) => usize::from(o) * 4,
            } % len;
            let off = off & !3;
            // SAFETY: `off + 4 <= len` (a multiple of 4 below `len`, which is
            // a multiple of 128), so the word lies inside the allocation and
            // is 4-byte aligned; the honest sides access shared memory only
            // through atomics, and everything runs on this one thread.
            let word = unsafe { AtomicU32::from_ptr(base.add(off).cast::<u32>()) };
            let new = match v {
                Value::Set(x) => x,
                Value::Add(d) => word.load(Ordering::Relaxed).wrapping_add(d as i32 as u32),
            };
            word.store(new, Ordering::Relaxed);
        };

        for op in input.ops.iter().take(256) {
            match *op {
                Op::Scribble(w, v) => scribble(w, v),
                Op::Alloc => {
                    if let Some(p) = p.as_mut()
                        && let Some(s) = p.alloc()
                    {
                        assert!(s < 12, "allocated slot {s} outside the pool");
                    }
                }
                Op::Write(s) => {
                    if let Some(p) = p.as_ref()
                        && let Ok(d) = p.slot(u32::from(s % 14))
                    {
                        assert_eq!(d.len(), 64);
                        let _ = d.write(usize::from(s % 70), &[s; 8]);
                    }
                }
                Op::Send(s, off, l) => {
                    if let Some(p) = p.as_mut() {
                        let _ = p.send(Descriptor::new(
                            3,
                            u32::from(s % 14),
                            u32::from(off % 72),
                            u32::from(l % 72),
                        ));
                    }
                }
                Op::SendBatch(ref list) => {
                    if let Some(p) = p.as_mut() {
                        let ds: Vec<Descriptor> = list
                            .iter()
                            .take(10)
                            .map(|&(s, o, l)| {
                                Descriptor::new(
                                    3,
                                    u32::from(s % 14),
                                    u32::from(o % 72),
                                    u32::from(l % 72),
                                )
                            })
                            .collect();
                        if let Ok(n) = p.send_batch(&ds) {
                            assert!(n <= ds.len());
                        }
                    }
                }
                Op::Reclaim => {
                    if let Some(p) = p.as_mut()
                        && let Ok(n) = p.reclaim()
                    {
                        assert!(n <= G.return_capacity() as usize);
                    }
                }
                Op::Dealloc(s) => {
                    if let Some(p) = p.as_mut() {
                        let _ = p.dealloc(u32::from(s % 14));
                    }
                }
                Op::ProducerSleep => {
                    if let Some(p) = p.as_mut() {
                        let _ = p.prepare_to_sleep();
                    }
                }
                Op::Recv => {
                    if let Some(c) = c.as_mut()
                        && let Ok(d) = c.recv()
                    {
                        assert!(in_pool(&d), "accepted {d:?}");
                        assert!(c.owns(d.slot));
                        held.push(d);
                    }
                }
                Op::RecvBatch(k) => {
                    if let Some(c) = c.as_mut() {
                        let mut out = vec![Descriptor::default(); usize::from(k % 10)];
                        if let Ok(n) = c.recv_batch(&mut out) {
                            assert!(n <= out.len());
                            for d in &out[..n] {
                                assert!(in_pool(d), "accepted {d:?}");
                                held.push(*d);
                            }
                        }
                    }
                }
                Op::Read(i) => {
                    if let (Some(c), false) = (c.as_ref(), held.is_empty()) {
                        let d = held[usize::from(i) % held.len()];
                        if let Ok(data) = c.slot(d.slot) {
                            let mut buf = vec![0u8; d.len as usize];
                            data.read(d.offset as usize, &mut buf)
                                .expect("an accepted descriptor lies inside its slot");
                        }
                    }
                }
                Op::Release(i) => {
                    if let (Some(c), false) = (c.as_mut(), held.is_empty()) {
                        let k = usize::from(i) % held.len();
                        if c.release(held[k]).is_ok() {
                            held.swap_remove(k);
                        }
                    }
                }
                Op::ConsumerSleep => {
                    if let Some(c) = c.as_mut() {
                        let _ = c.prepare_to_sleep();
                    }
                }
                Op::Awake => {
                    if let Some(c) = c.as_mut() {
                        c.awake();
                    }
                }
            }
            // Ownership never leaves the pool.
            for s in 12..40 {
                assert!(!p.as_ref().is_some_and(|p| p.owns(s)));
                assert!(!c.as_ref().is_some_and(|c| c.owns(s)));
            }
        }
    }
    // SAFETY: allocated above with this layout; the region and both sides
    // were dropped with the block above.
    unsafe { dealloc(base, layout) };
});
