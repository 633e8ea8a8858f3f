//! The Toeplitz hash used for receive-side scaling (RSS).
//!
//! The algorithm, from the Intel 82599 datasheet §7.1.2.8.1 (and Microsoft's
//! RSS specification): for each bit of the input, from the most significant
//! bit of the first byte on, if the bit is set XOR the result with the
//! left-most 32 bits of the key, then shift the key left by one bit.
//!
//! The input is the concatenation of fields in packet order (82599 datasheet
//! §7.1.2.8.1): source address, destination address, and for the port
//! variants source port, destination port.
//!
//! [`hash`] computes it directly from a key; [`ToeplitzKey`] precomputes a
//! 256-entry table per input byte so a hash costs one lookup and XOR per byte.
//!
//! # Examples
//!
//! ```
//! use core::net::Ipv4Addr;
//! use netwire::toeplitz::{self, ToeplitzKey, MICROSOFT_KEY};
//!
//! // Microsoft's verification suite, first row: 66.9.149.187:2794 -> 161.142.100.80:1766.
//! static KEY: ToeplitzKey = ToeplitzKey::new(&MICROSOFT_KEY);
//! let (src, dst) = (Ipv4Addr::new(66, 9, 149, 187), Ipv4Addr::new(161, 142, 100, 80));
//! assert_eq!(KEY.hash_ipv4(src, dst), 0x323e8fc2);
//! assert_eq!(KEY.hash_ipv4_ports(src, dst, 2794, 1766), 0x51ccc178);
//! assert_eq!(toeplitz::hash(&MICROSOFT_KEY, &toeplitz::ipv4_input(src, dst)), 0x323e8fc2);
//! ```

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

/// Length of an RSS key: 320 bits (82599 datasheet §7.1.2.8.1; the RSSRK
/// registers hold it).
pub const KEY_LEN: usize = 40;

/// The key from Microsoft's "Verifying the RSS Hash Calculation" (also the
/// default in many drivers and in the 82599 datasheet §7.1.2.8.3 examples).
pub const MICROSOFT_KEY: [u8; KEY_LEN] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// Key byte `i`, zero past the end: the key shifts in zeros.
#[inline]
const fn key_byte(key: &[u8], i: usize) -> u8 {
    if i < key.len() { key[i] } else { 0 }
}

/// The 32-bit key window starting at bit `bit` (from the left).
const fn window(key: &[u8], bit: usize) -> u32 {
    let byte = bit / 8;
    let shift = bit % 8;
    let v = ((key_byte(key, byte) as u64) << 32)
        | ((key_byte(key, byte + 1) as u64) << 24)
        | ((key_byte(key, byte + 2) as u64) << 16)
        | ((key_byte(key, byte + 3) as u64) << 8)
        | (key_byte(key, byte + 4) as u64);
    (v >> (8 - shift)) as u32
}

/// The Toeplitz hash of `input` under `key`, without precomputation.
///
/// Key bits past the end of `key` count as zero, so input bytes beyond
/// `key.len() - 4` contribute less and beyond `key.len()` nothing, as in
/// hardware with a 40-byte key.
#[must_use]
pub fn hash(key: &[u8], input: &[u8]) -> u32 {
    let mut result = 0u32;
    for (i, &b) in input.iter().enumerate() {
        if b == 0 {
            continue;
        }
        // A 40-bit window holds the key bits for all eight input bits.
        let w = ((key_byte(key, i) as u64) << 32)
            | ((key_byte(key, i + 1) as u64) << 24)
            | ((key_byte(key, i + 2) as u64) << 16)
            | ((key_byte(key, i + 3) as u64) << 8)
            | (key_byte(key, i + 4) as u64);
        let mut bits = b;
        while bits != 0 {
            // Bit t from the right is bit 7 - t from the left; its window
            // starts 7 - t bits into `w`, i.e. t + 1 bits above the bottom.
            let t = bits.trailing_zeros();
            result ^= (w >> (t + 1)) as u32;
            bits &= bits - 1;
        }
    }
    result
}

/// A key with per-byte lookup tables: hashing costs one table lookup and
/// XOR per input byte.
///
/// The tables take 40 KiB (40 input positions × 256 entries × 4 bytes); put
/// the key in a `static` built at compile time with the `const fn`
/// [`new`](Self::new).
#[derive(Clone)]
pub struct ToeplitzKey {
    key: [u8; KEY_LEN],
    table: [[u32; 256]; KEY_LEN],
}

impl ToeplitzKey {
    /// Precomputes the tables for `key`.
    #[must_use]
    pub const fn new(key: &[u8; KEY_LEN]) -> ToeplitzKey {
        let mut table = [[0u32; 256]; KEY_LEN];
        let mut i = 0;
        while i < KEY_LEN {
            // w[t]: the window for the input bit of weight 1 << t in byte i.
            let mut w = [0u32; 8];
            let mut t = 0;
            while t < 8 {
                w[t] = window(key, i * 8 + (7 - t));
                t += 1;
            }
            let mut b = 1;
            while b < 256 {
                let t = (b as u32).trailing_zeros() as usize;
                table[i][b] = table[i][b & (b - 1)] ^ w[t];
                b += 1;
            }
            i += 1;
        }
        ToeplitzKey { key: *key, table }
    }

