//! Flow keys: the 5-tuple of a frame, for filters, demultiplexers and RSS.
//!
//! [`FlowKey::from_ethernet_frame`] reads a whole Ethernet frame (an
//! optional 802.1Q tag, IPv4 with options or IPv6 with extension headers,
//! then TCP, UDP or SCTP ports) in one pass with fixed-offset loads. It
//! never panics; malformed or truncated headers give an [`Error`]. It does
//! not verify checksums (a demultiplexer leaves that to the endpoint or the
//! device). [`dissect_ip`] does the same for a bare IP packet.
//!
//! # Examples
//!
//! ```
//! use core::net::{IpAddr, Ipv4Addr};
//! use netwire::{FlowKey, Fragment, IpProtocol};
//!
//! // An untagged IPv4/UDP frame: 10.0.0.1:52623 -> 10.0.0.2:53.
//! let mut frame = [0u8; 42];
//! frame[12..14].copy_from_slice(&[0x08, 0x00]);
//! frame[14] = 0x45;
//! frame[16..18].copy_from_slice(&28u16.to_be_bytes());
//! frame[23] = 17;
//! frame[26..30].copy_from_slice(&[10, 0, 0, 1]);
//! frame[30..34].copy_from_slice(&[10, 0, 0, 2]);
//! frame[34..38].copy_from_slice(&[0xcd, 0x8f, 0x00, 0x35]);
//! let key = FlowKey::from_ethernet_frame(&frame)?;
//! assert_eq!(key.protocol, IpProtocol::Udp);
//! assert_eq!(key.src_addr, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
//! assert_eq!((key.src_port, key.dst_port), (52623, 53));
//! assert_eq!(key.fragment, Fragment::None);
//! # Ok::<(), netwire::Error>(())
//! ```

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ethernet::VlanTci;
use crate::ip::IpProtocol;
use crate::toeplitz::ToeplitzKey;
use crate::{Error, Result};

/// Where a packet stands in IP fragmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Fragment {
    /// Not a fragment.
    #[default]
    None,
    /// The first fragment (offset 0, more fragments follow): it carries the
    /// transport header, so the ports are known.
    First,
    /// A later fragment (nonzero offset): no transport header, ports are 0.
    Later,
}

/// A flow's 5-tuple, plus its fragment state.
///
/// Ports are 0 when the protocol has none (ICMP, ...) or the packet is a
/// later fragment. Equality and hashing include [`fragment`](Self::fragment),
/// so a later fragment (ports 0) never matches its flow's full key; compare
/// [`tuple`](Self::tuple) for the bare 5-tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FlowKey {
    /// IPv4 protocol or the IPv6 upper-layer header (after extension headers).
    pub protocol: IpProtocol,
    /// Source address.
    pub src_addr: IpAddr,
    /// Destination address.
    pub dst_addr: IpAddr,
    /// Source port, 0 when absent.
    pub src_port: u16,
    /// Destination port, 0 when absent.
    pub dst_port: u16,
    /// Fragment state.
    pub fragment: Fragment,
}

/// A frame's flow key with the layout facts found on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Dissection {
    /// The flow key.
    pub key: FlowKey,
    /// The 802.1Q tag, if any.
    pub vlan: Option<VlanTci>,
    /// Offset of the IP header in the frame.
    pub l3_offset: usize,
    /// Offset of the transport header (after IPv4 options or IPv6 extension
    /// headers); for a later fragment, of the fragment's data.
    pub l4_offset: usize,
    /// End of the IP packet in the frame (Ethernet padding excluded).
    pub l3_end: usize,
}

/// Extension headers walked before giving up (RFC 8200 §4.1 recommends an
/// order in which each appears at most once or twice).
const MAX_EXT_HEADERS: usize = 8;

#[inline(always)]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    match b.get(at..at + 2) {
        Some(&[x, y]) => Some(u16::from_be_bytes([x, y])),
        _ => None,
    }
}

#[inline(always)]
fn has_ports(p: u8) -> bool {
    // TCP (6), UDP (17), SCTP (132): ports in the first four bytes.
    matches!(p, 6 | 17 | 132)
}

/// Reads source and destination ports at `at` when `protocol` has them.
#[inline(always)]
fn ports(frame: &[u8], at: usize, end: usize, protocol: u8) -> Result<(u16, u16)> {
    if !has_ports(protocol) {
        return Ok((0, 0));
    }
    if at + 4 > end {
        return Err(Error::Truncated);
    }
    match frame.get(at..at + 4) {
        Some(&[a, b, c, d]) => Ok((u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]))),
        _ => Err(Error::Truncated),
    }
}

