//! ICMP for IPv4 (RFC 792): echo request/reply, destination unreachable and
//! time exceeded.
//!
//! # Layout
//!
//! ```text
//! 0      1      2             4                           8
//! +------+------+-------------+---------------------------+
//! | type | code |  checksum   | rest of header            | data ...
//! +------+------+-------------+---------------------------+
//!                              echo: identifier, sequence
//!                              unreachable: unused, next-hop MTU
//! ```

use zerocopy::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::checksum::{self, ChecksumCapabilities};
use crate::view;
use crate::{Error, Result};

/// An ICMPv4 message type (RFC 792, IANA "ICMP Type Numbers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Icmpv4Message {
    /// Echo Reply (0).
    EchoReply,
    /// Destination Unreachable (3).
    DstUnreachable,
    /// Redirect (5).
    Redirect,
    /// Echo (8).
    EchoRequest,
    /// Router Advertisement (9, RFC 1256).
    RouterAdvert,
    /// Router Solicitation (10, RFC 1256).
    RouterSolicit,
    /// Time Exceeded (11).
    TimeExceeded,
    /// Parameter Problem (12).
    ParamProblem,
    /// Timestamp (13).
    Timestamp,
    /// Timestamp Reply (14).
    TimestampReply,
    /// Any other type.
    Unknown(u8),
}

impl From<u8> for Icmpv4Message {
    fn from(v: u8) -> Self {
        match v {
            0 => Icmpv4Message::EchoReply,
            3 => Icmpv4Message::DstUnreachable,
            5 => Icmpv4Message::Redirect,
            8 => Icmpv4Message::EchoRequest,
            9 => Icmpv4Message::RouterAdvert,
            10 => Icmpv4Message::RouterSolicit,
            11 => Icmpv4Message::TimeExceeded,
            12 => Icmpv4Message::ParamProblem,
            13 => Icmpv4Message::Timestamp,
            14 => Icmpv4Message::TimestampReply,
            other => Icmpv4Message::Unknown(other),
        }
    }
}

impl From<Icmpv4Message> for u8 {
    fn from(m: Icmpv4Message) -> u8 {
        match m {
            Icmpv4Message::EchoReply => 0,
            Icmpv4Message::DstUnreachable => 3,
            Icmpv4Message::Redirect => 5,
            Icmpv4Message::EchoRequest => 8,
            Icmpv4Message::RouterAdvert => 9,
            Icmpv4Message::RouterSolicit => 10,
            Icmpv4Message::TimeExceeded => 11,
            Icmpv4Message::ParamProblem => 12,
            Icmpv4Message::Timestamp => 13,
            Icmpv4Message::TimestampReply => 14,
            Icmpv4Message::Unknown(v) => v,
        }
    }
}

/// Destination Unreachable codes (RFC 792; 6-12 RFC 1122 §3.2.2.1;
/// 13-15 RFC 1812 §5.2.7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Icmpv4DstUnreachable {
    /// Net unreachable (0).
    NetUnreachable,
    /// Host unreachable (1).
    HostUnreachable,
    /// Protocol unreachable (2).
    ProtoUnreachable,
    /// Port unreachable (3).
    PortUnreachable,
    /// Fragmentation needed and DF set (4); see the next-hop MTU (RFC 1191).
    FragRequired,
    /// Source route failed (5).
    SrcRouteFailed,
    /// Destination network unknown (6).
    DstNetUnknown,
    /// Destination host unknown (7).
    DstHostUnknown,
    /// Source host isolated (8).
    SrcHostIsolated,
    /// Network administratively prohibited (9).
    NetProhibited,
    /// Host administratively prohibited (10).
    HostProhibited,
    /// Network unreachable for type of service (11).
    NetUnreachToS,
    /// Host unreachable for type of service (12).
    HostUnreachToS,
    /// Communication administratively prohibited (13).
    CommProhibited,
    /// Host precedence violation (14).
    HostPrecedViol,
    /// Precedence cutoff in effect (15).
    PrecedCutoff,
    /// Any other code.
    Unknown(u8),
}

