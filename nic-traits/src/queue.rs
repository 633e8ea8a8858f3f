//! Queue drivers: one per hardware RX/TX queue pair, each owning its rings.
//!
//! A queue driver is `Send` and touches only its own ring memory and ring
//! registers, so it runs on any core or in another protection domain without
//! locks. Buffers move in [`Batch`]es: the caller's fixed-capacity FIFO of
//! buffer handles, so the caller chooses the burst size and no buffer is
//! ever copied or dropped on the way.

use core::mem::MaybeUninit;

use crate::buffer::PacketBuf;
use crate::error::ErrorType;

/// A caller-sized FIFO of packet buffers moved in and out of queue drivers.
///
/// `N` buffers fit; each is an 8-byte [`PacketBuf`] handle, so moving a
/// buffer in or out of a batch moves one pointer. The buffers sit
/// contiguously in `N` slots, oldest first (see [`as_slice`](Self::as_slice));
/// the occupied range moves back to the start when a push finds the end
/// taken, so a batch filled and then drained (the common case) never wraps.
/// The occupied range alone says which slots hold buffers, so taking a
/// buffer out is one load and putting one in one store.
///
/// Besides `push_back`/`pop_front`, drivers move whole bursts with
/// [`fill_from`](Self::fill_from) and [`drain_into`](Self::drain_into),
/// which touch each slot once without per-buffer length checks.
///
/// # Examples
///
/// ```
/// # use nic_traits::{Batch, DmaRegion, PacketBuf};
/// # use core::ptr::NonNull;
/// # let mem: &'static mut [u64] = Box::leak(vec![0u64; 512].into_boxed_slice());
/// # let region = unsafe { DmaRegion::from_raw_parts(NonNull::new(mem.as_mut_ptr()).unwrap().cast(), 0, 4096) };
/// let mut pool = region.into_buffers(1024, 0);
/// let mut batch: Batch<2> = Batch::new();
/// assert_eq!(batch.fill_from(usize::MAX, || pool.next()), 2);
/// assert!(batch.is_full());
/// let rejected = batch.push_back(pool.next().unwrap()).unwrap_err();
/// assert_eq!(rejected.tag(), 2);
/// assert_eq!(batch.pop_front().map(|b| b.tag()), Some(0));
/// // Take buffers while the receiver has room; the rest stay, in order.
/// let mut taken = Vec::new();
/// batch.drain_into(usize::MAX, |b| { taken.push(b); Ok(()) });
/// assert_eq!((taken.len(), batch.len()), (1, 0));
/// ```
pub struct Batch<const N: usize> {
    /// `slots[head..head + len]` hold buffers; the others are empty.
    slots: [MaybeUninit<PacketBuf>; N],
    /// Index of the oldest buffer.
    head: usize,
    /// Buffers held, in `slots[head..head + len]` (`head + len <= N`).
    len: usize,
}

impl<const N: usize> Default for Batch<N> {
    #[inline]
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Debug for Batch<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(feature = "defmt")]
impl<const N: usize> defmt::Format for Batch<N> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "Batch {{ len: {=usize}, capacity: {=usize} }}",
            self.len,
            N
        )
    }
}

impl<const N: usize> Batch<N> {
    /// An empty batch.
    #[inline]
    pub const fn new() -> Self {
        Self {
            slots: [const { MaybeUninit::uninit() }; N],
            head: 0,
            len: 0,
        }
    }

    /// How many buffers fit.
    #[inline]
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Buffers held.
    #[inline]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no buffer.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the batch holds `N` buffers.
    #[inline]
    pub const fn is_full(&self) -> bool {
        self.len == N
    }

    /// Room for this many more buffers.
    #[inline]
    pub const fn free(&self) -> usize {
        N - self.len
    }

    /// The first slot, as a pointer to buffers.
    #[inline(always)]
    fn base(&mut self) -> *mut PacketBuf {
        self.slots.as_mut_ptr().cast::<PacketBuf>()
    }

    /// Moves the held buffers to the start of the slots.
    #[inline]
    fn compact(&mut self) {
        if self.head != 0 {
            let (head, len) = (self.head, self.len);
            let base = self.base();
            // SAFETY: `head + len <= N`: both ranges lie in `slots`;
            // `ptr::copy` allows the overlap. Afterwards `slots[..len]` hold
            // the buffers and the old copies beyond count as empty.
            unsafe { core::ptr::copy(base.add(head), base, len) };
            self.head = 0;
        }
    }

