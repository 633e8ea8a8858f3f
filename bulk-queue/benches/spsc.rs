//! SPSC throughput and ping-pong latency: bulk-queue against rtrb, ringbuf, heapless::spsc and
//! crossbeam's ArrayQueue, u64 items, capacity 4096, producer and consumer pinned to CPUs 1 and 0.
//!
//! * `cargo bench -p bulk-queue --bench spsc` — criterion groups (`iter_custom`, N items per
//!   sample).
//! * `BQ_ROUNDS=7 cargo bench -p bulk-queue --bench spsc` — interleaved rounds: every round runs
//!   every queue on every workload once, then the median and range over rounds are printed, both
//!   of the whole run and of the median over its blocks (100,000 items or 1,000 round trips),
//!   which filters out the blocks in which another process preempted one of the two threads.
//!   `BQ_WORK=pingpong` (or `single`, `chunk64`, `chunk256`, comma-separated) runs only those
//!   workloads.

use std::hint::spin_loop;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};

const CAP: usize = 4096;

fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and sched_setaffinity get valid
    // pointers; pid 0 is the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

trait Prod: Send {
    fn push1(&mut self, v: u64) -> bool;
    /// Pushes values `start..start + k` for some `k <= max`; returns `k`.
    fn push_batch(&mut self, start: u64, max: usize) -> usize;
}

trait Cons: Send {
    fn pop1(&mut self) -> Option<u64>;
    /// Pops up to `max` values, adding them to `sum`; returns how many.
    fn pop_batch(&mut self, max: usize, sum: &mut u64) -> usize;
}

// ---- bulk-queue ring
type OurP = bulk_queue::ring::Producer<'static, u64>;
type OurC = bulk_queue::ring::Consumer<'static, u64>;
fn ours() -> (OurP, OurC) {
    Box::leak(Box::new(bulk_queue::ring::RingMem::<u64, CAP>::new())).split()
}
impl Prod for OurP {
    #[inline]
    fn push1(&mut self, v: u64) -> bool {
        self.push(v).is_ok()
    }
    #[inline]
    fn push_batch(&mut self, start: u64, max: usize) -> usize {
        let Ok(chunk) = self.write_chunk(max as u32) else {
            return 0;
        };
        chunk.fill_from_iter(start..)
    }
}
impl Cons for OurC {
    #[inline]
    fn pop1(&mut self) -> Option<u64> {
        self.pop().ok()
    }
    #[inline]
    fn pop_batch(&mut self, max: usize, sum: &mut u64) -> usize {
        let Ok(chunk) = self.read_chunk(max as u32) else {
            return 0;
        };
        let n = chunk.len();
        *sum += chunk.iter().sum::<u64>();
        chunk.commit_all();
        n
    }
}

// ---- bulk-queue ring of `Seq<u64>` (cells with a sequence word)
type SeqP = bulk_queue::ring::Producer<'static, bulk_queue::Seq<u64>>;
type SeqC = bulk_queue::ring::Consumer<'static, bulk_queue::Seq<u64>>;
fn ours_seq() -> (SeqP, SeqC) {
    Box::leak(Box::new(bulk_queue::ring::RingMem::<
        bulk_queue::Seq<u64>,
        CAP,
    >::new()))
    .split()
}
impl Prod for SeqP {
    #[inline]
    fn push1(&mut self, v: u64) -> bool {
        self.push(bulk_queue::Seq(v)).is_ok()
    }
    #[inline]
    fn push_batch(&mut self, start: u64, max: usize) -> usize {
        let Ok(chunk) = self.write_chunk(max as u32) else {
            return 0;
        };
        chunk.fill_from_iter((start..).map(bulk_queue::Seq))
    }
}
impl Cons for SeqC {
    #[inline]
    fn pop1(&mut self) -> Option<u64> {
        self.pop().ok().map(|v| v.0)
    }
    #[inline]
    fn pop_batch(&mut self, max: usize, sum: &mut u64) -> usize {
        let Ok(chunk) = self.read_chunk(max as u32) else {
            return 0;
        };
        let n = chunk.len();
        *sum += chunk.iter().map(|v| v.0).sum::<u64>();
        chunk.commit_all();
        n
    }
}

