//! The Internet checksum (RFC 1071), pseudo-header sums, and incremental
//! update (RFC 1624).
//!
//! Sums are carried as the folded 16-bit ones'-complement sum of the data read
//! as big-endian words (not yet complemented), so partial sums over a
//! pseudo-header, a header and a payload combine with [`add`]. The value
//! written into a checksum field is `!sum`.
//!
//! # Examples
//!
//! ```
//! use netwire::checksum;
//!
//! // RFC 1071 §3: the sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2.
//! let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
//! assert_eq!(checksum::sum(&data), 0xddf2);
//! assert_eq!(checksum::checksum(&data), !0xddf2);
//! ```

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ip::IpProtocol;

/// Ones'-complement addition of two 16-bit sums.
#[inline]
#[must_use]
pub const fn add(a: u16, b: u16) -> u16 {
    let (s, carry) = a.overflowing_add(b);
    s.wrapping_add(carry as u16)
}

/// Ones'-complement sum of several partial sums.
#[must_use]
pub fn combine(sums: &[u16]) -> u16 {
    sums.iter().fold(0, |acc, &s| add(acc, s))
}

/// Folds a 64-bit ones'-complement accumulator to 16 bits.
#[inline]
const fn fold64(mut acc: u64) -> u16 {
    // Each step halves the width; the end-around carries are added back in.
    acc = (acc >> 32) + (acc & 0xffff_ffff);
    acc = (acc >> 32) + (acc & 0xffff_ffff);
    acc = (acc >> 16) + (acc & 0xffff);
    acc = (acc >> 16) + (acc & 0xffff);
    acc = (acc >> 16) + (acc & 0xffff);
    acc as u16
}

/// Ones'-complement sum of `data` read as big-endian 16-bit words, an odd
/// final byte padded with a zero byte (RFC 1071 §1), folded to 16 bits.
///
/// The sum is computed in native-endian 64-bit words with end-around carry
/// and byte-swapped at the end, which RFC 1071 §2(B) shows gives the same
/// result as summing big-endian 16-bit words.
#[must_use]
pub fn sum(data: &[u8]) -> u16 {
    // Two independent accumulators let two adds proceed in parallel.
    let mut a: u64 = 0;
    let mut b: u64 = 0;
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        let (lo, hi) = c.split_at(8);
        let x = u64::from_ne_bytes(lo.try_into().unwrap_or([0; 8]));
        let y = u64::from_ne_bytes(hi.try_into().unwrap_or([0; 8]));
        let (s, carry) = a.overflowing_add(x);
        a = s + carry as u64;
        let (s, carry) = b.overflowing_add(y);
        b = s + carry as u64;
    }
    let rest = chunks.remainder();
    // At most 15 bytes remain; they start at an even offset, so zero padding
    // at the end keeps every byte in its 16-bit word position.
    let mut tail = [0u8; 16];
    tail[..rest.len()].copy_from_slice(rest);
    let x = u64::from_ne_bytes([
        tail[0], tail[1], tail[2], tail[3], tail[4], tail[5], tail[6], tail[7],
    ]);
    let y = u64::from_ne_bytes([
        tail[8], tail[9], tail[10], tail[11], tail[12], tail[13], tail[14], tail[15],
    ]);
    let (s, carry) = a.overflowing_add(x);
    a = s + carry as u64;
    let (s, carry) = b.overflowing_add(y);
    b = s + carry as u64;
    let (s, carry) = a.overflowing_add(b);
    let folded = fold64(s + carry as u64);
    if cfg!(target_endian = "little") {
        folded.swap_bytes()
    } else {
        folded
    }
}

/// The checksum field value for `data`: the complement of [`sum`].
#[inline]
#[must_use]
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// True when `data`, including its checksum field, sums to `0xffff`.
///
/// RFC 1071 §1: a receiver sums the data together with the checksum; the
/// result is all ones when the data is intact.
#[inline]
#[must_use]
pub fn verify(data: &[u8]) -> bool {
    sum(data) == 0xffff
}

/// True when the pseudo-header sum `pseudo` plus `data` (with its checksum
/// field) sums to `0xffff`.
#[inline]
#[must_use]
pub fn verify_with(pseudo: u16, data: &[u8]) -> bool {
    add(pseudo, sum(data)) == 0xffff
}

#[inline]
const fn sum_u32(x: u32) -> u16 {
    add((x >> 16) as u16, x as u16)
}

