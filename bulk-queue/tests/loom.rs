//! loom models of the ring and of the wakeup protocol, both sides in spawned threads.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p bulk-queue --test loom --release --target-dir target/loom`
//! (see `scripts/ci.d/bulk-queue.sh` for the bounds used in CI). Each model has a deliberately
//! weakened twin that loom must catch. Each model runs on a ring of bare `u32` cells (found
//! through `tail`) and on a ring of `Seq<u32>` cells (single pushes found through their sequence
//! words, chunks through `tail`), and the lined ring (`bulk_queue::lined`) has its own models.
#![cfg(loom)]

use std::boxed::Box;
use std::panic::{AssertUnwindSafe, catch_unwind};

use bulk_queue::ring::{Notify, RingMem, Weakening};
use bulk_queue::{Element, Error, Seq};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

const ITEMS: u32 = 3;

/// Runs `f` under loom: exhaustively for bare cells; for sequence-word cells (more atomic
/// accesses per operation, so many more interleavings) with at most `SEQ_PREEMPTIONS`
/// preemptions per execution, a bound under which loom still catches every weakened twin below.
fn model<E: Item>(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if E::SEQ {
        b.preemption_bound = Some(SEQ_PREEMPTIONS);
    }
    b.check(f);
}

const SEQ_PREEMPTIONS: usize = 5;

/// The ring items of a model: `u32` (bare cells) or `Seq<u32>` (cells with a sequence word).
trait Item: Element + Send + 'static {
    const SEQ: bool;
    fn from_u32(v: u32) -> Self;
    fn to_u32(self) -> u32;
}
impl Item for u32 {
    const SEQ: bool = false;
    fn from_u32(v: u32) -> Self {
        v
    }
    fn to_u32(self) -> u32 {
        self
    }
}
impl Item for Seq<u32> {
    const SEQ: bool = true;
    fn from_u32(v: u32) -> Self {
        Seq(v)
    }
    fn to_u32(self) -> u32 {
        self.0
    }
}

/// Producer pushes 1..=ITEMS through a 2-entry ring (so cells are reused); the consumer must
/// see exactly that sequence.
fn transfer<E: Item>(weak: Option<Weakening>, chunked: bool) {
    model::<E>(move || {
        let mem: &'static mut RingMem<E, 2> = Box::leak(Box::new(RingMem::new()));
        let (mut p, mut c) = mem.split();
        if let Some(w) = weak {
            p.weaken(w);
            c.weaken(w);
        }
        let producer = thread::spawn(move || {
            let mut next = 1;
            while next <= ITEMS {
                if chunked {
                    if let Ok(mut chunk) = p.write_chunk(2) {
                        let n = chunk.len().min((ITEMS + 1 - next) as usize);
                        for i in 0..n {
                            chunk.set(i, E::from_u32(next + i as u32)).unwrap();
                        }
                        chunk.commit(n);
                        next += n as u32;
                        continue;
                    }
                } else if p.push(E::from_u32(next)).is_ok() {
                    next += 1;
                    continue;
                }
                thread::yield_now();
            }
        });
        let mut expect = 1;
        while expect <= ITEMS {
            match c.pop() {
                Ok(v) => {
                    assert_eq!(v.to_u32(), expect, "consumer read a stale or wrong entry");
                    expect += 1;
                }
                Err(Error::Empty) => thread::yield_now(),
                Err(e) => panic!("unexpected {e}"),
            }
        }
        producer.join().unwrap();
    });
}

#[test]
fn transfer_single_items() {
    transfer::<u32>(None, false);
}

#[test]
fn transfer_chunks() {
    transfer::<u32>(None, true);
}

#[test]
fn transfer_single_items_by_sequence_word() {
    transfer::<Seq<u32>>(None, false);
}

#[test]
fn transfer_chunks_with_sequence_words() {
    transfer::<Seq<u32>>(None, true);
}