/// Dissects a whole Ethernet frame.
///
/// # Errors
///
/// [`Error::Truncated`] when a header (or the 4 port bytes) is cut off;
/// [`Error::Malformed`] for a wrong IP version or impossible lengths;
/// [`Error::Unsupported`] for EtherTypes other than IPv4/IPv6 (after at most
/// one VLAN tag) and for IPv6 chains longer than eight extension headers.
#[inline]
pub fn dissect(frame: &[u8]) -> Result<Dissection> {
    let Some(eth) = frame.first_chunk::<14>() else {
        return Err(Error::Truncated);
    };
    let mut ethertype = u16::from_be_bytes([eth[12], eth[13]]);
    let mut off = 14;
    let mut vlan = None;
    if ethertype == 0x8100 || ethertype == 0x88a8 {
        let (Some(tci), Some(inner)) = (be16(frame, 14), be16(frame, 16)) else {
            return Err(Error::Truncated);
        };
        vlan = Some(VlanTci::from_bits(tci));
        ethertype = inner;
        off = 18;
    }
    match ethertype {
        0x0800 => dissect_ipv4(frame, off, vlan),
        0x86dd => dissect_ipv6(frame, off, vlan),
        _ => Err(Error::Unsupported),
    }
}

/// Dissects a bare IPv4 or IPv6 packet (no link-layer header), chosen by
/// the version nibble; offsets in the result are relative to `packet`.
///
/// # Errors
///
/// As [`dissect`]; [`Error::Malformed`] for a version other than 4 or 6.
#[inline]
pub fn dissect_ip(packet: &[u8]) -> Result<Dissection> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => dissect_ipv4(packet, 0, None),
        Some(6) => dissect_ipv6(packet, 0, None),
        Some(_) => Err(Error::Malformed),
        None => Err(Error::Truncated),
    }
}

#[inline]
fn dissect_ipv4(frame: &[u8], off: usize, vlan: Option<VlanTci>) -> Result<Dissection> {
    let Some(h) = frame.get(off..).and_then(|b| b.first_chunk::<20>()) else {
        return Err(Error::Truncated);
    };
    if h[0] >> 4 != 4 {
        return Err(Error::Malformed);
    }
    let ihl = ((h[0] & 0x0f) as usize) * 4;
    let total = u16::from_be_bytes([h[2], h[3]]) as usize;
    if ihl < 20 || total < ihl {
        return Err(Error::Malformed);
    }
    let end = off + total;
    if end > frame.len() {
        return Err(Error::Truncated);
    }
    let flags_offset = u16::from_be_bytes([h[6], h[7]]);
    // RFC 791 §3.1: MF is 0x2000, the offset the low 13 bits.
    let fragment = if flags_offset & 0x1fff != 0 {
        Fragment::Later
    } else if flags_offset & 0x2000 != 0 {
        Fragment::First
    } else {
        Fragment::None
    };
    let protocol = h[9];
    let l4 = off + ihl;
    let (src_port, dst_port) = if fragment == Fragment::Later {
        (0, 0)
    } else {
        ports(frame, l4, end, protocol)?
    };
    Ok(Dissection {
        key: FlowKey {
            protocol: IpProtocol::from(protocol),
            src_addr: IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15])),
            dst_addr: IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19])),
            src_port,
            dst_port,
            fragment,
        },
        vlan,
        l3_offset: off,
        l4_offset: l4,
        l3_end: end,
    })
}

fn dissect_ipv6(frame: &[u8], off: usize, vlan: Option<VlanTci>) -> Result<Dissection> {
    let Some(h) = frame.get(off..).and_then(|b| b.first_chunk::<40>()) else {
        return Err(Error::Truncated);
    };
    if h[0] >> 4 != 6 {
        return Err(Error::Malformed);
    }
    let payload_len = u16::from_be_bytes([h[4], h[5]]) as usize;
    let end = off + 40 + payload_len;
    if end > frame.len() {
        return Err(Error::Truncated);
    }
    let mut src = [0u8; 16];
    src.copy_from_slice(&h[8..24]);
    let mut dst = [0u8; 16];
    dst.copy_from_slice(&h[24..40]);

    let mut next = h[6];
    let mut at = off + 40;
    let mut fragment = Fragment::None;
    let mut walked = 0;
    // RFC 8200 §4: walk Hop-by-Hop, Routing, Fragment, Destination Options
    // and AH headers to the upper-layer header.
    loop {
        let ext_len = match next {
            // Hop-by-Hop (0), Routing (43), Destination Options (60):
            // length in 8-octet units, not counting the first 8 (§4.3-4.6).
            0 | 43 | 60 => match frame.get(at + 1) {
                Some(&l) if at + 2 <= end => (l as usize + 1) * 8,
                _ => return Err(Error::Truncated),
            },
            // Fragment (44): fixed 8 bytes (§4.5).
            44 => {
                let Some(fo) = be16(frame, at + 2).filter(|_| at + 8 <= end) else {
                    return Err(Error::Truncated);
                };
                fragment = if fo & 0xfff8 != 0 {
                    Fragment::Later
                } else if fo & 1 != 0 {
                    Fragment::First
                } else {
                    Fragment::None
                };
                8
            }
            // Authentication Header (51): length in 4-octet units minus 2 (RFC 4302 §2.2).
            51 => match frame.get(at + 1) {
                Some(&l) if at + 2 <= end => (l as usize + 2) * 4,
                _ => return Err(Error::Truncated),
            },
            _ => break,
        };
        let Some(&n) = frame.get(at).filter(|_| at < end) else {
            return Err(Error::Truncated);
        };
        next = n;
        at += ext_len;
        if at > end {
            return Err(Error::Truncated);
        }
        walked += 1;
        if fragment == Fragment::Later {
            break;
        }
        if walked == MAX_EXT_HEADERS {
            return Err(Error::Unsupported);
        }
    }
    let (src_port, dst_port) = if fragment == Fragment::Later {
        (0, 0)
    } else {
        ports(frame, at, end, next)?
    };
    Ok(Dissection {
        key: FlowKey {
            protocol: IpProtocol::from(next),
            src_addr: IpAddr::V6(Ipv6Addr::from(src)),
            dst_addr: IpAddr::V6(Ipv6Addr::from(dst)),
            src_port,
            dst_port,
            fragment,
        },
        vlan,
        l3_offset: off,
        l4_offset: at,
        l3_end: end,
    })
}