    /// The key bytes.
    #[inline]
    pub const fn key(&self) -> &[u8; KEY_LEN] {
        &self.key
    }

    /// The hash of `input`; bytes past the 40th contribute nothing (the key
    /// is 320 bits).
    #[inline]
    #[must_use]
    pub fn hash(&self, input: &[u8]) -> u32 {
        input
            .iter()
            .zip(self.table.iter())
            .fold(0, |h, (&b, t)| h ^ t[b as usize])
    }

    /// Hash over IPv4 source and destination addresses.
    #[inline]
    #[must_use]
    pub fn hash_ipv4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u32 {
        self.hash(&ipv4_input(src, dst))
    }

    /// Hash over IPv4 addresses and TCP/UDP ports.
    #[inline]
    #[must_use]
    pub fn hash_ipv4_ports(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        src_port: u16,
        dst_port: u16,
    ) -> u32 {
        self.hash(&ipv4_ports_input(src, dst, src_port, dst_port))
    }

    /// Hash over IPv6 source and destination addresses.
    #[inline]
    #[must_use]
    pub fn hash_ipv6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> u32 {
        self.hash(&ipv6_input(src, dst))
    }

    /// Hash over IPv6 addresses and TCP/UDP ports.
    #[inline]
    #[must_use]
    pub fn hash_ipv6_ports(
        &self,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        src_port: u16,
        dst_port: u16,
    ) -> u32 {
        self.hash(&ipv6_ports_input(src, dst, src_port, dst_port))
    }
}

impl fmt::Debug for ToeplitzKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToeplitzKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for ToeplitzKey {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(f, "ToeplitzKey {{ key: {=[u8]:x} }}", self.key);
    }
}

/// RSS input for IPv4 without ports: source then destination address.
#[must_use]
pub fn ipv4_input(src: Ipv4Addr, dst: Ipv4Addr) -> [u8; 8] {
    let (s, d) = (src.octets(), dst.octets());
    [s[0], s[1], s[2], s[3], d[0], d[1], d[2], d[3]]
}

/// RSS input for IPv4 with ports: addresses, source port, destination port.
#[must_use]
pub fn ipv4_ports_input(src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..8].copy_from_slice(&ipv4_input(src, dst));
    out[8..10].copy_from_slice(&src_port.to_be_bytes());
    out[10..].copy_from_slice(&dst_port.to_be_bytes());
    out
}

/// RSS input for IPv6 without ports.
#[must_use]
pub fn ipv6_input(src: &Ipv6Addr, dst: &Ipv6Addr) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(&src.octets());
    out[16..].copy_from_slice(&dst.octets());
    out
}

