//! What a ring carries: plain words and slot descriptors, stored in shared memory as atomics.

#[cfg(target_has_atomic = "64")]
use crate::sync::AtomicU64;
use crate::sync::{AtomicU32, Ordering};

mod sealed {
    pub trait Sealed {}
}

/// A value a ring can carry.
///
/// Each element is stored in shared memory as one or more atomic words written and read with
/// `Relaxed` ordering: the ring's `Release` / `Acquire` stores and loads of its indices (and of
/// the cells' sequence words, where cells have one) order them (see the
/// [ring's algorithm](crate::ring)). A peer writing an entry at the same time as we read it
/// therefore yields a torn but well-defined value, never undefined behaviour. The trait is
/// sealed: the layout of every cell is fixed.
///
/// Cells of [`Descriptor`] and [`Seq`] carry a 32-bit *sequence word* on the entry's own cache
/// line, which lets a waiting consumer see a new entry with one cache-line transfer instead of
/// two (lower ping-pong latency); cells of `u32` and `u64` are the bare value (densest, highest
/// chunk throughput).
///
/// Only [`Descriptor`] rings live in a shared [`Region`](crate::Region), where every access is
/// an `AtomicU32`; the other rings live in a [`RingMem`](crate::ring::RingMem), memory the
/// process owns, whose cells are only ever accessed as their one `Cell` type (each word of it
/// with one access size).
pub trait Element: Copy + sealed::Sealed {
    /// The shared-memory cell holding one element (and its sequence word, if any). Its size
    /// divides 64, so a cell never straddles two cache lines.
    type Cell: Sync + Send;
    /// Size of one cell in bytes, as recorded in a region header.
    const CELL_SIZE: u32;
    /// A cell holding the zero value (and sequence word 0).
    fn new_cell() -> Self::Cell;
    /// Reads the element once (the caller validates the local copy).
    fn load(cell: &Self::Cell) -> Self;
    /// Writes the element (not its sequence word).
    fn store(cell: &Self::Cell, value: Self);
    /// The cell's sequence word, if its layout has one.
    fn seq(cell: &Self::Cell) -> Option<&AtomicU32>;
}

impl sealed::Sealed for u32 {}
impl Element for u32 {
    type Cell = AtomicU32;
    const CELL_SIZE: u32 = 4;
    fn new_cell() -> AtomicU32 {
        AtomicU32::new(0)
    }
    #[inline(always)]
    fn load(cell: &AtomicU32) -> u32 {
        // Relaxed: the Acquire load of the producer index orders this read.
        cell.load(Ordering::Relaxed)
    }
    #[inline(always)]
    fn store(cell: &AtomicU32, value: u32) {
        // Relaxed: the Release store of the producer index publishes this write.
        cell.store(value, Ordering::Relaxed);
    }
    #[inline(always)]
    fn seq(_: &AtomicU32) -> Option<&AtomicU32> {
        None
    }
}

impl sealed::Sealed for u64 {}
#[cfg(target_has_atomic = "64")]
impl Element for u64 {
    type Cell = AtomicU64;
    const CELL_SIZE: u32 = 8;
    fn new_cell() -> AtomicU64 {
        AtomicU64::new(0)
    }
    #[inline(always)]
    fn load(cell: &AtomicU64) -> u64 {
        // Relaxed: ordered by the Acquire load of the producer index.
        cell.load(Ordering::Relaxed)
    }
    #[inline(always)]
    fn store(cell: &AtomicU64, value: u64) {
        // Relaxed: published by the Release store of the producer index.
        cell.store(value, Ordering::Relaxed);
    }
    #[inline(always)]
    fn seq(_: &AtomicU64) -> Option<&AtomicU32> {
        None
    }
}

#[cfg(not(target_has_atomic = "64"))]
impl Element for u64 {
    type Cell = [AtomicU32; 2];
    const CELL_SIZE: u32 = 8;
    fn new_cell() -> [AtomicU32; 2] {
        [AtomicU32::new(0), AtomicU32::new(0)]
    }
    #[inline(always)]
    fn load(cell: &[AtomicU32; 2]) -> u64 {
        // Relaxed: ordered by the Acquire load of the producer index.
        u64::from(cell[0].load(Ordering::Relaxed))
            | (u64::from(cell[1].load(Ordering::Relaxed)) << 32)
    }
    #[inline(always)]
    fn store(cell: &[AtomicU32; 2], value: u64) {
        // Relaxed: published by the Release store of the producer index.
        cell[0].store(value as u32, Ordering::Relaxed);
        cell[1].store((value >> 32) as u32, Ordering::Relaxed);
    }
    #[inline(always)]
    fn seq(_: &[AtomicU32; 2]) -> Option<&AtomicU32> {
        None
    }
}

/// A `u32` or `u64` stored with a sequence word, for latency: a consumer waiting on an empty
/// ring of `Seq` items sees a single pushed item with one cache-line transfer (the item's line)
/// instead of two (the producer index's line, then the item's). The cells are twice as large
/// (8 bytes for `Seq<u32>`, 16 for `Seq<u64>`), which halves the throughput of chunks that
/// move at memory bandwidth; a `u32` / `u64` ring is the one to stream bulk data.
///
/// # Examples
/// ```
/// use bulk_queue::{Seq, ring::RingMem};
/// let mut mem = RingMem::<Seq<u64>, 8>::new();
/// let (mut p, mut c) = mem.split();
/// p.push(Seq(7)).unwrap();
/// assert_eq!(c.pop(), Ok(Seq(7)));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(transparent)]
pub struct Seq<T>(pub T);

