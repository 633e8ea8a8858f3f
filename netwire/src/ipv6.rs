//! The IPv6 fixed header (RFC 8200 §3).
//!
//! # Layout
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! |                 Source Address (128 bits)                     |
//! |              Destination Address (128 bits)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Extension headers are not decoded here: [`Ipv6Packet::payload`] starts
//! right after the fixed header, at whatever `next_header` names.

use core::net::Ipv6Addr;

use zerocopy::network_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::ip::IpProtocol;
use crate::view;
use crate::{Error, Result};

/// The 40-byte IPv6 fixed header.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct Ipv6Header {
    /// Version (4 bits), traffic class (8 bits), flow label (20 bits).
    pub version_tc_flow: U32,
    /// Length of everything after the fixed header.
    pub payload_len: U16,
    /// Type of the next header.
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Source address.
    pub src_addr: [u8; 16],
    /// Destination address.
    pub dst_addr: [u8; 16],
}

const _: () = assert!(size_of::<Ipv6Header>() == 40);

mod field {
    // The layout assertions below are these constants' check; rustc before
    // 1.88 does not count a use inside an anonymous const as a use.
    #![allow(dead_code)]

    use core::ops::Range;

    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Range<usize> = 8..24;
    pub const DST_ADDR: Range<usize> = 24..40;
    pub const HEADER_LEN: usize = 40;

