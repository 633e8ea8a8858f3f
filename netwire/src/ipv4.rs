//! IPv4 packets (RFC 791), with options and fragmentation fields.
//!
//! # Layout
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |   DSCP    |ECN|          Total Length         |
//! |         Identification        |Flags|     Fragment Offset     |
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! |                       Source Address                          |
//! |                    Destination Address                        |
//! |                    Options                    |    Padding    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use core::net::Ipv4Addr;

use bitflags::bitflags;
use zerocopy::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::checksum::{self, ChecksumCapabilities};
use crate::ip::IpProtocol;
use crate::view;
use crate::{Error, Result};

/// The fixed 20-byte IPv4 header.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct Ipv4Header {
    /// Version (high nibble) and IHL in 32-bit words (low nibble).
    pub version_ihl: u8,
    /// DSCP (high six bits) and ECN (low two bits) (RFC 2474, RFC 3168).
    pub dscp_ecn: u8,
    /// Total length of header and data in bytes.
    pub total_len: U16,
    /// Identification.
    pub ident: U16,
    /// Flags (high three bits) and fragment offset in 8-byte units.
    pub flags_frag_offset: U16,
    /// Time to live.
    pub ttl: u8,
    /// Protocol of the payload.
    pub protocol: u8,
    /// Header checksum.
    pub checksum: U16,
    /// Source address.
    pub src_addr: [u8; 4],
    /// Destination address.
    pub dst_addr: [u8; 4],
}

const _: () = assert!(size_of::<Ipv4Header>() == 20);

mod field {
    // The layout assertions below are these constants' check; rustc before
    // 1.88 does not count a use inside an anonymous const as a use.
    #![allow(dead_code)]

    use core::ops::Range;

    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
    pub const HEADER_LEN: usize = 20;
    /// IHL is four bits: at most 15 words.
    pub const MAX_HEADER_LEN: usize = 60;

    use super::Ipv4Header as H;
    use core::mem::offset_of;
    const _: () = assert!(offset_of!(H, version_ihl) == VER_IHL);
    const _: () = assert!(offset_of!(H, dscp_ecn) == DSCP_ECN);
    const _: () = assert!(offset_of!(H, total_len) == LENGTH.start);
    const _: () = assert!(offset_of!(H, ident) == IDENT.start);
    const _: () = assert!(offset_of!(H, flags_frag_offset) == FLG_OFF.start);
    const _: () = assert!(offset_of!(H, ttl) == TTL);
    const _: () = assert!(offset_of!(H, protocol) == PROTOCOL);
    const _: () = assert!(offset_of!(H, checksum) == CHECKSUM.start);
    const _: () = assert!(offset_of!(H, src_addr) == SRC_ADDR.start);
    const _: () = assert!(offset_of!(H, dst_addr) == DST_ADDR.start);
    const _: () = assert!(DST_ADDR.end == HEADER_LEN);
}

/// Length of the IPv4 header without options.
pub const HEADER_LEN: usize = field::HEADER_LEN;
/// Largest IPv4 header: IHL 15.
pub const MAX_HEADER_LEN: usize = field::MAX_HEADER_LEN;
/// Largest options area.
pub const MAX_OPTIONS_LEN: usize = MAX_HEADER_LEN - HEADER_LEN;

bitflags! {
    /// The flags in the top three bits of the flags/fragment-offset word
    /// (RFC 791 §3.1), at their positions in that 16-bit word.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Ipv4Flags: u16 {
        /// Reserved, must be zero (RFC 791).
        const RESERVED = 0x8000;
        /// Don't Fragment.
        const DONT_FRAGMENT = 0x4000;
        /// More Fragments.
        const MORE_FRAGMENTS = 0x2000;
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Ipv4Flags {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(f, "Ipv4Flags({=u16:#x})", self.bits());
    }
}

const FRAG_OFFSET_MASK: u16 = 0x1fff;

