//! Flow Director hash (82599 datasheet §7.1.2.7.15).
//!
//! The datasheet defines the bucket hash and the signature as a 32-bit key
//! (FDIRHKEY, FDIRSKEY) applied to the filter's input stream of 11 dwords:
//! the flow type / pool / VLAN dword, the destination and source IPv6 (or
//! IPv4 in the last word) addresses, the ports and the flexible bytes. Bit
//! `i` of the key XORs the common dword shifted by `i` (key bits 0..16) or the
//! word-swapped common dword shifted by `i` (key bits 16..32) into the
//! result. The dwords are taken in network byte order.

/// Flow type values of the first input dword (§7.1.2.7.15, table 7-13).
pub mod flow_type {
    /// TCP over IPv4.
    pub const TCPV4: u8 = 0x2;
    /// UDP over IPv4.
    pub const UDPV4: u8 = 0x1;
    /// SCTP over IPv4.
    pub const SCTPV4: u8 = 0x3;
}

/// The Flow Director input a filter is hashed and matched over (IPv4 only here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FdirInput {
    /// Flow type ([`flow_type`]).
    pub flow_type: u8,
    /// Source IPv4 address, host order.
    pub src_ip: u32,
    /// Destination IPv4 address, host order.
    pub dst_ip: u32,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

impl FdirInput {
    /// The 11 input dwords in the datasheet's order, as host-order values of
    /// their network-order bytes.
    pub fn stream(&self) -> [u32; 11] {
        let mut s = [0u32; 11];
        // dword 0: VM pool (7:0), flow type (15:8), VLAN (31:16), in
        // network order: the big-endian reading of bytes [pool, type, vlan].
        s[0] = u32::from(self.flow_type) << 16;
        // dwords 1..=4 destination IPv6 (IPv4 in the last), 5..=8 source.
        s[4] = self.dst_ip;
        s[8] = self.src_ip;
        // dword 9: source port then destination port, each big-endian.
        s[9] = (u32::from(self.src_port) << 16) | u32::from(self.dst_port);
        // dword 10: flexible bytes, unused (masked in FDIRM).
        s
    }
}

/// The datasheet hash of `input` under `key`, 32 bits wide; the bucket hash
/// is its low 15 bits under FDIRHKEY, the signature its low 16 bits under FDIRSKEY.
pub fn hash(input: &FdirInput, key: u32) -> u32 {
    let s = input.stream();
    let flow = s[0];
    let common = s[1..].iter().fold(0u32, |a, d| a ^ d);
    let mut hi = common;
    let mut lo = common.rotate_left(16);
    hi ^= flow ^ (flow >> 16);
    let mut h = 0u32;
    // Key bit 0 uses the low word before the flow dword is folded into it.
    if key & 1 != 0 {
        h ^= lo;
    }
    if key & (1 << 16) != 0 {
        h ^= hi;
    }
    lo ^= flow ^ (flow << 16);
    for i in 1..16 {
        if key & (1 << i) != 0 {
            h ^= lo >> i;
        }
        if key & (1 << (i + 16)) != 0 {
            h ^= hi >> i;
        }
    }
    h
}

/// Bucket hash: the low 15 bits of [`hash`] under FDIRHKEY (FDIRHASH 14:0).
pub fn bucket_hash(input: &FdirInput, hkey: u32) -> u32 {
    hash(input, hkey) & 0x7FFF
}

/// Signature: the low 16 bits of [`hash`] under FDIRSKEY.
pub fn signature(input: &FdirInput, skey: u32) -> u32 {
    hash(input, skey) & 0xFFFF
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_linear_in_the_key_and_depends_on_every_field() {
        let a = FdirInput {
            flow_type: flow_type::TCPV4,
            src_ip: 0x0a00_0002,
            dst_ip: 0x0a00_0001,
            src_port: 40000,
            dst_port: 80,
        };
        let k1 = 0x3DAD_14E2;
        let k2 = 0x1740_7A27;
        assert_eq!(hash(&a, k1 ^ k2), hash(&a, k1) ^ hash(&a, k2));
        let mut b = a;
        b.dst_port = 81;
        assert_ne!(hash(&a, k1), hash(&b, k1));
        b = a;
        b.flow_type = flow_type::UDPV4;
        assert_ne!(hash(&a, k1), hash(&b, k1));
        assert_eq!(hash(&a, 0), 0);
    }
}
