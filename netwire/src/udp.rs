//! UDP datagrams (RFC 768).
//!
//! # Layout
//!
//! ```text
//! 0      2      4      6      8
//! +------+------+------+------+
//! | sport| dport|length| csum | data ...
//! +------+------+------+------+
//! ```

use core::net::IpAddr;

use zerocopy::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::checksum::{self, ChecksumCapabilities};
use crate::ip::IpProtocol;
use crate::view;
use crate::{Error, Result};

/// The 8-byte UDP header.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct UdpHeader {
    /// Source port.
    pub src_port: U16,
    /// Destination port.
    pub dst_port: U16,
    /// Length of header and data.
    pub len: U16,
    /// Checksum (0: none, IPv4 only).
    pub checksum: U16,
}

const _: () = assert!(size_of::<UdpHeader>() == 8);

mod field {
    // The layout assertions below are these constants' check; rustc before
    // 1.88 does not count a use inside an anonymous const as a use.
    #![allow(dead_code)]

    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
    pub const HEADER_LEN: usize = 8;

    use super::UdpHeader as H;
    use core::mem::offset_of;
    const _: () = assert!(offset_of!(H, src_port) == SRC_PORT.start);
    const _: () = assert!(offset_of!(H, dst_port) == DST_PORT.start);
    const _: () = assert!(offset_of!(H, len) == LENGTH.start);
    const _: () = assert!(offset_of!(H, checksum) == CHECKSUM.start);
    const _: () = assert!(CHECKSUM.end == HEADER_LEN);
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::HEADER_LEN;

const ZERO_HEADER: UdpHeader = UdpHeader {
    src_port: U16::ZERO,
    dst_port: U16::ZERO,
    len: U16::ZERO,
    checksum: U16::ZERO,
};

/// A read/write view of a UDP datagram.
///
/// After [`check_len`](Self::check_len) succeeds no accessor panics and the
/// length field lies in `8..=buffer length`. On an unchecked buffer fields
/// beyond its end read as zero, slices outside it are empty, and writes are
/// dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps `buffer` without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> UdpPacket<T> {
        UdpPacket { buffer }
    }

    /// Wraps `buffer` and checks it with [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<UdpPacket<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the buffer holds the header and the length field's bytes.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when the buffer is too short;
    /// [`Error::Malformed`] when the length field is below 8.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let l = self.len() as usize;
        if l < HEADER_LEN {
            Err(Error::Malformed)
        } else if l > len {
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

    /// The header as a zero-copy struct.
    #[inline]
    pub fn header(&self) -> &UdpHeader {
        view::header(self.buffer.as_ref(), &ZERO_HEADER)
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        self.header().src_port.get()
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        self.header().dst_port.get()
    }

    /// Length field: header plus data.
    #[inline]
    pub fn len(&self) -> u16 {
        self.header().len.get()
    }

    /// True when the length field says there is no data.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() as usize <= HEADER_LEN
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.header().checksum.get()
    }

    /// The data, up to the length field.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        view::slice(self.buffer.as_ref(), HEADER_LEN, self.len() as usize)
    }

    /// True when the checksum over the pseudo-header and the datagram (up to
    /// the length field) is correct, or when it is zero over IPv4, meaning
    /// "not computed" (RFC 768). Over IPv6 zero is never valid
    /// (RFC 8200 §8.1).
    pub fn verify_checksum(&self, src_addr: &IpAddr, dst_addr: &IpAddr) -> bool {
        if self.checksum() == 0 {
            return matches!(src_addr, IpAddr::V4(_));
        }
        let l = self.len();
        let pseudo = checksum::pseudo_header(src_addr, dst_addr, IpProtocol::Udp, l as u32);
        checksum::verify_with(pseudo, view::slice(self.buffer.as_ref(), 0, l as usize))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// The header for writing; `None` when the buffer is too short.
    #[inline]
    pub fn header_mut(&mut self) -> Option<&mut UdpHeader> {
        view::header_mut(self.buffer.as_mut())
    }

    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        if let Some(h) = self.header_mut() {
            h.src_port.set(v);
        }
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        if let Some(h) = self.header_mut() {
            h.dst_port.set(v);
        }
    }

    /// Sets the length field.
    #[inline]
    pub fn set_len(&mut self, v: u16) {
        if let Some(h) = self.header_mut() {
            h.len.set(v);
        }
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        if let Some(h) = self.header_mut() {
            h.checksum.set(v);
        }
    }

    /// Computes and writes the checksum over the pseudo-header and the
    /// datagram (up to the length field). A computed zero is sent as
    /// `0xffff` (RFC 768).
    pub fn fill_checksum(&mut self, src_addr: &IpAddr, dst_addr: &IpAddr) {
        self.set_checksum(0);
        let l = self.len();
        let pseudo = checksum::pseudo_header(src_addr, dst_addr, IpProtocol::Udp, l as u32);
        let c = !checksum::add(
            pseudo,
            checksum::sum(view::slice(self.buffer.as_ref(), 0, l as usize)),
        );
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }

    /// The data for writing.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let l = self.len() as usize;
        view::slice_mut(self.buffer.as_mut(), HEADER_LEN, l)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for UdpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The header fields of a UDP datagram.
