//! Every filter class steers what it should, in the datasheet's order, on the model.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::*;
use ixgbe_nostd::{Config, FdirMode};
use nic_sim::SimDma;
use nic_traits::{
    CardDriver, ErrorKind, FilterAction, FilterClass, FlowRule, IpPrefix, L4Protocol, MaskedTuple,
    RssConfig, RssHashFields, RxFlags,
};

fn to(queue: u16) -> FilterAction {
    FilterAction {
        queue,
        ..Default::default()
    }
}

fn to_prio(queue: u16, priority: u8) -> FilterAction {
    FilterAction {
        queue,
        priority,
        ..Default::default()
    }
}

fn arp_frame() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0xee]);
    f.extend_from_slice(&0x0806u16.to_be_bytes());
    f.resize(60, 0);
    f
}

/// Queues 0..n with buffers; returns which queue received each injected frame.
struct Rig {
    dev: nic_sim::i82599::I82599,
    card: Card,
    queues: Vec<Queue>,
}

impl Rig {
    fn new(config: Config, n: u16) -> Self {
        let (dev, dma, mut card) = card_with(MAC_A, config);
        let queues = (0..n)
            .map(|i| queue_with_buffers(&mut card, &dma, i))
            .collect();
        Self { dev, card, queues }
    }

    /// Injects `f` and returns the queue it arrived on and its buffer's flags.
    fn route(&mut self, f: &[u8]) -> Option<(usize, RxFlags)> {
        self.dev.inject(f);
        let mut hit = None;
        for (i, q) in self.queues.iter_mut().enumerate() {
            let got = drain(q);
            assert!(got.len() <= 1);
            if let Some(b) = got.first() {
                assert!(hit.is_none(), "delivered twice");
                assert_eq!(b.data(), f);
                hit = Some((i, b.rx().flags));
            }
            // Recycle the buffers so long runs never exhaust a ring.
            let mut back: nic_traits::Batch<4> = nic_traits::Batch::new();
            for mut b in got {
                b.reset(128);
                back.push_back(b).unwrap();
            }
            use nic_traits::QueueDriver;
            q.refill(&mut back).unwrap();
            assert!(back.is_empty());
        }
        hit
    }

    fn queue_of(&mut self, f: &[u8]) -> usize {
        self.route(f).expect("frame delivered").0
    }
}

#[test]
fn ethertype_filters_steer_and_run_out() {
    let mut rig = Rig::new(Config::default(), 4);
    let h = rig
        .card
        .install_filter(FilterClass::EtherType, &FlowRule::ARP, to(3))
        .unwrap();
    let (q, flags) = rig.route(&arp_frame()).unwrap();
    assert_eq!(q, 3);
    assert!(flags.contains(RxFlags::FILTER_MATCH));
    assert_eq!(rig.queue_of(&udp(MAC_A, 1, 2)), 0);
    for t in 1..8 {
        rig.card
            .install_filter(
                FilterClass::EtherType,
                &FlowRule::EtherType(0x9000 + t),
                to(1),
            )
            .unwrap();
    }
    assert_eq!(
        rig.card
            .install_filter(FilterClass::EtherType, &FlowRule::EtherType(0x88cc), to(1)),
        Err(ErrorKind::NoResources)
    );
    assert_eq!(
        rig.card
            .install_filter(FilterClass::EtherType, &FlowRule::EtherType(0x0800), to(1)),
        Err(ErrorKind::Unsupported)
    );
    rig.card.remove_filter(h).unwrap();
    assert_eq!(rig.card.remove_filter(h), Err(ErrorKind::NotFound));
    assert_eq!(rig.queue_of(&arp_frame()), 0);
}

