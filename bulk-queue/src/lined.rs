//! A `u64` ring laid out in 64-byte lines of one sequence word and seven items: the low latency
//! of [`Seq`](crate::Seq) cells at nearly the density of bare `u64` cells.
//!
//! # Layout
//!
//! A [`LinedMem`] of `L` lines holds `7 × L` items. Each [`Line`] is one 64-byte cache line: a
//! 32-bit *line word* (then 4 bytes never accessed), then seven `u64` cells. Positions are
//! free-running 32-bit counters, as in [`ring`](crate::ring); each side also keeps the line and
//! slot of its position as a second running pair, so that no hot path divides by 7.
//!
//! # Protocol
//!
//! The producer writes items into a line, then stores the line's word (`Release`): the position
//! just past the last item it has written in that line — once per [`LinedProducer::push`], once
//! per line for a chunk, on commit only (the uncommitted rest of a chunk is never announced). It
//! then publishes `tail` (`Release`) as the bare ring does.
//!
//! A consumer whose cached `tail` says "empty" at position `p` (line `p / 7`, slot `s`) reads only
//! the word `w` of `p`'s line (`Acquire`), and looks at `d = w - p` (wrapping):
//!
//! * `1 ..= 7 - s`: entries `p .. w` are written; it takes them (raising its cached `tail` to
//!   `w`) without reading `tail`;
//! * `8 - s ..= capacity + 7`: past the line's end — the producer has begun the line's next lap
//!   (a line may hold the end of one lap and the start of the next when the ring is full), which
//!   replaced the announcement of our entries: `tail` is read;
//! * `0` or anything else (an earlier lap's word, "behind" `p`): empty, `tail` is not read.
//!
//! A waiting consumer therefore polls the line the producer writes the item into: a
//! one-way trip through an idle ring costs one cache-line transfer (as with [`Seq`](crate::Seq)
//! cells), while each item costs 8/7 of its size in bytes instead of twice (`Seq<u64>`).
//! Chunked reads, [`LinedConsumer::available`] and the sleep re-check use `tail`.
//!
//! A stale word is never taken for a current one: before line `l` is first written in lap `k`
//! (first position `P`), its word holds a value of lap `k - 1` (at most `P`) or, in lap 0, the
//! reset value `P`; the consumer at `p >= P` computes `w - p <= 0`, which wraps to 0 or to a value
//! above `capacity + 7` (capacity is at most 7 × 2^27): "empty". It cannot see an even older
//! word: it took the line's entries of lap `k - 1` after an `Acquire` of `tail` or of this word,
//! and the producer stores the word before `tail`, so by coherence it sees that word or a later
//! one. A hostile producer can only make the consumer take garbage values from slots `s .. 7` of
//! its current line (never outside the line), read `tail` (validated as always), or see an empty
//! ring; the consumer may run ahead of `tail` by at most `capacity`, which it tolerates, as a
//! [`Seq`](crate::Seq) ring does, and a `tail` further away is [`Error::PeerCorrupt`].
//!
//! Like the bare ring, every operation is wait-free and uses only loads, stores and fences.

use core::fmt;

use crate::Error;
use crate::element::Element;
#[cfg(loom)]
use crate::ring::Weakening;
use crate::ring::{ConsumerLine, NoNotify, Notify, ProducerLine};
use crate::sync::{AtomicU32, Ordering, fence};

/// Items per line.
pub const ITEMS_PER_LINE: u32 = 7;
const PER: usize = ITEMS_PER_LINE as usize;

type Cell = <u64 as Element>::Cell;

/// One 64-byte line of a lined ring: the line word and seven item cells.
///
/// The word is an `AtomicU32` at offset 0; bytes 4–7 are never accessed; the cells are the `u64`
/// ring's (one `AtomicU64`, or two `AtomicU32`s where 64-bit atomics are missing).
#[repr(C, align(64))]
pub struct Line {
    pub(crate) word: AtomicU32,
    items: [Cell; PER],
}

impl Line {
    fn new() -> Self {
        Line {
            word: AtomicU32::new(0),
            items: core::array::from_fn(|_| u64::new_cell()),
        }
    }
}

impl fmt::Debug for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Line").finish_non_exhaustive()
    }
}

