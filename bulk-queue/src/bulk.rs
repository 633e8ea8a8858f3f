//! The bulk transfer channel: a shared pool of buffer slots, a ring carrying filled slots from
//! producer to consumer, and a ring carrying released slots back (thesis §3.2.4).
//!
//! # Region layout
//!
//! All offsets are from the region base, which is 128-byte aligned; the region holds offsets and
//! indices only, never addresses.
//!
//! | offset | size | contents |
//! |---|---|---|
//! | 0 | 128 | header: magic, version, capacity, descriptor size, pool slots, slot size, pool id, pool offset, region length (u32 words) |
//! | 128 | 128 | forward ring, producer line (`tail`) |
//! | 256 | 128 | forward ring, consumer line (`head`, `wakeup`) |
//! | 384 | 128 | return ring, producer line (written by the consumer) |
//! | 512 | 128 | return ring, consumer line (written by the producer) |
//! | 640 | 32 × capacity | forward ring cells |
//! | … | 32 × return capacity | return ring cells ([`Geometry::return_capacity`]) |
//! | pool offset (128-aligned) | slots × slot size | the buffer pool |
//!
//! A ring cell ([`DESCRIPTOR_SIZE`] bytes, recorded in the header) is eight 32-bit words: the
//! sequence word (see [`ring`](crate::ring)), the descriptor (pool and flags, slot, offset,
//! length), and three words of padding that are never accessed, so that a cell never straddles a
//! 64-byte cache line.
//!
//! # Ownership
//!
//! Each pool slot is owned by exactly one side. After [`Region::format`] the producer owns every
//! slot. Sending a descriptor hands its slot to the consumer; releasing it hands it back. Each side
//! tracks what it owns in a bitmap in its own (private) memory, never in shared memory, so a peer
//! cannot forge ownership: a side refuses to send, release or touch a slot it does not own, and
//! refuses a slot received twice.

use core::fmt;

use crate::Error;
use crate::element::{Descriptor, Element};
use crate::ring::{Consumer, ConsumerLine, NoNotify, Notify, Producer, ProducerLine};
use crate::shm::{Bytes, Cells, REGION_ALIGN, Region};
use core::sync::atomic::{AtomicU32, Ordering};

/// First header word of a formatted region: `"BulQ"` in little-endian byte order.
pub const MAGIC: u32 = u32::from_le_bytes(*b"BulQ");
/// Version of the region layout described in this module (2: ring cells with sequence words).
pub const VERSION: u32 = 2;
/// Size of one ring cell (sequence word, descriptor, padding) in shared memory, in bytes.
pub const DESCRIPTOR_SIZE: u32 = <Descriptor as Element>::CELL_SIZE;

const LINE: usize = 128;
const FWD_PROD: usize = LINE;
const FWD_CONS: usize = 2 * LINE;
const RET_PROD: usize = 3 * LINE;
const RET_CONS: usize = 4 * LINE;
const FWD_ENTRIES: usize = 5 * LINE;

/// Header word indices.
mod hdr {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 1;
    pub const CAPACITY: usize = 2;
    pub const DESC_SIZE: usize = 3;
    pub const POOL_SLOTS: usize = 4;
    pub const SLOT_SIZE: usize = 5;
    pub const POOL_ID: usize = 6;
    pub const POOL_OFFSET: usize = 7;
    pub const LEN_LO: usize = 8;
    pub const LEN_HI: usize = 9;
    pub const WORDS: usize = 10;
}

/// Largest ring capacity accepted.
const MAX_CAPACITY: u32 = 1 << 20;
/// Largest pool slot count and slot size accepted.
const MAX_SLOTS: u32 = 1 << 24;

/// The shape of a bulk queue: ring capacity and pool geometry. Recorded in the region header and
/// checked when a side attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Geometry {
    /// Entries in each ring: a power of two from 2 to 2^20.
    pub capacity: u32,
    /// Number of slots in the pool, 1 to 2^24.
    pub pool_slots: u32,
    /// Size of each slot in bytes: a multiple of 4, from 4 to 2^24 (every slot starts and ends
    /// on a 4-byte boundary, since shared memory is accessed in aligned 4-byte words only).
    pub slot_size: u32,
    /// Identifier carried in every descriptor of this pool.
    pub pool_id: u16,
}