/// Sum of the IPv4 pseudo-header: source, destination, zero and protocol,
/// upper-layer length (RFC 793 §3.1 "Checksum", RFC 768).
#[must_use]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, length: u16) -> u16 {
    let s = sum_u32(src.to_bits());
    let d = sum_u32(dst.to_bits());
    add(add(s, d), add(u8::from(protocol) as u16, length))
}

/// Sum of the IPv6 pseudo-header: source, destination, 32-bit upper-layer
/// length, three zero bytes and the next header (RFC 8200 §8.1).
#[must_use]
pub fn pseudo_header_v6(
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    next_header: IpProtocol,
    length: u32,
) -> u16 {
    let mut acc: u16 = 0;
    for w in src.segments().iter().chain(dst.segments().iter()) {
        acc = add(acc, *w);
    }
    add(acc, add(sum_u32(length), u8::from(next_header) as u16))
}

/// The pseudo-header sum for either IP version.
///
/// When the two addresses are of different versions the sum covers both
/// addresses' bytes and the result matches no real packet; it does not panic.
#[must_use]
pub fn pseudo_header(src: &IpAddr, dst: &IpAddr, protocol: IpProtocol, length: u32) -> u16 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            // The IPv4 pseudo-header's length field is 16 bits wide; a length
            // above 0xffff cannot occur in an IPv4 packet, and the sum of its
            // halves is what a 32-bit field would contribute.
            add(pseudo_header_v4(*s, *d, protocol, 0), sum_u32(length))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => pseudo_header_v6(s, d, protocol, length),
        _ => {
            let a = match src {
                IpAddr::V4(a) => sum(&a.octets()),
                IpAddr::V6(a) => sum(&a.octets()),
            };
            let b = match dst {
                IpAddr::V4(b) => sum(&b.octets()),
                IpAddr::V6(b) => sum(&b.octets()),
            };
            add(add(a, b), add(sum_u32(length), u8::from(protocol) as u16))
        }
    }
}

/// Updates checksum field `hc` after a 16-bit field changed from `old` to
/// `new`, without re-summing the packet.
///
/// RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')`, which, unlike eqn. 2 of
/// RFC 1141, never produces `0x0000` from a nonzero sum (RFC 1624 §3).
///
/// # Examples
///
/// ```
/// use netwire::checksum;
///
/// let mut data = [0x45u8, 0x00, 0x12, 0x34, 0xab, 0xcd];
/// let hc = checksum::checksum(&data);
/// data[2..4].copy_from_slice(&0x5678u16.to_be_bytes());
/// assert_eq!(checksum::update_u16(hc, 0x1234, 0x5678), checksum::checksum(&data));
/// ```
#[inline]
#[must_use]
pub const fn update_u16(hc: u16, old: u16, new: u16) -> u16 {
    !add(add(!hc, !old), new)
}

/// Updates checksum field `hc` after a 32-bit field (for example an IPv4
/// address) changed from `old` to `new` (RFC 1624 eqn. 3, applied per
/// 16-bit half).
#[inline]
#[must_use]
pub const fn update_u32(hc: u16, old: u32, new: u32) -> u16 {
    let hc = update_u16(hc, (old >> 16) as u16, (new >> 16) as u16);
    update_u16(hc, old as u16, new as u16)
}

/// Who computes a checksum: software (this crate) or the device.
///
/// `Rx` means software verifies received checksums; `Tx` means software
/// fills transmitted ones. A device that offloads a direction takes that
/// work away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ChecksumMode {
    /// Software verifies on receive and fills on transmit.
    #[default]
    Both,
    /// Software verifies on receive; the device fills on transmit.
    Rx,
    /// Software fills on transmit; the device verified on receive.
    Tx,
    /// The device does both; software neither verifies nor fills.
    None,
}

impl ChecksumMode {
    /// True when software verifies received checksums.
    #[inline]
    #[must_use]
    pub const fn rx(self) -> bool {
        matches!(self, ChecksumMode::Both | ChecksumMode::Rx)
    }

    /// True when software fills transmitted checksums.
    #[inline]
    #[must_use]
    pub const fn tx(self) -> bool {
        matches!(self, ChecksumMode::Both | ChecksumMode::Tx)
    }
}

/// Per-protocol checksum duties, for devices that offload some of them.
///
/// # Examples
///
/// ```
/// use netwire::{ChecksumCapabilities, ChecksumMode};
///
/// // A NIC that verifies and fills IPv4 and TCP checksums itself.
/// let caps = ChecksumCapabilities {
///     ipv4: ChecksumMode::None,
///     tcp: ChecksumMode::None,
///     ..ChecksumCapabilities::default()
/// };
/// assert!(!caps.tcp.rx() && caps.udp.rx());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChecksumCapabilities {
    /// The IPv4 header checksum.
    pub ipv4: ChecksumMode,
    /// The UDP checksum.
    pub udp: ChecksumMode,
    /// The TCP checksum.
    pub tcp: ChecksumMode,
    /// The ICMPv4 checksum.
    pub icmpv4: ChecksumMode,
}

