//! Callgrind driver: runs one classification many times, so instructions per
//! call can be read with `valgrind --tool=callgrind --toggle-collect=<fn>`
//! (commands in BENCHMARKS.md).
//!
//! Usage: `bpf_callgrind <mode> <arg> <iterations>` with mode
//! - `ours` / `libpcap`, arg = case 0..4 (`ip`, `tcp dst port 80`,
//!   `tcp port 80`, `udp and host 10.0.0.1`): tcpdump's bytecode in our
//!   interpreter (`run_ours`) or in `pcap_offline_filter`;
//! - `table` / `libpcap-list`, arg = N: N TCP connection filters, frame of
//!   the last one: our merged table (`run_table`) or libpcap first-match
//!   over N programs (`run_pcap_list`).

#![allow(missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/frames.rs"]
mod frames;

use std::hint::black_box;

use nic_traits::FlowRule;
use swdemux::{DemuxTable, Program, VerifiedProgram};

type Table = DemuxTable<4096, 8192, 1, 64>;

#[inline(never)]
fn run_ours(p: &VerifiedProgram<4096>, f: &[u8]) -> u32 {
    p.run(f)
}

#[inline(never)]
fn run_table(t: &Table, f: &[u8]) -> Option<u16> {
    t.lookup(f)
}

#[inline(never)]
fn run_pcap_list(l: &[common::PcapFilter<'_>], f: &[u8]) -> Option<usize> {
    l.iter().position(|p| p.run(f, f.len() as u32) != 0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, arg, iters] = args.as_slice() else {
        eprintln!("usage: bpf_callgrind <ours|libpcap|table|libpcap-list> <case|N> <iterations>");
        std::process::exit(2);
    };
    let arg: usize = arg.parse().expect("number");
    let iters: u64 = iters.parse().expect("number");
    let lib = common::Libpcap::load().expect("libpcap");
    let mut acc = 0u64;
    match mode.as_str() {
        "ours" | "libpcap" => {
            let (expr, frame) = frames::bpf_cases().swap_remove(arg);
            let text = common::tcpdump_ddd(expr).expect("tcpdump");
            let prog = Program::<4096>::parse(&text).unwrap();
            let ours = VerifiedProgram::<4096>::new(prog.insns()).unwrap();
            let theirs = lib.compile(expr).unwrap();
            for _ in 0..iters {
                acc += u64::from(if mode == "ours" {
                    run_ours(black_box(&ours), black_box(&frame))
                } else {
                    theirs.run(black_box(&frame), 64)
                });
            }
            println!("{expr}: {mode}: sum {acc} over {iters} runs");
        }
        "table" | "libpcap-list" => {
            let mut table: Box<Table> = Box::new(Table::new());
            let mut list = Vec::new();
            for i in 0..arg {
                let (src, dst, expr) = frames::connection(i);
                if mode == "table" {
                    table
                        .add_rule(0, FlowRule::TcpConnection { src, dst }, 1)
                        .unwrap();
                } else {
                    list.push(lib.compile(&expr).unwrap());
                }
            }
            let frame = frames::connection_frame(arg - 1);
            for _ in 0..iters {
                acc += if mode == "table" {
                    u64::from(run_table(black_box(&table), black_box(&frame)).unwrap_or(0))
                } else {
                    run_pcap_list(black_box(&list), black_box(&frame)).map_or(0, |i| i as u64)
                };
            }
            println!("N={arg}: {mode}: sum {acc} over {iters} runs");
        }
        _ => panic!("unknown mode {mode}"),
    }
}
