//! Any bytes through every netwire parser, and every parsed header back
//! through its emitter: no panic on any input, and the round trip holds
//! (parse → emit → parse gives the same repr; a second emit gives the same
//! bytes).
#![no_main]

use core::net::{IpAddr, Ipv4Addr};
use libfuzzer_sys::fuzz_target;
use netwire::{
    ArpPacket, ArpRepr, ChecksumCapabilities, EthernetFrame, EthernetRepr, FlowKey, Icmpv4Packet,
    Icmpv4Repr, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, TcpPacket, TcpRepr, UdpPacket, UdpRepr,
    flow,
};

fuzz_target!(|data: &[u8]| {
    let sw = ChecksumCapabilities::software();
    let off = ChecksumCapabilities::offloaded();

    // Every parser on the raw bytes, then on the layers found inside.
    ethernet(data);
    arp(data);
    let src = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let dst = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2));
    for caps in [&sw, &off] {
        ipv4(data, caps);
        tcp(data, &src, &dst, caps);
        udp(data, &src, &dst, caps);
        icmpv4(data, caps);
    }
    ipv6(data);

    if let Ok(frame) = EthernetFrame::new_checked(data) {
        let payload = frame.payload();
        arp(payload);
        ipv4(payload, &off);
        ipv6(payload);
        if let Ok(p) = Ipv4Packet::new_checked(payload) {
            let (s, d) = (IpAddr::V4(p.src_addr()), IpAddr::V4(p.dst_addr()));
            let l4 = p.payload();
            tcp(l4, &s, &d, &off);
            udp(l4, &s, &d, &off);
            icmpv4(l4, &off);
        }
        if let Ok(p) = Ipv6Packet::new_checked(payload) {
            let (s, d) = (IpAddr::V6(p.src_addr()), IpAddr::V6(p.dst_addr()));
            tcp(p.payload(), &s, &d, &off);
            udp(p.payload(), &s, &d, &off);
        }
    }

    // Flow dissection: no panic; the key's symmetries hold.
    for key in [
        FlowKey::from_ethernet_frame(data),
        FlowKey::from_ip_packet(data),
    ]
    .into_iter()
    .flatten()
    {
        assert_eq!(key.reversed().reversed(), key);
        assert_eq!(key.canonical(), key.canonical().canonical());
        assert_eq!(key.canonical(), key.reversed().canonical());
        let _ = key.is_first_fragment();
        let _ = key.has_ports();
    }
    let _ = flow::dissect(data);
    let _ = flow::dissect_ip(data);
});

fn ethernet(data: &[u8]) {
    let Ok(frame) = EthernetFrame::new_checked(data) else {
        return;
    };
    let Ok(repr) = EthernetRepr::parse(&frame) else {
        return;
    };
    let payload = frame.payload();
    let mut buf = vec![0u8; repr.buffer_len() + payload.len()];
    buf[repr.buffer_len()..].copy_from_slice(payload);
    let mut out = EthernetFrame::new_checked(&mut buf[..]).expect("emitted length");
    repr.emit(&mut out).expect("emit into buffer_len");
    let again = EthernetRepr::parse(&EthernetFrame::new_checked(&buf[..]).unwrap()).unwrap();
    assert_eq!(again, repr, "Ethernet round trip");
    assert_eq!(
        EthernetFrame::new_checked(&buf[..]).unwrap().payload(),
        payload
    );
}

fn arp(data: &[u8]) {
    let Ok(p) = ArpPacket::new_checked(data) else {
        return;
    };
    let Ok(repr) = ArpRepr::parse(&p) else { return };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ArpPacket::new_checked(&mut buf[..]).unwrap())
        .expect("emit into buffer_len");
    let again = ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).unwrap()).unwrap();
    assert_eq!(again, repr, "ARP round trip");
}

