//! Sequences of producer and consumer operations on a lined ring
//! (`bulk_queue::lined`) of 1, 2, 3 or 5 lines (7 to 35 items), against a
//! `VecDeque` model. Small rings make the positions lap the ring many times,
//! so a line often holds the end of one lap and the start of the next.
//!
//! Every value popped, read through a chunk (`get`, `iter`, `copy_to`) or
//! `pop_slice` is the model's next one, so every item comes out exactly once
//! and in order; every count (`available`, `free`, chunk lengths, how many
//! `push_slice`/`fill_from_iter` wrote) and every error (`Full`, `Empty`,
//! `OutOfRange`) is the model's; `prepare_to_sleep` says "sleep" exactly when
//! the model is empty, and the producer's notifier fires exactly once for the
//! first publication after each such request that `awake` did not withdraw.
//!
//! The lined ring's shared words (line words, `head`, `tail`) are reachable
//! only from inside bulk-queue (its hostile-word unit tests), so this target
//! drives honest peers only; `bulk_queue_hostile` covers hostile writes to
//! the region layout.
#![no_main]

use std::collections::VecDeque;

use arbitrary::Arbitrary;
use bulk_queue::Error;
use bulk_queue::lined::{LinedMem, LinedProducer};
use bulk_queue::ring::Notify;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Op {
    /// Push one value.
    Push,
    /// Push this many values with `push_slice`.
    PushSlice(u8),
    /// `write_chunk(max)`, set the first `set` entries (last first when
    /// `reverse`), then `commit(commit)`; `commit` past `set` is cut to `set`
    /// so that no unwritten entry is published. `drop_it` drops the chunk
    /// instead (nothing published).
    WriteChunk {
        max: u8,
        set: u8,
        commit: u8,
        reverse: bool,
        drop_it: bool,
    },
    /// `write_chunk(max)`, then `fill_from_iter` with `n` values.
    Fill {
        max: u8,
        n: u8,
    },
    /// `write_chunk(max)`, set every entry, `commit_all`.
    WriteAll(u8),
    /// Pop one value.
    Pop,
    /// `pop_slice` into a buffer of this length.
    PopSlice(u8),
    /// `read_chunk(max)`, read it through `how`, then `commit(commit)`.
    ReadChunk {
        max: u8,
        commit: u8,
        how: u8,
    },
    /// `read_chunk(max)`, `commit_all`.
    ReadAll(u8),
    Available,
    Free,
    PrepareToSleep,
    Awake,
}

#[derive(Debug, Arbitrary)]
struct Input {
    lines: u8,
    ops: Vec<Op>,
}

/// Counts the producer's wakeup calls.
#[derive(Debug, Default)]
struct Counter(u32);

impl Notify for Counter {
    fn notify(&mut self) {
        self.0 += 1;
    }
}

/// The values the producer pushes: distinct, and not their positions.
fn value(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x00A5_5A00_0000_0001
}

struct Model {
    items: VecDeque<u64>,
    capacity: usize,
    /// Next value index the producer pushes.
    next: u64,
    /// A sleep request is pending (not yet signalled nor withdrawn).
    armed: bool,
    /// Notifications the producer must have made.
    notified: u32,
}

impl Model {
    fn free(&self) -> usize {
        self.capacity - self.items.len()
    }

    fn take(&mut self) -> u64 {
        let v = value(self.next);
        self.next += 1;
        v
    }

    /// The producer published `n` entries.
    fn published(&mut self, n: usize) {
        if n > 0 && self.armed {
            self.armed = false;
            self.notified += 1;
        }
    }

    fn pop(&mut self) -> u64 {
        self.items.pop_front().expect("model: pop from empty")
    }
}

fn check_notified(p: &mut LinedProducer<'_, Counter>, m: &Model) {
    assert_eq!(p.notifier().0, m.notified, "notifications");
}