impl From<u8> for Icmpv4DstUnreachable {
    fn from(v: u8) -> Self {
        use Icmpv4DstUnreachable as D;
        match v {
            0 => D::NetUnreachable,
            1 => D::HostUnreachable,
            2 => D::ProtoUnreachable,
            3 => D::PortUnreachable,
            4 => D::FragRequired,
            5 => D::SrcRouteFailed,
            6 => D::DstNetUnknown,
            7 => D::DstHostUnknown,
            8 => D::SrcHostIsolated,
            9 => D::NetProhibited,
            10 => D::HostProhibited,
            11 => D::NetUnreachToS,
            12 => D::HostUnreachToS,
            13 => D::CommProhibited,
            14 => D::HostPrecedViol,
            15 => D::PrecedCutoff,
            other => D::Unknown(other),
        }
    }
}

impl From<Icmpv4DstUnreachable> for u8 {
    fn from(d: Icmpv4DstUnreachable) -> u8 {
        use Icmpv4DstUnreachable as D;
        match d {
            D::NetUnreachable => 0,
            D::HostUnreachable => 1,
            D::ProtoUnreachable => 2,
            D::PortUnreachable => 3,
            D::FragRequired => 4,
            D::SrcRouteFailed => 5,
            D::DstNetUnknown => 6,
            D::DstHostUnknown => 7,
            D::SrcHostIsolated => 8,
            D::NetProhibited => 9,
            D::HostProhibited => 10,
            D::NetUnreachToS => 11,
            D::HostUnreachToS => 12,
            D::CommProhibited => 13,
            D::HostPrecedViol => 14,
            D::PrecedCutoff => 15,
            D::Unknown(v) => v,
        }
    }
}

/// The 8-byte ICMPv4 header.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct Icmpv4Header {
    /// Message type.
    pub msg_type: u8,
    /// Message code.
    pub msg_code: u8,
    /// Checksum over the whole message.
    pub checksum: U16,
    /// Type-specific: echo identifier.
    pub ident: U16,
    /// Type-specific: echo sequence number, or the next-hop MTU.
    pub seq_no: U16,
}

const _: () = assert!(size_of::<Icmpv4Header>() == 8);

mod field {
    // The layout assertions below are these constants' check; rustc before
    // 1.88 does not count a use inside an anonymous const as a use.
    #![allow(dead_code)]

    use core::ops::Range;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQNO: Range<usize> = 6..8;
    /// RFC 1191 §4: the low 16 bits of the unused word carry the MTU.
    pub const MTU: Range<usize> = 6..8;
    pub const HEADER_LEN: usize = 8;

    use super::Icmpv4Header as H;
    use core::mem::offset_of;
    const _: () = assert!(offset_of!(H, msg_type) == TYPE);
    const _: () = assert!(offset_of!(H, msg_code) == CODE);
    const _: () = assert!(offset_of!(H, checksum) == CHECKSUM.start);
    const _: () = assert!(offset_of!(H, ident) == ECHO_IDENT.start);
    const _: () = assert!(offset_of!(H, seq_no) == ECHO_SEQNO.start);
    const _: () = assert!(offset_of!(H, seq_no) == MTU.start);
    const _: () = assert!(ECHO_SEQNO.end == HEADER_LEN);
}

/// Length of the ICMPv4 header.
pub const HEADER_LEN: usize = field::HEADER_LEN;

const ZERO_HEADER: Icmpv4Header = Icmpv4Header {
    msg_type: 0,
    msg_code: 0,
    checksum: U16::ZERO,
    ident: U16::ZERO,
    seq_no: U16::ZERO,
};

