//! The 82599 register map: offsets, single-bit flags and multi-bit fields.
//!
//! Offsets and bit positions are from the Intel 82599 10 GbE Controller
//! Datasheet (rev. 3.x), chapter 8 (section numbers in each item), cross-checked
//! against the public `ixgbe_type.h` header. Names are the datasheet's.
//! Single bits are [`bitflags`]; multi-bit fields are `const fn` accessors.
//! Read-modify-write goes through `from_bits_retain`, so reserved bits keep
//! the value the device gave them.

#![allow(clippy::identity_op)]

/// Device Control Register (§8.2.3.1.1).
pub const CTRL: usize = 0x0_0000;
/// Device Status Register (§8.2.3.1.2).
pub const STATUS: usize = 0x0_0008;
/// Extended Device Control Register (§8.2.3.1.3).
pub const CTRL_EXT: usize = 0x0_0018;
/// EEPROM/Flash Control Register (§8.2.3.2.1).
pub const EEC: usize = 0x1_0010;

/// Extended Interrupt Cause Read (§8.2.3.5.1).
pub const EICR: usize = 0x0_0800;
/// Extended Interrupt Cause Set (§8.2.3.5.3).
pub const EICS: usize = 0x0_0808;
/// Extended Interrupt Auto Clear (§8.2.3.5.4).
pub const EIAC: usize = 0x0_0810;
/// Extended Interrupt Mask Set/Read (§8.2.3.5.5): write 1 to enable.
pub const EIMS: usize = 0x0_0880;
/// Extended Interrupt Mask Clear (§8.2.3.5.6): write 1 to mask.
pub const EIMC: usize = 0x0_0888;
/// Extended Interrupt Auto Mask Enable (§8.2.3.5.7).
pub const EIAM: usize = 0x0_0890;
/// General Purpose Interrupt Enable (§8.2.3.5.18).
pub const GPIE: usize = 0x0_0898;
/// Miscellaneous-cause interrupt vector allocation (§8.2.3.5.17).
pub const IVAR_MISC: usize = 0x0_0A00;

// Extended interrupt registers of the 64 MSI-X vectors: register `n` (0..2)
// holds vectors `32n..32n+32`, one bit each. Offsets as in the public
// `ixgbe_type.h` (IXGBE_EIMS_EX, IXGBE_EIMC_EX).

/// Extended Interrupt Mask Set/Read, vectors `32n..32n+32`: write 1 to enable.
pub const fn eims_ex(n: usize) -> usize {
    0x0_0AA0 + 4 * n
}

/// Extended Interrupt Mask Clear, vectors `32n..32n+32`: write 1 to mask.
pub const fn eimc_ex(n: usize) -> usize {
    0x0_0AB0 + 4 * n
}

/// Interrupt Vector Allocation register `n` (0..64): queues `2n` and `2n+1` (§8.2.3.5.16).
pub const fn ivar(n: usize) -> usize {
    0x0_0900 + 4 * n
}

/// Extended Interrupt Throttle register of vector `v` (0..64) (§8.2.3.5.12).
pub const fn eitr(v: usize) -> usize {
    if v < 24 {
        0x0_0820 + 4 * v
    } else {
        0x1_2300 + 4 * (v - 24)
    }
}

/// Receive Control (§8.2.3.8.10).
pub const RXCTRL: usize = 0x0_3000;
/// Receive DMA Control (§8.2.3.8.8).
pub const RDRXCTL: usize = 0x0_2F00;
/// Receive Checksum Control (§8.2.3.7.5).
pub const RXCSUM: usize = 0x0_5000;
/// Receive Filter Control (§8.2.3.7.6).
pub const RFCTL: usize = 0x0_5008;
/// Filter Control (§8.2.3.7.1).
pub const FCTRL: usize = 0x0_5080;
/// MAC Core Control 0 (§8.2.3.22.8).
pub const HLREG0: usize = 0x0_4240;
/// Max Frame Size (§8.2.3.22.13).
pub const MAXFRS: usize = 0x0_4268;
/// Auto-Negotiation Control (§8.2.3.22.19).
pub const AUTOC: usize = 0x0_42A0;
/// Link Status (§8.2.3.22.20).
pub const LINKS: usize = 0x0_42A4;
/// Multiple Receive Queues Command (§8.2.3.7.12). The 82598's address,
/// 0x05818, is decoded too; this is the 82599's.
pub const MRQC: usize = 0x0_EC80;
/// DMA Tx Control (§8.2.3.9.10).
pub const DMATXCTL: usize = 0x0_4A80;
/// DMA Tx TCP Max Allow Size Requests (§8.2.3.9.1).
pub const DTXMXSZRQ: usize = 0x0_8100;
/// Multiple Transmit Queues Command (§8.2.3.9.15).
pub const MTQC: usize = 0x0_8120;
/// DCB Transmit Descriptor Plane Control and Status (§8.2.3.10.2).
pub const RTTDCS: usize = 0x0_4900;
/// SYN Packet Queue Filter (§8.2.3.7.20).
pub const SYNQF: usize = 0x0_EC30;

