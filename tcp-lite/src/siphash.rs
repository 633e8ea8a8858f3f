//! SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012), the keyed
//! hash behind initial sequence numbers (RFC 6528 §3) and the connection table.

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
}
