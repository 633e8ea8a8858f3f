//! A point-to-point link carrying Ethernet frames in virtual time, with
//! seeded impairment (loss, duplication, reordering, corruption, delay,
//! jitter) and an optional bandwidth limit.
//!
//! Time is whatever the caller says it is: [`Link::send`] and [`Link::recv`]
//! take `now_ns`, and nothing happens between calls. Each direction has its
//! own impairment settings, counters and random stream (derived from the one
//! seed), so the fate of frames sent from [`End::A`] does not depend on how
//! much traffic flows from [`End::B`]: the same seed and the same sends give
//! the same losses, duplicates, reorderings and corruptions on every run.
//!
//! # What each impairment does
//! For every frame sent, in this order:
//! - **bandwidth** (if set with [`Link::set_bandwidth`]): the frame occupies
//!   the sender's side of the line for `len / bytes_per_s` seconds after the
//!   previous frame finished; it starts arriving after that (a lost frame
//!   still used the line);
//! - **loss**: with probability `loss` the frame vanishes;
//! - **corrupt**: with probability `corrupt` one random byte gets one or
//!   more of its bits flipped;
//! - **delay and jitter**: the frame arrives `delay_ns` plus a uniform
//!   `0..=jitter_ns` after it left, but never before a frame sent earlier
//!   (jitter alone does not reorder, as on a real cable);
//! - **reorder**: with probability `reorder` the frame is held back and
//!   arrives 1 ns after the next frame sent in the same direction (or,
//!   if none is sent, [`REORDER_HOLD_NS`] late);
//! - **duplicate**: with probability `duplicate` a second copy arrives right
//!   behind the first.
//!
//! # Examples
//!
//! ```
//! use nic_sim::link::{End, Impairment, Link};
//!
//! let mut link = Link::new(42, Impairment { delay_ns: 1_000, ..Impairment::default() });
//! link.send(End::A, 0, b"hello");
//! assert_eq!(link.next_arrival(End::B), Some(1_000));
//! assert_eq!(link.recv(End::B, 999), None);
//! assert_eq!(link.recv(End::B, 1_000).as_deref(), Some(&b"hello"[..]));
//! assert_eq!(link.counters(End::A).delivered, 1);
//! ```

use std::collections::BTreeMap;

use crate::rng::{Xoshiro256StarStar, splitmix64};

/// One end of a [`Link`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum End {
    /// The first end.
    A,
    /// The second end.
    B,
}

impl End {
    /// The other end.
    pub const fn peer(self) -> End {
        match self {
            End::A => End::B,
            End::B => End::A,
        }
    }

    const fn index(self) -> usize {
        match self {
            End::A => 0,
            End::B => 1,
        }
    }
}

/// How long a frame chosen for reordering waits for a later frame to pass
/// it before it is delivered anyway (1 ms past its normal arrival).
pub const REORDER_HOLD_NS: u64 = 1_000_000;

/// Impairment of one direction of a link. Probabilities are per frame, in
/// `[0, 1]` (values outside are clamped, NaN counts as 0).
///
/// The default is a perfect link: nothing lost, no delay.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Impairment {
    /// Probability that a frame is lost.
    pub loss: f64,
    /// Probability that a delivered frame arrives twice.
    pub duplicate: f64,
    /// Probability that a frame is held back behind the next one.
    pub reorder: f64,
    /// Probability that a frame has bits flipped in one random byte.
    pub corrupt: f64,
    /// Fixed propagation delay in nanoseconds.
    pub delay_ns: u64,
    /// Extra delay, uniform in `0..=jitter_ns`, per frame.
    pub jitter_ns: u64,
}

impl Impairment {
    /// A perfect link (the default).
    pub const PERFECT: Self = Self {
        loss: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        corrupt: 0.0,
        delay_ns: 0,
        jitter_ns: 0,
    };
}

/// What happened to the frames sent in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkCounters {
    /// Frames handed to [`Link::send`].
    pub sent: u64,
    /// Bytes in those frames.
    pub sent_bytes: u64,
    /// Frames (copies included) taken out with [`Link::recv`].
    pub delivered: u64,
    /// Bytes in those frames.
    pub delivered_bytes: u64,
    /// Frames dropped by the loss impairment.
    pub lost: u64,
    /// Extra copies created by the duplication impairment.
    pub duplicated: u64,
    /// Frames held back by the reorder impairment.
    pub reordered: u64,
    /// Frames whose bits the corruption impairment flipped.
    pub corrupted: u64,
    /// Frames delivered after a frame that was sent later (measured at
    /// delivery, whatever caused it).
    pub out_of_order: u64,
}