/// Receive Address Low of entry `n` (0..128) (§8.2.3.7.9).
pub const fn ral(n: usize) -> usize {
    0x0_A200 + 8 * n
}
/// Receive Address High of entry `n` (0..128) (§8.2.3.7.10).
pub const fn rah(n: usize) -> usize {
    0x0_A204 + 8 * n
}
/// Redirection table register `n` (0..32), four 8-bit entries each (§8.2.3.7.14).
pub const fn reta(n: usize) -> usize {
    0x0_EB00 + 4 * n
}
/// RSS Random Key register `n` (0..10) (§8.2.3.7.15).
pub const fn rssrk(n: usize) -> usize {
    0x0_EB80 + 4 * n
}
/// EType Queue Filter `n` (0..8) (§8.2.3.7.21).
pub const fn etqf(n: usize) -> usize {
    0x0_5128 + 4 * n
}
/// EType Queue Select `n` (0..8) (§8.2.3.7.22).
pub const fn etqs(n: usize) -> usize {
    0x0_EC00 + 4 * n
}
/// Source Address Queue Filter `n` (0..128) (§8.2.3.7.16).
pub const fn saqf(n: usize) -> usize {
    0x0_E000 + 4 * n
}
/// Destination Address Queue Filter `n` (0..128) (§8.2.3.7.17).
pub const fn daqf(n: usize) -> usize {
    0x0_E200 + 4 * n
}
/// Source/Destination Port Queue Filter `n` (0..128) (§8.2.3.7.18).
pub const fn sdpqf(n: usize) -> usize {
    0x0_E400 + 4 * n
}
/// Five-Tuple Queue Filter `n` (0..128) (§8.2.3.7.19).
pub const fn ftqf(n: usize) -> usize {
    0x0_E600 + 4 * n
}
/// L3/L4 Tuples Immediate Interrupt Rx `n` (0..128) (§8.2.3.5.19).
pub const fn l34t_imir(n: usize) -> usize {
    0x0_E800 + 4 * n
}
/// Rx Packet Buffer Size `n` (0..8) (§8.2.3.8.9).
pub const fn rxpbsize(n: usize) -> usize {
    0x0_3C00 + 4 * n
}
/// Missed Packets Count of packet buffer `n` (0..8) (§8.2.3.23.4).
pub const fn mpc(n: usize) -> usize {
    0x0_3FA0 + 4 * n
}

// Flow Director (§8.2.3.21).
/// Flow Director Filters Control (§8.2.3.21.1).
pub const FDIRCTRL: usize = 0x0_EE00;
/// Flow Director Filters Source IPv6 word `n` (0..3) (§8.2.3.21.13).
pub const fn fdirsipv6(n: usize) -> usize {
    0x0_EE0C + 4 * n
}
/// Flow Director Filters IP SA (IPv4) (§8.2.3.21.14).
pub const FDIRIPSA: usize = 0x0_EE18;
/// Flow Director Filters IP DA (IPv4) (§8.2.3.21.15).
pub const FDIRIPDA: usize = 0x0_EE1C;
/// Flow Director Filters Port (§8.2.3.21.16).
pub const FDIRPORT: usize = 0x0_EE20;
/// Flow Director Filters VLAN and FLEX bytes (§8.2.3.21.17).
pub const FDIRVLAN: usize = 0x0_EE24;
/// Flow Director Filters Hash Signature (§8.2.3.21.18).
pub const FDIRHASH: usize = 0x0_EE28;
/// Flow Director Filters Command (§8.2.3.21.19).
pub const FDIRCMD: usize = 0x0_EE2C;
/// Flow Director Filters Free (§8.2.3.21.6).
pub const FDIRFREE: usize = 0x0_EE38;
/// Flow Director Filters Destination IPv4 Mask (§8.2.3.21.4).
pub const FDIRDIP4M: usize = 0x0_EE3C;
/// Flow Director Filters Source IPv4 Mask (§8.2.3.21.3).
pub const FDIRSIP4M: usize = 0x0_EE40;
/// Flow Director Filters TCP Mask (§8.2.3.21.10).
pub const FDIRTCPM: usize = 0x0_EE44;
/// Flow Director Filters UDP Mask (§8.2.3.21.11).
pub const FDIRUDPM: usize = 0x0_EE48;
/// Flow Director Filters Lookup Hash Key (§8.2.3.21.7).
pub const FDIRHKEY: usize = 0x0_EE68;
/// Flow Director Filters Signature Hash Key (§8.2.3.21.8).
pub const FDIRSKEY: usize = 0x0_EE6C;
/// Flow Director Filters Other Mask (§8.2.3.21.9).
pub const FDIRM: usize = 0x0_EE70;