impl Geometry {
    /// A geometry (not yet validated: see [`validate`](Self::validate)).
    pub const fn new(capacity: u32, pool_slots: u32, slot_size: u32, pool_id: u16) -> Self {
        Geometry {
            capacity,
            pool_slots,
            slot_size,
            pool_id,
        }
    }

    /// Checks the limits documented on the fields.
    ///
    /// # Errors
    /// [`Error::BadGeometry`] when a field is out of its range.
    pub const fn validate(&self) -> Result<(), Error> {
        if !self.capacity.is_power_of_two()
            || self.capacity < 2
            || self.capacity > MAX_CAPACITY
            || self.pool_slots == 0
            || self.pool_slots > MAX_SLOTS
            || self.slot_size == 0
            || !self.slot_size.is_multiple_of(4)
            || self.slot_size > MAX_SLOTS
        {
            return Err(Error::BadGeometry);
        }
        Ok(())
    }

    const fn ret_entries(&self) -> usize {
        FWD_ENTRIES
            .saturating_add((self.capacity as usize).saturating_mul(DESCRIPTOR_SIZE as usize))
    }

    /// Entries of the return ring: the pool's slot count rounded up to a power of two, so that
    /// releasing a slot never finds the return ring full (at most every slot is in it).
    pub const fn return_capacity(&self) -> u32 {
        match self.pool_slots.checked_next_power_of_two() {
            Some(n) if n >= 2 => n,
            Some(_) => 2,
            None => u32::MAX,
        }
    }

    /// Byte offset of the pool in the region (saturates at `usize::MAX` for absurd geometries).
    pub const fn pool_offset(&self) -> usize {
        let ret = (self.return_capacity() as usize).saturating_mul(DESCRIPTOR_SIZE as usize);
        match self
            .ret_entries()
            .saturating_add(ret)
            .checked_next_multiple_of(REGION_ALIGN)
        {
            Some(offset) => offset,
            None => usize::MAX,
        }
    }

    /// Bytes of shared memory the region needs (`usize::MAX` for an invalid geometry).
    ///
    /// # Examples
    /// ```
    /// let g = bulk_queue::Geometry::new(64, 32, 2048, 0);
    /// assert_eq!(g.region_len(), 640 + (64 + 32) * 32 + 32 * 2048);
    /// ```
    pub const fn region_len(&self) -> usize {
        if self.validate().is_err() {
            return usize::MAX;
        }
        // At most 2^24 * 2^24 = 2^48 bytes: cannot overflow a 64-bit usize; on 32-bit targets
        // checked.
        match (self.pool_slots as usize).checked_mul(self.slot_size as usize) {
            Some(pool) => match self.pool_offset().checked_add(pool) {
                Some(len) => len,
                None => usize::MAX,
            },
            None => usize::MAX,
        }
    }

    /// Words of private ownership map the producer needs.
    pub const fn producer_map_words(&self) -> usize {
        2 * (self.pool_slots as usize).div_ceil(32)
    }

    /// Words of private ownership map the consumer needs.
    pub const fn consumer_map_words(&self) -> usize {
        (self.pool_slots as usize).div_ceil(32)
    }

    /// Checks a descriptor against the pool: pool id, slot index and byte range.
    #[inline]
    fn check(&self, d: &Descriptor) -> Result<(), Error> {
        let end = u64::from(d.offset) + u64::from(d.len);
        if d.pool != self.pool_id || d.slot >= self.pool_slots || end > u64::from(self.slot_size) {
            return Err(Error::BadDescriptor);
        }
        Ok(())
    }

    #[inline]
    fn check_slot(&self, d: &Descriptor) -> Result<(), Error> {
        if d.pool != self.pool_id || d.slot >= self.pool_slots {
            return Err(Error::BadDescriptor);
        }
        Ok(())
    }
}

