//! Register access: 32-bit reads and writes at byte offsets into a device's
//! register space, so one driver runs on real MMIO and on a simulated device.

use core::ptr::NonNull;

/// 32-bit register access at byte offsets from the start of a register window.
///
/// Takes `&self`: a register write is a side effect on the device, not a
/// mutation of Rust-visible state, and the card driver and its queue drivers
/// each hold a handle to the same window (each writes only its own registers).
///
/// Offsets are 4-byte aligned byte offsets, as device datasheets give them.
pub trait RegisterAccess {
    /// Reads the register at `offset`.
    fn read32(&self, offset: usize) -> u32;
    /// Writes `value` to the register at `offset`.
    fn write32(&self, offset: usize, value: u32);

    /// Read-modify-write that changes only the bits in `mask`, so reserved
    /// bits keep the value the device gave them.
    fn modify32(&self, offset: usize, mask: u32, value: u32) {
        let old = self.read32(offset);
        self.write32(offset, (old & !mask) | (value & mask));
    }

    /// Sets the bits in `bits`.
    fn set_bits32(&self, offset: usize, bits: u32) {
        self.modify32(offset, bits, bits);
    }

    /// Clears the bits in `bits`.
    fn clear_bits32(&self, offset: usize, bits: u32) {
        self.modify32(offset, bits, 0);
    }
}

impl<R: RegisterAccess + ?Sized> RegisterAccess for &R {
    fn read32(&self, offset: usize) -> u32 {
        (**self).read32(offset)
    }
    fn write32(&self, offset: usize, value: u32) {
        (**self).write32(offset, value)
    }
}

/// Memory-mapped registers accessed with volatile loads and stores.
///
/// Accesses outside the window or at unaligned offsets are not performed:
/// a read returns `0xFFFF_FFFF` (what a PCIe read of a missing device
/// returns) and a write is dropped. Drivers use datasheet constants as
/// offsets, so this only guards against driver bugs.
#[derive(Debug, Clone, Copy)]
pub struct Mmio {
    base: NonNull<u32>,
    len: usize,
}

// SAFETY: device registers are not Rust memory; concurrent volatile accesses
// from several cores are what the hardware expects, and each driver writes only
// the registers it owns (the card driver the global ones, a queue driver its ring's).
unsafe impl Send for Mmio {}
// SAFETY: as for `Send`: sharing the window only shares the ability to issue
// volatile accesses.
unsafe impl Sync for Mmio {}

impl Mmio {
    /// Wraps a mapped register window.
    ///
    /// # Safety
    /// `base` must be 4-byte aligned and point to `len` bytes of device
    /// registers mapped uncached (or as the platform requires for MMIO) for
    /// as long as the returned value and its copies are used, and nothing
    /// else may treat that range as ordinary memory.
    pub unsafe fn new(base: NonNull<u8>, len: usize) -> Self {
        Self {
            base: base.cast(),
            len,
        }
    }

    /// Length of the window in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn in_range(&self, offset: usize) -> bool {
        offset.is_multiple_of(4) && offset.checked_add(4).is_some_and(|end| end <= self.len)
    }
}

impl RegisterAccess for Mmio {
    fn read32(&self, offset: usize) -> u32 {
        if !self.in_range(offset) {
            return u32::MAX;
        }
        // SAFETY: `offset` is aligned and inside the window `new` vouched for.
        unsafe { self.base.as_ptr().byte_add(offset).read_volatile() }
    }

    fn write32(&self, offset: usize, value: u32) {
        if !self.in_range(offset) {
            return;
        }
        // SAFETY: as in `read32`.
        unsafe { self.base.as_ptr().byte_add(offset).write_volatile(value) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mmio_reads_writes_and_guards_the_window() {
        let mut regs = [0u32; 4];
        // SAFETY: `regs` is aligned, 16 bytes, and outlives `mmio`.
        let mmio = unsafe { Mmio::new(NonNull::from(&mut regs).cast(), 16) };
        mmio.write32(4, 0xdead_beef);
        assert_eq!(mmio.read32(4), 0xdead_beef);
        mmio.modify32(4, 0x0000_ff00, 0x0000_1200);
        assert_eq!(mmio.read32(4), 0xdead_12ef);
        mmio.set_bits32(0, 0b101);
        mmio.clear_bits32(0, 0b001);
        assert_eq!(mmio.read32(0), 0b100);
        // Out of range or unaligned: no access.
        assert_eq!(mmio.read32(16), u32::MAX);
        assert_eq!(mmio.read32(2), u32::MAX);
        mmio.write32(usize::MAX - 1, 1);
        mmio.write32(16, 1);
        assert_eq!(regs, [0b100, 0xdead_12ef, 0, 0]);
    }
}
