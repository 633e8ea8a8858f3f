//! IP protocol numbers, shared by IPv4 and IPv6.

/// An IP protocol number (IPv4 "Protocol", IPv6 "Next Header").
///
/// Values from the IANA "Assigned Internet Protocol Numbers" registry.
///
/// # Examples
///
/// ```
/// use netwire::IpProtocol;
///
/// assert_eq!(IpProtocol::from(6), IpProtocol::Tcp);
/// assert_eq!(u8::from(IpProtocol::Unknown(253)), 253);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IpProtocol {
    /// IPv6 Hop-by-Hop Options (0).
    HopByHop,
    /// ICMP (1).
    Icmp,
    /// IGMP (2).
    Igmp,
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// IPv6 Routing header (43).
    Ipv6Route,
    /// IPv6 Fragment header (44).
    Ipv6Frag,
    /// Encapsulating Security Payload (50).
    Esp,
    /// Authentication Header (51).
    Ah,
    /// ICMPv6 (58).
    Icmpv6,
    /// IPv6 "No Next Header" (59).
    Ipv6NoNxt,
    /// IPv6 Destination Options (60).
    Ipv6Opts,
    /// SCTP (132).
    Sctp,
    /// Any other protocol number.
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    #[inline]
    fn from(v: u8) -> Self {
        match v {
            0 => IpProtocol::HopByHop,
            1 => IpProtocol::Icmp,
            2 => IpProtocol::Igmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            43 => IpProtocol::Ipv6Route,
            44 => IpProtocol::Ipv6Frag,
            50 => IpProtocol::Esp,
            51 => IpProtocol::Ah,
            58 => IpProtocol::Icmpv6,
            59 => IpProtocol::Ipv6NoNxt,
            60 => IpProtocol::Ipv6Opts,
            132 => IpProtocol::Sctp,
            other => IpProtocol::Unknown(other),
        }
    }
}

impl From<IpProtocol> for u8 {
    #[inline]
    fn from(p: IpProtocol) -> u8 {
        match p {
            IpProtocol::HopByHop => 0,
            IpProtocol::Icmp => 1,
            IpProtocol::Igmp => 2,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Ipv6Route => 43,
            IpProtocol::Ipv6Frag => 44,
            IpProtocol::Esp => 50,
            IpProtocol::Ah => 51,
            IpProtocol::Icmpv6 => 58,
            IpProtocol::Ipv6NoNxt => 59,
            IpProtocol::Ipv6Opts => 60,
            IpProtocol::Sctp => 132,
            IpProtocol::Unknown(v) => v,
        }
    }
}

impl core::fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IpProtocol::Unknown(v) => write!(f, "proto {v}"),
            other => core::fmt::Debug::fmt(other, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_number_round_trips() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(IpProtocol::from(v)), v);
        }
        assert_eq!(IpProtocol::from(17), IpProtocol::Udp);
        assert_eq!(IpProtocol::from(200), IpProtocol::Unknown(200));
    }
}
