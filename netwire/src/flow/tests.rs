use super::*;
use crate::ChecksumCapabilities;
use crate::ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
use crate::frames;
use crate::ipv4::{Ipv4Options, Ipv4Packet, Ipv4Repr};
use crate::toeplitz::MICROSOFT_KEY;
use proptest::prelude::*;
use std::vec::Vec;

const ALL: [&[u8]; 11] = [
    &frames::IPV6_MLD_HOP_BY_HOP,
    &frames::ARP_REQUEST,
    &frames::ARP_REPLY,
    &frames::ICMP_ECHO_REQUEST,
    &frames::ICMP_ECHO_REPLY,
    &frames::UDP_DNS_QUERY,
    &frames::ICMP_PORT_UNREACHABLE,
    &frames::UDP_IPV6,
    &frames::TCP_SYN,
    &frames::TCP_SYN_ACK,
    &frames::TCP_PSH_DATA,
];

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// `frame` with an 802.1Q tag (VID 100, PCP 3) inserted after the MACs.
fn tagged(frame: &[u8]) -> Vec<u8> {
    let cut = frame.len().min(12);
    let mut out = frame[..cut].to_vec();
    out.extend_from_slice(&[0x81, 0x00, 0x60, 0x64]);
    out.extend_from_slice(&frame[cut..]);
    out
}

#[test]
fn captured_frames() {
    let k = FlowKey::from_ethernet_frame(&frames::TCP_SYN).unwrap();
    assert_eq!(
        k,
        FlowKey {
            protocol: IpProtocol::Tcp,
            src_addr: v4(10, 0, 0, 1),
            dst_addr: v4(10, 0, 0, 2),
            src_port: 41754,
            dst_port: 8080,
            fragment: Fragment::None,
        }
    );
    assert!(k.has_ports() && !k.is_fragment());
    assert_eq!(
        FlowKey::from_ethernet_frame(&frames::TCP_SYN_ACK).unwrap(),
        k.reversed()
    );

    let k = FlowKey::from_ethernet_frame(&frames::UDP_DNS_QUERY).unwrap();
    assert_eq!(
        k.tuple(),
        (IpProtocol::Udp, v4(10, 0, 0, 1), v4(10, 0, 0, 2), 52623, 53)
    );

    let k = FlowKey::from_ethernet_frame(&frames::ICMP_ECHO_REQUEST).unwrap();
    assert_eq!(
        (k.protocol, k.src_port, k.dst_port, k.has_ports()),
        (IpProtocol::Icmp, 0, 0, false)
    );

    let d = dissect(&frames::UDP_IPV6).unwrap();
    assert_eq!(d.key.protocol, IpProtocol::Udp);
    assert_eq!(d.key.src_addr, IpAddr::V6("fd00::1".parse().unwrap()));
    assert_eq!((d.key.src_port, d.key.dst_port), (55269, 7777));
    assert_eq!((d.l3_offset, d.l4_offset, d.l3_end), (14, 54, 69));

    // The Hop-by-Hop header is walked to the ICMPv6 header behind it.
    let d = dissect(&frames::IPV6_MLD_HOP_BY_HOP).unwrap();
    assert_eq!(d.key.protocol, IpProtocol::Icmpv6);
    assert_eq!(d.l4_offset, 14 + 40 + 8);
    assert_eq!(frames::IPV6_MLD_HOP_BY_HOP[d.l4_offset], 143); // MLDv2 report

    assert_eq!(
        FlowKey::from_ethernet_frame(&frames::ARP_REQUEST),
        Err(Error::Unsupported)
    );
}

#[test]
fn bare_ip_packets() {
    let k = FlowKey::from_ip_packet(&frames::TCP_SYN[14..]).unwrap();
    assert_eq!(k, FlowKey::from_ethernet_frame(&frames::TCP_SYN).unwrap());
    let d = dissect_ip(&frames::UDP_IPV6[14..]).unwrap();
    assert_eq!((d.l3_offset, d.l4_offset, d.key.dst_port), (0, 40, 7777));
    assert_eq!(dissect_ip(&[]), Err(Error::Truncated));
    assert_eq!(dissect_ip(&[0x50; 40]), Err(Error::Malformed));
}