// ---- bulk-queue lined ring: 64-byte lines of one line word and 7 `u64` items (585 lines:
// capacity 4095, as heapless's)
const LINES: usize = CAP / 7;
type LinedP = bulk_queue::lined::LinedProducer<'static>;
type LinedC = bulk_queue::lined::LinedConsumer<'static>;
fn ours_lined() -> (LinedP, LinedC) {
    Box::leak(Box::new(bulk_queue::lined::LinedMem::<LINES>::new())).split()
}
impl Prod for LinedP {
    #[inline]
    fn push1(&mut self, v: u64) -> bool {
        self.push(v).is_ok()
    }
    #[inline]
    fn push_batch(&mut self, start: u64, max: usize) -> usize {
        let Ok(chunk) = self.write_chunk(max as u32) else {
            return 0;
        };
        chunk.fill_from_iter(start..)
    }
}
impl Cons for LinedC {
    #[inline]
    fn pop1(&mut self) -> Option<u64> {
        self.pop().ok()
    }
    #[inline]
    fn pop_batch(&mut self, max: usize, sum: &mut u64) -> usize {
        let Ok(chunk) = self.read_chunk(max as u32) else {
            return 0;
        };
        let n = chunk.len();
        *sum += chunk.iter().sum::<u64>();
        chunk.commit_all();
        n
    }
}

