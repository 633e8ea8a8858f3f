//! Ethernet II frames with an optional IEEE 802.1Q VLAN tag.
//!
//! # Layout
//!
//! ```text
//! 0      6      12        14       16        18
//! +------+------+---------+
//! | dst  | src  | type    | payload ...            (untagged)
//! +------+------+---------+--------+---------+
//! | dst  | src  | 0x8100  | TCI    | type    | payload ... (802.1Q)
//! +------+------+---------+--------+---------+
//! ```
//!
//! [`EthernetFrame::ethertype`] is the field at offset 12; for a tagged frame
//! it is the tag protocol identifier and [`EthernetFrame::payload_ethertype`]
//! gives the type after the tag.

use core::fmt;

use zerocopy::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::view;
use crate::{Error, Result};

/// A 48-bit Ethernet MAC address.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(transparent)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// The broadcast address, `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);

    /// The address in `bytes`, which must be exactly six bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<EthernetAddress> {
        bytes
            .try_into()
            .map(EthernetAddress)
            .map_err(|_| Error::Malformed)
    }

    /// The six octets.
    #[inline]
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// True for an individual (not group) address that is not all zeros.
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast() && !matches!(self.0, [0, 0, 0, 0, 0, 0])
    }

    /// True when the IEEE 802 I/G (group) bit, the least significant bit of
    /// the first octet, is set; broadcast is a multicast address.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// True for `ff:ff:ff:ff:ff:ff`.
    pub const fn is_broadcast(&self) -> bool {
        matches!(self.0, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
    }

    /// True when the U/L bit (second least significant bit of the first
    /// octet) marks a locally administered address.
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// An EtherType (IEEE 802.3 Length/Type field values ≥ 0x0600).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EtherType {
    /// IPv4, 0x0800.
    Ipv4,
    /// ARP, 0x0806.
    Arp,
    /// IEEE 802.1Q customer VLAN tag, 0x8100.
    Vlan,
    /// IPv6, 0x86DD.
    Ipv6,
    /// IEEE 802.1ad service VLAN tag (Q-in-Q outer tag), 0x88A8.
    QinQ,
    /// Any other value.
    Unknown(u16),
}

impl From<u16> for EtherType {
    #[inline]
    fn from(v: u16) -> Self {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x8100 => EtherType::Vlan,
            0x86dd => EtherType::Ipv6,
            0x88a8 => EtherType::QinQ,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    #[inline]
    fn from(t: EtherType) -> u16 {
        match t {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Vlan => 0x8100,
            EtherType::Ipv6 => 0x86dd,
            EtherType::QinQ => 0x88a8,
            EtherType::Unknown(v) => v,
        }
    }
}

impl EtherType {
    /// True for a VLAN tag protocol identifier (0x8100 or 0x88A8).
    #[inline]
    pub const fn is_vlan_tpid(self) -> bool {
        matches!(self, EtherType::Vlan | EtherType::QinQ)
    }
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EtherType::Unknown(v) => write!(f, "0x{v:04x}"),
            other => fmt::Debug::fmt(other, f),
        }
    }
}

/// The Tag Control Information of an 802.1Q tag: priority, drop eligible
/// indicator and VLAN identifier (IEEE 802.1Q-2018 §9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct VlanTci {
    /// Priority code point, 3 bits.
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN identifier, 12 bits.
    pub vid: u16,
}

impl VlanTci {
    /// Splits the 16-bit TCI field.
    #[inline]
    pub const fn from_bits(tci: u16) -> VlanTci {
        VlanTci {
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0x0fff,
        }
    }

    /// The 16-bit TCI field; bits beyond each field's width are dropped.
    #[inline]
    pub const fn to_bits(self) -> u16 {
        ((self.pcp as u16 & 0x7) << 13) | ((self.dei as u16) << 12) | (self.vid & 0x0fff)
    }
}

/// The fixed 14-byte Ethernet II header.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct EthernetHeader {
    /// Destination address.
    pub dst_addr: EthernetAddress,
    /// Source address.
    pub src_addr: EthernetAddress,
    /// EtherType, or a VLAN TPID.
    pub ethertype: U16,
}

