//! SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012) and its
//! 32-bit-word variant HalfSipHash-2-4 (same authors' reference implementation). The stack
//! keys its initial sequence numbers (RFC 6528 §3) and its connection table with
//! HalfSipHash: on 32-bit cores its state fits the registers, where SipHash's 64-bit words
//! cost several hundred bytes of flash more.

/// `n` SipRounds. Kept out of line: the stack is sized for small flash, not for speed.
#[inline(never)]
fn rounds(v: &mut [u64; 4], n: usize) {
    for _ in 0..n {
        round(v);
    }
}

#[inline(always)]
fn round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

/// SipHash-2-4 of `msg` under the 128-bit key `k` (little-endian halves, as in the paper).
pub fn siphash24(k: &[u8; 16], msg: &[u8]) -> u64 {
    let mut kb = [0u8; 8];
    kb.copy_from_slice(&k[..8]);
    let k0 = u64::from_le_bytes(kb);
    kb.copy_from_slice(&k[8..]);
    let k1 = u64::from_le_bytes(kb);
    // Paper §2: initialisation constants "somepseudorandomlygeneratedbytes".
    let mut v = [
        k0 ^ 0x736f6d6570736575,
        k1 ^ 0x646f72616e646f6d,
        k0 ^ 0x6c7967656e657261,
        k1 ^ 0x7465646279746573,
    ];
    let mut chunks = msg.chunks_exact(8);
    for c in &mut chunks {
        kb.copy_from_slice(c);
        let m = u64::from_le_bytes(kb);
        v[3] ^= m;
        rounds(&mut v, 2);
        v[0] ^= m;
    }
    let rem = chunks.remainder();
    let mut last = [0u8; 8];
    last[..rem.len()].copy_from_slice(rem);
    last[7] = msg.len() as u8;
    let m = u64::from_le_bytes(last);
    v[3] ^= m;
    rounds(&mut v, 2);
    v[0] ^= m;
    v[2] ^= 0xff;
    rounds(&mut v, 4);
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// One HalfSipHash SipRound (rotations 5, 16, 8, 7, 13, 16 of the reference implementation).
#[inline(always)]
fn half_round(v: &mut [u32; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(5) ^ v[0];
    v[0] = v[0].rotate_left(16);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(8) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(7) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[2];
    v[2] = v[2].rotate_left(16);
}

/// `n` HalfSipHash rounds, out of line (flash over speed).
#[inline(never)]
fn half_rounds(v: &mut [u32; 4], n: usize) {
    for _ in 0..n {
        half_round(v);
    }
}

/// HalfSipHash-2-4 with a 32-bit output of `msg` under the 64-bit key `k` (little-endian
/// halves, as in the reference implementation).
pub fn halfsiphash24(k: &[u8; 8], msg: &[u8]) -> u32 {
    let k0 = u32::from_le_bytes([k[0], k[1], k[2], k[3]]);
    let k1 = u32::from_le_bytes([k[4], k[5], k[6], k[7]]);
    // The reference's initial constants: "lyge" and "tedb" of the SipHash string.
    let mut v = [k0, k1, k0 ^ 0x6c79_6765, k1 ^ 0x7465_6462];
    let mut chunks = msg.chunks_exact(4);
    let absorb = |v: &mut [u32; 4], m: u32| {
        v[3] ^= m;
        half_rounds(v, 2);
        v[0] ^= m;
    };
    for c in &mut chunks {
        absorb(&mut v, u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
    }
    let mut last = (msg.len() as u32) << 24;
    for (i, &b) in chunks.remainder().iter().enumerate() {
        last |= u32::from(b) << (8 * i);
    }
    absorb(&mut v, last);
    v[2] ^= 0xff;
    half_rounds(&mut v, 4);
    v[1] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paper Appendix A: key 00..0f, message 00..0e, output a129ca6149be45e5.
    #[test]
    fn paper_vector() {
        let mut k = [0u8; 16];
        for (i, b) in k.iter_mut().enumerate() {
            *b = i as u8;
        }
        let mut m = [0u8; 15];
        for (i, b) in m.iter_mut().enumerate() {
            *b = i as u8;
        }
        assert_eq!(siphash24(&k, &m), 0xa129ca6149be45e5);
    }

    /// Reference implementation's vectors.h: empty message → 726fdb47dd0e0e31.
    #[test]
    fn empty_message() {
        let mut k = [0u8; 16];
        for (i, b) in k.iter_mut().enumerate() {
            *b = i as u8;
        }
        assert_eq!(siphash24(&k, &[]), 0x726fdb47dd0e0e31);
    }

    /// The reference implementation's `vectors_hsip32` (key 00..07, message 00..len-1,
    /// output little-endian) for lengths 0 to 7: every tail length, one and two blocks.
    #[test]
    fn half_reference_vectors() {
        let k = [0, 1, 2, 3, 4, 5, 6, 7];
        let m = [0u8, 1, 2, 3, 4, 5, 6, 7];
        let want: [[u8; 4]; 8] = [
            [0xa9, 0x35, 0x9f, 0x5b],
            [0x27, 0x47, 0x5a, 0xb8],
            [0xfa, 0x62, 0xa6, 0x03],
            [0x8a, 0xfe, 0xe7, 0x04],
            [0x2a, 0x6e, 0x46, 0x89],
            [0xc5, 0xfa, 0xb6, 0x69],
            [0x58, 0x63, 0xfc, 0x23],
            [0x8b, 0xcf, 0x63, 0xc5],
        ];
        for (len, w) in want.iter().enumerate() {
            assert_eq!(halfsiphash24(&k, &m[..len]).to_le_bytes(), *w, "len {len}");
        }
    }
}
