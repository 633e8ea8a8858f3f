//! Simulated DMA memory with a separate physical address space.
//!
//! [`SimDma`] implements [`nic_traits::Dma`] over heap memory but hands out
//! *physical* addresses from their own range (starting at
//! [`SimDma::PHYS_BASE`]), unrelated to the virtual ones. A simulated device
//! reaches memory only through [`SimDma::read`] and [`SimDma::write`], which
//! check every access against the live regions the way an IOMMU would: a
//! driver that writes a virtual address into a descriptor, or a stale or
//! out-of-range one, gets a recorded [`DmaFault`] instead of corrupting the
//! host.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard};

use nic_traits::{Dma, DmaRegion, ErrorKind, PhysAddr};

/// A device access outside every live DMA region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmaFault {
    /// First physical address of the refused access.
    pub addr: PhysAddr,
    /// Its length in bytes.
    pub len: usize,
}

impl std::fmt::Display for DmaFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DMA access of {} bytes at {:#x} outside every live region",
            self.len, self.addr
        )
    }
}

impl std::error::Error for DmaFault {}

#[derive(Debug)]
struct Region {
    virt: NonNull<u8>,
    phys: PhysAddr,
    layout: Layout,
}

// SAFETY: the registry owns each region's allocation; the pointer is only an
// address into memory it owns, usable from any thread under the mutex.
unsafe impl Send for Region {}

#[derive(Debug, Default)]
struct Registry {
    regions: Vec<Region>,
    next_phys: PhysAddr,
    faults: Vec<DmaFault>,
    limit: usize,
    allocated: usize,
}

/// Heap-backed DMA memory for simulated devices; cheap to clone (all clones
/// share one address space).
#[derive(Debug, Clone)]
pub struct SimDma {
    inner: Arc<Mutex<Registry>>,
}

impl Default for SimDma {
    fn default() -> Self {
        Self::new()
    }
}

impl SimDma {
    /// Where the simulated physical address space starts: far from any
    /// plausible virtual address, so mixing the two up is caught.
    pub const PHYS_BASE: PhysAddr = 0x00a0_0000_0000;

    /// An empty address space with no size limit.
    pub fn new() -> Self {
        Self::with_limit(usize::MAX)
    }

