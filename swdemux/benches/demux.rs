#![allow(missing_docs)] // criterion_group! generates undocumented items.
//! Criterion benchmarks, each side by side with libpcap in the same run:
//! - `bpf/<filter>`: tcpdump's bytecode in our interpreter vs libpcap's
//!   `pcap_offline_filter`, on a frame the filter accepts;
//! - `connections/N`: N installed TCP connection filters, frame of the last
//!   one installed: our merged table, our interpreter walking N programs
//!   first-match, and libpcap walking N programs first-match.
//!
//! Needs tcpdump and libpcap (`apt-get install tcpdump libpcap-dev`).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/frames.rs"]
mod frames;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use nic_traits::FlowRule;
use swdemux::{DemuxTable, PCAP_ACCEPT, Program, VerifiedProgram, compile_expr};

fn bpf(c: &mut Criterion) {
    let lib = common::Libpcap::load().expect("libpcap");
    let mut g = c.benchmark_group("bpf");
    for (expr, frame) in frames::bpf_cases() {
        let text = common::tcpdump_ddd(expr).expect("tcpdump");
        let prog = Program::<4096>::parse(&text).unwrap();
        let ours = VerifiedProgram::<4096>::new(prog.insns()).unwrap();
        let theirs = lib.compile(expr).unwrap();
        assert_eq!(ours.run(&frame), theirs.run(&frame, frame.len() as u32));
        assert_ne!(ours.run(&frame), 0);
        g.bench_with_input(BenchmarkId::new("swdemux", expr), &frame, |b, f| {
            b.iter(|| ours.run(black_box(f)))
        });
        g.bench_with_input(BenchmarkId::new("libpcap", expr), &frame, |b, f| {
            b.iter(|| theirs.run(black_box(f), f.len() as u32))
        });
    }
    g.finish();
}

type Table = DemuxTable<4096, 8192, 1, 64>;

fn connections(c: &mut Criterion) {
    let lib = common::Libpcap::load().expect("libpcap");
    let mut g = c.benchmark_group("connections");
    for n in [1usize, 8, 64, 512, 4096] {
        let mut table: Box<Table> = Box::new(Table::new());
        let mut ours_list = Vec::new();
        let mut pcap_list = Vec::new();
        for i in 0..n {
            let (src, dst, expr) = frames::connection(i);
            table
                .add_rule(
                    0,
                    FlowRule::TcpConnection { src, dst },
                    (i % 60000) as u16 + 1,
                )
                .unwrap();
            ours_list.push(
                VerifiedProgram::<64>::new(compile_expr::<64>(&expr, PCAP_ACCEPT).unwrap().insns())
                    .unwrap(),
            );
            pcap_list.push(lib.compile(&expr).unwrap());
        }
        let frame = frames::connection_frame(n - 1);
        let want = (((n - 1) % 60000) + 1) as u16;
        assert_eq!(table.lookup(&frame), Some(want));
        assert_eq!(
            ours_list.iter().position(|p| p.run(&frame) != 0),
            Some(n - 1)
        );
        assert_eq!(
            pcap_list.iter().position(|p| p.run(&frame, 64) != 0),
            Some(n - 1)
        );
        g.bench_with_input(BenchmarkId::new("swdemux-table", n), &frame, |b, f| {
            b.iter(|| table.lookup(black_box(f)))
        });
        if n <= 512 {
            g.bench_with_input(
                BenchmarkId::new("swdemux-first-match", n),
                &frame,
                |b, f| b.iter(|| ours_list.iter().position(|p| p.run(black_box(f)) != 0)),
            );
            g.bench_with_input(
                BenchmarkId::new("libpcap-first-match", n),
                &frame,
                |b, f| b.iter(|| pcap_list.iter().position(|p| p.run(black_box(f), 64) != 0)),
            );
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = bpf, connections
}
criterion_main!(benches);
