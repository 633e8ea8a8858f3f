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

/// Decodes the receive write-back a driver kept in a buffer header (see
/// [`PacketBuf::set_rx_raw`]) into [`RxMeta`].
///
/// A driver stores the device's write-back words as they are, with its own
/// decoder, instead of translating every frame's metadata on the receive
/// path; [`PacketBuf::rx`] calls the decoder when the metadata is asked for.
/// The decoder must be a pure function of the two words: any two words are
/// valid input, and it must not panic.
pub type RxDecoder = fn(&[u64; 2]) -> RxMeta;

/// The buffer header: everything a [`PacketBuf`] knows about its buffer,
/// kept in the first [`PacketBuf::HEADER_LEN`] bytes of the buffer's own
/// memory (one cache line), before the data area.
///
/// Only the CPU reads or writes the header: a device is only ever given
/// addresses inside the data area (see [`PacketBuf`]).
#[repr(C)]
struct Header {
    /// Device address of the data area's first byte.
    phys: PhysAddr,
    /// Offset of the first data byte in the data area (the headroom).
    head: u32,
    /// Length of the data.
    len: u32,
    /// Size of the data area (headroom + data + tailroom).
    capacity: u32,
    /// The host's name for the buffer.
    tag: u32,
    /// Receive metadata as the driver stored it, decoded by `rx_decode`.
    rx_raw: [u64; 2],
    /// Decoder of `rx_raw`; `None` means the default (empty) metadata.
    rx_decode: Option<RxDecoder>,
    tx: TxMeta,
}

/// Packs `meta` into two words for [`decode_plain`].
#[inline]
fn encode_plain(meta: &RxMeta) -> [u64; 2] {
    [
        u64::from(meta.flags.bits())
            | (u64::from(meta.vlan_tci) << 16)
            | (u64::from(meta.packet_type) << 32),
        u64::from(meta.rss_hash),
    ]
}

/// The decoder of metadata stored with [`PacketBuf::set_rx`].
fn decode_plain(raw: &[u64; 2]) -> RxMeta {
    RxMeta {
        flags: RxFlags::from_bits_retain(raw[0] as u16),
        vlan_tci: (raw[0] >> 16) as u16,
        packet_type: (raw[0] >> 32) as u16,
        rss_hash: raw[1] as u32,
    }
}

/// A packet buffer: memory the device can reach, with headroom for headers,
/// a data range, and per-frame metadata.
///
/// A `PacketBuf` is a unique handle: it is neither `Clone` nor `Copy`, so the
/// buffer is owned by exactly one party — the stack, or the driver while the
/// device may write or read it. Passing it to a queue driver moves it; a
/// queue driver gives it back from `rx_burst`, `tx_reclaim` or `release`.
///
/// # Layout
///
/// The handle is one pointer (`size_of::<PacketBuf>() == size_of::<usize>()`,
/// and `Option<PacketBuf>` is no larger), so batches and rings move 8 bytes
/// per buffer. It points to a header in the first
/// [`HEADER_LEN`](Self::HEADER_LEN) bytes of the buffer memory; after it
/// comes the **data area** of [`capacity`](Self::capacity) bytes, laid out as
/// `[headroom | data | tailroom]`:
///
/// ```text
/// buffer memory: [ header (64) | headroom | data | tailroom ]
///                                ^ data area: capacity() bytes
/// ```
///
/// **Device invariant.** The header is written only by the CPU. A driver
/// gives a device only [`phys_addr`](Self::phys_addr) (data area + headroom)
/// with a length of at most [`capacity`](Self::capacity) −
/// [`headroom`](Self::headroom) for the device to write, or
/// [`len`](Self::len) bytes for it to read, so device writes stay inside the
/// data area and can never reach the header. Drivers check this bound where
/// they post a buffer for reception.
///
/// The tag is the host's name for the buffer (for example its index in a pool),
/// carried unchanged so a host can check that what comes back is what it gave.
///
/// # Receive metadata
///
/// A driver does not translate every received frame's metadata: it stores
/// the device's write-back words as they are, with its [`RxDecoder`]
/// ([`set_rx_raw`](Self::set_rx_raw), three stores), and
/// [`rx`](Self::rx) decodes them into [`RxMeta`] when asked. A stack that
/// looks at the metadata of few frames pays for few; one that asks for every
/// frame's pays a call through the decoder per frame instead. The decoder is
/// a code pointer kept in the header, which only the CPU writes (the device
/// invariant above).
///
/// # Examples
///
/// ```
/// # use nic_traits::{DmaRegion, PacketBuf, RxMeta};
/// # use core::ptr::NonNull;
/// # let mem: &'static mut [u64] = Box::leak(vec![0u64; 256].into_boxed_slice());
/// # let region = unsafe { DmaRegion::from_raw_parts(NonNull::new(mem.as_mut_ptr()).unwrap().cast(), 0x1000, 2048) };
/// let mut buf: PacketBuf = region.into_buffers(2048, 128).next().unwrap();
/// assert_eq!(buf.capacity() as usize, 2048 - PacketBuf::HEADER_LEN);
/// buf.append(b"payload").unwrap();
/// buf.prepend(4).unwrap().copy_from_slice(b"hdr:");
/// assert_eq!(buf.data(), b"hdr:payload");
/// assert_eq!(buf.headroom(), 124);
/// buf.set_rx(RxMeta { rss_hash: 7, ..RxMeta::default() });
/// assert_eq!(buf.rx().rss_hash, 7);
/// ```
pub struct PacketBuf {
    header: NonNull<Header>,
}

