//! Callgrind driver: runs one filter many times on one frame, in our
//! interpreter or in libpcap's `pcap_offline_filter`, so instruction counts
//! per call can be read with
//! `valgrind --tool=callgrind --toggle-collect=<function>` (see BENCHMARKS.md).
//!
//! Usage: `bpf_callgrind <ours|libpcap> <case 0..4> <iterations>`.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/frames.rs"]
mod frames;

use std::hint::black_box;
use swdemux::{Program, VerifiedProgram};

#[inline(never)]
fn run_ours(p: &VerifiedProgram<4096>, f: &[u8]) -> u32 {
    p.run(f)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (who, case, iters) = match args.as_slice() {
        [_, w, c, i] => (
            w.clone(),
            c.parse::<usize>().unwrap(),
            i.parse::<u64>().unwrap(),
        ),
        _ => {
            eprintln!("usage: bpf_callgrind <ours|libpcap> <case 0..4> <iterations>");
            std::process::exit(2);
        }
    };
    let (expr, frame) = frames::bpf_cases().swap_remove(case);
    let text = common::tcpdump_ddd(expr).expect("tcpdump");
    let prog = Program::<4096>::parse(&text).unwrap();
    let ours = VerifiedProgram::<4096>::new(prog.insns()).unwrap();
    let lib = common::Libpcap::load().expect("libpcap");
    let theirs = lib.compile(expr).unwrap();
    let mut acc = 0u64;
    match who.as_str() {
        "ours" => {
            for _ in 0..iters {
                acc += u64::from(run_ours(black_box(&ours), black_box(&frame)));
            }
        }
        "libpcap" => {
            for _ in 0..iters {
                acc += u64::from(theirs.run(black_box(&frame), 64));
            }
        }
        _ => panic!("ours or libpcap"),
    }
    println!("{expr}: {who} accepted with sum {acc} over {iters} runs");
}