const ZERO_HEADER: Ipv4Header = Ipv4Header {
    version_ihl: 0,
    dscp_ecn: 0,
    total_len: U16::ZERO,
    ident: U16::ZERO,
    flags_frag_offset: U16::ZERO,
    ttl: 0,
    protocol: 0,
    checksum: U16::ZERO,
    src_addr: [0; 4],
    dst_addr: [0; 4],
};

/// A read/write view of an IPv4 packet in a buffer.
///
/// After [`check_len`](Self::check_len) succeeds (as it has for
/// [`new_checked`](Self::new_checked)) no accessor panics, the header length
/// lies in `20..=total_len` and `total_len` fits in the buffer, so
/// [`options`](Self::options) and [`payload`](Self::payload) are exact.
/// Accessors and setters never panic on an unchecked buffer either: fields
/// beyond its end read as zero, slices outside it are empty, and writes
/// beyond it are dropped.
///
/// # Examples
///
/// ```
/// use netwire::{IpProtocol, Ipv4Packet};
///
/// let bytes = [
///     0x45, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x40, 0x00, 0x40, 0x11, 0x7a, 0xcd,
///     10, 0, 0, 1, 10, 0, 0, 2,
///     0x30, 0x39, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00,
/// ];
/// let p = Ipv4Packet::new_checked(&bytes[..]).unwrap();
/// assert_eq!(p.next_header(), IpProtocol::Udp);
/// assert!(p.dont_frag() && !p.is_fragment());
/// assert_eq!(p.payload().len(), 8);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Ipv4Packet<T> {
        Ipv4Packet { buffer }
    }

    /// Wraps `buffer` and checks it with [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Ipv4Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the lengths: the buffer holds the fixed header, the header
    /// length is at least 20 and at most the total length, and the total
    /// length fits in the buffer (which may be longer, e.g. Ethernet padding).
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when the buffer is too short;
    /// [`Error::Malformed`] when IHL < 5 or total length < header length.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let hl = self.header_len();
        let tl = self.total_len() as usize;
        if hl < HEADER_LEN || tl < hl {
            Err(Error::Malformed)
        } else if tl > len {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// The wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The fixed 20-byte header as a zero-copy struct.
    #[inline]
    pub fn header(&self) -> &Ipv4Header {
        view::header(self.buffer.as_ref(), &ZERO_HEADER)
    }

    /// Version field (4 for a valid packet).
    #[inline]
    pub fn version(&self) -> u8 {
        self.header().version_ihl >> 4
    }

    /// Header length in bytes (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        ((self.header().version_ihl & 0x0f) as usize) * 4
    }

    /// Differentiated services code point (RFC 2474).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.header().dscp_ecn >> 2
    }

    /// Explicit congestion notification bits (RFC 3168).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.header().dscp_ecn & 0x03
    }

    /// Total length of header and data.
    #[inline]
    pub fn total_len(&self) -> u16 {
        self.header().total_len.get()
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        self.header().ident.get()
    }

    /// The three flag bits, reserved bit included.
    #[inline]
    pub fn flags(&self) -> Ipv4Flags {
        Ipv4Flags::from_bits_retain(self.header().flags_frag_offset.get() & !FRAG_OFFSET_MASK)
    }

    /// Don't Fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags().contains(Ipv4Flags::DONT_FRAGMENT)
    }

    /// More Fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags().contains(Ipv4Flags::MORE_FRAGMENTS)
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.header().flags_frag_offset.get() & FRAG_OFFSET_MASK) << 3
    }

    /// True when the packet is a fragment: More Fragments set or a nonzero
    /// offset (RFC 791 §3.2).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.header().flags_frag_offset.get()
            & (Ipv4Flags::MORE_FRAGMENTS.bits() | FRAG_OFFSET_MASK)
            != 0
    }

    /// Time to live.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.header().ttl
    }

    /// Protocol of the payload.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.header().protocol)
    }

    /// Header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.header().checksum.get()
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.header().src_addr)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.header().dst_addr)
    }

    /// The options area (header bytes after the first 20).
    #[inline]
    pub fn options(&self) -> &[u8] {
        view::slice(self.buffer.as_ref(), HEADER_LEN, self.header_len())
    }

    /// True when the header checksum is correct (RFC 791 §3.1).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(view::slice(self.buffer.as_ref(), 0, self.header_len()))
    }

    /// The data: from the end of the header to the total length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        view::slice(
            self.buffer.as_ref(),
            self.header_len(),
            self.total_len() as usize,
        )
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// The fixed header for writing; `None` when the buffer is too short.
    #[inline]
    pub fn header_mut(&mut self) -> Option<&mut Ipv4Header> {
        view::header_mut(self.buffer.as_mut())
    }

    /// Sets version 4 and the header length in bytes (rounded down to words).
    #[inline]
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        if let Some(h) = self.header_mut() {
            h.version_ihl = 0x40 | ((header_len / 4) as u8 & 0x0f);
        }
    }

    /// Sets DSCP (six bits) and ECN (two bits).
    #[inline]
    pub fn set_dscp_ecn(&mut self, dscp: u8, ecn: u8) {
        if let Some(h) = self.header_mut() {
            h.dscp_ecn = (dscp << 2) | (ecn & 0x03);
        }
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        if let Some(h) = self.header_mut() {
            h.total_len.set(v);
        }
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        if let Some(h) = self.header_mut() {
            h.ident.set(v);
        }
    }

    /// Sets the flags and the fragment offset in bytes (rounded down to
    /// 8-byte units).
    #[inline]
    pub fn set_flags_frag_offset(&mut self, flags: Ipv4Flags, offset: u16) {
        if let Some(h) = self.header_mut() {
            h.flags_frag_offset
                .set((flags.bits() & !FRAG_OFFSET_MASK) | (offset >> 3));
        }
    }

    /// Sets the time to live.
    #[inline]
    pub fn set_hop_limit(&mut self, v: u8) {
        if let Some(h) = self.header_mut() {
            h.ttl = v;
        }
    }

    /// Sets the protocol.
    #[inline]
    pub fn set_next_header(&mut self, v: IpProtocol) {
        if let Some(h) = self.header_mut() {
            h.protocol = v.into();
        }
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        if let Some(h) = self.header_mut() {
            h.checksum.set(v);
        }
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        if let Some(h) = self.header_mut() {
            h.src_addr = a.octets();
        }
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        if let Some(h) = self.header_mut() {
            h.dst_addr = a.octets();
        }
    }

    /// Computes and writes the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(view::slice(self.buffer.as_ref(), 0, self.header_len()));
        self.set_checksum(c);
    }

    /// The options area for writing.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        view::slice_mut(self.buffer.as_mut(), HEADER_LEN, hl)
    }

    /// The data for writing.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, tl) = (self.header_len(), self.total_len() as usize);
        view::slice_mut(self.buffer.as_mut(), hl, tl)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// Up to 40 bytes of IPv4 options, kept as raw bytes padded to 32-bit words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ipv4Options {
    bytes: [u8; MAX_OPTIONS_LEN],
    len: u8,
}