impl LinkCounters {
    /// Frames sent, lost or duplicated that are still on the wire:
    /// `sent − lost + duplicated − delivered`.
    pub fn in_flight(&self) -> u64 {
        (self.sent + self.duplicated).saturating_sub(self.lost + self.delivered)
    }
}

/// Frames in flight in one direction, keyed by (arrival time, sequence).
#[derive(Debug)]
struct Direction {
    impairment: Impairment,
    bytes_per_s: u64,
    rng: Xoshiro256StarStar,
    /// Arrival order: (arrival_ns, insertion sequence) → (send sequence, frame).
    queue: BTreeMap<(u64, u64), (u64, Vec<u8>)>,
    /// Held-back frames waiting for a later frame to pass them:
    /// their key in `queue`.
    held: Vec<(u64, u64)>,
    next_key_seq: u64,
    next_send_seq: u64,
    /// When the sender's side of the line is free again (bandwidth limit).
    line_free_ns: u64,
    /// Latest in-order arrival time so far (jitter does not reorder).
    last_arrival_ns: u64,
    /// Highest send sequence delivered so far.
    highest_delivered: Option<u64>,
    counters: LinkCounters,
}

impl Direction {
    fn new(seed: u64, impairment: Impairment) -> Self {
        Self {
            impairment,
            bytes_per_s: 0,
            rng: Xoshiro256StarStar::seed_from_u64(seed),
            queue: BTreeMap::new(),
            held: Vec::new(),
            next_key_seq: 0,
            next_send_seq: 0,
            line_free_ns: 0,
            last_arrival_ns: 0,
            highest_delivered: None,
            counters: LinkCounters::default(),
        }
    }

    fn insert(&mut self, arrival: u64, send_seq: u64, frame: Vec<u8>) -> (u64, u64) {
        let key = (arrival, self.next_key_seq);
        self.next_key_seq += 1;
        self.queue.insert(key, (send_seq, frame));
        key
    }

    fn send(&mut self, now_ns: u64, frame: &[u8]) {
        let imp = self.impairment;
        let send_seq = self.next_send_seq;
        self.next_send_seq += 1;
        self.counters.sent += 1;
        self.counters.sent_bytes += frame.len() as u64;

        // Every frame draws the same random values whatever the outcome, so
        // the pattern for frame n depends only on the seed and n.
        let r_loss = self.rng.next_f64();
        let r_corrupt = self.rng.next_f64();
        let r_reorder = self.rng.next_f64();
        let r_dup = self.rng.next_f64();
        let jitter = self.rng.below_or_equal(imp.jitter_ns);
        let corrupt_pos = self.rng.next_u64();
        // A non-zero mask, so a corrupted byte really differs.
        let corrupt_mask = (self.rng.next_u64() % 255) as u8 + 1;

        let start = now_ns.max(self.line_free_ns);
        let serialisation = if self.bytes_per_s == 0 {
            0
        } else {
            // ceil(len · 10⁹ / rate), in u128 so large frames cannot overflow.
            let ns = (frame.len() as u128 * 1_000_000_000).div_ceil(u128::from(self.bytes_per_s));
            u64::try_from(ns).unwrap_or(u64::MAX)
        };
        let left = start.saturating_add(serialisation);
        self.line_free_ns = left;

        if r_loss < probability(imp.loss) {
            self.counters.lost += 1;
            return;
        }
        let mut bytes = frame.to_vec();
        if r_corrupt < probability(imp.corrupt) && !bytes.is_empty() {
            let i = (corrupt_pos % bytes.len() as u64) as usize;
            bytes[i] ^= corrupt_mask;
            self.counters.corrupted += 1;
        }
        let natural = left
            .saturating_add(imp.delay_ns)
            .saturating_add(jitter)
            .max(self.last_arrival_ns);
        self.last_arrival_ns = natural;

        // This frame passes every frame held back so far: they land just behind it.
        for key in std::mem::take(&mut self.held) {
            if let Some(entry) = self.queue.remove(&key) {
                // Just behind this frame, unless its hold time ends sooner.
                let arrival = key.0.min(natural.saturating_add(1));
                self.insert(arrival, entry.0, entry.1);
            }
        }

        let dup = r_dup < probability(imp.duplicate);
        let copy = dup.then(|| bytes.clone());
        if r_reorder < probability(imp.reorder) {
            self.counters.reordered += 1;
            let key = self.insert(natural.saturating_add(REORDER_HOLD_NS), send_seq, bytes);
            self.held.push(key);
            if let Some(copy) = copy {
                self.counters.duplicated += 1;
                let key = self.insert(natural.saturating_add(REORDER_HOLD_NS), send_seq, copy);
                self.held.push(key);
            }
        } else {
            self.insert(natural, send_seq, bytes);
            if let Some(copy) = copy {
                self.counters.duplicated += 1;
                self.insert(natural, send_seq, copy);
            }
        }
    }

