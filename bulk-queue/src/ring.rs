//! The single-producer/single-consumer ring: producer and consumer halves over shared indices.
//!
//! # Algorithm
//!
//! The ring has `capacity` (a power of two) entries and two free-running 32-bit indices:
//! `tail`, the number of entries the producer has published, on the producer's cache line, and
//! `head`, the number the consumer has finished reading, on the consumer's cache line. Entry
//! `i` lives in cell `i & (capacity - 1)`. Each side writes only its own line and keeps the
//! authoritative copy of its own index in local memory; it never reads its own index back from
//! shared memory, so a peer cannot move it. It keeps a cached copy of the other side's index and
//! reads the shared one only when the cache says the ring is full (producer) or empty
//! (consumer). Every index read from the peer is validated: `tail - head` (wrapping) must not
//! exceed `capacity`; otherwise the operation fails with [`Error::PeerCorrupt`].
//!
//! # Sequence words
//!
//! The cells of [`Descriptor`](crate::Descriptor) and [`Seq`](crate::Seq) rings also hold a
//! 32-bit *sequence word* on the same cache line as the entry (the idea of FastForward, Giacomoni
//! et al., PPoPP 2008, and of Vyukov's bounded queue: the consumer polls the entry's own line);
//! `u32` and `u64` cells are the bare value and use `tail` only. Every write of entry `i` also
//! writes its cell's sequence word:
//!
//! * a single [`Producer::push`] writes the value, then `i + 1` (wrapping: the entry is
//!   *announced*), then `tail`;
//! * chunked and slice writes store `i` (*written, ask `tail`*): the entry counts only once
//!   `tail` publishes it, so the unpublished rest of a partially committed chunk is never taken.
//!
//! When the consumer's cached `tail` says the ring is empty, [`Consumer::pop`] reads only the
//! sequence word of cell `head`: `head + 1` — the entry is taken at once, without reading `tail`;
//! `head` — `tail` is read as for bare cells; anything else — the cell still holds an earlier
//! lap's entry, so `tail` cannot show entry `head` either: the ring is empty and `tail`'s line is
//! not touched. A waiting consumer thus polls one cache line, the one the producer writes the
//! entry into, and a one-way trip through an idle ring costs one cache-line transfer instead of
//! two dependent ones (`tail`'s line, then the entry's). When the next entry on the same line is
//! announced too (the consumer is streaming right behind the producer), `pop` also re-reads
//! `tail`, so that it takes the published run through its cache. Chunked reads and
//! [`Consumer::available`] use `tail` only.
//!
//! A stale word from an earlier lap is never mistaken for a current one: before cell `head` is
//! written for entry `head`, its word was last written for entry `head - capacity` (so it holds
//! `head - capacity + 1` or `head - capacity`, neither `head` nor `head + 1` since `2 <=
//! capacity < 2^32`), and the consumer has read that entry, so by coherence it cannot see an
//! older word. [`RingMem::split`] and [`Region::format`](crate::Region::format) reset every
//! sequence word to 0 (cell 0: "ask `tail`"; the others: "not written").
//!
//! The consumer may run ahead of the published `tail` by the entries it took through their
//! sequence words, until the producer's `tail` store lands; a `tail` up to `capacity` behind
//! `head` therefore means "nothing more yet", not a corrupt peer. A hostile producer writing
//! sequence words can only make the consumer take the garbage entries it writes (which the bulk
//! channel validates like any descriptor) or see an empty ring; a corrupt `tail` is reported
//! ([`Error::PeerCorrupt`]) when the consumer reads it.
//!
//! Only loads, stores and fences are used, no read-modify-write, so the ring works on
//! `thumbv6m-none-eabi`. Every operation runs a bounded number of steps (no loop waits for the
//! other side): the ring is wait-free on both sides.
//!
//! # Memory ordering
//!
//! * The producer writes entries with `Relaxed` stores, then publishes `tail` with a `Release`
//!   store; the consumer reads `tail` with `Acquire` and then the entries with `Relaxed` loads.
//!   The Release/Acquire pair makes the entry writes visible before the consumer reads them.
//! * A single push writes the entry with `Relaxed` stores and its sequence word with a `Release`
//!   store; a consumer that reads that sequence word with `Acquire` then reads the entry.
//! * The consumer reads entries, then publishes `head` with a `Release` store; the producer
//!   reads `head` with `Acquire` before overwriting cells. The pair orders the consumer's reads
//!   of a cell before the producer's next write of it.
//!
//! # Wakeups without lost notifications
//!
//! A consumer that finds the ring empty and wants to block calls
//! [`Consumer::prepare_to_sleep`]: it stores a fresh nonzero *sleep epoch* into the `wakeup` word
//! of its line, issues a `SeqCst` fence, and reads `tail` again. If entries arrived it withdraws
//! the epoch and does not sleep; otherwise it may block on its notification object. A producer
//! with a [`Notify`] hook, after each publication of `tail`, issues a `SeqCst` fence and reads
//! `wakeup`; if it holds an epoch it has not yet signalled, it calls [`Notify::notify`] once.
//! The consumer's re-check looks where `pop` looks: the sequence word of cell `head`, then
//! `tail`; both are stored before the producer's fence.
//!
//! The two fences make this Dekker's pattern: of the consumer's "store epoch; read tail" and the
//! producer's "store tail; read epoch", at least one side sees the other's store. Either the
//! consumer sees the new entries and stays awake, or the producer sees the epoch and signals. The
//! consumer only sleeps after finding the ring empty with its epoch visible, so the first
//! publication after that is the empty → non-empty transition, and the producer signals once per
//! epoch: no signal while the consumer is busy, and no repeated signals to a sleeping consumer.
//! The notification object must remember a signal sent before the consumer blocks (an eventfd, a
//! counting semaphore, a pending interrupt bit), as the Mach paper's counting unblock does.