// Statistics (§8.2.3.23), all clear-on-read.
/// CRC Error Count.
pub const CRCERRS: usize = 0x0_4000;
/// Illegal Byte Error Count.
pub const ILLERRC: usize = 0x0_4004;
/// Error Byte Count.
pub const ERRBC: usize = 0x0_4008;
/// Receive Length Error Count.
pub const RLEC: usize = 0x0_4040;
/// Good Packets Received Count.
pub const GPRC: usize = 0x0_4074;
/// Good Packets Transmitted Count.
pub const GPTC: usize = 0x0_4080;
/// Good Octets Received Count, low 32 bits.
pub const GORCL: usize = 0x0_4088;
/// Good Octets Received Count, high 4 bits.
pub const GORCH: usize = 0x0_408C;
/// Good Octets Transmitted Count, low 32 bits.
pub const GOTCL: usize = 0x0_4090;
/// Good Octets Transmitted Count, high 4 bits.
pub const GOTCH: usize = 0x0_4094;
/// Receive Undersize Count.
pub const RUC: usize = 0x0_40A4;
/// Receive Oversize Count.
pub const ROC: usize = 0x0_40AC;

/// Number of receive and of transmit queues (§1.3, §7.1.2).
pub const QUEUES: usize = 128;

/// Base of receive queue `n`'s register block: queues 0..64 at 0x01000,
/// 64..128 at 0x0D000, 0x40 bytes apart (§8.2.3.8.1).
pub const fn rx_block(n: usize) -> usize {
    if n < 64 {
        0x0_1000 + 0x40 * n
    } else {
        0x0_D000 + 0x40 * (n - 64)
    }
}
/// Receive Descriptor Base Address Low (§8.2.3.8.1).
pub const fn rdbal(n: usize) -> usize {
    rx_block(n)
}
/// Receive Descriptor Base Address High (§8.2.3.8.2).
pub const fn rdbah(n: usize) -> usize {
    rx_block(n) + 0x04
}
/// Receive Descriptor Length in bytes, a multiple of 128 (§8.2.3.8.3).
pub const fn rdlen(n: usize) -> usize {
    rx_block(n) + 0x08
}
/// Receive Descriptor Head (§8.2.3.8.4).
pub const fn rdh(n: usize) -> usize {
    rx_block(n) + 0x10
}
/// Split Receive Control (§8.2.3.8.7).
pub const fn srrctl(n: usize) -> usize {
    rx_block(n) + 0x14
}
/// Receive Descriptor Tail (§8.2.3.8.5).
pub const fn rdt(n: usize) -> usize {
    rx_block(n) + 0x18
}
/// Receive Descriptor Control (§8.2.3.8.6).
pub const fn rxdctl(n: usize) -> usize {
    rx_block(n) + 0x28
}

