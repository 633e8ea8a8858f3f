//! Structured frames and flow rules for the demultiplexer targets: values
//! come from small pools so that rules and frames meet often, and every
//! frame can be truncated or carry arbitrary trailing bytes.

use arbitrary::Arbitrary;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use nic_traits::{FlowRule, IpPrefix, L4Protocol, MaskedTuple};

/// Ports rules and frames pick from (index modulo the length).
pub const PORTS: [u16; 6] = [80, 443, 53, 1234, 0, 65535];
/// IPv4 addresses.
pub const V4: [Ipv4Addr; 4] = [
    Ipv4Addr::new(10, 0, 0, 1),
    Ipv4Addr::new(10, 0, 0, 2),
    Ipv4Addr::new(192, 168, 1, 1),
    Ipv4Addr::new(0, 0, 0, 0),
];
/// IPv6 addresses.
pub const V6: [Ipv6Addr; 3] = [
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
    Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1),
];
/// IP protocols (TCP, UDP, SCTP, ICMP, IPv6-Frag).
pub const PROTOS: [u8; 5] = [6, 17, 132, 1, 44];
/// EtherTypes (IPv4, IPv6, ARP, an experimental one).
pub const ETHERTYPES: [u16; 4] = [0x0800, 0x86dd, 0x0806, 0x88b5];

fn pick<T: Copy>(pool: &[T], i: u8) -> T {
    pool[usize::from(i) % pool.len()]
}

/// An address from the pools: IPv4 when `v6` is false.
fn addr(v6: bool, i: u8) -> IpAddr {
    if v6 {
        IpAddr::V6(pick(&V6, i))
    } else {
        IpAddr::V4(pick(&V4, i))
    }
}

/// A protocol: from the pool, or any number.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Proto {
    /// `PROTOS[i % len]`.
    Pool(u8),
    /// Any protocol number.
    Raw(u8),
}

impl Proto {
    /// The protocol number.
    pub fn number(self) -> u8 {
        match self {
            Proto::Pool(i) => pick(&PROTOS, i),
            Proto::Raw(n) => n,
        }
    }
}

/// A flow rule built from the pools.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum RuleSpec {
    /// `FlowRule::EtherType`.
    EtherType(u8),
    /// `FlowRule::Port`.
    Port {
        /// Protocol.
        proto: Proto,
        /// Port index.
        port: u8,
        /// Destination address: (IPv6?, index).
        addr: Option<(bool, u8)>,
    },
    /// `FlowRule::TcpConnection` (the families may differ: an invalid rule).
    Connection {
        /// Source family.
        sv6: bool,
        /// Destination family.
        dv6: bool,
        /// Indexes: source address, destination address, ports.
        idx: [u8; 4],
    },
    /// `FlowRule::TcpSyn`.
    Syn,
    /// `FlowRule::Masked`.
    Masked {
        /// Protocol.
        proto: Option<Proto>,
        /// Source prefix: (IPv6?, address index, length — any, so invalid
        /// lengths occur).
        src: Option<(bool, u8, u8)>,
        /// Destination prefix.
        dst: Option<(bool, u8, u8)>,
        /// Source port index.
        sport: Option<u8>,
        /// Destination port index.
        dport: Option<u8>,
    },
}

impl RuleSpec {
    /// The rule.
    pub fn rule(&self) -> FlowRule {
        let prefix = |(v6, i, len): (bool, u8, u8)| IpPrefix {
            addr: addr(v6, i),
            // Mostly valid lengths; sometimes one past the maximum.
            len: len % if v6 { 130 } else { 34 },
        };
        match *self {
            RuleSpec::EtherType(i) => FlowRule::EtherType(pick(&ETHERTYPES, i)),
            RuleSpec::Port {
                proto,
                port,
                addr: a,
            } => FlowRule::Port {
                protocol: L4Protocol::from_number(proto.number()),
                port: pick(&PORTS, port),
                addr: a.map(|(v6, i)| addr(v6, i)),
            },
            RuleSpec::Connection { sv6, dv6, idx } => FlowRule::TcpConnection {
                src: SocketAddr::new(addr(sv6, idx[0]), pick(&PORTS, idx[2])),
                dst: SocketAddr::new(addr(dv6, idx[1]), pick(&PORTS, idx[3])),
            },
            RuleSpec::Syn => FlowRule::TcpSyn,
            RuleSpec::Masked {
                proto,
                src,
                dst,
                sport,
                dport,
            } => FlowRule::Masked(MaskedTuple {
                protocol: proto.map(|p| L4Protocol::from_number(p.number())),
                src: src.map(prefix),
                dst: dst.map(prefix),
                src_port: sport.map(|i| pick(&PORTS, i)),
                dst_port: dport.map(|i| pick(&PORTS, i)),
            }),
        }
    }
}

