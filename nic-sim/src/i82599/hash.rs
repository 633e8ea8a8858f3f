//! Hash functions of the 82599 receive path, written from the datasheet.

/// The Toeplitz hash (82599 datasheet §7.1.2.8.1, Microsoft RSS
/// specification): for every set bit of `input`, XOR in the 32-bit window
/// of `key` starting at that bit.
pub fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
    let mut result = 0u32;
    let mut window = u32::from_be_bytes([
        key.first().copied().unwrap_or(0),
        key.get(1).copied().unwrap_or(0),
        key.get(2).copied().unwrap_or(0),
        key.get(3).copied().unwrap_or(0),
    ]);
    for (i, byte) in input.iter().enumerate() {
        let next = key.get(i + 4).copied().unwrap_or(0);
        for b in 0..8 {
            if byte & (0x80 >> b) != 0 {
                result ^= window;
            }
            window = (window << 1) | u32::from((next >> (7 - b)) & 1);
        }
    }
    result
}

/// The Flow Director hash over the 11-dword input stream (§7.1.2.7.15),
/// as the model reads the datasheet: the key's low half applies to the
/// word-swapped XOR of dwords 1..=10, its high half to the XOR itself, each
/// bit `i` shifting by `i`; the flow-type/VLAN dword 0 is folded into both
/// halves (into the low half after key bit 0).
pub fn fdir_hash(stream: &[u32; 11], key: u32) -> u32 {
    let x = stream[1..].iter().fold(0, |a, d| a ^ d);
    let v = stream[0];
    let hi = x ^ v ^ (v >> 16);
    let lo0 = x.rotate_left(16);
    let lo = lo0 ^ v ^ (v << 16);
    let mut h = 0;
    for i in 0..16 {
        if key >> i & 1 == 1 {
            h ^= if i == 0 { lo0 } else { lo >> i };
        }
        if key >> (i + 16) & 1 == 1 {
            h ^= hi >> i;
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key of the Microsoft RSS verification suite.
    const MS_KEY: [u8; 40] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f,
        0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
        0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ];

    fn v4_input(src: [u8; 4], dst: [u8; 4], ports: Option<(u16, u16)>) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        if let Some((s, d)) = ports {
            v.extend_from_slice(&s.to_be_bytes());
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn toeplitz_matches_the_microsoft_verification_vectors() {
        // Microsoft "Verifying the RSS Hash Calculation", IPv4 table.
        let cases = [
            (
                [66, 9, 149, 187],
                2794,
                [161, 142, 100, 80],
                1766,
                0x323e_8fc2,
                0x51cc_c178,
            ),
            (
                [199, 92, 111, 2],
                14230,
                [65, 69, 140, 83],
                4739,
                0xd718_262a,
                0xc626_b0ea,
            ),
            (
                [24, 19, 198, 95],
                12898,
                [12, 22, 207, 184],
                38024,
                0xd2d0_a5de,
                0x5c2b_394a,
            ),
            (
                [38, 27, 205, 30],
                48228,
                [209, 142, 163, 6],
                2217,
                0x8298_9176,
                0xafc7_327f,
            ),
            (
                [153, 39, 163, 191],
                44251,
                [202, 188, 127, 2],
                1303,
                0x5d18_09c5,
                0x10e8_28a2,
            ),
        ];
        for (src, sp, dst, dp, ip_only, with_ports) in cases {
            assert_eq!(toeplitz(&MS_KEY, &v4_input(src, dst, None)), ip_only);
            assert_eq!(
                toeplitz(&MS_KEY, &v4_input(src, dst, Some((sp, dp)))),
                with_ports
            );
        }
    }

    #[test]
    fn toeplitz_agrees_with_netwire_on_many_inputs() {
        // A second, independent implementation (netwire::toeplitz) on
        // pseudo-random keys and inputs of every RSS input length.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        };
        for _ in 0..200 {
            let key: Vec<u8> = (0..40).map(|_| next()).collect();
            for len in [8, 12, 32, 36] {
                let input: Vec<u8> = (0..len).map(|_| next()).collect();
                assert_eq!(
                    toeplitz(&key, &input),
                    netwire::toeplitz::hash(&key, &input)
                );
            }
        }
    }

    #[test]
    fn fdir_hash_is_linear_in_the_key() {
        let mut s = [0u32; 11];
        s[0] = 2 << 16;
        s[4] = 0x0a00_0001;
        s[8] = 0x0a00_0002;
        s[9] = (40000 << 16) | 80;
        let (a, b) = (0x3DAD_14E2, 0x1740_7A27);
        assert_eq!(fdir_hash(&s, a ^ b), fdir_hash(&s, a) ^ fdir_hash(&s, b));
        assert_eq!(fdir_hash(&s, 0), 0);
    }
}