/// Base of transmit queue `n`'s register block (§8.2.3.9.5).
pub const fn tx_block(n: usize) -> usize {
    0x0_6000 + 0x40 * n
}
/// Transmit Descriptor Base Address Low (§8.2.3.9.5).
pub const fn tdbal(n: usize) -> usize {
    tx_block(n)
}
/// Transmit Descriptor Base Address High (§8.2.3.9.6).
pub const fn tdbah(n: usize) -> usize {
    tx_block(n) + 0x04
}
/// Transmit Descriptor Length (§8.2.3.9.7).
pub const fn tdlen(n: usize) -> usize {
    tx_block(n) + 0x08
}
/// Transmit Descriptor Head (§8.2.3.9.8).
pub const fn tdh(n: usize) -> usize {
    tx_block(n) + 0x10
}
/// Transmit Descriptor Tail (§8.2.3.9.9).
pub const fn tdt(n: usize) -> usize {
    tx_block(n) + 0x18
}
/// Transmit Descriptor Control (§8.2.3.9.10).
pub const fn txdctl(n: usize) -> usize {
    tx_block(n) + 0x28
}
/// Tx Descriptor Completion Write Back Address Low (§8.2.3.9.11).
pub const fn tdwbal(n: usize) -> usize {
    tx_block(n) + 0x38
}
/// Tx Descriptor Completion Write Back Address High (§8.2.3.9.12).
pub const fn tdwbah(n: usize) -> usize {
    tx_block(n) + 0x3C
}

// Compile-time checks of the two receive ranges and the last blocks
// against the datasheet's tables (§8.2.3.8.1, §8.2.3.9.5).
const _: () = assert!(rdbal(0) == 0x1000 && rdbal(63) == 0x1FC0);
const _: () = assert!(rdbal(64) == 0xD000 && rdbal(127) == 0xDFC0);
const _: () = assert!(rxdctl(127) == 0xDFE8 && srrctl(0) == 0x1014);
const _: () = assert!(tdbal(127) == 0x7FC0 && tdwbah(127) == 0x7FFC);
const _: () = assert!(eitr(23) == 0x87C && eitr(24) == 0x12300);
const _: () = assert!(ivar(63) == 0x9FC);
const _: () = assert!(eims_ex(1) == 0xAA4 && eimc_ex(1) == 0xAB4);
const _: () = assert!(reta(31) == 0xEB7C && rssrk(9) == 0xEBA4 && MRQC == 0xEC80);
const _: () = assert!(ftqf(127) == 0xE7FC && l34t_imir(127) == 0xE9FC);

bitflags::bitflags! {
    /// CTRL bits (§8.2.3.1.1).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Ctrl: u32 {
        /// PCIe master disable.
        const PCIE_MASTER_DISABLE = 1 << 2;
        /// Link reset.
        const LRST = 1 << 3;
        /// Device reset (self-clearing).
        const RST = 1 << 26;
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// CTRL_EXT bits (§8.2.3.1.3).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct CtrlExt: u32 {
        /// No-snoop disable.
        const NS_DIS = 1 << 16;
        /// Driver loaded (tells firmware a driver owns the device).
        const DRV_LOAD = 1 << 28;
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// EEC bits (§8.2.3.2.1).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Eec: u32 {
        /// EEPROM present.
        const PRES = 1 << 8;
        /// EEPROM auto-read done.
        const ARD = 1 << 9;
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// EICR / EICS / EIMS / EIMC bits (§8.2.3.5.1). Bits 15:0 are the
    /// queue causes (or, with MSI-X, vectors 0..16).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Eicr: u32 {
        /// Receive/transmit queue causes 0..16.
        const RTXQ = 0xFFFF;
        /// Flow Director filter table full.
        const FLOW_DIR = 1 << 16;
        /// Receive missed (a packet was dropped for lack of descriptors).
        const RX_MISS = 1 << 17;
        /// PCIe exception.
        const PCI_EXCEPTION = 1 << 18;
        /// Link status change.
        const LSC = 1 << 20;
        /// ECC error.
        const ECC = 1 << 28;
        /// TCP timer.
        const TCP_TIMER = 1 << 30;
        /// Other causes (summary).
        const OTHER = 1 << 31;
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// GPIE bits (§8.2.3.5.18).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Gpie: u32 {
        /// MSI-X mode: EICR bits are per vector.
        const MSIX_MODE = 1 << 4;
        /// Other clear disable: reading EICR does not clear it.
        const OCD = 1 << 5;
        /// Extended interrupt auto mask enable.
        const EIAME = 1 << 30;
        /// PBA support.
        const PBA_SUPPORT = 1 << 31;
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// RXCTRL bits (§8.2.3.8.10).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Rxctrl: u32 {
        /// Receive enable.
        const RXEN = 1 << 0;
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// RDRXCTL bits (§8.2.3.8.8).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Rdrxctl: u32 {
        /// Strip the Ethernet CRC (must match HLREG0.RXCRCSTRP).
        const CRCSTRIP = 1 << 1;
        /// DMA initialisation done (read only).
        const DMAIDONE = 1 << 3;
        /// RSC ACK coalescing.
        const RSCACKC = 1 << 25;
        /// FCoE write fix.
        const FCOE_WRFIX = 1 << 26;
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// RXCSUM bits (§8.2.3.7.5).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Rxcsum: u32 {
        /// IP payload checksum enable.
        const IPPCSE = 1 << 12;
        /// Packet checksum disable: the write-back carries the RSS hash instead.
        const PCSD = 1 << 13;
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// FCTRL bits (§8.2.3.7.1).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Fctrl: u32 {
        /// Store bad packets.
        const SBP = 1 << 1;
        /// Multicast promiscuous enable.
        const MPE = 1 << 8;
        /// Unicast promiscuous enable.
        const UPE = 1 << 9;
        /// Broadcast accept mode.
        const BAM = 1 << 10;
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// HLREG0 bits (§8.2.3.22.8).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Hlreg0: u32 {
        /// Append CRC on transmit.
        const TXCRCEN = 1 << 0;
        /// Strip CRC on receive.
        const RXCRCSTRP = 1 << 1;
        /// Jumbo frame enable.
        const JUMBOEN = 1 << 2;
        /// Pad short frames on transmit.
        const TXPADEN = 1 << 10;
        /// Loopback.
        const LPBK = 1 << 15;
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// AUTOC bits (§8.2.3.22.19).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Autoc: u32 {
        /// Force link up.
        const FLU = 1 << 0;
        /// Restart auto-negotiation.
        const RESTART_AN = 1 << 12;
        const _ = !0;
    }
}