/// Storage of a lined ring of `7 × LINES` `u64` items, owned by the caller.
///
/// # Examples
/// ```
/// use bulk_queue::lined::LinedMem;
/// let mut mem = LinedMem::<2>::new(); // 14 items
/// let (mut p, mut c) = mem.split();
/// p.push(7).unwrap();
/// assert_eq!(c.pop(), Ok(7));
/// assert_eq!(p.capacity(), 14);
/// ```
#[repr(C)]
pub struct LinedMem<const LINES: usize> {
    pub(crate) prod: ProducerLine,
    pub(crate) cons: ConsumerLine,
    pub(crate) lines: [Line; LINES],
}

impl<const LINES: usize> LinedMem<LINES> {
    /// Empty ring storage.
    pub fn new() -> Self {
        LinedMem {
            prod: ProducerLine::new(),
            cons: ConsumerLine::new(),
            lines: core::array::from_fn(|_| Line::new()),
        }
    }

    /// Resets the ring to empty and splits it into its two halves (O(`LINES`): every line word
    /// is reset).
    pub fn split(&mut self) -> (LinedProducer<'_>, LinedConsumer<'_>) {
        self.split_at(0)
    }

    /// As [`split`](Self::split), with both positions starting at `start` (tests of the wrap
    /// of the 32-bit positions).
    pub(crate) fn split_at(&mut self, start: u32) -> (LinedProducer<'_>, LinedConsumer<'_>) {
        const {
            assert!(
                LINES >= 1 && LINES <= 1 << 27,
                "a lined ring has 1 to 2^27 lines"
            )
        };
        // Relaxed: `&mut self` excludes any concurrent access.
        self.prod.tail.store(start, Ordering::Relaxed);
        self.cons.head.store(start, Ordering::Relaxed);
        self.cons.wakeup.store(0, Ordering::Relaxed);
        let mut first = start;
        for line in &self.lines {
            // Relaxed: as above. The line's first position: "nothing written here yet".
            line.word.store(first, Ordering::Relaxed);
            first = first.wrapping_add(ITEMS_PER_LINE);
        }
        let capacity = ITEMS_PER_LINE * LINES as u32;
        let lines = &self.lines[..];
        (
            LinedProducer {
                prod: &self.prod,
                cons: &self.cons,
                lines,
                capacity,
                tail: start,
                line: 0,
                slot: 0,
                head_cache: start,
                signalled: 0,
                notify: NoNotify,
                #[cfg(loom)]
                weak: None,
            },
            LinedConsumer {
                prod: &self.prod,
                cons: &self.cons,
                lines,
                capacity,
                head: start,
                line: 0,
                slot: 0,
                tail_cache: start,
                epoch: 0,
                #[cfg(loom)]
                weak: None,
            },
        )
    }
}

impl<const LINES: usize> Default for LinedMem<LINES> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const LINES: usize> fmt::Debug for LinedMem<LINES> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinedMem")
            .field("lines", &LINES)
            .finish_non_exhaustive()
    }
}

/// `(line, slot)` moved on by `n` positions (`n <= capacity`), in a ring of `lines` lines.
#[inline(always)]
fn advance(line: u32, slot: u32, n: u32, lines: u32) -> (u32, u32) {
    let s = slot + n;
    let mut l = line + s / ITEMS_PER_LINE;
    // `s / 7 <= lines` since `n <= 7 * lines`, so one subtraction wraps.
    if l >= lines {
        l -= lines;
    }
    (l, s % ITEMS_PER_LINE)
}

