//! Packet buffers: DMA-reachable memory whose ownership moves between the
//! stack and the driver without copying.

use core::ptr::NonNull;

use crate::dma::PhysAddr;

bitflags::bitflags! {
    /// What the device found out about a received frame.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct RxFlags: u16 {
        /// The device checked the IPv4 header checksum and it was correct.
        const IPV4_CSUM_OK = 1 << 0;
        /// The device checked the IPv4 header checksum and it was wrong.
        const IPV4_CSUM_BAD = 1 << 1;
        /// The device checked the TCP/UDP checksum and it was correct.
        const L4_CSUM_OK = 1 << 2;
        /// The device checked the TCP/UDP checksum and it was wrong.
        const L4_CSUM_BAD = 1 << 3;
        /// [`RxMeta::rss_hash`] holds the device's RSS hash.
        const RSS_HASH = 1 << 4;
        /// The device stripped an 802.1Q tag into [`RxMeta::vlan_tci`].
        const VLAN_STRIPPED = 1 << 5;
        /// The frame matched a hardware filter (not only RSS or the default queue).
        const FILTER_MATCH = 1 << 6;
    }
}

bitflags::bitflags! {
    /// Offloads a transmitted frame asks the device for.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct TxFlags: u16 {
        /// Compute and insert the IPv4 header checksum.
        const IPV4_CSUM = 1 << 0;
        /// Compute and insert the TCP checksum (pseudo-header sum pre-seeded by the stack).
        const TCP_CSUM = 1 << 1;
        /// Compute and insert the UDP checksum (pseudo-header sum pre-seeded by the stack).
        const UDP_CSUM = 1 << 2;
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for RxFlags {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "RxFlags({=u16:#x})", self.bits())
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for TxFlags {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "TxFlags({=u16:#x})", self.bits())
    }
}

/// Per-frame metadata from the device's receive write-back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RxMeta {
    /// Validity flags for the fields below and checksum results.
    pub flags: RxFlags,
    /// The RSS hash, if [`RxFlags::RSS_HASH`] is set.
    pub rss_hash: u32,
    /// The stripped VLAN tag control information, if [`RxFlags::VLAN_STRIPPED`].
    pub vlan_tci: u16,
    /// Device-specific packet type (for the 82599, the write-back's packet type field).
    pub packet_type: u16,
}

/// Offload request for a transmitted frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TxMeta {
    /// Which checksums the device should fill in.
    pub flags: TxFlags,
    /// Length of the link-layer header (14, or 18 with a VLAN tag).
    pub l2_len: u8,
    /// Length of the IP header including options.
    pub l3_len: u16,
}

/// A packet buffer: memory the device can reach, with headroom for headers,
/// a data range, and per-frame metadata.
///
/// A `PacketBuf` is a unique handle: it is neither `Clone` nor `Copy`, so the
/// buffer is owned by exactly one party — the stack, or the driver while the
/// device may write or read it. Passing it to a queue driver moves it; a
/// queue driver gives it back from `rx_burst`, `tx_reclaim` or `release`.
///
/// The layout is `[headroom | data | tailroom]` inside `capacity` bytes.
/// The tag is the host's name for the buffer (for example its index in a pool),
/// carried unchanged so a host can check that what comes back is what it gave.
///
/// # Examples
///
/// ```
/// # use nic_traits::{DmaRegion, PacketBuf};
/// # use core::ptr::NonNull;
/// # let mem: &'static mut [u8] = Box::leak(vec![0u8; 2048].into_boxed_slice());
/// # let region = unsafe { DmaRegion::from_raw_parts(NonNull::new(mem.as_mut_ptr()).unwrap(), 0x1000, mem.len()) };
/// let mut buf: PacketBuf = region.into_buffers(2048, 128).next().unwrap();
/// buf.append(b"payload").unwrap();
/// buf.prepend(4).unwrap().copy_from_slice(b"hdr:");
/// assert_eq!(buf.data(), b"hdr:payload");
/// assert_eq!(buf.headroom(), 124);
/// ```
#[derive(Debug)]
pub struct PacketBuf {
    virt: NonNull<u8>,
    phys: PhysAddr,
    capacity: u32,
    head: u32,
    len: u32,
    tag: u32,
    /// Metadata the device wrote for a received frame.
    pub rx: RxMeta,
    /// Offloads requested for a frame to transmit.
    pub tx: TxMeta,
}

// SAFETY: a `PacketBuf` exclusively owns its bytes (the `from_raw_parts`
// contract), so moving it to another thread moves that ownership.
unsafe impl Send for PacketBuf {}
// SAFETY: shared references only allow reads of the owned bytes.
unsafe impl Sync for PacketBuf {}

#[cfg(feature = "defmt")]
impl defmt::Format for PacketBuf {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "PacketBuf {{ phys: {=u64:#x}, cap: {=u32}, head: {=u32}, len: {=u32}, tag: {=u32} }}",
            self.phys,
            self.capacity,
            self.head,
            self.len,
            self.tag
        )
    }
}

