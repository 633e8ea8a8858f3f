//! Exact instruction counts (callgrind through gungraun) for the hot paths.
//! Run with `cargo bench -p netwire --bench icount` (needs valgrind and
//! `gungraun-runner` 0.20 on the PATH).

// The gungraun macros generate undocumented public items.
#![allow(missing_docs)]

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::hint::black_box;

use gungraun::{library_benchmark, library_benchmark_group, main};
use netwire::toeplitz::{self, MICROSOFT_KEY, ToeplitzKey};
use netwire::{
    ChecksumCapabilities, EthernetFrame, FlowKey, Ipv4Packet, Ipv4Repr, SeqNumber, TcpFlags,
    TcpPacket, TcpRepr, checksum,
};

#[path = "../tests/fixtures/frames.rs"]
#[allow(dead_code)]
mod frames;

const SOFTWARE: ChecksumCapabilities = ChecksumCapabilities::software();
const OFFLOADED: ChecksumCapabilities = ChecksumCapabilities::offloaded();

fn naive_sum(data: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [b] = chunks.remainder() {
        acc += (*b as u32) << 8;
    }
    while acc > 0xffff {
        acc = (acc >> 16) + (acc & 0xffff);
    }
    acc as u16
}

// Inputs are statics so no allocation or drop is counted.
const fn payload_1500() -> [u8; 1500] {
    let mut out = [0u8; 1500];
    let mut i = 0;
    while i < out.len() {
        out[i] = (i * 7 + 3) as u8;
        i += 1;
    }
    out
}
static PAYLOAD: [u8; 1500] = payload_1500();
static KEY: ToeplitzKey = ToeplitzKey::new(&MICROSOFT_KEY);

#[library_benchmark]
fn checksum_sum_1500() -> u16 {
    black_box(checksum::sum(black_box(&PAYLOAD)))
}

#[library_benchmark]
fn checksum_naive_1500() -> u16 {
    black_box(naive_sum(black_box(&PAYLOAD)))
}

const V4_INPUT: [u8; 12] = [66, 9, 149, 187, 161, 142, 100, 80, 0x0a, 0xea, 0x06, 0xe6];

fn v6_input() -> [u8; 36] {
    let s: Ipv6Addr = "3ffe:2501:200:1fff::7".parse().unwrap();
    let d: Ipv6Addr = "3ffe:2501:200:3::1".parse().unwrap();
    toeplitz::ipv6_ports_input(&s, &d, 2794, 1766)
}

#[library_benchmark]
fn toeplitz_table_v4_tcp() -> u32 {
    black_box(KEY.hash(black_box(&V4_INPUT)))
}

#[library_benchmark]
#[bench::input(setup = v6_input)]
fn toeplitz_table_v6_tcp(input: [u8; 36]) -> u32 {
    black_box(KEY.hash(black_box(&input)))
}

#[library_benchmark]
fn toeplitz_direct_v4_tcp() -> u32 {
    black_box(toeplitz::hash(
        black_box(&MICROSOFT_KEY),
        black_box(&V4_INPUT),
    ))
}

#[library_benchmark]
#[bench::tcp_v4(&frames::TCP_PSH_DATA[..])]
#[bench::udp_v6(&frames::UDP_IPV6[..])]
fn flow_key(frame: &'static [u8]) -> Option<FlowKey> {
    black_box(FlowKey::from_ethernet_frame(black_box(frame)).ok())
}

#[library_benchmark]
#[bench::tcp_v4(&frames::TCP_PSH_DATA[..])]
fn views_ports(frame: &'static [u8]) -> Option<(Ipv4Addr, Ipv4Addr, u16, u16)> {
    let eth = EthernetFrame::new_checked(black_box(frame)).ok()?;
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
    black_box(Some((
        ip.src_addr(),
        ip.dst_addr(),
        tcp.src_port(),
        tcp.dst_port(),
    )))
}

#[library_benchmark]
#[bench::software(SOFTWARE)]
#[bench::offloaded(OFFLOADED)]
fn ipv4_repr_parse(caps: ChecksumCapabilities) -> Option<Ipv4Repr> {
    let p = Ipv4Packet::new_unchecked(black_box(&frames::TCP_PSH_DATA[14..]));
    black_box(Ipv4Repr::parse(&p, &caps).ok())
}

#[library_benchmark]
#[bench::software(SOFTWARE)]
#[bench::offloaded(OFFLOADED)]
fn tcp_repr_parse(caps: ChecksumCapabilities) -> Option<TcpRepr> {
    let p = TcpPacket::new_unchecked(black_box(&frames::TCP_PSH_DATA[34..]));
    let (s, d) = (
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
    );
    black_box(TcpRepr::parse(&p, &s, &d, &caps).ok())
}

