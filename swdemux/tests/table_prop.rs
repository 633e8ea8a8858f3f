//! The merged table gives the same answer as evaluating its entries one by
//! one in priority order (flow rules through `FlowRule::matches`, the
//! reference semantics), on random rule sets, removals and packets.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use nic_traits::{FlowRule, IpPrefix, L4Protocol, MaskedTuple};
use proptest::prelude::*;
use swdemux::{DemuxTable, Endpoint, PCAP_ACCEPT, VerifiedProgram, compile_expr, flow_fields};

const V4: [[u8; 4]; 3] = [[10, 0, 0, 1], [10, 0, 0, 2], [10, 1, 0, 1]];
const V6: [u16; 2] = [1, 2];
const PORTS: [u16; 3] = [80, 443, 5353];
const EXPRS: [&str; 4] = ["udp", "tcp port 443", "arp", "host 10.0.0.2"];

fn ip(v6: bool, i: usize) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, V6[i % 2]))
    } else {
        IpAddr::V4(Ipv4Addr::from(V4[i % 3]))
    }
}

fn proto() -> impl Strategy<Value = L4Protocol> {
    prop_oneof![
        Just(L4Protocol::Tcp),
        Just(L4Protocol::Udp),
        Just(L4Protocol::Other(1))
    ]
}

fn rule() -> impl Strategy<Value = FlowRule> {
    let v6 = any::<bool>();
    prop_oneof![
        prop_oneof![Just(0x0800u16), Just(0x0806), Just(0x86dd)].prop_map(FlowRule::EtherType),
        (
            prop_oneof![Just(L4Protocol::Tcp), Just(L4Protocol::Udp)],
            0..3usize,
            proptest::option::of((v6, 0..3usize))
        )
            .prop_map(|(protocol, p, a)| FlowRule::Port {
                protocol,
                port: PORTS[p],
                addr: a.map(|(v6, i)| ip(v6, i))
            }),
        (v6, 0..3usize, 0..3usize, 0..3usize, 0..3usize).prop_map(|(v6, s, d, sp, dp)| {
            FlowRule::TcpConnection {
                src: SocketAddr::new(ip(v6, s), PORTS[sp]),
                dst: SocketAddr::new(ip(v6, d), PORTS[dp]),
            }
        }),
        Just(FlowRule::TcpSyn),
        (
            v6,
            proptest::option::of(proto()),
            proptest::option::of((0..3usize, 0u8..=33)),
            proptest::option::of((0..3usize, 0u8..=33)),
            proptest::option::of(0..3usize),
            proptest::option::of(0..3usize),
        )
            .prop_map(|(v6, protocol, s, d, sp, dp)| {
                let pfx = |(i, len): (usize, u8)| IpPrefix {
                    addr: ip(v6, i),
                    len: if v6 { len * 4 } else { len },
                };
                FlowRule::Masked(MaskedTuple {
                    protocol,
                    src: s.map(pfx),
                    dst: d.map(pfx),
                    src_port: sp.map(|p| PORTS[p]),
                    dst_port: dp.map(|p| PORTS[p]),
                })
            }),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Rule(u16, FlowRule, Endpoint),
    Program(u16, usize, Endpoint),
    Remove(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u16..4, rule(), 1u16..50).prop_map(|(p, r, e)| Op::Rule(p, r, e)),
        1 => (0u16..4, 0..EXPRS.len(), 1u16..50).prop_map(|(p, x, e)| Op::Program(p, x, e)),
        1 => (0usize..40).prop_map(Op::Remove),
    ]
}

/// A frame from the same small pools of addresses and ports.
fn frame() -> impl Strategy<Value = Vec<u8>> {
    (
        0..4u8,        // kind: IPv4, IPv6, ARP, other
        any::<bool>(), // VLAN tag
        0..3usize,
        0..3usize,
        prop_oneof![Just(6u8), Just(17), Just(1)],
        0..3usize,
        0..3usize,
        prop_oneof![Just(0u16), Just(0x2000), Just(0x0010)], // IPv4 flags/offset: none, MF, offset 16
        prop_oneof![Just(0x02u8), Just(0x12), Just(0x10)],   // TCP flags
        prop_oneof![Just(usize::MAX), 0usize..80],           // truncation
        // IPv4 IHL: the usual 5, 6 (one option word), and malformed 4 and 0.
        prop_oneof![4 => Just(5u8), 1 => Just(6), 1 => Just(4), 1 => Just(0)],
    )
        .prop_map(|(kind, vlan, s, d, pr, sp, dp, frag, flags, cut, ihl)| {
            let mut f = vec![0u8; 12];
            if vlan {
                f.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
            }
            let l3 = f.len() + 2;
            match kind {
                0 => {
                    f.extend_from_slice(&[0x08, 0x00]);
                    let mut h = vec![0u8; 20];
                    h[0] = 0x40 | ihl;
                    h[6..8].copy_from_slice(&frag.to_be_bytes());
                    h[9] = pr;
                    h[12..16].copy_from_slice(&V4[s]);
                    h[16..20].copy_from_slice(&V4[d]);
                    if ihl == 6 {
                        h.extend_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
                    }
                    f.extend_from_slice(&h);
                }
                1 => {
                    f.extend_from_slice(&[0x86, 0xdd]);
                    let mut h = vec![0u8; 40];
                    h[0] = 0x60;
                    h[6] = pr;
                    if let (IpAddr::V6(a), IpAddr::V6(b)) = (ip(true, s), ip(true, d)) {
                        h[8..24].copy_from_slice(&a.octets());
                        h[24..40].copy_from_slice(&b.octets());
                    }
                    f.extend_from_slice(&h);
                }
                2 => {
                    f.extend_from_slice(&[0x08, 0x06]);
                    let mut h = vec![0u8; 28];
                    h[14..18].copy_from_slice(&V4[s]);
                    h[24..28].copy_from_slice(&V4[d]);
                    f.extend_from_slice(&h);
                }
                _ => f.extend_from_slice(&[0x88, 0xcc, 0, 0]),
            }
            let _ = l3;
            let mut l4 = vec![0u8; 20];
            l4[0..2].copy_from_slice(&PORTS[sp].to_be_bytes());
            l4[2..4].copy_from_slice(&PORTS[dp].to_be_bytes());
            l4[13] = flags;
            f.extend_from_slice(&l4);
            f.truncate(cut);
            f
        })
}