    /// An address space that refuses allocations beyond `bytes` in total.
    pub fn with_limit(bytes: usize) -> Self {
        let reg = Registry {
            next_phys: Self::PHYS_BASE,
            limit: bytes,
            ..Registry::default()
        };
        Self {
            inner: Arc::new(Mutex::new(reg)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock cannot leave the registry
        // inconsistent (every update is a single push/remove), so recover.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Finds the region holding `[phys, phys + len)` and returns a pointer to `phys`.
    fn translate(reg: &mut Registry, phys: PhysAddr, len: usize) -> Result<*mut u8, DmaFault> {
        let fault = DmaFault { addr: phys, len };
        if let Some(end) = phys.checked_add(len as u64) {
            for r in &reg.regions {
                let r_end = r.phys + r.layout.size() as u64;
                if phys >= r.phys && end <= r_end {
                    // SAFETY: the offset is inside the region's allocation.
                    return Ok(unsafe { r.virt.as_ptr().add((phys - r.phys) as usize) });
                }
            }
        }
        reg.faults.push(fault);
        Err(fault)
    }

    /// Device read: copies `out.len()` bytes from physical address `phys`.
    ///
    /// An access outside every live region is refused and recorded as a
    /// [`DmaFault`].
    ///
    /// # Safety
    /// For the duration of the call, no Rust reference (`&` or `&mut`) to
    /// any byte of `[phys, phys + out.len())` may be live, and no other
    /// thread may write those bytes: the device side reads memory the host
    /// owns. This is what a device model relies on — the driver hands the
    /// device only descriptors and buffers it owns and touches descriptors
    /// only through raw pointers with volatile access.
    pub unsafe fn read(&self, phys: PhysAddr, out: &mut [u8]) -> Result<(), DmaFault> {
        let mut reg = self.lock();
        let src = Self::translate(&mut reg, phys, out.len())?;
        // SAFETY: `translate` checked that the range lies in a live
        // allocation; `out` is a distinct Rust buffer; the caller guarantees
        // no reference to the source range is live and no thread writes it.
        unsafe { std::ptr::copy_nonoverlapping(src, out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// Device write: copies `data` to physical address `phys`.
    ///
    /// An access outside every live region is refused and recorded as a
    /// [`DmaFault`]. Safe code cannot call it:
    ///
    /// ```compile_fail
    /// # use nic_sim::SimDma;
    /// # use nic_traits::Dma;
    /// let dma = SimDma::new();
    /// let region = dma.alloc(64, 64).unwrap();
    /// let _ = dma.write(region.phys(), &[1]);
    /// ```
    ///
    /// # Safety
    /// For the duration of the call, no Rust reference (`&` or `&mut`) to
    /// any byte of `[phys, phys + data.len())` may be live, and no other
    /// thread may access those bytes (see [`read`](Self::read)).
    pub unsafe fn write(&self, phys: PhysAddr, data: &[u8]) -> Result<(), DmaFault> {
        let mut reg = self.lock();
        let dst = Self::translate(&mut reg, phys, data.len())?;
        // SAFETY: `translate` checked that the range lies in a live
        // allocation; `data` is a distinct Rust buffer; the caller
        // guarantees no reference to the target range is live and no other
        // thread accesses it.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) };
        Ok(())
    }

    /// Reads a little-endian `u64` (descriptor words are little-endian on the 82599).
    ///
    /// # Safety
    /// As for [`read`](Self::read), for the 8 bytes at `phys`.
    pub unsafe fn read_u64(&self, phys: PhysAddr) -> Result<u64, DmaFault> {
        let mut b = [0u8; 8];
        // SAFETY: the caller's contract covers these 8 bytes.
        unsafe { self.read(phys, &mut b)? };
        Ok(u64::from_le_bytes(b))
    }

    /// Writes a little-endian `u64`.
    ///
    /// # Safety
    /// As for [`write`](Self::write), for the 8 bytes at `phys`.
    pub unsafe fn write_u64(&self, phys: PhysAddr, value: u64) -> Result<(), DmaFault> {
        // SAFETY: the caller's contract covers these 8 bytes.
        unsafe { self.write(phys, &value.to_le_bytes()) }
    }

    /// Faults recorded so far (accesses refused), oldest first.
    pub fn faults(&self) -> Vec<DmaFault> {
        self.lock().faults.clone()
    }

    /// Bytes currently allocated.
    pub fn allocated(&self) -> usize {
        self.lock().allocated
    }

    /// Number of live regions.
    pub fn live_regions(&self) -> usize {
        self.lock().regions.len()
    }
}

// SAFETY: `alloc` returns zeroed, exclusively owned, suitably aligned memory
// that stays valid until `dealloc`; the simulated physical range of each
// region is contiguous, aligned like the virtual one, and never reused while
// the region lives; `virt_to_phys` answers only for live regions. Coherence
// holds trivially: the simulated device copies through the same memory.
unsafe impl Dma for SimDma {
    fn alloc(&self, size: usize, align: usize) -> Result<DmaRegion, ErrorKind> {
        let align = align.max(1);
        let layout =
            Layout::from_size_align(size.max(1), align).map_err(|_| ErrorKind::InvalidArgument)?;
        let mut reg = self.lock();
        if reg.allocated.saturating_add(layout.size()) > reg.limit {
            return Err(ErrorKind::NoResources);
        }
        // SAFETY: the layout has non-zero size.
        let virt = NonNull::new(unsafe { alloc_zeroed(layout) }).ok_or(ErrorKind::NoResources)?;
        let align64 = align as u64;
        let phys = reg.next_phys.div_ceil(align64) * align64;
        // Leave a guard gap so an access running off one region faults.
        reg.next_phys = phys + layout.size() as u64 + 4096;
        reg.allocated += layout.size();
        reg.regions.push(Region { virt, phys, layout });
        // SAFETY: freshly allocated, zeroed, owned by the region from now on,
        // reachable by the simulated device at `phys` through `read`/`write`.
        Ok(unsafe { DmaRegion::from_raw_parts(virt, phys, size) })
    }

    unsafe fn dealloc(&self, region: DmaRegion) {
        let mut reg = self.lock();
        if let Some(i) = reg.regions.iter().position(|r| r.phys == region.phys()) {
            let r = reg.regions.swap_remove(i);
            reg.allocated -= r.layout.size();
            // SAFETY: allocated in `alloc` with this layout; the caller
            // guarantees nobody uses it any more.
            unsafe { dealloc(r.virt.as_ptr(), r.layout) };
        }
    }

    fn virt_to_phys(&self, virt: NonNull<u8>) -> Option<PhysAddr> {
        let reg = self.lock();
        let v = virt.as_ptr() as usize;
        reg.regions.iter().find_map(|r| {
            let base = r.virt.as_ptr() as usize;
            (v >= base && v < base + r.layout.size()).then(|| r.phys + (v - base) as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_reaches_only_live_regions_by_physical_address() {
        let dma = SimDma::new();
        let mut region = dma.alloc(256, 128).unwrap();
        assert_eq!(region.phys() % 128, 0);
        assert!(region.phys() >= SimDma::PHYS_BASE);
        region.as_mut_slice()[10] = 0xab;
        let mut b = [0u8; 1];
        // SAFETY: no reference into the region
        // is live during the calls; the test is single-threaded.
        unsafe {
            dma.read(region.phys() + 10, &mut b).unwrap();
            assert_eq!(b[0], 0xab);
            dma.write_u64(region.phys() + 248, 0x0102_0304_0506_0708)
                .unwrap();
        }
        assert_eq!(region.as_slice()[248], 0x08);
        let virt = region.virt().as_ptr() as u64;
        // Past the end, a virtual address, or an overflowing range: refused and recorded.
        // SAFETY: as above.
        unsafe {
            assert!(dma.read(region.phys() + 250, &mut [0u8; 8]).is_err());
            assert!(dma.write(virt, &[1]).is_err());
            assert!(dma.read(u64::MAX - 2, &mut [0u8; 8]).is_err());
        }
        assert_eq!(dma.faults().len(), 3);
        assert_eq!(dma.virt_to_phys(region.virt()), Some(region.phys()));
        let phys = region.phys();
        // SAFETY: no device uses the region.
        unsafe { dma.dealloc(region) };
        // SAFETY: the range belongs to no live region, so nothing refers to it.
        assert!(unsafe { dma.read(phys, &mut b) }.is_err());
        assert_eq!(dma.live_regions(), 0);
    }

    #[test]
    fn limit_is_enforced_without_panicking() {
        let dma = SimDma::with_limit(4096);
        let _a = dma.alloc(4096, 64).unwrap();
        assert_eq!(dma.alloc(1, 1).unwrap_err(), ErrorKind::NoResources);
        assert_eq!(dma.alloc(8, 3).unwrap_err(), ErrorKind::InvalidArgument);
    }
}