use core::fmt;
use core::marker::PhantomData;

use crate::Error;
use crate::element::Element;
use crate::shm::Cells;
use crate::sync::{AtomicU32, Ordering, fence};

/// The producer's cache line in shared memory: written only by the producer.
///
/// 128-byte aligned so that the adjacent-line prefetcher does not pull the consumer's line in
/// with it (false sharing across a pair of 64-byte lines).
#[repr(C, align(128))]
pub struct ProducerLine {
    /// Number of entries published (free-running).
    pub(crate) tail: AtomicU32,
}

/// The consumer's cache line in shared memory: written only by the consumer.
#[repr(C, align(128))]
pub struct ConsumerLine {
    /// Number of entries consumed (free-running).
    pub(crate) head: AtomicU32,
    /// Nonzero: the consumer is going to sleep and wants a notification (its sleep epoch).
    pub(crate) wakeup: AtomicU32,
}

impl ProducerLine {
    pub(crate) fn new() -> Self {
        ProducerLine {
            tail: AtomicU32::new(0),
        }
    }
}

impl ConsumerLine {
    pub(crate) fn new() -> Self {
        ConsumerLine {
            head: AtomicU32::new(0),
            wakeup: AtomicU32::new(0),
        }
    }
}

impl fmt::Debug for ProducerLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerLine").finish_non_exhaustive()
    }
}

impl fmt::Debug for ConsumerLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerLine").finish_non_exhaustive()
    }
}

/// The host's way to wake a sleeping consumer (eventfd write, IPI, doorbell register).
///
/// The producer calls [`notify`](Notify::notify) at most once per consumer sleep, right after
/// publishing entries into a ring the consumer found empty. The object must remember a signal
/// that arrives before the consumer actually blocks (see the [module docs](crate::ring)).
pub trait Notify {
    /// `false` for [`NoNotify`]: the producer then skips the wakeup check (and its fence).
    const ENABLED: bool = true;
    /// Wakes the consumer. Called from [`Producer`] operations, so it must not block for long if
    /// the producer runs in an interrupt handler.
    fn notify(&mut self);
}

/// No notifications: the consumer polls.
#[derive(Debug, Default, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NoNotify;

impl Notify for NoNotify {
    const ENABLED: bool = false;
    fn notify(&mut self) {}
}

impl<T: Notify + ?Sized> Notify for &mut T {
    const ENABLED: bool = T::ENABLED;
    fn notify(&mut self) {
        (**self).notify();
    }
}

/// Ring storage owned by the caller, for two sides in one address space.
///
/// `N` is the capacity, a power of two from 2 to 2^31.
///
/// # Examples
/// ```
/// use bulk_queue::ring::RingMem;
/// let mut mem = RingMem::<u64, 8>::new();
/// let (mut p, mut c) = mem.split();
/// p.push(7).unwrap();
/// assert_eq!(c.pop(), Ok(7));
/// ```
#[repr(C)]
pub struct RingMem<E: Element, const N: usize> {
    pub(crate) prod: ProducerLine,
    pub(crate) cons: ConsumerLine,
    pub(crate) entries: [E::Cell; N],
}

