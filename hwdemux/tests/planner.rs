//! The planner against a mock card with small tables: whatever the placement,
//! hardware steering followed by software first-match equals ideal
//! first-match by priority.

use std::net::IpAddr;

use hwdemux::{Error, Placement, Planner, fill_software_table};
use nic_traits::{
    Batch, CardDriver, CardInfo, ErrorKind, ErrorType, FilterAction, FilterCapacity, FilterClass,
    FilterHandle, FlowFields, FlowRule, InterruptCauses, IpPrefix, L4Protocol, LinkState, MacAddr,
    MaskedTuple, Offloads, QueueConfig, QueueDriver, RssConfig, RxMode, Stats,
};
use proptest::prelude::*;
use swdemux::DemuxTable;

/// A queue type the mock never hands out.
#[derive(Debug)]
enum NoQueue {}

impl ErrorType for NoQueue {
    type Error = ErrorKind;
}

impl QueueDriver for NoQueue {
    fn index(&self) -> u16 {
        match *self {}
    }
    fn rx_burst<const N: usize>(&mut self, _: &mut Batch<N>) -> Result<usize, ErrorKind> {
        match *self {}
    }
    fn refill<const N: usize>(&mut self, _: &mut Batch<N>) -> Result<usize, ErrorKind> {
        match *self {}
    }
    fn rx_free(&self) -> usize {
        match *self {}
    }
    fn tx_burst<const N: usize>(&mut self, _: &mut Batch<N>) -> Result<usize, ErrorKind> {
        match *self {}
    }
    fn tx_reclaim<const N: usize>(&mut self, _: &mut Batch<N>) -> Result<usize, ErrorKind> {
        match *self {}
    }
    fn tx_free(&self) -> usize {
        match *self {}
    }
    fn set_interrupt(&mut self, _: bool) -> Result<(), ErrorKind> {
        match *self {}
    }
    fn release<const N: usize>(&mut self, _: &mut Batch<N>) -> usize {
        match *self {}
    }
}

/// A card with tiny filter tables and the 82599's class order and
/// expressiveness (5-tuple: IPv4, exact fields only).
#[derive(Debug)]
struct MockCard {
    tables: Vec<(FilterClass, Vec<Slot>)>,
}

/// An installed rule and its queue, or a free slot.
type Slot = Option<(FlowRule, u16)>;

impl MockCard {
    fn new(ethertype: usize, five_tuple: usize, syn: usize, fdir: usize) -> Self {
        let t = |c, n| (c, vec![None; n]);
        Self {
            tables: vec![
                t(FilterClass::EtherType, ethertype),
                t(FilterClass::FiveTuple, five_tuple),
                t(FilterClass::Syn, syn),
                t(FilterClass::FlowDirectorPerfect, fdir),
            ],
        }
    }

    fn expressible(class: FilterClass, rule: &FlowRule) -> bool {
        let exact_v4 = |p: Option<IpPrefix>| p.is_none_or(|p| p.addr.is_ipv4() && p.len == 32);
        match (class, rule) {
            (FilterClass::EtherType, FlowRule::EtherType(_)) => true,
            (FilterClass::Syn, FlowRule::TcpSyn) => true,
            (FilterClass::FiveTuple, FlowRule::Port { addr, .. }) => {
                addr.is_none_or(|a| a.is_ipv4())
            }
            (FilterClass::FiveTuple, FlowRule::TcpConnection { dst, .. }) => dst.is_ipv4(),
            (FilterClass::FiveTuple, FlowRule::Masked(m)) => exact_v4(m.src) && exact_v4(m.dst),
            (FilterClass::FlowDirectorPerfect, FlowRule::TcpConnection { .. }) => true,
            (FilterClass::FlowDirectorPerfect, FlowRule::Port { .. }) => true,
            _ => false,
        }
    }

    /// Hardware steering: classes in order; `None` means the default queue.
    fn steer(&self, f: &FlowFields) -> Option<u16> {
        self.tables.iter().find_map(|(_, slots)| {
            slots
                .iter()
                .flatten()
                .find(|(rule, _)| rule.matches(f))
                .map(|&(_, q)| q)
        })
    }
}

