//! DMA memory: how a host gives a driver memory the device can read and write.
//!
//! # For host authors
//! Implement [`Dma`] once for your platform: a bump allocator over a reserved
//! physical range in a hobby kernel, the IOMMU API in a research OS, a
//! hugepage-backed pool in user space. The driver asks for descriptor rings
//! and packet buffer memory through it and translates addresses with it.
//!
//! # For driver authors
//! Take a `D: Dma` (it is cheap to clone) and keep it for the device's
//! lifetime. Write only [`DmaRegion::phys`] and [`PacketBuf`](crate::PacketBuf)
//! physical addresses into descriptors.

use core::ptr::NonNull;

/// A physical (bus) address as the device sees it.
pub type PhysAddr = u64;

/// A contiguous block of DMA memory: where the CPU sees it and where the
/// device sees it.
///
/// A region is owned by whoever holds it and is not `Clone`: give it back to
/// [`Dma::dealloc`] or turn it into packet buffers with
/// [`DmaRegion::into_buffers`].
#[derive(Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DmaRegion {
    virt: NonNull<u8>,
    phys: PhysAddr,
    len: usize,
}

// SAFETY: a region is exclusively owned memory (the `Dma` contract); moving the
// handle to another thread moves that ownership with it.
unsafe impl Send for DmaRegion {}

impl DmaRegion {
    /// Builds a region from its parts.
    ///
    /// # Safety
    /// `virt` must point to `len` bytes that are valid for reads and writes,
    /// exclusively owned by the returned region, physically contiguous, and
    /// visible to the device at `phys` for the region's whole life.
    pub unsafe fn from_raw_parts(virt: NonNull<u8>, phys: PhysAddr, len: usize) -> Self {
        Self { virt, phys, len }
    }

    /// The CPU address of the first byte.
    pub fn virt(&self) -> NonNull<u8> {
        self.virt
    }

    /// The device address of the first byte.
    pub fn phys(&self) -> PhysAddr {
        self.phys
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The region's bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `from_raw_parts` guarantees `len` valid bytes owned by `self`.
        unsafe { core::slice::from_raw_parts(self.virt.as_ptr(), self.len) }
    }

    /// The region's bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes the borrow exclusive.
        unsafe { core::slice::from_raw_parts_mut(self.virt.as_ptr(), self.len) }
    }

    /// Splits the region into packet buffers of `buf_size` bytes each.
    ///
    /// Each buffer's first [`PacketBuf::HEADER_LEN`](crate::PacketBuf::HEADER_LEN)
    /// (64) bytes hold its header, so its data area — what
    /// [`capacity`](crate::PacketBuf::capacity) reports and what a device may
    /// write — is `buf_size - 64` bytes, of which the first `headroom` are
    /// reserved for headers a stack may prepend. A device that should receive
    /// frames of up to `L` bytes therefore needs `buf_size >= 64 + headroom + L`.
    ///
    /// `buf_size` must be a multiple of [`PacketBuf::ALIGN`](crate::PacketBuf::ALIGN)
    /// and larger than `64 + headroom`, otherwise no buffer is carved. The
    /// first buffer starts at the region's first `ALIGN`-aligned byte; bytes
    /// left over at the end are not used. With a region aligned to 64 bytes
    /// and `buf_size` a multiple of 64, every header is one cache line.
    ///
    /// The buffers own their memory from then on; it is never returned to the
    /// [`Dma`] allocator (packet pools live as long as the device).
    ///
    /// # Examples
    ///
    /// ```
    /// # use nic_traits::{DmaRegion, PacketBuf};
    /// # use core::ptr::NonNull;
    /// let mem: &'static mut [u64] = Box::leak(vec![0u64; 4096 / 8].into_boxed_slice());
    /// // SAFETY (example): leaked heap memory, owned by the region; phys is made up.
    /// let region = unsafe {
    ///     DmaRegion::from_raw_parts(NonNull::new(mem.as_mut_ptr()).unwrap().cast(), 0x10_0000, 4096)
    /// };
    /// let bufs: Vec<PacketBuf> = region.into_buffers(2048, 64).collect();
    /// assert_eq!(bufs.len(), 2);
    /// // Header (64 bytes), then the headroom, then the data.
    /// assert_eq!(bufs[1].phys_addr(), 0x10_0000 + 2048 + 64 + 64);
    /// assert_eq!(bufs[1].capacity(), 2048 - 64);
    /// assert_eq!(bufs[1].tailroom(), 2048 - 64 - 64);
    /// ```
    pub fn into_buffers(self, buf_size: usize, headroom: usize) -> BufferIter {
        let header = crate::PacketBuf::HEADER_LEN;
        let align = crate::PacketBuf::ALIGN;
        let start = self.virt.as_ptr().align_offset(align);
        // A buffer must hold its header and at least one byte after its
        // headroom, keep every header aligned, and fit the buffer's `u32`
        // fields; otherwise nothing is carved.
        let usable = buf_size > header
            && headroom < buf_size - header
            && buf_size.is_multiple_of(align)
            && buf_size <= u32::MAX as usize
            && start <= self.len;
        let count = if usable {
            (self.len - start) / buf_size
        } else {
            0
        };
        BufferIter {
            region: self,
            buf_size,
            headroom,
            start,
            next: 0,
            count,
        }
    }
}