/// Folds `f` over the lines holding `n` positions (`n <= capacity`) from `(line, slot)`, in
/// order, passing each line and the range of its slots in the run. The whole lines in the
/// middle are walked as slices (no wrap check per line) with the constant range `0..7`, which
/// lets the compiler unroll what `f` does per slot.
#[inline(always)]
fn fold_lines<'a, B>(
    lines: &'a [Line],
    line: u32,
    slot: u32,
    n: u32,
    init: B,
    mut f: impl FnMut(B, &'a Line, usize, usize) -> B,
) -> B {
    let (mut line, slot, mut left) = (line as usize, (slot as usize).min(PER), n as usize);
    let mut acc = init;
    if left == 0 {
        return acc;
    }
    let step = |line: usize| if line + 1 == lines.len() { 0 } else { line + 1 };
    if slot > 0 || left < PER {
        let k = (PER - slot).min(left);
        let Some(l) = lines.get(line) else {
            return acc;
        };
        acc = f(acc, l, slot, slot + k);
        left -= k;
        line = step(line);
    }
    let whole = left / PER;
    let to_end = lines.get(line..).unwrap_or(&[]);
    let first = whole.min(to_end.len());
    for l in &to_end[..first] {
        acc = f(acc, l, 0, PER);
    }
    for l in lines.iter().take(whole - first) {
        acc = f(acc, l, 0, PER);
    }
    line = (line + whole) % lines.len().max(1);
    left -= whole * PER;
    if left > 0 {
        if let Some(l) = lines.get(line) {
            acc = f(acc, l, 0, left);
        }
    }
    acc
}

/// The cells of slots `from..to` of `l` (none if the range is not inside the line).
#[inline(always)]
fn slots(l: &Line, from: usize, to: usize) -> &[Cell] {
    if from == 0 && to == PER {
        &l.items
    } else {
        l.items.get(from..to).unwrap_or(&[])
    }
}

/// The producing half of a lined ring.
pub struct LinedProducer<'a, N: Notify = NoNotify> {
    prod: &'a ProducerLine,
    cons: &'a ConsumerLine,
    lines: &'a [Line],
    capacity: u32,
    /// Authoritative local copy of our position, and its line and slot.
    tail: u32,
    line: u32,
    slot: u32,
    /// Last validated value of the consumer's index.
    head_cache: u32,
    /// Sleep epoch we last signalled.
    signalled: u32,
    notify: N,
    #[cfg(loom)]
    weak: Option<Weakening>,
}