impl ErrorType for MockCard {
    type Error = ErrorKind;
}

impl CardDriver for MockCard {
    type Queue = NoQueue;
    fn info(&self) -> CardInfo {
        CardInfo {
            queues: 64,
            vectors: 0,
            max_frame_len: 1514,
            offloads: Offloads::empty(),
            reta_len: 0,
        }
    }
    fn reset(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
    fn mac_address(&self) -> MacAddr {
        MacAddr([2, 0, 0, 0, 0, 1])
    }
    fn set_rx_mode(&mut self, _: RxMode) -> Result<(), ErrorKind> {
        Ok(())
    }
    fn link(&mut self) -> LinkState {
        LinkState::Down
    }
    fn stats(&mut self) -> Stats {
        Stats::default()
    }
    fn queue(&mut self, _: u16, _: QueueConfig) -> Result<NoQueue, ErrorKind> {
        Err(ErrorKind::Unsupported)
    }
    fn stop_queue(&mut self, _: u16) -> Result<(), ErrorKind> {
        Err(ErrorKind::Unsupported)
    }
    fn filter_capacity(&self, class: FilterClass) -> FilterCapacity {
        self.tables
            .iter()
            .find(|(c, _)| *c == class)
            .map_or(FilterCapacity::default(), |(_, s)| FilterCapacity {
                total: s.len() as u32,
                used: s.iter().flatten().count() as u32,
            })
    }
    fn install_filter(
        &mut self,
        class: FilterClass,
        rule: &FlowRule,
        action: FilterAction,
    ) -> Result<FilterHandle, ErrorKind> {
        if !Self::expressible(class, rule) {
            return Err(ErrorKind::Unsupported);
        }
        let slots = &mut self
            .tables
            .iter_mut()
            .find(|(c, _)| *c == class)
            .ok_or(ErrorKind::Unsupported)?
            .1;
        let index = slots
            .iter()
            .position(Option::is_none)
            .ok_or(ErrorKind::NoResources)?;
        slots[index] = Some((*rule, action.queue));
        Ok(FilterHandle {
            class,
            index: index as u32,
        })
    }
    fn remove_filter(&mut self, h: FilterHandle) -> Result<(), ErrorKind> {
        let slots = &mut self
            .tables
            .iter_mut()
            .find(|(c, _)| *c == h.class)
            .ok_or(ErrorKind::NotFound)?
            .1;
        slots
            .get_mut(h.index as usize)
            .and_then(Option::take)
            .map(|_| ())
            .ok_or(ErrorKind::NotFound)
    }
    fn set_rss(&mut self, _: &RssConfig<'_>) -> Result<(), ErrorKind> {
        Err(ErrorKind::Unsupported)
    }
    fn set_queue_vector(&mut self, _: u16, _: u16) -> Result<(), ErrorKind> {
        Err(ErrorKind::Unsupported)
    }
    fn set_moderation(&mut self, _: u16, _: u32) -> Result<(), ErrorKind> {
        Err(ErrorKind::Unsupported)
    }
    fn interrupt_causes(&mut self) -> InterruptCauses {
        InterruptCauses::default()
    }
}

/// Effective queue: hardware first, then software first-match on the default queue.
fn effective<const N: usize>(card: &MockCard, planner: &Planner<N>, f: &FlowFields) -> Option<u16> {
    card.steer(f).or_else(|| {
        planner
            .software_rules()
            .find(|r| r.rule.matches(f))
            .map(|r| r.action.queue)
    })
}

/// Ideal queue: the highest-priority matching rule, earliest among equals.
fn ideal<const N: usize>(planner: &Planner<N>, f: &FlowFields) -> Option<u16> {
    let mut best: Option<&hwdemux::PlacedRule> = None;
    for r in planner.rules() {
        if r.rule.matches(f) && best.is_none_or(|b| r.priority > b.priority) {
            best = Some(r);
        }
    }
    best.map(|r| r.action.queue)
}

fn action(queue: u16) -> FilterAction {
    FilterAction {
        queue,
        ..Default::default()
    }
}

#[test]
fn higher_priority_software_rule_pulls_overlapping_hardware_rule_down() {
    let mut card = MockCard::new(1, 1, 1, 0);
    let mut p = Planner::<8>::new();
    let (_, port) = p
        .add(&mut card, FlowRule::tcp_port(80), action(1), 1)
        .unwrap();
    assert!(matches!(
        port,
        Placement::Hardware(FilterHandle {
            class: FilterClass::FiveTuple,
            ..
        })
    ));
    // No room left for the connection in 5-tuple and no Flow Director: it
    // goes to software, and the port rule it must beat follows it.
    let conn = FlowRule::TcpConnection {
        src: "10.0.0.2:5000".parse().unwrap(),
        dst: "10.0.0.1:80".parse().unwrap(),
    };
    let (_, c) = p.add(&mut card, conn, action(2), 5).unwrap();
    assert_eq!(c, Placement::Software);
    assert!(p.rules().iter().all(|r| r.placement == Placement::Software));
    assert_eq!(card.filter_capacity(FilterClass::FiveTuple).used, 0);
    // Software order: the connection (priority 5) before the port rule.
    let order: Vec<u8> = p.software_rules().map(|r| r.priority).collect();
    assert_eq!(order, [5, 1]);
    // A non-overlapping rule still goes to hardware.
    let (_, arp) = p.add(&mut card, FlowRule::ARP, action(3), 0).unwrap();
    assert!(matches!(arp, Placement::Hardware(_)));
}

#[test]
fn errors_are_clear() {
    let mut card = MockCard::new(1, 1, 1, 1);
    let mut p = Planner::<1>::new();
    let bad = FlowRule::TcpConnection {
        src: "10.0.0.2:1".parse().unwrap(),
        dst: "[::1]:2".parse().unwrap(),
    };
    assert_eq!(p.add(&mut card, bad, action(0), 0), Err(Error::InvalidRule));
    let (id, _) = p.add(&mut card, FlowRule::TcpSyn, action(0), 0).unwrap();
    assert_eq!(
        p.add(&mut card, FlowRule::ARP, action(0), 0),
        Err(Error::Full)
    );
    p.remove(&mut card, id).unwrap();
    assert_eq!(p.remove(&mut card, id), Err(Error::NotFound));
    assert_eq!(card.filter_capacity(FilterClass::Syn).used, 0);
}

fn ip(last: u8, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(std::net::Ipv6Addr::new(
            0xfd00,
            0,
            0,
            0,
            0,
            0,
            0,
            u16::from(last),
        ))
    } else {
        IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, last))
    }
}