// The hand-off between batches and rings moves one pointer per buffer.
const _: () = assert!(core::mem::size_of::<PacketBuf>() == core::mem::size_of::<usize>());
const _: () = assert!(core::mem::size_of::<Option<PacketBuf>>() == core::mem::size_of::<usize>());
const _: () = assert!(core::mem::size_of::<Header>() <= PacketBuf::HEADER_LEN);
// Buffers move between threads and cores with their queue drivers.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<PacketBuf>();
    send_sync::<crate::Batch<1>>();
};
const _: () = assert!(PacketBuf::HEADER_LEN.is_multiple_of(core::mem::align_of::<Header>()));

// SAFETY: a `PacketBuf` exclusively owns its header and data bytes (the
// `from_raw_parts` contract), so moving it to another thread moves that
// ownership.
unsafe impl Send for PacketBuf {}
// SAFETY: shared references only allow reads of the owned bytes.
unsafe impl Sync for PacketBuf {}

impl core::fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let h = self.hdr();
        f.debug_struct("PacketBuf")
            .field("phys", &h.phys)
            .field("capacity", &h.capacity)
            .field("head", &h.head)
            .field("len", &h.len)
            .field("tag", &h.tag)
            .field("rx", &self.rx())
            .field("tx", &h.tx)
            .finish()
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for PacketBuf {
    fn format(&self, f: defmt::Formatter<'_>) {
        let h = self.hdr();
        defmt::write!(
            f,
            "PacketBuf {{ phys: {=u64:#x}, cap: {=u32}, head: {=u32}, len: {=u32}, tag: {=u32} }}",
            h.phys,
            h.capacity,
            h.head,
            h.len,
            h.tag
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
    /// Bytes at the start of every buffer's memory that hold its header (one
    /// cache line); the data area follows.
    pub const HEADER_LEN: usize = 64;

    /// Required alignment of a buffer's memory (the header's alignment).
    pub const ALIGN: usize = core::mem::align_of::<Header>();

    /// Builds a buffer handle over `size` bytes of memory at `virt`: the
    /// header is written into the first [`HEADER_LEN`](Self::HEADER_LEN)
    /// bytes, and the data area (the remaining `size - HEADER_LEN` bytes,
    /// [`capacity`](Self::capacity)) starts empty at `headroom`.
    ///
    /// # Safety
    /// `virt` must point to `size` bytes valid for reads and writes, aligned
    /// to [`ALIGN`](Self::ALIGN), owned exclusively by the returned handle for
    /// as long as it (or any handle the bytes move to) exists, and reachable
    /// by the device at `phys`. `size` must be at least
    /// [`HEADER_LEN`](Self::HEADER_LEN); `headroom` is clamped to the data
    /// area.
    #[inline]
    pub unsafe fn from_raw_parts(
        virt: NonNull<u8>,
        phys: PhysAddr,
        size: u32,
        headroom: u32,
        tag: u32,
    ) -> Self {
        let capacity = size.saturating_sub(Self::HEADER_LEN as u32);
        let header = virt.cast::<Header>();
        // SAFETY: the caller guarantees `size >= HEADER_LEN` valid, aligned,
        // exclusively owned bytes at `virt`, which hold a `Header`.
        unsafe {
            header.as_ptr().write(Header {
                phys: phys + Self::HEADER_LEN as u64,
                head: headroom.min(capacity),
                len: 0,
                capacity,
                tag,
                rx_raw: [0; 2],
                rx_decode: None,
                tx: TxMeta::default(),
            })
        };
        Self { header }
    }

    /// Gives up the handle, returning `(virt, phys, size, tag)` — the
    /// buffer memory's start (the header), its device address and total size
    /// as given to [`from_raw_parts`](Self::from_raw_parts) — so a host can
    /// put the memory back into its own pool.
    #[inline]
    pub fn into_raw_parts(self) -> (NonNull<u8>, PhysAddr, u32, u32) {
        let h = self.hdr();
        (
            self.header.cast::<u8>(),
            h.phys - Self::HEADER_LEN as u64,
            h.capacity + Self::HEADER_LEN as u32,
            h.tag,
        )
    }

    #[inline(always)]
    fn hdr(&self) -> &Header {
        // SAFETY: the header was written by `from_raw_parts` and is owned by
        // this handle; `&self` allows shared reads.
        unsafe { self.header.as_ref() }
    }

    #[inline(always)]
    fn hdr_mut(&mut self) -> &mut Header {
        // SAFETY: as in `hdr`; `&mut self` makes the borrow exclusive.
        unsafe { self.header.as_mut() }
    }

    /// The data area's first byte.
    #[inline(always)]
    fn area(&self) -> *mut u8 {
        // SAFETY: the buffer memory is at least `HEADER_LEN` bytes (the
        // `from_raw_parts` contract), so the data area starts inside it (or
        // one past its end when the area is empty).
        unsafe { self.header.as_ptr().cast::<u8>().add(Self::HEADER_LEN) }
    }

    /// The host's tag for this buffer.
    #[inline]
    pub fn tag(&self) -> u32 {
        self.hdr().tag
    }

    /// Size of the data area: headroom + data + tailroom (the buffer memory
    /// less the header).
    #[inline]
    pub fn capacity(&self) -> u32 {
        self.hdr().capacity
    }

    /// Device address of the first byte of the data area (not of the data,
    /// and not of the header, which the device never sees).
    #[inline]
    pub fn buffer_phys_addr(&self) -> PhysAddr {
        self.hdr().phys
    }

    /// Device address of the first data byte: where a receive descriptor
    /// points the device, or where a transmit descriptor reads from.
    #[inline]
    pub fn phys_addr(&self) -> PhysAddr {
        let h = self.hdr();
        h.phys + u64::from(h.head)
    }

    /// Bytes free before the data.
    #[inline]
    pub fn headroom(&self) -> u32 {
        self.hdr().head
    }

    /// Bytes free after the data.
    #[inline]
    pub fn tailroom(&self) -> u32 {
        let h = self.hdr();
        h.capacity - h.head - h.len
    }

    /// Bytes a device may write at [`phys_addr`](Self::phys_addr) without
    /// leaving the data area: capacity less headroom.
    #[inline]
    pub fn writable_len(&self) -> u32 {
        let h = self.hdr();
        h.capacity - h.head
    }

    /// Length of the data.
    #[inline]
    pub fn len(&self) -> u32 {
        self.hdr().len
    }

    /// Whether the data range is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.hdr().len == 0
    }

    /// Metadata the device wrote for a received frame, decoded from what
    /// the driver stored (see [`set_rx_raw`](Self::set_rx_raw)); the
    /// default (empty) metadata for a buffer not received since its last
    /// [`reset`](Self::reset).
    #[inline]
    pub fn rx(&self) -> RxMeta {
        let h = self.hdr();
        match h.rx_decode {
            Some(decode) => decode(&h.rx_raw),
            None => RxMeta::default(),
        }
    }

    /// Sets the receive metadata to `meta` (for drivers that decode it
    /// themselves, and for tests).
    #[inline]
    pub fn set_rx(&mut self, meta: RxMeta) {
        self.set_rx_raw(encode_plain(&meta), decode_plain);
    }

    /// Stores a receive write-back as the device left it, with the decoder
    /// that [`rx`](Self::rx) applies when the metadata is asked for: three
    /// stores instead of a translation per received frame.
    ///
    /// # Examples
    ///
    /// ```
    /// # use nic_traits::{DmaRegion, PacketBuf, RxFlags, RxMeta};
    /// # use core::ptr::NonNull;
    /// # let mem: &'static mut [u64] = Box::leak(vec![0u64; 256].into_boxed_slice());
    /// # let region = unsafe { DmaRegion::from_raw_parts(NonNull::new(mem.as_mut_ptr()).unwrap().cast(), 0x1000, 2048) };
    /// let mut buf: PacketBuf = region.into_buffers(2048, 128).next().unwrap();
    /// // A device whose write-back carries the RSS hash in the second word.
    /// fn decode(raw: &[u64; 2]) -> RxMeta {
    ///     RxMeta { flags: RxFlags::RSS_HASH, rss_hash: raw[1] as u32, ..RxMeta::default() }
    /// }
    /// buf.set_rx_raw([0, 0xfeed], decode);
    /// assert_eq!(buf.rx_raw(), [0, 0xfeed]);
    /// assert_eq!(buf.rx().rss_hash, 0xfeed);
    /// buf.reset(128);
    /// assert_eq!(buf.rx(), RxMeta::default());
    /// ```
    #[inline(always)]
    pub fn set_rx_raw(&mut self, raw: [u64; 2], decode: RxDecoder) {
        let h = self.hdr_mut();
        h.rx_raw = raw;
        h.rx_decode = Some(decode);
    }

    /// The receive metadata words as the driver stored them (zero after
    /// [`reset`](Self::reset)); their meaning is the driver's (for the
    /// 82599, the advanced receive write-back).
    #[inline]
    pub fn rx_raw(&self) -> [u64; 2] {
        let h = self.hdr();
        if h.rx_decode.is_some() {
            h.rx_raw
        } else {
            [0; 2]
        }
    }

    /// Offloads requested for a frame to transmit.
    #[inline]
    pub fn tx(&self) -> &TxMeta {
        &self.hdr().tx
    }

    /// Offloads requested for a frame to transmit, writable.
    #[inline]
    pub fn tx_mut(&mut self) -> &mut TxMeta {
        &mut self.hdr_mut().tx
    }

    /// The data.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let h = self.hdr();
        // SAFETY: head + len <= capacity is an invariant of every method, the
        // data area follows the header, and its bytes are owned by `self`
        // (the `from_raw_parts` contract).
        unsafe { core::slice::from_raw_parts(self.area().add(h.head as usize), h.len as usize) }
    }

    /// The data, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let (head, len) = (self.hdr().head, self.hdr().len);
        // SAFETY: as in `data`; `&mut self` makes the borrow exclusive, and
        // the data area does not overlap the header.
        unsafe { core::slice::from_raw_parts_mut(self.area().add(head as usize), len as usize) }
    }

    /// Everything after the headroom up to the end of the data area: where a
    /// device writes a received frame. Use [`set_len`](Self::set_len) after.
    #[inline]
    pub fn writable_area(&mut self) -> &mut [u8] {
        let (head, n) = (self.hdr().head, self.writable_len());
        // SAFETY: head <= capacity; the data area is owned by `self` and does
        // not overlap the header.
        unsafe { core::slice::from_raw_parts_mut(self.area().add(head as usize), n as usize) }
    }

    /// Sets the data length, e.g. to the length a device wrote.
    #[inline]
    pub fn set_len(&mut self, len: u32) -> Result<(), NoRoom> {
        let h = self.hdr_mut();
        if len > h.capacity - h.head {
            return Err(NoRoom);
        }
        h.len = len;
        Ok(())
    }

    /// Sets the data length without checking it against the room after
    /// the headroom (for a driver that checked the device's length against
    /// the buffer length it posted).
    ///
    /// # Safety
    /// `len` must be at most [`writable_len`](Self::writable_len).
    #[inline(always)]
    pub unsafe fn set_len_unchecked(&mut self, len: u32) {
        debug_assert!(len <= self.writable_len());
        self.hdr_mut().len = len;
    }

    /// Moves the data start to `headroom` bytes into the data area and
    /// empties the data range and the metadata (used when recycling a buffer
    /// for reception).
    #[inline]
    pub fn reset(&mut self, headroom: u32) {
        let h = self.hdr_mut();
        h.head = headroom.min(h.capacity);
        h.len = 0;
        h.rx_decode = None;
        h.tx = TxMeta::default();
    }

    /// [`reset`](Self::reset) to `headroom` if the data area then leaves at
    /// least `room` bytes after the headroom (what a receive descriptor of
    /// `room` bytes needs), returning the device address of the first data
    /// byte; otherwise the buffer is left as it is and `NoRoom` returned.
    ///
    /// # Examples
    ///
    /// ```
    /// # use nic_traits::{DmaRegion, NoRoom, PacketBuf};
    /// # use core::ptr::NonNull;
    /// # let mem: &'static mut [u64] = Box::leak(vec![0u64; 256].into_boxed_slice());
    /// # let region = unsafe { DmaRegion::from_raw_parts(NonNull::new(mem.as_mut_ptr()).unwrap().cast(), 0x1000, 2048) };
    /// let mut buf: PacketBuf = region.into_buffers(2048, 0).next().unwrap();
    /// buf.append(b"old frame").unwrap();
    /// assert_eq!(buf.reset_for_rx(1024, 2048), Err(NoRoom));
    /// assert_eq!(buf.len(), 9);
    /// assert_eq!(buf.reset_for_rx(128, 1024), Ok(0x1000 + 64 + 128));
    /// assert_eq!((buf.len(), buf.headroom(), buf.writable_len()), (0, 128, 2048 - 64 - 128));
    /// ```
    #[inline(always)]
    pub fn reset_for_rx(&mut self, headroom: u32, room: u32) -> Result<PhysAddr, NoRoom> {
        let h = self.hdr_mut();
        // `capacity >= headroom + room` without overflow (the sum is the
        // same for every buffer of a burst: computed once).
        match headroom.checked_add(room) {
            Some(need) if h.capacity >= need => {}
            _ => return Err(NoRoom),
        }
        h.head = headroom;
        h.len = 0;
        h.rx_decode = None;
        h.tx = TxMeta::default();
        Ok(h.phys + u64::from(headroom))
    }

    /// Grows the data at the front by `n` bytes taken from the headroom and
    /// returns them (for a header).
    #[inline]
    pub fn prepend(&mut self, n: u32) -> Result<&mut [u8], NoRoom> {
        let h = self.hdr_mut();
        if n > h.head {
            return Err(NoRoom);
        }
        h.head -= n;
        h.len += n;
        Ok(&mut self.data_mut()[..n as usize])
    }

    /// Removes `n` bytes from the front of the data (after parsing a header).
    #[inline]
    pub fn pull(&mut self, n: u32) -> Result<(), NoRoom> {
        let h = self.hdr_mut();
        if n > h.len {
            return Err(NoRoom);
        }
        h.head += n;
        h.len -= n;
        Ok(())
    }

    /// Copies `bytes` to the end of the data.
    #[inline]
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), NoRoom> {
        let n = u32::try_from(bytes.len()).map_err(|_| NoRoom)?;
        if n > self.tailroom() {
            return Err(NoRoom);
        }
        let h = self.hdr_mut();
        let old = h.len as usize;
        h.len += n;
        self.data_mut()[old..].copy_from_slice(bytes);
        Ok(())
    }

    /// Shortens the data to `len` bytes (no effect if already shorter).
    #[inline]
    pub fn truncate(&mut self, len: u32) {
        let h = self.hdr_mut();
        h.len = h.len.min(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DmaRegion;
    use std::vec;

    fn region(words: usize, phys: PhysAddr) -> DmaRegion {
        let mem: &'static mut [u64] = std::boxed::Box::leak(vec![0u64; words].into_boxed_slice());
        // SAFETY: leaked memory, owned by the region from now on.
        unsafe {
            DmaRegion::from_raw_parts(
                NonNull::new(mem.as_mut_ptr()).unwrap().cast(),
                phys,
                words * 8,
            )
        }
    }

    #[test]
    fn header_sits_before_the_data_area_and_survives_device_writes() {
        let mut bufs = region(2 * 1024 / 8, 0x4000).into_buffers(1024, 32);
        let mut a = bufs.next().unwrap();
        let mut b = bufs.next().unwrap();
        assert!(bufs.next().is_none());
        assert_eq!(a.capacity(), 1024 - 64);
        assert_eq!(a.buffer_phys_addr(), 0x4000 + 64);
        assert_eq!(a.phys_addr(), 0x4000 + 64 + 32);
        assert_eq!(b.phys_addr(), 0x4000 + 1024 + 64 + 32);
        assert_eq!(a.writable_len(), 1024 - 64 - 32);
        // Fill the whole writable area of `a` as a device would: neither
        // `a`'s nor `b`'s header changes.
        a.writable_area().fill(0xEE);
        b.writable_area().fill(0xDD);
        assert_eq!((a.tag(), b.tag()), (0, 1));
        assert_eq!(a.capacity(), 1024 - 64);
        assert_eq!(b.headroom(), 32);
        a.set_len(a.writable_len()).unwrap();
        assert!(a.data().iter().all(|&x| x == 0xEE));
        assert_eq!(a.set_len(a.writable_len() + 1), Err(NoRoom));
        a.tx_mut().l2_len = 14;
        a.reset(0);
        assert_eq!((a.len(), a.headroom(), a.tx().l2_len), (0, 0, 0));
        let (virt, phys, size, tag) = b.into_raw_parts();
        assert_eq!((phys, size, tag), (0x4000 + 1024, 1024, 1));
        // SAFETY: the parts just given up, still owned by nobody else.
        let b = unsafe { PacketBuf::from_raw_parts(virt, phys, size, 16, 9) };
        assert_eq!(
            (b.phys_addr(), b.tag(), b.len()),
            (0x4000 + 1024 + 64 + 16, 9, 0)
        );
    }

    #[test]
    fn rx_metadata_round_trips_and_reset_clears_it() {
        let mut buf = region(256 / 8, 0).into_buffers(256, 8).next().unwrap();
        assert_eq!(buf.rx(), RxMeta::default());
        assert_eq!(buf.rx_raw(), [0, 0]);
        // Every flag bit, and fields with their top and bottom bits set.
        for (flags, rss_hash, vlan_tci, packet_type) in [
            (0x7f, u32::MAX, u16::MAX, u16::MAX),
            (0x01, 0x8000_0001, 0x8001, 0x8001),
            (0xffff, 0, 0, 0),
            (0, 1, 2, 3),
        ] {
            let meta = RxMeta {
                flags: RxFlags::from_bits_retain(flags),
                rss_hash,
                vlan_tci,
                packet_type,
            };
            buf.set_rx(meta);
            assert_eq!(buf.rx(), meta);
        }
        fn swapped(raw: &[u64; 2]) -> RxMeta {
            RxMeta {
                rss_hash: raw[0] as u32,
                vlan_tci: raw[1] as u16,
                ..RxMeta::default()
            }
        }
        buf.set_rx_raw([7, 9], swapped);
        assert_eq!(buf.rx_raw(), [7, 9]);
        assert_eq!((buf.rx().rss_hash, buf.rx().vlan_tci), (7, 9));
        buf.tx_mut().l3_len = 20;
        buf.append(b"abc").unwrap();
        buf.reset(4);
        assert_eq!(buf.rx(), RxMeta::default());
        assert_eq!(buf.rx_raw(), [0, 0]);
        assert_eq!((buf.len(), buf.headroom(), buf.tx().l3_len), (0, 4, 0));
        // reset_for_rx: refuses without touching the buffer, resets with room.
        buf.set_rx_raw([1, 1], swapped);
        buf.append(b"abc").unwrap();
        let cap = buf.capacity();
        assert_eq!(buf.reset_for_rx(cap + 1, 0), Err(NoRoom));
        assert_eq!(buf.reset_for_rx(u32::MAX, u32::MAX), Err(NoRoom));
        assert_eq!(buf.reset_for_rx(16, cap - 15), Err(NoRoom));
        assert_eq!((buf.len(), buf.headroom(), buf.rx().rss_hash), (3, 4, 1));
        assert_eq!(buf.reset_for_rx(16, cap - 16), Ok(64 + 16));
        assert_eq!(
            (buf.len(), buf.headroom(), buf.writable_len()),
            (0, 16, cap - 16)
        );
        assert_eq!(buf.rx(), RxMeta::default());
        // SAFETY: 5 <= writable_len.
        unsafe { buf.set_len_unchecked(5) };
        assert_eq!(buf.data().len(), 5);
    }

    #[test]
    fn prepend_pull_append_truncate_keep_the_bounds() {
        let mut buf = region(256 / 8, 0).into_buffers(256, 8).next().unwrap();
        assert_eq!(buf.tailroom(), 256 - 64 - 8);
        assert_eq!(buf.prepend(9), Err(NoRoom));
        buf.append(&[1; 100]).unwrap();
        assert_eq!(buf.append(&[2; 100]), Err(NoRoom));
        buf.prepend(8).unwrap().fill(3);
        assert_eq!(buf.len(), 108);
        buf.pull(8).unwrap();
        assert_eq!(buf.pull(101), Err(NoRoom));
        buf.truncate(10);
        assert_eq!(buf.data(), &[1; 10]);
        assert!(!buf.is_empty());
    }
}