// ---- bulk-queue bulk channel: alloc + send / recv + release / reclaim, 16-byte descriptors
const BG: bulk_queue::Geometry = bulk_queue::Geometry::new(CAP as u32, CAP as u32, 64, 0);
struct BulkP(bulk_queue::BulkProducer<'static>);
struct BulkC(bulk_queue::BulkConsumer<'static>);
fn bulk() -> (BulkP, BulkC) {
    let buf = Box::leak(Box::new(
        bulk_queue::AlignedBuf::<{ BG.region_len() }>::new(),
    ));
    let pm = Box::leak(Box::new([0u32; BG.producer_map_words()]));
    let cm = Box::leak(Box::new([0u32; BG.consumer_map_words()]));
    let (p, c) = bulk_queue::split(&mut buf.0, BG, pm, cm).unwrap();
    (BulkP(p), BulkC(c))
}
impl Prod for BulkP {
    #[inline]
    fn push1(&mut self, v: u64) -> bool {
        let slot = match self.0.alloc() {
            Some(s) => s,
            None => {
                let _ = self.0.reclaim();
                match self.0.alloc() {
                    Some(s) => s,
                    None => return false,
                }
            }
        };
        let mut d = bulk_queue::Descriptor::new(0, slot, 0, 8);
        d.flags = v as u16;
        if self.0.send(d).is_ok() {
            true
        } else {
            let _ = self.0.dealloc(slot);
            false
        }
    }
    fn push_batch(&mut self, _: u64, _: usize) -> usize {
        unreachable!()
    }
}
impl Cons for BulkC {
    #[inline]
    fn pop1(&mut self) -> Option<u64> {
        let d = self.0.recv().ok()?;
        let _ = self.0.release(d);
        Some(u64::from(d.flags))
    }
    fn pop_batch(&mut self, _: usize, _: &mut u64) -> usize {
        unreachable!()
    }
}

// ---- rtrb
fn rtrb_q() -> (rtrb::Producer<u64>, rtrb::Consumer<u64>) {
    rtrb::RingBuffer::new(CAP)
}
impl Prod for rtrb::Producer<u64> {
    #[inline]
    fn push1(&mut self, v: u64) -> bool {
        self.push(v).is_ok()
    }
    #[inline]
    fn push_batch(&mut self, start: u64, max: usize) -> usize {
        let n = max.min(self.slots());
        if n == 0 {
            return 0;
        }
        match self.write_chunk_uninit(n) {
            Ok(chunk) => chunk.fill_from_iter(start..),
            Err(_) => 0,
        }
    }
}
impl Cons for rtrb::Consumer<u64> {
    #[inline]
    fn pop1(&mut self) -> Option<u64> {
        self.pop().ok()
    }
    #[inline]
    fn pop_batch(&mut self, max: usize, sum: &mut u64) -> usize {
        let n = max.min(self.slots());
        if n == 0 {
            return 0;
        }
        let Ok(chunk) = self.read_chunk(n) else {
            return 0;
        };
        let (a, b) = chunk.as_slices();
        *sum += a.iter().sum::<u64>() + b.iter().sum::<u64>();
        chunk.commit_all();
        n
    }
}

// ---- ringbuf
use ringbuf::traits::{Consumer as _, Producer as _, Split as _};
fn ringbuf_q() -> (ringbuf::HeapProd<u64>, ringbuf::HeapCons<u64>) {
    ringbuf::HeapRb::<u64>::new(CAP).split()
}
impl Prod for ringbuf::HeapProd<u64> {
    #[inline]
    fn push1(&mut self, v: u64) -> bool {
        self.try_push(v).is_ok()
    }
    #[inline]
    fn push_batch(&mut self, start: u64, max: usize) -> usize {
        let mut buf = [0u64; 256];
        let max = max.min(256);
        for (i, b) in buf[..max].iter_mut().enumerate() {
            *b = start + i as u64;
        }
        self.push_slice(&buf[..max])
    }
}
impl Cons for ringbuf::HeapCons<u64> {
    #[inline]
    fn pop1(&mut self) -> Option<u64> {
        self.try_pop()
    }
    #[inline]
    fn pop_batch(&mut self, max: usize, sum: &mut u64) -> usize {
        let mut buf = [0u64; 256];
        let n = self.pop_slice(&mut buf[..max.min(256)]);
        *sum += buf[..n].iter().sum::<u64>();
        n
    }
}

// ---- heapless::spsc (capacity N - 1 = 4095)
type HlP = heapless::spsc::Producer<'static, u64>;
type HlC = heapless::spsc::Consumer<'static, u64>;
fn heapless_q() -> (HlP, HlC) {
    Box::leak(Box::new(heapless::spsc::Queue::<u64, CAP>::new())).split()
}
impl Prod for HlP {
    #[inline]
    fn push1(&mut self, v: u64) -> bool {
        self.enqueue(v).is_ok()
    }
    fn push_batch(&mut self, _: u64, _: usize) -> usize {
        unreachable!()
    }
}
impl Cons for HlC {
    #[inline]
    fn pop1(&mut self) -> Option<u64> {
        self.dequeue()
    }
    fn pop_batch(&mut self, _: usize, _: &mut u64) -> usize {
        unreachable!()
    }
}

// ---- crossbeam ArrayQueue
struct Cb(Arc<crossbeam_queue::ArrayQueue<u64>>);
fn crossbeam_q() -> (Cb, Cb) {
    let q = Arc::new(crossbeam_queue::ArrayQueue::new(CAP));
    (Cb(q.clone()), Cb(q))
}
impl Prod for Cb {
    #[inline]
    fn push1(&mut self, v: u64) -> bool {
        self.0.push(v).is_ok()
    }
    fn push_batch(&mut self, _: u64, _: usize) -> usize {
        unreachable!()
    }
}
impl Cons for Cb {
    #[inline]
    fn pop1(&mut self) -> Option<u64> {
        self.0.pop()
    }
    fn pop_batch(&mut self, _: usize, _: &mut u64) -> usize {
        unreachable!()
    }
}

/// A measurement: the whole run, and the median over blocks of it (ns per item or per round
/// trip). Preemptions by other processes hit a few blocks; the block median filters them out.
#[derive(Clone, Copy, Default)]
struct Timing {
    total: Duration,
    block_median_ns: f64,
}

/// Records `(items, time)` per block and gives the median ns per item.
struct Blocks {
    size: u64,
    next: u64,
    last: (u64, Instant),
    per_item: Vec<f64>,
}

impl Blocks {
    fn new(size: u64) -> Self {
        Blocks {
            size,
            next: size,
            last: (0, Instant::now()),
            per_item: Vec::new(),
        }
    }
    #[inline]
    fn tick(&mut self, done: u64) {
        if done >= self.next {
            let now = Instant::now();
            let items = done - self.last.0;
            self.per_item
                .push((now - self.last.1).as_nanos() as f64 / items as f64);
            self.last = (done, now);
            self.next = done + self.size;
        }
    }
    fn median(mut self) -> f64 {
        if self.per_item.is_empty() {
            return f64::NAN;
        }
        self.per_item.sort_by(|a, b| a.total_cmp(b));
        self.per_item[self.per_item.len() / 2]
    }
}

/// Moves `n` items; `batch == 1` uses the single-item operations. Times the consumer, in blocks
/// of 100,000 items.
fn throughput<P: Prod, C: Cons>(
    p: &mut P,
    c: &mut C,
    n: u64,
    batch: usize,
    check_sum: bool,
) -> Timing {
    thread::scope(|s| {
        s.spawn(|| {
            pin(1);
            let mut i = 0;
            while i < n {
                if batch == 1 {
                    if p.push1(i) {
                        i += 1;
                    } else {
                        spin_loop();
                    }
                } else {
                    let k = p.push_batch(i, batch.min((n - i) as usize));
                    if k == 0 {
                        spin_loop();
                    }
                    i += k as u64;
                }
            }
        });
        pin(0);
        let start = Instant::now();
        let mut blocks = Blocks::new(100_000);
        let (mut got, mut sum) = (0u64, 0u64);
        while got < n {
            blocks.tick(got);
            if batch == 1 {
                match c.pop1() {
                    Some(v) => {
                        sum = sum.wrapping_add(v);
                        got += 1;
                    }
                    None => spin_loop(),
                }
            } else {
                let k = c.pop_batch(batch, &mut sum);
                if k == 0 {
                    spin_loop();
                }
                got += k as u64;
            }
        }
        let t = start.elapsed();
        if check_sum {
            assert_eq!(
                sum,
                n.wrapping_mul(n.wrapping_sub(1)) / 2,
                "items lost or corrupted"
            );
        }
        Timing {
            total: t,
            block_median_ns: blocks.median(),
        }
    })
}

/// `n` round trips: push on `a`, the echo thread pops it and pushes it on `b`. Timed in blocks
/// of 1,000 round trips.
fn ping_pong<P: Prod, C: Cons>(a: &mut (P, C), b: &mut (P, C), n: u64) -> Timing {
    let (ap, ac) = (&mut a.0, &mut a.1);
    let (bp, bc) = (&mut b.0, &mut b.1);
    thread::scope(|s| {
        s.spawn(|| {
            pin(1);
            for _ in 0..n {
                let v = loop {
                    match ac.pop1() {
                        Some(v) => break v,
                        None => spin_loop(),
                    }
                };
                while !bp.push1(v) {
                    spin_loop();
                }
            }
        });
        pin(0);
        let start = Instant::now();
        let mut blocks = Blocks::new(1_000);
        for i in 0..n {
            blocks.tick(i);
            while !ap.push1(i) {
                spin_loop();
            }
            loop {
                match bc.pop1() {
                    Some(v) => {
                        assert_eq!(v & 0xffff, i & 0xffff);
                        break;
                    }
                    None => spin_loop(),
                }
            }
        }
        Timing {
            total: start.elapsed(),
            block_median_ns: blocks.median(),
        }
    })
}

const NAMES: [&str; 8] = [
    "bulk-queue",
    "bulk-queue seq",
    "bulk-queue lined",
    "bulk-queue bulk",
    "rtrb",
    "ringbuf",
    "heapless",
    "crossbeam",
];

/// What a workload measures on one queue; `None` where the queue has no such API.
#[derive(Clone, Copy, PartialEq)]
enum Work {
    Single,
    Batch(usize),
    PingPong,
}

fn measure(name: &str, work: Work, n: u64) -> Option<Timing> {
    macro_rules! on {
        ($mk:expr, $batched:expr, $check:expr) => {{
            match work {
                Work::Single => {
                    let (mut p, mut c) = $mk;
                    Some(throughput(&mut p, &mut c, n, 1, $check))
                }
                Work::Batch(b) if $batched => {
                    let (mut p, mut c) = $mk;
                    Some(throughput(&mut p, &mut c, n, b, $check))
                }
                Work::Batch(_) => None,
                Work::PingPong => {
                    let (mut a, mut b) = ($mk, $mk);
                    Some(ping_pong(&mut a, &mut b, n))
                }
            }
        }};
    }
    match name {
        "bulk-queue" => on!(ours(), true, true),
        "bulk-queue seq" => on!(ours_seq(), true, true),
        "bulk-queue lined" => on!(ours_lined(), true, true),
        "bulk-queue bulk" => on!(bulk(), false, false),
        "rtrb" => on!(rtrb_q(), true, true),
        "ringbuf" => on!(ringbuf_q(), true, true),
        "heapless" => on!(heapless_q(), false, true),
        "crossbeam" => on!(crossbeam_q(), false, true),
        _ => None,
    }
}

fn rounds(r: usize) {
    // `BQ_WORK=pingpong` (or `single`, `chunk64`, `chunk256`, comma-separated) runs only those
    // workloads.
    let only = std::env::var("BQ_WORK").ok();
    let works: Vec<_> = [
        ("single", "single item, Mops/s", Work::Single, 10_000_000u64),
        (
            "chunk64",
            "chunks of 64, Mops/s",
            Work::Batch(64),
            50_000_000,
        ),
        (
            "chunk256",
            "chunks of 256, Mops/s",
            Work::Batch(256),
            50_000_000,
        ),
        (
            "pingpong",
            "ping-pong round trip, ns",
            Work::PingPong,
            300_000,
        ),
    ]
    .into_iter()
    .filter(|(key, ..)| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|k| k == *key))
    })
    .map(|(_, title, work, n)| (title, work, n))
    .collect();
    let mut results: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); NAMES.len()]; works.len()];
    let mut block_results = results.clone();
    for round in 0..r {
        eprintln!("round {}/{r}", round + 1);
        for (w, (_, work, n)) in works.iter().enumerate() {
            for (q, name) in NAMES.iter().enumerate() {
                // The bulk channel runs single items only (it carries descriptors, not u64s).
                if *name == "bulk-queue bulk" && *work != Work::Single && *work != Work::PingPong {
                    continue;
                }
                if let Some(t) = measure(name, *work, *n) {
                    let (whole, block) = match work {
                        Work::PingPong => {
                            (t.total.as_nanos() as f64 / *n as f64, t.block_median_ns)
                        }
                        _ => (
                            *n as f64 / t.total.as_secs_f64() / 1e6,
                            1e3 / t.block_median_ns,
                        ),
                    };
                    results[w][q].push(whole);
                    block_results[w][q].push(block);
                }
            }
        }
    }
    // Per round, each bulk-queue row's block figure against the best peer's in the same round
    // (the machine's speed changes between rounds, so ratios within a round compare better).
    let ratios: Vec<Vec<Vec<f64>>> = works
        .iter()
        .enumerate()
        .map(|(w, (_, work, _))| {
            let peers: Vec<&Vec<f64>> = NAMES
                .iter()
                .enumerate()
                .filter(|(_, n)| !n.starts_with("bulk-queue"))
                .map(|(q, _)| &block_results[w][q])
                .filter(|v| !v.is_empty())
                .collect();
            (0..NAMES.len())
                .map(|q| {
                    let ours = &block_results[w][q];
                    if !NAMES[q].starts_with("bulk-queue") || ours.is_empty() || peers.is_empty() {
                        return Vec::new();
                    }
                    (0..ours.len())
                        .map(|round| {
                            let each = peers.iter().map(|v| v[round]);
                            let best = if *work == Work::PingPong {
                                each.fold(f64::INFINITY, f64::min)
                            } else {
                                each.fold(0.0, f64::max)
                            };
                            ours[round] / best
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    println!("\n{r} interleaved rounds; median [min – max] over rounds");
    println!(
        "whole run | median of the round's blocks (100,000 items / 1,000 round trips) \
         | block figure / best peer's in the same round"
    );
    let mut ratios = ratios;
    for (w, (title, _, n)) in works.iter().enumerate() {
        println!("\n{title} ({n} per round)");
        for (q, name) in NAMES.iter().enumerate() {
            let mut line = format!("  {name:16}");
            for (k, table) in [&mut results, &mut block_results, &mut ratios]
                .into_iter()
                .enumerate()
            {
                let v = &mut table[w][q];
                if v.is_empty() {
                    continue;
                }
                v.sort_by(|a, b| a.total_cmp(b));
                let (m, lo, hi) = (v[v.len() / 2], v[0], v[v.len() - 1]);
                line += &if k == 2 {
                    format!(" {m:.2}x [{lo:.2} – {hi:.2}] |")
                } else {
                    format!(" {m:9.1} [{lo:.1} – {hi:.1}] |")
                };
            }
            if line.ends_with('|') {
                println!("{}", line.trim_end_matches('|'));
            }
        }
    }
}

fn criterion_benches(c: &mut Criterion) {
    let works = [
        ("single", Work::Single),
        ("chunk64", Work::Batch(64)),
        ("chunk256", Work::Batch(256)),
        ("pingpong", Work::PingPong),
    ];
    for (gname, work) in works {
        let mut g = c.benchmark_group(gname);
        g.throughput(Throughput::Elements(1));
        g.measurement_time(Duration::from_secs(3));
        g.warm_up_time(Duration::from_millis(500));
        g.sample_size(20);
        for name in NAMES {
            if measure(name, work, 1).is_none() {
                continue;
            }
            g.bench_function(name, |b| {
                b.iter_custom(|iters| measure(name, work, iters).unwrap_or_default().total)
            });
        }
        g.finish();
    }
}

fn main() {
    if let Some(r) = std::env::var("BQ_ROUNDS").ok().and_then(|v| v.parse().ok()) {
        rounds(r);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c);
    c.final_summary();
}
