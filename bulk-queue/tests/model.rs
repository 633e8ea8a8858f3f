//! Property tests: the ring and the bulk queue against a `VecDeque` model, and the honest side
//! against hostile writes into the shared region between operations.
#![cfg(not(loom))]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};

use bulk_queue::lined::LinedMem;
use bulk_queue::ring::RingMem;
use bulk_queue::{
    AlignedBuf, BulkConsumer, BulkProducer, Descriptor, Element, Error, Geometry, Region, Seq,
    split,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

#[derive(Debug, Clone)]
enum RingOp {
    Push(u32),
    Pop,
    PushSlice(Vec<u32>),
    PopSlice(usize),
    Chunk(Vec<u32>, usize),
    ReadChunk(usize, usize),
    Fill(Vec<u32>),
    CopyOut(usize),
}

fn ring_op() -> impl Strategy<Value = RingOp> {
    prop_oneof![
        any::<u32>().prop_map(RingOp::Push),
        Just(RingOp::Pop),
        prop::collection::vec(any::<u32>(), 0..12).prop_map(RingOp::PushSlice),
        (0usize..12).prop_map(RingOp::PopSlice),
        (prop::collection::vec(any::<u32>(), 1..12), 0usize..12)
            .prop_map(|(v, n)| RingOp::Chunk(v, n)),
        (1usize..12, 0usize..12).prop_map(|(m, n)| RingOp::ReadChunk(m, n)),
        prop::collection::vec(any::<u32>(), 1..12).prop_map(RingOp::Fill),
        (1usize..12).prop_map(RingOp::CopyOut),
    ]
}

/// The ring items of a model: `u32` (bare cells) or `Seq<u32>` (cells with a sequence word).
trait Item: Element + std::fmt::Debug + PartialEq {
    fn from_u32(v: u32) -> Self;
    fn to_u32(self) -> u32;
}
impl Item for u32 {
    fn from_u32(v: u32) -> Self {
        v
    }
    fn to_u32(self) -> u32 {
        self
    }
}
impl Item for Seq<u32> {
    fn from_u32(v: u32) -> Self {
        Seq(v)
    }
    fn to_u32(self) -> u32 {
        self.0
    }
}

fn items<E: Item>(v: &[u32]) -> Vec<E> {
    v.iter().map(|x| E::from_u32(*x)).collect()
}

#[rustfmt::skip]
fn ring_matches_model<E: Item>(ops: Vec<RingOp>) -> Result<(), TestCaseError> {
    let mut mem = RingMem::<E, 8>::new();
    let (mut p, mut c) = mem.split();
    let mut model = VecDeque::new();
    for op in ops {
        match op {
            RingOp::Push(v) => {
                let r = p.push(E::from_u32(v));
                if model.len() < 8 { prop_assert_eq!(r, Ok(())); model.push_back(v); }
                else { prop_assert_eq!(r, Err(Error::Full)); }
            }
            RingOp::Pop => prop_assert_eq!(c.pop().ok().map(E::to_u32), model.pop_front()),
            RingOp::PushSlice(v) => {
                let n = p.push_slice(&items::<E>(&v)).unwrap();
                prop_assert_eq!(n, v.len().min(8 - model.len()));
                model.extend(&v[..n]);
            }
            RingOp::PopSlice(k) => {
                let mut out = vec![E::from_u32(0); k];
                let n = c.pop_slice(&mut out).unwrap();
                prop_assert_eq!(n, k.min(model.len()));
                for v in &out[..n] { prop_assert_eq!(Some(v.to_u32()), model.pop_front()); }
            }
            RingOp::Chunk(v, commit) => match p.write_chunk(v.len() as u32) {
                Ok(mut ch) => {
                    prop_assert_eq!(ch.len(), v.len().min(8 - model.len()));
                    for (i, x) in v.iter().enumerate().take(ch.len()) { ch.set(i, E::from_u32(*x)).unwrap(); }
                    let n = commit.min(ch.len());
                    ch.commit(commit);
                    model.extend(&v[..n]);
                }
                Err(e) => { prop_assert_eq!(e, Error::Full); prop_assert_eq!(model.len(), 8); }
            },
            RingOp::Fill(v) => match p.write_chunk(v.len() as u32) {
                Ok(ch) => {
                    let n = ch.fill_from_iter(items::<E>(&v));
                    prop_assert_eq!(n, v.len().min(8 - model.len()));
                    model.extend(&v[..n]);
                }
                Err(e) => { prop_assert_eq!(e, Error::Full); prop_assert_eq!(model.len(), 8); }
            },
            RingOp::CopyOut(k) => match c.read_chunk(8) {
                Ok(ch) => {
                    let all: Vec<u32> = ch.iter().map(E::to_u32).collect();
                    prop_assert_eq!(&all, &model.iter().copied().collect::<Vec<_>>());
                    let mut out = vec![E::from_u32(0); k];
                    let n = ch.copy_to(&mut out);
                    prop_assert_eq!(n, k.min(model.len()));
                    ch.commit(n);
                    for v in &out[..n] { prop_assert_eq!(Some(v.to_u32()), model.pop_front()); }
                }
                Err(e) => { prop_assert_eq!(e, Error::Empty); prop_assert!(model.is_empty()); }
            },
            RingOp::ReadChunk(max, commit) => match c.read_chunk(max as u32) {
                Ok(ch) => {
                    prop_assert_eq!(ch.len(), max.min(model.len()));
                    for i in 0..ch.len() { prop_assert_eq!(ch.get(i).ok().map(E::to_u32), model.get(i).copied()); }
                    let n = commit.min(ch.len());
                    ch.commit(commit);
                    model.drain(..n);
                }
                Err(e) => { prop_assert_eq!(e, Error::Empty); prop_assert!(model.is_empty()); }
            },
        }
    }
    Ok(())
}

/// The lined ring (`LinedMem<2>`: two 64-byte lines, 14 items) against the same model.
#[rustfmt::skip]
fn lined_matches_model(ops: Vec<RingOp>) -> Result<(), TestCaseError> {
    const CAP: usize = 14;
    let mut mem = LinedMem::<2>::new();
    let (mut p, mut c) = mem.split();
    let mut model: VecDeque<u64> = VecDeque::new();
    let wide = |v: &[u32]| v.iter().map(|x| u64::from(*x) << 20 | u64::from(*x)).collect::<Vec<u64>>();
    for op in ops {
        match op {
            RingOp::Push(v) => {
                let v = wide(&[v])[0];
                let r = p.push(v);
                if model.len() < CAP { prop_assert_eq!(r, Ok(())); model.push_back(v); }
                else { prop_assert_eq!(r, Err(Error::Full)); }
            }
            RingOp::Pop => prop_assert_eq!(c.pop().ok(), model.pop_front()),
            RingOp::PushSlice(v) => {
                let v = wide(&v);
                let n = p.push_slice(&v).unwrap();
                prop_assert_eq!(n, v.len().min(CAP - model.len()));
                model.extend(&v[..n]);
            }
            RingOp::PopSlice(k) => {
                let mut out = vec![0; k];
                let n = c.pop_slice(&mut out).unwrap();
                prop_assert_eq!(n, k.min(model.len()));
                for v in &out[..n] { prop_assert_eq!(Some(*v), model.pop_front()); }
            }
            RingOp::Chunk(v, commit) => match p.write_chunk(v.len() as u32) {
                Ok(mut ch) => {
                    let v = wide(&v);
                    prop_assert_eq!(ch.len(), v.len().min(CAP - model.len()));
                    for (i, x) in v.iter().enumerate().take(ch.len()) { ch.set(i, *x).unwrap(); }
                    let n = commit.min(ch.len());
                    ch.commit(commit);
                    model.extend(&v[..n]);
                }
                Err(e) => { prop_assert_eq!(e, Error::Full); prop_assert_eq!(model.len(), CAP); }
            },
            RingOp::Fill(v) => match p.write_chunk(v.len() as u32) {
                Ok(ch) => {
                    let v = wide(&v);
                    let n = ch.fill_from_iter(v.iter().copied());
                    prop_assert_eq!(n, v.len().min(CAP - model.len()));
                    model.extend(&v[..n]);
                }
                Err(e) => { prop_assert_eq!(e, Error::Full); prop_assert_eq!(model.len(), CAP); }
            },
            RingOp::CopyOut(k) => match c.read_chunk(CAP as u32) {
                Ok(ch) => {
                    let all: Vec<u64> = ch.iter().collect();
                    prop_assert_eq!(&all, &model.iter().copied().collect::<Vec<_>>());
                    prop_assert_eq!(ch.iter().sum::<u64>(), model.iter().sum::<u64>());
                    let mut out = vec![0; k];
                    let n = ch.copy_to(&mut out);
                    prop_assert_eq!(n, k.min(model.len()));
                    ch.commit(n);
                    for v in &out[..n] { prop_assert_eq!(Some(*v), model.pop_front()); }
                }
                Err(e) => { prop_assert_eq!(e, Error::Empty); prop_assert!(model.is_empty()); }
            },
            RingOp::ReadChunk(max, commit) => match c.read_chunk(max as u32) {
                Ok(ch) => {
                    prop_assert_eq!(ch.len(), max.min(model.len()));
                    for i in 0..ch.len() { prop_assert_eq!(ch.get(i).ok(), model.get(i).copied()); }
                    let n = commit.min(ch.len());
                    ch.commit(commit);
                    model.drain(..n);
                }
                Err(e) => { prop_assert_eq!(e, Error::Empty); prop_assert!(model.is_empty()); }
            },
        }
    }
    Ok(())
}

proptest! {
    /// Single pops find single pushes and committed chunks through the line words; chunked
    /// reads through `tail`; neither ever an entry of a partially committed chunk.
    #[test]
    fn lined_ring_matches_vecdeque(ops in prop::collection::vec(ring_op(), 1..200)) {
        lined_matches_model(ops)?;
    }

    #[test]
    fn ring_matches_vecdeque(ops in prop::collection::vec(ring_op(), 1..200)) {
        ring_matches_model::<u32>(ops)?;
    }

    /// The same with sequence words: single pops take single pushes through them, and never
    /// an entry of a partially committed chunk.
    #[test]
    fn seq_ring_matches_vecdeque(ops in prop::collection::vec(ring_op(), 1..200)) {
        ring_matches_model::<Seq<u32>>(ops)?;
    }
}

const G: Geometry = Geometry::new(8, 12, 32, 5);

#[derive(Debug, Clone)]
enum BulkOp {
    Send {
        offset: u32,
        len: u32,
    },
    Recv,
    RecvBatch(usize),
    Release(usize),
    Reclaim,
    /// Hostile: store `value` into the shared word at `word` (hostile tests only).
    Poke {
        word: usize,
        value: u32,
    },
}

fn bulk_op(hostile: bool) -> impl Strategy<Value = BulkOp> {
    let words = G.region_len() / 4;
    let poke_weight = if hostile { 3 } else { 0 };
    prop_oneof![
        4 => (0u32..40, 0u32..40).prop_map(|(offset, len)| BulkOp::Send { offset, len }),
        3 => Just(BulkOp::Recv),
        1 => (0usize..6).prop_map(BulkOp::RecvBatch),
        3 => (0usize..16).prop_map(BulkOp::Release),
        2 => Just(BulkOp::Reclaim),
        poke_weight => (0..words, prop_oneof![0u32..40, any::<u32>()]).prop_map(|(word, value)| BulkOp::Poke { word, value }),
    ]
}

/// Runs `ops`; with `hostile` the model is only checked until the first poke, after which only
/// the honest side's safety is checked (no panic, every accepted descriptor inside the pool).
fn run_bulk(ops: Vec<BulkOp>, hostile: bool) -> Result<(), TestCaseError> {
    let mut buf = Box::new(AlignedBuf::<{ G.region_len() }>::new());
    let base = buf.0.as_mut_ptr();
    let mut pmap = [0u32; G.producer_map_words()];
    let mut cmap = [0u32; G.consumer_map_words()];
    // SAFETY: `buf` lives until the end of this function, longer than the region and both
    // sides; the test touches it only through the region and through atomic pokes below.
    let region = unsafe { Region::from_raw_parts(base, G.region_len()) }.unwrap();
    region.format(G).unwrap();
    let mut p = BulkProducer::attach(region, G, &mut pmap).unwrap();
    let mut c = BulkConsumer::attach(region, G, &mut cmap).unwrap();
    let mut in_flight: VecDeque<Descriptor> = VecDeque::new();
    let mut held: Vec<Descriptor> = Vec::new();
    let mut returned = 0usize;
    let mut corrupted = false;
    let accepted = |d: &Descriptor, c: &BulkConsumer<'_>| -> Result<(), TestCaseError> {
        prop_assert!(
            d.pool == 5 && d.slot < 12 && d.offset + d.len <= 32,
            "accepted {:?}",
            d
        );
        let mut out = vec![0u8; d.len as usize];
        prop_assert_eq!(
            c.slot(d.slot).unwrap().read(d.offset as usize, &mut out),
            Ok(())
        );
        Ok(())
    };
    for op in ops {
        match op {
            BulkOp::Send { offset, len } => {
                let Some(slot) = p.alloc() else {
                    if !corrupted {
                        prop_assert_eq!(in_flight.len() + held.len() + returned, 12);
                    }
                    continue;
                };
                let d = Descriptor::new(5, slot, offset, len);
                let r = p.send(d);
                if offset + len > 32 {
                    prop_assert_eq!(r, Err(Error::BadDescriptor));
                    p.dealloc(slot).unwrap();
                } else if corrupted {
                    if r.is_err() {
                        p.dealloc(slot).unwrap();
                    }
                } else if in_flight.len() == G.capacity as usize {
                    // Every ring entry holds a descriptor the consumer has not taken.
                    prop_assert_eq!(r, Err(Error::Full));
                    p.dealloc(slot).unwrap();
                } else {
                    prop_assert_eq!(r, Ok(()));
                    in_flight.push_back(d);
                }
            }
            BulkOp::Recv => {
                let r = c.recv();
                if let Ok(d) = &r {
                    accepted(d, &c)?;
                    held.push(*d);
                }
                if !corrupted {
                    prop_assert_eq!(r.ok(), in_flight.pop_front());
                }
            }
            BulkOp::RecvBatch(k) => {
                let mut out = vec![Descriptor::default(); k];
                let r = c.recv_batch(&mut out);
                if let Ok(n) = r {
                    for d in &out[..n] {
                        accepted(d, &c)?;
                        held.push(*d);
                    }
                }
                if !corrupted {
                    let n = r.unwrap_or(0);
                    prop_assert_eq!(n, k.min(in_flight.len()));
                    for d in &out[..n] {
                        prop_assert_eq!(Some(*d), in_flight.pop_front());
                    }
                }
            }
            BulkOp::Release(i) => {
                if held.is_empty() {
                    continue;
                }
                let d = held.swap_remove(i % held.len());
                let r = c.release(d);
                if corrupted {
                    if r.is_err() {
                        held.push(d);
                    }
                } else {
                    prop_assert_eq!(r, Ok(()));
                    returned += 1;
                    prop_assert!(!c.owns(d.slot));
                }
            }
            BulkOp::Reclaim => {
                let r = p.reclaim();
                if !corrupted {
                    prop_assert_eq!(r, Ok(returned));
                    returned = 0;
                }
            }
            BulkOp::Poke { word, value } => {
                corrupted = true;
                // SAFETY: `word * 4 + 4 <= region_len` (strategy bound) and the buffer is
                // 128-byte aligned, so the pointer is in bounds and aligned; access is atomic.
                let w = unsafe { AtomicU32::from_ptr(base.add(word * 4).cast()) };
                w.store(value, Ordering::Relaxed);
            }
        }
        if !corrupted {
            // Every slot is in exactly one place.
            let mut count = [0u8; 12];
            for s in 0..12u32 {
                if p.owns(s) {
                    count[s as usize] += 1;
                }
                if c.owns(s) {
                    count[s as usize] += 1;
                }
            }
            for d in &in_flight {
                count[d.slot as usize] += 1;
            }
            prop_assert_eq!(
                count.iter().map(|&n| n as usize).sum::<usize>() + returned,
                12
            );
            prop_assert!(count.iter().all(|&n| n <= 1));
        }
    }
    prop_assert!(hostile || !corrupted);
    drop(buf);
    Ok(())
}

proptest! {
    // 512 cases unless PROPTEST_CASES says otherwise (the Miri run in CI asks for fewer).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn bulk_matches_model(ops in prop::collection::vec(bulk_op(false), 1..150)) {
        run_bulk(ops, false)?;
    }

    #[test]
    fn honest_side_survives_hostile_writes(ops in prop::collection::vec(bulk_op(true), 1..200)) {
        run_bulk(ops, true)?;
    }
}

#[test]
fn split_rejects_a_misaligned_buffer() {
    let mut buf = AlignedBuf::<{ G.region_len() + 8 }>::new();
    let mut pmap = [0u32; G.producer_map_words()];
    let mut cmap = [0u32; G.consumer_map_words()];
    assert_eq!(
        split(&mut buf.0[8..], G, &mut pmap, &mut cmap).err(),
        Some(Error::Misaligned)
    );
}