/// A 128-byte-aligned byte buffer to hold a region in one address space.
///
/// # Examples
/// ```
/// use bulk_queue::{AlignedBuf, Geometry};
/// const G: Geometry = Geometry::new(16, 8, 256, 0);
/// let mut buf = AlignedBuf::<{ G.region_len() }>::new();
/// assert_eq!(buf.0.as_ptr() as usize % 128, 0);
/// ```
#[repr(C, align(128))]
#[derive(Debug)]
pub struct AlignedBuf<const N: usize>(pub [u8; N]);

impl<const N: usize> AlignedBuf<N> {
    /// A zeroed buffer.
    pub const fn new() -> Self {
        AlignedBuf([0; N])
    }
}

impl<const N: usize> Default for AlignedBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Region<'a> {
    fn header(&self) -> Result<&'a [AtomicU32], Error> {
        self.slice_at::<AtomicU32>(0, hdr::WORDS)
            .ok_or(Error::TooSmall)
    }

    /// Initialises the region for `geometry`: empty rings, every slot owned by the producer.
    ///
    /// Call it once, before either side attaches.
    ///
    /// # Errors
    /// [`Error::BadGeometry`] for an invalid geometry, [`Error::TooSmall`] if the region is
    /// shorter than [`Geometry::region_len`].
    pub fn format(&self, geometry: Geometry) -> Result<(), Error> {
        geometry.validate()?;
        let len = geometry.region_len();
        if len > self.len() {
            return Err(Error::TooSmall);
        }
        let h = self.header()?;
        for off in [FWD_PROD, RET_PROD] {
            let line = self.at::<ProducerLine>(off).ok_or(Error::TooSmall)?;
            // Relaxed: published by the Release store of the magic below.
            line.tail.store(0, Ordering::Relaxed);
        }
        for off in [FWD_CONS, RET_CONS] {
            let line = self.at::<ConsumerLine>(off).ok_or(Error::TooSmall)?;
            // Relaxed: as above.
            line.head.store(0, Ordering::Relaxed);
            line.wakeup.store(0, Ordering::Relaxed);
        }
        let rings = [
            (FWD_ENTRIES, geometry.capacity),
            (geometry.ret_entries(), geometry.return_capacity()),
        ];
        for (off, n) in rings {
            let cells = self
                .slice_at::<<Descriptor as Element>::Cell>(off, n as usize)
                .ok_or(Error::TooSmall)?;
            for seq in cells.iter().filter_map(Descriptor::seq) {
                // Relaxed: as above. 0 matches no entry a consumer waits for in the first lap.
                seq.store(0, Ordering::Relaxed);
            }
        }
        let len64 = len as u64;
        let words = [
            (hdr::VERSION, VERSION),
            (hdr::CAPACITY, geometry.capacity),
            (hdr::DESC_SIZE, DESCRIPTOR_SIZE),
            (hdr::POOL_SLOTS, geometry.pool_slots),
            (hdr::SLOT_SIZE, geometry.slot_size),
            (hdr::POOL_ID, u32::from(geometry.pool_id)),
            (hdr::POOL_OFFSET, geometry.pool_offset() as u32),
            (hdr::LEN_LO, len64 as u32),
            (hdr::LEN_HI, (len64 >> 32) as u32),
        ];
        for (i, v) in words {
            // Relaxed: published by the Release store of the magic below.
            h[i].store(v, Ordering::Relaxed);
        }
        // Release: a side that reads the magic with Acquire sees the header and reset indices.
        h[hdr::MAGIC].store(MAGIC, Ordering::Release);
        Ok(())
    }

    /// Reads the header once and checks it against `expected`.
    fn check_header(&self, expected: Geometry) -> Result<(), Error> {
        expected.validate()?;
        let h = self.header()?;
        // Acquire: pairs with the Release store in `format`.
        if h[hdr::MAGIC].load(Ordering::Acquire) != MAGIC {
            return Err(Error::BadMagic);
        }
        // Relaxed (here and below): each word is read once into a local copy and compared.
        if h[hdr::VERSION].load(Ordering::Relaxed) != VERSION {
            return Err(Error::BadVersion);
        }
        let len = expected.region_len() as u64;
        let found = [
            h[hdr::CAPACITY].load(Ordering::Relaxed),
            h[hdr::DESC_SIZE].load(Ordering::Relaxed),
            h[hdr::POOL_SLOTS].load(Ordering::Relaxed),
            h[hdr::SLOT_SIZE].load(Ordering::Relaxed),
            h[hdr::POOL_ID].load(Ordering::Relaxed),
            h[hdr::POOL_OFFSET].load(Ordering::Relaxed),
            h[hdr::LEN_LO].load(Ordering::Relaxed),
            h[hdr::LEN_HI].load(Ordering::Relaxed),
        ];
        let want = [
            expected.capacity,
            DESCRIPTOR_SIZE,
            expected.pool_slots,
            expected.slot_size,
            u32::from(expected.pool_id),
            expected.pool_offset() as u32,
            len as u32,
            (len >> 32) as u32,
        ];
        if found != want {
            return Err(Error::BadGeometry);
        }
        if expected.region_len() > self.len() {
            return Err(Error::TooSmall);
        }
        Ok(())
    }

    fn ring(
        &self,
        prod: usize,
        cons: usize,
        entries: usize,
        capacity: u32,
    ) -> Result<RingParts<'a>, Error> {
        Ok((
            self.at::<ProducerLine>(prod).ok_or(Error::TooSmall)?,
            self.at::<ConsumerLine>(cons).ok_or(Error::TooSmall)?,
            self.slice_at::<<Descriptor as Element>::Cell>(entries, capacity as usize)
                .and_then(Cells::new)
                .ok_or(Error::TooSmall)?,
        ))
    }

    fn slot_bytes(&self, g: &Geometry, slot: u32) -> Result<Bytes<'a>, Error> {
        let off = (slot as usize)
            .checked_mul(g.slot_size as usize)
            .and_then(|o| o.checked_add(g.pool_offset()))
            .ok_or(Error::OutOfRange)?;
        self.bytes(off, g.slot_size as usize)
            .ok_or(Error::OutOfRange)
    }
}