    fn recv(&mut self, now_ns: u64) -> Option<Vec<u8>> {
        let (&key, _) = self.queue.first_key_value()?;
        if key.0 > now_ns {
            return None;
        }
        let (send_seq, frame) = self.queue.remove(&key)?;
        self.held.retain(|k| *k != key);
        self.counters.delivered += 1;
        self.counters.delivered_bytes += frame.len() as u64;
        match self.highest_delivered {
            Some(h) if send_seq < h => self.counters.out_of_order += 1,
            _ => self.highest_delivered = Some(send_seq),
        }
        Some(frame)
    }
}

/// Clamps a probability to `[0, 1]`; NaN becomes 0.
fn probability(p: f64) -> f64 {
    if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) }
}

/// A link joining two ends, carrying frames in virtual time.
///
/// See the [module documentation](self) for what each impairment does.
#[derive(Debug)]
pub struct Link {
    dirs: [Direction; 2],
}

impl Link {
    /// A link with the same impairment in both directions. Each direction
    /// draws from its own random stream derived from `seed`.
    pub fn new(seed: u64, impairment: Impairment) -> Self {
        let mut sm = seed;
        let seed_ab = splitmix64(&mut sm);
        let seed_ba = splitmix64(&mut sm);
        Self {
            dirs: [
                Direction::new(seed_ab, impairment),
                Direction::new(seed_ba, impairment),
            ],
        }
    }

    /// A perfect link: no loss, no delay.
    pub fn perfect() -> Self {
        Self::new(0, Impairment::PERFECT)
    }

    /// Sets the impairment of frames sent from `from`.
    pub fn set_impairment(&mut self, from: End, impairment: Impairment) {
        self.dirs[from.index()].impairment = impairment;
    }

    /// The impairment of frames sent from `from`.
    pub fn impairment(&self, from: End) -> Impairment {
        self.dirs[from.index()].impairment
    }

    /// Limits frames sent from `from` to `bytes_per_s` bytes per second of
    /// serialisation (0: unlimited, the default). E.g. 10 Gbit/s is
    /// `1_250_000_000`.
    pub fn set_bandwidth(&mut self, from: End, bytes_per_s: u64) {
        self.dirs[from.index()].bytes_per_s = bytes_per_s;
    }

    /// Sends `frame` from end `from` at time `now_ns`.
    pub fn send(&mut self, from: End, now_ns: u64, frame: &[u8]) {
        self.dirs[from.index()].send(now_ns, frame);
    }

    /// Takes the next frame that has arrived at end `at` by `now_ns`, in
    /// arrival order (frames arriving at the same instant in send order).
    pub fn recv(&mut self, at: End, now_ns: u64) -> Option<Vec<u8>> {
        self.dirs[at.peer().index()].recv(now_ns)
    }

    /// When the next frame in flight towards `at` arrives (it may already have).
    pub fn next_arrival(&self, at: End) -> Option<u64> {
        self.dirs[at.peer().index()]
            .queue
            .first_key_value()
            .map(|(k, _)| k.0)
    }

    /// Frames in flight towards `at`.
    pub fn in_flight(&self, at: End) -> usize {
        self.dirs[at.peer().index()].queue.len()
    }

    /// Counters of the frames sent from `from`.
    pub fn counters(&self, from: End) -> LinkCounters {
        self.dirs[from.index()].counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(i: u32) -> Vec<u8> {
        let mut f = vec![0u8; 64];
        f[..4].copy_from_slice(&i.to_be_bytes());
        f
    }

    fn id(f: &[u8]) -> u32 {
        u32::from_be_bytes([f[0], f[1], f[2], f[3]])
    }

    fn drain(link: &mut Link, at: End) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(f) = link.recv(at, u64::MAX) {
            out.push(f);
        }
        out
    }