impl Autoc {
    /// Link mode select field, bits 15:13.
    pub const LMS_MASK: u32 = 0b111 << 13;
    /// LMS = 000: 1 GbE link without auto-negotiation (§8.2.3.22.19).
    pub const LMS_1G_NO_AN: u32 = 0b000 << 13;
    /// LMS = 001: 10 GbE parallel (KX4/XAUI) without auto-negotiation.
    pub const LMS_10G_PARALLEL_NO_AN: u32 = 0b001 << 13;
    /// LMS = 010: 1 GbE link with clause 37 auto-negotiation.
    pub const LMS_1G_AN: u32 = 0b010 << 13;
    /// LMS = 011: 10 GbE serial (SFI) without auto-negotiation.
    pub const LMS_10G_SERIAL: u32 = 0b011 << 13;
    /// LMS = 100: KX4/KX/KR backplane with clause 73 auto-negotiation.
    pub const LMS_KX4_KX_KR: u32 = 0b100 << 13;
    /// LMS = 110: KX4/KX/KR backplane auto-negotiation, 1 GbE with
    /// clause 37 auto-negotiation.
    pub const LMS_KX4_KX_KR_1G_AN: u32 = 0b110 << 13;

    /// The link mode select field.
    pub const fn lms(self) -> u32 {
        (self.bits() & Self::LMS_MASK) >> 13
    }
}

bitflags::bitflags! {
    /// LINKS bits (§8.2.3.22.20).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Links: u32 {
        /// Link up.
        const LINK_UP = 1 << 30;
        const _ = !0;
    }
}

impl Links {
    /// LINK_SPEED, bits 29:28: 01 100 Mb/s, 10 1 Gb/s, 11 10 Gb/s.
    pub const fn link_speed(self) -> u32 {
        (self.bits() >> 28) & 0b11
    }
}

bitflags::bitflags! {
    /// RXDCTL bits (§8.2.3.8.6).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Rxdctl: u32 {
        /// Receive queue enable.
        const ENABLE = 1 << 25;
        /// VLAN mode enable (strip).
        const VME = 1 << 30;
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// TXDCTL bits (§8.2.3.9.10).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Txdctl: u32 {
        /// Transmit queue enable.
        const ENABLE = 1 << 25;
        /// Software flush.
        const SWFLSH = 1 << 26;
        const _ = !0;
    }
}