/// The 4 bytes that follow a VLAN TPID: TCI and the encapsulated EtherType.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct VlanHeader {
    /// Tag control information.
    pub tci: U16,
    /// EtherType of the payload.
    pub ethertype: U16,
}

const _: () = assert!(size_of::<EthernetHeader>() == 14);
const _: () = assert!(size_of::<VlanHeader>() == 4);

mod field {
    // The layout assertions below are these constants' check; rustc before
    // 1.88 does not count a use inside an anonymous const as a use.
    #![allow(dead_code)]

    use core::ops::Range;

    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const TCI: Range<usize> = 14..16;
    pub const INNER_ETHERTYPE: Range<usize> = 16..18;
    pub const HEADER_LEN: usize = 14;
    pub const TAGGED_HEADER_LEN: usize = 18;

    use super::{EthernetHeader, VlanHeader};
    use core::mem::offset_of;
    const _: () = assert!(offset_of!(EthernetHeader, dst_addr) == DESTINATION.start);
    const _: () = assert!(offset_of!(EthernetHeader, src_addr) == SOURCE.start);
    const _: () = assert!(offset_of!(EthernetHeader, ethertype) == ETHERTYPE.start);
    const _: () = assert!(HEADER_LEN + offset_of!(VlanHeader, tci) == TCI.start);
    const _: () = assert!(HEADER_LEN + offset_of!(VlanHeader, ethertype) == INNER_ETHERTYPE.start);
    const _: () = assert!(INNER_ETHERTYPE.end == TAGGED_HEADER_LEN);
}

/// Length of an untagged Ethernet II header.
pub const HEADER_LEN: usize = field::HEADER_LEN;
/// Length of an Ethernet II header with one 802.1Q tag.
pub const TAGGED_HEADER_LEN: usize = field::TAGGED_HEADER_LEN;

const ZERO_HEADER: EthernetHeader = EthernetHeader {
    dst_addr: EthernetAddress([0; 6]),
    src_addr: EthernetAddress([0; 6]),
    ethertype: U16::ZERO,
};

