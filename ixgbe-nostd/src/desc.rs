//! Advanced receive and transmit descriptors (16 bytes, little-endian).
//!
//! Layouts from the 82599 datasheet §7.1.6 (receive) and §7.2.3.2
//! (transmit). Each is a `#[repr(C)]` struct of zerocopy little-endian
//! integers, so it converts to and from the two 64-bit words the ring holds
//! without copying and means the same on any host byte order.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Size of every descriptor in bytes.
pub const DESC_LEN: usize = 16;

/// Advanced receive descriptor, read format (§7.1.6.1): what the driver posts.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct AdvRxRead {
    /// Packet buffer address.
    pub pkt_addr: U64,
    /// Header buffer address; bit 0 doubles as DD in write-back, so it is 0.
    pub hdr_addr: U64,
}

/// Advanced receive descriptor, write-back format (§7.1.6.2): what the device returns.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct AdvRxWb {
    /// RSS type (3:0), packet type (16:4), RSC count, header length, SPH.
    pub pkt_info: U32,
    /// RSS hash (with RXCSUM.PCSD set) or Flow Director filter id.
    pub rss: U32,
    /// Extended status (19:0) and extended errors (31:20).
    pub status_error: U32,
    /// Packet length in bytes.
    pub length: U16,
    /// Stripped VLAN tag.
    pub vlan: U16,
}

/// Advanced transmit data descriptor (§7.2.3.2.4).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct AdvTxData {
    /// Buffer address.
    pub buffer_addr: U64,
    /// DTALEN (15:0), MAC (19:18), DTYP (23:20), DCMD (31:24).
    pub cmd_type_len: U32,
    /// STA (3:0, DD in write-back), IDX (6:4), CC (7), POPTS (13:8), PAYLEN (31:14).
    pub olinfo_status: U32,
}

/// Advanced transmit context descriptor (§7.2.3.2.3).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct AdvTxContext {
    /// IPLEN (8:0), MACLEN (15:9), VLAN (31:16).
    pub vlan_macip_lens: U32,
    /// IPsec / FCoE fields, unused.
    pub seqnum_seed: U32,
    /// TUCMD (19:9), DTYP (23:20), DCMD (31:24).
    pub type_tucmd_mlhl: U32,
    /// IDX (6:4), L4LEN (15:8), MSS (31:16).
    pub mss_l4len_idx: U32,
}

const _: () = assert!(size_of::<AdvRxRead>() == DESC_LEN);
const _: () = assert!(size_of::<AdvRxWb>() == DESC_LEN);
const _: () = assert!(size_of::<AdvTxData>() == DESC_LEN);
const _: () = assert!(size_of::<AdvTxContext>() == DESC_LEN);

/// Receive write-back status bits (§7.1.6.2, extended status).
pub mod rx_status {
    /// Descriptor done.
    pub const DD: u32 = 1 << 0;
    /// End of packet.
    pub const EOP: u32 = 1 << 1;
    /// Flow Director filter match.
    pub const FLM: u32 = 1 << 2;
    /// VLAN packet (tag stripped into the VLAN field).
    pub const VP: u32 = 1 << 3;
    /// UDP checksum computed.
    pub const UDPCS: u32 = 1 << 4;
    /// L4 integrity (TCP/UDP checksum) checked.
    pub const L4I: u32 = 1 << 5;
    /// IPv4 checksum checked.
    pub const IPCS: u32 = 1 << 6;
}

/// Receive write-back error bits (§7.1.6.2, extended errors in 31:20).
pub mod rx_error {
    /// Header buffer overflow.
    pub const HBO: u32 = 1 << 23;
    /// RX data error (CRC, symbol).
    pub const RXE: u32 = 1 << 29;
    /// TCP/UDP checksum error.
    pub const L4E: u32 = 1 << 30;
    /// IPv4 checksum error.
    pub const IPE: u32 = 1 << 31;
}

/// Receive write-back RSS type (pkt_info 3:0) values (§7.1.6.2).
pub mod rss_type {
    /// No hash computed.
    pub const NONE: u32 = 0;
    /// TCP over IPv4.
    pub const TCP_IPV4: u32 = 1;
    /// IPv4.
    pub const IPV4: u32 = 2;
    /// TCP over IPv6.
    pub const TCP_IPV6: u32 = 3;
    /// IPv6.
    pub const IPV6: u32 = 5;
    /// UDP over IPv4.
    pub const UDP_IPV4: u32 = 7;
    /// UDP over IPv6.
    pub const UDP_IPV6: u32 = 8;
}