impl ChecksumCapabilities {
    /// Software computes every checksum (the default).
    #[must_use]
    pub const fn software() -> Self {
        ChecksumCapabilities {
            ipv4: ChecksumMode::Both,
            udp: ChecksumMode::Both,
            tcp: ChecksumMode::Both,
            icmpv4: ChecksumMode::Both,
        }
    }

    /// Software computes no checksum: the device does all of them.
    #[must_use]
    pub const fn offloaded() -> Self {
        ChecksumCapabilities {
            ipv4: ChecksumMode::None,
            udp: ChecksumMode::None,
            tcp: ChecksumMode::None,
            icmpv4: ChecksumMode::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// RFC 1071 §1 as written: 16-bit big-endian words, 32-bit accumulator,
    /// odd byte padded, carries folded at the end.
    fn naive_sum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        let mut i = 0;
        while i + 1 < data.len() {
            acc += u16::from_be_bytes([data[i], data[i + 1]]) as u32;
            i += 2;
        }
        if i < data.len() {
            acc += (data[i] as u32) << 8;
        }
        while acc > 0xffff {
            acc = (acc >> 16) + (acc & 0xffff);
        }
        acc as u16
    }

    #[test]
    fn rfc1071_section3_example() {
        // RFC 1071 §3 "Numerical Examples": bytes 00 01 f2 03 f4 f5 f6 f7,
        // the sum with carries folded is ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(naive_sum(&data), 0xddf2);
        assert_eq!(checksum(&data), 0x220d);
    }

    #[test]
    fn rfc1624_section4_example() {
        // RFC 1624 §4: other octets sum to 0xCD7A, m = 0x5555 -> m' = 0x3285.
        let hc = !add(0xcd7a, 0x5555);
        assert_eq!(hc, 0xdd2f);
        // Eqn. 3 gives the recomputed 0x0000, not eqn. 2's -0 (0xFFFF).
        assert_eq!(update_u16(hc, 0x5555, 0x3285), 0x0000);
        assert_eq!(!add(0xcd7a, 0x3285), 0x0000);
    }

    #[test]
    fn ttl_decrement_and_nat_rewrite_on_captured_frames() {
        use crate::ethernet::EthernetFrame;
        use crate::ipv4::Ipv4Packet;
        use crate::tcp::TcpPacket;
        let mut frame = crate::frames::TCP_SYN;
        let (ip_hdr, rest) = frame[14..].split_at_mut(20);
        // A router decrements the TTL: the TTL/protocol word changes.
        let old_word = u16::from_be_bytes([ip_hdr[8], ip_hdr[9]]);
        ip_hdr[8] -= 1;
        let new_word = u16::from_be_bytes([ip_hdr[8], ip_hdr[9]]);
        let hc = u16::from_be_bytes([ip_hdr[10], ip_hdr[11]]);
        ip_hdr[10..12].copy_from_slice(&update_u16(hc, old_word, new_word).to_be_bytes());
        assert!(verify(ip_hdr));
        // A NAT rewrites the source address: the IPv4 header and the TCP
        // checksum (which covers it through the pseudo-header) both change.
        let old_src = u32::from_be_bytes([ip_hdr[12], ip_hdr[13], ip_hdr[14], ip_hdr[15]]);
        let new_src = u32::from_be_bytes([192, 0, 2, 77]);
        ip_hdr[12..16].copy_from_slice(&new_src.to_be_bytes());
        let hc = u16::from_be_bytes([ip_hdr[10], ip_hdr[11]]);
        ip_hdr[10..12].copy_from_slice(&update_u32(hc, old_src, new_src).to_be_bytes());
        let tc = u16::from_be_bytes([rest[16], rest[17]]);
        rest[16..18].copy_from_slice(&update_u32(tc, old_src, new_src).to_be_bytes());
        let eth = EthernetFrame::new_checked(&frame[..]).unwrap();
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.hop_limit(), 63);
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        assert!(tcp.verify_checksum(&ip.src_addr().into(), &ip.dst_addr().into()));
    }

    #[test]
    fn edge_cases() {
        assert_eq!(sum(&[]), 0);
        assert_eq!(sum(&[0xab]), 0xab00);
        assert_eq!(sum(&[0xff; 64]), 0xffff);
        // Sum of all-ones data stays all-ones (negative zero), never wraps to 0.
        assert_eq!(sum(&[0xff, 0xff, 0x00, 0x01]), 0x0001);
    }