type RingParts<'a> = (
    &'a ProducerLine,
    &'a ConsumerLine,
    Cells<'a, <Descriptor as Element>::Cell>,
);

/// Reads both indices of a ring once and checks them.
fn indices(p: &ProducerLine, c: &ConsumerLine, capacity: u32) -> Result<(u32, u32), Error> {
    // Acquire: pairs with the peer's Release stores, as in the ring's refresh.
    let tail = p.tail.load(Ordering::Acquire);
    let head = c.head.load(Ordering::Acquire);
    if tail.wrapping_sub(head) > capacity {
        return Err(Error::PeerCorrupt);
    }
    Ok((tail, head))
}

/// A bitmap over the pool slots, in private memory.
struct Bits<'a> {
    words: &'a mut [u32],
}

impl Bits<'_> {
    #[inline]
    fn get(&self, i: u32) -> bool {
        self.words
            .get((i / 32) as usize)
            .is_some_and(|w| w & (1 << (i % 32)) != 0)
    }
    #[inline]
    fn set(&mut self, i: u32, on: bool) {
        if let Some(w) = self.words.get_mut((i / 32) as usize) {
            if on {
                *w |= 1 << (i % 32);
            } else {
                *w &= !(1 << (i % 32));
            }
        }
    }
    fn fill(&mut self, n: u32) {
        for (k, w) in self.words.iter_mut().enumerate() {
            let base = k as u32 * 32;
            *w = if base + 32 <= n {
                u32::MAX
            } else if base >= n {
                0
            } else {
                (1u32 << (n - base)) - 1
            };
        }
    }
}

/// Access to the bytes of one pool slot owned by this side.
///
/// Shared memory is read and written through atomics (the peer may write it despite not owning
/// it, which can only garble the data). [`as_ptr`](Self::as_ptr) gives the address for DMA or
/// for code that accepts the peer-can-write hazard.
#[derive(Debug, Clone, Copy)]
pub struct SlotData<'s> {
    bytes: Bytes<'s>,
}