    /// Appends `buf`, or gives it back when the batch is full.
    #[inline]
    pub fn push_back(&mut self, buf: PacketBuf) -> Result<(), PacketBuf> {
        if self.len >= N {
            return Err(buf);
        }
        if self.head + self.len >= N {
            self.compact();
        }
        match self.slots.get_mut(self.head + self.len) {
            Some(slot) => {
                slot.write(buf);
                self.len += 1;
                Ok(())
            }
            None => Err(buf),
        }
    }

    /// Puts `buf` before the oldest buffer, or gives it back when the batch
    /// is full.
    pub fn push_front(&mut self, buf: PacketBuf) -> Result<(), PacketBuf> {
        if self.len >= N {
            return Err(buf);
        }
        if self.head == 0 {
            // Move the held buffers to the end of the slots.
            let (len, base) = (self.len, self.base());
            // SAFETY: `len < N`: both ranges lie in `slots`; `ptr::copy`
            // allows the overlap.
            unsafe { core::ptr::copy(base, base.add(N - len), len) };
            self.head = N - len;
        }
        self.head -= 1;
        self.slots[self.head].write(buf);
        self.len += 1;
        Ok(())
    }

    /// Removes and returns the oldest buffer.
    #[inline]
    pub fn pop_front(&mut self) -> Option<PacketBuf> {
        if self.len == 0 {
            return None;
        }
        let slot = self.slots.get(self.head)?;
        // SAFETY: `slots[head]` holds a buffer (`len > 0`); it counts as
        // empty from here on, so the handle is moved out once.
        let buf = unsafe { slot.assume_init_read() };
        self.len -= 1;
        self.head = if self.len == 0 { 0 } else { self.head + 1 };
        Some(buf)
    }

    /// Removes and returns the newest buffer.
    pub fn pop_back(&mut self) -> Option<PacketBuf> {
        let last = self.len.checked_sub(1)?;
        let slot = self.slots.get(self.head + last)?;
        // SAFETY: `slots[head + len - 1]` holds a buffer; it counts as empty
        // from here on.
        let buf = unsafe { slot.assume_init_read() };
        self.len = last;
        if self.len == 0 {
            self.head = 0;
        }
        Some(buf)
    }

    /// The oldest buffer.
    #[inline]
    pub fn front(&self) -> Option<&PacketBuf> {
        self.get(0)
    }

    /// The oldest buffer, writable.
    #[inline]
    pub fn front_mut(&mut self) -> Option<&mut PacketBuf> {
        self.get_mut(0)
    }

    /// The newest buffer.
    pub fn back(&self) -> Option<&PacketBuf> {
        self.as_slice().last()
    }