impl<E: Element, const N: usize> RingMem<E, N> {
    /// Empty ring storage.
    pub fn new() -> Self {
        RingMem {
            prod: ProducerLine::new(),
            cons: ConsumerLine::new(),
            entries: core::array::from_fn(|_| E::new_cell()),
        }
    }

    /// Resets the ring to empty and splits it into its two halves (O(N): every cell's sequence
    /// word is reset).
    pub fn split(&mut self) -> (Producer<'_, E>, Consumer<'_, E>) {
        const {
            assert!(
                N.is_power_of_two() && N >= 2 && N <= 1 << 31,
                "capacity must be a power of two"
            )
        };
        // Relaxed: `&mut self` excludes any concurrent access.
        self.prod.tail.store(0, Ordering::Relaxed);
        self.cons.head.store(0, Ordering::Relaxed);
        self.cons.wakeup.store(0, Ordering::Relaxed);
        for cell in &self.entries {
            if let Some(seq) = E::seq(cell) {
                // Relaxed: as above. 0 matches no entry the consumer waits for in the first lap.
                seq.store(0, Ordering::Relaxed);
            }
        }
        let Some(cells) = Cells::new(&self.entries[..]) else {
            unreachable!("N is a power of two (checked at compile time)")
        };
        let (prod, cons) = (&self.prod, &self.cons);
        (
            Producer::new_at(prod, cons, cells, 0),
            Consumer::new_at(prod, cons, cells, 0),
        )
    }
}

impl<E: Element, const N: usize> Default for RingMem<E, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Element, const N: usize> fmt::Debug for RingMem<E, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingMem")
            .field("capacity", &N)
            .finish_non_exhaustive()
    }
}

/// Orderings weakened on purpose so that loom tests can show they catch the bug.
#[cfg(loom)]
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakening {
    /// Publish `tail` / `head` with `Relaxed` instead of `Release`.
    RelaxedPublish,
    /// Leave out the `SeqCst` fences of the wakeup protocol.
    NoSleepFence,
    /// Store a pushed entry's sequence word with `Relaxed` instead of `Release`.
    RelaxedSeq,
}

/// What a consumer learns from the sequence word of cell `head`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CellState {
    /// `head + 1`: entry `head` was pushed singly and may be taken.
    Announced,
    /// `head` (written by a chunk or slice in this lap, or the reset value 0 in cell 0), or a
    /// cell without a sequence word: `tail` tells.
    AskTail,
    /// Anything else: the cell still holds the previous lap's entry.
    NotWritten,
}

/// Writes an entry that is found through `tail` only (chunks and slices): its sequence word
/// becomes its own index, which no consumer waits for in this cell.
#[inline(always)]
fn write_unannounced<E: Element>(cell: &E::Cell, index: u32, value: E) {
    E::store(cell, value);
    if let Some(seq) = E::seq(cell) {
        // Relaxed: published, with the entry, by the Release store of `tail`.
        seq.store(index, Ordering::Relaxed);
    }
}

#[inline(always)]
fn valid_distance(tail: u32, head: u32, capacity: u32) -> Option<u32> {
    let used = tail.wrapping_sub(head);
    if used <= capacity { Some(used) } else { None }
}

/// The producing half of a ring.
///
/// Every operation is wait-free and may be called from an interrupt handler, provided the
/// handler is the only user of this half (otherwise wrap it in `IrqShared`, feature
/// `critical-section`).
pub struct Producer<'a, E: Element, N: Notify = NoNotify> {
    pub(crate) prod: &'a ProducerLine,
    pub(crate) cons: &'a ConsumerLine,
    entries: Cells<'a, E::Cell>,
    capacity: u32,
    /// Authoritative local copy of our index.
    tail: u32,
    /// Last validated value of the consumer's index.
    head_cache: u32,
    /// Sleep epoch we last signalled.
    signalled: u32,
    notify: N,
    #[cfg(loom)]
    weak: Option<Weakening>,
}