    #[test]
    fn verify_accepts_filled_checksum() {
        let mut data = [
            0x45, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01, 0, 0, 10, 0, 0, 1, 10, 0,
            0, 2,
        ];
        let c = checksum(&data);
        data[10..12].copy_from_slice(&c.to_be_bytes());
        assert!(verify(&data));
        data[15] ^= 1;
        assert!(!verify(&data));
    }

    #[test]
    fn pseudo_header_v4_matches_bytes() {
        let src = Ipv4Addr::new(192, 168, 0, 1);
        let dst = Ipv4Addr::new(10, 1, 2, 3);
        let bytes = [192, 168, 0, 1, 10, 1, 2, 3, 0, 6, 0x01, 0x02];
        assert_eq!(
            pseudo_header_v4(src, dst, IpProtocol::Tcp, 0x0102),
            naive_sum(&bytes)
        );
        assert_eq!(
            pseudo_header(&src.into(), &dst.into(), IpProtocol::Tcp, 0x0102),
            naive_sum(&bytes)
        );
    }

    #[test]
    fn pseudo_header_v6_matches_bytes() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::ffff:2".parse().unwrap();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src.octets());
        bytes.extend_from_slice(&dst.octets());
        bytes.extend_from_slice(&0x0001_0203u32.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 17]);
        assert_eq!(
            pseudo_header_v6(&src, &dst, IpProtocol::Udp, 0x0001_0203),
            naive_sum(&bytes)
        );
        assert_eq!(
            pseudo_header(&src.into(), &dst.into(), IpProtocol::Udp, 0x0001_0203),
            naive_sum(&bytes)
        );
        // Mixed versions give some value and do not panic.
        let _ = pseudo_header(&Ipv4Addr::LOCALHOST.into(), &dst.into(), IpProtocol::Udp, 8);
    }

    #[test]
    fn modes() {
        assert!(ChecksumMode::Both.rx() && ChecksumMode::Both.tx());
        assert!(ChecksumMode::Rx.rx() && !ChecksumMode::Rx.tx());
        assert!(!ChecksumMode::Tx.rx() && ChecksumMode::Tx.tx());
        assert!(!ChecksumMode::None.rx() && !ChecksumMode::None.tx());
        assert_eq!(
            ChecksumCapabilities::default(),
            ChecksumCapabilities::software()
        );
        assert!(!ChecksumCapabilities::offloaded().udp.tx());
    }

    proptest! {
        #[test]
        fn wide_sum_matches_naive(data in proptest::collection::vec(any::<u8>(), 0..300), skip in 0usize..8) {
            let skip = skip.min(data.len());
            // Unaligned starts exercise every chunk boundary.
            prop_assert_eq!(sum(&data[skip..]), naive_sum(&data[skip..]));
        }

        #[test]
        fn split_sums_combine(data in proptest::collection::vec(any::<u8>(), 0..200), cut in 0usize..100) {
            let cut = (cut * 2).min(data.len() & !1);
            prop_assert_eq!(add(sum(&data[..cut]), sum(&data[cut..])), sum(&data));
            prop_assert_eq!(combine(&[sum(&data[..cut]), sum(&data[cut..])]), sum(&data));
        }

        #[test]
        fn incremental_update_matches_full(mut data in proptest::collection::vec(any::<u8>(), 4..100),
                                           word in 0usize..48, new16: u16, new32: u32) {
            let n = data.len() / 2;
            let i = (word % n) * 2;
            let hc = checksum(&data);
            let old = u16::from_be_bytes([data[i], data[i + 1]]);
            data[i..i + 2].copy_from_slice(&new16.to_be_bytes());
            let updated = update_u16(hc, old, new16);
            // Both are valid encodings of the same sum: equal, or +0/-0 twins.
            prop_assert!(updated == checksum(&data) || (updated | checksum(&data)) == 0xffff && (updated & checksum(&data)) == 0);

            if data.len() >= 4 {
                let j = (word % (data.len() / 4)) * 4;
                let hc = checksum(&data);
                let old = u32::from_be_bytes([data[j], data[j + 1], data[j + 2], data[j + 3]]);
                data[j..j + 4].copy_from_slice(&new32.to_be_bytes());
                let updated = update_u32(hc, old, new32);
                prop_assert!(updated == checksum(&data) || (updated | checksum(&data)) == 0xffff && (updated & checksum(&data)) == 0);
            }
        }
    }
}
