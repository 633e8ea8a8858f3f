//! Exact instruction counts per push and per pop, single-threaded, for bulk-queue and its peers
//! (u64 items, capacity 4096), measured with callgrind.
//!
//! `cargo bench -p bulk-queue --bench instructions` re-runs this binary under
//! `valgrind --tool=callgrind`, reads the inclusive instruction count of each `#[inline(never)]`
//! wrapper below with `callgrind_annotate`, and prints instructions per call (the call and
//! return of the wrapper included: see the `noop` row). `BQ_IR=lined,noop` (substrings of the
//! wrapper names) measures only the matching wrappers.

use std::hint::black_box;
use std::process::Command;

const CAP: usize = 4096;
const BATCH: u64 = 64;
const ROUNDS: u64 = 10_000;
const CALLS: u64 = BATCH * ROUNDS;

macro_rules! wrappers {
    ($push:ident, $pop:ident, $p:ty, $c:ty, |$pp:ident, $v:ident| $pushe:expr, |$cc:ident| $pope:expr) => {
        #[inline(never)]
        fn $push($pp: &mut $p, $v: u64) -> bool {
            $pushe
        }
        #[inline(never)]
        fn $pop($cc: &mut $c) -> Option<u64> {
            $pope
        }
    };
}

/// A notification hook that only counts (the producer's wakeup check costs a SeqCst fence).
#[derive(Debug)]
struct Count(u64);
impl bulk_queue::ring::Notify for Count {
    fn notify(&mut self) {
        self.0 += 1;
    }
}
type OurNP = bulk_queue::ring::Producer<'static, u64, Count>;
#[inline(never)]
fn ir_push_bulk_queue_notify(p: &mut OurNP, v: u64) -> bool {
    p.push(v).is_ok()
}
type DescP = bulk_queue::ring::Producer<'static, bulk_queue::Descriptor>;
type DescC = bulk_queue::ring::Consumer<'static, bulk_queue::Descriptor>;
wrappers!(
    ir_push_descriptor,
    ir_pop_descriptor,
    DescP,
    DescC,
    |p, v| p
        .push(bulk_queue::Descriptor::new(
            0,
            v as u32,
            0,
            (v >> 32) as u32
        ))
        .is_ok(),
    |c| c
        .pop()
        .ok()
        .map(|d| u64::from(d.slot) | (u64::from(d.len) << 32))
);
type OurP = bulk_queue::ring::Producer<'static, u64>;
type OurC = bulk_queue::ring::Consumer<'static, u64>;
wrappers!(
    ir_push_bulk_queue,
    ir_pop_bulk_queue,
    OurP,
    OurC,
    |p, v| p.push(v).is_ok(),
    |c| c.pop().ok()
);
type SeqP = bulk_queue::ring::Producer<'static, bulk_queue::Seq<u64>>;
type SeqC = bulk_queue::ring::Consumer<'static, bulk_queue::Seq<u64>>;
wrappers!(
    ir_push_bulk_queue_seq,
    ir_pop_bulk_queue_seq,
    SeqP,
    SeqC,
    |p, v| p.push(bulk_queue::Seq(v)).is_ok(),
    |c| c.pop().ok().map(|v| v.0)
);
const LINES: usize = CAP / 7;
type LinedP = bulk_queue::lined::LinedProducer<'static>;
type LinedC = bulk_queue::lined::LinedConsumer<'static>;
wrappers!(
    ir_push_bulk_queue_lined,
    ir_pop_bulk_queue_lined,
    LinedP,
    LinedC,
    |p, v| p.push(v).is_ok(),
    |c| c.pop().ok()
);
wrappers!(
    ir_push_rtrb,
    ir_pop_rtrb,
    rtrb::Producer<u64>,
    rtrb::Consumer<u64>,
    |p, v| p.push(v).is_ok(),
    |c| c.pop().ok()
);
use ringbuf::traits::{Consumer as _, Producer as _, Split as _};
wrappers!(
    ir_push_ringbuf,
    ir_pop_ringbuf,
    ringbuf::HeapProd<u64>,
    ringbuf::HeapCons<u64>,
    |p, v| p.try_push(v).is_ok(),
    |c| c.try_pop()
);
type HlP = heapless::spsc::Producer<'static, u64>;
type HlC = heapless::spsc::Consumer<'static, u64>;
wrappers!(
    ir_push_heapless,
    ir_pop_heapless,
    HlP,
    HlC,
    |p, v| p.enqueue(v).is_ok(),
    |c| c.dequeue()
);
type Aq = &'static crossbeam_queue::ArrayQueue<u64>;
wrappers!(
    ir_push_crossbeam,
    ir_pop_crossbeam,
    Aq,
    Aq,
    |p, v| p.push(v).is_ok(),
    |c| c.pop()
);

