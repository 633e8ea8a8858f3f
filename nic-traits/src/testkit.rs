//! The conformance kit: generic checks that a card driver and its queue
//! drivers keep the contract of [`CardDriver`] and [`QueueDriver`].
//!
//! The kit is `no_std` and allocates nothing; it runs against any card the
//! driver author can wrap in a [`Harness`] — a simulated device, a
//! register-level model, or real hardware with a loopback cable.
//!
//! # For driver authors
//! Implement [`Harness`] for your card and its wire, then call [`run_all`]
//! in a test and assert on the result:
//!
//! ```
//! use nic_traits::testkit::{run_all, Harness};
//!
//! fn conformance<H: Harness>(harness: &mut H) {
//!     match run_all(harness) {
//!         Ok(report) => assert!(report.passed.contains(&"rx delivery")),
//!         Err(failure) => panic!("{failure}"),
//!     }
//! }
//! ```
//!
//! `nic_sim::softnic::SoftNicHarness` is a complete harness to copy from.
//!
//! Each check also exists on its own ([`check_errors`], [`check_rx_delivery`],
//! [`check_tx`], [`check_rx_exhaustion`], [`check_oversized_frame`],
//! [`check_stop_release`], [`check_interrupts`], [`check_filters`]), so a
//! failing one can be run alone. A check returns a [`Failure`] naming the
//! check, what went wrong and the numbers involved; it never panics on a
//! driver's behaviour.
//!
//! The checks keep their state on the stack, and a lot of it: run against
//! the software NIC of `nic-sim`, [`run_all`] needs a stack of 192 KB in a
//! debug build and 96 KB optimised (128 KB and 64 KB overflow). Host test
//! threads (2 MB) are fine; on a small target, give the thread that runs
//! the kit a large stack.
//!
//! # What the kit assumes of the card
//! - With no filter installed and RSS not configured, every received frame
//!   addressed to the card's MAC goes to queue 0.
//! - Queue indices `0..info().queues` can be taken with
//!   [`Harness::queue_config`], stopped, and taken again.
//! - Well-formed frames the kit sends (Ethernet, EtherType 0x88B5, or IPv4
//!   with UDP or TCP for the filter check, 60 bytes or more) are transmitted
//!   unchanged and in queue order.
//!
//! # What is checked
//! - **Frames in = frames out**: contents and order per queue, receive and
//!   transmit; no extra frames appear.
//! - **No buffer leaked or duplicated**: the tag of every buffer given to
//!   [`refill`](QueueDriver::refill) or [`tx_burst`](QueueDriver::tx_burst)
//!   must come back exactly once, from `rx_burst`, `tx_reclaim` or, after
//!   `stop_queue`, `release` (which moves nothing while the queue runs).
//! - **Hand-back**: after `stop_queue` the index is not handed out again
//!   (`InvalidState`) until the driver is given back with
//!   [`return_queue`](crate::CardDriver::return_queue).
//! - **Burst limits**: `rx_burst` never adds more than the batch's free space
//!   and leaves what the batch held untouched; `refill` and `tx_burst` take
//!   exactly `min(batch length, free descriptors)` buffers from the front and
//!   leave the rest in order.
//! - **`tx_reclaim`** returns exactly the sent buffers, in the order sent.
//! - **Ring exhaustion**: frames arriving without receive buffers are
//!   delivered later or counted in [`Stats::rx_missed`](crate::Stats), never
//!   lost silently, never a panic; a frame too long for the buffer is dropped
//!   and counted, and the next frame still arrives.
//! - **Filters**: a card without a filter class reports zero capacity and
//!   `Unsupported`; for a class it has, a rule of that class is installed,
//!   frames matching it land on the rule's queue and others do not, the
//!   handle names the class, and removal frees the slot.
//! - **Errors, not panics**: a bad queue index gives `InvalidArgument`, a
//!   queue taken twice `InvalidState`, removing an unknown filter handle
//!   `NotFound`, RSS on a card without it `Unsupported`.
//! - **Interrupt causes** name the vector a queue with work is routed to,
//!   and reading them acknowledges them.

use core::fmt;

use crate::buffer::PacketBuf;
use crate::card::{CardDriver, CardInfo, MacAddr, QueueConfig, Stats};
use crate::error::{Error, ErrorKind};
use crate::flow::{FilterAction, FilterClass, FilterHandle, FlowRule, RssConfig, RssHashFields};
use crate::queue::{Batch, QueueDriver};

/// How a check reaches the card and its wire.
///
/// # For driver authors
/// Wrap your card driver, the device (or model) behind it, and a pool of
/// packet buffers. The kit only calls these methods; it never touches the
/// device otherwise.
pub trait Harness {
    /// The card driver under test.
    type Card: CardDriver;

    /// The card driver.
    fn card(&mut self) -> &mut Self::Card;

    /// Puts `frame` on the card's wire, towards the card. Returns false if
    /// the wire could not take it (e.g. link down); the kit then fails.
    fn inject(&mut self, frame: &[u8]) -> bool;

    /// Takes the oldest frame the card put on its wire, copying up to
    /// `out.len()` bytes into `out`; returns the frame's full length, or
    /// `None` when no frame is waiting.
    fn take_transmitted(&mut self, out: &mut [u8]) -> Option<usize>;

    /// Lets the device make progress: afterwards every frame injected
    /// before has been delivered to a receive ring or dropped (and counted),
    /// and every frame queued for transmission before (whose doorbell was
    /// written) has been sent and its descriptor completed. A simulator
    /// steps its device; a harness for real hardware waits long enough.
    fn advance(&mut self);

    /// A fresh, empty packet buffer (length 0) whose writable area holds at
    /// least [`queue_config`](Self::queue_config)`.rx_buf_len` bytes, with a
    /// tag no other live buffer has; `None` when the pool is empty. The kit
    /// needs about twice the larger ring size plus 64 buffers.
    fn alloc_buffer(&mut self) -> Option<PacketBuf>;

    /// Takes back a buffer from [`alloc_buffer`](Self::alloc_buffer).
    fn free_buffer(&mut self, buf: PacketBuf);

    /// The configuration the kit uses for every queue it takes. Rings must
    /// have at most [`MAX_RING`] descriptors.
    fn queue_config(&self) -> QueueConfig {
        QueueConfig {
            rx_ring: 64,
            tx_ring: 64,
            rx_buf_len: 2048,
        }
    }
}

/// The largest ring (in descriptors) the kit can track.
pub const MAX_RING: u16 = 1024;

/// Buffers the kit can track as given to a driver at once.
const LEDGER: usize = 2 * MAX_RING as usize + 2 * BATCH;

/// Buffers moved per burst call.
const BATCH: usize = 16;

/// The longest frame the kit builds.
const SCRATCH: usize = 4096;

/// EtherType of the kit's test frames: IEEE 802 Local Experimental EtherType 1
/// (IEEE Std 802-2014 §9.2.2), which no protocol claims.
pub const KIT_ETHERTYPE: u16 = 0x88b5;