/// RSS input for IPv6 with ports.
#[must_use]
pub fn ipv6_ports_input(src: &Ipv6Addr, dst: &Ipv6Addr, src_port: u16, dst_port: u16) -> [u8; 36] {
    let mut out = [0u8; 36];
    out[..32].copy_from_slice(&ipv6_input(src, dst));
    out[32..34].copy_from_slice(&src_port.to_be_bytes());
    out[34..].copy_from_slice(&dst_port.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::boxed::Box;

    /// The datasheet's pseudo-code taken literally (82599 datasheet
    /// §7.1.2.8.1 "ComputeHash"): one input bit at a time, shifting the
    /// whole key.
    fn reference_hash(key: &[u8], input: &[u8]) -> u32 {
        let mut k: std::vec::Vec<u8> = key.to_vec();
        let mut result = 0u32;
        for &byte in input {
            for bit in (0..8).rev() {
                if byte >> bit & 1 == 1 {
                    result ^= u32::from_be_bytes([
                        k.first().copied().unwrap_or(0),
                        k.get(1).copied().unwrap_or(0),
                        k.get(2).copied().unwrap_or(0),
                        k.get(3).copied().unwrap_or(0),
                    ]);
                }
                // Shift the key left by one bit.
                for i in 0..k.len() {
                    let next = k.get(i + 1).copied().unwrap_or(0);
                    k[i] = (k[i] << 1) | (next >> 7);
                }
            }
        }
        result
    }

    struct V4 {
        dst: [u8; 4],
        dport: u16,
        src: [u8; 4],
        sport: u16,
        ip: u32,
        tcp: u32,
    }

    struct V6 {
        dst: &'static str,
        dport: u16,
        src: &'static str,
        sport: u16,
        ip: u32,
        tcp: u32,
    }

    // Every IPv4 and IPv6 row of the verification tables in Microsoft's
    // "Verifying the RSS Hash Calculation" (Windows driver documentation,
    // learn.microsoft.com/windows-hardware/drivers/network/
    // verifying-the-rss-hash-calculation), with MICROSOFT_KEY; the 82599
    // datasheet §7.1.2.8.3 reproduces them.
    const V4_ROWS: [V4; 5] = [
        V4 {
            dst: [161, 142, 100, 80],
            dport: 1766,
            src: [66, 9, 149, 187],
            sport: 2794,
            ip: 0x323e8fc2,
            tcp: 0x51ccc178,
        },
        V4 {
            dst: [65, 69, 140, 83],
            dport: 4739,
            src: [199, 92, 111, 2],
            sport: 14230,
            ip: 0xd718262a,
            tcp: 0xc626b0ea,
        },
        V4 {
            dst: [12, 22, 207, 184],
            dport: 38024,
            src: [24, 19, 198, 95],
            sport: 12898,
            ip: 0xd2d0a5de,
            tcp: 0x5c2b394a,
        },
        V4 {
            dst: [209, 142, 163, 6],
            dport: 2217,
            src: [38, 27, 205, 30],
            sport: 48228,
            ip: 0x82989176,
            tcp: 0xafc7327f,
        },
        V4 {
            dst: [202, 188, 127, 2],
            dport: 1303,
            src: [153, 39, 163, 191],
            sport: 44251,
            ip: 0x5d1809c5,
            tcp: 0x10e828a2,
        },
    ];

    const V6_ROWS: [V6; 3] = [
        V6 {
            dst: "3ffe:2501:200:3::1",
            dport: 1766,
            src: "3ffe:2501:200:1fff::7",
            sport: 2794,
            ip: 0x2cc18cd5,
            tcp: 0x40207d3d,
        },
        V6 {
            dst: "ff02::1",
            dport: 4739,
            src: "3ffe:501:8::260:97ff:fe40:efab",
            sport: 14230,
            ip: 0x0f0c461c,
            tcp: 0xdde51bbf,
        },
        V6 {
            dst: "fe80::200:f8ff:fe21:67cf",
            dport: 38024,
            src: "3ffe:1900:4545:3:200:f8ff:fe21:67cf",
            sport: 44251,
            ip: 0x4b61e985,
            tcp: 0x02d1feef,
        },
    ];

    fn key() -> Box<ToeplitzKey> {
        Box::new(ToeplitzKey::new(&MICROSOFT_KEY))
    }

    #[test]
    fn microsoft_ipv4_vectors() {
        let k = key();
        for r in &V4_ROWS {
            let (s, d) = (Ipv4Addr::from(r.src), Ipv4Addr::from(r.dst));
            assert_eq!(k.hash_ipv4(s, d), r.ip, "{s} -> {d}");
            assert_eq!(
                k.hash_ipv4_ports(s, d, r.sport, r.dport),
                r.tcp,
                "{s}:{} -> {d}:{}",
                r.sport,
                r.dport
            );
            assert_eq!(hash(&MICROSOFT_KEY, &ipv4_input(s, d)), r.ip);
            assert_eq!(
                hash(&MICROSOFT_KEY, &ipv4_ports_input(s, d, r.sport, r.dport)),
                r.tcp
            );
            assert_eq!(reference_hash(&MICROSOFT_KEY, &ipv4_input(s, d)), r.ip);
            assert_eq!(
                reference_hash(&MICROSOFT_KEY, &ipv4_ports_input(s, d, r.sport, r.dport)),
                r.tcp
            );
        }
    }

    #[test]
    fn microsoft_ipv6_vectors() {
        let k = key();
        for r in &V6_ROWS {
            let s: Ipv6Addr = r.src.parse().unwrap();
            let d: Ipv6Addr = r.dst.parse().unwrap();
            assert_eq!(k.hash_ipv6(&s, &d), r.ip, "{s} -> {d}");
            assert_eq!(
                k.hash_ipv6_ports(&s, &d, r.sport, r.dport),
                r.tcp,
                "{s} -> {d}"
            );
            assert_eq!(hash(&MICROSOFT_KEY, &ipv6_input(&s, &d)), r.ip);
            assert_eq!(
                reference_hash(&MICROSOFT_KEY, &ipv6_ports_input(&s, &d, r.sport, r.dport)),
                r.tcp
            );
        }
    }

    #[test]
    fn const_key_matches_runtime_key() {
        static K: ToeplitzKey = ToeplitzKey::new(&MICROSOFT_KEY);
        assert_eq!(K.key(), &MICROSOFT_KEY);
        assert_eq!(
            K.hash(&[1, 2, 3, 4, 5, 6, 7, 8]),
            key().hash(&[1, 2, 3, 4, 5, 6, 7, 8])
        );
        assert_eq!(K.hash(&[]), 0);
        assert!(std::format!("{:?}", K).starts_with("ToeplitzKey"));
    }

    proptest! {
        #[test]
        fn table_and_direct_match_reference(key in any::<[u8; 40]>(), input in proptest::collection::vec(any::<u8>(), 0..48)) {
            let k = Box::new(ToeplitzKey::new(&key));
            let expected = reference_hash(&key, &input);
            prop_assert_eq!(k.hash(&input), expected);
            prop_assert_eq!(hash(&key, &input), expected);
        }

        #[test]
        fn short_keys_shift_in_zeros(key in proptest::collection::vec(any::<u8>(), 0..12), input in proptest::collection::vec(any::<u8>(), 0..16)) {
            prop_assert_eq!(hash(&key, &input), reference_hash(&key, &input));
        }
    }
}