impl Txdctl {
    /// PTHRESH (6:0), HTHRESH (14:8), WTHRESH (22:16) packed into place.
    pub const fn thresholds(pthresh: u32, hthresh: u32, wthresh: u32) -> u32 {
        (pthresh & 0x7F) | ((hthresh & 0x7F) << 8) | ((wthresh & 0x7F) << 16)
    }
}

bitflags::bitflags! {
    /// TDWBAL bits (§8.2.3.9.11).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Tdwbal: u32 {
        /// Head write-back enable.
        const HEAD_WB_EN = 1 << 0;
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// DMATXCTL bits (§8.2.3.9.10).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Dmatxctl: u32 {
        /// Transmit enable.
        const TE = 1 << 0;
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// RTTDCS bits (§8.2.3.10.2).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Rttdcs: u32 {
        /// Descriptor plane arbiter disable (set while configuring MTQC).
        const ARBDIS = 1 << 6;
        const _ = !0;
    }
}

/// SRRCTL fields (§8.2.3.8.7).
pub mod srrctl_field {
    /// BSIZEPACKET, bits 4:0: receive buffer size in 1 KB units.
    pub const fn bsizepacket(kb: u32) -> u32 {
        kb & 0x1F
    }
    /// DESCTYPE = 001, bits 27:25: advanced descriptor, one buffer.
    pub const DESCTYPE_ADV_ONEBUF: u32 = 0b001 << 25;
    /// DESCTYPE field mask.
    pub const DESCTYPE_MASK: u32 = 0b111 << 25;
    /// DROP_EN, bit 28: drop packets when no descriptor is available.
    pub const DROP_EN: u32 = 1 << 28;
    /// BSIZEPACKET field mask.
    pub const BSIZEPACKET_MASK: u32 = 0x1F;
}

/// RAH fields (§8.2.3.7.10).
pub mod rah_field {
    /// Address valid.
    pub const AV: u32 = 1 << 31;
}

/// MRQC fields (§8.2.3.7.12).
pub mod mrqc_field {
    /// MRQE = 0001: RSS only.
    pub const MRQE_RSS: u32 = 0b0001;
    /// MRQE field mask (bits 3:0).
    pub const MRQE_MASK: u32 = 0xF;
    /// Hash TCP over IPv4.
    pub const TCPIPV4: u32 = 1 << 16;
    /// Hash IPv4 addresses.
    pub const IPV4: u32 = 1 << 17;
    /// Hash IPv6 addresses.
    pub const IPV6: u32 = 1 << 20;
    /// Hash TCP over IPv6.
    pub const TCPIPV6: u32 = 1 << 21;
    /// Hash UDP over IPv4.
    pub const UDPIPV4: u32 = 1 << 22;
    /// Hash UDP over IPv6.
    pub const UDPIPV6: u32 = 1 << 23;
}

/// ETQF / ETQS fields (§8.2.3.7.21, §8.2.3.7.22).
pub mod etq_field {
    /// ETQF: filter enable.
    pub const ETQF_FILTER_EN: u32 = 1 << 31;
    /// ETQF: EtherType, bits 15:0.
    pub const ETQF_ETYPE_MASK: u32 = 0xFFFF;
    /// ETQS: RX queue, bits 22:16.
    pub const fn etqs_rx_queue(q: u32) -> u32 {
        (q & 0x7F) << 16
    }
    /// ETQS: the RX queue field read back.
    pub const fn etqs_rx_queue_of(v: u32) -> u32 {
        (v >> 16) & 0x7F
    }
    /// ETQS: low-latency interrupt.
    pub const ETQS_LLI: u32 = 1 << 29;
    /// ETQS: queue enable (steer to the RX queue field).
    pub const ETQS_QUEUE_EN: u32 = 1 << 31;
}