/// EtherType the filter check steers: Local Experimental EtherType 2.
const KIT_ETHERTYPE_2: u16 = 0x88b6;

/// Source MAC of injected frames: a locally administered unicast address.
const PEER_MAC: [u8; 6] = [0x02, 0x6b, 0x69, 0x74, 0x00, 0x01];

/// The numbers or values behind a [`Failure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Detail {
    /// Nothing more to say.
    None,
    /// A count that differs from the expected one.
    Count {
        /// What the contract asks for.
        expected: u64,
        /// What the driver did.
        got: u64,
    },
    /// An operation's result: `None` stands for success.
    Result {
        /// The error kind the contract asks for (`None`: success).
        expected: Option<ErrorKind>,
        /// The driver's result (`None`: success).
        got: Option<ErrorKind>,
    },
    /// A buffer, by tag.
    Buffer {
        /// The buffer's tag.
        tag: u32,
    },
    /// A frame, by the kit's sequence number.
    Frame {
        /// Sequence number of the frame expected next.
        seq: u32,
    },
    /// A filter class.
    Class(FilterClass),
}

/// A broken promise: which check, what happened, and the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Failure {
    /// The check that failed.
    pub check: &'static str,
    /// What went wrong.
    pub what: &'static str,
    /// The values involved.
    pub detail: Detail,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conformance check `{}` failed: {}",
            self.check, self.what
        )?;
        match self.detail {
            Detail::None => Ok(()),
            Detail::Count { expected, got } => write!(f, " (expected {expected}, got {got})"),
            Detail::Result { expected, got } => {
                let show = |k: Option<ErrorKind>| match k {
                    None => "Ok",
                    Some(k) => k.as_str(),
                };
                write!(f, " (expected {}, got {})", show(expected), show(got))
            }
            Detail::Buffer { tag } => write!(f, " (buffer tag {tag})"),
            Detail::Frame { seq } => write!(f, " (frame {seq})"),
            Detail::Class(c) => write!(f, " (filter class {c:?})"),
        }
    }
}

impl core::error::Error for Failure {}

/// What [`run_all`] checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Checks that ran and passed.
    pub passed: heapless::Vec<&'static str, 16>,
    /// Checks that did not apply to this card, with the reason.
    pub not_applicable: heapless::Vec<(&'static str, &'static str), 16>,
    /// Frames moved and compared, across all checks.
    pub frames: u64,
    /// Buffer hand-overs tracked (given to the driver and returned).
    pub buffers: u64,
}

#[cfg(feature = "defmt")]
impl defmt::Format for Report {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "Report {{ passed: {=usize}, not_applicable: {=usize}, frames: {=u64}, buffers: {=u64} }}",
            self.passed.len(),
            self.not_applicable.len(),
            self.frames,
            self.buffers
        )
    }
}

/// The outcome of one check that passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Outcome {
    /// The check ran and passed.
    Passed,
    /// The check does not apply to this card, for this reason.
    NotApplicable(&'static str),
}