#[test]
fn vlan_tag_is_skipped_and_reported() {
    let f = tagged(&frames::TCP_SYN);
    let d = dissect(&f).unwrap();
    assert_eq!(
        d.key,
        FlowKey::from_ethernet_frame(&frames::TCP_SYN).unwrap()
    );
    assert_eq!(
        d.vlan,
        Some(VlanTci {
            pcp: 3,
            dei: false,
            vid: 100
        })
    );
    assert_eq!(d.l3_offset, 18);
    assert_eq!(dissect(&f[..17]), Err(Error::Truncated));
    // The view agrees about the tag.
    let e = EthernetFrame::new_checked(&f[..]).unwrap();
    assert_eq!((e.vlan(), e.payload_ethertype()), (d.vlan, EtherType::Ipv4));
}

#[test]
fn ipv4_fragments() {
    let mut f = frames::UDP_DNS_QUERY;
    f[20] |= 0x20; // MF, offset 0
    let k = FlowKey::from_ethernet_frame(&f).unwrap();
    assert_eq!(k.fragment, Fragment::First);
    assert!(k.is_first_fragment() && k.has_ports());
    assert_eq!((k.src_port, k.dst_port), (52623, 53));
    f[21] = 0x03; // offset 24 bytes: a later fragment, no ports
    let k = FlowKey::from_ethernet_frame(&f).unwrap();
    assert_eq!(k.fragment, Fragment::Later);
    assert!(k.is_fragment() && !k.is_first_fragment() && !k.has_ports());
    assert_eq!(
        (k.protocol, k.src_port, k.dst_port),
        (IpProtocol::Udp, 0, 0)
    );
    f[20] &= !0x20; // last fragment: offset set, MF clear
    assert_eq!(
        FlowKey::from_ethernet_frame(&f).unwrap().fragment,
        Fragment::Later
    );
}

#[test]
fn ipv4_options_are_skipped() {
    let mut buf = [0u8; 14 + 32 + 8];
    let eth = EthernetRepr {
        src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
        dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
        vlan: None,
        ethertype: EtherType::Ipv4,
    };
    eth.emit(&mut EthernetFrame::new_unchecked(&mut buf[..]))
        .unwrap();
    let mut ip = Ipv4Repr::new(
        Ipv4Addr::new(1, 2, 3, 4),
        Ipv4Addr::new(5, 6, 7, 8),
        IpProtocol::Tcp,
        8,
        64,
    );
    // Router Alert (RFC 2113) plus Record Route padding: 12 option bytes.
    ip.options = Ipv4Options::new(&[0x94, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0]).unwrap();
    ip.emit(
        &mut Ipv4Packet::new_unchecked(&mut buf[14..]),
        &ChecksumCapabilities::default(),
    )
    .unwrap();
    buf[46..50].copy_from_slice(&[0x01, 0xbb, 0xc3, 0x50]);
    let d = dissect(&buf).unwrap();
    assert_eq!(d.l4_offset, 14 + 32);
    assert_eq!((d.key.src_port, d.key.dst_port), (443, 50000));
    // Ports cut off by the IP total length are truncated, even with bytes
    // beyond it in the frame.
    let mut short = buf;
    short[17] = 32 + 2; // total length
    assert_eq!(dissect(&short), Err(Error::Truncated));
}