impl<'a, N: Notify> LinedProducer<'a, N> {
    /// This producer, calling `notify` when the consumer must be woken (see
    /// [`ring::Producer::with_notify`](crate::ring::Producer::with_notify)).
    pub fn with_notify<M: Notify>(self, notify: M) -> LinedProducer<'a, M> {
        LinedProducer {
            prod: self.prod,
            cons: self.cons,
            lines: self.lines,
            capacity: self.capacity,
            tail: self.tail,
            line: self.line,
            slot: self.slot,
            head_cache: self.head_cache,
            signalled: self.signalled,
            notify,
            #[cfg(loom)]
            weak: self.weak,
        }
    }

    /// The notification hook.
    pub fn notifier(&mut self) -> &mut N {
        &mut self.notify
    }

    /// Weakens an ordering on purpose (loom tests only).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn weaken(&mut self, w: Weakening) {
        self.weak = Some(w);
    }

    /// The capacity of the ring (7 items per line).
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Stores `word` into the word of `line` (announcing the entries before it).
    #[inline(always)]
    fn announce(&self, line: &Line, word: u32) {
        #[allow(unused_mut)]
        let mut order = Ordering::Release;
        #[cfg(loom)]
        if self.weak == Some(Weakening::RelaxedSeq) {
            order = Ordering::Relaxed;
        }
        // Release: the Relaxed item stores before it become visible to a consumer that reads
        // this word with Acquire.
        line.word.store(word, order);
    }

    /// Reads and validates the consumer's index; returns the free entries.
    #[cold]
    #[inline(never)]
    fn refresh(&mut self) -> Result<u32, Error> {
        // Acquire: pairs with the consumer's Release store of `head`, so its reads of the cells
        // it released happen before we overwrite them.
        let head = self.cons.head.load(Ordering::Acquire);
        let used = self.tail.wrapping_sub(head);
        if used > self.capacity {
            return Err(Error::PeerCorrupt);
        }
        self.head_cache = head;
        Ok(self.capacity - used)
    }

    #[inline(always)]
    fn free_at_least(&mut self, wanted: u32) -> Result<u32, Error> {
        let free = self.capacity - self.tail.wrapping_sub(self.head_cache);
        if free >= wanted {
            Ok(free)
        } else {
            self.refresh()
        }
    }

    /// Number of entries that can be pushed now (re-reads the consumer's index).
    ///
    /// # Errors
    /// [`Error::PeerCorrupt`] when the consumer's index is impossible.
    pub fn free(&mut self) -> Result<u32, Error> {
        self.refresh()
    }

    /// Publishes our local `tail`, then runs the wakeup check.
    #[inline(always)]
    fn publish(&mut self) {
        self.publish_tail(self.tail);
    }

    /// Publishes `tail` (our local `tail`), then runs the wakeup check.
    #[inline(always)]
    fn publish_tail(&mut self, tail: u32) {
        #[allow(unused_mut)]
        let mut order = Ordering::Release;
        #[cfg(loom)]
        if self.weak == Some(Weakening::RelaxedPublish) {
            order = Ordering::Relaxed;
        }
        // Release: the Relaxed item stores above become visible to a consumer that reads this
        // `tail` with Acquire.
        self.prod.tail.store(tail, order);
        if N::ENABLED {
            #[cfg(loom)]
            let fenced = self.weak != Some(Weakening::NoSleepFence);
            #[cfg(not(loom))]
            let fenced = true;
            if fenced {
                // SeqCst: orders our store of `tail` before our load of `wakeup` (store-load),
                // the producer half of the Dekker pair with `prepare_to_sleep`'s fence.
                fence(Ordering::SeqCst);
            }
            // Relaxed: the fence above orders it; the value is only compared.
            let epoch = self.cons.wakeup.load(Ordering::Relaxed);
            if epoch != 0 && epoch != self.signalled {
                self.signalled = epoch;
                self.notify.notify();
            }
        }
    }

    /// Pushes one entry: the item, its line's word, then `tail`.
    ///
    /// # Errors
    /// [`Error::Full`] when the ring has no free entry, [`Error::PeerCorrupt`] when the
    /// consumer's index is impossible.
    #[inline]
    pub fn push(&mut self, value: u64) -> Result<(), Error> {
        if self.tail.wrapping_sub(self.head_cache) == self.capacity {
            // Kept out of line so that the fast path needs no stack frame.
            return self.push_slow(value);
        }
        self.write_one(value);
        Ok(())
    }

    /// `push` when the cached consumer index says the ring is full.
    #[cold]
    #[inline(never)]
    fn push_slow(&mut self, value: u64) -> Result<(), Error> {
        if self.refresh()? == 0 {
            return Err(Error::Full);
        }
        self.write_one(value);
        Ok(())
    }

    /// Writes one item at our position, announces it in its line's word, publishes `tail`.
    #[inline(always)]
    fn write_one(&mut self, value: u64) {
        let (line, slot) = (self.line, self.slot);
        let tail = self.tail.wrapping_add(1);
        // Our private state first, in registers: the shared stores below may alias anything
        // as far as the compiler knows.
        self.tail = tail;
        if slot + 1 == ITEMS_PER_LINE {
            self.slot = 0;
            self.line = if line as usize + 1 == self.lines.len() {
                0
            } else {
                line + 1
            };
        } else {
            self.slot = slot + 1;
        }
        if let Some(l) = self.lines.get(line as usize) {
            if let Some(cell) = l.items.get(slot as usize) {
                u64::store(cell, value);
                self.announce(l, tail);
            }
        }
        self.publish_tail(tail);
    }

    /// Pushes as many of `items` as fit, in order, with one publication; returns how many.
    ///
    /// # Errors
    /// [`Error::PeerCorrupt`] when the consumer's index is impossible.
    pub fn push_slice(&mut self, items: &[u64]) -> Result<usize, Error> {
        match self.write_chunk(u32::try_from(items.len()).unwrap_or(u32::MAX)) {
            Ok(chunk) => Ok(chunk.fill_from_iter(items.iter().copied())),
            Err(Error::Full) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Reserves up to `max` free entries to fill and then commit with one publication.
    ///
    /// # Errors
    /// [`Error::Full`] when no entry is free, [`Error::PeerCorrupt`] when the consumer's index
    /// is impossible.
    ///
    /// # Examples
    /// ```
    /// use bulk_queue::lined::LinedMem;
    /// let mut mem = LinedMem::<2>::new();
    /// let (mut p, mut c) = mem.split();
    /// assert_eq!(p.write_chunk(20).unwrap().fill_from_iter(10..), 14);
    /// assert_eq!(c.read_chunk(20).unwrap().iter().sum::<u64>(), (10..24).sum());
    /// ```
    #[inline]
    pub fn write_chunk(&mut self, max: u32) -> Result<LinedWriteChunk<'_, 'a, N>, Error> {
        let len = self.free_at_least(max)?.min(max);
        if len == 0 {
            return Err(Error::Full);
        }
        Ok(LinedWriteChunk {
            producer: self,
            len,
        })
    }

    /// Announces the `n` written entries from our position line by line, then publishes them.
    #[inline(always)]
    fn commit_written(&mut self, n: u32) {
        if n == 0 {
            return;
        }
        let end = self.tail.wrapping_add(n);
        let (mut line, mut slot, mut left) = (self.line as usize, self.slot, n);
        while left > 0 {
            let Some(l) = self.lines.get(line) else { break };
            let k = (ITEMS_PER_LINE - slot).min(left);
            left -= k;
            self.announce(l, end.wrapping_sub(left));
            slot = 0;
            line += 1;
            if line == self.lines.len() {
                line = 0;
            }
        }
        self.advance_published(n);
    }

    /// Moves our position on by `n` announced entries and publishes it.
    #[inline(always)]
    fn advance_published(&mut self, n: u32) {
        if n == 0 {
            return;
        }
        let (line, slot) = advance(self.line, self.slot, n, self.lines.len() as u32);
        self.tail = self.tail.wrapping_add(n);
        self.line = line;
        self.slot = slot;
        self.publish();
    }
}

impl<N: Notify + fmt::Debug> fmt::Debug for LinedProducer<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinedProducer")
            .field("capacity", &self.capacity)
            .field("tail", &self.tail)
            .field("head_cache", &self.head_cache)
            .field("notify", &self.notify)
            .finish_non_exhaustive()
    }
}

