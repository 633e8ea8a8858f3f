//! Queue drivers: one per hardware RX/TX queue pair, each owning its rings.
//!
//! A queue driver is `Send` and touches only its own ring memory and ring
//! registers, so it runs on any core or in another protection domain without
//! locks. Buffers move in [`Batch`]es: the caller's fixed-capacity FIFO of
//! buffer handles, so the caller chooses the burst size and no buffer is
//! ever copied or dropped on the way.

use crate::buffer::PacketBuf;
use crate::error::ErrorType;

/// A caller-sized FIFO of packet buffers moved in and out of queue drivers.
///
/// `N` buffers fit; each is an 8-byte [`PacketBuf`] handle, so moving a
/// buffer in or out of a batch moves one pointer. The buffers sit
/// contiguously in `N` slots (`Option<PacketBuf>` is also 8 bytes), oldest
/// first; the occupied range moves back to the start when a push finds the
/// end taken, so a batch filled and then drained (the common case) never
/// wraps.
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
    slots: [Option<PacketBuf>; N],
    /// Index of the oldest buffer.
    head: usize,
    /// Buffers held, in `slots[head..head + len]`.
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
            slots: [const { None }; N],
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

    /// Moves the held buffers to the start of the slots.
    #[inline]
    fn compact(&mut self) {
        if self.head != 0 {
            self.slots.rotate_left(self.head);
            self.head = 0;
        }
    }

    /// Appends `buf`, or gives it back when the batch is full.
    #[inline]
    pub fn push_back(&mut self, buf: PacketBuf) -> Result<(), PacketBuf> {
        if self.len == N {
            return Err(buf);
        }
        if self.head + self.len == N {
            self.compact();
        }
        match self.slots.get_mut(self.head + self.len) {
            Some(slot) => {
                *slot = Some(buf);
                self.len += 1;
                Ok(())
            }
            None => Err(buf),
        }
    }

    /// Puts `buf` before the oldest buffer, or gives it back when the batch
    /// is full.
    pub fn push_front(&mut self, buf: PacketBuf) -> Result<(), PacketBuf> {
        if self.len == N {
            return Err(buf);
        }
        if self.head == 0 {
            // Move the held buffers to the end of the slots.
            self.slots.rotate_right(N - self.len);
            self.head = N - self.len;
        }
        self.head -= 1;
        self.slots[self.head] = Some(buf);
        self.len += 1;
        Ok(())
    }

    /// Removes and returns the oldest buffer.
    #[inline]
    pub fn pop_front(&mut self) -> Option<PacketBuf> {
        if self.len == 0 {
            return None;
        }
        let buf = self.slots.get_mut(self.head)?.take();
        self.len -= 1;
        self.head = if self.len == 0 { 0 } else { self.head + 1 };
        buf
    }

    /// Removes and returns the newest buffer.
    pub fn pop_back(&mut self) -> Option<PacketBuf> {
        if self.len == 0 {
            return None;
        }
        let buf = self.slots.get_mut(self.head + self.len - 1)?.take();
        self.len -= 1;
        if self.len == 0 {
            self.head = 0;
        }
        buf
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
        self.get(self.len.checked_sub(1)?)
    }

    /// The `i`-th oldest buffer.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&PacketBuf> {
        if i >= self.len {
            return None;
        }
        self.slots.get(self.head + i)?.as_ref()
    }

    /// The `i`-th oldest buffer, writable.
    #[inline]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut PacketBuf> {
        if i >= self.len {
            return None;
        }
        self.slots.get_mut(self.head + i)?.as_mut()
    }

    /// The occupied slots, oldest first (every one holds a buffer).
    #[inline]
    fn held(&self) -> &[Option<PacketBuf>] {
        self.slots
            .get(self.head..self.head + self.len)
            .unwrap_or_default()
    }

    /// The buffers, oldest first.
    #[inline]
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &PacketBuf> {
        self.held().iter().filter_map(Option::as_ref)
    }

    /// The buffers, oldest first, writable.
    #[inline]
    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut PacketBuf> {
        let (head, len) = (self.head, self.len);
        self.slots
            .get_mut(head..head + len)
            .unwrap_or_default()
            .iter_mut()
            .filter_map(Option::as_mut)
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
    #[inline]
    pub fn fill_from(&mut self, max: usize, mut next: impl FnMut() -> Option<PacketBuf>) -> usize {
        self.compact();
        let start = self.len;
        let end = start + max.min(N - start);
        let mut n = 0;
        for slot in self.slots.get_mut(start..end).unwrap_or_default() {
            let Some(buf) = next() else { break };
            *slot = Some(buf);
            n += 1;
        }
        self.len += n;
        n
    }

    /// Hands the buffers to `take`, oldest first, until the batch is empty,
    /// `max` were taken, or `take` gives a buffer back (`Err`), which then
    /// stays at the front with the rest behind it, in order. Returns how
    /// many were taken.
    #[inline]
    pub fn drain_into(
        &mut self,
        max: usize,
        mut take: impl FnMut(PacketBuf) -> Result<(), PacketBuf>,
    ) -> usize {
        let (head, len) = (self.head, self.len);
        let mut n = 0;
        for slot in self
            .slots
            .get_mut(head..head + len.min(max))
            .unwrap_or_default()
        {
            let Some(buf) = slot.take() else { break };
            if let Err(buf) = take(buf) {
                *slot = Some(buf);
                break;
            }
            n += 1;
        }
        self.len -= n;
        self.head = if self.len == 0 { 0 } else { head + n };
        n
    }
}

impl<'a, const N: usize> IntoIterator for &'a Batch<N> {
    type Item = &'a PacketBuf;
    type IntoIter = core::iter::FilterMap<
        core::slice::Iter<'a, Option<PacketBuf>>,
        fn(&'a Option<PacketBuf>) -> Option<&'a PacketBuf>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.held().iter().filter_map(Option::as_ref)
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
    /// `out` until it is full. Call after stopping the queue on the card;
    /// returns how many were moved, and call again while it returns `out`'s
    /// free space.
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