#[test]
fn five_tuple_filters_respect_priority_and_run_out_at_128() {
    let mut rig = Rig::new(Config::default(), 4);
    let port53 = FlowRule::udp_port(53);
    let from_peer = FlowRule::Masked(MaskedTuple {
        protocol: Some(L4Protocol::Udp),
        src: Some(IpPrefix::host(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)))),
        dst_port: Some(53),
        ..Default::default()
    });
    rig.card
        .install_filter(FilterClass::FiveTuple, &port53, to_prio(1, 1))
        .unwrap();
    let hi = rig
        .card
        .install_filter(FilterClass::FiveTuple, &from_peer, to_prio(2, 5))
        .unwrap();
    let from_peer_frame = udp(MAC_A, 999, 53);
    let other_src = ipv4_frame(MAC_A, 17, [10, 0, 0, 3], [10, 0, 0, 1], 999, 53, 0, 8);
    assert_eq!(rig.queue_of(&from_peer_frame), 2);
    assert_eq!(rig.queue_of(&other_src), 1);
    assert_eq!(rig.queue_of(&udp(MAC_A, 999, 54)), 0);
    assert_eq!(rig.queue_of(&tcp(MAC_A, 999, 53, 0x10)), 0);
    // Equal priority: the lower index wins.
    rig.card.remove_filter(hi).unwrap();
    rig.card
        .install_filter(FilterClass::FiveTuple, &from_peer, to_prio(3, 1))
        .unwrap();
    assert_eq!(rig.queue_of(&from_peer_frame), 1);
    // Fill the table: the 129th is refused with a clear error.
    for p in 0..126 {
        rig.card
            .install_filter(FilterClass::FiveTuple, &FlowRule::tcp_port(2000 + p), to(1))
            .unwrap();
    }
    let cap = rig.card.filter_capacity(FilterClass::FiveTuple);
    assert_eq!((cap.total, cap.used), (128, 128));
    assert_eq!(
        rig.card
            .install_filter(FilterClass::FiveTuple, &FlowRule::tcp_port(9), to(1)),
        Err(ErrorKind::NoResources)
    );
    // What a 5-tuple filter cannot express.
    let v6 = FlowRule::Port {
        protocol: L4Protocol::Tcp,
        port: 80,
        addr: Some("::1".parse().unwrap()),
    };
    let (_dev, _dma, mut fresh) = card();
    assert_eq!(
        fresh.install_filter(FilterClass::FiveTuple, &v6, to(1)),
        Err(ErrorKind::Unsupported)
    );
    let prefix = FlowRule::Masked(MaskedTuple {
        dst: Some(IpPrefix {
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)),
            len: 24,
        }),
        ..Default::default()
    });
    assert_eq!(
        fresh.install_filter(FilterClass::FiveTuple, &prefix, to(1)),
        Err(ErrorKind::Unsupported)
    );
    assert_eq!(
        fresh.install_filter(FilterClass::FiveTuple, &port53, to_prio(1, 8)),
        Err(ErrorKind::InvalidArgument)
    );
    assert_eq!(
        fresh.install_filter(FilterClass::FiveTuple, &port53, to(64)),
        Err(ErrorKind::InvalidArgument)
    );
}

#[test]
fn syn_filter_and_its_priority_against_five_tuple() {
    for syn_first in [false, true] {
        let config = Config {
            syn_before_five_tuple: syn_first,
            ..Config::default()
        };
        let mut rig = Rig::new(config, 5);
        rig.card
            .install_filter(FilterClass::Syn, &FlowRule::TcpSyn, to(4))
            .unwrap();
        assert_eq!(
            rig.card
                .install_filter(FilterClass::Syn, &FlowRule::TcpSyn, to(3)),
            Err(ErrorKind::NoResources)
        );
        rig.card
            .install_filter(FilterClass::FiveTuple, &FlowRule::tcp_port(80), to(1))
            .unwrap();
        assert_eq!(rig.queue_of(&tcp(MAC_A, 5000, 443, 0x02)), 4, "SYN");
        assert_eq!(rig.queue_of(&tcp(MAC_A, 5000, 443, 0x12)), 0, "SYN-ACK");
        assert_eq!(rig.queue_of(&tcp(MAC_A, 5000, 80, 0x10)), 1, "ACK to 80");
        let syn_to_80 = rig.queue_of(&tcp(MAC_A, 5000, 80, 0x02));
        assert_eq!(syn_to_80, if syn_first { 4 } else { 1 });
    }
}

fn conn(sport: u16, dport: u16) -> FlowRule {
    FlowRule::TcpConnection {
        src: format!("10.0.0.2:{sport}").parse().unwrap(),
        dst: format!("10.0.0.1:{dport}").parse().unwrap(),
    }
}