/// Entries reserved by [`LinedProducer::write_chunk`]; nothing is announced or published until
/// a commit.
pub struct LinedWriteChunk<'p, 'a, N: Notify> {
    producer: &'p mut LinedProducer<'a, N>,
    len: u32,
}

impl<N: Notify> LinedWriteChunk<'_, '_, N> {
    /// Number of reserved entries.
    #[allow(clippy::len_without_is_empty)] // a chunk is never empty
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Writes entry `i` of the chunk.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if `i >= len()`.
    #[inline(always)]
    pub fn set(&mut self, i: usize, value: u64) -> Result<(), Error> {
        if i >= self.len as usize {
            return Err(Error::OutOfRange);
        }
        let p = &*self.producer;
        let (line, slot) = advance(p.line, p.slot, i as u32, p.lines.len() as u32);
        let cell = p
            .lines
            .get(line as usize)
            .and_then(|l| l.items.get(slot as usize))
            .ok_or(Error::OutOfRange)?;
        u64::store(cell, value);
        Ok(())
    }

    /// Announces and publishes the first `n` entries (at most `len()`); the rest stay free and
    /// unannounced.
    #[inline]
    pub fn commit(self, n: usize) {
        let n = (n as u32).min(self.len);
        self.producer.commit_written(n);
    }

    /// Announces and publishes every entry of the chunk.
    #[inline]
    pub fn commit_all(self) {
        let n = self.len as usize;
        self.commit(n);
    }

    /// Fills the chunk from `iter` (until either ends), then announces and publishes what was
    /// written; returns how many entries that is.
    #[inline]
    pub fn fill_from_iter<I: IntoIterator<Item = u64>>(self, iter: I) -> usize {
        let p = &mut *self.producer;
        let mut iter = iter.into_iter();
        let tail = p.tail;
        // Line by line: fill the line's slots, then announce them in its word (the line is
        // still in our cache), so each line is written once.
        let (n, _) = fold_lines(
            p.lines,
            p.line,
            p.slot,
            self.len,
            (0u32, false),
            |(mut n, done), l, from, to| {
                if done {
                    return (n, true);
                }
                let run = slots(l, from, to);
                let mut wrote = 0;
                for c in run {
                    let Some(v) = iter.next() else { break };
                    u64::store(c, v);
                    wrote += 1;
                }
                if wrote > 0 {
                    n += wrote;
                    p.announce(l, tail.wrapping_add(n));
                }
                (n, wrote < run.len() as u32)
            },
        );
        p.advance_published(n);
        n as usize
    }
}