fn run<const L: usize>(ops: &[Op]) {
    let mut mem = Box::new(LinedMem::<L>::new());
    let (p, mut c) = mem.split();
    let mut p = p.with_notify(Counter::default());
    let capacity = 7 * L;
    assert_eq!(p.capacity() as usize, capacity);
    assert_eq!(c.capacity() as usize, capacity);
    let mut m = Model {
        items: VecDeque::new(),
        capacity,
        next: 0,
        armed: false,
        notified: 0,
    };

    for op in ops.iter().take(512) {
        match *op {
            Op::Push => {
                let full = m.free() == 0;
                let v = value(m.next);
                match p.push(v) {
                    Ok(()) => {
                        assert!(!full, "push into a full ring");
                        m.take();
                        m.items.push_back(v);
                        m.published(1);
                    }
                    Err(e) => {
                        assert!(full, "push failed with room: {e:?}");
                        assert_eq!(e, Error::Full);
                    }
                }
            }
            Op::PushSlice(n) => {
                let vals: Vec<u64> = (0..u64::from(n)).map(|i| value(m.next + i)).collect();
                let want = vals.len().min(m.free());
                let got = p.push_slice(&vals).expect("push_slice");
                assert_eq!(got, want, "push_slice count");
                for _ in 0..got {
                    let v = m.take();
                    m.items.push_back(v);
                }
                m.published(got);
            }
            Op::WriteChunk {
                max,
                set,
                commit,
                reverse,
                drop_it,
            } => {
                let want = usize::from(max).min(m.free());
                match p.write_chunk(u32::from(max)) {
                    Ok(mut chunk) => {
                        assert_eq!(chunk.len(), want, "write_chunk length");
                        let len = chunk.len();
                        assert_eq!(chunk.set(len, 0), Err(Error::OutOfRange));
                        let k = usize::from(set).min(len);
                        let vals: Vec<u64> = (0..k as u64).map(|i| value(m.next + i)).collect();
                        if reverse {
                            for i in (0..k).rev() {
                                chunk.set(i, vals[i]).expect("set");
                            }
                        } else {
                            for (i, &v) in vals.iter().enumerate() {
                                chunk.set(i, v).expect("set");
                            }
                        }
                        // With `drop_it` the chunk goes out of scope uncommitted:
                        // nothing is announced or published.
                        if !drop_it {
                            let n = usize::from(commit).min(k);
                            chunk.commit(n);
                            for _ in 0..n {
                                let v = m.take();
                                m.items.push_back(v);
                            }
                            m.published(n);
                        }
                    }
                    Err(e) => {
                        assert_eq!(want, 0, "write_chunk failed with room: {e:?}");
                        assert_eq!(e, Error::Full);
                    }
                }
            }
            Op::Fill { max, n } => {
                let want = usize::from(max).min(m.free());
                match p.write_chunk(u32::from(max)) {
                    Ok(chunk) => {
                        assert_eq!(chunk.len(), want, "write_chunk length");
                        let vals: Vec<u64> = (0..u64::from(n)).map(|i| value(m.next + i)).collect();
                        let got = chunk.fill_from_iter(vals.iter().copied());
                        assert_eq!(got, want.min(vals.len()), "fill_from_iter count");
                        for _ in 0..got {
                            let v = m.take();
                            m.items.push_back(v);
                        }
                        m.published(got);
                    }
                    Err(e) => {
                        assert_eq!(want, 0, "write_chunk failed with room: {e:?}");
                        assert_eq!(e, Error::Full);
                    }
                }
            }
            Op::WriteAll(max) => {
                let want = usize::from(max).min(m.free());
                match p.write_chunk(u32::from(max)) {
                    Ok(mut chunk) => {
                        assert_eq!(chunk.len(), want, "write_chunk length");
                        for i in 0..chunk.len() {
                            chunk.set(i, value(m.next + i as u64)).expect("set");
                        }
                        chunk.commit_all();
                        for _ in 0..want {
                            let v = m.take();
                            m.items.push_back(v);
                        }
                        m.published(want);
                    }
                    Err(e) => {
                        assert_eq!(want, 0, "write_chunk failed with room: {e:?}");
                        assert_eq!(e, Error::Full);
                    }
                }
            }
            Op::Pop => match c.pop() {
                Ok(v) => {
                    assert!(!m.items.is_empty(), "pop from an empty ring gave {v:#x}");
                    assert_eq!(v, m.pop(), "popped value");
                }
                Err(e) => {
                    assert!(m.items.is_empty(), "pop failed with items: {e:?}");
                    assert_eq!(e, Error::Empty);
                }
            },
            Op::PopSlice(n) => {
                let mut out = vec![0u64; usize::from(n)];
                let got = c.pop_slice(&mut out).expect("pop_slice");
                assert_eq!(got, out.len().min(m.items.len()), "pop_slice count");
                for &v in &out[..got] {
                    assert_eq!(v, m.pop(), "pop_slice value");
                }
            }
            Op::ReadChunk { max, commit, how } => {
                let want = usize::from(max).min(m.items.len());
                match c.read_chunk(u32::from(max)) {
                    Ok(chunk) => {
                        assert_eq!(chunk.len(), want, "read_chunk length");
                        let len = chunk.len();
                        assert_eq!(chunk.get(len), Err(Error::OutOfRange));
                        let seen: Vec<u64> = match how % 4 {
                            0 => (0..len).map(|i| chunk.get(i).expect("get")).collect(),
                            1 => chunk.iter().collect(),
                            2 => chunk.iter().fold(Vec::new(), |mut a, v| {
                                a.push(v);
                                a
                            }),
                            _ => {
                                let mut out = vec![0u64; len + 1];
                                assert_eq!(chunk.copy_to(&mut out), len, "copy_to count");
                                out.truncate(len);
                                out
                            }
                        };
                        assert!(
                            seen.iter().eq(m.items.iter().take(len)),
                            "read_chunk values"
                        );
                        let n = usize::from(commit).min(len);
                        chunk.commit(usize::from(commit));
                        for _ in 0..n {
                            m.pop();
                        }
                    }
                    Err(e) => {
                        assert_eq!(want, 0, "read_chunk failed with items: {e:?}");
                        assert_eq!(e, Error::Empty);
                    }
                }
            }
            Op::ReadAll(max) => {
                let want = usize::from(max).min(m.items.len());
                match c.read_chunk(u32::from(max)) {
                    Ok(chunk) => {
                        assert_eq!(chunk.len(), want, "read_chunk length");
                        assert!(
                            chunk.iter().eq(m.items.iter().copied().take(want)),
                            "read_chunk values"
                        );
                        chunk.commit_all();
                        for _ in 0..want {
                            m.pop();
                        }
                    }
                    Err(e) => {
                        assert_eq!(want, 0, "read_chunk failed with items: {e:?}");
                        assert_eq!(e, Error::Empty);
                    }
                }
            }
            Op::Available => {
                assert_eq!(c.available(), Ok(m.items.len() as u32), "available");
            }
            Op::Free => {
                assert_eq!(p.free(), Ok(m.free() as u32), "free");
            }
            Op::PrepareToSleep => {
                let sleep = c.prepare_to_sleep().expect("prepare_to_sleep");
                assert_eq!(sleep, m.items.is_empty(), "prepare_to_sleep");
                if sleep {
                    m.armed = true;
                }
            }
            Op::Awake => {
                c.awake();
                m.armed = false;
            }
        }
        check_notified(&mut p, &m);
    }

    // Drain: everything still queued comes out, in order, then nothing.
    while let Some(want) = m.items.pop_front() {
        assert_eq!(c.pop(), Ok(want), "drain");
    }
    assert_eq!(c.pop(), Err(Error::Empty));
    assert_eq!(c.available(), Ok(0));
    assert_eq!(p.free(), Ok(capacity as u32));
}

fuzz_target!(|input: Input| {
    match input.lines % 4 {
        0 => run::<1>(&input.ops),
        1 => run::<2>(&input.ops),
        2 => run::<3>(&input.ops),
        _ => run::<5>(&input.ops),
    }
});