/// An Ethernet + IPv6 frame: `ext` extension-header bytes, then `tail`.
fn ipv6_frame(first_nh: u8, ext: &[u8], tail: &[u8]) -> Vec<u8> {
    let mut f = std::vec![0u8; 14];
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&((ext.len() + tail.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[first_nh, 64]);
    f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    f.extend_from_slice(ext);
    f.extend_from_slice(tail);
    f
}

#[test]
fn ipv6_extension_headers() {
    let udp = [0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0];
    // Destination Options (8 bytes, PadN) then a first fragment then UDP.
    let ext = [
        44, 0, 1, 4, 0, 0, 0, 0, /* frag: */ 17, 0, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef,
    ];
    let f = ipv6_frame(60, &ext, &udp);
    let d = dissect(&f).unwrap();
    assert_eq!(d.key.protocol, IpProtocol::Udp);
    assert_eq!(d.key.fragment, Fragment::First);
    assert_eq!((d.key.src_port, d.key.dst_port), (12345, 53));
    assert_eq!(d.l4_offset, 14 + 40 + 16);
    // A later fragment (offset 8 bytes): no ports.
    let ext = [17, 0, 0x00, 0x08, 0xde, 0xad, 0xbe, 0xef];
    let k = FlowKey::from_ethernet_frame(&ipv6_frame(44, &ext, &udp)).unwrap();
    assert_eq!(
        (k.fragment, k.protocol, k.src_port),
        (Fragment::Later, IpProtocol::Udp, 0)
    );
    // An extension header running past the payload is truncated.
    let ext = [6, 3, 0, 0, 0, 0, 0, 0];
    assert_eq!(dissect(&ipv6_frame(0, &ext, &udp)), Err(Error::Truncated));
    // Nine Destination Options headers in a row are more than we walk.
    let mut ext = Vec::new();
    for _ in 0..9 {
        ext.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
    }
    assert_eq!(
        dissect(&ipv6_frame(60, &ext, &udp)),
        Err(Error::Unsupported)
    );
}

#[test]
fn bad_versions_and_lengths() {
    let mut f = frames::TCP_SYN;
    f[14] = 0x65;
    assert_eq!(dissect(&f), Err(Error::Malformed));
    let mut f = frames::TCP_SYN;
    f[14] = 0x44;
    assert_eq!(dissect(&f), Err(Error::Malformed));
    let mut f = frames::TCP_SYN;
    f[17] = 10; // total length below the header length
    assert_eq!(dissect(&f), Err(Error::Malformed));
    let mut f = frames::UDP_IPV6;
    f[14] = 0x40;
    assert_eq!(dissect(&f), Err(Error::Malformed));
    assert_eq!(dissect(&[]), Err(Error::Truncated));
}

#[test]
fn every_prefix_is_truncated_until_the_ip_end() {
    for frame in ALL {
        let Ok(d) = dissect(frame) else { continue };
        for len in 0..frame.len() {
            let r = dissect(&frame[..len]);
            if len < d.l3_end {
                assert_eq!(r, Err(Error::Truncated), "len {len} of {frame:02x?}");
            } else {
                assert_eq!(r, Ok(d));
            }
        }
    }
}

#[test]
fn rss_hash_matches_microsoft_vector() {
    let key = std::boxed::Box::new(ToeplitzKey::new(&MICROSOFT_KEY));
    // First row of Microsoft's table: 66.9.149.187:2794 -> 161.142.100.80:1766.
    let k = FlowKey {
        protocol: IpProtocol::Tcp,
        src_addr: v4(66, 9, 149, 187),
        dst_addr: v4(161, 142, 100, 80),
        src_port: 2794,
        dst_port: 1766,
        fragment: Fragment::None,
    };
    assert_eq!(k.rss_hash(&key, false), 0x323e8fc2);
    assert_eq!(k.rss_hash(&key, true), 0x51ccc178);
    let later = FlowKey {
        fragment: Fragment::Later,
        src_port: 0,
        dst_port: 0,
        ..k
    };
    assert_eq!(later.rss_hash(&key, true), 0x323e8fc2);
    let mixed = FlowKey {
        dst_addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
        ..k
    };
    let _ = mixed.rss_hash(&key, true);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = dissect(&data);
        let _ = dissect_ip(&data);
    }

    #[test]
    fn mutated_frames_never_panic_and_agree_with_views(which in 0usize..ALL.len(), at in 0usize..128, val: u8, cut in 0usize..128) {
        let mut f = ALL[which].to_vec();
        let i = at % f.len();
        f[i] = val;
        f.truncate(cut.max(1).min(f.len()));
        let tf = tagged(&f);
        for frame in [&f[..], &tf[..]] {
            if let Ok(d) = dissect(frame) {
                // The checked views see the same addresses and protocol.
                let eth = EthernetFrame::new_checked(frame).unwrap();
                prop_assert_eq!(eth.header_len(), d.l3_offset);
                if let IpAddr::V4(src) = d.key.src_addr {
                    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
                    prop_assert_eq!(ip.src_addr(), src);
                    prop_assert_eq!(ip.header_len(), d.l4_offset - d.l3_offset);
                    prop_assert_eq!(ip.next_header(), d.key.protocol);
                    prop_assert_eq!(ip.is_fragment(), d.key.is_fragment());
                }
            }
        }
    }
}