/// FTQF / L34T_IMIR / SDPQF fields (§8.2.3.7.18, §8.2.3.7.19, §8.2.3.5.19).
pub mod five_tuple_field {
    /// FTQF protocol, bits 1:0: 00 TCP, 01 UDP, 10 SCTP, 11 other.
    pub const PROTOCOL_TCP: u32 = 0b00;
    /// UDP.
    pub const PROTOCOL_UDP: u32 = 0b01;
    /// SCTP.
    pub const PROTOCOL_SCTP: u32 = 0b10;
    /// Other.
    pub const PROTOCOL_OTHER: u32 = 0b11;
    /// FTQF priority, bits 4:2 (1..=7; higher wins).
    pub const fn priority(p: u32) -> u32 {
        (p & 0x7) << 2
    }
    /// FTQF priority read back.
    pub const fn priority_of(v: u32) -> u32 {
        (v >> 2) & 0x7
    }
    /// FTQF mask bit: do not compare the source address.
    pub const MASK_SOURCE_ADDRESS: u32 = 1 << 25;
    /// Do not compare the destination address.
    pub const MASK_DESTINATION_ADDRESS: u32 = 1 << 26;
    /// Do not compare the source port.
    pub const MASK_SOURCE_PORT: u32 = 1 << 27;
    /// Do not compare the destination port.
    pub const MASK_DESTINATION_PORT: u32 = 1 << 28;
    /// Do not compare the protocol.
    pub const MASK_PROTOCOL: u32 = 1 << 29;
    /// Pool mask (no virtualisation: set).
    pub const POOL_MASK: u32 = 1 << 30;
    /// Queue enable: the filter is active.
    pub const QUEUE_ENABLE: u32 = 1 << 31;
    /// L34T_IMIR: size bypass.
    pub const IMIR_SIZE_BP: u32 = 1 << 12;
    /// L34T_IMIR: low-latency interrupt.
    pub const IMIR_LLI: u32 = 1 << 20;
    /// L34T_IMIR: RX queue, bits 27:21.
    pub const fn imir_rx_queue(q: u32) -> u32 {
        (q & 0x7F) << 21
    }
    /// L34T_IMIR: the RX queue read back.
    pub const fn imir_rx_queue_of(v: u32) -> u32 {
        (v >> 21) & 0x7F
    }
}

/// SYNQF fields (§8.2.3.7.20).
pub mod synqf_field {
    /// Queue enable.
    pub const QUEUE_EN: u32 = 1 << 0;
    /// RX queue, bits 7:1.
    pub const fn rx_queue(q: u32) -> u32 {
        (q & 0x7F) << 1
    }
    /// The RX queue read back.
    pub const fn rx_queue_of(v: u32) -> u32 {
        (v >> 1) & 0x7F
    }
    /// SYNQFP: the SYN filter takes precedence over the 5-tuple filters.
    pub const SYNQFP: u32 = 1 << 31;
}

/// IVAR entry fields (§8.2.3.5.16): four 8-bit entries per register,
/// RX(2n) bits 7:0, TX(2n) 15:8, RX(2n+1) 23:16, TX(2n+1) 31:24.
pub mod ivar_field {
    /// INT_ALLOC_VAL: the entry is valid.
    pub const ALLOC_VAL: u32 = 1 << 7;
    /// Bit shift of queue `q`'s RX (`tx = false`) or TX entry in `ivar(q / 2)`.
    pub const fn shift(q: usize, tx: bool) -> u32 {
        (16 * (q % 2) + if tx { 8 } else { 0 }) as u32
    }
    /// INT_ALLOC, bits 5:0: the vector.
    pub const VECTOR_MASK: u32 = 0x3F;
}

/// EITR fields (§8.2.3.5.12).
pub mod eitr_field {
    /// ITR interval, bits 11:3, in 2 µs units.
    pub const fn interval_us(us: u32) -> u32 {
        let units = us / 2;
        let units = if units > 0x1FF { 0x1FF } else { units };
        units << 3
    }
    /// Interval field mask.
    pub const INTERVAL_MASK: u32 = 0x1FF << 3;
    /// LLI_MOD: moderate low-latency interrupts too (left clear, so a
    /// filter's low-latency interrupt bypasses the interval).
    pub const LLI_MOD: u32 = 1 << 15;
    /// Counter write disable: a write sets the interval without touching the counter.
    pub const CNT_WDIS: u32 = 1 << 31;
}

