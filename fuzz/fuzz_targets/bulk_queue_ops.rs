//! Sequences of producer and consumer operations on a bulk queue, against a
//! model: the forward and return rings are `VecDeque`s of descriptors, slot
//! ownership is two sets. Every operation's result (value or error) is the
//! model's, and the bytes the consumer reads are the bytes the producer
//! wrote into the slot. The plain rings (`ring::RingMem`) get the same
//! treatment with `u32` elements.
#![no_main]

use std::collections::{BTreeSet, VecDeque};

use arbitrary::Arbitrary;
use bulk_queue::ring::RingMem;
use bulk_queue::{AlignedBuf, Descriptor, Error, Geometry, split};
use libfuzzer_sys::fuzz_target;

const G: Geometry = Geometry::new(8, 12, 64, 3);

#[derive(Debug, Arbitrary)]
enum Op {
    Alloc,
    Dealloc(u8),
    /// The producer writes a pattern into a slot: (slot, seed).
    Write(u8, u8),
    /// Send (slot, offset, length, pool is right?).
    Send(u8, u8, u8, bool),
    /// Send a batch of (slot, offset, length).
    SendBatch(Vec<(u8, u8, u8)>),
    Reclaim,
    Recv,
    RecvBatch(u8),
    /// Release the `i`-th descriptor the consumer holds, or a made-up one.
    Release(u8, bool),
    ProducerSleep,
    ConsumerSleep,
    Awake,
    /// Ring level: push these values.
    RingPush(Vec<u32>),
    /// Ring level: pop up to this many.
    RingPop(u8),
}

struct Model {
    p_owned: BTreeSet<u32>,
    p_free: BTreeSet<u32>,
    c_owned: BTreeSet<u32>,
    fwd: VecDeque<Descriptor>,
    ret: VecDeque<Descriptor>,
    /// Descriptors the consumer received and still holds.
    held: Vec<Descriptor>,
    /// Seed of the pattern last written into each slot.
    written: [Option<u8>; 12],
}

fn valid(d: &Descriptor) -> bool {
    d.pool == 3 && d.slot < 12 && u64::from(d.offset) + u64::from(d.len) <= 64
}

fn pattern(seed: u8, i: usize) -> u8 {
    seed.wrapping_add((i as u8).wrapping_mul(13))
}