    use super::Ipv6Header as H;
    use core::mem::offset_of;
    const _: () = assert!(offset_of!(H, version_tc_flow) == VER_TC_FLOW.start);
    const _: () = assert!(offset_of!(H, payload_len) == LENGTH.start);
    const _: () = assert!(offset_of!(H, next_header) == NXT_HDR);
    const _: () = assert!(offset_of!(H, hop_limit) == HOP_LIMIT);
    const _: () = assert!(offset_of!(H, src_addr) == SRC_ADDR.start);
    const _: () = assert!(offset_of!(H, dst_addr) == DST_ADDR.start);
    const _: () = assert!(DST_ADDR.end == HEADER_LEN);
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = field::HEADER_LEN;

const ZERO_HEADER: Ipv6Header = Ipv6Header {
    version_tc_flow: U32::ZERO,
    payload_len: U16::ZERO,
    next_header: 0,
    hop_limit: 0,
    src_addr: [0; 16],
    dst_addr: [0; 16],
};

/// A read/write view of an IPv6 packet.
///
/// After [`check_len`](Self::check_len) succeeds no accessor panics and the
/// payload length fits in the buffer. On an unchecked buffer fields beyond
/// its end read as zero, slices outside it are empty, and writes are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps `buffer` without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Ipv6Packet<T> {
        Ipv6Packet { buffer }
    }

    /// Wraps `buffer` and checks it with [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Ipv6Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the buffer holds the fixed header and the payload length.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when it does not.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || HEADER_LEN + self.payload_len() as usize > len {
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

    /// The fixed header as a zero-copy struct.
    #[inline]
    pub fn header(&self) -> &Ipv6Header {
        view::header(self.buffer.as_ref(), &ZERO_HEADER)
    }

    /// Version (6 for a valid packet).
    #[inline]
    pub fn version(&self) -> u8 {
        (self.header().version_tc_flow.get() >> 28) as u8
    }

    /// Traffic class.
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.header().version_tc_flow.get() >> 20) as u8
    }

    /// Flow label (20 bits, RFC 6437).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.header().version_tc_flow.get() & 0x000f_ffff
    }

    /// Payload length.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        self.header().payload_len.get()
    }

    /// Next header.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.header().next_header)
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.header().hop_limit
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.header().src_addr)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.header().dst_addr)
    }

    /// The payload: `payload_len` bytes after the fixed header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        view::slice(
            self.buffer.as_ref(),
            HEADER_LEN,
            HEADER_LEN + self.payload_len() as usize,
        )
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// The fixed header for writing; `None` when the buffer is too short.
    #[inline]
    pub fn header_mut(&mut self) -> Option<&mut Ipv6Header> {
        view::header_mut(self.buffer.as_mut())
    }

    /// Sets version 6, the traffic class and the flow label (low 20 bits).
    #[inline]
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        if let Some(h) = self.header_mut() {
            h.version_tc_flow
                .set((6 << 28) | ((traffic_class as u32) << 20) | (flow_label & 0x000f_ffff));
        }
    }

    /// Sets the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, v: u16) {
        if let Some(h) = self.header_mut() {
            h.payload_len.set(v);
        }
    }

    /// Sets the next header.
    #[inline]
    pub fn set_next_header(&mut self, v: IpProtocol) {
        if let Some(h) = self.header_mut() {
            h.next_header = v.into();
        }
    }

    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, v: u8) {
        if let Some(h) = self.header_mut() {
            h.hop_limit = v;
        }
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        if let Some(h) = self.header_mut() {
            h.src_addr = a.octets();
        }
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        if let Some(h) = self.header_mut() {
            h.dst_addr = a.octets();
        }
    }

    /// The payload for writing.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + self.payload_len() as usize;
        view::slice_mut(self.buffer.as_mut(), HEADER_LEN, end)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv6Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The fixed-header fields of an IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ipv6Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Next header.
    pub next_header: IpProtocol,
    /// Payload length.
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label, 20 bits.
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// Reads the fixed header.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] from [`check_len`](Ipv6Packet::check_len);
    /// [`Error::Malformed`] when the version is not 6.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Result<Ipv6Repr> {
        packet.check_len()?;
        if packet.version() != 6 {
            return Err(Error::Malformed);
        }
        Ok(Ipv6Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: packet.payload_len() as usize,
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// Fixed header length: 40.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload length.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the fixed header into `packet`.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when the buffer is shorter than 40 bytes;
    /// [`Error::Malformed`] when the payload length exceeds 65535 (jumbograms,
    /// RFC 2675, are not supported).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv6Packet<T>) -> Result<()> {
        if packet.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = u16::try_from(self.payload_len).map_err(|_| Error::Malformed)?;
        packet.set_version_tc_flow(self.traffic_class, self.flow_label);
        packet.set_payload_len(len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ethernet::{EtherType, EthernetFrame};
    use crate::frames;
    use proptest::prelude::*;

    #[test]
    fn captured_udp_over_ipv6() {
        let eth = EthernetFrame::new_checked(&frames::UDP_IPV6[..]).unwrap();
        assert_eq!(eth.ethertype(), EtherType::Ipv6);
        let p = Ipv6Packet::new_checked(eth.payload()).unwrap();
        let r = Ipv6Repr::parse(&p).unwrap();
        assert_eq!(r.src_addr, "fd00::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(r.dst_addr, "fd00::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(r.next_header, IpProtocol::Udp);
        assert_eq!(
            (r.payload_len, r.hop_limit, r.flow_label, r.traffic_class),
            (15, 64, 0xcf024, 0)
        );
        let mut out = [0u8; 55];
        out[40..].copy_from_slice(p.payload());
        r.emit(&mut Ipv6Packet::new_unchecked(&mut out[..]))
            .unwrap();
        assert_eq!(&out[..], eth.payload());
        assert_eq!(
            Ipv6Packet::new_checked(&eth.payload()[..54]).unwrap_err(),
            Error::Truncated
        );
        let mut bad = out;
        bad[0] = 0x40;
        assert_eq!(
            Ipv6Repr::parse(&Ipv6Packet::new_unchecked(&bad[..])),
            Err(Error::Malformed)
        );
    }

    proptest! {
        #[test]
        fn repr_round_trip(s: [u8; 16], d: [u8; 16], nh: u8, len in 0usize..100, hl: u8, tc: u8, fl in 0u32..(1 << 20)) {
            let r = Ipv6Repr {
                src_addr: s.into(), dst_addr: d.into(), next_header: nh.into(), payload_len: len,
                hop_limit: hl, traffic_class: tc, flow_label: fl,
            };
            let mut out = [0u8; 140];
            r.emit(&mut Ipv6Packet::new_unchecked(&mut out[..r.buffer_len()])).unwrap();
            let p = Ipv6Packet::new_checked(&out[..r.buffer_len()]).unwrap();
            prop_assert_eq!(Ipv6Repr::parse(&p).unwrap(), r);
            prop_assert_eq!(p.payload().len(), len);
        }

        #[test]
        fn accessors_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            let p = Ipv6Packet::new_unchecked(&data[..]);
            let _ = (p.version(), p.traffic_class(), p.flow_label(), p.payload_len(), p.next_header());
            let _ = (p.hop_limit(), p.src_addr(), p.dst_addr(), Ipv6Repr::parse(&p));
            let pl = p.payload();
            if p.check_len().is_ok() {
                prop_assert_eq!(pl.len(), p.payload_len() as usize);
            }
        }
    }
}