fn arb_rule() -> impl Strategy<Value = FlowRule> {
    let port = 79u16..82;
    prop_oneof![
        Just(FlowRule::ARP),
        Just(FlowRule::TcpSyn),
        (any::<bool>(), port.clone()).prop_map(|(tcp, p)| FlowRule::Port {
            protocol: if tcp {
                L4Protocol::Tcp
            } else {
                L4Protocol::Udp
            },
            port: p,
            addr: None
        }),
        (1u8..3, 1u8..3, port.clone(), port.clone(), any::<bool>()).prop_map(
            |(s, d, sp, dp, v6)| FlowRule::TcpConnection {
                src: (ip(s, v6), sp).into(),
                dst: (ip(d, v6), dp).into()
            }
        ),
        (
            proptest::option::of(1u8..3),
            proptest::option::of(port.clone()),
            prop_oneof![Just(24u8), Just(32)]
        )
            .prop_map(|(s, dp, len)| {
                FlowRule::Masked(MaskedTuple {
                    protocol: Some(L4Protocol::Tcp),
                    src: s.map(|s| IpPrefix {
                        addr: ip(s, false),
                        len,
                    }),
                    dst_port: dp,
                    ..Default::default()
                })
            }),
    ]
}

fn arb_frame() -> impl Strategy<Value = FlowFields> {
    let port = 79u16..82;
    prop_oneof![
        Just(FlowFields {
            ethertype: 0x0806,
            ..Default::default()
        }),
        (
            1u8..3,
            1u8..3,
            port.clone(),
            port,
            any::<bool>(),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(s, d, sp, dp, tcp, syn, v6)| FlowFields {
                ethertype: if v6 { 0x86dd } else { 0x0800 },
                protocol: Some(if tcp { 6 } else { 17 }),
                src_ip: Some(ip(s, v6)),
                dst_ip: Some(ip(d, v6)),
                src_port: Some(sp),
                dst_port: Some(dp),
                tcp_flags: tcp.then_some(if syn { 0x02 } else { 0x10 }),
            }),
    ]
}