    /// The `i`-th oldest buffer.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&PacketBuf> {
        self.as_slice().get(i)
    }

    /// The `i`-th oldest buffer, writable.
    #[inline]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut PacketBuf> {
        self.as_mut_slice().get_mut(i)
    }

    /// The buffers, oldest first, as a slice.
    #[inline]
    pub fn as_slice(&self) -> &[PacketBuf] {
        let held = self
            .slots
            .get(self.head..self.head + self.len)
            .unwrap_or_default();
        // SAFETY: these slots hold buffers, and `MaybeUninit<PacketBuf>` has
        // the layout of `PacketBuf`.
        unsafe { core::slice::from_raw_parts(held.as_ptr().cast::<PacketBuf>(), held.len()) }
    }

    /// The buffers, oldest first, as a writable slice.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [PacketBuf] {
        let (head, len) = (self.head, self.len);
        let held = self.slots.get_mut(head..head + len).unwrap_or_default();
        // SAFETY: as in `as_slice`; `&mut self` makes the borrow exclusive.
        unsafe {
            core::slice::from_raw_parts_mut(held.as_mut_ptr().cast::<PacketBuf>(), held.len())
        }
    }

    /// The buffers, oldest first.
    #[inline]
    pub fn iter(&self) -> core::slice::Iter<'_, PacketBuf> {
        self.as_slice().iter()
    }

    /// The buffers, oldest first, writable.
    #[inline]
    pub fn iter_mut(&mut self) -> core::slice::IterMut<'_, PacketBuf> {
        self.as_mut_slice().iter_mut()
    }

    /// Removes the buffers one by one, oldest first; those the iterator
    /// does not reach stay in the batch.
    #[inline]
    pub fn drain(&mut self) -> impl Iterator<Item = PacketBuf> + '_ {
        core::iter::from_fn(move || self.pop_front())
    }

    /// Appends buffers from `next` until the batch is full, `max` were
    /// appended, or `next` returns `None`. Returns how many were appended.
    ///
    /// `next` is called at most `min(max, free())` times, so a buffer it
    /// returns always has a place (a driver passes the number of
    /// descriptors it may look at as `max`, and needs no check of its own).
    /// Each buffer costs one store.
    #[inline]
    pub fn fill_from(&mut self, max: usize, mut next: impl FnMut() -> Option<PacketBuf>) -> usize {
        self.compact();
        // The free slots after the held buffers (`len <= N`), at most `max`.
        let spare = &mut self.slots[self.len.min(N)..];
        let m = max.min(spare.len());
        let mut n = 0;
        // Buffers written but not yet counted (if `next` panics) are leaked,
        // never duplicated.
        for slot in &mut spare[..m] {
            let Some(buf) = next() else { break };
            slot.write(buf);
            n += 1;
        }
        self.len += n;
        n
    }

    /// Hands the buffers to `take`, oldest first, until the batch is empty,
    /// `max` were taken, or `take` gives a buffer back (`Err`), which then
    /// stays at the front with the rest behind it, in order. Returns how
    /// many were taken. Each buffer costs one load.
    #[inline]
    pub fn drain_into(
        &mut self,
        max: usize,
        mut take: impl FnMut(PacketBuf) -> Result<(), PacketBuf>,
    ) -> usize {
        let (head, len) = (self.head, self.len);
        // The batch owns none of the held buffers while `take` runs: if it
        // panics, the buffers not handed over are leaked, never duplicated.
        self.len = 0;
        self.head = 0;
        // The held slots (`head + len <= N`), at most `max`.
        let held = &mut self.slots[head.min(N)..];
        let m = len.min(max).min(held.len());
        let mut n = 0;
        for slot in &mut held[..m] {
            // SAFETY: the slot holds a buffer (it is in `head..head + len`),
            // moved out once: the slot counts as empty from here on unless
            // the buffer is written back below.
            let buf = unsafe { slot.assume_init_read() };
            if let Err(buf) = take(buf) {
                slot.write(buf);
                break;
            }
            n += 1;
        }
        self.len = len - n;
        self.head = if self.len == 0 { 0 } else { head + n };
        n
    }
}

impl<'a, const N: usize> IntoIterator for &'a Batch<N> {
    type Item = &'a PacketBuf;
    type IntoIter = core::slice::Iter<'a, PacketBuf>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, const N: usize> IntoIterator for &'a mut Batch<N> {
    type Item = &'a mut PacketBuf;
    type IntoIter = core::slice::IterMut<'a, PacketBuf>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

/// A driver for one receive/transmit queue pair.
///
/// # Contract
/// - **Nothing is lost or duplicated.** Every buffer given to [`refill`] or
///   [`tx_burst`] comes back exactly once: from [`rx_burst`] (filled), from
///   [`tx_reclaim`] (sent), or from [`release`] (when the queue stops).
/// - **Bursts.** Each call handles as many buffers as fit both the ring and
///   the caller's batch, and tells the device about all of them with one
///   doorbell (tail register write).
/// - **Untrusted device.** A descriptor the device writes that cannot be true
///   (a length larger than the buffer, completion of a slot that was never
///   posted) yields [`ErrorKind::DeviceFault`](crate::ErrorKind::DeviceFault);
///   buffers already moved in that call stay moved, and the faulty buffer is
///   kept by the driver until [`release`].
/// - A queue driver never blocks and never waits on the device.
///
/// [`refill`]: QueueDriver::refill
/// [`tx_burst`]: QueueDriver::tx_burst
/// [`rx_burst`]: QueueDriver::rx_burst
/// [`tx_reclaim`]: QueueDriver::tx_reclaim
/// [`release`]: QueueDriver::release
pub trait QueueDriver: ErrorType + Send {
    /// This queue's index on the card.
    fn index(&self) -> u16;

    /// Moves received frames to the back of `out`, oldest first, until the
    /// ring has no more completed frames or `out` is full. Returns how many.
    fn rx_burst<const N: usize>(&mut self, out: &mut Batch<N>) -> Result<usize, Self::Error>;

    /// Posts free buffers from the front of `bufs` to the receive ring until
    /// the ring is full or `bufs` is empty. Returns how many were posted.
    fn refill<const N: usize>(&mut self, bufs: &mut Batch<N>) -> Result<usize, Self::Error>;

    /// Receive descriptors that could take a buffer now.
    fn rx_free(&self) -> usize;

    /// Queues frames from the front of `bufs` for transmission, in order,
    /// until the ring is full or `bufs` is empty. Returns how many.
    fn tx_burst<const N: usize>(&mut self, bufs: &mut Batch<N>) -> Result<usize, Self::Error>;

    /// Moves buffers whose transmission completed to the back of `done`,
    /// in the order they were queued. Returns how many.
    fn tx_reclaim<const N: usize>(&mut self, done: &mut Batch<N>) -> Result<usize, Self::Error>;

    /// Transmit descriptors that could take a frame now.
    fn tx_free(&self) -> usize;

    /// Enables or disables this queue's interrupt; with it disabled the
    /// queue is driven by polling.
    fn set_interrupt(&mut self, enabled: bool) -> Result<(), Self::Error>;

    /// Takes back every buffer the driver holds (posted receive buffers,
    /// untransmitted or unreclaimed frames), moving them to the back of
    /// `out` until it is full. Call after stopping the queue on the card
    /// ([`CardDriver::stop_queue`](crate::CardDriver::stop_queue)); while the
    /// device still runs the queue it may write the posted buffers, so
    /// `release` then moves nothing and returns 0. Returns how many were
    /// moved; call again while it returns `out`'s free space.
    fn release<const N: usize>(&mut self, out: &mut Batch<N>) -> usize;
}

/// The buffers of a [`Batch`], oldest first, by value.
#[derive(Debug)]
pub struct IntoIter<const N: usize>(Batch<N>);

impl<const N: usize> Iterator for IntoIter<N> {
    type Item = PacketBuf;

    #[inline]
    fn next(&mut self) -> Option<PacketBuf> {
        self.0.pop_front()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.0.len(), Some(self.0.len()))
    }
}

impl<const N: usize> ExactSizeIterator for IntoIter<N> {}

impl<const N: usize> IntoIterator for Batch<N> {
    type Item = PacketBuf;
    type IntoIter = IntoIter<N>;