/// Chunk operations of `CHUNK` items: fill from a counter, and sum what is read.
const CHUNK: usize = 256;
const CHUNK_CALLS: u64 = 2_000;

#[inline(never)]
fn ir_chunk_write_bulk_queue(p: &mut OurP, start: u64) -> usize {
    p.write_chunk(CHUNK as u32)
        .map_or(0, |c| c.fill_from_iter(start..))
}
#[inline(never)]
fn ir_chunk_read_bulk_queue(c: &mut OurC) -> u64 {
    let Ok(ch) = c.read_chunk(CHUNK as u32) else {
        return 0;
    };
    let s = ch.iter().sum();
    ch.commit_all();
    s
}
#[inline(never)]
fn ir_chunk_write_bulk_queue_seq(p: &mut SeqP, start: u64) -> usize {
    p.write_chunk(CHUNK as u32)
        .map_or(0, |c| c.fill_from_iter((start..).map(bulk_queue::Seq)))
}
#[inline(never)]
fn ir_chunk_read_bulk_queue_seq(c: &mut SeqC) -> u64 {
    let Ok(ch) = c.read_chunk(CHUNK as u32) else {
        return 0;
    };
    let s = ch.iter().map(|v| v.0).sum();
    ch.commit_all();
    s
}
#[inline(never)]
fn ir_chunk_write_bulk_queue_lined(p: &mut LinedP, start: u64) -> usize {
    p.write_chunk(CHUNK as u32)
        .map_or(0, |c| c.fill_from_iter(start..))
}
#[inline(never)]
fn ir_chunk_read_bulk_queue_lined(c: &mut LinedC) -> u64 {
    let Ok(ch) = c.read_chunk(CHUNK as u32) else {
        return 0;
    };
    let s = ch.iter().sum();
    ch.commit_all();
    s
}
#[inline(never)]
fn ir_chunk_write_rtrb(p: &mut rtrb::Producer<u64>, start: u64) -> usize {
    p.write_chunk_uninit(CHUNK)
        .map_or(0, |c| c.fill_from_iter(start..))
}
#[inline(never)]
fn ir_chunk_read_rtrb(c: &mut rtrb::Consumer<u64>) -> u64 {
    let Ok(ch) = c.read_chunk(CHUNK) else {
        return 0;
    };
    let (a, b) = ch.as_slices();
    let s = a.iter().sum::<u64>() + b.iter().sum::<u64>();
    ch.commit_all();
    s
}
#[inline(never)]
fn ir_chunk_write_ringbuf(p: &mut ringbuf::HeapProd<u64>, start: u64) -> usize {
    let mut buf = [0u64; CHUNK];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = start + i as u64;
    }
    p.push_slice(&buf)
}
#[inline(never)]
fn ir_chunk_read_ringbuf(c: &mut ringbuf::HeapCons<u64>) -> u64 {
    let mut buf = [0u64; CHUNK];
    let n = c.pop_slice(&mut buf);
    buf[..n].iter().sum()
}