/// A ring cell with a sequence word: the word, then the value's atomic words, 8-byte aligned
/// (8 bytes for a `u32`, 16 for a `u64`: both divide a 64-byte line).
#[repr(C, align(8))]
#[derive(Debug)]
pub struct SeqCell<V> {
    seq: AtomicU32,
    value: V,
}

impl<T> sealed::Sealed for Seq<T> {}
impl Element for Seq<u32> {
    type Cell = SeqCell<AtomicU32>;
    const CELL_SIZE: u32 = 8;
    fn new_cell() -> Self::Cell {
        SeqCell {
            seq: AtomicU32::new(0),
            value: u32::new_cell(),
        }
    }
    #[inline(always)]
    fn load(cell: &Self::Cell) -> Self {
        Seq(u32::load(&cell.value))
    }
    #[inline(always)]
    fn store(cell: &Self::Cell, value: Self) {
        u32::store(&cell.value, value.0);
    }
    #[inline(always)]
    fn seq(cell: &Self::Cell) -> Option<&AtomicU32> {
        Some(&cell.seq)
    }
}

impl Element for Seq<u64> {
    type Cell = SeqCell<<u64 as Element>::Cell>;
    const CELL_SIZE: u32 = 16;
    fn new_cell() -> Self::Cell {
        SeqCell {
            seq: AtomicU32::new(0),
            value: u64::new_cell(),
        }
    }
    #[inline(always)]
    fn load(cell: &Self::Cell) -> Self {
        Seq(u64::load(&cell.value))
    }
    #[inline(always)]
    fn store(cell: &Self::Cell, value: Self) {
        u64::store(&cell.value, value.0);
    }
    #[inline(always)]
    fn seq(cell: &Self::Cell) -> Option<&AtomicU32> {
        Some(&cell.seq)
    }
}

/// A slot descriptor: which part of which buffer slot of a shared pool holds a message.
///
/// The thesis's consumer queue carries "slot pointers" into the shared pool rather than addresses
/// (§3.2.4); a descriptor is such a slot pointer plus the extent of the data in the slot, so two
/// address spaces can map the pool anywhere. In shared memory it takes 16 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Descriptor {
    /// Identifier of the pool the slot belongs to (checked against the region's pool).
    pub pool: u16,
    /// Free for the application (e.g. end-of-packet, checksum-valid); carried unchanged.
    pub flags: u16,
    /// Index of the slot in the pool.
    pub slot: u32,
    /// Offset of the data from the start of the slot, in bytes.
    pub offset: u32,
    /// Length of the data, in bytes.
    pub len: u32,
}

impl Descriptor {
    /// A descriptor for `len` bytes at `offset` in `slot` of pool `pool`, with no flags.
    ///
    /// # Examples
    /// ```
    /// let d = bulk_queue::Descriptor::new(0, 7, 0, 60);
    /// assert_eq!((d.slot, d.len, d.flags), (7, 60, 0));
    /// ```
    pub const fn new(pool: u16, slot: u32, offset: u32, len: u32) -> Self {
        Descriptor {
            pool,
            flags: 0,
            slot,
            offset,
            len,
        }
    }
}

impl sealed::Sealed for Descriptor {}

// Eight `AtomicU32`s on every target (never `AtomicU64`s): a region is accessed in 4-byte words
// only (pool bytes included), and a re-formatted region may place the pool where descriptors
// were, so a 64-bit access could race with 32-bit accesses to the same bytes. Word 0 is the
// sequence word, words 1-4 the descriptor, words 5-7 padding (never accessed): 32 bytes, so a
// cell never straddles a 64-byte line and the sequence word arrives with the descriptor.
impl Element for Descriptor {
    type Cell = [AtomicU32; 8];
    const CELL_SIZE: u32 = 32;
    fn new_cell() -> [AtomicU32; 8] {
        core::array::from_fn(|_| AtomicU32::new(0))
    }
    #[inline(always)]
    fn load(cell: &[AtomicU32; 8]) -> Descriptor {
        // Relaxed: ordered by the Acquire load of the producer index or of the sequence word.
        let a = cell[1].load(Ordering::Relaxed);
        Descriptor {
            pool: a as u16,
            flags: (a >> 16) as u16,
            slot: cell[2].load(Ordering::Relaxed),
            offset: cell[3].load(Ordering::Relaxed),
            len: cell[4].load(Ordering::Relaxed),
        }
    }
    #[inline(always)]
    fn store(cell: &[AtomicU32; 8], d: Descriptor) {
        // Relaxed: published by the Release store of the producer index or of the sequence word.
        cell[1].store(
            u32::from(d.pool) | (u32::from(d.flags) << 16),
            Ordering::Relaxed,
        );
        cell[2].store(d.slot, Ordering::Relaxed);
        cell[3].store(d.offset, Ordering::Relaxed);
        cell[4].store(d.len, Ordering::Relaxed);
    }
    #[inline(always)]
    fn seq(cell: &[AtomicU32; 8]) -> Option<&AtomicU32> {
        Some(&cell[0])
    }
}