/// The message of a panic payload (`panic!` with a format string or a literal).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("")
}

/// Runs `model`, which must panic with a message containing `expected`: any other panic (an
/// `unwrap` in the model, a bug in the harness) is not the detection the test is about.
fn assert_caught(model: impl FnOnce(), expected: &str, what: &str) {
    match catch_unwind(AssertUnwindSafe(model)) {
        Ok(()) => panic!("loom did not catch {what}"),
        Err(payload) => {
            let msg = panic_message(&*payload);
            assert!(
                msg.contains(expected),
                "{what}: expected a panic containing {expected:?}, got {msg:?}"
            );
        }
    }
}

#[test]
fn relaxed_publication_is_caught() {
    assert_caught(
        || transfer::<u32>(Some(Weakening::RelaxedPublish), false),
        "consumer read a stale or wrong entry",
        "a Relaxed store of the ring index",
    );
}

#[test]
fn relaxed_sequence_word_is_caught() {
    assert_caught(
        || transfer::<Seq<u32>>(Some(Weakening::RelaxedSeq), false),
        "consumer read a stale or wrong entry",
        "a Relaxed store of the sequence word",
    );
}

/// A counting semaphore: the notification object of the model (an eventfd).
#[derive(Default)]
struct Sem {
    count: Mutex<u32>,
    cv: Condvar,
}

struct Wake(Arc<Sem>);

impl Notify for Wake {
    fn notify(&mut self) {
        *self.0.count.lock().unwrap() += 1;
        self.0.cv.notify_one();
    }
}

/// The consumer sleeps whenever it finds the ring empty; a lost wakeup leaves it blocked forever,
/// which loom reports as a deadlock.
fn wakeup<E: Item>(weak: Option<Weakening>) {
    model::<E>(move || {
        let mem: &'static mut RingMem<E, 4> = Box::leak(Box::new(RingMem::new()));
        let sem = Arc::new(Sem::default());
        let (p, mut c) = mem.split();
        let mut p = p.with_notify(Wake(sem.clone()));
        if let Some(w) = weak {
            p.weaken(w);
            c.weaken(w);
        }
        let producer = thread::spawn(move || {
            p.push(E::from_u32(1)).unwrap();
            p.push(E::from_u32(2)).unwrap();
        });
        let mut got = 0;
        while got < 2 {
            match c.pop() {
                Ok(v) => {
                    got += 1;
                    assert_eq!(v.to_u32(), got);
                }
                Err(Error::Empty) => {
                    if c.prepare_to_sleep().unwrap() {
                        let mut n = sem.count.lock().unwrap();
                        while *n == 0 {
                            n = sem.cv.wait(n).unwrap();
                        }
                        *n -= 1;
                        drop(n);
                        c.awake();
                    }
                }
                Err(e) => panic!("unexpected {e}"),
            }
        }
        producer.join().unwrap();
    });
}

#[test]
fn no_lost_wakeup() {
    wakeup::<u32>(None);
}

#[test]
fn no_lost_wakeup_with_sequence_words() {
    wakeup::<Seq<u32>>(None);
}

#[test]
fn missing_sleep_fence_is_caught() {
    // loom's report of a model where every thread is blocked (loom 0.7 rt/execution.rs).
    assert_caught(
        || wakeup::<u32>(Some(Weakening::NoSleepFence)),
        "deadlock",
        "a lost wakeup without the SeqCst fences",
    );
}

#[test]
fn missing_sleep_fence_is_caught_with_sequence_words() {
    assert_caught(
        || wakeup::<Seq<u32>>(Some(Weakening::NoSleepFence)),
        "deadlock",
        "a lost wakeup without the SeqCst fences (sequence-word ring)",
    );
}

// ---- the lined ring (`LinedMem`: 64-byte lines of one line word and 7 `u64` items)

use bulk_queue::lined::LinedMem;