impl SlotData<'_> {
    /// Size of the slot in bytes.
    #[allow(clippy::len_without_is_empty)] // slots are never empty
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Address of the slot in this address space.
    pub fn as_ptr(&self) -> *mut u8 {
        self.bytes.as_ptr()
    }

    /// Copies `out.len()` bytes from `offset` in the slot.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if the range leaves the slot.
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), Error> {
        if self.bytes.read(offset, out) {
            Ok(())
        } else {
            Err(Error::OutOfRange)
        }
    }

    /// Copies `data` to `offset` in the slot.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if the range leaves the slot.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), Error> {
        if self.bytes.write(offset, data) {
            Ok(())
        } else {
            Err(Error::OutOfRange)
        }
    }
}

/// The producing side of a bulk queue: fills pool slots and sends their descriptors; takes back
/// the slots the consumer releases. Manages the pool (as in the thesis).
///
/// All operations are wait-free; the interrupt-safe ones are listed in the crate docs.
pub struct BulkProducer<'a, N: Notify = NoNotify> {
    region: Region<'a>,
    geometry: Geometry,
    fwd: Producer<'a, Descriptor, N>,
    ret: Consumer<'a, Descriptor>,
    /// Slots on our side.
    owned: Bits<'a>,
    /// Slots on our side not handed out by `alloc` (a subset of `owned`).
    free: Bits<'a>,
    cursor: u32,
}

impl<'a> BulkProducer<'a> {
    /// Attaches the producer to a formatted region; it then owns every pool slot.
    ///
    /// `owner_map` is private memory of at least [`Geometry::producer_map_words`] words.
    ///
    /// # Errors
    /// [`Error::BadMagic`], [`Error::BadVersion`], [`Error::BadGeometry`] when the header
    /// does not match `expected`; [`Error::TooSmall`] for a short region or map;
    /// [`Error::PeerCorrupt`] when the ring indices are impossible.
    pub fn attach(
        region: Region<'a>,
        expected: Geometry,
        owner_map: &'a mut [u32],
    ) -> Result<Self, Error> {
        region.check_header(expected)?;
        let g = expected;
        let words = g.consumer_map_words();
        if owner_map.len() < 2 * words {
            return Err(Error::TooSmall);
        }
        let (owned, free) = owner_map.split_at_mut(words);
        let mut owned = Bits { words: owned };
        let mut free = Bits {
            words: &mut free[..words],
        };
        owned.fill(g.pool_slots);
        free.fill(g.pool_slots);
        let (fp, fc, fe) = region.ring(FWD_PROD, FWD_CONS, FWD_ENTRIES, g.capacity)?;
        let (rp, rc, re) = region.ring(RET_PROD, RET_CONS, g.ret_entries(), g.return_capacity())?;
        let (ftail, _) = indices(fp, fc, g.capacity)?;
        let (_, rhead) = indices(rp, rc, g.return_capacity())?;
        let mut fwd = Producer::new_at(fp, fc, fe, ftail);
        fwd.free()?;
        let mut ret = Consumer::new_at(rp, rc, re, rhead);
        ret.available()?;
        Ok(BulkProducer {
            region,
            geometry: g,
            fwd,
            ret,
            owned,
            free,
            cursor: 0,
        })
    }

    /// This producer, waking the consumer through `notify` (see [`ring`](crate::ring)).
    pub fn with_notify<M: Notify>(self, notify: M) -> BulkProducer<'a, M> {
        BulkProducer {
            region: self.region,
            geometry: self.geometry,
            fwd: self.fwd.with_notify(notify),
            ret: self.ret,
            owned: self.owned,
            free: self.free,
            cursor: self.cursor,
        }
    }
}

impl<'a, N: Notify> BulkProducer<'a, N> {
    /// The queue's geometry.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// `true` if this side owns `slot`.
    pub fn owns(&self, slot: u32) -> bool {
        self.owned.get(slot)
    }

