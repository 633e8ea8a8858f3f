//! All `unsafe` code of the crate: views of a shared-memory region as atomics.
//!
//! Shared memory is only ever accessed through atomics, never through `&mut` references or plain
//! loads, because the peer may write any byte of it at any time. A torn or garbage value is then
//! just a value, which the callers validate. Inside a [`Region`] every access is a 4-byte-aligned
//! `AtomicU32` access, so no two accesses to the same bytes ever differ in size (see [`Bytes`]).

/// A ring's cells: a slice whose length is a power of two, indexed modulo its length without a
/// bounds check.
pub(crate) struct Cells<'a, C> {
    slice: &'a [C],
    /// `slice.len() - 1`.
    mask: u32,
}

impl<C> Clone for Cells<'_, C> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C> Copy for Cells<'_, C> {}

impl<'a, C> Cells<'a, C> {
    /// `None` unless `slice.len()` is a power of two no larger than 2^31.
    pub(crate) fn new(slice: &'a [C]) -> Option<Self> {
        let len = slice.len();
        if !len.is_power_of_two() || len > 1 << 31 {
            return None;
        }
        Some(Cells {
            slice,
            mask: (len - 1) as u32,
        })
    }

    /// Number of cells.
    #[inline(always)]
    pub(crate) fn len(&self) -> u32 {
        self.mask + 1
    }

    /// The cell for free-running index `index`.
    #[inline(always)]
    pub(crate) fn at(&self, index: u32) -> &'a C {
        let i = (index & self.mask) as usize;
        // SAFETY: `mask == slice.len() - 1` (constructor), so `i <= mask < slice.len()`.
        unsafe { self.slice.get_unchecked(i) }
    }

    /// The cells from the one for `index` to the end of the slice (at least one).
    #[inline(always)]
    pub(crate) fn tail_from(&self, index: u32) -> &'a [C] {
        let i = (index & self.mask) as usize;
        // SAFETY: as in `at`, `i < slice.len()`.
        unsafe { self.slice.get_unchecked(i..) }
    }

    /// `true` if the cells for `a` and `b` (cells of `cell_size` bytes, a power of two, from a
    /// 64-byte-aligned start) lie on the same 64-byte cache line.
    #[inline(always)]
    pub(crate) fn same_line(&self, a: u32, b: u32, cell_size: u32) -> bool {
        let per_line = (64 / cell_size.max(1)).max(1);
        (a & self.mask) / per_line == (b & self.mask) / per_line
    }

    /// All cells.
    #[inline(always)]
    pub(crate) fn all(&self) -> &'a [C] {
        self.slice
    }

    /// The `n` (at most `len()`) cells from the one for `index` on, as two runs: up to the end
    /// of the slice, then from its start.
    #[inline(always)]
    pub(crate) fn split_at(&self, index: u32, n: usize) -> (&'a [C], &'a [C]) {
        let n = n.min(self.slice.len());
        let run = self.tail_from(index);
        let first = n.min(run.len());
        (&run[..first], &self.slice[..n - first])
    }
}

#[cfg(not(loom))]
pub(crate) use region::Bytes;
#[cfg(not(loom))]
pub use region::{REGION_ALIGN, Region};

#[cfg(not(loom))]
mod region {
    use core::fmt;
    use core::marker::PhantomData;
    use core::ptr::NonNull;
    use core::sync::atomic::{AtomicU8, AtomicU32, Ordering};

    use crate::Error;
    use crate::ring::{ConsumerLine, ProducerLine};

    /// Alignment the region base must have (the ring's cache lines are 128-byte aligned).
    pub const REGION_ALIGN: usize = 128;

    /// Types that may be viewed in shared memory: made only of atomics, so every bit pattern is
    /// a valid value and concurrent writes by the peer are not data races.
    ///
    /// # Safety
    /// Implementors contain only atomic integers (and padding), have no drop glue, and are
    /// valid for every bit pattern.
    pub(crate) unsafe trait SharedLayout {}
    // SAFETY: one AtomicU32.
    unsafe impl SharedLayout for AtomicU32 {}
    // SAFETY: one AtomicU32 plus padding, `repr(C)`.
    unsafe impl SharedLayout for ProducerLine {}
    // SAFETY: two AtomicU32s plus padding, `repr(C)`.
    unsafe impl SharedLayout for ConsumerLine {}
    // SAFETY: an array of atomics.
    unsafe impl SharedLayout for [AtomicU32; 8] {}

