//! Every captured frame parsed through the public API, layer by layer, then
//! rebuilt from its reprs: the rebuilt frame must equal the capture byte for
//! byte (headers, options layout and checksums as Linux wrote them).

use core::net::IpAddr;

use netwire::{
    ArpPacket, ArpRepr, ChecksumCapabilities, EtherType, EthernetFrame, EthernetRepr, FlowKey,
    Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, TcpPacket,
    TcpRepr, UdpPacket, UdpRepr,
};

#[path = "fixtures/frames.rs"]
mod frames;

const CAPS: ChecksumCapabilities = ChecksumCapabilities::software();

/// Parses the transport layer of `l4` and rewrites it into `out`.
fn rebuild_l4(
    proto: IpProtocol,
    l4: &[u8],
    src: IpAddr,
    dst: IpAddr,
    out: &mut [u8],
) -> &'static str {
    match proto {
        IpProtocol::Tcp => {
            let p = TcpPacket::new_checked(l4).unwrap();
            let r = TcpRepr::parse(&p, &src, &dst, &CAPS).unwrap();
            out[r.header_len()..].copy_from_slice(p.payload());
            r.emit(&mut TcpPacket::new_unchecked(out), &src, &dst, &CAPS)
                .unwrap();
            "tcp"
        }
        IpProtocol::Udp => {
            let p = UdpPacket::new_checked(l4).unwrap();
            let r = UdpRepr::parse(&p, &src, &dst, &CAPS).unwrap();
            out[r.header_len()..].copy_from_slice(p.payload());
            r.emit(&mut UdpPacket::new_unchecked(out), &src, &dst, &CAPS)
                .unwrap();
            "udp"
        }
        IpProtocol::Icmp => {
            let p = Icmpv4Packet::new_checked(l4).unwrap();
            let r = Icmpv4Repr::parse(&p, &CAPS).unwrap();
            r.emit(&mut Icmpv4Packet::new_unchecked(out), &CAPS)
                .unwrap();
            "icmp"
        }
        _ => {
            // Not represented (e.g. ICMPv6 behind an extension header): copy.
            out.copy_from_slice(l4);
            "raw"
        }
    }
}

/// Parses `frame` completely and rebuilds it; returns the rebuilt bytes and
/// the innermost layer reached.
fn rebuild(frame: &[u8]) -> (Vec<u8>, &'static str) {
    let mut out = vec![0u8; frame.len()];
    let eth = EthernetFrame::new_checked(frame).unwrap();
    let eth_repr = EthernetRepr::parse(&eth).unwrap();
    let l2 = eth_repr.header_len();
    eth_repr
        .emit(&mut EthernetFrame::new_unchecked(&mut out[..]))
        .unwrap();
    let what = match eth_repr.ethertype {
        EtherType::Arp => {
            let r = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
            r.emit(&mut ArpPacket::new_unchecked(&mut out[l2..]))
                .unwrap();
            "arp"
        }
        EtherType::Ipv4 => {
            let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
            let r = Ipv4Repr::parse(&ip, &CAPS).unwrap();
            let l3 = r.header_len();
            let (s, d) = (IpAddr::V4(r.src_addr), IpAddr::V4(r.dst_addr));
            let end = l2 + r.buffer_len();
            let what = rebuild_l4(r.next_header, ip.payload(), s, d, &mut out[l2 + l3..end]);
            r.emit(&mut Ipv4Packet::new_unchecked(&mut out[l2..end]), &CAPS)
                .unwrap();
            what
        }
        EtherType::Ipv6 => {
            let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
            let r = Ipv6Repr::parse(&ip).unwrap();
            let (s, d) = (IpAddr::V6(r.src_addr), IpAddr::V6(r.dst_addr));
            let end = l2 + r.buffer_len();
            let what = rebuild_l4(r.next_header, ip.payload(), s, d, &mut out[l2 + 40..end]);
            r.emit(&mut Ipv6Packet::new_unchecked(&mut out[l2..end]))
                .unwrap();
            what
        }
        other => panic!("unexpected EtherType {other}"),
    };
    (out, what)
}