impl<N: Notify> fmt::Debug for LinedWriteChunk<'_, '_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinedWriteChunk")
            .field("len", &self.len)
            .finish()
    }
}

/// What a consumer learns from the word of its line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LineState {
    /// The entries up to (not including) this position are written.
    Ready(u32),
    /// The word is past the line's end: `tail` tells.
    AskTail,
    /// Nothing written at our position.
    Empty,
}

/// The consuming half of a lined ring.
pub struct LinedConsumer<'a> {
    pub(crate) prod: &'a ProducerLine,
    cons: &'a ConsumerLine,
    pub(crate) lines: &'a [Line],
    capacity: u32,
    /// Authoritative local copy of our position, and its line and slot.
    head: u32,
    line: u32,
    slot: u32,
    /// Highest position known written (from `tail` or a line word).
    tail_cache: u32,
    /// Sleep epoch counter (never 0 when published).
    epoch: u32,
    #[cfg(loom)]
    weak: Option<Weakening>,
}

impl<'a> LinedConsumer<'a> {
    /// Weakens an ordering on purpose (loom tests only).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn weaken(&mut self, w: Weakening) {
        self.weak = Some(w);
    }

    /// The capacity of the ring (7 items per line).
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Reads and validates the producer's index; returns the available entries.
    #[cold]
    #[inline(never)]
    fn refresh(&mut self) -> Result<u32, Error> {
        // Acquire: pairs with the producer's Release store of `tail`, making its item writes
        // visible before we read them.
        let tail = self.prod.tail.load(Ordering::Acquire);
        let used = tail.wrapping_sub(self.head);
        if used <= self.capacity {
            self.tail_cache = tail;
            Ok(used)
        } else if self.head.wrapping_sub(tail) <= self.capacity {
            // `tail` behind `head`: we took entries through a line word before the producer's
            // store of `tail` landed. Nothing more is known yet.
            Ok(self.tail_cache.wrapping_sub(self.head))
        } else {
            Err(Error::PeerCorrupt)
        }
    }

    /// What the word of our line says about our position.
    #[inline(always)]
    fn line_state(&self) -> LineState {
        let Some(line) = self.lines.get(self.line as usize) else {
            return LineState::Empty;
        };
        // Acquire: pairs with the producer's Release store of the word, so the items written
        // before it are visible to our loads of them.
        let word = line.word.load(Ordering::Acquire);
        let d = word.wrapping_sub(self.head);
        if d == 0 || d > self.capacity + ITEMS_PER_LINE {
            // At or behind our position (this lap's entries before us, or an earlier lap's).
            LineState::Empty
        } else if d <= ITEMS_PER_LINE - self.slot {
            LineState::Ready(word)
        } else {
            // Past our line's end: the producer has started the line's next lap, which
            // replaced this lap's announcement while we are still in the line.
            LineState::AskTail
        }
    }

    /// `true` if our line's word announces our position.
    #[inline(always)]
    fn announced(&self) -> bool {
        matches!(self.line_state(), LineState::Ready(_))
    }

    #[inline(always)]
    fn available_at_least(&mut self, wanted: u32) -> Result<u32, Error> {
        let avail = self.tail_cache.wrapping_sub(self.head);
        if avail >= wanted {
            Ok(avail)
        } else {
            self.refresh()
        }
    }

    /// Number of entries that can be popped now (re-reads the producer's index).
    ///
    /// # Errors
    /// [`Error::PeerCorrupt`] when the producer's index is impossible.
    pub fn available(&mut self) -> Result<u32, Error> {
        self.refresh()
    }

    #[inline(always)]
    fn release(&mut self) {
        self.release_head(self.head);
    }

    /// Publishes `head` (our local `head`).
    #[inline(always)]
    fn release_head(&mut self, head: u32) {
        #[allow(unused_mut)]
        let mut order = Ordering::Release;
        #[cfg(loom)]
        if self.weak == Some(Weakening::RelaxedPublish) {
            order = Ordering::Relaxed;
        }
        // Release: our reads of the consumed cells happen before the producer, reading this
        // `head` with Acquire, overwrites them.
        self.cons.head.store(head, order);
    }

    /// Pops one entry (a local copy, read once from shared memory).
    ///
    /// # Errors
    /// [`Error::Empty`] when there is nothing to pop, [`Error::PeerCorrupt`] when the
    /// producer's index is impossible.
    #[inline]
    pub fn pop(&mut self) -> Result<u64, Error> {
        if self.head == self.tail_cache {
            // The cached `tail` says empty: the line word tells.
            match self.line_state() {
                LineState::Ready(end) => self.tail_cache = end,
                // Kept out of line so that the fast path needs no stack frame.
                LineState::AskTail => return self.pop_from_tail(),
                LineState::Empty => return Err(Error::Empty),
            }
        }
        Ok(self.read_one())
    }

    /// `pop` when the line word is past the line's end: `tail` tells.
    #[cold]
    #[inline(never)]
    fn pop_from_tail(&mut self) -> Result<u64, Error> {
        if self.refresh()? == 0 {
            return Err(Error::Empty);
        }
        Ok(self.read_one())
    }

    /// Reads the item at our position (known written) and releases it.
    #[inline(always)]
    fn read_one(&mut self) -> u64 {
        let (line, slot) = (self.line, self.slot);
        let head = self.head.wrapping_add(1);
        self.head = head;
        if slot + 1 == ITEMS_PER_LINE {
            self.slot = 0;
            self.line = if line as usize + 1 == self.lines.len() {
                0
            } else {
                line + 1
            };
        } else {
            self.slot = slot + 1;
        }
        // `line < lines.len()` and `slot < 7` always hold; a miss would read as 0.
        let v = self
            .lines
            .get(line as usize)
            .and_then(|l| l.items.get(slot as usize))
            .map_or(0, u64::load);
        self.release_head(head);
        v
    }

    /// Pops up to `out.len()` entries with one publication; returns how many.
    ///
    /// # Errors
    /// [`Error::PeerCorrupt`] when the producer's index is impossible.
    pub fn pop_slice(&mut self, out: &mut [u64]) -> Result<usize, Error> {
        match self.read_chunk(u32::try_from(out.len()).unwrap_or(u32::MAX)) {
            Ok(chunk) => {
                let n = chunk.copy_to(out);
                chunk.commit(n);
                Ok(n)
            }
            Err(Error::Empty) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Makes up to `max` available entries readable, to release with one publication.
    ///
    /// # Errors
    /// [`Error::Empty`] when nothing is available, [`Error::PeerCorrupt`] when the producer's
    /// index is impossible.
    #[inline]
    pub fn read_chunk(&mut self, max: u32) -> Result<LinedReadChunk<'_, 'a>, Error> {
        let len = self.available_at_least(max)?.min(max);
        if len == 0 {
            return Err(Error::Empty);
        }
        Ok(LinedReadChunk {
            consumer: self,
            len,
        })
    }

    /// Announces that the consumer is about to block; tells whether it may (see
    /// [`ring::Consumer::prepare_to_sleep`](crate::ring::Consumer::prepare_to_sleep)).
    ///
    /// # Errors
    /// [`Error::PeerCorrupt`] when the producer's index is impossible.
    pub fn prepare_to_sleep(&mut self) -> Result<bool, Error> {
        if self.announced() || self.available_at_least(1)? > 0 {
            return Ok(false);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.epoch = 1;
        }
        // Relaxed: the fence below orders this store before the reload of `tail`.
        self.cons.wakeup.store(self.epoch, Ordering::Relaxed);
        #[cfg(loom)]
        let fenced = self.weak != Some(Weakening::NoSleepFence);
        #[cfg(not(loom))]
        let fenced = true;
        if fenced {
            // SeqCst: store-load ordering between our `wakeup` store and the `tail` load below;
            // pairs with the producer's fence after its `tail` store (Dekker's pattern).
            fence(Ordering::SeqCst);
        }
        if self.announced() || self.refresh()? > 0 {
            // Relaxed: withdrawing the request needs no ordering.
            self.cons.wakeup.store(0, Ordering::Relaxed);
            return Ok(false);
        }
        Ok(true)
    }

    /// Withdraws a wakeup request after waking up (optional: it saves spurious signals).
    pub fn awake(&mut self) {
        // Relaxed: a plain flag update; a late signal is only a spurious wakeup.
        self.cons.wakeup.store(0, Ordering::Relaxed);
    }
}

impl fmt::Debug for LinedConsumer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinedConsumer")
            .field("capacity", &self.capacity)
            .field("head", &self.head)
            .field("tail_cache", &self.tail_cache)
            .finish_non_exhaustive()
    }
}