impl Default for Ipv4Options {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl Ipv4Options {
    /// No options.
    pub const EMPTY: Ipv4Options = Ipv4Options {
        bytes: [0; MAX_OPTIONS_LEN],
        len: 0,
    };

    /// Options from raw bytes, padded with End of Option List (zero) bytes to
    /// a multiple of four (RFC 791 §3.1 "Padding").
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] when longer than 40 bytes.
    pub fn new(raw: &[u8]) -> Result<Ipv4Options> {
        if raw.len() > MAX_OPTIONS_LEN {
            return Err(Error::Malformed);
        }
        let mut o = Self::EMPTY;
        o.bytes[..raw.len()].copy_from_slice(raw);
        o.len = raw.len().next_multiple_of(4) as u8;
        Ok(o)
    }

    /// The option bytes, padding included.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..(self.len as usize).min(MAX_OPTIONS_LEN)]
    }

    /// Length in bytes, a multiple of four.
    #[inline]
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// True when there are no options.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The header fields of an IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload.
    pub next_header: IpProtocol,
    /// Length of the data after the header.
    pub payload_len: usize,
    /// Time to live.
    pub hop_limit: u8,
    /// DSCP, six bits.
    pub dscp: u8,
    /// ECN, two bits.
    pub ecn: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
    /// More Fragments.
    pub more_frags: bool,
    /// Fragment offset in bytes, a multiple of 8.
    pub frag_offset: u16,
    /// Options, if any.
    pub options: Ipv4Options,
}