/// Iterator over the packet buffers carved out of a [`DmaRegion`].
#[derive(Debug)]
pub struct BufferIter {
    region: DmaRegion,
    buf_size: usize,
    headroom: usize,
    start: usize,
    next: usize,
    count: usize,
}

impl Iterator for BufferIter {
    type Item = crate::PacketBuf;

    fn next(&mut self) -> Option<crate::PacketBuf> {
        if self.next >= self.count {
            return None;
        }
        let index = self.next;
        let offset = self.start + index * self.buf_size;
        self.next += 1;
        // SAFETY: `offset + buf_size <= region.len` because `index < count =
        // (len - start) / buf_size`, so the pointer stays inside the region
        // and is non-null.
        let virt = unsafe { NonNull::new_unchecked(self.region.virt.as_ptr().add(offset)) };
        let phys = self.region.phys + offset as u64;
        // SAFETY: the sub-ranges are disjoint, so each buffer owns its bytes
        // exclusively; the region, consumed by this iterator, is never freed,
        // so the memory stays valid and visible to the device at `phys`.
        // `start` aligns the first buffer and `buf_size` is a multiple of
        // `ALIGN`, so every buffer is aligned; `HEADER_LEN < buf_size <=
        // u32::MAX` holds by `count`.
        Some(unsafe {
            crate::PacketBuf::from_raw_parts(
                virt,
                phys,
                self.buf_size as u32,
                self.headroom as u32,
                index as u32,
            )
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.count - self.next;
        (n, Some(n))
    }
}

impl ExactSizeIterator for BufferIter {}

/// The host's DMA memory service.
///
/// # Safety
///
/// **Implementers guarantee** that:
/// - [`alloc`](Dma::alloc) returns regions of at least the requested size,
///   aligned to the requested alignment both virtually and physically,
///   zeroed, physically contiguous, cache-coherent with the device (or made
///   so by the platform), valid until passed to [`dealloc`](Dma::dealloc), and
///   not aliased by any other live region;
/// - [`virt_to_phys`](Dma::virt_to_phys) returns the address at which the
///   device reaches the byte at `virt`, for any byte of a live region or of a
///   buffer the host handed to the driver.
///
/// **Callers (drivers) guarantee** that they pass to `dealloc` only regions
/// this allocator returned, each once, and only after the device has been
/// told to stop using them (queue disabled or device reset).
pub unsafe trait Dma: Clone {
    /// Allocates `size` bytes aligned to `align` (a power of two).
    ///
    /// Fails with [`ErrorKind::NoResources`](crate::ErrorKind::NoResources)
    /// when memory runs out, never by panicking.
    fn alloc(&self, size: usize, align: usize) -> Result<DmaRegion, crate::ErrorKind>;

    /// Returns a region to the allocator.
    ///
    /// # Safety
    /// The region came from this allocator and the device no longer accesses it.
    unsafe fn dealloc(&self, region: DmaRegion);

    /// Translates a CPU address inside DMA memory to the device's address.
    fn virt_to_phys(&self, virt: NonNull<u8>) -> Option<PhysAddr>;
}
