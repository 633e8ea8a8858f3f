//! Flow rules: what a port manager asks a card (or a software demultiplexer)
//! to steer to a queue, and the hardware filter classes that can hold them.
//!
//! Rules describe *received* frames: `dst` is this host's side, `src` the
//! peer's. They are the filter kinds Barrelfish's `netd` asked for (TCP/UDP
//! port, TCP connection, ARP/EtherType) plus TCP SYN and a generic masked
//! 5-tuple.

use core::net::{IpAddr, SocketAddr};

/// IP protocol numbers the rules name (IANA "Assigned Internet Protocol Numbers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum L4Protocol {
    /// TCP, protocol 6.
    Tcp,
    /// UDP, protocol 17.
    Udp,
    /// SCTP, protocol 132.
    Sctp,
    /// Any other protocol number.
    Other(u8),
}

impl L4Protocol {
    /// The IP protocol number.
    pub const fn number(self) -> u8 {
        match self {
            Self::Tcp => 6,
            Self::Udp => 17,
            Self::Sctp => 132,
            Self::Other(n) => n,
        }
    }

    /// The protocol for an IP protocol number.
    pub const fn from_number(n: u8) -> Self {
        match n {
            6 => Self::Tcp,
            17 => Self::Udp,
            132 => Self::Sctp,
            n => Self::Other(n),
        }
    }
}

/// An address prefix: `addr/len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IpPrefix {
    /// The address; bits past `len` are ignored.
    pub addr: IpAddr,
    /// Prefix length: 0..=32 for IPv4, 0..=128 for IPv6.
    pub len: u8,
}

impl IpPrefix {
    /// A prefix matching exactly one address.
    pub const fn host(addr: IpAddr) -> Self {
        let len = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        Self { addr, len }
    }

    /// Whether the prefix length fits the address family.
    pub const fn is_valid(&self) -> bool {
        match self.addr {
            IpAddr::V4(_) => self.len <= 32,
            IpAddr::V6(_) => self.len <= 128,
        }
    }

    /// Whether `addr` lies inside the prefix (false across families).
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.addr, addr) {
            (IpAddr::V4(p), IpAddr::V4(a)) if self.len <= 32 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                (u32::from(p) ^ u32::from(a)) & mask == 0
            }
            (IpAddr::V6(p), IpAddr::V6(a)) if self.len <= 128 => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                (u128::from(p) ^ u128::from(a)) & mask == 0
            }
            _ => false,
        }
    }
}

/// A generic masked 5-tuple: every field is optional (a wildcard when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MaskedTuple {
    /// IP protocol.
    pub protocol: Option<L4Protocol>,
    /// Source address prefix.
    pub src: Option<IpPrefix>,
    /// Destination address prefix.
    pub dst: Option<IpPrefix>,
    /// Source port (TCP, UDP, SCTP).
    pub src_port: Option<u16>,
    /// Destination port (TCP, UDP, SCTP).
    pub dst_port: Option<u16>,
}

/// What a flow rule selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FlowRule {
    /// Frames of one EtherType (after any VLAN tag), e.g. ARP (0x0806).
    EtherType(u16),
    /// TCP or UDP to a local port, optionally only on one local address.
    Port {
        /// TCP or UDP.
        protocol: L4Protocol,
        /// Local (destination) port.
        port: u16,
        /// Local (destination) address, or any.
        addr: Option<IpAddr>,
    },
    /// One TCP connection: exact source and destination address and port.
    TcpConnection {
        /// The peer's address and port (source of received segments).
        src: SocketAddr,
        /// This host's address and port (destination of received segments).
        dst: SocketAddr,
    },
    /// Every TCP segment with SYN set and ACK clear (connection requests).
    TcpSyn,
    /// A masked 5-tuple.
    Masked(MaskedTuple),
}

/// The header fields a rule looks at, taken from a received frame.
///
/// Fields a frame lacks are `None` (no IP header: no addresses; a non-first
/// IP fragment or a protocol without ports: no ports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FlowFields {
    /// EtherType after any VLAN tag.
    pub ethertype: u16,
    /// IP protocol.
    pub protocol: Option<u8>,
    /// Source address.
    pub src_ip: Option<IpAddr>,
    /// Destination address.
    pub dst_ip: Option<IpAddr>,
    /// Source port.
    pub src_port: Option<u16>,
    /// Destination port.
    pub dst_port: Option<u16>,
    /// TCP flags byte (byte 13 of the TCP header), for TCP segments with ports.
    pub tcp_flags: Option<u8>,
}

/// TCP SYN and ACK bits in the flags byte (RFC 9293 §3.1).
const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;

impl FlowRule {
    /// The rule for a UDP port.
    pub const fn udp_port(port: u16) -> Self {
        Self::Port {
            protocol: L4Protocol::Udp,
            port,
            addr: None,
        }
    }

    /// The rule for a TCP port.
    pub const fn tcp_port(port: u16) -> Self {
        Self::Port {
            protocol: L4Protocol::Tcp,
            port,
            addr: None,
        }
    }