/// Flow Director fields (§8.2.3.21).
pub mod fdir_field {
    /// FDIRCTRL PBALLOC, bits 1:0: 01 = 64 KB table (2 K perfect / 8 K signature filters).
    pub const PBALLOC_64K: u32 = 0b01;
    /// FDIRCTRL INIT_DONE (read only).
    pub const INIT_DONE: u32 = 1 << 3;
    /// FDIRCTRL PERFECT_MATCH: perfect filters (else signature).
    pub const PERFECT_MATCH: u32 = 1 << 4;
    /// FDIRCTRL REPORT_STATUS: report the match in the write-back.
    pub const REPORT_STATUS: u32 = 1 << 5;
    /// FDIRCTRL DROP_Q, bits 14:8.
    pub const fn drop_q(q: u32) -> u32 {
        (q & 0x7F) << 8
    }
    /// FDIRCTRL MAX_LENGTH, bits 27:24: bucket length limit.
    pub const fn max_length(n: u32) -> u32 {
        (n & 0xF) << 24
    }
    /// FDIRHASH: bucket hash, bits 14:0.
    pub const HASH_MASK: u32 = 0x7FFF;
    /// FDIRHASH: bucket valid.
    pub const HASH_VALID: u32 = 1 << 15;
    /// FDIRHASH: signature (signature mode) or software index (perfect mode), bits 30:16.
    pub const fn sig_sw_index(v: u32) -> u32 {
        (v & 0x7FFF) << 16
    }
    /// FDIRCMD CMD, bits 1:0: add/update.
    pub const CMD_ADD_FLOW: u32 = 0b01;
    /// Remove.
    pub const CMD_REMOVE_FLOW: u32 = 0b10;
    /// CMD field mask.
    pub const CMD_MASK: u32 = 0b11;
    /// FDIRCMD FILTER_UPDATE.
    pub const FILTER_UPDATE: u32 = 1 << 3;
    /// FDIRCMD L4TYPE, bits 6:5: 01 UDP, 10 TCP, 11 SCTP.
    pub const fn l4type(t: u32) -> u32 {
        (t & 0b11) << 5
    }
    /// FDIRCMD L4TYPE read back.
    pub const fn l4type_of(v: u32) -> u32 {
        (v >> 5) & 0b11
    }
    /// FDIRCMD IPV6.
    pub const IPV6: u32 = 1 << 7;
    /// FDIRCMD DROP.
    pub const DROP: u32 = 1 << 9;
    /// FDIRCMD INT: low-latency interrupt on match.
    pub const INT: u32 = 1 << 10;
    /// FDIRCMD QUEUE_EN.
    pub const QUEUE_EN: u32 = 1 << 15;
    /// FDIRCMD RX_QUEUE, bits 22:16.
    pub const fn rx_queue(q: u32) -> u32 {
        (q & 0x7F) << 16
    }
    /// FDIRCMD RX_QUEUE read back.
    pub const fn rx_queue_of(v: u32) -> u32 {
        (v >> 16) & 0x7F
    }
    /// FDIRM: mask VLAN ID.
    pub const M_VLANID: u32 = 1 << 0;
    /// FDIRM: mask VLAN priority.
    pub const M_VLANP: u32 = 1 << 1;
    /// FDIRM: mask pool.
    pub const M_POOL: u32 = 1 << 2;
    /// FDIRM: mask L4 type.
    pub const M_L4P: u32 = 1 << 3;
    /// FDIRM: mask flexible bytes.
    pub const M_FLEX: u32 = 1 << 4;
    /// FDIRM: mask destination IPv6.
    pub const M_DIPV6: u32 = 1 << 5;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_receive_range_starts_at_queue_64() {
        assert_eq!(rdt(63), 0x1FD8);
        assert_eq!(rdt(64), 0xD018);
        assert_eq!(srrctl(64), 0xD014);
    }

    #[test]
    fn read_modify_write_keeps_reserved_bits() {
        let raw = 0x8000_0000 | Fctrl::BAM.bits() | 0x4;
        let mut f = Fctrl::from_bits_retain(raw);
        f.insert(Fctrl::UPE);
        f.remove(Fctrl::BAM);
        assert_eq!(f.bits(), 0x8000_0004 | Fctrl::UPE.bits());
    }

    #[test]
    fn field_accessors_pack_and_unpack() {
        assert_eq!(eitr_field::interval_us(100), 50 << 3);
        assert_eq!(eitr_field::interval_us(10_000), 0x1FF << 3);
        assert_eq!(
            five_tuple_field::priority_of(five_tuple_field::priority(7)),
            7
        );
        assert_eq!(ivar_field::shift(3, true), 24);
        assert_eq!(fdir_field::rx_queue_of(fdir_field::rx_queue(127)), 127);
        assert_eq!(Links::from_bits_retain(0x7000_0000).link_speed(), 0b11);
    }
}