type Table = DemuxTable<64, 128, 8, 256>;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn merged_table_equals_ordered_first_match(ops in proptest::collection::vec(op(), 0..40),
                                               frames in proptest::collection::vec(frame(), 1..12)) {
        let mut table = Table::new();
        // The naive model: (priority, insertion order, matcher, endpoint).
        let mut model: Vec<(u16, usize, Result<FlowRule, usize>, Endpoint)> = Vec::new();
        let mut handles = Vec::new();
        let mut seq = 0usize;
        let progs: Vec<VerifiedProgram<256>> = EXPRS
            .iter()
            .map(|e| VerifiedProgram::new(compile_expr::<256>(e, PCAP_ACCEPT).unwrap().insns()).unwrap())
            .collect();
        for o in &ops {
            match o {
                Op::Rule(p, r, e) => match table.add_rule(*p, *r, *e) {
                    Ok(h) => {
                        handles.push((h, seq));
                        model.push((*p, seq, Ok(*r), *e));
                        seq += 1;
                    }
                    Err(swdemux::Error::InvalidRule) => prop_assert!(r.validate().is_err()),
                    // Out of entries or of shapes (MAX_SHAPES).
                    Err(err) => prop_assert_eq!(err, swdemux::Error::Full),
                },
                Op::Program(p, x, e) => {
                    let insns = compile_expr::<256>(EXPRS[*x], 1).unwrap();
                    if let Ok(h) = table.add_program(*p, insns.insns(), *e) {
                        handles.push((h, seq));
                        model.push((*p, seq, Err(*x), *e));
                        seq += 1;
                    }
                }
                Op::Remove(i) => {
                    if !handles.is_empty() {
                        let (h, s) = handles.remove(i % handles.len());
                        table.remove(h).unwrap();
                        model.retain(|m| m.1 != s);
                        prop_assert!(table.remove(h).is_err());
                    }
                }
            }
        }
        prop_assert_eq!(table.len(), model.len());
        let mut ordered = model.clone();
        ordered.sort_by_key(|m| (std::cmp::Reverse(m.0), m.1));
        for f in &frames {
            let fields = flow_fields(f);
            let want = ordered.iter().find(|m| match &m.2 {
                Ok(r) => fields.as_ref().is_some_and(|ff| r.matches(ff)),
                Err(x) => progs[*x].run(f) != 0,
            }).map(|m| m.3);
            prop_assert_eq!(table.lookup(f), want, "frame {:02x?} fields {:?}", f, fields);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// A rule compiled to bytecode accepts exactly what `FlowRule::matches`
    /// accepts on the frame's fields.
    #[test]
    fn compiled_rules_agree_with_flow_rule_matches(r in rule(), frames in proptest::collection::vec(frame(), 1..16)) {
        let compiled = swdemux::compile_rule::<256>(&r, 9);
        let Ok(p) = compiled else {
            prop_assert!(r.validate().is_err());
            return Ok(());
        };
        let v = VerifiedProgram::<256>::new(p.insns()).unwrap();
        for f in &frames {
            let want = flow_fields(f).is_some_and(|ff| r.matches(&ff));
            prop_assert_eq!(v.run(f) == 9, want, "{:?} on {:02x?}", r, f);
        }
    }
}

#[test]
fn full_table_is_a_clear_error() {
    let mut t = DemuxTable::<2, 2, 1, 8>::new();
    t.add_rule(0, FlowRule::tcp_port(1), 1).unwrap();
    t.add_rule(0, FlowRule::tcp_port(2), 1).unwrap();
    assert_eq!(
        t.add_rule(0, FlowRule::tcp_port(3), 1),
        Err(swdemux::Error::Full)
    );
    let bad = FlowRule::Port {
        protocol: L4Protocol::Sctp,
        port: 1,
        addr: None,
    };
    assert_eq!(t.add_rule(0, bad, 1), Err(swdemux::Error::InvalidRule));
}