    /// A shared-memory region holding a bulk queue: ring indices, descriptors and the buffer pool.
    ///
    /// It is only a view (base address and length); the memory belongs to the caller. The
    /// region stores offsets and indices only, never addresses, so the two sides may map it at
    /// different addresses.
    #[derive(Clone, Copy)]
    pub struct Region<'a> {
        base: NonNull<u8>,
        len: usize,
        _mem: PhantomData<&'a [AtomicU8]>,
    }

    // SAFETY: a Region only gives out shared references to atomics, which are Sync and Send.
    unsafe impl Send for Region<'_> {}
    // SAFETY: as above.
    unsafe impl Sync for Region<'_> {}

    impl fmt::Debug for Region<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Region")
                .field("base", &self.base)
                .field("len", &self.len)
                .finish()
        }
    }

    impl<'a> Region<'a> {
        /// A region over a caller-owned buffer, for two sides in one address space.
        ///
        /// # Errors
        /// [`Error::Misaligned`] unless `buf` starts on a 128-byte boundary (use
        /// [`AlignedBuf`](crate::AlignedBuf)).
        pub fn new(buf: &'a mut [u8]) -> Result<Self, Error> {
            let len = buf.len();
            let base = NonNull::from(buf).cast::<u8>();
            // SAFETY: `buf` is valid for reads and writes of `len` bytes for 'a and borrowed
            // exclusively for 'a, so only this region (and its copies) can access it; u8 and
            // AtomicU8 have the same size and alignment.
            unsafe { Self::from_raw_parts(base.as_ptr(), len) }
        }

        /// A region over raw memory, typically shared with another address space.
        ///
        /// # Safety
        /// For the whole lifetime `'a`, `ptr` must be valid for reads and writes of `len` bytes
        /// and must not be accessed by this program except through this region (and copies of
        /// it) or through atomic operations. Another address space (the peer) may read and write
        /// the memory at any time in any way: that is allowed and can only cause errors.
        ///
        /// # Errors
        /// [`Error::Misaligned`] unless `ptr` is 128-byte aligned.
        pub unsafe fn from_raw_parts(ptr: *mut u8, len: usize) -> Result<Self, Error> {
            let base = NonNull::new(ptr).ok_or(Error::Misaligned)?;
            if !(ptr as usize).is_multiple_of(REGION_ALIGN) {
                return Err(Error::Misaligned);
            }
            Ok(Region {
                base,
                len,
                _mem: PhantomData,
            })
        }

        /// Length of the region in bytes.
        pub fn len(&self) -> usize {
            self.len
        }

        /// `true` for a zero-length region.
        pub fn is_empty(&self) -> bool {
            self.len == 0
        }

        /// Base address of the region in this address space (for diagnostics and DMA set-up).
        pub fn as_ptr(&self) -> *mut u8 {
            self.base.as_ptr()
        }

        /// `count` values of `T` at byte offset `offset`, if they lie inside the region and are
        /// aligned.
        pub(crate) fn slice_at<T: SharedLayout>(
            &self,
            offset: usize,
            count: usize,
        ) -> Option<&'a [T]> {
            let bytes = count.checked_mul(size_of::<T>())?;
            let end = offset.checked_add(bytes)?;
            if end > self.len || !offset.is_multiple_of(align_of::<T>()) {
                return None;
            }
            // SAFETY: the range lies inside the region (checked above), which is valid for 'a
            // (constructor contract); the base is 128-byte aligned and `offset` is a multiple of
            // the alignment of T (checked above, and T's alignment is at most 128); T is made of
            // atomics only (SharedLayout), so shared references to it may coexist with concurrent
            // atomic writes by the peer and every bit pattern is a valid T.
            Some(unsafe {
                core::slice::from_raw_parts(self.base.as_ptr().add(offset).cast::<T>(), count)
            })
        }

        /// One `T` at byte offset `offset`.
        pub(crate) fn at<T: SharedLayout>(&self, offset: usize) -> Option<&'a T> {
            self.slice_at::<T>(offset, 1)?.first()
        }
    }

    /// A byte range of shared memory (a pool slot): whole, 4-byte-aligned `AtomicU32` words.
    ///
    /// # One access size per byte
    ///
    /// Every access the crate makes to shared memory is a 4-byte-aligned `AtomicU32` access
    /// (header words, ring index lines, descriptor cells `[AtomicU32; 8]`, and the pool through
    /// this type). Rust's memory model makes racing atomic accesses of *different* sizes to the
    /// same bytes undefined behaviour; since `Region` is `Copy` and `format`/`attach` are safe,
    /// safe code can make two handles race on one region, or re-format a live region with a
    /// different layout, so which bytes are racing must not decide the access size. With a
    /// single size everywhere they never differ.
    ///
    /// Byte ranges that do not cover a whole word are written by loading the word, merging the
    /// bytes and storing it back (no compare-and-swap: `thumbv6m-none-eabi` has none). A slot
    /// holds whole words only (`slot_size` is a multiple of 4 and the pool is 128-aligned), so
    /// such a merge never touches a neighbouring slot. A peer that writes the same word at the
    /// same time (it does not own the slot, so it is buggy or hostile) may lose its bytes or
    /// ours: data loss that peer causes, never undefined behaviour on either side.
    #[derive(Clone, Copy)]
    pub struct Bytes<'a> {
        words: &'a [AtomicU32],
    }

    impl fmt::Debug for Bytes<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Bytes")
                .field("ptr", &self.words.as_ptr())
                .field("len", &self.len())
                .finish()
        }
    }

    impl<'a> Region<'a> {
        /// The bytes `offset..offset + len` as atomic words; `None` unless they lie inside the
        /// region and `offset` and `len` are multiples of 4.
        pub(crate) fn bytes(&self, offset: usize, len: usize) -> Option<Bytes<'a>> {
            if !len.is_multiple_of(4) {
                return None;
            }
            Some(Bytes {
                words: self.slice_at::<AtomicU32>(offset, len / 4)?,
            })
        }
    }

    /// `n` bytes of the native-endian image of word `w`, from byte `at`.
    #[inline(always)]
    fn part(w: u32, at: usize, out: &mut [u8]) {
        let b = w.to_ne_bytes();
        if let Some(src) = b.get(at..at + out.len()) {
            out.copy_from_slice(src);
        }
    }

    impl Bytes<'_> {
        pub(crate) fn len(&self) -> usize {
            self.words.len() * 4
        }

        pub(crate) fn as_ptr(&self) -> *mut u8 {
            self.words.as_ptr().cast::<u8>().cast_mut()
        }

        /// Copies `out.len()` bytes starting at `offset` into `out`; `false` if out of range.
        pub(crate) fn read(&self, offset: usize, out: &mut [u8]) -> bool {
            let Some(end) = offset.checked_add(out.len()) else {
                return false;
            };
            if end > self.len() {
                return false;
            }
            if out.is_empty() {
                return true;
            }
            let (mut w, head) = (offset / 4, offset % 4);
            let mut rest = out;
            // Relaxed (every load here): slot contents are ordered by the ring's index
            // Release/Acquire.
            if head != 0 {
                let n = (4 - head).min(rest.len());
                let (dst, tail) = rest.split_at_mut(n);
                let Some(cell) = self.words.get(w) else {
                    return false;
                };
                part(cell.load(Ordering::Relaxed), head, dst);
                rest = tail;
                w += 1;
            }
            let Some(cells) = self.words.get(w..) else {
                return rest.is_empty();
            };
            let mut chunks = rest.chunks_exact_mut(4);
            let mut full = 0;
            for (cell, dst) in cells.iter().zip(&mut chunks) {
                dst.copy_from_slice(&cell.load(Ordering::Relaxed).to_ne_bytes());
                full += 1;
            }
            let tail = chunks.into_remainder();
            if !tail.is_empty() {
                let Some(cell) = cells.get(full) else {
                    return false;
                };
                part(cell.load(Ordering::Relaxed), 0, tail);
            }
            true
        }

        /// Copies `data` to `offset..`; `false` if out of range.
        pub(crate) fn write(&self, offset: usize, data: &[u8]) -> bool {
            let Some(end) = offset.checked_add(data.len()) else {
                return false;
            };
            if end > self.len() {
                return false;
            }
            if data.is_empty() {
                return true;
            }
            let (mut w, head) = (offset / 4, offset % 4);
            let mut rest = data;
            // Relaxed (every access here): published by the ring's Release store of its index.
            if head != 0 {
                let n = (4 - head).min(rest.len());
                let Some(cell) = self.words.get(w) else {
                    return false;
                };
                merge(cell, head, &rest[..n]);
                rest = &rest[n..];
                w += 1;
            }
            let Some(cells) = self.words.get(w..) else {
                return rest.is_empty();
            };
            let mut chunks = rest.chunks_exact(4);
            let mut full = 0;
            for (cell, src) in cells.iter().zip(&mut chunks) {
                let mut b = [0u8; 4];
                b.copy_from_slice(src);
                cell.store(u32::from_ne_bytes(b), Ordering::Relaxed);
                full += 1;
            }
            let tail = chunks.remainder();
            if !tail.is_empty() {
                let Some(cell) = cells.get(full) else {
                    return false;
                };
                merge(cell, 0, tail);
            }
            true
        }
    }

    /// Stores `src` into bytes `at..` of `cell`, keeping its other bytes: load, merge, store.
    #[inline(always)]
    fn merge(cell: &AtomicU32, at: usize, src: &[u8]) {
        // Relaxed: see `Bytes::write`.
        let mut b = cell.load(Ordering::Relaxed).to_ne_bytes();
        if let Some(dst) = b.get_mut(at..at + src.len()) {
            dst.copy_from_slice(src);
        }
        cell.store(u32::from_ne_bytes(b), Ordering::Relaxed);
    }
}