#[test]
fn every_capture_rebuilds_byte_for_byte() {
    let cases: [(&str, &[u8], &str); 11] = [
        ("mld", &frames::IPV6_MLD_HOP_BY_HOP, "raw"),
        ("arp request", &frames::ARP_REQUEST, "arp"),
        ("arp reply", &frames::ARP_REPLY, "arp"),
        ("echo request", &frames::ICMP_ECHO_REQUEST, "icmp"),
        ("echo reply", &frames::ICMP_ECHO_REPLY, "icmp"),
        ("dns query", &frames::UDP_DNS_QUERY, "udp"),
        ("port unreachable", &frames::ICMP_PORT_UNREACHABLE, "icmp"),
        ("udp over ipv6", &frames::UDP_IPV6, "udp"),
        ("syn", &frames::TCP_SYN, "tcp"),
        ("syn-ack", &frames::TCP_SYN_ACK, "tcp"),
        ("psh", &frames::TCP_PSH_DATA, "tcp"),
    ];
    for (name, frame, layer) in cases {
        let (out, what) = rebuild(frame);
        assert_eq!(what, layer, "{name}");
        assert_eq!(out, frame, "{name}");
    }
}

#[test]
fn flow_keys_of_a_connection_pair_up() {
    let syn = FlowKey::from_ethernet_frame(&frames::TCP_SYN).unwrap();
    let syn_ack = FlowKey::from_ethernet_frame(&frames::TCP_SYN_ACK).unwrap();
    let data = FlowKey::from_ethernet_frame(&frames::TCP_PSH_DATA).unwrap();
    assert_eq!(syn, data);
    assert_eq!(syn_ack.reversed(), syn);
    assert_ne!(syn, syn_ack);
}

#[test]
fn every_single_byte_corruption_is_handled() {
    // Flip each byte of each capture in turn: parsing may fail (checksums
    // catch most flips) but never panics, and a parse that succeeds
    // re-emits without error.
    let frames: [&[u8]; 5] = [
        &frames::TCP_SYN,
        &frames::UDP_DNS_QUERY,
        &frames::ICMP_PORT_UNREACHABLE,
        &frames::ARP_REQUEST,
        &frames::UDP_IPV6,
    ];
    let mut caught = 0;
    let mut total = 0;
    for frame in frames {
        for i in 14..frame.len() {
            let mut f = frame.to_vec();
            f[i] ^= 0x01;
            total += 1;
            let Ok(eth) = EthernetFrame::new_checked(&f[..]) else {
                continue;
            };
            let ok = match eth.ethertype() {
                EtherType::Ipv4 => Ipv4Packet::new_checked(eth.payload())
                    .and_then(|ip| {
                        let r = Ipv4Repr::parse(&ip, &CAPS)?;
                        let (s, d) = (IpAddr::V4(r.src_addr), IpAddr::V4(r.dst_addr));
                        match r.next_header {
                            IpProtocol::Tcp => TcpRepr::parse(
                                &TcpPacket::new_checked(ip.payload())?,
                                &s,
                                &d,
                                &CAPS,
                            )
                            .map(|_| ()),
                            IpProtocol::Udp => UdpRepr::parse(
                                &UdpPacket::new_checked(ip.payload())?,
                                &s,
                                &d,
                                &CAPS,
                            )
                            .map(|_| ()),
                            IpProtocol::Icmp => {
                                Icmpv4Repr::parse(&Icmpv4Packet::new_checked(ip.payload())?, &CAPS)
                                    .map(|_| ())
                            }
                            _ => Ok(()),
                        }
                    })
                    .is_ok(),
                EtherType::Ipv6 => Ipv6Packet::new_checked(eth.payload())
                    .and_then(|ip| {
                        let r = Ipv6Repr::parse(&ip)?;
                        let (s, d) = (IpAddr::V6(r.src_addr), IpAddr::V6(r.dst_addr));
                        UdpRepr::parse(&UdpPacket::new_checked(ip.payload())?, &s, &d, &CAPS)
                            .map(|_| ())
                    })
                    .is_ok(),
                EtherType::Arp => {
                    ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).is_ok()
                }
                _ => false,
            };
            let _ = FlowKey::from_ethernet_frame(&f);
            if !ok {
                caught += 1;
            }
        }
    }
    // ARP has no checksum and IP addresses are covered by the transport
    // checksums, so most (not all) flips are caught.
    assert!(caught * 2 > total, "caught {caught} of {total}");
}