/// Receive write-back packet type bits (pkt_info 16:4, §7.1.6.2).
pub mod packet_type {
    /// IPv4 header present.
    pub const IPV4: u16 = 1 << 0;
    /// IPv6 header present.
    pub const IPV6: u16 = 1 << 2;
    /// TCP header present.
    pub const TCP: u16 = 1 << 4;
    /// UDP header present.
    pub const UDP: u16 = 1 << 5;
    /// SCTP header present.
    pub const SCTP: u16 = 1 << 6;
    /// An EtherType filter matched (the filter index is in bits 2:0).
    pub const ETQF: u16 = 1 << 11;
}

/// Transmit descriptor bits (§7.2.3.2.3, §7.2.3.2.4).
pub mod tx {
    /// DTYP = 0011: advanced data descriptor.
    pub const DTYP_DATA: u32 = 0b0011 << 20;
    /// DTYP = 0010: advanced context descriptor.
    pub const DTYP_CTXT: u32 = 0b0010 << 20;
    /// DCMD.EOP: end of packet.
    pub const DCMD_EOP: u32 = 1 << 24;
    /// DCMD.IFCS: insert FCS.
    pub const DCMD_IFCS: u32 = 1 << 25;
    /// DCMD.RS: report status (write DD back).
    pub const DCMD_RS: u32 = 1 << 27;
    /// DCMD.DEXT: advanced descriptor.
    pub const DCMD_DEXT: u32 = 1 << 29;
    /// DTALEN field mask.
    pub const DTALEN_MASK: u32 = 0xFFFF;
    /// STA.DD in olinfo_status.
    pub const STA_DD: u32 = 1 << 0;
    /// CC: check context (use the context at IDX).
    pub const CC: u32 = 1 << 7;
    /// POPTS.IXSM: insert IPv4 checksum.
    pub const POPTS_IXSM: u32 = 1 << 8;
    /// POPTS.TXSM: insert TCP/UDP checksum.
    pub const POPTS_TXSM: u32 = 1 << 9;
    /// PAYLEN shift in olinfo_status.
    pub const PAYLEN_SHIFT: u32 = 14;
    /// Context TUCMD.IPV4: the packet is IPv4.
    pub const TUCMD_IPV4: u32 = 1 << 10;
    /// Context TUCMD.L4T = 01: TCP (00 is UDP).
    pub const TUCMD_L4T_TCP: u32 = 1 << 11;
    /// Context MACLEN shift.
    pub const MACLEN_SHIFT: u32 = 9;
}

/// Converts a descriptor to the two ring words.
///
/// `T` must be exactly one descriptor (16 bytes); anything else is refused
/// at compile time rather than panicking:
///
/// ```compile_fail
/// let _ = ixgbe_nostd::desc::to_words(&0u32);
/// ```
pub fn to_words<T: IntoBytes + Immutable>(d: &T) -> [u64; 2] {
    const { assert!(core::mem::size_of::<T>() == DESC_LEN) };
    let mut w = [0u64; 2];
    w.as_mut_bytes().copy_from_slice(d.as_bytes());
    w
}

/// Reads a descriptor from the two ring words.
pub fn from_words<T: FromBytes>(w: [u64; 2]) -> T {
    // The size is asserted above for every descriptor type.
    T::read_from_prefix(w.as_bytes())
        .map(|(d, _)| d)
        .unwrap_or_else(|_| T::new_zeroed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_back_fields_land_where_the_datasheet_puts_them() {
        // Second qword: status DD|EOP, error L4E, length 60, VLAN 5.
        let hi: u64 = (u64::from(5u16) << 48)
            | (60u64 << 32)
            | u64::from(rx_status::DD | rx_status::EOP | rx_error::L4E);
        let lo: u64 = (0xdead_beefu64 << 32) | (0x11 << 4) | 1;
        let wb: AdvRxWb = from_words([u64::from_le(lo.to_le()), hi]);
        assert_eq!(wb.length.get(), 60);
        assert_eq!(wb.vlan.get(), 5);
        assert_eq!(wb.rss.get(), 0xdead_beef);
        assert_eq!(wb.status_error.get() & rx_error::L4E, rx_error::L4E);
        assert_eq!((wb.pkt_info.get() >> 4) & 0x1FFF, 0x11);
        let d = AdvTxData {
            buffer_addr: U64::new(0x1000),
            cmd_type_len: U32::new(64 | tx::DTYP_DATA | tx::DCMD_EOP),
            olinfo_status: U32::new(64 << tx::PAYLEN_SHIFT),
        };
        let w = to_words(&d);
        assert_eq!(w[0], 0x1000);
        assert_eq!(w[1] as u32, 64 | tx::DTYP_DATA | tx::DCMD_EOP);
    }
}
