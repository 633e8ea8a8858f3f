//! What the model's receive pipeline needs to know about a frame: the
//! fields its filters look at, parsed from the wire bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Fields of one received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Parsed {
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// EtherType after one optional 802.1Q tag.
    pub ethertype: u16,
    /// The 802.1Q tag control information, if tagged.
    pub vlan: Option<u16>,
    /// Offset of the L3 header.
    pub l3_off: usize,
    /// IPv4 header length (IHL × 4), 0 if not IPv4.
    pub ipv4_hlen: usize,
    /// IP protocol / IPv6 next header.
    pub protocol: Option<u8>,
    /// Source address.
    pub src: Option<IpAddr>,
    /// Destination address.
    pub dst: Option<IpAddr>,
    /// Offset of the L4 header, when ports are present.
    pub l4_off: Option<usize>,
    /// Source port.
    pub src_port: Option<u16>,
    /// Destination port.
    pub dst_port: Option<u16>,
    /// TCP flags byte.
    pub tcp_flags: Option<u8>,
}

fn be16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(off)?, *b.get(off + 1)?]))
}

/// Parses Ethernet (RFC 894), one 802.1Q tag, IPv4 (RFC 791), IPv6 without
/// extension headers (RFC 8200), and the ports of TCP, UDP and SCTP.
/// Missing or truncated headers leave the later fields `None`.
pub fn parse(frame: &[u8]) -> Parsed {
    let mut p = Parsed::default();
    if frame.len() < 14 {
        return p;
    }
    p.dst_mac.copy_from_slice(&frame[..6]);
    let mut off = 12;
    let mut et = be16(frame, off).unwrap_or(0);
    if et == 0x8100 {
        p.vlan = be16(frame, 14);
        off += 4;
        et = be16(frame, off).unwrap_or(0);
    }
    p.ethertype = et;
    let l3 = off + 2;
    p.l3_off = l3;
    let (proto, l4, first_fragment) = match et {
        0x0800 => {
            let Some(&vihl) = frame.get(l3) else { return p };
            let ihl = usize::from(vihl & 0xF) * 4;
            if vihl >> 4 != 4 || ihl < 20 || frame.len() < l3 + ihl {
                return p;
            }
            p.ipv4_hlen = ihl;
            let src: [u8; 4] = frame[l3 + 12..l3 + 16].try_into().unwrap_or_default();
            let dst: [u8; 4] = frame[l3 + 16..l3 + 20].try_into().unwrap_or_default();
            p.src = Some(IpAddr::V4(Ipv4Addr::from(src)));
            p.dst = Some(IpAddr::V4(Ipv4Addr::from(dst)));
            let frag = be16(frame, l3 + 6).unwrap_or(0) & 0x1FFF;
            (frame[l3 + 9], l3 + ihl, frag == 0)
        }
        0x86DD => {
            if frame.len() < l3 + 40 {
                return p;
            }
            let src: [u8; 16] = frame[l3 + 8..l3 + 24].try_into().unwrap_or_default();
            let dst: [u8; 16] = frame[l3 + 24..l3 + 40].try_into().unwrap_or_default();
            p.src = Some(IpAddr::V6(Ipv6Addr::from(src)));
            p.dst = Some(IpAddr::V6(Ipv6Addr::from(dst)));
            (frame[l3 + 6], l3 + 40, true)
        }
        _ => return p,
    };
    p.protocol = Some(proto);
    if first_fragment && matches!(proto, 6 | 17 | 132) && frame.len() >= l4 + 4 {
        p.l4_off = Some(l4);
        p.src_port = be16(frame, l4);
        p.dst_port = be16(frame, l4 + 2);
        if proto == 6 {
            p.tcp_flags = frame.get(l4 + 13).copied();
        }
    }
    p
}

/// The Internet checksum's one's-complement sum of `data` (RFC 1071), folded.
pub fn ones_sum(data: &[u8], mut acc: u32) -> u16 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        acc += u32::from(*b) << 8;
    }
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    acc as u16
}

/// The pseudo-header sum for TCP/UDP over IPv4 (RFC 9293 §3.1, RFC 768).
pub fn pseudo_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> u32 {
    let s = src.octets();
    let d = dst.octets();
    u32::from(u16::from_be_bytes([s[0], s[1]]))
        + u32::from(u16::from_be_bytes([s[2], s[3]]))
        + u32::from(u16::from_be_bytes([d[0], d[1]]))
        + u32::from(u16::from_be_bytes([d[2], d[3]]))
        + u32::from(proto)
        + len as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tagged_tcp_and_stops_at_truncation() {
        let mut f = vec![0u8; 14 + 4 + 20 + 20];
        f[..6].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        f[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
        f[14..16].copy_from_slice(&7u16.to_be_bytes());
        f[16..18].copy_from_slice(&0x0800u16.to_be_bytes());
        f[18] = 0x45;
        f[18 + 9] = 6;
        f[18 + 12..18 + 16].copy_from_slice(&[10, 0, 0, 2]);
        f[18 + 16..18 + 20].copy_from_slice(&[10, 0, 0, 1]);
        f[38..40].copy_from_slice(&1234u16.to_be_bytes());
        f[40..42].copy_from_slice(&80u16.to_be_bytes());
        f[38 + 13] = 0x02;
        let p = parse(&f);
        assert_eq!(p.vlan, Some(7));
        assert_eq!(p.ethertype, 0x0800);
        assert_eq!(p.dst_port, Some(80));
        assert_eq!(p.tcp_flags, Some(0x02));
        let p = parse(&f[..30]);
        assert_eq!(p.protocol, None);
        assert_eq!(parse(&f[..5]), Parsed::default());
    }
}