/// Runs every check in turn and stops at the first failure.
pub fn run_all<H: Harness>(h: &mut H) -> Result<Report, Failure> {
    type Check<G> = fn(&mut G, &mut Tally) -> Result<Outcome, Failure>;
    let checks: [(&'static str, Check<H>); 8] = [
        (ERRORS, run_errors::<H>),
        (RX_DELIVERY, run_rx_delivery::<H>),
        (TX, run_tx::<H>),
        (RX_EXHAUSTION, run_rx_exhaustion::<H>),
        (OVERSIZE, run_oversized::<H>),
        (STOP_RELEASE, run_stop_release::<H>),
        (INTERRUPTS, run_interrupts::<H>),
        (FILTERS, run_filters::<H>),
    ];
    let mut report = Report::default();
    let mut tally = Tally::default();
    for (name, check) in checks {
        match check(h, &mut tally)? {
            // The vectors hold 16 entries and there are 8 checks.
            Outcome::Passed => {
                let _ = report.passed.push(name);
            }
            Outcome::NotApplicable(why) => {
                let _ = report.not_applicable.push((name, why));
            }
        }
    }
    report.frames = tally.frames;
    report.buffers = tally.buffers;
    Ok(report)
}

const ERRORS: &str = "errors";
const RX_DELIVERY: &str = "rx delivery";
const TX: &str = "tx and reclaim";
const RX_EXHAUSTION: &str = "rx ring exhaustion";
const OVERSIZE: &str = "oversized frame";
const STOP_RELEASE: &str = "stop and release";
const INTERRUPTS: &str = "interrupt causes";
const FILTERS: &str = "filter placement";

#[derive(Debug, Default)]
struct Tally {
    frames: u64,
    buffers: u64,
}

macro_rules! public_check {
    ($(#[$doc:meta])* $name:ident => $run:ident) => {
        $(#[$doc])*
        pub fn $name<H: Harness>(h: &mut H) -> Result<Outcome, Failure> {
            $run(h, &mut Tally::default())
        }
    };
}

public_check!(
    /// Bad queue indices, a queue taken twice, unknown filter handles,
    /// filter classes and RSS the card lacks: each gives its error kind.
    check_errors => run_errors
);
public_check!(
    /// Frames injected arrive on queue 0 whole and in order; `refill` and
    /// `rx_burst` respect ring and batch limits; every buffer comes back.
    check_rx_delivery => run_rx_delivery
);
public_check!(
    /// Frames queued go out whole and in order; `tx_burst` stops at a full
    /// ring leaving the rest in the batch; `tx_reclaim` returns exactly the
    /// sent buffers in order.
    check_tx => run_tx
);
public_check!(
    /// Frames arriving with too few receive buffers are delivered later or
    /// counted as missed, never lost silently.
    check_rx_exhaustion => run_rx_exhaustion
);
public_check!(
    /// A frame longer than the receive buffer (or the card's maximum) is
    /// dropped and counted, and the next frame still arrives.
    check_oversized_frame => run_oversized
);
public_check!(
    /// After `stop_queue`, `release` returns every posted and queued buffer
    /// exactly once, and the queue can be taken again.
    check_stop_release => run_stop_release
);
public_check!(
    /// A queue with interrupts enabled and work pending shows up on its
    /// vector in `interrupt_causes`, which acknowledges it.
    check_interrupts => run_interrupts
);
public_check!(
    /// For every filter class: zero capacity and `Unsupported`, or a rule of
    /// the class steers matching frames to its queue and only those.
    check_filters => run_filters
);

/// The buffers currently given to the driver, by tag.
struct Ledger {
    given: heapless::Vec<u32, LEDGER>,
}

/// Per-check state: the harness, the check's name and the ledger.
struct Ctx<'a, H: Harness> {
    h: &'a mut H,
    check: &'static str,
    ledger: Ledger,
    tally: &'a mut Tally,
    info: CardInfo,
    config: QueueConfig,
    mac: MacAddr,
    scratch: [u8; SCRATCH],
    wire: [u8; SCRATCH],
}

type Q<H> = <<H as Harness>::Card as CardDriver>::Queue;

fn kind_of<T, E: Error>(r: &Result<T, E>) -> Option<ErrorKind> {
    r.as_ref().err().map(Error::kind)
}

impl<'a, H: Harness> Ctx<'a, H> {
    fn new(h: &'a mut H, check: &'static str, tally: &'a mut Tally) -> Result<Self, Failure> {
        let config = h.queue_config();
        let info = h.card().info();
        let mac = h.card().mac_address();
        let ctx = Self {
            h,
            check,
            ledger: Ledger {
                given: heapless::Vec::new(),
            },
            tally,
            info,
            config,
            mac,
            scratch: [0; SCRATCH],
            wire: [0; SCRATCH],
        };
        if config.rx_ring > MAX_RING || config.tx_ring > MAX_RING {
            return Err(ctx.fail(
                "the harness's rings are larger than the kit tracks",
                Detail::Count {
                    expected: u64::from(MAX_RING),
                    got: u64::from(config.rx_ring.max(config.tx_ring)),
                },
            ));
        }
        Ok(ctx)
    }

    fn fail(&self, what: &'static str, detail: Detail) -> Failure {
        Failure {
            check: self.check,
            what,
            detail,
        }
    }

    fn ensure(&self, ok: bool, what: &'static str, detail: Detail) -> Result<(), Failure> {
        if ok {
            Ok(())
        } else {
            Err(self.fail(what, detail))
        }
    }

    fn ensure_count(&self, expected: u64, got: u64, what: &'static str) -> Result<(), Failure> {
        self.ensure(expected == got, what, Detail::Count { expected, got })
    }

    fn ensure_kind<T, E: Error>(
        &self,
        r: &Result<T, E>,
        expected: Option<ErrorKind>,
        what: &'static str,
    ) -> Result<(), Failure> {
        let got = kind_of(r);
        self.ensure(got == expected, what, Detail::Result { expected, got })
    }

    /// Limit for generated frame lengths: they fit buffer and card.
    fn max_len(&self) -> usize {
        (self.config.rx_buf_len as usize)
            .min(usize::from(self.info.max_frame_len))
            .min(SCRATCH)
    }

    /// The length of kit frame `seq`: 60..=max_len, varying.
    fn frame_len(&self, seq: u32) -> usize {
        let max = self.max_len().max(60);
        60 + (seq as usize * 97) % (max - 60 + 1)
    }

    fn alloc(&mut self) -> Result<PacketBuf, Failure> {
        let buf = self.h.alloc_buffer();
        buf.ok_or(self.fail("the harness ran out of buffers", Detail::None))
    }

    fn give(&mut self, tag: u32) -> Result<(), Failure> {
        if self.ledger.given.contains(&tag) {
            return Err(self.fail(
                "the harness handed out a buffer tag that is already in use",
                Detail::Buffer { tag },
            ));
        }
        self.tally.buffers += 1;
        self.ledger
            .given
            .push(tag)
            .map_err(|_| self.fail("more buffers in flight than the kit tracks", Detail::None))
    }

    /// A buffer came back from the driver: it must have been given and not
    /// returned yet. It goes back to the harness unless `keep`.
    fn back(&mut self, buf: &PacketBuf) -> Result<(), Failure> {
        let tag = buf.tag();
        let Some(i) = self.ledger.given.iter().position(|&t| t == tag) else {
            return Err(self.fail(
                "the driver returned a buffer it was not given or returned it twice",
                Detail::Buffer { tag },
            ));
        };
        self.ledger.given.swap_remove(i);
        Ok(())
    }

    fn take_queue(&mut self, index: u16) -> Result<Q<H>, Failure> {
        let config = self.config;
        let r = self.h.card().queue(index, config);
        let got = kind_of(&r);
        r.map_err(|_| {
            self.fail(
                "the card refused a queue the kit needs",
                Detail::Result {
                    expected: None,
                    got,
                },
            )
        })
    }

    /// Posts buffers until the receive ring is full, checking `refill`'s limits.
    fn fill_rx(&mut self, q: &mut Q<H>, max: usize) -> Result<usize, Failure> {
        let mut posted = 0;
        // Bounded: each round posts at least one buffer or ends.
        for _ in 0..=LEDGER {
            let free = q.rx_free();
            if free == 0 || posted >= max {
                break;
            }
            // Offer more than fits when the ring is nearly full, so the
            // leftover rule is exercised.
            let offer = BATCH.min(max - posted);
            let mut batch: Batch<BATCH> = Batch::new();
            for _ in 0..offer {
                let b = self.alloc()?;
                let _ = batch.push_back(b);
            }
            let n = self.refill_checked(q, &mut batch, free)?;
            posted += n;
            self.drain_to_harness(&mut batch);
            if n == 0 {
                break;
            }
        }
        Ok(posted)
    }

    /// `refill` with the burst rule checked: it takes `min(len, free)` from
    /// the front and leaves the rest in order.
    fn refill_checked(
        &mut self,
        q: &mut Q<H>,
        batch: &mut Batch<BATCH>,
        free: usize,
    ) -> Result<usize, Failure> {
        let tags = tags_of(batch);
        let before = batch.len();
        let r = q.refill(batch);
        self.ensure_kind(&r, None, "refill failed")?;
        let n = r.unwrap_or(0);
        self.burst_rule(n, before, free, batch, &tags)?;
        for &t in &tags[..n] {
            self.give(t)?;
        }
        Ok(n)
    }

    fn burst_rule(
        &self,
        n: usize,
        before: usize,
        free: usize,
        batch: &Batch<BATCH>,
        tags: &heapless::Vec<u32, BATCH>,
    ) -> Result<(), Failure> {
        self.ensure_count(
            before.min(free) as u64,
            n as u64,
            "a burst did not take min(batch length, free descriptors) buffers",
        )?;
        self.ensure_count(
            (before - n.min(before)) as u64,
            batch.len() as u64,
            "a burst did not leave the buffers it did not take in the batch",
        )?;
        for (i, b) in batch.iter().enumerate() {
            let expected = tags.get(n + i).copied().unwrap_or(u32::MAX);
            self.ensure(
                b.tag() == expected,
                "a burst did not take buffers from the front, or reordered the rest",
                Detail::Buffer { tag: b.tag() },
            )?;
        }
        Ok(())
    }

    fn drain_to_harness<const N: usize>(&mut self, batch: &mut Batch<N>) {
        while let Some(b) = batch.pop_front() {
            self.h.free_buffer(b);
        }
    }

    /// Builds kit frame `seq` into `scratch`; returns its length.
    fn build(&mut self, seq: u32) -> usize {
        let len = self.frame_len(seq);
        kit_frame(&mut self.scratch[..len], self.mac, KIT_ETHERTYPE, seq);
        len
    }

    fn inject_kit_frame(&mut self, seq: u32) -> Result<(), Failure> {
        let len = self.build(seq);
        let ok = self.h.inject(&self.scratch[..len]);
        self.ensure(
            ok,
            "the harness could not put a frame on the wire",
            Detail::Frame { seq },
        )
    }

    /// Receives everything waiting on `q` and checks each frame is the next
    /// kit frame in order (`next` is updated). With `gaps`, frames may be
    /// missing (dropped and counted) but never reordered.
    fn collect_rx(&mut self, q: &mut Q<H>, next: &mut u32, gaps: bool) -> Result<u64, Failure> {
        let mut got = 0u64;
        for _ in 0..=LEDGER {
            // Pre-load the batch with buffers the driver does not own, to
            // check rx_burst respects the free space and leaves them alone.
            let mut out: Batch<BATCH> = Batch::new();
            let preload = (got as usize) % 3;
            for _ in 0..preload {
                let b = self.alloc()?;
                let _ = out.push_back(b);
            }
            let pre_tags = tags_of(&out);
            let r = q.rx_burst(&mut out);
            self.ensure_kind(&r, None, "rx_burst failed")?;
            let n = r.unwrap_or(0);
            self.ensure(
                n <= BATCH - preload && out.len() == preload + n,
                "rx_burst returned more than the batch's free space, or miscounted",
                Detail::Count {
                    expected: (BATCH - preload) as u64,
                    got: n as u64,
                },
            )?;
            for (i, t) in pre_tags.iter().enumerate() {
                let same = out.get(i).map(PacketBuf::tag) == Some(*t);
                self.ensure(
                    same,
                    "rx_burst disturbed buffers already in the batch",
                    Detail::Buffer { tag: *t },
                )?;
            }
            for _ in 0..preload {
                if let Some(b) = out.pop_front() {
                    self.h.free_buffer(b);
                }
            }
            while let Some(b) = out.pop_front() {
                self.back(&b)?;
                let r = self.match_kit_frame(b.data(), next, gaps);
                self.h.free_buffer(b);
                r?;
                got += 1;
            }
            if n == 0 {
                break;
            }
        }
        Ok(got)
    }

    /// Checks `data` is kit frame `*next` (or a later one, with `gaps`).
    fn match_kit_frame(&mut self, data: &[u8], next: &mut u32, gaps: bool) -> Result<(), Failure> {
        let seq = kit_seq(data).unwrap_or(u32::MAX);
        let in_order = if gaps {
            seq >= *next && seq != u32::MAX
        } else {
            seq == *next
        };
        self.ensure(
            in_order,
            "a received frame is not the next one sent (lost, reordered or foreign)",
            Detail::Frame { seq: *next },
        )?;
        let len = self.build(seq);
        self.ensure(
            data == &self.scratch[..len],
            "a frame's contents or length changed on the way",
            Detail::Frame { seq },
        )?;
        self.tally.frames += 1;
        *next = seq.wrapping_add(1);
        Ok(())
    }

    /// Stops queue `index`, releases every buffer and checks the ledger is
    /// empty afterwards.
    fn teardown(&mut self, index: u16, q: Q<H>) -> Result<(), Failure> {
        self.stop_and_release(index, q)?;
        self.ensure_count(
            0,
            self.ledger.given.len() as u64,
            "buffers given to the driver never came back",
        )
    }

    /// Stops queue `index` and takes back its buffers, leaving the ledger
    /// check to the last queue's [`teardown`](Self::teardown).
    ///
    /// Also checks the hand-back contract: `release` moves nothing while the
    /// queue runs, the index is not handed out again while the old driver
    /// lives, and `return_queue` takes the driver back.
    fn stop_and_release(&mut self, index: u16, mut q: Q<H>) -> Result<(), Failure> {
        let mut early: Batch<BATCH> = Batch::new();
        let n = q.release(&mut early);
        self.ensure_count(
            0,
            n as u64,
            "release returned buffers while the queue still ran",
        )?;
        let r = self.h.card().stop_queue(index);
        self.ensure_kind(&r, None, "stop_queue failed")?;
        let config = self.config;
        let again = self.h.card().queue(index, config);
        self.ensure_kind(
            &again,
            Some(ErrorKind::InvalidState),
            "a queue index was handed out again before its driver came back",
        )?;
        self.release_all(&mut q)?;
        let r = self.h.card().return_queue(q);
        self.ensure_kind(&r, None, "return_queue failed")
    }

    fn release_all(&mut self, q: &mut Q<H>) -> Result<(), Failure> {
        for _ in 0..=(LEDGER / BATCH + 1) {
            let mut out: Batch<BATCH> = Batch::new();
            let n = q.release(&mut out);
            self.ensure_count(n as u64, out.len() as u64, "release miscounted")?;
            while let Some(b) = out.pop_front() {
                let r = self.back(&b);
                self.h.free_buffer(b);
                r?;
            }
            if n < BATCH {
                return Ok(());
            }
        }
        Err(self.fail("release kept returning buffers", Detail::None))
    }

    fn stats(&mut self) -> Stats {
        self.h.card().stats()
    }
}

fn tags_of<const N: usize>(batch: &Batch<N>) -> heapless::Vec<u32, BATCH> {
    batch.iter().take(BATCH).map(PacketBuf::tag).collect()
}

/// Writes a kit frame: destination `dst`, source [`PEER_MAC`], `ethertype`,
/// the sequence number, then a pattern derived from it.
fn kit_frame(out: &mut [u8], dst: MacAddr, ethertype: u16, seq: u32) {
    out[..6].copy_from_slice(&dst.0);
    out[6..12].copy_from_slice(&PEER_MAC);
    out[12..14].copy_from_slice(&ethertype.to_be_bytes());
    out[14..18].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in out[18..].iter_mut().enumerate() {
        *b = (seq as usize).wrapping_mul(31).wrapping_add(i) as u8;
    }
}

/// The sequence number of a kit frame, if `data` is one.
fn kit_seq(data: &[u8]) -> Option<u32> {
    if data.len() < 18 || data[6..12] != PEER_MAC || data[12..14] != KIT_ETHERTYPE.to_be_bytes() {
        return None;
    }
    Some(u32::from_be_bytes([data[14], data[15], data[16], data[17]]))
}

fn run_errors<H: Harness>(h: &mut H, tally: &mut Tally) -> Result<Outcome, Failure> {
    let mut c = Ctx::new(h, ERRORS, tally)?;
    let n = c.info.queues;
    let cfg = c.config;
    let r = c.h.card().queue(n, cfg);
    c.ensure_kind(
        &r,
        Some(ErrorKind::InvalidArgument),
        "queue(index past the last queue)",
    )?;
    drop(r);
    let r = c.h.card().queue(u16::MAX, cfg);
    c.ensure_kind(&r, Some(ErrorKind::InvalidArgument), "queue(u16::MAX)")?;
    drop(r);
    let q = c.take_queue(0)?;
    let r = c.h.card().queue(0, cfg);
    c.ensure_kind(
        &r,
        Some(ErrorKind::InvalidState),
        "a queue handed out twice",
    )?;
    drop(r);
    let r = c.h.card().stop_queue(n);
    c.ensure_kind(
        &r,
        Some(ErrorKind::InvalidArgument),
        "stop_queue(index past the last queue)",
    )?;
    let r = c.h.card().set_queue_vector(n, 0);
    c.ensure_kind(
        &r,
        Some(ErrorKind::InvalidArgument),
        "set_queue_vector(index past the last queue)",
    )?;
    for class in FilterClass::ALL {
        let unknown = FilterHandle {
            class,
            index: u32::MAX,
        };
        let r = c.h.card().remove_filter(unknown);
        c.ensure_kind(
            &r,
            Some(ErrorKind::NotFound),
            "remove_filter(a handle never handed out)",
        )?;
        if c.h.card().filter_capacity(class).total == 0 {
            let r =
                c.h.card()
                    .install_filter(class, &FlowRule::ARP, FilterAction::default());
            c.ensure_kind(
                &r,
                Some(ErrorKind::Unsupported),
                "install_filter on a class with zero capacity",
            )?;
        }
    }
    if c.info.reta_len == 0 {
        let key = [0x6du8; 40];
        let reta = [0u16; 1];
        let rss = RssConfig {
            key: &key,
            reta: &reta,
            fields: RssHashFields::IPV4,
        };
        let r = c.h.card().set_rss(&rss);
        c.ensure_kind(
            &r,
            Some(ErrorKind::Unsupported),
            "set_rss on a card reporting reta_len 0",
        )?;
    }
    c.teardown(0, q)?;
    Ok(Outcome::Passed)
}

fn run_rx_delivery<H: Harness>(h: &mut H, tally: &mut Tally) -> Result<Outcome, Failure> {
    let mut c = Ctx::new(h, RX_DELIVERY, tally)?;
    let mut q = c.take_queue(0)?;
    let capacity = q.rx_free();
    c.ensure(
        capacity > 0 && capacity <= usize::from(c.config.rx_ring),
        "rx_free of a new queue is outside 1..=rx_ring",
        Detail::Count {
            expected: u64::from(c.config.rx_ring),
            got: capacity as u64,
        },
    )?;
    // Post a little first, then fill, so refill meets a nearly full ring.
    let first = c.fill_rx(&mut q, 3)?;
    let posted = first + c.fill_rx(&mut q, usize::MAX)?;
    c.ensure_count(
        capacity as u64,
        posted as u64,
        "refill did not fill the ring to rx_free",
    )?;
    c.ensure_count(0, q.rx_free() as u64, "rx_free of a full ring")?;
    let stats0 = c.stats();
    // Frames in several rounds, each fewer than the ring holds.
    let rounds = 3u32;
    let per_round = (capacity as u32).min(3 * BATCH as u32 + 5);
    let mut seq = 0u32;
    let mut next = 0u32;
    for _ in 0..rounds {
        for _ in 0..per_round {
            c.inject_kit_frame(seq)?;
            seq += 1;
        }
        c.h.advance();
        let got = c.collect_rx(&mut q, &mut next, false)?;
        c.ensure_count(
            u64::from(per_round),
            got,
            "frames injected with buffers posted did not all arrive",
        )?;
        c.fill_rx(&mut q, usize::MAX)?;
    }
    let stats1 = c.stats();
    c.ensure_count(
        u64::from(rounds * per_round),
        stats1.rx_packets.wrapping_sub(stats0.rx_packets),
        "Stats::rx_packets did not count the frames delivered",
    )?;
    c.ensure_count(
        0,
        stats1.rx_missed.wrapping_sub(stats0.rx_missed),
        "Stats::rx_missed counted frames although buffers were posted",
    )?;
    c.teardown(0, q)?;
    Ok(Outcome::Passed)
}

fn run_tx<H: Harness>(h: &mut H, tally: &mut Tally) -> Result<Outcome, Failure> {
    let mut c = Ctx::new(h, TX, tally)?;
    let mut q = c.take_queue(0)?;
    let capacity = q.tx_free();
    c.ensure(
        capacity > 0 && capacity <= usize::from(c.config.tx_ring),
        "tx_free of a new queue is outside 1..=tx_ring",
        Detail::Count {
            expected: u64::from(c.config.tx_ring),
            got: capacity as u64,
        },
    )?;
    let stats0 = c.stats();
    let total = (capacity + BATCH + 3) as u32;
    let mut sent_order: heapless::Deque<u32, LEDGER> = heapless::Deque::new();
    let mut batch: Batch<BATCH> = Batch::new();
    let mut seq = 0u32;
    let mut wire_next = 0u32;
    let mut reclaimed = 0u64;
    let mut saw_full = false;
    for _ in 0..(4 * LEDGER) {
        while !batch.is_full() && seq < total {
            let len = c.build(seq);
            let mut b = c.alloc()?;
            let ok = b.append(&c.scratch[..len]).is_ok();
            c.ensure(
                ok,
                "a harness buffer cannot hold a test frame",
                Detail::Frame { seq },
            )?;
            let _ = batch.push_back(b);
            seq += 1;
        }
        if batch.is_empty() && sent_order.is_empty() {
            break;
        }
        let tags = tags_of(&batch);
        let before = batch.len();
        let free = q.tx_free();
        let r = q.tx_burst(&mut batch);
        c.ensure_kind(&r, None, "tx_burst failed")?;
        let n = r.unwrap_or(0);
        c.burst_rule(n, before, free, &batch, &tags)?;
        for &t in &tags[..n] {
            c.give(t)?;
            let _ = sent_order.push_back(t);
        }
        if n < before {
            saw_full = true;
        }
        if n == 0 || seq >= total {
            c.h.advance();
            // Reclaim, checking order against what was sent.
            for _ in 0..=LEDGER {
                let mut done: Batch<BATCH> = Batch::new();
                let r = q.tx_reclaim(&mut done);
                c.ensure_kind(&r, None, "tx_reclaim failed")?;
                let k = r.unwrap_or(0);
                c.ensure_count(k as u64, done.len() as u64, "tx_reclaim miscounted")?;
                while let Some(b) = done.pop_front() {
                    let expected = sent_order.pop_front();
                    let ok = expected == Some(b.tag());
                    let r = c.back(&b);
                    c.h.free_buffer(b);
                    r?;
                    c.ensure(
                        ok,
                        "tx_reclaim returned buffers out of the order sent",
                        Detail::Buffer {
                            tag: expected.unwrap_or(u32::MAX),
                        },
                    )?;
                    reclaimed += 1;
                }
                if k == 0 {
                    break;
                }
            }
            // Everything sent before advance() is on the wire, in order.
            while let Some(len) = c.h.take_transmitted(&mut c.wire) {
                let len = len.min(SCRATCH);
                let mut wire = [0u8; SCRATCH];
                wire[..len].copy_from_slice(&c.wire[..len]);
                c.match_kit_frame(&wire[..len], &mut wire_next, false)?;
            }
            c.ensure_count(
                reclaimed,
                u64::from(wire_next),
                "frames on the wire differ from buffers reclaimed",
            )?;
        }
    }
    c.ensure_count(
        u64::from(total),
        reclaimed,
        "not every frame sent was reclaimed",
    )?;
    c.ensure(
        saw_full,
        "tx_burst never met a full ring although more frames than descriptors were offered",
        Detail::Count {
            expected: capacity as u64,
            got: u64::from(total),
        },
    )?;
    let stats1 = c.stats();
    c.ensure_count(
        u64::from(total),
        stats1.tx_packets.wrapping_sub(stats0.tx_packets),
        "Stats::tx_packets did not count the frames sent",
    )?;
    c.teardown(0, q)?;
    Ok(Outcome::Passed)
}

fn run_rx_exhaustion<H: Harness>(h: &mut H, tally: &mut Tally) -> Result<Outcome, Failure> {
    let mut c = Ctx::new(h, RX_EXHAUSTION, tally)?;
    let mut q = c.take_queue(0)?;
    let stats0 = c.stats();
    // No buffer posted at all, then a few: more frames than buffers each time.
    let mut seq = 0u32;
    for _ in 0..5 {
        c.inject_kit_frame(seq)?;
        seq += 1;
    }
    c.h.advance();
    let mut next = 0u32;
    let early = c.collect_rx(&mut q, &mut next, true)?;
    c.ensure_count(0, early, "frames were delivered without any buffer posted")?;
    let posted = c.fill_rx(&mut q, 4)? as u32;
    let burst = posted + 8;
    for _ in 0..burst {
        c.inject_kit_frame(seq)?;
        seq += 1;
    }
    c.h.advance();
    let first = c.collect_rx(&mut q, &mut next, true)?;
    c.ensure(
        first <= u64::from(posted) && first > 0,
        "with buffers posted, between one and that many frames must arrive",
        Detail::Count {
            expected: u64::from(posted),
            got: first,
        },
    )?;
    // Frames a device held back arrive once buffers are there.
    c.fill_rx(&mut q, usize::MAX)?;
    c.h.advance();
    let later = c.collect_rx(&mut q, &mut next, true)?;
    let stats1 = c.stats();
    let missed = stats1.rx_missed.wrapping_sub(stats0.rx_missed);
    let errors = stats1.rx_errors.wrapping_sub(stats0.rx_errors);
    c.ensure_count(0, errors, "well-formed frames were counted as errors")?;
    c.ensure_count(
        u64::from(seq),
        early + first + later + missed,
        "frames injected ≠ frames delivered + Stats::rx_missed",
    )?;
    c.ensure(
        missed > 0,
        "frames arrived with no buffer posted but none was counted missed",
        Detail::Count {
            expected: 5,
            got: missed,
        },
    )?;
    c.teardown(0, q)?;
    Ok(Outcome::Passed)
}

fn run_oversized<H: Harness>(h: &mut H, tally: &mut Tally) -> Result<Outcome, Failure> {
    let mut c = Ctx::new(h, OVERSIZE, tally)?;
    let limit = (c.config.rx_buf_len as usize).min(usize::from(c.info.max_frame_len));
    let len = limit + 1;
    if len > SCRATCH {
        return Ok(Outcome::NotApplicable(
            "receive buffers longer than the kit's 4096-byte frames",
        ));
    }
    let mut q = c.take_queue(0)?;
    c.fill_rx(&mut q, usize::MAX)?;
    let stats0 = c.stats();
    let mac = c.mac;
    kit_frame(&mut c.scratch[..len], mac, KIT_ETHERTYPE, 1000);
    let ok = c.h.inject(&c.scratch[..len]);
    c.ensure(
        ok,
        "the harness could not put a frame on the wire",
        Detail::None,
    )?;
    c.inject_kit_frame(0)?;
    c.h.advance();
    let mut next = 0u32;
    let got = c.collect_rx(&mut q, &mut next, false)?;
    c.ensure_count(
        1,
        got,
        "only the well-formed frame after the oversized one must arrive",
    )?;
    let stats1 = c.stats();
    let dropped = stats1.rx_errors.wrapping_sub(stats0.rx_errors)
        + stats1.rx_missed.wrapping_sub(stats0.rx_missed);
    c.ensure_count(
        1,
        dropped,
        "the oversized frame was not counted (rx_errors or rx_missed)",
    )?;
    c.teardown(0, q)?;
    Ok(Outcome::Passed)
}

fn run_stop_release<H: Harness>(h: &mut H, tally: &mut Tally) -> Result<Outcome, Failure> {
    let mut c = Ctx::new(h, STOP_RELEASE, tally)?;
    let mut q = c.take_queue(0)?;
    c.fill_rx(&mut q, usize::MAX)?;
    // Frames delivered but not collected, and frames queued but not sent:
    // release must return both kinds.
    c.inject_kit_frame(0)?;
    c.inject_kit_frame(1)?;
    c.h.advance();
    let mut batch: Batch<BATCH> = Batch::new();
    for seq in 0..4 {
        let len = c.build(seq);
        let mut b = c.alloc()?;
        let _ = b.append(&c.scratch[..len]);
        let _ = batch.push_back(b);
    }
    let tags = tags_of(&batch);
    let free = q.tx_free();
    let before = batch.len();
    let r = q.tx_burst(&mut batch);
    c.ensure_kind(&r, None, "tx_burst failed")?;
    let n = r.unwrap_or(0);
    c.burst_rule(n, before, free, &batch, &tags)?;
    for &t in &tags[..n] {
        c.give(t)?;
    }
    c.drain_to_harness(&mut batch);
    // Stop without advancing: the ledger must empty through release alone.
    c.teardown(0, q)?;
    while c.h.take_transmitted(&mut c.wire).is_some() {}
    // The queue can be taken again after stop, and works.
    let mut q = c.take_queue(0)?;
    c.fill_rx(&mut q, usize::MAX)?;
    c.inject_kit_frame(7)?;
    c.h.advance();
    let mut next = 7u32;
    let got = c.collect_rx(&mut q, &mut next, false)?;
    c.ensure_count(
        1,
        got,
        "a queue taken again after stop_queue did not receive",
    )?;
    c.teardown(0, q)?;
    Ok(Outcome::Passed)
}

fn run_interrupts<H: Harness>(h: &mut H, tally: &mut Tally) -> Result<Outcome, Failure> {
    let mut c = Ctx::new(h, INTERRUPTS, tally)?;
    if c.info.vectors == 0 {
        return Ok(Outcome::NotApplicable("the card has no interrupt vectors"));
    }
    let vector = c.info.vectors - 1;
    let bit = 1u64.checked_shl(u32::from(vector)).unwrap_or(0);
    let mut q = c.take_queue(0)?;
    let r = c.h.card().set_queue_vector(0, vector);
    c.ensure_kind(&r, None, "set_queue_vector(0, last vector) failed")?;
    let r = q.set_interrupt(true);
    c.ensure_kind(&r, None, "set_interrupt(true) failed")?;
    c.fill_rx(&mut q, usize::MAX)?;
    let _ = c.h.card().interrupt_causes();
    c.inject_kit_frame(0)?;
    c.h.advance();
    let causes = c.h.card().interrupt_causes();
    c.ensure(
        causes.vectors & bit != 0,
        "a received frame did not raise the queue's vector",
        Detail::Count {
            expected: bit,
            got: causes.vectors,
        },
    )?;
    let again = c.h.card().interrupt_causes();
    c.ensure(
        again.vectors & bit == 0,
        "interrupt_causes did not acknowledge what it reported",
        Detail::Count {
            expected: 0,
            got: again.vectors,
        },
    )?;
    let mut next = 0u32;
    let got = c.collect_rx(&mut q, &mut next, false)?;
    c.ensure_count(1, got, "the frame that raised the interrupt did not arrive")?;
    let r = q.set_interrupt(false);
    c.ensure_kind(&r, None, "set_interrupt(false) failed")?;
    let r = c.h.card().set_queue_vector(0, 0);
    c.ensure_kind(&r, None, "set_queue_vector(0, 0) failed")?;
    c.teardown(0, q)?;
    Ok(Outcome::Passed)
}

/// Addresses and ports of the filter check's frames (RFC 5737 documentation
/// space would do too; these are private, RFC 1918).
const HOST_IP: [u8; 4] = [10, 0, 0, 1];
const PEER_IP: [u8; 4] = [10, 0, 0, 2];
const PORT: u16 = 7777;
const PEER_PORT: u16 = 40000;

/// A frame shape the filter check can build.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// Ethernet with this EtherType.
    Ether(u16),
    /// IPv4/UDP to this destination port.
    Udp(u16),
    /// IPv4/TCP: source port, destination port, flags.
    Tcp(u16, u16, u8),
}

/// TCP flags (RFC 9293 §3.1).
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

/// Rules the filter check tries for each class, with a frame that matches
/// and one that does not.
fn candidates() -> [(FlowRule, Shape, Shape); 6] {
    use core::net::{IpAddr, Ipv4Addr, SocketAddr};
    let host = IpAddr::V4(Ipv4Addr::from(HOST_IP));
    let peer = IpAddr::V4(Ipv4Addr::from(PEER_IP));
    [
        (
            FlowRule::EtherType(KIT_ETHERTYPE_2),
            Shape::Ether(KIT_ETHERTYPE_2),
            Shape::Ether(KIT_ETHERTYPE),
        ),
        (
            FlowRule::udp_port(PORT),
            Shape::Udp(PORT),
            Shape::Udp(PORT + 1),
        ),
        (
            FlowRule::tcp_port(PORT),
            Shape::Tcp(PEER_PORT, PORT, ACK),
            Shape::Tcp(PEER_PORT, PORT + 1, ACK),
        ),
        (
            FlowRule::TcpConnection {
                src: SocketAddr::new(peer, PEER_PORT),
                dst: SocketAddr::new(host, PORT),
            },
            Shape::Tcp(PEER_PORT, PORT, ACK),
            Shape::Tcp(PEER_PORT + 1, PORT, ACK),
        ),
        (
            FlowRule::TcpSyn,
            Shape::Tcp(PEER_PORT, PORT + 2, SYN),
            Shape::Tcp(PEER_PORT, PORT + 2, SYN | ACK),
        ),
        (
            FlowRule::Masked(crate::flow::MaskedTuple {
                protocol: Some(crate::flow::L4Protocol::Udp),
                dst_port: Some(PORT),
                ..Default::default()
            }),
            Shape::Udp(PORT),
            Shape::Udp(PORT + 1),
        ),
    ]
}

/// The one's-complement sum of 16-bit words (RFC 1071 §1).
fn ones_sum(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for w in &mut chunks {
        acc += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Builds a frame of `shape` to `dst` into `out`; returns its length. The
/// payload carries `tag` so frames can be told apart.
fn shaped_frame(out: &mut [u8; SCRATCH], dst: MacAddr, shape: Shape, tag: u32) -> usize {
    out[..6].copy_from_slice(&dst.0);
    out[6..12].copy_from_slice(&PEER_MAC);
    let (proto, l4_len) = match shape {
        Shape::Ether(t) => {
            out[12..14].copy_from_slice(&t.to_be_bytes());
            out[14..18].copy_from_slice(&tag.to_be_bytes());
            out[18..60].fill(0);
            return 60;
        }
        Shape::Udp(_) => (17u8, 8 + 8),
        Shape::Tcp(..) => (6u8, 20 + 8),
    };
    out[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    // IPv4 header, RFC 791 §3.1: version 4, IHL 5, no options, DF, TTL 64.
    let total = 20 + l4_len;
    let ip = &mut out[14..34];
    ip.copy_from_slice(&[
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip[12..16].copy_from_slice(&PEER_IP);
    ip[16..20].copy_from_slice(&HOST_IP);
    let csum = fold(ones_sum(0, ip));
    ip[10..12].copy_from_slice(&csum.to_be_bytes());
    let l4 = &mut out[34..34 + l4_len];
    l4.fill(0);
    match shape {
        Shape::Udp(dport) => {
            // RFC 768: ports, length, checksum (0: none, allowed over IPv4).
            l4[0..2].copy_from_slice(&PEER_PORT.to_be_bytes());
            l4[2..4].copy_from_slice(&dport.to_be_bytes());
            l4[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
            l4[8..12].copy_from_slice(&tag.to_be_bytes());
        }
        Shape::Tcp(sport, dport, flags) => {
            // RFC 9293 §3.1: data offset 5 words, flags, window.
            l4[0..2].copy_from_slice(&sport.to_be_bytes());
            l4[2..4].copy_from_slice(&dport.to_be_bytes());
            l4[4..8].copy_from_slice(&tag.to_be_bytes());
            l4[12] = 5 << 4;
            l4[13] = flags;
            l4[14..16].copy_from_slice(&1024u16.to_be_bytes());
            l4[20..24].copy_from_slice(&tag.to_be_bytes());
            // Checksum over the pseudo-header (RFC 9293 §3.1) and segment.
            let mut acc = ones_sum(0, &PEER_IP);
            acc = ones_sum(acc, &HOST_IP);
            acc += u32::from(proto) + l4_len as u32;
            let csum = fold(ones_sum(acc, l4));
            l4[16..18].copy_from_slice(&csum.to_be_bytes());
        }
        Shape::Ether(_) => {}
    }
    // Pad to the 60-byte Ethernet minimum (IEEE 802.3 §3.2.8, without FCS).
    let len = 34 + l4_len;
    if len < 60 {
        out[len..60].fill(0);
        60
    } else {
        len
    }
}

fn run_filters<H: Harness>(h: &mut H, tally: &mut Tally) -> Result<Outcome, Failure> {
    let mut c = Ctx::new(h, FILTERS, tally)?;
    let mut any = false;
    for class in FilterClass::ALL {
        let cap = c.h.card().filter_capacity(class);
        if cap.total == 0 {
            let r =
                c.h.card()
                    .install_filter(class, &FlowRule::ARP, FilterAction::default());
            c.ensure_kind(
                &r,
                Some(ErrorKind::Unsupported),
                "install_filter on a class with zero capacity",
            )?;
            continue;
        }
        any = true;
        check_filter_class(&mut c, class)?;
    }
    if !any {
        return Ok(Outcome::NotApplicable(
            "the card has no filters (zero capacity and Unsupported checked)",
        ));
    }
    Ok(Outcome::Passed)
}

fn check_filter_class<H: Harness>(c: &mut Ctx<'_, H>, class: FilterClass) -> Result<(), Failure> {
    let target = if c.info.queues > 1 { 1 } else { 0 };
    let mut q0 = c.take_queue(0)?;
    let mut qt = if target != 0 {
        Some(c.take_queue(target)?)
    } else {
        None
    };
    c.fill_rx(&mut q0, usize::MAX)?;
    if let Some(q) = qt.as_mut() {
        c.fill_rx(q, usize::MAX)?;
    }
    let before = c.h.card().filter_capacity(class);
    let action = FilterAction {
        queue: target,
        low_latency: false,
        priority: 1,
    };
    let mut placed = None;
    for (rule, hit, miss) in candidates() {
        match c.h.card().install_filter(class, &rule, action) {
            Ok(handle) => {
                placed = Some((handle, hit, miss));
                break;
            }
            Err(e) if e.kind() == ErrorKind::Unsupported => continue,
            Err(e) => {
                return Err(c.fail(
                    "install_filter failed on a class with free capacity",
                    Detail::Result {
                        expected: None,
                        got: Some(e.kind()),
                    },
                ));
            }
        }
    }
    let Some((handle, hit, miss)) = placed else {
        return Err(c.fail(
            "a class with capacity accepts none of the kit's rules",
            Detail::Class(class),
        ));
    };
    c.ensure(
        handle.class == class,
        "the handle names another class than the one asked for",
        Detail::Class(handle.class),
    )?;
    let during = c.h.card().filter_capacity(class);
    c.ensure_count(
        u64::from(before.used) + 1,
        u64::from(during.used),
        "filter_capacity().used did not grow by the installed rule",
    )?;
    // One matching and one non-matching frame, told apart by their tags.
    let mac = c.mac;
    let mut frame = [0u8; SCRATCH];
    for (shape, tag) in [(hit, 1u32), (miss, 2u32)] {
        let len = shaped_frame(&mut frame, mac, shape, tag);
        let ok = c.h.inject(&frame[..len]);
        c.ensure(
            ok,
            "the harness could not put a frame on the wire",
            Detail::None,
        )?;
    }
    c.h.advance();
    let on_target = drain_shaped(
        c,
        qt.as_mut().unwrap_or(&mut q0),
        &mut frame,
        mac,
        hit,
        miss,
    )?;
    let on_default = if target != 0 {
        drain_shaped(c, &mut q0, &mut frame, mac, hit, miss)?
    } else {
        (0, 0)
    };
    if target != 0 {
        c.ensure(
            on_target == (1, 0) && on_default == (0, 1),
            "a matching frame did not land on the rule's queue, or a non-matching one did",
            Detail::Class(class),
        )?;
    } else {
        c.ensure(
            on_target == (1, 1),
            "frames were lost with a rule steering to queue 0",
            Detail::Class(class),
        )?;
    }
    let r = c.h.card().remove_filter(handle);
    c.ensure_kind(&r, None, "remove_filter of an installed rule failed")?;
    let after = c.h.card().filter_capacity(class);
    c.ensure_count(
        u64::from(before.used),
        u64::from(after.used),
        "remove_filter did not free the slot",
    )?;
    let r = c.h.card().remove_filter(handle);
    c.ensure_kind(
        &r,
        Some(ErrorKind::NotFound),
        "remove_filter of a removed rule",
    )?;
    // Queue 0 still holds buffers: the ledger must be empty only after both.
    if let Some(q) = qt {
        c.stop_and_release(target, q)?;
    }
    c.teardown(0, q0)
}

/// Receives everything on `q`; returns how many frames were the `hit` and
/// the `miss` frame, failing on anything else.
fn drain_shaped<H: Harness>(
    c: &mut Ctx<'_, H>,
    q: &mut Q<H>,
    frame: &mut [u8; SCRATCH],
    mac: MacAddr,
    hit: Shape,
    miss: Shape,
) -> Result<(u32, u32), Failure> {
    let mut counts = (0u32, 0u32);
    for _ in 0..=LEDGER {
        let mut out: Batch<BATCH> = Batch::new();
        let r = q.rx_burst(&mut out);
        c.ensure_kind(&r, None, "rx_burst failed")?;
        let n = r.unwrap_or(0);
        while let Some(b) = out.pop_front() {
            c.back(&b)?;
            let len = shaped_frame(frame, mac, hit, 1);
            let is_hit = b.data() == &frame[..len];
            let len = shaped_frame(frame, mac, miss, 2);
            let is_miss = b.data() == &frame[..len];
            c.h.free_buffer(b);
            match (is_hit, is_miss) {
                (true, _) => counts.0 += 1,
                (_, true) => counts.1 += 1,
                _ => {
                    return Err(c.fail(
                        "a frame arrived changed, or one the kit did not send",
                        Detail::None,
                    ));
                }
            }
            c.tally.frames += 1;
        }
        if n == 0 {
            break;
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kit_frames_carry_their_sequence_and_checksums_verify() {
        let mut f = [0u8; 100];
        kit_frame(&mut f, MacAddr([2, 0, 0, 0, 0, 1]), KIT_ETHERTYPE, 77);
        assert_eq!(kit_seq(&f), Some(77));
        assert_eq!(kit_seq(&f[..17]), None);
        let mut out = [0u8; SCRATCH];
        let len = shaped_frame(&mut out, MacAddr::BROADCAST, Shape::Tcp(1, 2, SYN), 5);
        assert_eq!(len, 62);
        // A correct IPv4 header sums to 0xffff (RFC 1071), i.e. folds to 0.
        assert_eq!(fold(ones_sum(0, &out[14..34])), 0);
        let mut acc = ones_sum(0, &PEER_IP);
        acc = ones_sum(acc, &HOST_IP);
        acc += 6 + 28;
        assert_eq!(fold(ones_sum(acc, &out[34..62])), 0);
        assert_eq!(
            shaped_frame(&mut out, MacAddr::BROADCAST, Shape::Udp(9), 5),
            60
        );
    }

    #[test]
    fn failures_describe_themselves() {
        use std::string::ToString;
        let f = Failure {
            check: ERRORS,
            what: "queue(u16::MAX)",
            detail: Detail::Result {
                expected: Some(ErrorKind::InvalidArgument),
                got: None,
            },
        };
        assert_eq!(
            f.to_string(),
            "conformance check `errors` failed: queue(u16::MAX) (expected invalid argument, got Ok)"
        );
    }
}