/// Not enough headroom or tailroom for the requested change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NoRoom;

impl core::fmt::Display for NoRoom {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("not enough room in the packet buffer")
    }
}

impl core::error::Error for NoRoom {}

impl PacketBuf {
    /// Builds a buffer handle over `capacity` bytes at `virt`, with the data
    /// range empty and starting at `headroom`.
    ///
    /// # Safety
    /// `virt` must point to `capacity` bytes valid for reads and writes, owned
    /// exclusively by the returned handle for as long as it (or any handle the
    /// bytes move to) exists, and reachable by the device at `phys`.
    /// `headroom` must be at most `capacity`.
    pub unsafe fn from_raw_parts(
        virt: NonNull<u8>,
        phys: PhysAddr,
        capacity: u32,
        headroom: u32,
        tag: u32,
    ) -> Self {
        Self {
            virt,
            phys,
            capacity,
            head: headroom.min(capacity),
            len: 0,
            tag,
            rx: RxMeta::default(),
            tx: TxMeta::default(),
        }
    }

    /// Gives up the handle, returning `(virt, phys, capacity, tag)` so a host
    /// can put the memory back into its own pool.
    pub fn into_raw_parts(self) -> (NonNull<u8>, PhysAddr, u32, u32) {
        (self.virt, self.phys, self.capacity, self.tag)
    }

    /// The host's tag for this buffer.
    pub fn tag(&self) -> u32 {
        self.tag
    }

    /// Total size of the buffer memory.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Device address of the first byte of buffer memory (not of the data).
    pub fn buffer_phys_addr(&self) -> PhysAddr {
        self.phys
    }

    /// Device address of the first data byte: where a receive descriptor
    /// points the device, or where a transmit descriptor reads from.
    pub fn phys_addr(&self) -> PhysAddr {
        self.phys + u64::from(self.head)
    }

    /// Bytes free before the data.
    pub fn headroom(&self) -> u32 {
        self.head
    }

    /// Bytes free after the data.
    pub fn tailroom(&self) -> u32 {
        self.capacity - self.head - self.len
    }

    /// Length of the data.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the data range is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The data.
    pub fn data(&self) -> &[u8] {
        // SAFETY: head + len <= capacity is an invariant of every method, and
        // the bytes are owned by `self` (the `from_raw_parts` contract).
        unsafe {
            core::slice::from_raw_parts(
                self.virt.as_ptr().add(self.head as usize),
                self.len as usize,
            )
        }
    }

    /// The data, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `data`; `&mut self` makes the borrow exclusive.
        unsafe {
            core::slice::from_raw_parts_mut(
                self.virt.as_ptr().add(self.head as usize),
                self.len as usize,
            )
        }
    }

    /// Everything after the headroom up to the end of the buffer: where a
    /// device writes a received frame. Use [`set_len`](Self::set_len) after.
    pub fn writable_area(&mut self) -> &mut [u8] {
        // SAFETY: head <= capacity; the bytes are owned by `self`.
        unsafe {
            core::slice::from_raw_parts_mut(
                self.virt.as_ptr().add(self.head as usize),
                (self.capacity - self.head) as usize,
            )
        }
    }

    /// Sets the data length, e.g. to the length a device wrote.
    pub fn set_len(&mut self, len: u32) -> Result<(), NoRoom> {
        if len > self.capacity - self.head {
            return Err(NoRoom);
        }
        self.len = len;
        Ok(())
    }

    /// Moves the data start to `headroom` bytes into the buffer and empties
    /// the data range (used when recycling a buffer for reception).
    pub fn reset(&mut self, headroom: u32) {
        self.head = headroom.min(self.capacity);
        self.len = 0;
        self.rx = RxMeta::default();
        self.tx = TxMeta::default();
    }

    /// Grows the data at the front by `n` bytes taken from the headroom and
    /// returns them (for a header).
    pub fn prepend(&mut self, n: u32) -> Result<&mut [u8], NoRoom> {
        if n > self.head {
            return Err(NoRoom);
        }
        self.head -= n;
        self.len += n;
        Ok(&mut self.data_mut()[..n as usize])
    }

    /// Removes `n` bytes from the front of the data (after parsing a header).
    pub fn pull(&mut self, n: u32) -> Result<(), NoRoom> {
        if n > self.len {
            return Err(NoRoom);
        }
        self.head += n;
        self.len -= n;
        Ok(())
    }

    /// Copies `bytes` to the end of the data.
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), NoRoom> {
        let n = u32::try_from(bytes.len()).map_err(|_| NoRoom)?;
        if n > self.tailroom() {
            return Err(NoRoom);
        }
        let old = self.len as usize;
        self.len += n;
        self.data_mut()[old..].copy_from_slice(bytes);
        Ok(())
    }

    /// Shortens the data to `len` bytes (no effect if already shorter).
    pub fn truncate(&mut self, len: u32) {
        self.len = self.len.min(len);
    }
}