    /// Takes a free slot of the pool to fill; `None` when every owned slot is in use (call
    /// [`reclaim`](Self::reclaim) to take back released ones).
    ///
    /// Bounded: scans at most `pool_slots / 32 + 1` words.
    pub fn alloc(&mut self) -> Option<u32> {
        let words = self.free.words.len();
        let start = (self.cursor / 32) as usize;
        for k in 0..=words {
            let wi = (start + k) % words.max(1);
            let w = *self.free.words.get(wi)?;
            if w != 0 {
                let slot = wi as u32 * 32 + w.trailing_zeros();
                self.free.set(slot, false);
                self.cursor = slot;
                return Some(slot);
            }
        }
        None
    }

    /// Puts an allocated (owned) slot back into the free set without sending it.
    ///
    /// # Errors
    /// [`Error::NotOwned`] if the slot is not on this side.
    pub fn dealloc(&mut self, slot: u32) -> Result<(), Error> {
        if !self.owned.get(slot) {
            return Err(Error::NotOwned);
        }
        self.free.set(slot, true);
        Ok(())
    }

    /// The bytes of an owned slot.
    ///
    /// # Errors
    /// [`Error::NotOwned`] if the slot is not on this side.
    pub fn slot(&self, slot: u32) -> Result<SlotData<'_>, Error> {
        if !self.owned.get(slot) {
            return Err(Error::NotOwned);
        }
        Ok(SlotData {
            bytes: self.region.slot_bytes(&self.geometry, slot)?,
        })
    }

    /// Sends a descriptor of an owned slot to the consumer, handing the slot over.
    ///
    /// # Errors
    /// [`Error::BadDescriptor`] if it lies outside the pool, [`Error::NotOwned`] if the slot is
    /// not on this side, [`Error::Full`], [`Error::PeerCorrupt`]. On error nothing changes.
    pub fn send(&mut self, d: Descriptor) -> Result<(), Error> {
        self.geometry.check(&d)?;
        if !self.owned.get(d.slot) {
            return Err(Error::NotOwned);
        }
        self.fwd.push(d)?;
        self.owned.set(d.slot, false);
        self.free.set(d.slot, false);
        Ok(())
    }

    /// Sends a prefix of `ds` with one publication; returns how many were sent.
    ///
    /// Stops before the first descriptor that is invalid or not owned (or repeats a slot), and
    /// when the ring is full.
    ///
    /// # Errors
    /// The error of the first descriptor when it cannot be sent ([`Error::Full`] included).
    pub fn send_batch(&mut self, ds: &[Descriptor]) -> Result<usize, Error> {
        let room = self.fwd.free()? as usize;
        let mut n = 0;
        let mut first_err = Error::Full;
        for d in ds.iter().take(room) {
            if let Err(e) = self.geometry.check(d) {
                first_err = e;
                break;
            }
            if !self.owned.get(d.slot) {
                first_err = Error::NotOwned;
                break;
            }
            // Cleared now so that a repeated slot in the batch is refused.
            self.owned.set(d.slot, false);
            n += 1;
        }
        if n == 0 {
            return if ds.is_empty() { Ok(0) } else { Err(first_err) };
        }
        match self.fwd.push_slice(&ds[..n]) {
            Ok(sent) if sent == n => {
                for d in &ds[..n] {
                    self.free.set(d.slot, false);
                }
                Ok(n)
            }
            other => {
                // Cannot happen (`room` entries were free and only we fill them); undo anyway.
                for d in &ds[..n] {
                    self.owned.set(d.slot, true);
                }
                other.and(Err(Error::PeerCorrupt))
            }
        }
    }

    /// Takes back every slot the consumer has released so far (at most the return capacity);
    /// returns how many.
    ///
    /// # Errors
    /// [`Error::BadDescriptor`] or [`Error::NotOwned`] for a returned descriptor naming a slot
    /// outside the pool or one the consumer did not own (it is dropped; call again for the
    /// rest); [`Error::PeerCorrupt`].
    pub fn reclaim(&mut self) -> Result<usize, Error> {
        let mut n = 0;
        for _ in 0..self.geometry.return_capacity() {
            let d = match self.ret.pop() {
                Ok(d) => d,
                Err(Error::Empty) => break,
                Err(e) => return Err(e),
            };
            self.geometry.check_slot(&d)?;
            if self.owned.get(d.slot) {
                return Err(Error::NotOwned);
            }
            self.owned.set(d.slot, true);
            self.free.set(d.slot, true);
            n += 1;
        }
        Ok(n)
    }

    /// Prepares to block until the consumer releases slots (see [`ring`](crate::ring)); `true`
    /// if it may block now.
    ///
    /// # Errors
    /// [`Error::PeerCorrupt`].
    pub fn prepare_to_sleep(&mut self) -> Result<bool, Error> {
        self.ret.prepare_to_sleep()
    }
}