/// The bytes of a frame with these fields (Ethernet II; IPv4 without options
/// or IPv6; TCP or UDP), for the software table, which parses real frames.
fn frame(f: &FlowFields) -> Vec<u8> {
    let mut b = vec![0u8; 12];
    b.extend_from_slice(&f.ethertype.to_be_bytes());
    let proto = f.protocol.unwrap_or(59);
    let mut l4 = Vec::new();
    if let (Some(sp), Some(dp)) = (f.src_port, f.dst_port) {
        l4.extend_from_slice(&sp.to_be_bytes());
        l4.extend_from_slice(&dp.to_be_bytes());
        if proto == 6 {
            // RFC 9293 §3.1: seq, ack, data offset 5, flags, window, checksum, urgent.
            l4.extend_from_slice(&[0; 8]);
            l4.push(5 << 4);
            l4.push(f.tcp_flags.unwrap_or(0));
            l4.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
        } else {
            // RFC 768: length, checksum.
            l4.extend_from_slice(&8u16.to_be_bytes());
            l4.extend_from_slice(&[0, 0]);
        }
    }
    match (f.src_ip, f.dst_ip) {
        (Some(IpAddr::V4(s)), Some(IpAddr::V4(d))) => {
            // RFC 791 §3.1, no options, not fragmented.
            let total = (20 + l4.len()) as u16;
            b.extend_from_slice(&[0x45, 0]);
            b.extend_from_slice(&total.to_be_bytes());
            b.extend_from_slice(&[0, 1, 0, 0, 64, proto, 0, 0]);
            b.extend_from_slice(&s.octets());
            b.extend_from_slice(&d.octets());
        }
        (Some(IpAddr::V6(s)), Some(IpAddr::V6(d))) => {
            // RFC 8200 §3.
            b.extend_from_slice(&[0x60, 0, 0, 0]);
            b.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            b.extend_from_slice(&[proto, 64]);
            b.extend_from_slice(&s.octets());
            b.extend_from_slice(&d.octets());
        }
        // ARP (RFC 826) for Ethernet/IPv4: 28 bytes.
        _ => b.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]),
    }
    b.extend_from_slice(&l4);
    b.resize(b.len().max(60), 0);
    b
}

proptest! {
    #[test]
    fn placement_is_invisible(
        rules in proptest::collection::vec((arb_rule(), 0u8..4, 1u16..20), 1..24),
        removals in proptest::collection::vec(0usize..24, 0..6),
        frames in proptest::collection::vec(arb_frame(), 64),
        sizes in (0usize..3, 0usize..4, 0usize..2, 0usize..4),
    ) {
        let mut card = MockCard::new(sizes.0, sizes.1, sizes.2, sizes.3);
        let mut planner = Planner::<32>::new();
        let mut ids = Vec::new();
        for (rule, prio, q) in rules {
            ids.push(planner.add(&mut card, rule, action(q), prio).unwrap().0);
        }
        for i in removals {
            if let Some(&id) = ids.get(i) {
                let _ = planner.remove(&mut card, id);
            }
        }
        let mut table = DemuxTable::<32, 64, 1, 1>::new();
        fill_software_table(&planner, &mut table).unwrap();
        for f in &frames {
            let want = ideal(&planner, f);
            prop_assert_eq!(effective(&card, &planner, f), want, "frame {:?}", f);
            // The same through real frames: hardware, then swdemux's table.
            let through_swdemux = card.steer(f).or_else(|| table.lookup(&frame(f)));
            prop_assert_eq!(through_swdemux, want, "frame {:?}", f);
        }
    }
}
