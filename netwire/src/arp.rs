//! ARP for IPv4 over Ethernet (RFC 826).
//!
//! # Layout
//!
//! ```text
//! 0       2       4    5    6       8        14      18       24      28
//! +-------+-------+----+----+-------+--------+-------+--------+-------+
//! | htype | ptype |hlen|plen| oper  |  sha   |  spa  |  tha   |  tpa  |
//! +-------+-------+----+----+-------+--------+-------+--------+-------+
//! ```

use core::net::Ipv4Addr;

use zerocopy::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::ethernet::{EtherType, EthernetAddress};
use crate::view;
use crate::{Error, Result};

/// ARP hardware type for Ethernet (IANA "Hardware Types", RFC 826).
pub const HTYPE_ETHERNET: u16 = 1;

/// An ARP operation code (IANA "ARP Operation Codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ArpOperation {
    /// Request (1).
    Request,
    /// Reply (2).
    Reply,
    /// Any other code.
    Unknown(u16),
}

impl From<u16> for ArpOperation {
    #[inline]
    fn from(v: u16) -> Self {
        match v {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            other => ArpOperation::Unknown(other),
        }
    }
}

impl From<ArpOperation> for u16 {
    #[inline]
    fn from(op: ArpOperation) -> u16 {
        match op {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Unknown(v) => v,
        }
    }
}

/// An Ethernet/IPv4 ARP packet, 28 bytes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct ArpHeader {
    /// Hardware type (1 for Ethernet).
    pub htype: U16,
    /// Protocol type (an EtherType, 0x0800 for IPv4).
    pub ptype: U16,
    /// Hardware address length (6).
    pub hlen: u8,
    /// Protocol address length (4).
    pub plen: u8,
    /// Operation.
    pub oper: U16,
    /// Sender hardware address.
    pub sha: EthernetAddress,
    /// Sender protocol address.
    pub spa: [u8; 4],
    /// Target hardware address.
    pub tha: EthernetAddress,
    /// Target protocol address.
    pub tpa: [u8; 4],
}

const _: () = assert!(size_of::<ArpHeader>() == 28);

mod field {
    // The layout assertions below are these constants' check; rustc before
    // 1.88 does not count a use inside an anonymous const as a use.
    #![allow(dead_code)]

    use core::ops::Range;

    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
    pub const PACKET_LEN: usize = 28;