    #[test]
    fn perfect_link_delivers_everything_in_order_both_ways() {
        let mut link = Link::perfect();
        for i in 0..100 {
            link.send(End::A, u64::from(i), &frame(i));
            link.send(End::B, u64::from(i), &frame(1000 + i));
        }
        let at_b: Vec<u32> = drain(&mut link, End::B).iter().map(|f| id(f)).collect();
        let at_a: Vec<u32> = drain(&mut link, End::A).iter().map(|f| id(f)).collect();
        assert_eq!(at_b, (0..100).collect::<Vec<_>>());
        assert_eq!(at_a, (1000..1100).collect::<Vec<_>>());
        let c = link.counters(End::A);
        assert_eq!(
            (c.sent, c.delivered, c.lost, c.in_flight()),
            (100, 100, 0, 0)
        );
        assert_eq!(c.sent_bytes, 6400);
    }

    #[test]
    fn frames_arrive_after_delay_and_not_before() {
        let mut link = Link::new(
            1,
            Impairment {
                delay_ns: 500,
                jitter_ns: 100,
                ..Impairment::default()
            },
        );
        link.send(End::B, 1000, &frame(1));
        let t = link.next_arrival(End::A).unwrap();
        assert!((1500..=1600).contains(&t), "{t}");
        assert_eq!(link.recv(End::A, t - 1), None);
        assert_eq!(link.next_arrival(End::B), None);
        assert_eq!(link.recv(End::A, t).map(|f| id(&f)), Some(1));
        assert_eq!(link.next_arrival(End::A), None);
    }

    #[test]
    fn jitter_alone_never_reorders() {
        let mut link = Link::new(
            3,
            Impairment {
                delay_ns: 1000,
                jitter_ns: 50_000,
                ..Impairment::default()
            },
        );
        for i in 0..1000 {
            link.send(End::A, u64::from(i) * 10, &frame(i));
        }
        let ids: Vec<u32> = drain(&mut link, End::B).iter().map(|f| id(f)).collect();
        assert_eq!(ids, (0..1000).collect::<Vec<_>>());
        assert_eq!(link.counters(End::A).out_of_order, 0);
    }

    fn pattern(seed: u64) -> (Vec<Vec<u8>>, LinkCounters) {
        let imp = Impairment {
            loss: 0.1,
            duplicate: 0.05,
            reorder: 0.05,
            corrupt: 0.05,
            delay_ns: 10_000,
            jitter_ns: 2_000,
        };
        let mut link = Link::new(seed, imp);
        for i in 0..2000 {
            link.send(End::A, u64::from(i) * 1000, &frame(i));
            link.send(End::B, u64::from(i) * 1000, &frame(i));
        }
        let got = drain(&mut link, End::B);
        (got, link.counters(End::A))
    }

    #[test]
    fn same_seed_same_pattern_and_independent_of_reverse_traffic() {
        let (a, ca) = pattern(10);
        let (b, cb) = pattern(10);
        assert_eq!(a, b);
        assert_eq!(ca, cb);
        let (c, cc) = pattern(11);
        assert_ne!(a, c);
        assert_ne!(ca, cc);
        // Reverse traffic does not alter A→B: compare a seed's A→B pattern
        // with and without it.
        let imp = Impairment {
            loss: 0.3,
            ..Impairment::default()
        };
        let mut quiet = Link::new(12, imp);
        let mut busy = Link::new(12, imp);
        for i in 0..500 {
            quiet.send(End::A, 0, &frame(i));
            busy.send(End::B, 0, &frame(i));
            busy.send(End::A, 0, &frame(i));
        }
        assert_eq!(drain(&mut quiet, End::B), drain(&mut busy, End::B));
    }

    #[test]
    fn counters_add_up_and_rates_match_configuration() {
        let (got, c) = pattern(99);
        let n = c.sent as f64;
        assert_eq!(c.sent, 2000);
        assert_eq!(c.delivered, got.len() as u64);
        assert_eq!(c.delivered, c.sent - c.lost + c.duplicated);
        assert_eq!(c.in_flight(), 0);
        // Binomial standard deviation for p = 0.1, n = 2000 is 0.0067: allow 4σ.
        assert!((c.lost as f64 / n - 0.1).abs() < 0.027, "{c:?}");
        // Duplication, reordering and corruption apply to the frames not lost.
        let kept = (c.sent - c.lost) as f64;
        for (count, p) in [
            (c.duplicated, 0.05),
            (c.reordered, 0.05),
            (c.corrupted, 0.05),
        ] {
            assert!((count as f64 / kept - p).abs() < 0.02, "{c:?}");
        }
        // Corrupted frames differ from what was sent in exactly one byte.
        let differing = got
            .iter()
            .filter(|f| f[4..].iter().any(|&b| b != 0) || id(f) >= 2000)
            .count() as u64;
        assert!(differing <= c.corrupted + c.duplicated, "{differing} {c:?}");
        assert!(c.out_of_order > 0 && c.out_of_order <= c.reordered * 2);
    }

