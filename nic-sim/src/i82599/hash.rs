//! The Flow Director hash of the 82599 receive path, written from the
//! datasheet. RSS uses the Toeplitz hash in `netwire::toeplitz`
//! (§7.1.2.8.1), whose tests carry the Microsoft verification vectors.

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