///
/// As with [`TcpRepr`](crate::TcpRepr) the payload stays in the buffer:
/// [`emit`](Self::emit) checksums what the caller wrote after the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Data length.
    pub payload_len: usize,
}

impl UdpRepr {
    /// Reads a datagram, verifying its checksum when `caps.udp.rx()`.
    ///
    /// # Errors
    ///
    /// From [`check_len`](UdpPacket::check_len); [`Error::Checksum`].
    pub fn parse<T: AsRef<[u8]>>(
        packet: &UdpPacket<T>,
        src_addr: &IpAddr,
        dst_addr: &IpAddr,
        caps: &ChecksumCapabilities,
    ) -> Result<UdpRepr> {
        packet.check_len()?;
        if caps.udp.rx() && !packet.verify_checksum(src_addr, dst_addr) {
            return Err(Error::Checksum);
        }
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload_len: packet.len() as usize - HEADER_LEN,
        })
    }

    /// Header length: 8.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus data length.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header into `packet`, whose buffer holds at least
    /// [`buffer_len`](Self::buffer_len) bytes with the data already in place
    /// after the header, then fills the checksum when `caps.udp.tx()`
    /// (otherwise writes zero).
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when the buffer is shorter than `buffer_len`;
    /// [`Error::Malformed`] when `buffer_len` exceeds 65535.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut UdpPacket<T>,
        src_addr: &IpAddr,
        dst_addr: &IpAddr,
        caps: &ChecksumCapabilities,
    ) -> Result<()> {
        if packet.buffer.as_ref().len() < self.buffer_len() {
            return Err(Error::Truncated);
        }
        let len = u16::try_from(self.buffer_len()).map_err(|_| Error::Malformed)?;
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(len);
        if caps.udp.tx() {
            packet.fill_checksum(src_addr, dst_addr);
        } else {
            packet.set_checksum(0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ethernet::EthernetFrame;
    use crate::frames;
    use crate::ipv4::Ipv4Packet;
    use crate::ipv6::Ipv6Packet;
    use core::net::{Ipv4Addr, Ipv6Addr};
    use proptest::prelude::*;

    const CAPS: ChecksumCapabilities = ChecksumCapabilities::software();

    #[test]
    fn captured_dns_query() {
        let eth = EthernetFrame::new_checked(&frames::UDP_DNS_QUERY[..]).unwrap();
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        let (s, d) = (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr()));
        let p = UdpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.len()), (52623, 53, 37));
        assert!(p.verify_checksum(&s, &d));
        // DNS header: ID 0x1234, RD, one question.
        assert_eq!(&p.payload()[..6], &[0x12, 0x34, 0x01, 0x00, 0x00, 0x01]);
        let r = UdpRepr::parse(&p, &s, &d, &CAPS).unwrap();
        assert_eq!(
            r,
            UdpRepr {
                src_port: 52623,
                dst_port: 53,
                payload_len: 29
            }
        );
        let mut out = [0u8; 37];
        out[8..].copy_from_slice(p.payload());
        r.emit(&mut UdpPacket::new_unchecked(&mut out[..]), &s, &d, &CAPS)
            .unwrap();
        assert_eq!(&out[..], ip.payload());
        out[20] ^= 1;
        assert_eq!(
            UdpRepr::parse(&UdpPacket::new_unchecked(&out[..]), &s, &d, &CAPS),
            Err(Error::Checksum)
        );
    }

    #[test]
    fn captured_ipv6_datagram() {
        let eth = EthernetFrame::new_checked(&frames::UDP_IPV6[..]).unwrap();
        let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
        let (s, d) = (IpAddr::V6(ip.src_addr()), IpAddr::V6(ip.dst_addr()));
        let p = UdpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!(p.payload(), b"netwire");
        assert!(p.verify_checksum(&s, &d));
        let mut zero = [0u8; 15];
        zero.copy_from_slice(ip.payload());
        zero[6..8].fill(0);
        // Zero means "no checksum" over IPv4 only.
        assert!(!UdpPacket::new_unchecked(&zero[..]).verify_checksum(&s, &d));
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert!(UdpPacket::new_unchecked(&zero[..]).verify_checksum(&v4, &v4));
    }

    #[test]
    fn length_errors() {
        let mut b = [0u8; 12];
        b[5] = 7;
        assert_eq!(
            UdpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Malformed
        );
        b[5] = 13;
        assert_eq!(
            UdpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            UdpPacket::new_checked(&b[..7]).unwrap_err(),
            Error::Truncated
        );
        b[5] = 10;
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload().len(), 2);
        let r = UdpRepr {
            src_port: 1,
            dst_port: 2,
            payload_len: 5,
        };
        let mut small = [0u8; 12];
        assert_eq!(
            r.emit(
                &mut UdpPacket::new_unchecked(&mut small[..]),
                &p_addr(),
                &p_addr(),
                &CAPS
            ),
            Err(Error::Truncated)
        );
    }

    fn p_addr() -> IpAddr {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    }

    proptest! {
        #[test]
        fn repr_round_trip(sp: u16, dp: u16, data in proptest::collection::vec(any::<u8>(), 0..64), v6: bool) {
            let (s, d): (IpAddr, IpAddr) = if v6 {
                (Ipv6Addr::LOCALHOST.into(), "2001:db8::9".parse::<Ipv6Addr>().unwrap().into())
            } else {
                (Ipv4Addr::new(10, 0, 0, 1).into(), Ipv4Addr::new(10, 0, 0, 2).into())
            };
            let r = UdpRepr { src_port: sp, dst_port: dp, payload_len: data.len() };
            let mut out = [0u8; 72];
            out[8..8 + data.len()].copy_from_slice(&data);
            r.emit(&mut UdpPacket::new_unchecked(&mut out[..r.buffer_len()]), &s, &d, &CAPS).unwrap();
            let p = UdpPacket::new_checked(&out[..r.buffer_len()]).unwrap();
            prop_assert_ne!(p.checksum(), 0);
            prop_assert_eq!(UdpRepr::parse(&p, &s, &d, &CAPS).unwrap(), r);
            prop_assert_eq!(p.payload(), &data[..]);
        }

        #[test]
        fn accessors_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            let p = UdpPacket::new_unchecked(&data[..]);
            let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
            let _ = (p.src_port(), p.dst_port(), p.len(), p.is_empty(), p.checksum(), p.verify_checksum(&a, &a));
            let pl = p.payload();
            if p.check_len().is_ok() {
                prop_assert_eq!(pl.len() + HEADER_LEN, p.len() as usize);
            }
            let _ = UdpRepr::parse(&p, &a, &a, &CAPS);
            let mut copy = data.clone();
            let mut m = UdpPacket::new_unchecked(&mut copy[..]);
            m.fill_checksum(&a, &a);
            let _ = m.payload_mut().len();
        }
    }
}
