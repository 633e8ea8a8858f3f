//! Properties over random inputs: the link's books balance for any
//! impairment, and the software NIC neither loses nor duplicates a buffer or
//! a frame under any interleaving of driver calls and device steps.

use std::collections::BTreeSet;

use nic_sim::SimDma;
use nic_sim::link::{End, Impairment, Link};
use nic_sim::softnic::{Port, SoftNic, SoftNicConfig};
use nic_traits::{Batch, CardDriver, Dma, PacketBuf, QueueConfig, QueueDriver};
use proptest::prelude::*;

fn impairment() -> impl Strategy<Value = Impairment> {
    (
        0.0..=1.0f64,
        0.0..=1.0f64,
        0.0..=1.0f64,
        0.0..=1.0f64,
        0..10_000u64,
        0..10_000u64,
    )
        .prop_map(
            |(loss, duplicate, reorder, corrupt, delay_ns, jitter_ns)| Impairment {
                loss,
                duplicate,
                reorder,
                corrupt,
                delay_ns,
                jitter_ns,
            },
        )
}

proptest! {
    #[test]
    fn link_books_balance_for_any_impairment(
        seed in any::<u64>(),
        imp in impairment(),
        bandwidth in prop_oneof![Just(0u64), 1u64..10_000_000_000],
        sends in prop::collection::vec((0..2u8, 0..5_000u64, 0..200usize), 0..200),
    ) {
        let mut link = Link::new(seed, imp);
        link.set_bandwidth(End::A, bandwidth);
        let mut now = 0u64;
        let mut got = [0u64; 2];
        for (from, dt, len) in sends {
            now += dt;
            let from = if from == 0 { End::A } else { End::B };
            link.send(from, now, &vec![0xa5; len]);
            // Take a few at the current time; arrival times never precede it.
            while let Some(_f) = link.recv(from.peer(), now) {
                got[usize::from(from == End::B)] += 1;
            }
            if let Some(t) = link.next_arrival(from.peer()) {
                prop_assert!(t > now);
            }
        }
        for (i, end) in [End::B, End::A].into_iter().enumerate() {
            while link.recv(end, u64::MAX).is_some() {
                got[i] += 1;
            }
            let c = link.counters(end.peer());
            prop_assert_eq!(c.delivered, got[i]);
            prop_assert_eq!(c.delivered, c.sent - c.lost + c.duplicated);
            prop_assert_eq!(c.in_flight(), 0);
            prop_assert!(c.corrupted <= c.sent - c.lost);
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Refill(usize),
    Inject(usize),
    Send(usize),
    Poll,
    RxBurst,
    Reclaim,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..20usize).prop_map(Op::Refill),
        (1..20usize).prop_map(Op::Inject),
        (0..20usize).prop_map(Op::Send),
        Just(Op::Poll),
        Just(Op::RxBurst),
        Just(Op::Reclaim),
    ]
}

fn frame(dst: [u8; 6], seq: u32) -> Vec<u8> {
    let mut f = vec![0u8; 60 + (seq as usize % 50)];
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 0xee]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f[14..18].copy_from_slice(&seq.to_be_bytes());
    f
}

fn seq_of(f: &[u8]) -> u32 {
    u32::from_be_bytes([f[14], f[15], f[16], f[17]])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn softnic_keeps_every_buffer_and_frame(
        rx_ring in 2u16..16,
        tx_ring in 2u16..16,
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let mut nic = SoftNic::new(SoftNicConfig::default(), Port::Loopback);
        let mac = nic.mac_address().0;
        let cfg = QueueConfig { rx_ring, tx_ring, rx_buf_len: 2048 };
        let mut q = nic.queue(0, cfg).unwrap();
        let dma = SimDma::new();
        let mut pool: Vec<PacketBuf> =
            dma.alloc(64 * 2112, 64).unwrap().into_buffers(2112, 0).collect();
        let total = pool.len();
        let mut next_inject = 0u32;
        let mut next_send = 1_000_000u32;
        let mut injected = 0u64;
        let mut sent = 0u64;
        let mut received = BTreeSet::new();
        let mut last_rx: Option<u32> = None;
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Refill(n) => {
                    let mut b: Batch<20> = Batch::new();
                    for _ in 0..n.min(pool.len()) {
                        b.push_back(pool.pop().unwrap()).unwrap();
                    }
                    let before = b.len();
                    let free = q.rx_free();
                    let posted = q.refill(&mut b).unwrap();
                    prop_assert_eq!(posted, before.min(free));
                    pool.extend(b);
                }
                Op::Inject(n) => {
                    for _ in 0..n {
                        prop_assert!(nic.inject(&frame(mac, next_inject)));
                        next_inject += 1;
                        injected += 1;
                    }
                }
                Op::Send(n) => {
                    let mut b: Batch<20> = Batch::new();
                    for _ in 0..n.min(pool.len()) {
                        let mut buf = pool.pop().unwrap();
                        buf.reset(0);
                        buf.append(&frame(mac, next_send)).unwrap();
                        next_send += 1;
                        b.push_back(buf).unwrap();
                    }
                    let free = q.tx_free();
                    let before = b.len();
                    let k = q.tx_burst(&mut b).unwrap();
                    prop_assert_eq!(k, before.min(free));
                    sent += k as u64;
                    next_send -= b.len() as u32;
                    pool.extend(b);
                }
                Op::Poll => {
                    now += 1000;
                    nic.poll_device(now);
                }
                Op::RxBurst => {
                    let mut b: Batch<8> = Batch::new();
                    q.rx_burst(&mut b).unwrap();
                    for mut buf in b {
                        let s = seq_of(buf.data());
                        // Injected and looped-back frames each arrive in order.
                        prop_assert!(received.insert(s), "frame {} twice", s);
                        if s < 1_000_000 {
                            prop_assert!(last_rx.is_none_or(|l| s > l));
                            last_rx = Some(s);
                        }
                        buf.reset(0);
                        pool.push(buf);
                    }
                }
                Op::Reclaim => {
                    let mut b: Batch<8> = Batch::new();
                    q.tx_reclaim(&mut b).unwrap();
                    pool.extend(b);
                }
            }
        }
        // One last step: everything injected or queued reaches the device.
        nic.poll_device(now + 1000);
        nic.stop_queue(0).unwrap();
        loop {
            let mut b: Batch<8> = Batch::new();
            let n = q.release(&mut b);
            pool.extend(b);
            if n < 8 {
                break;
            }
        }
        prop_assert_eq!(pool.len(), total, "buffers lost or duplicated");
        let tags: BTreeSet<u32> = pool.iter().map(PacketBuf::tag).collect();
        prop_assert_eq!(tags.len(), total);
        let s = nic.stats();
        prop_assert_eq!(s.tx_packets, sent);
        prop_assert_eq!(s.tx_packets, q.counters().tx_frames);
        // Every frame that reached the device (injected, or sent and looped
        // back) was delivered to the ring or counted missed.
        prop_assert_eq!(s.rx_packets + s.rx_missed, injected + sent);
        prop_assert_eq!(s.rx_errors, 0);
        prop_assert!(received.len() as u64 <= s.rx_packets);
    }
}