/// The consuming half of a ring.
///
/// Every operation is wait-free and may be called from an interrupt handler, provided the
/// handler is the only user of this half.
pub struct Consumer<'a, E: Element> {
    pub(crate) prod: &'a ProducerLine,
    pub(crate) cons: &'a ConsumerLine,
    entries: Cells<'a, E::Cell>,
    capacity: u32,
    /// Authoritative local copy of our index.
    head: u32,
    /// Last validated value of the producer's index.
    tail_cache: u32,
    /// Sleep epoch counter (never 0 when published).
    epoch: u32,
    #[cfg(loom)]
    weak: Option<Weakening>,
    _e: PhantomData<E>,
}

impl<'a, E: Element> Producer<'a, E, NoNotify> {
    /// `entries.len()` must be a power of two (checked by callers).
    pub(crate) fn new_at(
        prod: &'a ProducerLine,
        cons: &'a ConsumerLine,
        entries: Cells<'a, E::Cell>,
        index: u32,
    ) -> Self {
        let capacity = entries.len();
        Producer {
            prod,
            cons,
            entries,
            capacity,
            tail: index,
            head_cache: index,
            signalled: 0,
            notify: NoNotify,
            #[cfg(loom)]
            weak: None,
        }
    }
}

impl<'a, E: Element, N: Notify> Producer<'a, E, N> {
    /// This producer, calling `notify` when the consumer must be woken.
    ///
    /// # Examples
    /// ```
    /// use bulk_queue::ring::{Notify, RingMem};
    /// struct Count(u32);
    /// impl Notify for Count { fn notify(&mut self) { self.0 += 1 } }
    ///
    /// let mut mem = RingMem::<u32, 4>::new();
    /// let (p, mut c) = mem.split();
    /// let mut p = p.with_notify(Count(0));
    /// assert_eq!(c.prepare_to_sleep(), Ok(true)); // empty: the consumer may block
    /// p.push(1).unwrap();
    /// p.push(2).unwrap();
    /// assert_eq!(p.notifier().0, 1); // one wakeup for the empty -> non-empty transition
    /// ```
    pub fn with_notify<M: Notify>(self, notify: M) -> Producer<'a, E, M> {
        Producer {
            prod: self.prod,
            cons: self.cons,
            entries: self.entries,
            capacity: self.capacity,
            tail: self.tail,
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

    /// The capacity of the ring.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    #[inline(always)]
    fn cell(&self, index: u32) -> &'a E::Cell {
        self.entries.at(index)
    }

    /// Writes entry `index` and announces it in its sequence word (`index + 1`), so a consumer
    /// polling that cell may take it before `tail` is published.
    #[inline(always)]
    fn write_announced(&self, index: u32, value: E) {
        let cell = self.cell(index);
        E::store(cell, value);
        if let Some(seq) = E::seq(cell) {
            #[allow(unused_mut)]
            let mut order = Ordering::Release;
            #[cfg(loom)]
            if self.weak == Some(Weakening::RelaxedSeq) {
                order = Ordering::Relaxed;
            }
            // Release: the Relaxed value store above becomes visible to a consumer that reads
            // this sequence word with Acquire.
            seq.store(index.wrapping_add(1), order);
        }
    }

    /// Reads and validates the consumer's index; returns the free entries.
    #[cold]
    #[inline(never)]
    fn refresh(&mut self) -> Result<u32, Error> {
        // Acquire: pairs with the consumer's Release store of `head`, so its reads of the cells it
        // has released happen before we overwrite them.
        let head = self.cons.head.load(Ordering::Acquire);
        let used = valid_distance(self.tail, head, self.capacity).ok_or(Error::PeerCorrupt)?;
        self.head_cache = head;
        Ok(self.capacity - used)
    }

    /// Free entries: from the cache when it shows room, otherwise re-read from the consumer.
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
    pub fn free(&mut self) -> Result<u32, Error> {
        self.refresh()
    }

    /// Publishes our local `tail`, then runs the wakeup check.
    #[inline(always)]
    fn publish(&mut self) {
        #[allow(unused_mut)]
        let mut order = Ordering::Release;
        #[cfg(loom)]
        if self.weak == Some(Weakening::RelaxedPublish) {
            order = Ordering::Relaxed;
        }
        // Release: the Relaxed entry stores above become visible to a consumer that reads this
        // `tail` with Acquire.
        self.prod.tail.store(self.tail, order);
        if N::ENABLED {
            self.wake_check();
        }
    }

