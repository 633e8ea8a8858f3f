//! Whether two flow rules can match the same frame.
//!
//! The planner needs this to keep hardware placement invisible: hardware
//! steers a frame before software sees it, so a rule may sit in hardware only
//! where no overlapping rule of higher priority is left behind in software.

use core::net::IpAddr;

use nic_traits::{FlowRule, IpPrefix, L4Protocol};

/// EtherTypes (IEEE registry): IPv4, IPv6.
const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;

/// The set of EtherTypes a rule admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EtherSet {
    Any,
    /// IPv4 or IPv6.
    Ip,
    Exact(u16),
}

impl EtherSet {
    fn intersects(self, other: Self) -> bool {
        match (self, other) {
            (Self::Any, _) | (_, Self::Any) | (Self::Ip, Self::Ip) => true,
            (Self::Ip, Self::Exact(t)) | (Self::Exact(t), Self::Ip) => {
                t == ETH_IPV4 || t == ETH_IPV6
            }
            (Self::Exact(a), Self::Exact(b)) => a == b,
        }
    }
}

/// A rule as independent per-field constraints (`None`: any value).
#[derive(Debug, Clone, Copy)]
struct Constraints {
    ether: EtherSet,
    protocol: Option<u8>,
    src: Option<IpPrefix>,
    dst: Option<IpPrefix>,
    src_port: Option<u16>,
    dst_port: Option<u16>,
}

impl Constraints {
    fn of(rule: &FlowRule) -> Self {
        let any = Self {
            ether: EtherSet::Any,
            protocol: None,
            src: None,
            dst: None,
            src_port: None,
            dst_port: None,
        };
        match *rule {
            FlowRule::EtherType(t) => Self {
                ether: EtherSet::Exact(t),
                ..any
            },
            FlowRule::Port {
                protocol,
                port,
                addr,
            } => Self {
                ether: ether_of(addr),
                protocol: Some(protocol.number()),
                dst: addr.map(IpPrefix::host),
                dst_port: Some(port),
                ..any
            },
            FlowRule::TcpConnection { src, dst } => Self {
                ether: ether_of(Some(dst.ip())),
                protocol: Some(L4Protocol::Tcp.number()),
                src: Some(IpPrefix::host(src.ip())),
                dst: Some(IpPrefix::host(dst.ip())),
                src_port: Some(src.port()),
                dst_port: Some(dst.port()),
            },
            // SYN-only is a constraint on TCP flags; no other rule kind
            // constrains flags, so for overlap it is "any TCP segment".
            FlowRule::TcpSyn => Self {
                ether: EtherSet::Ip,
                protocol: Some(L4Protocol::Tcp.number()),
                ..any
            },
            FlowRule::Masked(m) => {
                let fam = m.src.or(m.dst).map(|p| p.addr);
                let constrains_ip = m.protocol.is_some()
                    || m.src.is_some()
                    || m.dst.is_some()
                    || m.src_port.is_some()
                    || m.dst_port.is_some();
                Self {
                    ether: if fam.is_some() {
                        ether_of(fam)
                    } else if constrains_ip {
                        EtherSet::Ip
                    } else {
                        EtherSet::Any
                    },
                    protocol: m.protocol.map(L4Protocol::number),
                    src: m.src,
                    dst: m.dst,
                    src_port: m.src_port,
                    dst_port: m.dst_port,
                }
            }
            // A rule kind this planner does not know: assume it overlaps everything.
            _ => any,
        }
    }
}

fn ether_of(addr: Option<IpAddr>) -> EtherSet {
    match addr {
        None => EtherSet::Ip,
        Some(IpAddr::V4(_)) => EtherSet::Exact(ETH_IPV4),
        Some(IpAddr::V6(_)) => EtherSet::Exact(ETH_IPV6),
    }
}

