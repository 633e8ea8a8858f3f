//! Time per operation for the hot paths: checksum, Toeplitz, flow key,
//! header parse. Run with `cargo bench -p netwire --bench wire`.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use core::net::{IpAddr, Ipv4Addr};
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netwire::toeplitz::{self, MICROSOFT_KEY, ToeplitzKey};
use netwire::{
    ChecksumCapabilities, EthernetFrame, FlowKey, Ipv4Packet, Ipv4Repr, TcpPacket, TcpRepr,
    checksum,
};

#[path = "../tests/fixtures/frames.rs"]
#[allow(dead_code)]
mod frames;

/// RFC 1071 §1 as written: 16-bit words into a 32-bit accumulator.
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

fn bench_checksum(c: &mut Criterion) {
    let data: Vec<u8> = (0..1500u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut g = c.benchmark_group("checksum_1500B");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("netwire_sum", |b| {
        b.iter(|| checksum::sum(black_box(&data)))
    });
    g.bench_function("naive_u16_words", |b| {
        b.iter(|| naive_sum(black_box(&data)))
    });
    g.finish();
}

fn bench_toeplitz(c: &mut Criterion) {
    let key = Box::new(ToeplitzKey::new(&MICROSOFT_KEY));
    let input = toeplitz::ipv4_ports_input(
        Ipv4Addr::new(66, 9, 149, 187),
        Ipv4Addr::new(161, 142, 100, 80),
        2794,
        1766,
    );
    let mut g = c.benchmark_group("toeplitz_ipv4_tcp_12B");
    g.bench_function("table", |b| b.iter(|| key.hash(black_box(&input))));
    g.bench_function("direct", |b| {
        b.iter(|| toeplitz::hash(black_box(&MICROSOFT_KEY), black_box(&input)))
    });
    g.finish();
}

fn bench_parse(c: &mut Criterion) {
    let frame = frames::TCP_PSH_DATA;
    let mut g = c.benchmark_group("parse_tcp_frame");
    g.bench_function("flow_key", |b| {
        b.iter(|| FlowKey::from_ethernet_frame(black_box(&frame)))
    });
    g.bench_function("views_ports", |b| {
        b.iter(|| {
            let eth = EthernetFrame::new_checked(black_box(&frame[..])).ok()?;
            let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
            let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
            Some((ip.src_addr(), ip.dst_addr(), tcp.src_port(), tcp.dst_port()))
        })
    });
    let caps = ChecksumCapabilities::default();
    let off = ChecksumCapabilities::offloaded();
    for (name, caps) in [("reprs_checksummed", caps), ("reprs_offloaded", off)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let eth = EthernetFrame::new_checked(black_box(&frame[..])).ok()?;
                let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
                let ipr = Ipv4Repr::parse(&ip, &caps).ok()?;
                let (s, d) = (IpAddr::V4(ipr.src_addr), IpAddr::V4(ipr.dst_addr));
                TcpRepr::parse(&TcpPacket::new_checked(ip.payload()).ok()?, &s, &d, &caps).ok()
            })
        });
    }
    let ip_bytes = &frame[14..];
    g.bench_function("ipv4_repr_offloaded", |b| {
        b.iter(|| Ipv4Repr::parse(&Ipv4Packet::new_unchecked(black_box(ip_bytes)), &off).ok())
    });
    let tcp_bytes = &frame[34..];
    let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
    g.bench_function("tcp_repr_offloaded", |b| {
        b.iter(|| {
            TcpRepr::parse(
                &TcpPacket::new_unchecked(black_box(tcp_bytes)),
                &a,
                &a,
                &off,
            )
            .ok()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_checksum, bench_toeplitz, bench_parse);
criterion_main!(benches);