    #[inline(always)]
    fn wake_check(&mut self) {
        #[cfg(loom)]
        let fenced = self.weak != Some(Weakening::NoSleepFence);
        #[cfg(not(loom))]
        let fenced = true;
        if fenced {
            // SeqCst: orders our store of `tail` before our load of `wakeup` (store-load), the
            // producer half of the Dekker pair with the consumer's fence in `prepare_to_sleep`.
            fence(Ordering::SeqCst);
        }
        // Relaxed: the fence above provides the ordering; the value is only compared.
        let epoch = self.cons.wakeup.load(Ordering::Relaxed);
        if epoch != 0 && epoch != self.signalled {
            self.signalled = epoch;
            self.notify.notify();
        }
    }

    /// Pushes one entry.
    ///
    /// # Errors
    /// [`Error::Full`] when the ring has no free entry, [`Error::PeerCorrupt`] when the
    /// consumer's index is impossible.
    ///
    /// # Examples
    /// ```
    /// use bulk_queue::{Error, ring::RingMem};
    /// let mut mem = RingMem::<u32, 2>::new();
    /// let (mut p, _c) = mem.split();
    /// p.push(1).unwrap();
    /// p.push(2).unwrap();
    /// assert_eq!(p.push(3), Err(Error::Full));
    /// ```
    #[inline]
    pub fn push(&mut self, value: E) -> Result<(), Error> {
        let tail = self.tail;
        if tail.wrapping_sub(self.head_cache) == self.capacity {
            // Kept out of line so that the fast path needs no stack frame.
            return self.push_slow(value);
        }
        self.write_announced(tail, value);
        self.tail = tail.wrapping_add(1);
        self.publish();
        Ok(())
    }

    /// `push` when the cached consumer index says the ring is full.
    #[cold]
    #[inline(never)]
    fn push_slow(&mut self, value: E) -> Result<(), Error> {
        if self.refresh()? == 0 {
            return Err(Error::Full);
        }
        let tail = self.tail;
        self.write_announced(tail, value);
        self.tail = tail.wrapping_add(1);
        self.publish();
        Ok(())
    }

    /// Pushes as many of `items` as fit, in order, with one publication; returns how many.
    ///
    /// # Errors
    /// [`Error::PeerCorrupt`] when the consumer's index is impossible.
    ///
    /// # Examples
    /// ```
    /// use bulk_queue::ring::RingMem;
    /// let mut mem = RingMem::<u32, 4>::new();
    /// let (mut p, mut c) = mem.split();
    /// assert_eq!(p.push_slice(&[1, 2, 3, 4, 5]), Ok(4));
    /// let mut out = [0; 8];
    /// assert_eq!(c.pop_slice(&mut out), Ok(4));
    /// assert_eq!(out[..4], [1, 2, 3, 4]);
    /// ```
    #[inline]
    pub fn push_slice(&mut self, items: &[E]) -> Result<usize, Error> {
        let wanted = u32::try_from(items.len()).unwrap_or(u32::MAX);
        let n = self.free_at_least(wanted)?.min(wanted) as usize;
        if n == 0 {
            return Ok(0);
        }
        let run = self.entries.tail_from(self.tail);
        let first = n.min(run.len());
        let (a, b) = items[..n].split_at(first);
        let mut index = self.tail;
        for (cell, v) in run.iter().zip(a) {
            write_unannounced(cell, index, *v);
            index = index.wrapping_add(1);
        }
        for (cell, v) in self.entries.all().iter().zip(b) {
            write_unannounced(cell, index, *v);
            index = index.wrapping_add(1);
        }
        self.tail = self.tail.wrapping_add(n as u32);
        self.publish();
        Ok(n)
    }

    /// Reserves up to `max` free entries to fill and then commit with one publication.
    ///
    /// # Errors
    /// [`Error::Full`] when no entry is free, [`Error::PeerCorrupt`] when the consumer's index
    /// is impossible.
    ///
    /// # Examples
    /// ```
    /// use bulk_queue::ring::RingMem;
    /// let mut mem = RingMem::<u64, 8>::new();
    /// let (mut p, mut c) = mem.split();
    /// let mut chunk = p.write_chunk(3).unwrap();
    /// for i in 0..chunk.len() {
    ///     chunk.set(i, 10 + i as u64).unwrap();
    /// }
    /// chunk.commit_all();
    /// let chunk = c.read_chunk(8).unwrap();
    /// assert_eq!((chunk.len(), chunk.get(2)), (3, Ok(12)));
    /// chunk.commit_all();
    /// ```
    #[inline]
    pub fn write_chunk(&mut self, max: u32) -> Result<WriteChunk<'_, 'a, E, N>, Error> {
        let len = self.free_at_least(max)?.min(max);
        if len == 0 {
            return Err(Error::Full);
        }
        Ok(WriteChunk {
            producer: self,
            len,
        })
    }
}