impl<N: Notify> fmt::Debug for BulkProducer<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkProducer")
            .field("region", &self.region)
            .field("geometry", &self.geometry)
            .finish_non_exhaustive()
    }
}

/// The consuming side of a bulk queue: receives descriptors of filled slots, reads them, and
/// releases the slots back to the producer in any order.
pub struct BulkConsumer<'a, N: Notify = NoNotify> {
    region: Region<'a>,
    geometry: Geometry,
    fwd: Consumer<'a, Descriptor>,
    ret: Producer<'a, Descriptor, N>,
    owned: Bits<'a>,
}

impl<'a> BulkConsumer<'a> {
    /// Attaches the consumer to a formatted region; it owns no slot at first.
    ///
    /// `owner_map` is private memory of at least [`Geometry::consumer_map_words`] words.
    ///
    /// # Errors
    /// As [`BulkProducer::attach`].
    pub fn attach(
        region: Region<'a>,
        expected: Geometry,
        owner_map: &'a mut [u32],
    ) -> Result<Self, Error> {
        region.check_header(expected)?;
        let g = expected;
        let words = g.consumer_map_words();
        let map = owner_map.get_mut(..words).ok_or(Error::TooSmall)?;
        let mut owned = Bits { words: map };
        owned.fill(0);
        let (fp, fc, fe) = region.ring(FWD_PROD, FWD_CONS, FWD_ENTRIES, g.capacity)?;
        let (rp, rc, re) = region.ring(RET_PROD, RET_CONS, g.ret_entries(), g.return_capacity())?;
        let (_, fhead) = indices(fp, fc, g.capacity)?;
        let (rtail, _) = indices(rp, rc, g.return_capacity())?;
        let mut fwd = Consumer::new_at(fp, fc, fe, fhead);
        fwd.available()?;
        let mut ret = Producer::new_at(rp, rc, re, rtail);
        ret.free()?;
        Ok(BulkConsumer {
            region,
            geometry: g,
            fwd,
            ret,
            owned,
        })
    }

    /// This consumer, waking a producer that waits for released slots through `notify`.
    pub fn with_notify<M: Notify>(self, notify: M) -> BulkConsumer<'a, M> {
        BulkConsumer {
            region: self.region,
            geometry: self.geometry,
            fwd: self.fwd,
            ret: self.ret.with_notify(notify),
            owned: self.owned,
        }
    }
}

impl<'a, N: Notify> BulkConsumer<'a, N> {
    /// The queue's geometry.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// `true` if this side owns `slot`.
    pub fn owns(&self, slot: u32) -> bool {
        self.owned.get(slot)
    }

    #[inline]
    fn accept(&mut self, d: &Descriptor) -> Result<(), Error> {
        self.geometry.check(d)?;
        if self.owned.get(d.slot) {
            return Err(Error::NotOwned);
        }
        self.owned.set(d.slot, true);
        Ok(())
    }

    /// Receives one descriptor (validated; its slot is now owned by this side).
    ///
    /// # Errors
    /// [`Error::Empty`]; [`Error::BadDescriptor`] / [`Error::NotOwned`] when the producer sent a
    /// descriptor outside the pool or a slot it did not own (dropped); [`Error::PeerCorrupt`].
    #[inline]
    pub fn recv(&mut self) -> Result<Descriptor, Error> {
        let d = self.fwd.pop()?;
        self.accept(&d)?;
        Ok(d)
    }

