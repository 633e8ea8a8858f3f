//! Header fields at fixed offsets, read straight from a received Ethernet
//! frame: what flow rules look at.
//!
//! Layouts: Ethernet II (IEEE 802.3 §3.2.6), one 802.1Q / 802.1ad tag
//! (IEEE 802.1Q §9.6), IPv4 (RFC 791 §3.1), IPv6 fixed header (RFC 8200 §3),
//! TCP (RFC 9293 §3.1), UDP (RFC 768), SCTP common header (RFC 9260 §3.1).
//!
//! A field is present when the frame holds its bytes. IPv4 ports are present
//! only in the first fragment (fragment offset 0) and only when the header
//! length is at least 5 words (RFC 791 §3.1: IHL's minimum; a smaller one
//! would put the "ports" inside the IP header); IPv6 ports only when the
//! next header right after the fixed header is TCP, UDP or SCTP (extension
//! headers are not walked, so an IPv6 fragment's protocol is 44). No field is
//! validated beyond that (checksums, version): what the bytes say is what a
//! BPF program at the same offsets would see.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use nic_traits::FlowFields;

/// EtherTypes (IEEE registry): IPv4, IPv6, 802.1Q and 802.1ad tags.
pub(crate) const ETH_IPV4: u16 = 0x0800;
pub(crate) const ETH_IPV6: u16 = 0x86dd;
const ETH_8021Q: u16 = 0x8100;
const ETH_8021AD: u16 = 0x88a8;

/// The IPv4 header length in bytes from the version/IHL byte, if IHL is at
/// least its minimum of 5 words (RFC 791 §3.1).
#[inline(always)]
fn ihl_bytes(vihl: u8) -> Option<usize> {
    let words = usize::from(vihl & 0x0f);
    (words >= 5).then_some(words * 4)
}

#[inline(always)]
fn be16(f: &[u8], o: usize) -> Option<u16> {
    match f.get(o..o + 2) {
        Some(&[a, b]) => Some(u16::from_be_bytes([a, b])),
        _ => None,
    }
}

/// Link-layer header length: 14, or 18 with one VLAN tag; with the EtherType.
#[inline(always)]
pub(crate) fn link(frame: &[u8]) -> Option<(usize, u16)> {
    let t = be16(frame, 12)?;
    if t == ETH_8021Q || t == ETH_8021AD {
        Some((18, be16(frame, 16)?))
    } else {
        Some((14, t))
    }
}

/// Whether an IP protocol carries 16-bit source and destination ports first.
#[inline(always)]
const fn has_ports(proto: u8) -> bool {
    matches!(proto, 6 | 17 | 132)
}

/// The fields flow rules look at; `None` for a frame too short to hold an
/// EtherType.
///
/// # Examples
///
/// ```
/// let mut f = [0u8; 54];
/// f[12] = 0x08; // IPv4
/// f[14] = 0x45;
/// f[23] = 6; // TCP
/// f[36..38].copy_from_slice(&80u16.to_be_bytes());
/// let fields = swdemux::flow_fields(&f).unwrap();
/// assert_eq!(fields.dst_port, Some(80));
/// assert!(nic_traits::FlowRule::tcp_port(80).matches(&fields));
/// ```
pub fn flow_fields(frame: &[u8]) -> Option<FlowFields> {
    let (l3, ethertype) = link(frame)?;
    let mut f = FlowFields {
        ethertype,
        ..FlowFields::default()
    };
    let ip = frame.get(l3..).unwrap_or(&[]);
    let l4 = match ethertype {
        ETH_IPV4 => {
            f.protocol = ip.get(9).copied();
            f.src_ip = ip
                .get(12..16)
                .and_then(|s| <[u8; 4]>::try_from(s).ok())
                .map(|a| IpAddr::V4(Ipv4Addr::from(a)));
            f.dst_ip = ip
                .get(16..20)
                .and_then(|s| <[u8; 4]>::try_from(s).ok())
                .map(|a| IpAddr::V4(Ipv4Addr::from(a)));
            // RFC 791: fragment offset is the low 13 bits of bytes 6..8.
            let first = be16(ip, 6).is_some_and(|v| v & 0x1fff == 0);
            match (ip.first(), f.protocol) {
                (Some(&vihl), Some(p)) if first && has_ports(p) => ihl_bytes(vihl),
                _ => None,
            }
        }
        ETH_IPV6 => {
            f.protocol = ip.get(6).copied();
            f.src_ip = ip
                .get(8..24)
                .and_then(|s| <[u8; 16]>::try_from(s).ok())
                .map(|a| IpAddr::V6(Ipv6Addr::from(a)));
            f.dst_ip = ip
                .get(24..40)
                .and_then(|s| <[u8; 16]>::try_from(s).ok())
                .map(|a| IpAddr::V6(Ipv6Addr::from(a)));
            match f.protocol {
                Some(p) if has_ports(p) => Some(40),
                _ => None,
            }
        }
        _ => None,
    };
    if let Some(l4) = l4 {
        f.src_port = be16(ip, l4);
        f.dst_port = be16(ip, l4 + 2);
        if f.protocol == Some(6) && f.src_port.is_some() && f.dst_port.is_some() {
            f.tcp_flags = ip.get(l4 + 13).copied();
        }
        if f.src_port.is_none() || f.dst_port.is_none() {
            f.src_port = None;
            f.dst_port = None;
        }
    }
    Some(f)
}