/// Preemption bound of the lined-ring models, as for sequence-word cells (the ring holds 7
/// items, so the model first fills most of it and runs 8 pops); loom still catches both
/// weakened twins under it. About 30 s on the 2-core machine.
const LINED_PREEMPTIONS: usize = 5;

fn lined_model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(LINED_PREEMPTIONS);
    b.check(f);
}

/// A one-line ring (7 items) holding 5 items pushed before the producer thread starts, which
/// then pushes 3 more: the last one reuses the cell of the first, once the consumer has
/// released it, and starts the line's next lap while the consumer may still be in the line
/// (its word then points past the line's end and the consumer asks `tail`). The consumer must
/// see exactly 1..=8.
fn lined_transfer(weak: Option<Weakening>, chunked: bool) {
    lined_model(move || {
        let mem: &'static mut LinedMem<1> = Box::leak(Box::new(LinedMem::new()));
        let (mut p, mut c) = mem.split();
        for v in 1..=5 {
            p.push(v).unwrap();
        }
        if let Some(w) = weak {
            p.weaken(w);
            c.weaken(w);
        }
        let producer = thread::spawn(move || {
            let mut next = 6;
            while next <= 8 {
                if chunked {
                    if let Ok(mut chunk) = p.write_chunk(2) {
                        let n = chunk.len().min((9 - next) as usize);
                        for i in 0..n {
                            chunk.set(i, next + i as u64).unwrap();
                        }
                        chunk.commit(n);
                        next += n as u64;
                        continue;
                    }
                } else if p.push(next).is_ok() {
                    next += 1;
                    continue;
                }
                thread::yield_now();
            }
        });
        let mut expect = 1;
        while expect <= 8 {
            match c.pop() {
                Ok(v) => {
                    assert_eq!(v, expect, "consumer read a stale or wrong entry");
                    expect += 1;
                }
                Err(Error::Empty) => thread::yield_now(),
                Err(e) => panic!("unexpected {e}"),
            }
        }
        producer.join().unwrap();
    });
}

#[test]
fn lined_transfer_single_items() {
    lined_transfer(None, false);
}

#[test]
fn lined_transfer_chunks() {
    lined_transfer(None, true);
}

#[test]
fn lined_relaxed_line_word_is_caught() {
    assert_caught(
        || lined_transfer(Some(Weakening::RelaxedSeq), false),
        "consumer read a stale or wrong entry",
        "a Relaxed store of the line word",
    );
}

/// As `wakeup`, on a one-line lined ring.
fn lined_wakeup(weak: Option<Weakening>) {
    lined_model(move || {
        let mem: &'static mut LinedMem<1> = Box::leak(Box::new(LinedMem::new()));
        let sem = Arc::new(Sem::default());
        let (p, mut c) = mem.split();
        let mut p = p.with_notify(Wake(sem.clone()));
        if let Some(w) = weak {
            p.weaken(w);
            c.weaken(w);
        }
        let producer = thread::spawn(move || {
            p.push(1).unwrap();
            p.push(2).unwrap();
        });
        let mut got = 0;
        while got < 2 {
            match c.pop() {
                Ok(v) => {
                    got += 1;
                    assert_eq!(v, got);
                }
                Err(Error::Empty) => {
                    if c.prepare_to_sleep().unwrap() {
                        let mut n = sem.count.lock().unwrap();
                        while *n == 0 {
                            n = sem.cv.wait(n).unwrap();
                        }
                        *n -= 1;
                        drop(n);
                        c.awake();
                    }
                }
                Err(e) => panic!("unexpected {e}"),
            }
        }
        producer.join().unwrap();
    });
}

#[test]
fn lined_no_lost_wakeup() {
    lined_wakeup(None);
}

#[test]
fn lined_missing_sleep_fence_is_caught() {
    assert_caught(
        || lined_wakeup(Some(Weakening::NoSleepFence)),
        "deadlock",
        "a lost wakeup without the SeqCst fences (lined ring)",
    );
}