    /// Receives up to `out.len()` descriptors with one publication; returns how many.
    ///
    /// Stops before an invalid descriptor when valid ones precede it; the next call reports it.
    ///
    /// # Errors
    /// As [`recv`](Self::recv), for an invalid first descriptor ([`Error::Empty`] when none).
    pub fn recv_batch(&mut self, out: &mut [Descriptor]) -> Result<usize, Error> {
        let max = u32::try_from(out.len()).unwrap_or(u32::MAX);
        if max == 0 {
            return Ok(0);
        }
        let chunk = self.fwd.read_chunk(max)?;
        let len = chunk.len();
        let mut n = 0;
        let mut err = None;
        for (i, slot) in out.iter_mut().enumerate().take(len) {
            let d = chunk.get(i)?; // read once; the copy is validated
            let ok = self.geometry.check(&d).is_ok() && !self.owned.get(d.slot);
            if !ok {
                if n == 0 {
                    err = Some(if self.geometry.check(&d).is_err() {
                        Error::BadDescriptor
                    } else {
                        Error::NotOwned
                    });
                }
                break;
            }
            self.owned.set(d.slot, true);
            *slot = d;
            n += 1;
        }
        match err {
            Some(e) => {
                chunk.commit(1); // drop the bad descriptor
                Err(e)
            }
            None => {
                chunk.commit(n);
                Ok(n)
            }
        }
    }

    /// The bytes of an owned slot.
    ///
    /// # Errors
    /// [`Error::NotOwned`] if the slot is not on this side.
    pub fn slot(&self, slot: u32) -> Result<SlotData<'_>, Error> {
        if !self.owned.get(slot) {
            return Err(Error::NotOwned);
        }
        Ok(SlotData {
            bytes: self.region.slot_bytes(&self.geometry, slot)?,
        })
    }

    /// Releases an owned slot back to the producer (in any order).
    ///
    /// # Errors
    /// [`Error::BadDescriptor`] outside the pool, [`Error::NotOwned`] if the slot is not on this
    /// side, [`Error::PeerCorrupt`]; [`Error::Full`] only when the producer is not honest (the
    /// return ring holds every slot). On error nothing changes.
    pub fn release(&mut self, d: Descriptor) -> Result<(), Error> {
        self.geometry.check(&d)?;
        if !self.owned.get(d.slot) {
            return Err(Error::NotOwned);
        }
        self.ret.push(d)?;
        self.owned.set(d.slot, false);
        Ok(())
    }

    /// Prepares to block until descriptors arrive (see [`ring`](crate::ring)); `true` if it may
    /// block now.
    ///
    /// # Errors
    /// [`Error::PeerCorrupt`].
    pub fn prepare_to_sleep(&mut self) -> Result<bool, Error> {
        self.fwd.prepare_to_sleep()
    }

    /// Withdraws the wakeup request after waking (optional).
    pub fn awake(&mut self) {
        self.fwd.awake();
    }
}

impl<N: Notify> fmt::Debug for BulkConsumer<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkConsumer")
            .field("region", &self.region)
            .field("geometry", &self.geometry)
            .finish_non_exhaustive()
    }
}

/// Formats `buf` for `geometry` and attaches both sides (one address space).
///
/// # Errors
/// As [`Region::new`], [`Region::format`] and the attach functions.
pub fn split<'a>(
    buf: &'a mut [u8],
    geometry: Geometry,
    producer_map: &'a mut [u32],
    consumer_map: &'a mut [u32],
) -> Result<(BulkProducer<'a>, BulkConsumer<'a>), Error> {
    let region = Region::new(buf)?;
    region.format(geometry)?;
    Ok((
        BulkProducer::attach(region, geometry, producer_map)?,
        BulkConsumer::attach(region, geometry, consumer_map)?,
    ))
}