fuzz_target!(|ops: Vec<Op>| {
    let mut mem = Box::new(AlignedBuf::<{ G.region_len() }>::new());
    let mut pmap = [0u32; G.producer_map_words()];
    let mut cmap = [0u32; G.consumer_map_words()];
    let (mut p, mut c) = split(&mut mem.0, G, &mut pmap, &mut cmap).expect("split");
    let mut m = Model {
        p_owned: (0..12).collect(),
        p_free: (0..12).collect(),
        c_owned: BTreeSet::new(),
        fwd: VecDeque::new(),
        ret: VecDeque::new(),
        held: Vec::new(),
        written: [None; 12],
    };
    let mut ring = RingMem::<u32, 16>::new();
    let (mut rp, mut rc) = ring.split();
    let mut rmodel: VecDeque<u32> = VecDeque::new();
    let rcap = 16usize;

    for op in ops.iter().take(256) {
        match op {
            Op::Alloc => match p.alloc() {
                Some(s) => {
                    assert!(m.p_free.remove(&s), "alloc gave slot {s}, not free");
                }
                None => assert!(m.p_free.is_empty(), "alloc None with free {:?}", m.p_free),
            },
            Op::Dealloc(s) => {
                let s = u32::from(*s % 14);
                let r = p.dealloc(s);
                if m.p_owned.contains(&s) {
                    assert_eq!(r, Ok(()));
                    m.p_free.insert(s);
                } else {
                    assert_eq!(r, Err(Error::NotOwned));
                }
            }
            Op::Write(s, seed) => {
                let s = u32::from(*s % 12);
                match p.slot(s) {
                    Ok(data) => {
                        assert!(m.p_owned.contains(&s));
                        assert_eq!(data.len(), 64);
                        let bytes: Vec<u8> = (0..64).map(|i| pattern(*seed, i)).collect();
                        data.write(0, &bytes).expect("write inside the slot");
                        assert_eq!(data.write(1, &bytes), Err(Error::OutOfRange));
                        m.written[s as usize] = Some(*seed);
                    }
                    Err(e) => {
                        assert_eq!(e, Error::NotOwned);
                        assert!(!m.p_owned.contains(&s));
                    }
                }
            }
            Op::Send(s, off, len, right_pool) => {
                let d = Descriptor {
                    pool: if *right_pool { 3 } else { 4 },
                    flags: u16::from(*s),
                    slot: u32::from(*s % 14),
                    offset: u32::from(*off % 72),
                    len: u32::from(*len % 72),
                };
                let want = if !valid(&d) {
                    Err(Error::BadDescriptor)
                } else if !m.p_owned.contains(&d.slot) {
                    Err(Error::NotOwned)
                } else if m.fwd.len() == 8 {
                    Err(Error::Full)
                } else {
                    Ok(())
                };
                assert_eq!(p.send(d), want, "send {d:?}");
                if want.is_ok() {
                    m.fwd.push_back(d);
                    m.p_owned.remove(&d.slot);
                    m.p_free.remove(&d.slot);
                }
            }
            Op::SendBatch(list) => {
                let ds: Vec<Descriptor> = list
                    .iter()
                    .take(10)
                    .map(|&(s, off, len)| {
                        Descriptor::new(
                            3,
                            u32::from(s % 14),
                            u32::from(off % 72),
                            u32::from(len % 72),
                        )
                    })
                    .collect();
                // Model: the valid, owned, distinct prefix that fits.
                let room = 8 - m.fwd.len();
                let mut seen = BTreeSet::new();
                let mut n = 0;
                let mut first_err = Error::Full;
                for d in ds.iter().take(room) {
                    if !valid(d) {
                        first_err = Error::BadDescriptor;
                        break;
                    }
                    if !m.p_owned.contains(&d.slot) || !seen.insert(d.slot) {
                        first_err = Error::NotOwned;
                        break;
                    }
                    n += 1;
                }
                let want = if n == 0 && !ds.is_empty() {
                    Err(first_err)
                } else {
                    Ok(n)
                };
                assert_eq!(p.send_batch(&ds), want, "send_batch {ds:?}");
                for d in &ds[..n] {
                    m.fwd.push_back(*d);
                    m.p_owned.remove(&d.slot);
                    m.p_free.remove(&d.slot);
                }
            }
            Op::Reclaim => {
                let n = m.ret.len();
                assert_eq!(p.reclaim(), Ok(n));
                for d in m.ret.drain(..) {
                    m.p_owned.insert(d.slot);
                    m.p_free.insert(d.slot);
                }
            }
            Op::Recv => match m.fwd.pop_front() {
                None => assert_eq!(c.recv(), Err(Error::Empty)),
                Some(d) => {
                    assert_eq!(c.recv(), Ok(d));
                    assert!(m.c_owned.insert(d.slot));
                    // The bytes are the producer's.
                    let data = c.slot(d.slot).expect("received slot is owned");
                    let mut buf = vec![0u8; d.len as usize];
                    data.read(d.offset as usize, &mut buf)
                        .expect("inside the slot");
                    if let Some(seed) = m.written[d.slot as usize] {
                        for (i, b) in buf.iter().enumerate() {
                            assert_eq!(*b, pattern(seed, d.offset as usize + i));
                        }
                    }
                    m.held.push(d);
                }
            },
            Op::RecvBatch(k) => {
                let mut out = vec![Descriptor::default(); usize::from(*k % 10)];
                let r = c.recv_batch(&mut out);
                if out.is_empty() {
                    assert_eq!(r, Ok(0));
                } else if m.fwd.is_empty() {
                    assert_eq!(r, Err(Error::Empty));
                } else {
                    let n = out.len().min(m.fwd.len());
                    assert_eq!(r, Ok(n));
                    for d in &out[..n] {
                        assert_eq!(Some(*d), m.fwd.pop_front());
                        assert!(m.c_owned.insert(d.slot));
                        m.held.push(*d);
                    }
                }
            }
            Op::Release(i, made_up) => {
                let d = if *made_up || m.held.is_empty() {
                    Descriptor::new(3, u32::from(*i % 14), 0, 0)
                } else {
                    m.held[usize::from(*i) % m.held.len()]
                };
                let want = if !valid(&d) {
                    Err(Error::BadDescriptor)
                } else if !m.c_owned.contains(&d.slot) {
                    Err(Error::NotOwned)
                } else if m.ret.len() == G.return_capacity() as usize {
                    Err(Error::Full)
                } else {
                    Ok(())
                };
                assert_eq!(c.release(d), want, "release {d:?}");
                if want.is_ok() {
                    m.ret.push_back(d);
                    m.c_owned.remove(&d.slot);
                    m.held.retain(|h| h.slot != d.slot);
                }
            }
            Op::ProducerSleep => {
                assert_eq!(p.prepare_to_sleep(), Ok(m.ret.is_empty()));
            }
            Op::ConsumerSleep => {
                assert_eq!(c.prepare_to_sleep(), Ok(m.fwd.is_empty()));
            }
            Op::Awake => c.awake(),
            Op::RingPush(vals) => {
                let vals = &vals[..vals.len().min(20)];
                let room = rcap - rmodel.len();
                let want = vals.len().min(room);
                assert_eq!(rp.push_slice(vals), Ok(want));
                rmodel.extend(&vals[..want]);
            }
            Op::RingPop(k) => {
                for _ in 0..*k % 20 {
                    match rmodel.pop_front() {
                        Some(v) => assert_eq!(rc.pop(), Ok(v)),
                        None => {
                            assert_eq!(rc.pop(), Err(Error::Empty));
                            break;
                        }
                    }
                }
            }
        }
        for s in 0..12u32 {
            assert_eq!(p.owns(s), m.p_owned.contains(&s), "producer owns {s}");
            assert_eq!(c.owns(s), m.c_owned.contains(&s), "consumer owns {s}");
        }
    }
});