fn drive_chunks<P, C>(
    p: &mut P,
    c: &mut C,
    write: fn(&mut P, u64) -> usize,
    read: fn(&mut C) -> u64,
) {
    let mut sum = 0u64;
    for r in 0..CHUNK_CALLS {
        assert_eq!(write(black_box(&mut *p), r * CHUNK as u64), CHUNK);
        sum = sum.wrapping_add(read(black_box(&mut *c)));
    }
    let n = CHUNK_CALLS * CHUNK as u64;
    assert_eq!(sum, n * (n - 1) / 2);
}

#[inline(never)]
fn ir_noop(v: u64) -> u64 {
    black_box(v)
}

fn drive<P, C>(
    p: &mut P,
    c: &mut C,
    push: fn(&mut P, u64) -> bool,
    pop: fn(&mut C) -> Option<u64>,
) {
    let mut sum = 0u64;
    for r in 0..ROUNDS {
        for i in 0..BATCH {
            assert!(push(black_box(&mut *p), r * BATCH + i));
        }
        for _ in 0..BATCH {
            sum = sum.wrapping_add(pop(black_box(&mut *c)).unwrap());
        }
    }
    assert_eq!(sum, CALLS * (CALLS - 1) / 2);
}

fn workload() {
    let mut s = 0;
    for i in 0..CALLS {
        s += ir_noop(i);
    }
    black_box(s);
    let (mut p, mut c) = Box::leak(Box::new(bulk_queue::ring::RingMem::<u64, CAP>::new())).split();
    drive(&mut p, &mut c, ir_push_bulk_queue, ir_pop_bulk_queue);
    let (p, mut c) = Box::leak(Box::new(bulk_queue::ring::RingMem::<u64, CAP>::new())).split();
    let mut p = p.with_notify(Count(0));
    drive(&mut p, &mut c, ir_push_bulk_queue_notify, |c: &mut OurC| {
        c.pop().ok()
    });
    let mem = Box::leak(Box::new(bulk_queue::ring::RingMem::<
        bulk_queue::Seq<u64>,
        CAP,
    >::new()));
    let (mut p, mut c) = mem.split();
    drive(
        &mut p,
        &mut c,
        ir_push_bulk_queue_seq,
        ir_pop_bulk_queue_seq,
    );
    let (mut p, mut c) = Box::leak(Box::new(bulk_queue::ring::RingMem::<
        bulk_queue::Seq<u64>,
        CAP,
    >::new()))
    .split();
    drive_chunks(
        &mut p,
        &mut c,
        ir_chunk_write_bulk_queue_seq,
        ir_chunk_read_bulk_queue_seq,
    );
    let (mut p, mut c) = Box::leak(Box::new(bulk_queue::lined::LinedMem::<LINES>::new())).split();
    drive(
        &mut p,
        &mut c,
        ir_push_bulk_queue_lined,
        ir_pop_bulk_queue_lined,
    );
    let (mut p, mut c) = Box::leak(Box::new(bulk_queue::lined::LinedMem::<LINES>::new())).split();
    drive_chunks(
        &mut p,
        &mut c,
        ir_chunk_write_bulk_queue_lined,
        ir_chunk_read_bulk_queue_lined,
    );
    let mem = Box::leak(Box::new(bulk_queue::ring::RingMem::<
        bulk_queue::Descriptor,
        CAP,
    >::new()));
    let (mut p, mut c) = mem.split();
    drive(&mut p, &mut c, ir_push_descriptor, ir_pop_descriptor);
    let (mut p, mut c) = Box::leak(Box::new(bulk_queue::ring::RingMem::<u64, CAP>::new())).split();
    drive_chunks(
        &mut p,
        &mut c,
        ir_chunk_write_bulk_queue,
        ir_chunk_read_bulk_queue,
    );
    let (mut p, mut c) = rtrb::RingBuffer::<u64>::new(CAP);
    drive_chunks(&mut p, &mut c, ir_chunk_write_rtrb, ir_chunk_read_rtrb);
    let (mut p, mut c) = ringbuf::HeapRb::<u64>::new(CAP).split();
    drive_chunks(
        &mut p,
        &mut c,
        ir_chunk_write_ringbuf,
        ir_chunk_read_ringbuf,
    );
    let (mut p, mut c) = rtrb::RingBuffer::<u64>::new(CAP);
    drive(&mut p, &mut c, ir_push_rtrb, ir_pop_rtrb);
    let (mut p, mut c) = ringbuf::HeapRb::<u64>::new(CAP).split();
    drive(&mut p, &mut c, ir_push_ringbuf, ir_pop_ringbuf);
    let (mut p, mut c) = Box::leak(Box::new(heapless::spsc::Queue::<u64, CAP>::new())).split();
    drive(&mut p, &mut c, ir_push_heapless, ir_pop_heapless);
    let q: Aq = Box::leak(Box::new(crossbeam_queue::ArrayQueue::new(CAP)));
    let (mut a, mut b) = (q, q);
    drive(&mut a, &mut b, ir_push_crossbeam, ir_pop_crossbeam);
}