    #[test]
    fn measured_loss_rate_tracks_configured_rate() {
        for (seed, p) in [(1u64, 0.01), (2, 0.2), (3, 0.5), (4, 0.9)] {
            let mut link = Link::new(
                seed,
                Impairment {
                    loss: p,
                    ..Impairment::default()
                },
            );
            let n = 20_000;
            for i in 0..n {
                link.send(End::A, 0, &frame(i));
            }
            let delivered = drain(&mut link, End::B).len() as f64;
            let measured = 1.0 - delivered / f64::from(n);
            let sigma = (p * (1.0 - p) / f64::from(n)).sqrt();
            assert!(
                (measured - p).abs() < 4.0 * sigma,
                "p {p}: measured {measured}"
            );
        }
    }

    #[test]
    fn reordered_frame_lands_behind_the_next_one() {
        let mut link = Link::new(
            5,
            Impairment {
                reorder: 1.0,
                delay_ns: 100,
                ..Impairment::default()
            },
        );
        link.send(End::A, 0, &frame(0));
        // Held: it would arrive at 100 but waits for a later frame.
        assert_eq!(link.next_arrival(End::B), Some(100 + REORDER_HOLD_NS));
        link.set_impairment(End::A, Impairment::default());
        link.send(End::A, 10, &frame(1));
        let ids: Vec<u32> = drain(&mut link, End::B).iter().map(|f| id(f)).collect();
        assert_eq!(ids, vec![1, 0]);
        let c = link.counters(End::A);
        assert_eq!((c.reordered, c.out_of_order), (1, 1));
        // Alone, a held frame still arrives, after the hold time.
        link.set_impairment(
            End::A,
            Impairment {
                reorder: 1.0,
                ..Impairment::default()
            },
        );
        link.send(End::A, 1000, &frame(2));
        assert_eq!(link.recv(End::B, 1000 + REORDER_HOLD_NS - 1), None);
        assert!(link.recv(End::B, 1000 + REORDER_HOLD_NS).is_some());
    }

    #[test]
    fn corruption_flips_bits_in_one_byte_and_duplicates_repeat() {
        let mut link = Link::new(
            6,
            Impairment {
                corrupt: 1.0,
                duplicate: 1.0,
                ..Impairment::default()
            },
        );
        let sent = frame(7);
        link.send(End::A, 0, &sent);
        let got = drain(&mut link, End::B);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], got[1]);
        let diff = got[0].iter().zip(&sent).filter(|(a, b)| a != b).count();
        assert_eq!(diff, 1);
        // An empty frame cannot be corrupted, and is not counted as such.
        link.send(End::A, 0, &[]);
        assert_eq!(link.counters(End::A).corrupted, 1);
    }

    #[test]
    fn bandwidth_spaces_frames_by_serialisation_time() {
        let mut link = Link::perfect();
        // 1000 bytes/s → 1 ms per byte; 100-byte frames take 100 ms each.
        link.set_bandwidth(End::A, 1000);
        link.send(End::A, 0, &[0u8; 100]);
        link.send(End::A, 0, &[0u8; 100]);
        assert_eq!(link.next_arrival(End::B), Some(100_000_000));
        assert!(link.recv(End::B, 100_000_000).is_some());
        assert_eq!(link.next_arrival(End::B), Some(200_000_000));
        // Idle line: the next frame starts when it is sent.
        link.send(End::A, 1_000_000_000, &[0u8; 1]);
        assert!(link.recv(End::B, 200_000_000).is_some());
        assert_eq!(link.next_arrival(End::B), Some(1_001_000_000));
    }

    #[test]
    fn odd_probabilities_are_clamped() {
        let mut link = Link::new(
            8,
            Impairment {
                loss: f64::NAN,
                duplicate: -1.0,
                corrupt: 2.0,
                delay_ns: u64::MAX,
                ..Impairment::default()
            },
        );
        link.send(End::A, u64::MAX, &frame(1));
        let c = link.counters(End::A);
        assert_eq!((c.lost, c.duplicated, c.corrupted), (0, 0, 1));
        assert_eq!(link.next_arrival(End::B), Some(u64::MAX));
        assert!(link.recv(End::B, u64::MAX).is_some());
    }
}