#[test]
fn flow_director_perfect_and_signature_filters_steer_flows() {
    for (mode, class) in [
        (FdirMode::Perfect, FilterClass::FlowDirectorPerfect),
        (FdirMode::Signature, FilterClass::FlowDirectorSignature),
    ] {
        let config = Config {
            flow_director: mode,
            ..Config::default()
        };
        let mut rig = Rig::new(config, 8);
        let other = if class == FilterClass::FlowDirectorPerfect {
            FilterClass::FlowDirectorSignature
        } else {
            FilterClass::FlowDirectorPerfect
        };
        assert_eq!(rig.card.filter_capacity(other).total, 0);
        assert_eq!(
            rig.card.install_filter(other, &conn(1, 2), to(1)),
            Err(ErrorKind::Unsupported)
        );
        let mut handles = Vec::new();
        for i in 0..40u16 {
            handles.push(
                rig.card
                    .install_filter(class, &conn(40000 + i, 80), to(1 + i % 7))
                    .unwrap(),
            );
        }
        assert_eq!(rig.card.filter_capacity(class).used, 40);
        for i in 0..40u16 {
            let (q, flags) = rig.route(&tcp(MAC_A, 40000 + i, 80, 0x10)).unwrap();
            assert_eq!(q, usize::from(1 + i % 7));
            assert!(flags.contains(RxFlags::FILTER_MATCH));
        }
        assert_eq!(rig.queue_of(&tcp(MAC_A, 39999, 80, 0x10)), 0);
        rig.card.remove_filter(handles[3]).unwrap();
        assert_eq!(rig.queue_of(&tcp(MAC_A, 40003, 80, 0x10)), 0);
        assert_eq!(rig.queue_of(&tcp(MAC_A, 40004, 80, 0x10)), 5);
        // A wildcard rule needs per-rule masks, which Flow Director lacks.
        assert_eq!(
            rig.card
                .install_filter(class, &FlowRule::tcp_port(80), to(1)),
            Err(ErrorKind::Unsupported)
        );
        // 5-tuple filters come before Flow Director.
        rig.card
            .install_filter(FilterClass::FiveTuple, &FlowRule::tcp_port(80), to(7))
            .unwrap();
        assert_eq!(rig.queue_of(&tcp(MAC_A, 40004, 80, 0x10)), 7);
    }
    let (_dev, _dma, mut off) = card();
    assert_eq!(
        off.install_filter(FilterClass::FlowDirectorPerfect, &conn(1, 2), to(1)),
        Err(ErrorKind::Unsupported)
    );
}

/// The key of the Microsoft RSS verification suite.
const MS_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

#[test]
fn rss_spreads_flows_by_the_redirection_table() {
    let mut rig = Rig::new(Config::default(), 4);
    let reta: Vec<u16> = (0..128).map(|i| (i * 7 % 4) as u16).collect();
    rig.card
        .set_rss(&RssConfig {
            key: &MS_KEY,
            reta: &reta,
            fields: RssHashFields::IPV4 | RssHashFields::IPV4_TCP | RssHashFields::IPV4_UDP,
        })
        .unwrap();
    // Microsoft's published vector: 66.9.149.187:2794 -> 161.142.100.80:1766
    // hashes to 0x51ccc178 with ports.
    let f = ipv4_frame(
        MAC_A,
        6,
        [66, 9, 149, 187],
        [161, 142, 100, 80],
        2794,
        1766,
        0x10,
        0,
    );
    rig.dev.inject(&f);
    let want_q = usize::from(reta[0x51cc_c178 & 0x7F]);
    let got = drain(&mut rig.queues[want_q]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rx().rss_hash, 0x51cc_c178);
    assert!(got[0].rx().flags.contains(RxFlags::RSS_HASH));
    let mut per_queue = [0usize; 4];
    for sport in 0..256u16 {
        let src = [10, 1, (sport >> 8) as u8, sport as u8];
        let f = ipv4_frame(MAC_A, 17, src, [10, 0, 0, 1], 1024 + sport, 53, 0, 8);
        let mut input = Vec::new();
        input.extend_from_slice(&src);
        input.extend_from_slice(&[10, 0, 0, 1]);
        input.extend_from_slice(&(1024 + sport).to_be_bytes());
        input.extend_from_slice(&53u16.to_be_bytes());
        let h = netwire::toeplitz::hash(&MS_KEY, &input);
        let q = rig.queue_of(&f);
        assert_eq!(q, usize::from(reta[(h & 0x7F) as usize]));
        per_queue[q] += 1;
    }
    assert!(per_queue.iter().all(|&n| n > 30), "{per_queue:?}");
    // A filter still wins over RSS.
    rig.card
        .install_filter(FilterClass::FiveTuple, &FlowRule::udp_port(53), to(3))
        .unwrap();
    assert_eq!(
        rig.queue_of(&ipv4_frame(
            MAC_A,
            17,
            [1, 2, 3, 4],
            [10, 0, 0, 1],
            5,
            53,
            0,
            8
        )),
        3
    );
    // Bad configurations.
    let bad_q: Vec<u16> = vec![16; 128];
    let cfg = |key: &'static [u8], reta: &'static [u16]| RssConfig {
        key,
        reta,
        fields: RssHashFields::IPV4,
    };
    assert_eq!(
        rig.card.set_rss(&cfg(&MS_KEY[..39], &[0])),
        Err(ErrorKind::InvalidArgument)
    );
    let leaked: &'static [u16] = Box::leak(bad_q.into_boxed_slice());
    assert_eq!(
        rig.card.set_rss(&cfg(&MS_KEY, leaked)),
        Err(ErrorKind::InvalidArgument)
    );
    // Disabling RSS sends everything to queue 0 again.
    rig.card
        .set_rss(&RssConfig {
            key: &MS_KEY,
            reta: &[1],
            fields: RssHashFields::empty(),
        })
        .unwrap();
    assert_eq!(rig.queue_of(&tcp(MAC_A, 1, 2, 0x10)), 0);
}