fn eq_or_any<T: PartialEq>(a: Option<T>, b: Option<T>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

fn prefixes_intersect(a: Option<IpPrefix>, b: Option<IpPrefix>) -> bool {
    match (a, b) {
        // Two prefixes intersect iff the shorter contains the longer's address.
        (Some(a), Some(b)) => {
            let (short, long) = if a.len <= b.len { (a, b) } else { (b, a) };
            short.contains(long.addr)
        }
        _ => true,
    }
}

/// Whether some frame could match both rules. Errs on the side of `true`.
///
/// # Examples
///
/// ```
/// use hwdemux::overlaps;
/// use nic_traits::FlowRule;
/// assert!(overlaps(&FlowRule::tcp_port(80), &FlowRule::TcpSyn));
/// assert!(!overlaps(&FlowRule::tcp_port(80), &FlowRule::udp_port(80)));
/// assert!(!overlaps(&FlowRule::ARP, &FlowRule::tcp_port(80)));
/// ```
pub fn overlaps(a: &FlowRule, b: &FlowRule) -> bool {
    let (a, b) = (Constraints::of(a), Constraints::of(b));
    a.ether.intersects(b.ether)
        && eq_or_any(a.protocol, b.protocol)
        && prefixes_intersect(a.src, b.src)
        && prefixes_intersect(a.dst, b.dst)
        && eq_or_any(a.src_port, b.src_port)
        && eq_or_any(a.dst_port, b.dst_port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nic_traits::{FlowFields, MaskedTuple};

    fn conn(s: &str, d: &str) -> FlowRule {
        FlowRule::TcpConnection {
            src: s.parse().unwrap(),
            dst: d.parse().unwrap(),
        }
    }

    #[test]
    fn connections_overlap_only_when_identical_or_covered() {
        let a = conn("10.0.0.2:1000", "10.0.0.1:80");
        let b = conn("10.0.0.3:1000", "10.0.0.1:80");
        assert!(overlaps(&a, &a));
        assert!(!overlaps(&a, &b));
        assert!(overlaps(&a, &FlowRule::tcp_port(80)));
        assert!(!overlaps(&a, &FlowRule::tcp_port(81)));
        let v6 = conn("[::2]:1000", "[::1]:80");
        assert!(!overlaps(&a, &v6));
        let net = FlowRule::Masked(MaskedTuple {
            src: Some(IpPrefix {
                addr: "10.0.0.0".parse().unwrap(),
                len: 24,
            }),
            ..Default::default()
        });
        assert!(overlaps(&a, &net));
        assert!(!overlaps(&v6, &net));
        assert!(!overlaps(&FlowRule::ARP, &net));
    }

    /// Soundness: whenever a frame matches both rules, `overlaps` says so.
    #[test]
    fn overlap_is_sound_on_enumerated_frames() {
        let rules = [
            FlowRule::ARP,
            FlowRule::EtherType(0x0800),
            FlowRule::tcp_port(80),
            FlowRule::udp_port(80),
            FlowRule::TcpSyn,
            conn("10.0.0.2:1000", "10.0.0.1:80"),
            conn("[::2]:1000", "[::1]:80"),
            FlowRule::Port {
                protocol: L4Protocol::Tcp,
                port: 80,
                addr: Some("10.0.0.1".parse().unwrap()),
            },
            FlowRule::Masked(MaskedTuple::default()),
            FlowRule::Masked(MaskedTuple {
                protocol: Some(L4Protocol::Udp),
                ..Default::default()
            }),
            FlowRule::Masked(MaskedTuple {
                dst: Some(IpPrefix {
                    addr: "10.0.0.0".parse().unwrap(),
                    len: 8,
                }),
                ..Default::default()
            }),
        ];
        let ips: [Option<IpAddr>; 4] = [
            None,
            Some("10.0.0.1".parse().unwrap()),
            Some("10.0.0.2".parse().unwrap()),
            Some("::1".parse().unwrap()),
        ];
        // Every frame a parser could produce: fields consistent with the
        // EtherType and protocol (no addresses on ARP, v4 addresses on IPv4).
        let mut frames = std::vec::Vec::new();
        for ethertype in [0x0800u16, 0x86dd, 0x0806] {
            let is_ip = ethertype != 0x0806;
            for protocol in [None, Some(6u8), Some(17)] {
                if protocol.is_some() && !is_ip {
                    continue;
                }
                for &src_ip in &ips {
                    for &dst_ip in &ips {
                        let fits = |ip: Option<IpAddr>| match ip {
                            None => !is_ip,
                            Some(IpAddr::V4(_)) => ethertype == 0x0800,
                            Some(IpAddr::V6(_)) => ethertype == 0x86dd,
                        };
                        if !fits(src_ip) || !fits(dst_ip) {
                            continue;
                        }
                        for (src_port, dst_port) in
                            [(None, None), (Some(1000), Some(80)), (Some(80), Some(81))]
                        {
                            if src_port.is_some() && protocol.is_none() {
                                continue;
                            }
                            for tcp_flags in [None, Some(0x02u8), Some(0x10)] {
                                if tcp_flags.is_some()
                                    != (protocol == Some(6) && src_port.is_some())
                                {
                                    continue;
                                }
                                frames.push(FlowFields {
                                    ethertype,
                                    protocol,
                                    src_ip,
                                    dst_ip,
                                    src_port,
                                    dst_port,
                                    tcp_flags,
                                });
                            }
                        }
                    }
                }
            }
        }
        assert!(frames.len() > 40);
        for a in &rules {
            for b in &rules {
                let both = frames.iter().any(|f| a.matches(f) && b.matches(f));
                if both {
                    assert!(
                        overlaps(a, b),
                        "{a:?} and {b:?} share a frame but overlaps() says no"
                    );
                }
            }
        }
    }
}