    use super::ArpHeader as H;
    use core::mem::offset_of;
    const _: () = assert!(offset_of!(H, htype) == HTYPE.start);
    const _: () = assert!(offset_of!(H, ptype) == PTYPE.start);
    const _: () = assert!(offset_of!(H, hlen) == HLEN);
    const _: () = assert!(offset_of!(H, plen) == PLEN);
    const _: () = assert!(offset_of!(H, oper) == OPER.start);
    const _: () = assert!(offset_of!(H, sha) == SHA.start);
    const _: () = assert!(offset_of!(H, spa) == SPA.start);
    const _: () = assert!(offset_of!(H, tha) == THA.start);
    const _: () = assert!(offset_of!(H, tpa) == TPA.start);
    const _: () = assert!(TPA.end == PACKET_LEN);
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = field::PACKET_LEN;

const ZERO_HEADER: ArpHeader = ArpHeader {
    htype: U16::ZERO,
    ptype: U16::ZERO,
    hlen: 0,
    plen: 0,
    oper: U16::ZERO,
    sha: EthernetAddress([0; 6]),
    spa: [0; 4],
    tha: EthernetAddress([0; 6]),
    tpa: [0; 4],
};

/// A read/write view of an Ethernet/IPv4 ARP packet.
///
/// The address fields are read at the Ethernet/IPv4 offsets; check
/// [`hardware_type`](Self::hardware_type) and friends (or use
/// [`ArpRepr::parse`]) before trusting them. After
/// [`check_len`](Self::check_len) no accessor panics; on an unchecked short
/// buffer fields read as zero and writes are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps `buffer` without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> ArpPacket<T> {
        ArpPacket { buffer }
    }

    /// Wraps `buffer` and checks it with [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<ArpPacket<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the buffer holds the 28 bytes (longer is allowed:
    /// Ethernet pads short frames).
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when it does not.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < PACKET_LEN {
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

    /// The packet as a zero-copy struct.
    #[inline]
    pub fn header(&self) -> &ArpHeader {
        view::header(self.buffer.as_ref(), &ZERO_HEADER)
    }

    /// Hardware type.
    #[inline]
    pub fn hardware_type(&self) -> u16 {
        self.header().htype.get()
    }

    /// Protocol type.
    #[inline]
    pub fn protocol_type(&self) -> EtherType {
        EtherType::from(self.header().ptype.get())
    }

    /// Hardware address length.
    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.header().hlen
    }

    /// Protocol address length.
    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.header().plen
    }

    /// Operation.
    #[inline]
    pub fn operation(&self) -> ArpOperation {
        ArpOperation::from(self.header().oper.get())
    }

    /// Sender hardware address.
    #[inline]
    pub fn sender_hardware_addr(&self) -> EthernetAddress {
        self.header().sha
    }

    /// Sender protocol address.
    #[inline]
    pub fn sender_protocol_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.header().spa)
    }

    /// Target hardware address.
    #[inline]
    pub fn target_hardware_addr(&self) -> EthernetAddress {
        self.header().tha
    }

    /// Target protocol address.
    #[inline]
    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.header().tpa)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// The packet for writing; `None` when the buffer is too short.
    #[inline]
    pub fn header_mut(&mut self) -> Option<&mut ArpHeader> {
        view::header_mut(self.buffer.as_mut())
    }

    /// Writes the Ethernet/IPv4 type and length fields.
    pub fn set_ethernet_ipv4(&mut self) {
        if let Some(h) = self.header_mut() {
            h.htype.set(HTYPE_ETHERNET);
            h.ptype.set(EtherType::Ipv4.into());
            h.hlen = 6;
            h.plen = 4;
        }
    }

    /// Sets the operation.
    #[inline]
    pub fn set_operation(&mut self, op: ArpOperation) {
        if let Some(h) = self.header_mut() {
            h.oper.set(op.into());
        }
    }

    /// Sets the sender hardware address.
    #[inline]
    pub fn set_sender_hardware_addr(&mut self, a: EthernetAddress) {
        if let Some(h) = self.header_mut() {
            h.sha = a;
        }
    }

    /// Sets the sender protocol address.
    #[inline]
    pub fn set_sender_protocol_addr(&mut self, a: Ipv4Addr) {
        if let Some(h) = self.header_mut() {
            h.spa = a.octets();
        }
    }

    /// Sets the target hardware address.
    #[inline]
    pub fn set_target_hardware_addr(&mut self, a: EthernetAddress) {
        if let Some(h) = self.header_mut() {
            h.tha = a;
        }
    }

    /// Sets the target protocol address.
    #[inline]
    pub fn set_target_protocol_addr(&mut self, a: Ipv4Addr) {
        if let Some(h) = self.header_mut() {
            h.tpa = a.octets();
        }
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for ArpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// An Ethernet/IPv4 ARP packet's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ArpRepr {
    /// Operation.
    pub operation: ArpOperation,
    /// Sender hardware address.
    pub sender_hardware_addr: EthernetAddress,
    /// Sender protocol address.
    pub sender_protocol_addr: Ipv4Addr,
    /// Target hardware address.
    pub target_hardware_addr: EthernetAddress,
    /// Target protocol address.
    pub target_protocol_addr: Ipv4Addr,
}