/// A read/write view of an Ethernet II frame in a buffer.
///
/// After [`check_len`](Self::check_len) succeeds (as it has for
/// [`new_checked`](Self::new_checked)) no accessor panics and every field
/// lies inside the buffer. Accessors and setters never panic on an unchecked
/// buffer either: fields beyond its end read as zero, and writes to them are
/// dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buffer` without checking its length.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> EthernetFrame<T> {
        EthernetFrame { buffer }
    }

    /// Wraps `buffer` and checks its length with [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<EthernetFrame<T>> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// Checks that the buffer holds the header, including the VLAN tag when
    /// the EtherType field is a VLAN TPID.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when it does not.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || (self.is_tagged() && len < TAGGED_HEADER_LEN) {
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

    /// The fixed 14-byte header as a zero-copy struct.
    #[inline]
    pub fn header(&self) -> &EthernetHeader {
        view::header(self.buffer.as_ref(), &ZERO_HEADER)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> EthernetAddress {
        self.header().dst_addr
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> EthernetAddress {
        self.header().src_addr
    }

    /// The EtherType field at offset 12 (a TPID for a tagged frame).
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(self.header().ethertype.get())
    }

    /// True when the field at offset 12 is a VLAN TPID (0x8100 or 0x88A8).
    #[inline]
    pub fn is_tagged(&self) -> bool {
        matches!(self.header().ethertype.get(), 0x8100 | 0x88a8)
    }

    fn vlan_header(&self) -> Option<&VlanHeader> {
        let rest = self.buffer.as_ref().get(HEADER_LEN..)?;
        VlanHeader::ref_from_prefix(rest).ok().map(|(h, _)| h)
    }

    /// The VLAN tag's TCI, if the frame is tagged.
    #[inline]
    pub fn vlan(&self) -> Option<VlanTci> {
        if self.is_tagged() {
            self.vlan_header().map(|v| VlanTci::from_bits(v.tci.get()))
        } else {
            None
        }
    }

    /// The EtherType of the payload: after the tag when tagged.
    #[inline]
    pub fn payload_ethertype(&self) -> EtherType {
        if self.is_tagged() {
            EtherType::from(self.vlan_header().map_or(0, |v| v.ethertype.get()))
        } else {
            self.ethertype()
        }
    }

    /// Header length: 14, or 18 with a VLAN tag.
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            TAGGED_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Everything after the header (and tag).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        view::slice(b, self.header_len(), b.len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// The fixed header for writing; `None` when the buffer is too short.
    #[inline]
    pub fn header_mut(&mut self) -> Option<&mut EthernetHeader> {
        view::header_mut(self.buffer.as_mut())
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: EthernetAddress) {
        if let Some(h) = self.header_mut() {
            h.dst_addr = addr;
        }
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: EthernetAddress) {
        if let Some(h) = self.header_mut() {
            h.src_addr = addr;
        }
    }

    /// Sets the EtherType field at offset 12.
    #[inline]
    pub fn set_ethertype(&mut self, t: EtherType) {
        if let Some(h) = self.header_mut() {
            h.ethertype.set(t.into());
        }
    }

    /// Writes an 802.1Q tag: TPID 0x8100 at offset 12, then `tci` and the
    /// payload's EtherType.
    pub fn set_vlan(&mut self, tci: VlanTci, payload_type: EtherType) {
        self.set_ethertype(EtherType::Vlan);
        if let Some(rest) = self.buffer.as_mut().get_mut(HEADER_LEN..) {
            if let Some(v) = view::header_mut::<VlanHeader>(rest) {
                v.tci.set(tci.to_bits());
                v.ethertype.set(payload_type.into());
            }
        }
    }

    /// Everything after the header (and tag), for writing.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        let b = self.buffer.as_mut();
        let len = b.len();
        view::slice_mut(b, start, len)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for EthernetFrame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The header fields of an Ethernet II frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EthernetRepr {
    /// Source address.
    pub src_addr: EthernetAddress,
    /// Destination address.
    pub dst_addr: EthernetAddress,
    /// The 802.1Q tag, if any.
    pub vlan: Option<VlanTci>,
    /// The payload's EtherType (after the tag, if any).
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads the header of a frame.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when the buffer cannot hold the header.
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Result<EthernetRepr> {
        frame.check_len()?;
        Ok(EthernetRepr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            vlan: frame.vlan(),
            ethertype: frame.payload_ethertype(),
        })
    }

    /// Header length: 14, or 18 with a VLAN tag.
    #[inline]
    pub const fn header_len(&self) -> usize {
        if self.vlan.is_some() {
            TAGGED_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// The buffer length the header needs (the payload is not part of the repr).
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        self.header_len()
    }

    /// Writes the header into `frame`.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when the buffer is shorter than
    /// [`header_len`](Self::header_len); nothing is written then.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut EthernetFrame<T>) -> Result<()> {
        if frame.buffer.as_ref().len() < self.header_len() {
            return Err(Error::Truncated);
        }
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        match self.vlan {
            Some(tci) => frame.set_vlan(tci, self.ethertype),
            None => frame.set_ethertype(self.ethertype),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::ToString;

    // An ARP request broadcast, captured with tcpdump -xx on a veth pair
    // (see tests/fixtures.rs); only the Ethernet header matters here.
    const UNTAGGED: [u8; 16] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0xaa,
        0xbb,
    ];

    #[test]
    fn untagged_fields() {
        let f = EthernetFrame::new_checked(&UNTAGGED[..]).unwrap();
        assert!(f.dst_addr().is_broadcast());
        assert_eq!(f.src_addr(), EthernetAddress([2, 0, 0, 0, 0, 1]));
        assert!(f.src_addr().is_local() && f.src_addr().is_unicast());
        assert_eq!(f.ethertype(), EtherType::Arp);
        assert_eq!(f.payload_ethertype(), EtherType::Arp);
        assert_eq!(f.vlan(), None);
        assert_eq!(f.payload(), &[0xaa, 0xbb]);
        assert_eq!(f.src_addr().to_string(), "02:00:00:00:00:01");
    }

    #[test]
    fn tagged_fields_and_truncation() {
        let mut buf = [0u8; 20];
        let repr = EthernetRepr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            dst_addr: EthernetAddress::BROADCAST,
            vlan: Some(VlanTci {
                pcp: 5,
                dei: true,
                vid: 100,
            }),
            ethertype: EtherType::Ipv4,
        };
        repr.emit(&mut EthernetFrame::new_unchecked(&mut buf[..]))
            .unwrap();
        assert_eq!(&buf[12..18], &[0x81, 0x00, 0xb0, 0x64, 0x08, 0x00]);
        let f = EthernetFrame::new_checked(&buf[..]).unwrap();
        assert_eq!(f.header_len(), 18);
        assert_eq!(f.payload().len(), 2);
        assert_eq!(EthernetRepr::parse(&f).unwrap(), repr);
        // A TPID with the tag cut off is truncated.
        assert_eq!(
            EthernetFrame::new_checked(&buf[..17]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            EthernetFrame::new_checked(&buf[..13]).unwrap_err(),
            Error::Truncated
        );
        // Emitting into too small a buffer fails and writes nothing.
        let mut small = [0u8; 17];
        assert_eq!(
            repr.emit(&mut EthernetFrame::new_unchecked(&mut small[..])),
            Err(Error::Truncated)
        );
        assert_eq!(small, [0u8; 17]);
    }

    #[test]
    fn unchecked_short_buffer_reads_zero() {
        let f = EthernetFrame::new_unchecked(&[1u8, 2, 3][..]);
        assert_eq!(f.ethertype(), EtherType::Unknown(0));
        assert_eq!(f.dst_addr(), EthernetAddress::default());
        assert_eq!(f.payload(), &[] as &[u8]);
        let mut b = [0u8; 3];
        let mut f = EthernetFrame::new_unchecked(&mut b[..]);
        f.set_src_addr(EthernetAddress::BROADCAST);
        f.set_vlan(VlanTci::default(), EtherType::Ipv4);
        assert_eq!(f.payload_mut().len(), 0);
    }

    #[test]
    fn ethertype_and_tci_round_trip() {
        for v in [0x0800u16, 0x0806, 0x8100, 0x86dd, 0x88a8, 0x1234] {
            assert_eq!(u16::from(EtherType::from(v)), v);
        }
        for t in [0u16, 0xffff, 0x1064, 0xe001] {
            assert_eq!(VlanTci::from_bits(t).to_bits(), t);
        }
        assert!(EthernetAddress::from_bytes(&[1, 2, 3]).is_err());
        assert!(EthernetAddress([1, 0, 0, 0, 0, 0]).is_multicast());
    }

    fn arb_repr() -> impl Strategy<Value = EthernetRepr> {
        (
            any::<[u8; 6]>(),
            any::<[u8; 6]>(),
            proptest::option::of(any::<u16>()),
            any::<u16>(),
        )
            .prop_map(|(s, d, tci, t)| EthernetRepr {
                src_addr: EthernetAddress(s),
                dst_addr: EthernetAddress(d),
                vlan: tci.map(VlanTci::from_bits),
                ethertype: EtherType::from(t),
            })
    }

    proptest! {
        #[test]
        fn repr_round_trip(repr in arb_repr(), extra in 0usize..4) {
            // A payload EtherType that is itself a TPID would need a second tag.
            prop_assume!(repr.vlan.is_some() || !repr.ethertype.is_vlan_tpid());
            let mut buf = [0u8; 24];
            let len = repr.buffer_len() + extra;
            repr.emit(&mut EthernetFrame::new_unchecked(&mut buf[..len])).unwrap();
            let f = EthernetFrame::new_checked(&buf[..len]).unwrap();
            let parsed = EthernetRepr::parse(&f).unwrap();
            prop_assert_eq!(parsed, repr);
            prop_assert_eq!(f.payload().len(), extra);
        }

        #[test]
        fn accessors_never_panic(data in proptest::collection::vec(any::<u8>(), 0..32)) {
            let f = EthernetFrame::new_unchecked(&data[..]);
            let checked = f.check_len().is_ok();
            let _ = (f.dst_addr(), f.src_addr(), f.ethertype(), f.vlan(), f.payload_ethertype(), f.header_len());
            let p = f.payload();
            if checked {
                prop_assert_eq!(p.len() + f.header_len(), data.len());
                let _ = EthernetRepr::parse(&f).unwrap();
            } else {
                prop_assert!(EthernetRepr::parse(&f).is_err());
            }
        }
    }
}