    fn into_iter(self) -> IntoIter<N> {
        IntoIter(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DmaRegion;
    use core::ptr::NonNull;
    use std::format;
    use std::vec::Vec;

    fn bufs(n: usize) -> crate::BufferIter {
        let words = n * 128 / 8;
        let mem: &'static mut [u64] =
            std::boxed::Box::leak(std::vec![0u64; words].into_boxed_slice());
        // SAFETY: leaked memory, owned by the region from now on.
        let region = unsafe {
            DmaRegion::from_raw_parts(NonNull::new(mem.as_mut_ptr()).unwrap().cast(), 0, words * 8)
        };
        region.into_buffers(128, 0)
    }

    fn tags<const N: usize>(b: &Batch<N>) -> Vec<u32> {
        b.iter().map(PacketBuf::tag).collect()
    }

    #[test]
    fn batch_keeps_order_and_loses_nothing_across_wraps() {
        let mut pool = bufs(64);
        let mut b: Batch<5> = Batch::default();
        let mut model = std::collections::VecDeque::new();
        let mut out = Vec::new();
        // A fixed pseudo-random schedule of pushes, pops and bulk moves.
        let mut x = 12345u32;
        for _ in 0..2000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            match (x >> 16) % 6 {
                0 | 1 => {
                    if let Some(buf) = pool.next().or_else(|| out.pop()) {
                        let tag = buf.tag();
                        match b.push_back(buf) {
                            Ok(()) => model.push_back(tag),
                            Err(buf) => {
                                assert!(b.is_full());
                                out.push(buf);
                            }
                        }
                    }
                }
                2 => {
                    let got = b.pop_front();
                    assert_eq!(got.as_ref().map(PacketBuf::tag), model.pop_front());
                    out.extend(got);
                }
                3 => {
                    let limit = (x >> 8) as usize % 4;
                    let mut k = 0;
                    let max = (x >> 4) as usize % 6;
                    let n = b.drain_into(max, |buf| {
                        assert!(k < max);
                        if k == limit {
                            return Err(buf);
                        }
                        k += 1;
                        assert_eq!(Some(buf.tag()), model.pop_front());
                        out.push(buf);
                        Ok(())
                    });
                    assert_eq!(n, k);
                }
                4 => {
                    let before = b.len();
                    let max = (x >> 4) as usize % 7;
                    let n = b.fill_from(max, || {
                        let buf = out.pop()?;
                        model.push_back(buf.tag());
                        Some(buf)
                    });
                    assert_eq!(b.len(), before + n);
                    assert!(n <= max);
                    assert!(b.is_full() || out.is_empty() || n == max);
                }
                _ => {
                    if let Some(buf) = out.pop() {
                        let tag = buf.tag();
                        match b.push_front(buf) {
                            Ok(()) => model.push_front(tag),
                            Err(buf) => out.push(buf),
                        }
                    }
                }
            }
            assert_eq!(tags(&b), model.iter().copied().collect::<Vec<_>>());
            assert_eq!(b.len(), model.len());
            assert_eq!(b.free(), 5 - model.len());
            assert_eq!(b.front().map(PacketBuf::tag), model.front().copied());
            assert_eq!(b.back().map(PacketBuf::tag), model.back().copied());
        }
        // Every buffer is somewhere, exactly once.
        let mut all: Vec<u32> = b.drain().map(|p| p.tag()).collect();
        all.extend(out.iter().map(PacketBuf::tag));
        all.extend(pool.map(|p| p.tag()));
        all.sort_unstable();
        assert_eq!(all, (0..64).collect::<Vec<_>>());
        assert!(b.is_empty());
    }

    #[test]
    fn slices_see_the_held_buffers_after_wraps_and_front_pushes() {
        let mut pool = bufs(8);
        let mut b: Batch<4> = Batch::new();
        assert!(b.as_slice().is_empty());
        assert_eq!(b.fill_from(3, || pool.next()), 3);
        assert_eq!(b.pop_front().map(|p| p.tag()), Some(0));
        // head is 1: a push that finds the end taken compacts first.
        b.push_back(pool.next().unwrap()).unwrap();
        b.push_back(pool.next().unwrap()).unwrap();
        assert_eq!(tags(&b), [1, 2, 3, 4]);
        assert!(b.push_back(pool.next().unwrap()).is_err());
        let first = b.pop_front().unwrap();
        let second = b.pop_front().unwrap();
        // head is 2: a front push moves nothing; with head 0 it moves the
        // held buffers to the end first.
        b.push_front(second).unwrap();
        b.drain_into(1, |p| {
            assert_eq!(p.tag(), 2);
            Err(p)
        });
        assert_eq!(b.as_slice().len(), 3);
        let mut c: Batch<4> = Batch::new();
        c.push_back(first).unwrap();
        c.push_front(b.pop_back().unwrap()).unwrap();
        assert_eq!(tags(&c), [4, 1]);
        for p in &mut c {
            p.append(b"z").unwrap();
        }
        assert!(c.as_mut_slice().iter().all(|p| p.data() == b"z"));
        assert_eq!(
            c.iter().rev().map(PacketBuf::tag).collect::<Vec<_>>(),
            [1, 4]
        );
        assert_eq!(format!("{c:?}").matches("PacketBuf").count(), 2);
    }

    #[test]
    fn a_panic_while_draining_leaks_buffers_and_never_duplicates_them() {
        let mut pool = bufs(4);
        let mut b: Batch<4> = Batch::new();
        assert_eq!(b.fill_from(4, || pool.next()), 4);
        let mut got = Vec::new();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            b.drain_into(usize::MAX, |p| {
                if p.tag() == 2 {
                    panic!("receiver failed");
                }
                got.push(p.tag());
                Ok(())
            })
        }));
        assert!(r.is_err());
        assert_eq!(got, [0, 1]);
        // The batch gave up the rest: nothing can come out twice.
        assert!(b.is_empty());
        assert!(b.pop_front().is_none());
    }

    #[test]
    fn pop_back_and_get_mut_see_the_newest_and_the_indexed_buffer() {
        let mut pool = bufs(3);
        let mut b: Batch<3> = Batch::new();
        assert_eq!(b.fill_from(2, || pool.next()), 2);
        assert_eq!(b.fill_from(usize::MAX, || pool.next()), 1);
        b.get_mut(1).unwrap().append(b"x").unwrap();
        assert_eq!(b.get(1).unwrap().data(), b"x");
        assert!(b.get(3).is_none());
        assert_eq!(b.pop_back().map(|p| p.tag()), Some(2));
        assert_eq!(tags(&b), [0, 1]);
        for p in b.iter_mut() {
            p.truncate(0);
        }
        assert_eq!((&b).into_iter().count(), 2);
        assert_eq!(b.capacity(), 3);
    }
}
