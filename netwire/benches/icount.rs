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

fn payload_1500() -> Vec<u8> {
    (0..1500u32).map(|i| (i * 7 + 3) as u8).collect()
}

#[library_benchmark]
#[bench::b1500(setup = payload_1500)]
fn checksum_sum(data: Vec<u8>) -> u16 {
    black_box(checksum::sum(black_box(&data)))
}

#[library_benchmark]
#[bench::b1500(setup = payload_1500)]
fn checksum_naive(data: Vec<u8>) -> u16 {
    black_box(naive_sum(black_box(&data)))
}

fn key() -> Box<ToeplitzKey> {
    Box::new(ToeplitzKey::new(&MICROSOFT_KEY))
}

const V4_INPUT: [u8; 12] = [66, 9, 149, 187, 161, 142, 100, 80, 0x0a, 0xea, 0x06, 0xe6];

#[library_benchmark]
#[bench::ipv4_tcp(setup = key)]
fn toeplitz_table(key: Box<ToeplitzKey>) -> u32 {
    black_box(key.hash(black_box(&V4_INPUT)))
}

#[library_benchmark]
#[bench::ipv6_tcp(setup = key)]
fn toeplitz_table_v6(key: Box<ToeplitzKey>) -> u32 {
    let s: Ipv6Addr = "3ffe:2501:200:1fff::7".parse().unwrap();
    let d: Ipv6Addr = "3ffe:2501:200:3::1".parse().unwrap();
    let input = toeplitz::ipv6_ports_input(&s, &d, 2794, 1766);
    black_box(key.hash(black_box(&input)))
}

#[library_benchmark]
fn toeplitz_direct() -> u32 {
    black_box(toeplitz::hash(
        black_box(&MICROSOFT_KEY),
        black_box(&V4_INPUT),
    ))
}

#[library_benchmark]
#[bench::tcp_v4(frames::TCP_PSH_DATA.to_vec())]
#[bench::udp_v6(frames::UDP_IPV6.to_vec())]
fn flow_key(frame: Vec<u8>) -> Option<FlowKey> {
    black_box(FlowKey::from_ethernet_frame(black_box(&frame)).ok())
}

#[library_benchmark]
#[bench::tcp_v4(frames::TCP_PSH_DATA.to_vec())]
fn views_ports(frame: Vec<u8>) -> Option<(Ipv4Addr, Ipv4Addr, u16, u16)> {
    let eth = EthernetFrame::new_checked(black_box(&frame[..])).ok()?;
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
    benchmarks = [checksum_sum, checksum_naive]
);
library_benchmark_group!(
    name = rss,
    benchmarks = [toeplitz_table, toeplitz_table_v6, toeplitz_direct]
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

main!(library_benchmark_groups = checksums, rss, parsing);