fn main() {
    if std::env::var_os("BQ_UNDER_CALLGRIND").is_some() {
        workload();
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let names = [
        "ir_noop",
        "ir_push_bulk_queue",
        "ir_pop_bulk_queue",
        "ir_push_bulk_queue_notify",
        "ir_push_bulk_queue_seq",
        "ir_pop_bulk_queue_seq",
        "ir_push_bulk_queue_lined",
        "ir_pop_bulk_queue_lined",
        "ir_push_descriptor",
        "ir_pop_descriptor",
        "ir_push_rtrb",
        "ir_pop_rtrb",
        "ir_push_ringbuf",
        "ir_pop_ringbuf",
        "ir_push_heapless",
        "ir_pop_heapless",
        "ir_push_crossbeam",
        "ir_pop_crossbeam",
        "ir_chunk_write_bulk_queue",
        "ir_chunk_read_bulk_queue",
        "ir_chunk_write_bulk_queue_seq",
        "ir_chunk_read_bulk_queue_seq",
        "ir_chunk_write_bulk_queue_lined",
        "ir_chunk_read_bulk_queue_lined",
        "ir_chunk_write_rtrb",
        "ir_chunk_read_rtrb",
        "ir_chunk_write_ringbuf",
        "ir_chunk_read_ringbuf",
    ];
    println!(
        "instructions per call (callgrind --toggle-collect, {CALLS} calls each, call and return included):"
    );
    // `BQ_IR=lined` (a substring of the wrapper names, comma-separated) measures only those.
    let only = std::env::var("BQ_IR").ok();
    for name in names {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|k| name.contains(k)))
        {
            continue;
        }
        let out = std::env::temp_dir().join(format!(
            "bulk-queue-callgrind.{}.{name}",
            std::process::id()
        ));
        let run = Command::new("valgrind")
            .args(["--tool=callgrind", "--quiet"])
            .arg(format!("--toggle-collect=*{name}"))
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(&exe)
            .env("BQ_UNDER_CALLGRIND", "1")
            .status();
        if !matches!(run, Ok(s) if s.success()) {
            eprintln!("valgrind --tool=callgrind could not run ({run:?}); install valgrind");
            std::process::exit(1);
        }
        let text = std::fs::read_to_string(&out).unwrap();
        let total: u64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("totals:")
                    .or_else(|| l.strip_prefix("summary:"))
            })
            .and_then(|v| v.trim().parse().ok())
            .unwrap();
        if name.starts_with("ir_chunk") {
            let per_item = total as f64 / (CHUNK_CALLS * CHUNK as u64) as f64;
            println!(
                "  {name:30} {:7.2} per item ({CHUNK}-item chunks)",
                per_item
            );
        } else {
            println!("  {name:30} {:7.2}", total as f64 / CALLS as f64);
        }
        let _ = std::fs::remove_file(out);
    }
}