/// The network layer of a generated frame.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum L3 {
    /// IPv4.
    V4 {
        /// Header length in words (low 4 bits; under 5 is malformed).
        ihl: u8,
        /// Flags and fragment offset field.
        frag: u16,
        /// Protocol.
        proto: Proto,
        /// Address indexes.
        src: u8,
        /// Destination address index.
        dst: u8,
    },
    /// IPv6 fixed header.
    V6 {
        /// Next header.
        proto: Proto,
        /// Address indexes.
        src: u8,
        /// Destination address index.
        dst: u8,
    },
    /// Any EtherType with no network header.
    Other(u16),
}

/// A generated Ethernet frame.
#[derive(Debug, Clone, Arbitrary)]
pub struct FrameSpec {
    /// A tag: (802.1ad rather than 802.1Q?, TCI).
    pub vlan: Option<(bool, u16)>,
    /// Network layer.
    pub l3: L3,
    /// Port indexes.
    pub ports: (u8, u8),
    /// TCP flags byte.
    pub tcp_flags: u8,
    /// Truncate the frame to this many bytes.
    pub truncate: Option<u8>,
    /// Bytes appended after the transport header.
    pub tail: Vec<u8>,
    /// Byte flips: (offset, xor) applied last.
    pub flips: Vec<(u8, u8)>,
}

impl FrameSpec {
    /// The frame's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
        f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
        if let Some((ad, tci)) = self.vlan {
            let tpid: u16 = if ad { 0x88a8 } else { 0x8100 };
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&tci.to_be_bytes());
        }
        let proto = match self.l3 {
            L3::V4 {
                ihl,
                frag,
                proto,
                src,
                dst,
            } => {
                f.extend_from_slice(&0x0800u16.to_be_bytes());
                let ihl = ihl & 0x0f;
                let mut h = vec![0u8; 20.max(usize::from(ihl) * 4)];
                h[0] = 0x40 | ihl;
                h[6..8].copy_from_slice(&frag.to_be_bytes());
                h[8] = 64;
                h[9] = proto.number();
                h[12..16].copy_from_slice(&pick(&V4, src).octets());
                h[16..20].copy_from_slice(&pick(&V4, dst).octets());
                f.extend_from_slice(&h);
                Some(proto.number())
            }
            L3::V6 { proto, src, dst } => {
                f.extend_from_slice(&0x86ddu16.to_be_bytes());
                let mut h = vec![0u8; 40];
                h[0] = 0x60;
                h[6] = proto.number();
                h[7] = 64;
                h[8..24].copy_from_slice(&pick(&V6, src).octets());
                h[24..40].copy_from_slice(&pick(&V6, dst).octets());
                f.extend_from_slice(&h);
                Some(proto.number())
            }
            L3::Other(t) => {
                f.extend_from_slice(&t.to_be_bytes());
                None
            }
        };
        if proto.is_some() {
            let mut l4 = [0u8; 20];
            l4[0..2].copy_from_slice(&pick(&PORTS, self.ports.0).to_be_bytes());
            l4[2..4].copy_from_slice(&pick(&PORTS, self.ports.1).to_be_bytes());
            l4[12] = 0x50;
            l4[13] = self.tcp_flags;
            f.extend_from_slice(&l4);
        }
        f.extend_from_slice(&self.tail);
        if let Some(n) = self.truncate {
            f.truncate(usize::from(n));
        }
        let len = f.len();
        if len > 0 {
            for &(off, x) in self.flips.iter().take(4) {
                f[usize::from(off) % len] ^= x;
            }
        }
        f
    }
}