    /// The rule for ARP frames (EtherType 0x0806, RFC 826).
    pub const ARP: Self = Self::EtherType(0x0806);

    /// Checks that the rule is self-consistent: one address family, prefix
    /// lengths in range, a port rule on TCP or UDP.
    ///
    /// # Examples
    ///
    /// ```
    /// use nic_traits::{FlowRule, ErrorKind};
    /// let conn = FlowRule::TcpConnection {
    ///     src: "10.0.0.2:40000".parse().unwrap(),
    ///     dst: "[::1]:80".parse().unwrap(),
    /// };
    /// assert_eq!(conn.validate(), Err(ErrorKind::InvalidArgument));
    /// assert_eq!(FlowRule::tcp_port(80).validate(), Ok(()));
    /// ```
    pub fn validate(&self) -> Result<(), crate::ErrorKind> {
        let ok = match *self {
            Self::EtherType(_) | Self::TcpSyn => true,
            Self::Port { protocol, .. } => matches!(protocol, L4Protocol::Tcp | L4Protocol::Udp),
            Self::TcpConnection { src, dst } => src.is_ipv4() == dst.is_ipv4(),
            Self::Masked(m) => {
                let prefixes_ok =
                    m.src.is_none_or(|p| p.is_valid()) && m.dst.is_none_or(|p| p.is_valid());
                let same_family = match (m.src, m.dst) {
                    (Some(s), Some(d)) => s.addr.is_ipv4() == d.addr.is_ipv4(),
                    _ => true,
                };
                prefixes_ok && same_family
            }
        };
        if ok {
            Ok(())
        } else {
            Err(crate::ErrorKind::InvalidArgument)
        }
    }

    /// Whether a frame with these fields matches the rule: the reference
    /// semantics every filter implementation (hardware model, software
    /// demultiplexer) must agree with.
    ///
    /// # Examples
    ///
    /// ```
    /// use nic_traits::{FlowFields, FlowRule};
    /// let syn_to_80 = FlowFields {
    ///     ethertype: 0x0800,
    ///     protocol: Some(6),
    ///     src_ip: Some("10.0.0.2".parse().unwrap()),
    ///     dst_ip: Some("10.0.0.1".parse().unwrap()),
    ///     src_port: Some(40000),
    ///     dst_port: Some(80),
    ///     tcp_flags: Some(0x02),
    /// };
    /// assert!(FlowRule::tcp_port(80).matches(&syn_to_80));
    /// assert!(FlowRule::TcpSyn.matches(&syn_to_80));
    /// assert!(!FlowRule::udp_port(80).matches(&syn_to_80));
    /// ```
    pub fn matches(&self, f: &FlowFields) -> bool {
        match *self {
            Self::EtherType(t) => f.ethertype == t,
            Self::Port {
                protocol,
                port,
                addr,
            } => {
                f.protocol == Some(protocol.number())
                    && f.dst_port == Some(port)
                    && addr.is_none_or(|a| f.dst_ip == Some(a))
            }
            Self::TcpConnection { src, dst } => {
                f.protocol == Some(6)
                    && f.src_ip == Some(src.ip())
                    && f.dst_ip == Some(dst.ip())
                    && f.src_port == Some(src.port())
                    && f.dst_port == Some(dst.port())
            }
            Self::TcpSyn => {
                f.protocol == Some(6)
                    && f.tcp_flags
                        .is_some_and(|b| b & (TCP_SYN | TCP_ACK) == TCP_SYN)
            }
            Self::Masked(m) => {
                m.protocol.is_none_or(|p| f.protocol == Some(p.number()))
                    && m.src
                        .is_none_or(|p| f.src_ip.is_some_and(|a| p.contains(a)))
                    && m.dst
                        .is_none_or(|p| f.dst_ip.is_some_and(|a| p.contains(a)))
                    && m.src_port.is_none_or(|p| f.src_port == Some(p))
                    && m.dst_port.is_none_or(|p| f.dst_port == Some(p))
            }
        }
    }
}

/// Classes of hardware receive filters a card may have, in the order the
/// 82599 applies them (datasheet §7.1.2): EtherType, 5-tuple, SYN, Flow
/// Director. RSS is configured separately (see [`RssConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FilterClass {
    /// Exact EtherType match (82599: ETQF, 8 entries).
    EtherType,
    /// 5-tuple with per-field masks and a priority (82599: FTQF, 128 entries).
    FiveTuple,
    /// TCP SYN to one queue (82599: SYNQF, one entry).
    Syn,
    /// Flow Director perfect match (82599: up to 8 K entries, global masks).
    FlowDirectorPerfect,
    /// Flow Director signature (hash) match (82599: up to 32 K entries).
    FlowDirectorSignature,
}

impl FilterClass {
    /// Every class, in the order the 82599 applies them.
    pub const ALL: [FilterClass; 5] = [
        Self::EtherType,
        Self::FiveTuple,
        Self::Syn,
        Self::FlowDirectorPerfect,
        Self::FlowDirectorSignature,
    ];
}

