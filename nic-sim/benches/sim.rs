//! How fast the simulation runs: frames per second through an impaired
//! link, and through two software NICs joined by one (queue drivers, rings,
//! device side and link). Not run by CI; see BENCHMARKS.md.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nic_sim::SimDma;
use nic_sim::link::{End, Impairment, Link};
use nic_sim::softnic::SoftNicPair;
use nic_traits::{Batch, CardDriver, Dma, PacketBuf, QueueConfig, QueueDriver};

const FRAMES: u64 = 1000;

fn impaired() -> Impairment {
    Impairment {
        loss: 0.01,
        duplicate: 0.01,
        reorder: 0.01,
        corrupt: 0.01,
        delay_ns: 10_000,
        jitter_ns: 1_000,
    }
}

fn link(c: &mut Criterion) {
    let mut g = c.benchmark_group("link");
    g.throughput(Throughput::Elements(FRAMES));
    let frame = [0x5au8; 128];
    for (name, imp) in [("perfect", Impairment::default()), ("impaired", impaired())] {
        g.bench_function(format!("send_recv_1000x128B_{name}"), |b| {
            b.iter(|| {
                let mut link = Link::new(1, imp);
                let mut got = 0;
                for i in 0..FRAMES {
                    link.send(End::A, i * 100, black_box(&frame));
                    while link.recv(End::B, i * 100).is_some() {
                        got += 1;
                    }
                }
                while link.recv(End::B, u64::MAX).is_some() {
                    got += 1;
                }
                black_box(got)
            })
        });
    }
    g.finish();
}

fn pair(c: &mut Criterion) {
    let mut g = c.benchmark_group("softnic_pair");
    g.throughput(Throughput::Elements(FRAMES));
    g.bench_function("1000x128B_bursts_of_32", |b| {
        b.iter(|| {
            let mut pair = SoftNicPair::new(1, Impairment::default(), 1);
            let mut qa = pair.a.queue(0, QueueConfig::default()).unwrap();
            let ring = QueueConfig {
                rx_ring: 64,
                tx_ring: 64,
                rx_buf_len: 2048,
            };
            let mut qb = pair.b.queue(0, ring).unwrap();
            let dma = SimDma::new();
            let mut pool: Vec<PacketBuf> = dma
                .alloc(256 * 2112, 64)
                .unwrap()
                .into_buffers(2112, 0)
                .collect();
            let dst = pair.b.mac_address().0;
            let mut frame = [0u8; 128];
            frame[..6].copy_from_slice(&dst);
            frame[12..14].copy_from_slice(&[0x88, 0xb5]);
            let mut sent = 0u64;
            let mut got = 0u64;
            let mut now = 0;
            // Bounded: a frame dropped for want of a buffer would otherwise
            // keep the loop waiting.
            for _ in 0..10 * FRAMES {
                if got + pair.b.stats().rx_missed >= FRAMES {
                    break;
                }
                let mut rx: Batch<64> = Batch::new();
                while !rx.is_full() && rx.len() < qb.rx_free() {
                    let Some(mut buf) = pool.pop() else { break };
                    buf.reset(0);
                    let _ = rx.push_back(buf);
                }
                qb.refill(&mut rx).unwrap();
                pool.extend(rx);
                let mut tx: Batch<32> = Batch::new();
                while sent < FRAMES && !tx.is_full() {
                    let Some(mut buf) = pool.pop() else { break };
                    buf.reset(0);
                    buf.append(&frame).unwrap();
                    let _ = tx.push_back(buf);
                    sent += 1;
                }
                qa.tx_burst(&mut tx).unwrap();
                sent -= tx.len() as u64;
                pool.extend(tx);
                pair.step(now);
                now += 1_000;
                let mut out: Batch<64> = Batch::new();
                got += qb.rx_burst(&mut out).unwrap() as u64;
                pool.extend(out);
                let mut out: Batch<64> = Batch::new();
                qa.tx_reclaim(&mut out).unwrap();
                pool.extend(out);
            }
            assert_eq!(got, FRAMES, "the benchmark measures a lossless path");
            black_box(got)
        })
    });
    g.finish();
}

criterion_group!(benches, link, pair);
criterion_main!(benches);