/// Entries made readable by [`LinedConsumer::read_chunk`]; nothing is released until a commit.
pub struct LinedReadChunk<'c, 'a> {
    consumer: &'c mut LinedConsumer<'a>,
    len: u32,
}

impl LinedReadChunk<'_, '_> {
    /// Number of readable entries.
    #[allow(clippy::len_without_is_empty)] // a chunk is never empty
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Reads entry `i` of the chunk (a fresh read of shared memory each call).
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if `i >= len()`.
    pub fn get(&self, i: usize) -> Result<u64, Error> {
        if i >= self.len as usize {
            return Err(Error::OutOfRange);
        }
        let c = &*self.consumer;
        let (line, slot) = advance(c.line, c.slot, i as u32, c.lines.len() as u32);
        c.lines
            .get(line as usize)
            .and_then(|l| l.items.get(slot as usize))
            .map(u64::load)
            .ok_or(Error::OutOfRange)
    }

    /// The chunk's entries in order, each read once from shared memory.
    #[inline]
    pub fn iter(&self) -> LinedIter<'_> {
        let c = &*self.consumer;
        LinedIter {
            lines: c.lines,
            line: c.line as usize,
            slot: c.slot as usize,
            left: self.len as usize,
        }
    }

    /// Copies the first `out.len()` entries (at most `len()`) into `out`; returns how many.
    pub fn copy_to(&self, out: &mut [u64]) -> usize {
        let n = out.len().min(self.len as usize);
        for (o, v) in out[..n].iter_mut().zip(self.iter()) {
            *o = v;
        }
        n
    }

    /// Releases the first `n` entries (at most `len()`) to the producer.
    #[inline]
    pub fn commit(self, n: usize) {
        let n = (n as u32).min(self.len);
        if n > 0 {
            let c = &mut *self.consumer;
            let (line, slot) = advance(c.line, c.slot, n, c.lines.len() as u32);
            c.line = line;
            c.slot = slot;
            c.head = c.head.wrapping_add(n);
            c.release();
        }
    }

    /// Releases every entry of the chunk.
    #[inline]
    pub fn commit_all(self) {
        let n = self.len as usize;
        self.commit(n);
    }
}