/// Field-presence bits of a [`Packet`] (and of a rule shape's needs).
pub(crate) mod have {
    pub const ETHERTYPE: u8 = 1;
    pub const PROTO: u8 = 2;
    pub const SRC: u8 = 4;
    pub const DST: u8 = 8;
    pub const SPORT: u8 = 16;
    pub const DPORT: u8 = 32;
    pub const FLAGS: u8 = 64;
}

/// The same fields as [`flow_fields`], in the flat form the table hashes:
/// addresses as big-endian words (IPv4 in word 0), EtherType, protocol and
/// ports packed as `ethertype << 48 | proto << 40 | sport << 16 | dport`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Packet {
    pub have: u8,
    pub v6: bool,
    pub flags: u8,
    pub small: u64,
    pub src: [u32; 4],
    pub dst: [u32; 4],
}

#[inline(always)]
fn be32(f: &[u8], o: usize) -> Option<u32> {
    match f.get(o..o + 4) {
        Some(&[a, b, c, d]) => Some(u32::from_be_bytes([a, b, c, d])),
        _ => None,
    }
}

impl Packet {
    /// Reads the fields; the presence rules are those of [`flow_fields`].
    #[inline]
    pub(crate) fn parse(frame: &[u8]) -> Option<Self> {
        let (l3, ethertype) = link(frame)?;
        let mut p = Packet {
            have: have::ETHERTYPE,
            small: u64::from(ethertype) << 48,
            ..Packet::default()
        };
        let ip = frame.get(l3..).unwrap_or(&[]);
        let (proto_at, l4) = match ethertype {
            ETH_IPV4 => {
                if let (Some(s), Some(d)) = (be32(ip, 12), be32(ip, 16)) {
                    p.src[0] = s;
                    p.dst[0] = d;
                    p.have |= have::SRC | have::DST;
                } else if let Some(s) = be32(ip, 12) {
                    p.src[0] = s;
                    p.have |= have::SRC;
                }
                let first = be16(ip, 6).is_some_and(|v| v & 0x1fff == 0);
                let l4 = match ip.first() {
                    Some(&vihl) if first => ihl_bytes(vihl),
                    _ => None,
                };
                (9, l4)
            }
            ETH_IPV6 => {
                p.v6 = true;
                for i in 0..4 {
                    if let Some(w) = be32(ip, 8 + 4 * i) {
                        p.src[i] = w;
                    }
                    if let Some(w) = be32(ip, 24 + 4 * i) {
                        p.dst[i] = w;
                    }
                }
                if ip.len() >= 24 {
                    p.have |= have::SRC;
                }
                if ip.len() >= 40 {
                    p.have |= have::DST;
                }
                (6, Some(40))
            }
            _ => return Some(p),
        };
        let Some(&proto) = ip.get(proto_at) else {
            return Some(p);
        };
        p.have |= have::PROTO;
        p.small |= u64::from(proto) << 40;
        if let Some(l4) = l4.filter(|_| has_ports(proto)) {
            if let (Some(s), Some(d)) = (be16(ip, l4), be16(ip, l4 + 2)) {
                p.have |= have::SPORT | have::DPORT;
                p.small |= u64::from(s) << 16 | u64::from(d);
                if proto == 6 {
                    if let Some(&fl) = ip.get(l4 + 13) {
                        p.have |= have::FLAGS;
                        p.flags = fl;
                    }
                }
            }
        }
        Some(p)
    }
}