impl ArpRepr {
    /// Reads an Ethernet/IPv4 ARP packet.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when shorter than 28 bytes;
    /// [`Error::Unsupported`] for other hardware or protocol types, or
    /// address lengths other than 6 and 4.
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<ArpRepr> {
        packet.check_len()?;
        if packet.hardware_type() != HTYPE_ETHERNET
            || packet.protocol_type() != EtherType::Ipv4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(Error::Unsupported);
        }
        Ok(ArpRepr {
            operation: packet.operation(),
            sender_hardware_addr: packet.sender_hardware_addr(),
            sender_protocol_addr: packet.sender_protocol_addr(),
            target_hardware_addr: packet.target_hardware_addr(),
            target_protocol_addr: packet.target_protocol_addr(),
        })
    }

    /// Length on the wire: 28.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Same as [`buffer_len`](Self::buffer_len): ARP is all header.
    #[inline]
    pub const fn header_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the packet into `packet`.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when the buffer is shorter than 28 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ArpPacket<T>) -> Result<()> {
        packet.check_len()?;
        packet.set_ethernet_ipv4();
        packet.set_operation(self.operation);
        packet.set_sender_hardware_addr(self.sender_hardware_addr);
        packet.set_sender_protocol_addr(self.sender_protocol_addr);
        packet.set_target_hardware_addr(self.target_hardware_addr);
        packet.set_target_protocol_addr(self.target_protocol_addr);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ethernet::EthernetFrame;
    use crate::frames;
    use proptest::prelude::*;

    #[test]
    fn captured_request_and_reply() {
        let eth = EthernetFrame::new_checked(&frames::ARP_REQUEST[..]).unwrap();
        assert_eq!(eth.ethertype(), EtherType::Arp);
        let p = ArpPacket::new_checked(eth.payload()).unwrap();
        let r = ArpRepr::parse(&p).unwrap();
        assert_eq!(r.operation, ArpOperation::Request);
        assert_eq!(r.sender_hardware_addr, EthernetAddress([2, 0, 0, 0, 0, 1]));
        assert_eq!(r.sender_protocol_addr, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(r.target_hardware_addr, EthernetAddress([0; 6]));
        assert_eq!(r.target_protocol_addr, Ipv4Addr::new(10, 0, 0, 2));
        let mut out = [0u8; 28];
        r.emit(&mut ArpPacket::new_unchecked(&mut out[..])).unwrap();
        assert_eq!(&out[..], eth.payload());

        let eth = EthernetFrame::new_checked(&frames::ARP_REPLY[..]).unwrap();
        let r = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
        assert_eq!(r.operation, ArpOperation::Reply);
        assert_eq!(r.sender_hardware_addr, EthernetAddress([2, 0, 0, 0, 0, 2]));
    }

    #[test]
    fn errors() {
        let payload = &frames::ARP_REQUEST[14..];
        assert_eq!(
            ArpPacket::new_checked(&payload[..27]).unwrap_err(),
            Error::Truncated
        );
        let mut other = [0u8; 28];
        other.copy_from_slice(payload);
        other[1] = 6; // IEEE 802 hardware type
        assert_eq!(
            ArpRepr::parse(&ArpPacket::new_unchecked(&other[..])),
            Err(Error::Unsupported)
        );
        let mut small = [0u8; 27];
        let r = ArpRepr::parse(&ArpPacket::new_unchecked(payload)).unwrap();
        assert_eq!(
            r.emit(&mut ArpPacket::new_unchecked(&mut small[..])),
            Err(Error::Truncated)
        );
        for v in [0u16, 1, 2, 3, 0xffff] {
            assert_eq!(u16::from(ArpOperation::from(v)), v);
        }
    }

    proptest! {
        #[test]
        fn repr_round_trip(op: u16, sha: [u8; 6], spa: [u8; 4], tha: [u8; 6], tpa: [u8; 4]) {
            let r = ArpRepr {
                operation: op.into(),
                sender_hardware_addr: EthernetAddress(sha),
                sender_protocol_addr: spa.into(),
                target_hardware_addr: EthernetAddress(tha),
                target_protocol_addr: tpa.into(),
            };
            let mut out = [0u8; 28];
            r.emit(&mut ArpPacket::new_unchecked(&mut out[..])).unwrap();
            prop_assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(&out[..]).unwrap()).unwrap(), r);
        }

        #[test]
        fn accessors_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            let p = ArpPacket::new_unchecked(&data[..]);
            let _ = (p.hardware_type(), p.protocol_type(), p.hardware_len(), p.protocol_len(), p.operation());
            let _ = (p.sender_hardware_addr(), p.sender_protocol_addr(), p.target_hardware_addr(), p.target_protocol_addr());
            let _ = ArpRepr::parse(&p);
            prop_assert_eq!(p.check_len().is_ok(), data.len() >= 28);
        }
    }
}