impl FlowKey {
    /// The flow key of a whole Ethernet frame; see [`dissect`] for the
    /// errors.
    #[inline]
    pub fn from_ethernet_frame(frame: &[u8]) -> Result<FlowKey> {
        dissect(frame).map(|d| d.key)
    }

    /// The flow key of a bare IP packet; see [`dissect_ip`].
    #[inline]
    pub fn from_ip_packet(packet: &[u8]) -> Result<FlowKey> {
        dissect_ip(packet).map(|d| d.key)
    }

    /// True for any fragment, first or later.
    #[inline]
    pub const fn is_fragment(&self) -> bool {
        !matches!(self.fragment, Fragment::None)
    }

    /// True for the first fragment of a fragmented datagram.
    #[inline]
    pub const fn is_first_fragment(&self) -> bool {
        matches!(self.fragment, Fragment::First)
    }

    /// True when the ports were read from a transport header.
    #[inline]
    pub fn has_ports(&self) -> bool {
        self.fragment != Fragment::Later && has_ports(self.protocol.into())
    }

    /// The bare 5-tuple.
    #[inline]
    pub const fn tuple(&self) -> (IpProtocol, IpAddr, IpAddr, u16, u16) {
        (
            self.protocol,
            self.src_addr,
            self.dst_addr,
            self.src_port,
            self.dst_port,
        )
    }

    /// The key of the reverse direction (addresses and ports swapped).
    #[inline]
    #[must_use]
    pub const fn reversed(&self) -> FlowKey {
        FlowKey {
            src_addr: self.dst_addr,
            dst_addr: self.src_addr,
            src_port: self.dst_port,
            dst_port: self.src_port,
            ..*self
        }
    }

    /// The key with the smaller (address, port) endpoint as source, so both
    /// directions of a connection map to the same key.
    #[inline]
    #[must_use]
    pub fn canonical(&self) -> FlowKey {
        if (self.dst_addr, self.dst_port) < (self.src_addr, self.src_port) {
            self.reversed()
        } else {
            *self
        }
    }

    /// The RSS hash of this flow: over addresses and ports when
    /// `with_ports` and [`has_ports`](Self::has_ports), else over the
    /// addresses only (the 82599 does not treat a fragment as TCP or UDP
    /// for RSS, datasheet §7.1.2.8). Mixed address families hash the
    /// addresses as bytes in order, which matches no hardware; it does not
    /// panic.
    pub fn rss_hash(&self, key: &ToeplitzKey, with_ports: bool) -> u32 {
        let ports = with_ports && self.has_ports();
        match (self.src_addr, self.dst_addr) {
            (IpAddr::V4(s), IpAddr::V4(d)) if ports => {
                key.hash_ipv4_ports(s, d, self.src_port, self.dst_port)
            }
            (IpAddr::V4(s), IpAddr::V4(d)) => key.hash_ipv4(s, d),
            (IpAddr::V6(s), IpAddr::V6(d)) if ports => {
                key.hash_ipv6_ports(&s, &d, self.src_port, self.dst_port)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => key.hash_ipv6(&s, &d),
            (s, d) => {
                // One address of each family: 4 + 16 bytes.
                let mut buf = [0u8; 20];
                let mut n = 0;
                for addr in [s, d] {
                    match addr {
                        IpAddr::V4(a) => {
                            buf[n..n + 4].copy_from_slice(&a.octets());
                            n += 4;
                        }
                        IpAddr::V6(a) => {
                            buf[n..n + 16].copy_from_slice(&a.octets());
                            n += 16;
                        }
                    }
                }
                key.hash(&buf[..n])
            }
        }
    }
}

#[cfg(test)]
mod tests;