/// How many rules of one class a card holds and how many are in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FilterCapacity {
    /// Table size; 0 when the card lacks the class.
    pub total: u32,
    /// Entries currently installed.
    pub used: u32,
}

impl FilterCapacity {
    /// Entries still free.
    pub const fn free(&self) -> u32 {
        self.total.saturating_sub(self.used)
    }
}

/// Where a received frame matching a rule goes and what it triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FilterAction {
    /// Receive queue index.
    pub queue: u16,
    /// Raise the queue's interrupt at once, bypassing moderation (low-latency interrupt).
    pub low_latency: bool,
    /// Priority among rules of the same class where the class has priorities
    /// (82599 5-tuple: 1..=7, higher wins); ignored elsewhere.
    pub priority: u8,
}

/// Names an installed filter: its class and the slot it occupies, so where a
/// rule was placed is observable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FilterHandle {
    /// The class that holds the rule.
    pub class: FilterClass,
    /// The slot inside that class's table.
    pub index: u32,
}

bitflags::bitflags! {
    /// Which header fields RSS hashes (82599: MRQC.RSS field enables, §8.2.3.7.12).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct RssHashFields: u16 {
        /// IPv4 source and destination addresses.
        const IPV4 = 1 << 0;
        /// IPv4 addresses plus TCP ports.
        const IPV4_TCP = 1 << 1;
        /// IPv4 addresses plus UDP ports.
        const IPV4_UDP = 1 << 2;
        /// IPv6 source and destination addresses.
        const IPV6 = 1 << 3;
        /// IPv6 addresses plus TCP ports.
        const IPV6_TCP = 1 << 4;
        /// IPv6 addresses plus UDP ports.
        const IPV6_UDP = 1 << 5;
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for RssHashFields {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "RssHashFields({=u16:#x})", self.bits())
    }
}

/// Receive-side scaling configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RssConfig<'a> {
    /// The Toeplitz key (40 bytes on the 82599, §7.1.2.8.1).
    pub key: &'a [u8],
    /// The redirection table: entry `hash % len` (the hash's low bits) names the queue.
    pub reta: &'a [u16],
    /// Which fields are hashed; empty disables RSS.
    pub fields: RssHashFields,
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn prefixes_match_by_family_and_length() {
        let p = IpPrefix {
            addr: IpAddr::V4(Ipv4Addr::new(10, 1, 0, 0)),
            len: 16,
        };
        assert!(p.contains(IpAddr::V4(Ipv4Addr::new(10, 1, 200, 3))));
        assert!(!p.contains(IpAddr::V4(Ipv4Addr::new(10, 2, 0, 0))));
        assert!(!p.contains(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        let any = IpPrefix {
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            len: 0,
        };
        assert!(any.contains(IpAddr::V4(Ipv4Addr::BROADCAST)));
        let bad = IpPrefix {
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            len: 33,
        };
        assert!(!bad.is_valid());
        assert!(!bad.contains(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        let v6 = IpPrefix {
            addr: IpAddr::V6("fe80::".parse().unwrap()),
            len: 10,
        };
        assert!(v6.contains(IpAddr::V6("febf::1".parse().unwrap())));
        assert!(!v6.contains(IpAddr::V6("fec0::1".parse().unwrap())));
    }

    #[test]
    fn syn_rule_ignores_syn_ack_and_non_tcp() {
        let mut f = FlowFields {
            ethertype: 0x0800,
            protocol: Some(6),
            tcp_flags: Some(0x12),
            ..Default::default()
        };
        assert!(!FlowRule::TcpSyn.matches(&f));
        f.tcp_flags = Some(0x02);
        assert!(FlowRule::TcpSyn.matches(&f));
        f.protocol = Some(17);
        assert!(!FlowRule::TcpSyn.matches(&f));
    }

    #[test]
    fn masked_tuple_wildcards_and_missing_fields() {
        let rule = FlowRule::Masked(MaskedTuple {
            protocol: Some(L4Protocol::Udp),
            dst_port: Some(53),
            ..Default::default()
        });
        let mut f = FlowFields {
            ethertype: 0x0800,
            protocol: Some(17),
            dst_port: Some(53),
            ..Default::default()
        };
        assert!(rule.matches(&f));
        // A non-first fragment has no ports: a port rule cannot match it.
        f.dst_port = None;
        assert!(!rule.matches(&f));
        assert_eq!(FlowRule::Masked(MaskedTuple::default()).validate(), Ok(()));
        assert!(FlowRule::Masked(MaskedTuple::default()).matches(&f));
    }

    #[test]
    fn port_rule_on_other_protocol_is_invalid() {
        let r = FlowRule::Port {
            protocol: L4Protocol::Sctp,
            port: 1,
            addr: None,
        };
        assert_eq!(r.validate(), Err(crate::ErrorKind::InvalidArgument));
        assert_eq!(L4Protocol::from_number(132), L4Protocol::Sctp);
        assert_eq!(L4Protocol::Other(47).number(), 47);
    }
}