impl<E: Element, N: Notify + fmt::Debug> fmt::Debug for Producer<'_, E, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.capacity)
            .field("tail", &self.tail)
            .field("head_cache", &self.head_cache)
            .field("notify", &self.notify)
            .finish_non_exhaustive()
    }
}

/// Entries reserved by [`Producer::write_chunk`]; nothing is published until a commit.
pub struct WriteChunk<'p, 'a, E: Element, N: Notify> {
    producer: &'p mut Producer<'a, E, N>,
    len: u32,
}

impl<E: Element, N: Notify> WriteChunk<'_, '_, E, N> {
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
    pub fn set(&mut self, i: usize, value: E) -> Result<(), Error> {
        if i >= self.len as usize {
            return Err(Error::OutOfRange);
        }
        let p = &*self.producer;
        let index = p.tail.wrapping_add(i as u32);
        write_unannounced(p.cell(index), index, value);
        Ok(())
    }

    /// Publishes the first `n` entries (at most `len()`); the rest stay free.
    #[inline]
    pub fn commit(self, n: usize) {
        let n = (n as u32).min(self.len);
        if n > 0 {
            self.producer.tail = self.producer.tail.wrapping_add(n);
            self.producer.publish();
        }
    }

    /// Publishes every entry of the chunk.
    #[inline]
    pub fn commit_all(self) {
        let n = self.len as usize;
        self.commit(n);
    }

    /// Fills the chunk from `iter` (until either ends) and publishes what was written; returns
    /// how many entries that is.
    ///
    /// # Examples
    /// ```
    /// use bulk_queue::ring::RingMem;
    /// let mut mem = RingMem::<u64, 4>::new();
    /// let (mut p, mut c) = mem.split();
    /// assert_eq!(p.write_chunk(8).unwrap().fill_from_iter(10..), 4);
    /// assert_eq!(c.read_chunk(8).unwrap().iter().sum::<u64>(), 10 + 11 + 12 + 13);
    /// ```
    #[inline]
    pub fn fill_from_iter<I: IntoIterator<Item = E>>(self, iter: I) -> usize {
        let len = self.len as usize;
        let (a, b) = self.producer.entries.split_at(self.producer.tail, len);
        let mut iter = iter.into_iter();
        let tail = self.producer.tail;
        let mut n = 0;
        for (cell, v) in a.iter().zip(&mut iter) {
            write_unannounced(cell, tail.wrapping_add(n as u32), v);
            n += 1;
        }
        if n == a.len() {
            for (cell, v) in b.iter().zip(&mut iter) {
                write_unannounced(cell, tail.wrapping_add(n as u32), v);
                n += 1;
            }
        }
        self.commit(n);
        n
    }
}

impl<E: Element, N: Notify> fmt::Debug for WriteChunk<'_, '_, E, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteChunk")
            .field("len", &self.len)
            .finish()
    }
}

impl<'a, E: Element> Consumer<'a, E> {
    pub(crate) fn new_at(
        prod: &'a ProducerLine,
        cons: &'a ConsumerLine,
        entries: Cells<'a, E::Cell>,
        index: u32,
    ) -> Self {
        let capacity = entries.len();
        Consumer {
            prod,
            cons,
            entries,
            capacity,
            head: index,
            tail_cache: index,
            epoch: 0,
            #[cfg(loom)]
            weak: None,
            _e: PhantomData,
        }
    }