impl fmt::Debug for LinedReadChunk<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinedReadChunk")
            .field("len", &self.len)
            .finish()
    }
}

/// The entries of a [`LinedReadChunk`], in order.
#[derive(Debug)]
pub struct LinedIter<'a> {
    lines: &'a [Line],
    line: usize,
    slot: usize,
    left: usize,
}

impl Iterator for LinedIter<'_> {
    type Item = u64;

    #[inline]
    fn next(&mut self) -> Option<u64> {
        if self.left == 0 {
            return None;
        }
        let v = u64::load(self.lines.get(self.line)?.items.get(self.slot)?);
        self.left -= 1;
        self.slot += 1;
        if self.slot == PER {
            self.slot = 0;
            self.line += 1;
            if self.line == self.lines.len() {
                self.line = 0;
            }
        }
        Some(v)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }

    /// Line by line, without the per-item slot bookkeeping of `next`.
    #[inline]
    fn fold<B, F: FnMut(B, u64) -> B>(self, init: B, mut f: F) -> B {
        fold_lines(
            self.lines,
            self.line as u32,
            self.slot as u32,
            self.left as u32,
            init,
            |mut acc, l, from, to| {
                for c in slots(l, from, to) {
                    acc = f(acc, u64::load(c));
                }
                acc
            },
        )
    }
}
