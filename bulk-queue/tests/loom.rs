//! loom models of the ring and of the wakeup protocol, both sides in spawned threads.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p bulk-queue --test loom --release --target-dir target/loom`
//! (see `scripts/ci.d/bulk-queue.sh` for the bounds used in CI). Each model has a deliberately
//! weakened twin that loom must catch.
#![cfg(loom)]

use std::boxed::Box;
use std::panic::{AssertUnwindSafe, catch_unwind};

use bulk_queue::Error;
use bulk_queue::ring::{Notify, RingMem, Weakening};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

const ITEMS: u32 = 3;

/// Producer pushes 1..=ITEMS through a 2-entry ring (so cells are reused); the consumer must
/// see exactly that sequence.
fn transfer(weak: Option<Weakening>, chunked: bool) {
    loom::model(move || {
        let mem: &'static mut RingMem<u32, 2> = Box::leak(Box::new(RingMem::new()));
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
                            chunk.set(i, next + i as u32).unwrap();
                        }
                        chunk.commit(n);
                        next += n as u32;
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
        while expect <= ITEMS {
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
fn transfer_single_items() {
    transfer(None, false);
}

#[test]
fn transfer_chunks() {
    transfer(None, true);
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
        || transfer(Some(Weakening::RelaxedPublish), false),
        "consumer read a stale or wrong entry",
        "a Relaxed store of the ring index",
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
fn wakeup(weak: Option<Weakening>) {
    loom::model(move || {
        let mem: &'static mut RingMem<u32, 4> = Box::leak(Box::new(RingMem::new()));
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
fn no_lost_wakeup() {
    wakeup(None);
}

#[test]
fn missing_sleep_fence_is_caught() {
    // loom's report of a model where every thread is blocked (loom 0.7 rt/execution.rs).
    assert_caught(
        || wakeup(Some(Weakening::NoSleepFence)),
        "deadlock",
        "a lost wakeup without the SeqCst fences",
    );
}