#[test]
fn low_latency_interrupt_bits_are_programmed_per_filter() {
    use nic_sim::i82599::reg;
    let config = Config {
        flow_director: FdirMode::Perfect,
        ..Config::default()
    };
    let (dev, _dma, mut card) = card_with(MAC_A, config);
    let lli = FilterAction {
        queue: 2,
        low_latency: true,
        priority: 3,
    };
    let h = card
        .install_filter(FilterClass::FiveTuple, &FlowRule::udp_port(53), lli)
        .unwrap();
    let imir = dev.model().peek(reg::l34t_imir(h.index as usize));
    assert_eq!(imir & (1 << 20), 1 << 20, "L34T_IMIR.LLI");
    assert_eq!((imir >> 21) & 0x7F, 2);
    let h = card
        .install_filter(FilterClass::EtherType, &FlowRule::ARP, lli)
        .unwrap();
    assert_eq!(
        dev.model().peek(reg::etqs(h.index as usize)) & (1 << 29),
        1 << 29,
        "ETQS.LLI"
    );
    card.install_filter(FilterClass::FlowDirectorPerfect, &conn(1, 2), lli)
        .unwrap();
    assert_eq!(
        dev.model().peek(reg::FDIRCMD) & (1 << 10),
        1 << 10,
        "FDIRCMD.INT"
    );
    let plain = card
        .install_filter(FilterClass::FiveTuple, &FlowRule::udp_port(54), to(2))
        .unwrap();
    assert_eq!(
        dev.model().peek(reg::l34t_imir(plain.index as usize)) & (1 << 20),
        0
    );
}

#[test]
fn flow_director_refuses_a_duplicate_flow() {
    let config = Config {
        flow_director: FdirMode::Perfect,
        ..Config::default()
    };
    let (_dev, _dma, mut card) = card_with(MAC_A, config);
    card.install_filter(FilterClass::FlowDirectorPerfect, &conn(5, 6), to(1))
        .unwrap();
    assert_eq!(
        card.install_filter(FilterClass::FlowDirectorPerfect, &conn(5, 6), to(2)),
        Err(ErrorKind::InvalidArgument)
    );
    assert_eq!(
        card.filter_capacity(FilterClass::FlowDirectorPerfect).used,
        1
    );
}

#[test]
fn queue_setup_frees_rings_when_memory_runs_out() {
    use nic_sim::i82599::I82599;
    use nic_sim::i82599::NoDelay;
    use nic_traits::QueueConfig;
    // Room for the receive ring but not the transmit ring.
    let dma = SimDma::with_limit(64 * 16 + 16);
    let dev = I82599::new(dma.clone(), MAC_A);
    let mut card: Card =
        ixgbe_nostd::Ixgbe::new(dev, dma.clone(), NoDelay, Config::default()).unwrap();
    let qc = QueueConfig {
        rx_ring: 64,
        tx_ring: 64,
        rx_buf_len: 2048,
    };
    assert_eq!(card.queue(0, qc).err(), Some(ErrorKind::NoResources));
    assert_eq!(dma.live_regions(), 0);
}

#[test]
fn rss_is_programmed_at_the_82599_addresses() {
    let (dev, _dma, mut card) = card();
    card.set_rss(&RssConfig {
        key: &MS_KEY,
        reta: &[1, 2, 3, 4],
        fields: RssHashFields::IPV4,
    })
    .unwrap();
    let m = dev.model();
    // §8.2.3.7.12: MRQC at 0x0EC80, MRQE = 1 (RSS).
    assert_eq!(m.peek(0x0_EC80) & 0xF, 1);
    // §8.2.3.7.14: RETA(0) at 0x0EB00, entries 0..4 in bytes 0..4.
    assert_eq!(m.peek(0x0_EB00), 0x0403_0201);
    // §8.2.3.7.15: RSSRK(0) at 0x0EB80, key bytes 0..4, byte 0 lowest.
    assert_eq!(
        m.peek(0x0_EB80),
        u32::from_le_bytes([MS_KEY[0], MS_KEY[1], MS_KEY[2], MS_KEY[3]])
    );
    drop(m);
    // The model also decodes the 82598-compatible addresses.
    assert_eq!(dev.model().read(0x0_5C00), 0x0403_0201);
    dev.model().write(0x0_5818, 0);
    assert_eq!(dev.model().peek(0x0_EC80), 0);
}