fn ipv4(data: &[u8], caps: &ChecksumCapabilities) {
    let Ok(p) = Ipv4Packet::new_checked(data) else {
        return;
    };
    let Ok(repr) = Ipv4Repr::parse(&p, caps) else {
        return;
    };
    assert_eq!(repr.payload_len, p.payload().len());
    let mut buf = vec![0u8; repr.buffer_len()];
    buf[repr.header_len()..].copy_from_slice(p.payload());
    let sw = ChecksumCapabilities::software();
    repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), &sw)
        .expect("emit into buffer_len");
    // The emitted header carries a correct checksum: parse verifies it.
    let again = Ipv4Repr::parse(&Ipv4Packet::new_checked(&buf[..]).unwrap(), &sw)
        .expect("emitted IPv4 parses with checksum verification");
    assert_eq!(again, repr, "IPv4 round trip");
}

fn ipv6(data: &[u8]) {
    let Ok(p) = Ipv6Packet::new_checked(data) else {
        return;
    };
    let Ok(repr) = Ipv6Repr::parse(&p) else {
        return;
    };
    let payload = p.payload();
    let mut buf = vec![0u8; repr.header_len() + payload.len()];
    buf[repr.header_len()..].copy_from_slice(payload);
    repr.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]))
        .expect("emit into header_len");
    let again = Ipv6Repr::parse(&Ipv6Packet::new_checked(&buf[..]).unwrap()).unwrap();
    assert_eq!(again, repr, "IPv6 round trip");
}

fn tcp(data: &[u8], src: &IpAddr, dst: &IpAddr, caps: &ChecksumCapabilities) {
    let Ok(p) = TcpPacket::new_checked(data) else {
        return;
    };
    let Ok(repr) = TcpRepr::parse(&p, src, dst, caps) else {
        return;
    };
    let payload = p.payload();
    assert_eq!(repr.payload_len, payload.len());
    let sw = ChecksumCapabilities::software();
    let emit = |r: &TcpRepr| {
        let mut buf = vec![0u8; r.buffer_len()];
        buf[r.header_len()..].copy_from_slice(payload);
        r.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), src, dst, &sw)
            .expect("emit into buffer_len");
        buf
    };
    let buf = emit(&repr);
    let again = TcpRepr::parse(&TcpPacket::new_checked(&buf[..]).unwrap(), src, dst, &sw)
        .expect("emitted TCP parses with checksum verification");
    // Emit leaves out SACK blocks that do not fit beside the other options;
    // everything else survives, and the result is a fixed point.
    let mut expect = repr;
    expect
        .sack_blocks
        .truncate(again.sack_blocks.as_slice().len());
    assert_eq!(again, expect, "TCP round trip");
    assert_eq!(emit(&again), buf, "TCP emit is a fixed point");
}

fn udp(data: &[u8], src: &IpAddr, dst: &IpAddr, caps: &ChecksumCapabilities) {
    let Ok(p) = UdpPacket::new_checked(data) else {
        return;
    };
    let Ok(repr) = UdpRepr::parse(&p, src, dst, caps) else {
        return;
    };
    let payload = p.payload();
    assert_eq!(repr.payload_len, payload.len());
    let mut buf = vec![0u8; repr.buffer_len()];
    buf[repr.header_len()..].copy_from_slice(payload);
    let sw = ChecksumCapabilities::software();
    repr.emit(&mut UdpPacket::new_unchecked(&mut buf[..]), src, dst, &sw)
        .expect("emit into buffer_len");
    let again = UdpRepr::parse(&UdpPacket::new_checked(&buf[..]).unwrap(), src, dst, &sw)
        .expect("emitted UDP parses with checksum verification");
    assert_eq!(again, repr, "UDP round trip");
}

fn icmpv4(data: &[u8], caps: &ChecksumCapabilities) {
    let Ok(p) = Icmpv4Packet::new_checked(data) else {
        return;
    };
    let Ok(repr) = Icmpv4Repr::parse(&p, caps) else {
        return;
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    let sw = ChecksumCapabilities::software();
    repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]), &sw)
        .expect("emit into buffer_len");
    let p2 = Icmpv4Packet::new_checked(&buf[..]).unwrap();
    let again =
        Icmpv4Repr::parse(&p2, &sw).expect("emitted ICMP parses with checksum verification");
    assert_eq!(again, repr, "ICMPv4 round trip");
}