    /// Weakens an ordering on purpose (loom tests only).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn weaken(&mut self, w: Weakening) {
        self.weak = Some(w);
    }

    /// The capacity of the ring.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    #[inline(always)]
    fn cell(&self, index: u32) -> &'a E::Cell {
        self.entries.at(index)
    }

    /// Reads and validates the producer's index; returns the available entries.
    #[cold]
    #[inline(never)]
    fn refresh(&mut self) -> Result<u32, Error> {
        // Acquire: pairs with the producer's Release store of `tail`, making its entry writes
        // visible before we read them.
        let tail = self.prod.tail.load(Ordering::Acquire);
        match valid_distance(tail, self.head, self.capacity) {
            Some(used) => {
                self.tail_cache = tail;
                Ok(used)
            }
            // `tail` behind `head`: we took entries through their sequence words before the
            // producer's store of `tail` landed. Nothing more is available yet.
            None if self.head.wrapping_sub(tail) <= self.capacity => {
                Ok(self.tail_cache.wrapping_sub(self.head))
            }
            None => Err(Error::PeerCorrupt),
        }
    }

    /// `true` if cell `head`'s sequence word announces entry `head`.
    #[inline(always)]
    fn announced(&self, head: u32) -> bool {
        self.cell_state(head) == CellState::Announced
    }

    /// What cell `head`'s sequence word says about entry `head`.
    #[inline(always)]
    fn cell_state(&self, head: u32) -> CellState {
        let Some(seq) = E::seq(self.cell(head)) else {
            return CellState::AskTail;
        };
        // Acquire: pairs with the producer's Release store of the sequence word in `push`, so
        // the entry's value written before it is visible to our load of it.
        let word = seq.load(Ordering::Acquire);
        if word == head.wrapping_add(1) {
            CellState::Announced
        } else if word == head {
            CellState::AskTail
        } else {
            CellState::NotWritten
        }
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
    pub fn available(&mut self) -> Result<u32, Error> {
        self.refresh()
    }

    #[inline(always)]
    fn release(&mut self) {
        #[allow(unused_mut)]
        let mut order = Ordering::Release;
        #[cfg(loom)]
        if self.weak == Some(Weakening::RelaxedPublish) {
            order = Ordering::Relaxed;
        }
        // Release: our reads of the consumed cells happen before the producer, reading this
        // `head` with Acquire, overwrites them.
        self.cons.head.store(self.head, order);
    }

    /// Pops one entry (a local copy, read once from shared memory).
    ///
    /// # Errors
    /// [`Error::Empty`] when there is nothing to pop, [`Error::PeerCorrupt`] when the
    /// producer's index is impossible.
    #[inline]
    pub fn pop(&mut self) -> Result<E, Error> {
        let head = self.head;
        if head == self.tail_cache {
            // Kept out of line so that the fast path needs no stack frame.
            return self.pop_slow();
        }
        let v = E::load(self.cell(head));
        self.head = head.wrapping_add(1);
        self.release();
        Ok(v)
    }

    /// `pop` when the cached producer index says the ring is empty.
    #[cold]
    #[inline(never)]
    fn pop_slow(&mut self) -> Result<E, Error> {
        let head = self.head;
        let state = self.cell_state(head);
        if state == CellState::NotWritten {
            // Nothing written in cell `head` in this lap (or its sequence word not visible
            // yet): `tail` cannot show entry `head` either, so its line is not read.
            return Err(Error::Empty);
        }
        if state == CellState::Announced {
            // Taken through its sequence word, without waiting for `tail`'s cache line: the
            // producer's `tail` store may not even have landed yet.
            let v = E::load(self.cell(head));
            let next = head.wrapping_add(1);
            self.head = next;
            // `tail_cache` was `head` (the cache said empty); keep it no lower than `head`.
            self.tail_cache = next;
            // Streaming (the next entry, on the line just fetched, is announced too): re-read
            // `tail` to take the published run through the cache, rather than chasing the
            // producer one sequence word at a time on the line it is writing. A corrupt `tail`
            // is reported by the next call that needs it.
            if self.entries.same_line(head, next, E::CELL_SIZE) && self.announced(next) {
                let _ = self.refresh();
            }
            self.release();
            return Ok(v);
        }
        if self.refresh()? == 0 {
            return Err(Error::Empty);
        }
        let v = E::load(self.cell(head));
        self.head = head.wrapping_add(1);
        self.release();
        Ok(v)
    }

    /// Pops up to `out.len()` entries with one publication; returns how many.
    ///
    /// # Errors
    /// [`Error::PeerCorrupt`] when the producer's index is impossible.
    #[inline]
    pub fn pop_slice(&mut self, out: &mut [E]) -> Result<usize, Error> {
        let wanted = u32::try_from(out.len()).unwrap_or(u32::MAX);
        let n = self.available_at_least(wanted)?.min(wanted) as usize;
        if n == 0 {
            return Ok(0);
        }
        let run = self.entries.tail_from(self.head);
        let first = n.min(run.len());
        let (a, b) = out[..n].split_at_mut(first);
        for (v, cell) in a.iter_mut().zip(run) {
            *v = E::load(cell);
        }
        for (v, cell) in b.iter_mut().zip(self.entries.all()) {
            *v = E::load(cell);
        }
        self.head = self.head.wrapping_add(n as u32);
        self.release();
        Ok(n)
    }

    /// Makes up to `max` available entries readable, to release with one publication.
    ///
    /// # Errors
    /// [`Error::Empty`] when nothing is available, [`Error::PeerCorrupt`] when the producer's
    /// index is impossible.
    #[inline]
    pub fn read_chunk(&mut self, max: u32) -> Result<ReadChunk<'_, 'a, E>, Error> {
        let len = self.available_at_least(max)?.min(max);
        if len == 0 {
            return Err(Error::Empty);
        }
        Ok(ReadChunk {
            consumer: self,
            len,
        })
    }

    /// Announces that the consumer is about to block; tells whether it may.
    ///
    /// Returns `Ok(true)` when the ring is still empty after the consumer's wakeup request became
    /// visible: the consumer may now block on its notification object, and the producer will
    /// signal it after its next publication. Returns `Ok(false)` when entries are available (the
    /// request is withdrawn): the consumer must not block. See the [module docs](self) for the
    /// protocol.
    ///
    /// # Errors
    /// [`Error::PeerCorrupt`] when the producer's index is impossible.
    pub fn prepare_to_sleep(&mut self) -> Result<bool, Error> {
        if self.announced(self.head) || self.available_at_least(1)? > 0 {
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
        if self.announced(self.head) || self.refresh()? > 0 {
            // Relaxed: withdrawing the request needs no ordering; a signal the producer already
            // sent is only a spurious wakeup.
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

impl<E: Element> fmt::Debug for Consumer<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.capacity)
            .field("head", &self.head)
            .field("tail_cache", &self.tail_cache)
            .finish_non_exhaustive()
    }
}

/// Entries made readable by [`Consumer::read_chunk`]; nothing is released until a commit.
pub struct ReadChunk<'c, 'a, E: Element> {
    consumer: &'c mut Consumer<'a, E>,
    len: u32,
}

impl<E: Element> ReadChunk<'_, '_, E> {
    /// Number of readable entries.
    #[allow(clippy::len_without_is_empty)] // a chunk is never empty
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Reads entry `i` of the chunk (a fresh read of shared memory each call: validate the copy).
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if `i >= len()`.
    #[inline(always)]
    pub fn get(&self, i: usize) -> Result<E, Error> {
        if i >= self.len as usize {
            return Err(Error::OutOfRange);
        }
        let c = &*self.consumer;
        Ok(E::load(c.cell(c.head.wrapping_add(i as u32))))
    }

    /// Releases the first `n` entries (at most `len()`) to the producer.
    #[inline]
    pub fn commit(self, n: usize) {
        let n = (n as u32).min(self.len);
        if n > 0 {
            self.consumer.head = self.consumer.head.wrapping_add(n);
            self.consumer.release();
        }
    }

    /// Releases every entry of the chunk.
    #[inline]
    pub fn commit_all(self) {
        let n = self.len as usize;
        self.commit(n);
    }

    /// The chunk's entries in order, each read once from shared memory.
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = E> + '_ {
        let (a, b) = self
            .consumer
            .entries
            .split_at(self.consumer.head, self.len as usize);
        a.iter().chain(b).map(E::load)
    }

    /// Copies the first `out.len()` entries (at most `len()`) into `out`; returns how many.
    #[inline]
    pub fn copy_to(&self, out: &mut [E]) -> usize {
        let n = out.len().min(self.len as usize);
        let (a, b) = self.consumer.entries.split_at(self.consumer.head, n);
        let (oa, ob) = out[..n].split_at_mut(a.len());
        for (o, cell) in oa.iter_mut().zip(a) {
            *o = E::load(cell);
        }
        for (o, cell) in ob.iter_mut().zip(b) {
            *o = E::load(cell);
        }
        n
    }
}

impl<E: Element> fmt::Debug for ReadChunk<'_, '_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadChunk").field("len", &self.len).finish()
    }
}