#[library_benchmark]
#[bench::software(SOFTWARE)]
#[bench::offloaded(OFFLOADED)]
fn tcp_repr_emit(caps: ChecksumCapabilities) -> [u8; 32] {
    let mut repr = TcpRepr::new(8080, 41754, SeqNumber(1), SeqNumber(2), TcpFlags::ACK, 512);
    repr.timestamps = Some(netwire::tcp::TcpTimestamps { tsval: 1, tsecr: 2 });
    let (s, d) = (
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
    );
    let mut out = [0u8; 32];
    let _ = black_box(&repr).emit(&mut TcpPacket::new_unchecked(&mut out[..]), &s, &d, &caps);
    black_box(out)
}

library_benchmark_group!(
    name = checksums,
    benchmarks = [checksum_sum_1500, checksum_naive_1500]
);
library_benchmark_group!(
    name = rss,
    benchmarks = [
        toeplitz_table_v4_tcp,
        toeplitz_table_v6_tcp,
        toeplitz_direct_v4_tcp
    ]
);
// The same operations with smoltcp 0.14's `wire` module, on the same
// bytes, for a peer figure.
use smoltcp::phy::ChecksumCapabilities as SCaps;
use smoltcp::wire::{
    EthernetFrame as SEth, IpAddress, Ipv4Packet as SIp, Ipv4Repr as SIpRepr, TcpControl,
    TcpPacket as STcp, TcpRepr as STcpRepr, TcpSeqNumber, TcpTimestampRepr,
};

fn software() -> SCaps {
    SCaps::default()
}

fn ignored() -> SCaps {
    SCaps::ignored()
}

#[library_benchmark]
#[bench::tcp_v4(&frames::TCP_PSH_DATA[..])]
fn smoltcp_views_ports(frame: &'static [u8]) -> Option<(Ipv4Addr, Ipv4Addr, u16, u16)> {
    let eth = SEth::new_checked(black_box(frame)).ok()?;
    let ip = SIp::new_checked(eth.payload()).ok()?;
    let tcp = STcp::new_checked(ip.payload()).ok()?;
    black_box(Some((
        ip.src_addr(),
        ip.dst_addr(),
        tcp.src_port(),
        tcp.dst_port(),
    )))
}

#[library_benchmark]
#[bench::software(setup = software)]
#[bench::offloaded(setup = ignored)]
fn smoltcp_ipv4_repr_parse(caps: SCaps) -> Option<SIpRepr> {
    let p = SIp::new_unchecked(black_box(&frames::TCP_PSH_DATA[14..]));
    black_box(SIpRepr::parse(&p, &caps).ok())
}

#[library_benchmark]
#[bench::software(setup = software)]
#[bench::offloaded(setup = ignored)]
fn smoltcp_tcp_repr_parse(caps: SCaps) -> Option<STcpRepr<'static>> {
    let p = STcp::new_unchecked(black_box(&frames::TCP_PSH_DATA[34..]));
    let (s, d) = (
        IpAddress::Ipv4(Ipv4Addr::new(10, 0, 0, 1)),
        IpAddress::Ipv4(Ipv4Addr::new(10, 0, 0, 2)),
    );
    black_box(STcpRepr::parse(&p, &s, &d, &caps).ok())
}

#[library_benchmark]
#[bench::software(setup = software)]
#[bench::offloaded(setup = ignored)]
fn smoltcp_tcp_repr_emit(caps: SCaps) -> [u8; 32] {
    let repr = STcpRepr {
        src_port: 8080,
        dst_port: 41754,
        control: TcpControl::None,
        seq_number: TcpSeqNumber(1),
        ack_number: Some(TcpSeqNumber(2)),
        window_len: 512,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: Some(TcpTimestampRepr::new(1, 2)),
        payload: &[],
    };
    let (s, d) = (
        IpAddress::Ipv4(Ipv4Addr::new(10, 0, 0, 2)),
        IpAddress::Ipv4(Ipv4Addr::new(10, 0, 0, 1)),
    );
    let mut out = [0u8; 32];
    black_box(&repr).emit(&mut STcp::new_unchecked(&mut out[..]), &s, &d, &caps);
    black_box(out)
}

library_benchmark_group!(
    name = smoltcp_peer,
    benchmarks = [
        smoltcp_views_ports,
        smoltcp_ipv4_repr_parse,
        smoltcp_tcp_repr_parse,
        smoltcp_tcp_repr_emit
    ]
);

library_benchmark_group!(
    name = parsing,
    benchmarks = [
        flow_key,
        views_ports,
        ipv4_repr_parse,
        tcp_repr_parse,
        tcp_repr_emit
    ]
);

main!(
    library_benchmark_groups = checksums,
    rss,
    parsing,
    smoltcp_peer
);