/// A read/write view of an ICMPv4 message. The buffer is the whole message
/// (the IPv4 payload).
///
/// After [`check_len`](Self::check_len) succeeds no accessor panics. On an
/// unchecked buffer fields beyond its end read as zero and writes are
/// dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wraps `buffer` without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Icmpv4Packet<T> {
        Icmpv4Packet { buffer }
    }

    /// Wraps `buffer` and checks it with [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Icmpv4Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the buffer holds the 8-byte header.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when it does not.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
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
    pub fn header(&self) -> &Icmpv4Header {
        view::header(self.buffer.as_ref(), &ZERO_HEADER)
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> Icmpv4Message {
        Icmpv4Message::from(self.header().msg_type)
    }

    /// Message code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.header().msg_code
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.header().checksum.get()
    }

    /// Echo identifier.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        self.header().ident.get()
    }

    /// Echo sequence number.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        self.header().seq_no.get()
    }

    /// Next-hop MTU of a "fragmentation needed" message (RFC 1191 §4).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        self.header().seq_no.get()
    }

    /// The data after the 8-byte header.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        view::slice(b, HEADER_LEN, b.len())
    }

    /// True when the checksum over the whole message is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// The header for writing; `None` when the buffer is too short.
    #[inline]
    pub fn header_mut(&mut self) -> Option<&mut Icmpv4Header> {
        view::header_mut(self.buffer.as_mut())
    }

    /// Sets the type and code.
    #[inline]
    pub fn set_msg_type_code(&mut self, t: Icmpv4Message, code: u8) {
        if let Some(h) = self.header_mut() {
            h.msg_type = t.into();
            h.msg_code = code;
        }
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        if let Some(h) = self.header_mut() {
            h.checksum.set(v);
        }
    }

    /// Sets the echo identifier (or the first half of the rest-of-header word).
    #[inline]
    pub fn set_echo_ident(&mut self, v: u16) {
        if let Some(h) = self.header_mut() {
            h.ident.set(v);
        }
    }

    /// Sets the echo sequence number (or the next-hop MTU).
    #[inline]
    pub fn set_echo_seq_no(&mut self, v: u16) {
        if let Some(h) = self.header_mut() {
            h.seq_no.set(v);
        }
    }

    /// Computes and writes the checksum over the whole message.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// The data for writing.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let b = self.buffer.as_mut();
        let len = b.len();
        view::slice_mut(b, HEADER_LEN, len)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Icmpv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The ICMPv4 messages this crate represents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Icmpv4Repr<'a> {
    /// Echo request (ping).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data, echoed back in the reply.
        data: &'a [u8],
    },
    /// Echo reply.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data from the request.
        data: &'a [u8],
    },
    /// Destination unreachable.
    DstUnreachable {
        /// The code.
        reason: Icmpv4DstUnreachable,
        /// Next-hop MTU for [`Icmpv4DstUnreachable::FragRequired`]
        /// (RFC 1191 §4), zero otherwise.
        next_hop_mtu: u16,
        /// The quoted datagram: its IP header and at least 8 bytes of data
        /// (RFC 792); parse it with [`Ipv4Packet`](crate::Ipv4Packet).
        data: &'a [u8],
    },
    /// Time exceeded.
    TimeExceeded {
        /// 0: TTL exceeded in transit; 1: fragment reassembly time exceeded.
        code: u8,
        /// The quoted datagram.
        data: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Reads a message, verifying the checksum when `caps.icmpv4.rx()`.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`]; [`Error::Checksum`]; [`Error::Unsupported`] for
    /// other message types; [`Error::Malformed`] for echo messages with a
    /// nonzero code.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Icmpv4Packet<&'a T>,
        caps: &ChecksumCapabilities,
    ) -> Result<Icmpv4Repr<'a>> {
        packet.check_len()?;
        if caps.icmpv4.rx() && !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        let buf: &'a T = packet.buffer;
        let buf: &'a [u8] = buf.as_ref();
        let data = view::slice(buf, HEADER_LEN, buf.len());
        match (packet.msg_type(), packet.msg_code()) {
            (Icmpv4Message::EchoRequest, 0) => Ok(Icmpv4Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            (Icmpv4Message::EchoReply, 0) => Ok(Icmpv4Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            (Icmpv4Message::EchoRequest | Icmpv4Message::EchoReply, _) => Err(Error::Malformed),
            (Icmpv4Message::DstUnreachable, code) => Ok(Icmpv4Repr::DstUnreachable {
                reason: code.into(),
                next_hop_mtu: packet.next_hop_mtu(),
                data,
            }),
            (Icmpv4Message::TimeExceeded, code) => Ok(Icmpv4Repr::TimeExceeded { code, data }),
            _ => Err(Error::Unsupported),
        }
    }

    /// Header length: 8.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus data length.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Icmpv4Repr::EchoRequest { data, .. }
                | Icmpv4Repr::EchoReply { data, .. }
                | Icmpv4Repr::DstUnreachable { data, .. }
                | Icmpv4Repr::TimeExceeded { data, .. } => data.len(),
            }
    }

    /// Writes the message (header and data) into `packet`, whose buffer must
    /// be exactly [`buffer_len`](Self::buffer_len) long, and fills the
    /// checksum when `caps.icmpv4.tx()` (otherwise writes zero).
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when the buffer is shorter, [`Error::Malformed`]
    /// when longer (the checksum covers the whole buffer).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Icmpv4Packet<T>,
        caps: &ChecksumCapabilities,
    ) -> Result<()> {
        let len = packet.buffer.as_ref().len();
        if len < self.buffer_len() {
            return Err(Error::Truncated);
        }
        if len > self.buffer_len() {
            return Err(Error::Malformed);
        }
        let (t, code, a, b, data) = match *self {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => (Icmpv4Message::EchoRequest, 0, ident, seq_no, data),
            Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => (Icmpv4Message::EchoReply, 0, ident, seq_no, data),
            Icmpv4Repr::DstUnreachable {
                reason,
                next_hop_mtu,
                data,
            } => (
                Icmpv4Message::DstUnreachable,
                reason.into(),
                0,
                next_hop_mtu,
                data,
            ),
            Icmpv4Repr::TimeExceeded { code, data } => {
                (Icmpv4Message::TimeExceeded, code, 0, 0, data)
            }
        };
        packet.set_msg_type_code(t, code);
        packet.set_echo_ident(a);
        packet.set_echo_seq_no(b);
        packet.data_mut().copy_from_slice(data);
        if caps.icmpv4.tx() {
            packet.fill_checksum();
        } else {
            packet.set_checksum(0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames;
    use crate::ip::IpProtocol;
    use crate::ipv4::Ipv4Packet;
    use proptest::prelude::*;

    const CAPS: ChecksumCapabilities = ChecksumCapabilities::software();

    fn icmp(frame: &[u8]) -> &[u8] {
        let ip = Ipv4Packet::new_checked(&frame[14..]).unwrap();
        assert_eq!(ip.next_header(), IpProtocol::Icmp);
        let start = 14 + ip.header_len();
        &frame[start..start + ip.payload().len()]
    }

    #[test]
    fn captured_echo_request_and_reply() {
        let msg = icmp(&frames::ICMP_ECHO_REQUEST);
        let p = Icmpv4Packet::new_checked(msg).unwrap();
        assert!(p.verify_checksum());
        let r = Icmpv4Repr::parse(&p, &CAPS).unwrap();
        let data: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(
            r,
            Icmpv4Repr::EchoRequest {
                ident: 1234,
                seq_no: 1,
                data: &data
            }
        );
        // The kernel's reply is the request with the type changed.
        let reply = Icmpv4Repr::EchoReply {
            ident: 1234,
            seq_no: 1,
            data: &data,
        };
        let mut out = [0u8; 24];
        reply
            .emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]), &CAPS)
            .unwrap();
        assert_eq!(&out[..], icmp(&frames::ICMP_ECHO_REPLY));
        let mut bad = out;
        bad[10] ^= 1;
        assert_eq!(
            Icmpv4Repr::parse(&Icmpv4Packet::new_unchecked(&bad[..]), &CAPS),
            Err(Error::Checksum)
        );
    }

    #[test]
    fn captured_port_unreachable() {
        let msg = icmp(&frames::ICMP_PORT_UNREACHABLE);
        let p = Icmpv4Packet::new_checked(msg).unwrap();
        let r = Icmpv4Repr::parse(&p, &CAPS).unwrap();
        let Icmpv4Repr::DstUnreachable { reason, data, .. } = r else {
            panic!("{r:?}")
        };
        assert_eq!(reason, Icmpv4DstUnreachable::PortUnreachable);
        // The quoted datagram is the DNS query we sent.
        let quoted = Ipv4Packet::new_checked(data).unwrap();
        assert_eq!(quoted.next_header(), IpProtocol::Udp);
        assert_eq!(data, &frames::UDP_DNS_QUERY[14..]);
        let mut out = [0u8; 65];
        r.emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]), &CAPS)
            .unwrap();
        assert_eq!(&out[..], msg);
    }

    #[test]
    fn unsupported_and_sizes() {
        let mut m = [13u8, 0, 0, 0, 0, 0, 0, 0];
        Icmpv4Packet::new_unchecked(&mut m[..]).fill_checksum();
        assert_eq!(
            Icmpv4Repr::parse(&Icmpv4Packet::new_unchecked(&m[..]), &CAPS),
            Err(Error::Unsupported)
        );
        let mut m = [8u8, 1, 0, 0, 0, 0, 0, 0];
        Icmpv4Packet::new_unchecked(&mut m[..]).fill_checksum();
        assert_eq!(
            Icmpv4Repr::parse(&Icmpv4Packet::new_unchecked(&m[..]), &CAPS),
            Err(Error::Malformed)
        );
        assert_eq!(
            Icmpv4Packet::new_checked(&m[..7]).unwrap_err(),
            Error::Truncated
        );
        let r = Icmpv4Repr::TimeExceeded {
            code: 0,
            data: &[1, 2],
        };
        let mut out = [0u8; 9];
        assert_eq!(
            r.emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]), &CAPS),
            Err(Error::Truncated)
        );
        let mut out = [0u8; 11];
        assert_eq!(
            r.emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]), &CAPS),
            Err(Error::Malformed)
        );
        for v in 0..=255u8 {
            assert_eq!(u8::from(Icmpv4Message::from(v)), v);
            assert_eq!(u8::from(Icmpv4DstUnreachable::from(v)), v);
        }
    }

    fn arb_repr(data: &[u8], kind: u8, a: u16, b: u16, code: u8) -> Icmpv4Repr<'_> {
        match kind % 4 {
            0 => Icmpv4Repr::EchoRequest {
                ident: a,
                seq_no: b,
                data,
            },
            1 => Icmpv4Repr::EchoReply {
                ident: a,
                seq_no: b,
                data,
            },
            2 => Icmpv4Repr::DstUnreachable {
                reason: code.into(),
                next_hop_mtu: b,
                data,
            },
            _ => Icmpv4Repr::TimeExceeded { code, data },
        }
    }

    proptest! {
        #[test]
        fn repr_round_trip(data in proptest::collection::vec(any::<u8>(), 0..64), kind: u8, a: u16, b: u16, code: u8) {
            let r = arb_repr(&data, kind, a, b, code);
            let mut out = [0u8; 72];
            let out = &mut out[..r.buffer_len()];
            r.emit(&mut Icmpv4Packet::new_unchecked(&mut *out), &CAPS).unwrap();
            let p = Icmpv4Packet::new_checked(&*out).unwrap();
            prop_assert_eq!(Icmpv4Repr::parse(&p, &CAPS).unwrap(), r);
        }

        #[test]
        fn accessors_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            let p = Icmpv4Packet::new_unchecked(&data[..]);
            let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.echo_ident(), p.echo_seq_no());
            let _ = (p.next_hop_mtu(), p.data().len(), p.verify_checksum());
            let _ = Icmpv4Repr::parse(&p, &CAPS);
            let _ = Icmpv4Repr::parse(&p, &ChecksumCapabilities::offloaded());
        }
    }
}