impl Ipv4Repr {
    /// A packet with defaults for the rarely set fields: no DSCP/ECN,
    /// identification 0, Don't Fragment, no options.
    pub const fn new(
        src_addr: Ipv4Addr,
        dst_addr: Ipv4Addr,
        next_header: IpProtocol,
        payload_len: usize,
        hop_limit: u8,
    ) -> Ipv4Repr {
        Ipv4Repr {
            src_addr,
            dst_addr,
            next_header,
            payload_len,
            hop_limit,
            dscp: 0,
            ecn: 0,
            ident: 0,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            options: Ipv4Options::EMPTY,
        }
    }

    /// Reads the header of a packet, verifying its checksum when
    /// `caps.ipv4.rx()`.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] / [`Error::Malformed`] from
    /// [`check_len`](Ipv4Packet::check_len); [`Error::Malformed`] when the
    /// version is not 4; [`Error::Checksum`] when verification fails.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Ipv4Packet<T>,
        caps: &ChecksumCapabilities,
    ) -> Result<Ipv4Repr> {
        // One header reference and the length checks of `check_len`, done
        // once here rather than once per accessor.
        let b = packet.buffer.as_ref();
        let (h, _) = Ipv4Header::ref_from_prefix(b).map_err(|_| Error::Truncated)?;
        let hl = ((h.version_ihl & 0x0f) as usize) * 4;
        let tl = h.total_len.get() as usize;
        if hl < HEADER_LEN || tl < hl {
            return Err(Error::Malformed);
        }
        if tl > b.len() {
            return Err(Error::Truncated);
        }
        if h.version_ihl >> 4 != 4 {
            return Err(Error::Malformed);
        }
        if caps.ipv4.rx() && !checksum::verify(view::slice(b, 0, hl)) {
            return Err(Error::Checksum);
        }
        let ff = h.flags_frag_offset.get();
        Ok(Ipv4Repr {
            src_addr: Ipv4Addr::from(h.src_addr),
            dst_addr: Ipv4Addr::from(h.dst_addr),
            next_header: IpProtocol::from(h.protocol),
            payload_len: tl - hl,
            hop_limit: h.ttl,
            dscp: h.dscp_ecn >> 2,
            ecn: h.dscp_ecn & 0x03,
            ident: h.ident.get(),
            dont_frag: ff & Ipv4Flags::DONT_FRAGMENT.bits() != 0,
            more_frags: ff & Ipv4Flags::MORE_FRAGMENTS.bits() != 0,
            frag_offset: (ff & FRAG_OFFSET_MASK) << 3,
            options: match view::slice(b, HEADER_LEN, hl) {
                [] => Ipv4Options::EMPTY,
                raw => Ipv4Options::new(raw)?,
            },
        })
    }

    /// Header length: 20 plus the options.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN + self.options.len()
    }

    /// True when the packet is a fragment: More Fragments set or a nonzero
    /// offset (RFC 791 §3.2).
    #[inline]
    pub const fn is_fragment(&self) -> bool {
        self.more_frags || self.frag_offset != 0
    }

    /// Header plus payload length.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Writes the header into `packet` and fills the checksum when
    /// `caps.ipv4.tx()` (otherwise writes zero for the device to fill).
    /// The payload is not touched.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when the buffer is shorter than
    /// [`header_len`](Self::header_len); [`Error::Malformed`] when
    /// [`buffer_len`](Self::buffer_len) exceeds 65535. Nothing is written then.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Ipv4Packet<T>,
        caps: &ChecksumCapabilities,
    ) -> Result<()> {
        let hl = self.header_len();
        if packet.buffer.as_ref().len() < hl {
            return Err(Error::Truncated);
        }
        let total = u16::try_from(self.buffer_len()).map_err(|_| Error::Malformed)?;
        let mut flags = 0;
        if self.dont_frag {
            flags |= Ipv4Flags::DONT_FRAGMENT.bits();
        }
        if self.more_frags {
            flags |= Ipv4Flags::MORE_FRAGMENTS.bits();
        }
        // The whole fixed header in one store; the length check above
        // guarantees the buffer holds it and the options.
        let (h, rest) =
            Ipv4Header::mut_from_prefix(packet.buffer.as_mut()).map_err(|_| Error::Truncated)?;
        *h = Ipv4Header {
            version_ihl: 0x40 | ((hl / 4) as u8 & 0x0f),
            dscp_ecn: (self.dscp << 2) | (self.ecn & 0x03),
            total_len: U16::new(total),
            ident: U16::new(self.ident),
            flags_frag_offset: U16::new(flags | (self.frag_offset >> 3)),
            ttl: self.hop_limit,
            protocol: self.next_header.into(),
            checksum: U16::ZERO,
            src_addr: self.src_addr.octets(),
            dst_addr: self.dst_addr.octets(),
        };
        let opts = self.options.as_bytes();
        if !opts.is_empty() {
            rest.get_mut(..opts.len())
                .ok_or(Error::Truncated)?
                .copy_from_slice(opts);
        }
        if caps.ipv4.tx() {
            packet.fill_checksum();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // ICMP echo request 10.0.0.1 -> 10.0.0.2, IP header with a Record Route
    // option built by hand: option type 7, length 11, pointer 4, two empty
    // slots, then End of Option List padding (RFC 791 §3.1).
    fn with_options() -> [u8; 40] {
        let mut b = [0u8; 40];
        b[..20].copy_from_slice(&[
            0x48, 0x00, 0x00, 0x28, 0xab, 0xcd, 0x20, 0x03, 0x40, 0x01, 0x00, 0x00, 10, 0, 0, 1,
            10, 0, 0, 2,
        ]);
        b[20..32].copy_from_slice(&[7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        b[32..40].copy_from_slice(&[8, 0, 0xf7, 0xff, 0, 0, 0, 0]);
        let c = checksum::checksum(&b[..32]);
        b[10..12].copy_from_slice(&c.to_be_bytes());
        b
    }

    #[test]
    fn options_and_fragment_fields() {
        let b = with_options();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.header_len(), 32);
        assert_eq!(p.options()[..3], [7, 11, 4]);
        assert!(p.more_frags() && !p.dont_frag() && p.is_fragment());
        assert_eq!(p.frag_offset(), 24);
        assert_eq!(p.ident(), 0xabcd);
        assert_eq!(p.payload().len(), 8);
        assert!(p.verify_checksum());
        let repr = Ipv4Repr::parse(&p, &ChecksumCapabilities::default()).unwrap();
        assert_eq!(repr.options.len(), 12);
        assert!(repr.is_fragment());
        assert_eq!(repr.payload_len, 8);
        let mut out = [0u8; 40];
        out[32..].copy_from_slice(&b[32..]);
        repr.emit(
            &mut Ipv4Packet::new_unchecked(&mut out[..]),
            &ChecksumCapabilities::default(),
        )
        .unwrap();
        assert_eq!(out, b);
    }

    #[test]
    fn length_errors() {
        let b = with_options();
        assert_eq!(
            Ipv4Packet::new_checked(&b[..19]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            Ipv4Packet::new_checked(&b[..39]).unwrap_err(),
            Error::Truncated
        );
        let mut bad = b;
        bad[0] = 0x44; // IHL 4
        assert_eq!(
            Ipv4Packet::new_checked(&bad[..]).unwrap_err(),
            Error::Malformed
        );
        let mut bad = b;
        bad[3] = 30; // total length inside the header
        assert_eq!(
            Ipv4Packet::new_checked(&bad[..]).unwrap_err(),
            Error::Malformed
        );
        let mut bad = b;
        bad[0] = 0x68; // version 6
        let caps = ChecksumCapabilities::default();
        assert_eq!(
            Ipv4Repr::parse(&Ipv4Packet::new_unchecked(&bad[..]), &caps).unwrap_err(),
            Error::Malformed
        );
        let mut bad = b;
        bad[13] ^= 1;
        assert_eq!(
            Ipv4Repr::parse(&Ipv4Packet::new_unchecked(&bad[..]), &caps).unwrap_err(),
            Error::Checksum
        );
        // With the checksum offloaded the same packet parses.
        assert!(
            Ipv4Repr::parse(
                &Ipv4Packet::new_unchecked(&bad[..]),
                &ChecksumCapabilities::offloaded()
            )
            .is_ok()
        );
        // Trailing bytes beyond the total length (Ethernet padding) are allowed.
        let mut long = [0u8; 60];
        long[..40].copy_from_slice(&b);
        assert_eq!(
            Ipv4Packet::new_checked(&long[..]).unwrap().payload().len(),
            8
        );
        assert!(Ipv4Options::new(&[0; 41]).is_err());
    }

    fn arb_repr() -> impl Strategy<Value = Ipv4Repr> {
        (
            (
                any::<[u8; 4]>(),
                any::<[u8; 4]>(),
                any::<u8>(),
                0usize..1500,
                any::<u8>(),
            ),
            (
                0u8..64,
                0u8..4,
                any::<u16>(),
                any::<bool>(),
                any::<bool>(),
                0u16..8192,
            ),
            proptest::collection::vec(any::<u8>(), 0..=40),
        )
            .prop_map(
                |((s, d, p, len, ttl), (dscp, ecn, ident, df, mf, off), opts)| Ipv4Repr {
                    src_addr: s.into(),
                    dst_addr: d.into(),
                    next_header: p.into(),
                    payload_len: len,
                    hop_limit: ttl,
                    dscp,
                    ecn,
                    ident,
                    dont_frag: df,
                    more_frags: mf,
                    frag_offset: off * 8,
                    options: Ipv4Options::new(&opts).unwrap(),
                },
            )
    }

    proptest! {
        #[test]
        fn repr_round_trip(repr in arb_repr()) {
            let mut buf = [0u8; 1600];
            let buf = &mut buf[..repr.buffer_len()];
            let caps = ChecksumCapabilities::default();
            repr.emit(&mut Ipv4Packet::new_unchecked(&mut *buf), &caps).unwrap();
            let p = Ipv4Packet::new_checked(&*buf).unwrap();
            prop_assert!(p.verify_checksum());
            let parsed = Ipv4Repr::parse(&p, &caps).unwrap();
            prop_assert_eq!(parsed, repr);
            let mut again = [0u8; 1600];
            parsed.emit(&mut Ipv4Packet::new_unchecked(&mut again[..repr.buffer_len()]), &caps).unwrap();
            prop_assert_eq!(&again[..repr.header_len()], &buf[..repr.header_len()]);
        }

        #[test]
        fn accessors_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            let p = Ipv4Packet::new_unchecked(&data[..]);
            let checked = p.check_len().is_ok();
            let _ = (p.version(), p.header_len(), p.dscp(), p.ecn(), p.total_len(), p.ident(), p.flags());
            let _ = (p.dont_frag(), p.more_frags(), p.frag_offset(), p.is_fragment(), p.hop_limit());
            let _ = (p.next_header(), p.checksum(), p.src_addr(), p.dst_addr(), p.verify_checksum());
            let (o, pl) = (p.options(), p.payload());
            if checked {
                prop_assert_eq!(o.len() + HEADER_LEN, p.header_len());
                prop_assert_eq!(pl.len() + p.header_len(), p.total_len() as usize);
            }
            let _ = Ipv4Repr::parse(&p, &ChecksumCapabilities::default());
            let mut copy = data.clone();
            let mut m = Ipv4Packet::new_unchecked(&mut copy[..]);
            m.fill_checksum();
            let _ = (m.options_mut().len(), m.payload_mut().len());
        }
    }
}
