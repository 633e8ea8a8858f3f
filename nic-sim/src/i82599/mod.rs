//! A register-level model of the Intel 82599 10 GbE controller.
//!
//! Written from the 82599 datasheet so that an unmodified driver runs against
//! it through [`RegisterAccess`] and [`SimDma`]: the model reaches host memory
//! only by physical address through [`SimDma::read`] / [`SimDma::write`],
//! at addresses the driver handed to the device.
//!
//! What it models: global reset and EEPROM auto-read whose done bits appear
//! only after a number of reads (§4.6.3), link state (LINKS), receive and
//! transmit rings with advanced descriptors and write-back (§7.1.6,
//! §7.2.3), the receive filter pipeline in the datasheet's order —
//! L2 address filter, EtherType (ETQF), 5-tuple (FTQF, with priorities) and
//! SYN (SYNQF, with SYNQFP), Flow Director perfect and signature, RSS with
//! the Toeplitz hash and the redirection table (§7.1.2) — drops counted in
//! MPC when a queue has no descriptor, clear-on-read statistics, interrupt
//! causes (EICR), masks (EIMS/EIMC), vector mapping (IVAR) and moderation
//! (EITR) in virtual time with low-latency interrupts from filters bypassing
//! it, transmit checksum insertion and receive checksum checks.
//!
//! What it leaves out: PCIe, flow control, DCB, virtualisation, RSC, header
//! split, jumbo frames, TSO, IPv6 5-tuple. A received frame larger than the
//! queue's buffer (SRRCTL.BSIZEPACKET) spreads over several descriptors with
//! EOP on the last only, as on the device (§7.1.6.2).
//!
//! Fault knobs ([`Faults`]) make it misbehave the way a broken device would.

mod hash;
mod parse;

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use nic_traits::RegisterAccess;

use crate::SimDma;
use crate::dma::DmaFault;
pub use hash::fdir_hash;
pub use parse::{Parsed, parse};

/// Register offsets the model implements (82599 datasheet chapter 8).
#[allow(missing_docs)]
pub mod reg {
    pub const CTRL: usize = 0x0_0000;
    pub const STATUS: usize = 0x0_0008;
    pub const EEC: usize = 0x1_0010;
    pub const EICR: usize = 0x0_0800;
    pub const EICS: usize = 0x0_0808;
    pub const EIMS: usize = 0x0_0880;
    pub const EIMC: usize = 0x0_0888;
    /// EIMS_EX(0), EIMS_EX(1): masks of vectors 0..32 and 32..64 (offsets
    /// as in the public `ixgbe_type.h`).
    pub const EIMS_EX0: usize = 0x0_0AA0;
    pub const EIMS_EX1: usize = 0x0_0AA4;
    /// EIMC_EX(0), EIMC_EX(1): write 1 to mask.
    pub const EIMC_EX0: usize = 0x0_0AB0;
    pub const EIMC_EX1: usize = 0x0_0AB4;
    pub const GPIE: usize = 0x0_0898;
    pub const RXCTRL: usize = 0x0_3000;
    pub const RDRXCTL: usize = 0x0_2F00;
    pub const RXCSUM: usize = 0x0_5000;
    pub const FCTRL: usize = 0x0_5080;
    pub const HLREG0: usize = 0x0_4240;
    pub const LINKS: usize = 0x0_42A4;
    pub const AUTOC: usize = 0x0_42A0;
    // 82599 addresses (§8.2.3.7.12, §8.2.3.7.14, §8.2.3.7.15); the 82598
    // ones are aliases, see `canonical`.
    pub const MRQC: usize = 0x0_EC80;
    pub const DMATXCTL: usize = 0x0_4A80;
    pub const SYNQF: usize = 0x0_EC30;
    pub const FDIRCTRL: usize = 0x0_EE00;
    pub const FDIRIPSA: usize = 0x0_EE18;
    pub const FDIRIPDA: usize = 0x0_EE1C;
    pub const FDIRPORT: usize = 0x0_EE20;
    pub const FDIRHASH: usize = 0x0_EE28;
    pub const FDIRCMD: usize = 0x0_EE2C;
    pub const FDIRHKEY: usize = 0x0_EE68;
    pub const FDIRSKEY: usize = 0x0_EE6C;
    pub const CRCERRS: usize = 0x0_4000;
    pub const ILLERRC: usize = 0x0_4004;
    pub const ERRBC: usize = 0x0_4008;
    pub const RLEC: usize = 0x0_4040;
    pub const GPRC: usize = 0x0_4074;
    pub const GPTC: usize = 0x0_4080;
    pub const GORCL: usize = 0x0_4088;
    pub const GORCH: usize = 0x0_408C;
    pub const GOTCL: usize = 0x0_4090;
    pub const GOTCH: usize = 0x0_4094;
    pub const RUC: usize = 0x0_40A4;
    pub const ROC: usize = 0x0_40AC;
    pub const fn mpc(n: usize) -> usize {
        0x0_3FA0 + 4 * n
    }
    pub const fn ral(n: usize) -> usize {
        0x0_A200 + 8 * n
    }
    pub const fn rah(n: usize) -> usize {
        0x0_A204 + 8 * n
    }
    pub const fn reta(n: usize) -> usize {
        0x0_EB00 + 4 * n
    }
    pub const fn rssrk(n: usize) -> usize {
        0x0_EB80 + 4 * n
    }
    pub const fn etqf(n: usize) -> usize {
        0x0_5128 + 4 * n
    }
    pub const fn etqs(n: usize) -> usize {
        0x0_EC00 + 4 * n
    }
    pub const fn saqf(n: usize) -> usize {
        0x0_E000 + 4 * n
    }
    pub const fn daqf(n: usize) -> usize {
        0x0_E200 + 4 * n
    }
    pub const fn sdpqf(n: usize) -> usize {
        0x0_E400 + 4 * n
    }
    pub const fn ftqf(n: usize) -> usize {
        0x0_E600 + 4 * n
    }
    pub const fn l34t_imir(n: usize) -> usize {
        0x0_E800 + 4 * n
    }
    pub const fn ivar(n: usize) -> usize {
        0x0_0900 + 4 * n
    }
    /// Receive queue `n`'s register block (two ranges, §8.2.3.8.1).
    pub const fn rx(n: usize) -> usize {
        if n < 64 {
            0x0_1000 + 0x40 * n
        } else {
            0x0_D000 + 0x40 * (n - 64)
        }
    }
    /// Transmit queue `n`'s register block (§8.2.3.9.5).
    pub const fn tx(n: usize) -> usize {
        0x0_6000 + 0x40 * n
    }
    // Offsets inside a queue block.
    pub const BAL: usize = 0x00;
    pub const BAH: usize = 0x04;
    pub const LEN: usize = 0x08;
    pub const HEAD: usize = 0x10;
    pub const SRRCTL: usize = 0x14;
    pub const TAIL: usize = 0x18;
    pub const DCTL: usize = 0x28;
    pub const WBAL: usize = 0x38;
    pub const WBAH: usize = 0x3C;
}

/// Size of the modelled register window (the 82599's BAR0 is 128 KB).
pub const REG_WINDOW: usize = 0x2_0000;
/// Longest frame the model transmits (16 KB, beyond the 82599's jumbo limit).
pub const MAX_TX_FRAME: usize = 16 * 1024;
/// Reads of a not-yet-ready bit before it becomes ready.
pub const READY_AFTER_READS: u32 = 3;
const RST: u32 = 1 << 26;
const ARD: u32 = 1 << 9;
const DMAIDONE: u32 = 1 << 3;
const QUEUE_ENABLE: u32 = 1 << 25;
const LINK_UP: u32 = 1 << 30;
const LSC: u32 = 1 << 20;
const RX_MISS: u32 = 1 << 17;

/// A kind of garbage the model writes into the next receive write-back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxGarbage {
    /// A packet length larger than any buffer (0xFFFF).
    LengthTooLarge,
    /// Also set DD on the descriptor at the tail, which was never posted.
    DoneOnUnposted,
    /// A transmit head write-back beyond the tail.
    TxHeadBeyondTail,
    /// A transmit head write-back past the end of the ring.
    TxHeadOutOfRange,
}

/// Fault knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Faults {
    /// CTRL.RST never self-clears.
    pub reset_stuck: bool,
    /// EEC.ARD never sets.
    pub auto_read_never_done: bool,
    /// RDRXCTL.DMAIDONE never sets.
    pub dma_init_never_done: bool,
    /// RXDCTL/TXDCTL.ENABLE never reads back.
    pub queue_enable_stuck: bool,
    /// Garbage for the next write-back.
    pub garbage: Option<RxGarbage>,
}

/// Counters of what the model did, for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModelCounters {
    /// Frames delivered per receive queue 0..128 are in [`Model::delivered`];
    /// this is their sum.
    pub delivered: u64,
    /// Frames dropped for lack of a descriptor.
    pub missed: u64,
    /// Frames dropped by the L2 address filter.
    pub filtered: u64,
    /// Frames transmitted.
    pub transmitted: u64,
    /// Transmit data dropped because a frame grew past [`MAX_TX_FRAME`].
    pub tx_dropped: u64,
    /// Interrupts raised (an unmasked cause was set).
    pub interrupts: u64,
    /// DMA accesses the simulated IOMMU refused.
    pub dma_faults: u64,
}

/// What the filter pipeline decided for a frame.
#[derive(Debug, Clone, Copy, Default)]
struct Steer {
    /// The queue a filter chose; `None`: RSS or the default queue.
    queue: Option<u32>,
    /// Packet-type bits the filter sets (ETQF match and index).
    ptype: u32,
    /// Flow Director matched.
    flm: bool,
    /// The matching filter asks for a low-latency interrupt.
    lli: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct TxContext {
    maclen: usize,
    iplen: usize,
    ipv4: bool,
    tcp: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FdirFilter {
    stream: [u32; 11],
    signature: u32,
    queue: u32,
    cmd: u32,
}

/// The device state behind the register window.
#[derive(Debug)]
pub struct Model {
    regs: Vec<u32>,
    dma: SimDma,
    mac: [u8; 6],
    /// Fault knobs, settable at any time.
    pub faults: Faults,
    reset_reads: u32,
    eec_reads: u32,
    dmai_reads: u32,
    rxdctl_reads: [u32; 128],
    txdctl_reads: [u32; 128],
    link_up: bool,
    gorc: u64,
    gotc: u64,
    tx_out: VecDeque<Vec<u8>>,
    tx_ctx: [TxContext; 128],
    tx_partial: [Vec<u8>; 128],
    fdir: HashMap<u32, Vec<FdirFilter>>,
    /// Virtual time in nanoseconds (advanced by [`Model::advance`]).
    now_ns: u64,
    /// Per MSI-X vector 0..64: when it last interrupted.
    last_irq_ns: [Option<u64>; 64],
    /// Vectors with a cause held back by moderation.
    irq_pending: u64,
    /// Interrupts raised per MSI-X vector 0..64.
    pub vector_interrupts: [u64; 64],
    /// Frames delivered per receive queue.
    pub delivered: Vec<u64>,
    /// What the model did.
    pub counters: ModelCounters,
    /// The AUTOC value the EEPROM auto-read loads at each reset (§8.2.3.22.19:
    /// the link mode comes from the EEPROM). Default: LMS = 011, 10 GbE
    /// serial (SFI) without auto-negotiation, as on an SFP+ board.
    pub eeprom_autoc: u32,
}

impl Model {
    /// A model with MAC address `mac` (as if read from its EEPROM), link up,
    /// in its power-on state (reset needed before use).
    pub fn new(dma: SimDma, mac: [u8; 6]) -> Self {
        let mut m = Self {
            regs: vec![0; REG_WINDOW / 4],
            dma,
            mac,
            faults: Faults::default(),
            reset_reads: 0,
            eec_reads: 0,
            dmai_reads: 0,
            rxdctl_reads: [0; 128],
            txdctl_reads: [0; 128],
            link_up: true,
            gorc: 0,
            gotc: 0,
            tx_out: VecDeque::new(),
            tx_ctx: [TxContext::default(); 128],
            tx_partial: std::array::from_fn(|_| Vec::new()),
            fdir: HashMap::new(),
            now_ns: 0,
            last_irq_ns: [None; 64],
            irq_pending: 0,
            vector_interrupts: [0; 64],
            delivered: vec![0; 128],
            counters: ModelCounters::default(),
            eeprom_autoc: 0b011 << 13,
        };
        m.hard_reset();
        m
    }

    fn r(&self, off: usize) -> u32 {
        self.regs[off / 4]
    }

    fn w(&mut self, off: usize, v: u32) {
        self.regs[off / 4] = v;
    }

    fn hard_reset(&mut self) {
        self.regs.iter_mut().for_each(|r| *r = 0);
        let m = self.mac;
        self.w(reg::ral(0), u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
        // RAH.AV (bit 31) set for the EEPROM address (§8.2.3.7.10).
        self.w(
            reg::rah(0),
            u32::from_le_bytes([m[4], m[5], 0, 0]) | 1 << 31,
        );
        // §8.2.3.2.1: EEPROM present; ARD sets once the auto-read ends.
        self.w(reg::EEC, 1 << 8);
        self.w(reg::AUTOC, self.eeprom_autoc);
        // Interrupts masked after reset.
        self.reset_reads = READY_AFTER_READS;
        self.eec_reads = READY_AFTER_READS;
        self.dmai_reads = READY_AFTER_READS;
        self.gorc = 0;
        self.gotc = 0;
        self.tx_ctx = [TxContext::default(); 128];
        self.tx_partial.iter_mut().for_each(Vec::clear);
        self.fdir.clear();
        self.last_irq_ns = [None; 64];
        self.irq_pending = 0;
        self.w(reg::CTRL, RST);
    }

    /// Whether the link is up.
    pub fn link_up(&self) -> bool {
        self.link_up
    }

    /// Sets the link state, raising EICR.LSC on a change.
    pub fn set_link(&mut self, up: bool) {
        if up != self.link_up {
            self.link_up = up;
            self.raise(LSC);
            if up {
                for q in 0..128 {
                    self.run_tx(q);
                }
            }
        }
    }

    /// Frames the model transmitted, oldest first, taken out.
    pub fn take_transmitted(&mut self) -> Vec<Vec<u8>> {
        self.tx_out.drain(..).collect()
    }

    /// The oldest frame the model transmitted, taken out.
    pub fn take_one_transmitted(&mut self) -> Option<Vec<u8>> {
        self.tx_out.pop_front()
    }

    /// Current value of a register without read side effects (for tests).
    pub fn peek(&self, off: usize) -> u32 {
        self.regs.get(off / 4).copied().unwrap_or(0)
    }

    fn raise(&mut self, cause: u32) {
        let old = self.r(reg::EICR);
        self.w(reg::EICR, old | cause);
        if self.r(reg::EIMS) & cause != 0 {
            self.counters.interrupts += 1;
        }
    }

    /// The minimum interval of vector `v` from EITR's ITR interval field
    /// (bits 11:3, 2 µs units, §8.2.3.5.12).
    fn eitr_interval_ns(&self, v: usize) -> u64 {
        let off = if v < 24 {
            0x820 + 4 * v
        } else {
            0x1_2300 + 4 * (v - 24)
        };
        u64::from((self.r(off) >> 3) & 0x1FF) * 2_000
    }

    /// Whether vector `v` (0..64) is enabled: EIMS_EX(v / 32) bit v % 32.
    /// EIMS bits 15:0 and EIMS_EX(0) bits 15:0 are the same mask bits.
    fn vector_enabled(&self, v: usize) -> bool {
        let ex = if v < 32 { reg::EIMS_EX0 } else { reg::EIMS_EX1 };
        self.r(ex) & (1 << (v % 32)) != 0
    }

    /// Sets (`set`) or clears the mask bits `bits` of extended mask `ex`,
    /// keeping EIMS bits 15:0 equal to EIMS_EX(0) bits 15:0.
    fn write_vector_mask(&mut self, ex: usize, bits: u32, set: bool) {
        let apply = |old: u32, b: u32| if set { old | b } else { old & !b };
        let old = self.r(ex);
        self.w(ex, apply(old, bits));
        if ex == reg::EIMS_EX0 {
            let old = self.r(reg::EIMS);
            self.w(reg::EIMS, apply(old, bits & 0xFFFF));
        }
    }

    fn fire(&mut self, v: usize) {
        self.counters.interrupts += 1;
        self.vector_interrupts[v] += 1;
        self.last_irq_ns[v] = Some(self.now_ns);
        self.irq_pending &= !(1 << v);
    }

    /// A queue cause for the vector IVAR maps queue `q` to. An unmasked
    /// vector interrupts at once unless its EITR interval since the last
    /// interrupt has not passed; then it waits ([`Model::advance`]). A
    /// low-latency cause (a filter's LLI bit) does not wait unless
    /// EITR.LLI_MOD is set.
    fn queue_cause(&mut self, q: usize, tx: bool, lli: bool) {
        let shift = 16 * (q % 2) + if tx { 8 } else { 0 };
        let e = (self.r(reg::ivar(q / 2)) >> shift) & 0xFF;
        if e & 0x80 == 0 {
            return;
        }
        let v = (e & 0x3F) as usize;
        // EICR has cause bits for vectors 0..16 only (§8.2.3.5.1); the
        // others are signalled by their MSI-X message alone.
        if v < 16 {
            let old = self.r(reg::EICR);
            self.w(reg::EICR, old | 1 << v);
        }
        if !self.vector_enabled(v) {
            return;
        }
        let eitr_off = if v < 24 {
            0x820 + 4 * v
        } else {
            0x1_2300 + 4 * (v - 24)
        };
        let lli_mod = self.r(eitr_off) & (1 << 15) != 0;
        let interval = self.eitr_interval_ns(v);
        let due = self.last_irq_ns[v].is_none_or(|t| self.now_ns - t >= interval);
        if (lli && !lli_mod) || due {
            self.fire(v);
        } else {
            self.irq_pending |= 1 << v;
        }
    }

    /// Lets `ns` nanoseconds of virtual time pass: moderated interrupts
    /// whose interval has run out are raised.
    pub fn advance(&mut self, ns: u64) {
        self.now_ns += ns;
        for v in 0..64 {
            if self.irq_pending & (1 << v) == 0 || !self.vector_enabled(v) {
                continue;
            }
            let interval = self.eitr_interval_ns(v);
            if self.last_irq_ns[v].is_none_or(|t| self.now_ns - t >= interval) {
                self.fire(v);
            }
        }
    }

    /// Register read with the device's read side effects.
    pub fn read(&mut self, off: usize) -> u32 {
        let off = canonical(off);
        if off >= REG_WINDOW || !off.is_multiple_of(4) {
            return u32::MAX;
        }
        match off {
            reg::CTRL => {
                let v = self.r(off);
                if v & RST != 0 && !self.faults.reset_stuck {
                    self.reset_reads = self.reset_reads.saturating_sub(1);
                    if self.reset_reads == 0 {
                        self.w(off, v & !RST);
                    }
                }
                v
            }
            reg::EEC => {
                let v = self.r(off);
                if v & ARD == 0 && !self.faults.auto_read_never_done {
                    self.eec_reads = self.eec_reads.saturating_sub(1);
                    if self.eec_reads == 0 {
                        self.w(off, v | ARD);
                    }
                }
                v
            }
            reg::RDRXCTL => {
                let v = self.r(off);
                if v & DMAIDONE == 0 && !self.faults.dma_init_never_done {
                    self.dmai_reads = self.dmai_reads.saturating_sub(1);
                    if self.dmai_reads == 0 {
                        self.w(off, v | DMAIDONE);
                    }
                }
                v
            }
            reg::EICR => {
                // Read-to-clear (§8.2.3.5.1, GPIE.OCD clear).
                let v = self.r(off);
                self.w(off, 0);
                v
            }
            reg::LINKS => {
                if self.link_up {
                    LINK_UP | (0b11 << 28)
                } else {
                    0
                }
            }
            reg::GORCL => self.gorc as u32,
            reg::GORCH => {
                let v = ((self.gorc >> 32) & 0xF) as u32;
                self.gorc = 0;
                v
            }
            reg::GOTCL => self.gotc as u32,
            reg::GOTCH => {
                let v = ((self.gotc >> 32) & 0xF) as u32;
                self.gotc = 0;
                v
            }
            reg::GPRC
            | reg::GPTC
            | reg::CRCERRS
            | reg::ILLERRC
            | reg::ERRBC
            | reg::RLEC
            | reg::RUC
            | reg::ROC => {
                let v = self.r(off);
                self.w(off, 0);
                v
            }
            o if (reg::mpc(0)..reg::mpc(8)).contains(&o) => {
                let v = self.r(off);
                self.w(off, 0);
                v
            }
            o => {
                if let Some((q, tx)) = queue_dctl(o) {
                    let reads = if tx {
                        &mut self.txdctl_reads[q]
                    } else {
                        &mut self.rxdctl_reads[q]
                    };
                    // ENABLE reads back one read after it was written.
                    if *reads > 0 {
                        *reads -= 1;
                        return self.r(o) & !QUEUE_ENABLE;
                    }
                }
                self.r(o)
            }
        }
    }

    /// Register write with the device's write side effects.
    pub fn write(&mut self, off: usize, v: u32) {
        let off = canonical(off);
        if off >= REG_WINDOW || !off.is_multiple_of(4) {
            return;
        }
        match off {
            reg::CTRL => {
                if v & RST != 0 {
                    self.hard_reset();
                } else {
                    self.w(off, v);
                }
            }
            reg::EEC => {
                let keep = self.r(off) & (ARD | 1 << 8);
                self.w(off, (v & !(ARD | 1 << 8)) | keep);
            }
            reg::RDRXCTL => {
                let keep = self.r(off) & DMAIDONE;
                self.w(off, (v & !DMAIDONE) | keep);
            }
            reg::EICR => {
                let old = self.r(off);
                self.w(off, old & !v);
            }
            reg::EICS => self.raise(v),
            reg::EIMS => {
                let old = self.r(reg::EIMS);
                self.w(reg::EIMS, old | v);
                self.write_vector_mask(reg::EIMS_EX0, v & 0xFFFF, true);
            }
            reg::EIMC => {
                let old = self.r(reg::EIMS);
                self.w(reg::EIMS, old & !v);
                self.write_vector_mask(reg::EIMS_EX0, v & 0xFFFF, false);
            }
            reg::EIMS_EX0 | reg::EIMS_EX1 => self.write_vector_mask(off, v, true),
            reg::EIMC_EX0 => self.write_vector_mask(reg::EIMS_EX0, v, false),
            reg::EIMC_EX1 => self.write_vector_mask(reg::EIMS_EX1, v, false),
            reg::LINKS => {}
            reg::FDIRCTRL => {
                // Table initialised at once: INIT_DONE (bit 3) reads set.
                self.fdir.clear();
                self.w(off, v | 1 << 3);
            }
            reg::FDIRCMD => {
                self.w(off, v);
                self.fdir_command(v);
            }
            o => {
                if let Some((q, tx)) = queue_dctl(o) {
                    let enabling = v & QUEUE_ENABLE != 0 && self.r(o) & QUEUE_ENABLE == 0;
                    if enabling {
                        let reads = if self.faults.queue_enable_stuck {
                            u32::MAX
                        } else {
                            1
                        };
                        if tx {
                            self.txdctl_reads[q] = reads;
                        } else {
                            self.rxdctl_reads[q] = reads;
                        }
                    }
                    self.w(o, v);
                    return;
                }
                self.w(o, v);
                if let Some(q) = tx_tail(o) {
                    self.run_tx(q);
                }
            }
        }
    }

    // ---------------------------------------------------------------- FDIR

    fn fdir_stream(flow_type: u32, src: u32, dst: u32, sport: u16, dport: u16) -> [u32; 11] {
        let mut s = [0u32; 11];
        s[0] = flow_type << 16;
        s[4] = dst;
        s[8] = src;
        s[9] = (u32::from(sport) << 16) | u32::from(dport);
        s
    }

    fn fdir_perfect(&self) -> bool {
        self.r(reg::FDIRCTRL) & (1 << 4) != 0
    }

    fn fdir_command(&mut self, cmd: u32) {
        let hash = self.r(reg::FDIRHASH);
        let bucket = hash & 0x7FFF;
        let flow_type = (cmd >> 5) & 0b11;
        let (stream, signature) = if self.fdir_perfect() {
            let port = self.r(reg::FDIRPORT);
            let s = Self::fdir_stream(
                flow_type,
                self.r(reg::FDIRIPSA),
                self.r(reg::FDIRIPDA),
                port as u16,
                (port >> 16) as u16,
            );
            (s, 0)
        } else {
            ([0; 11], hash >> 16)
        };
        let f = FdirFilter {
            stream,
            signature,
            queue: (cmd >> 16) & 0x7F,
            cmd,
        };
        let perfect = self.fdir_perfect();
        let list = self.fdir.entry(bucket).or_default();
        let same = |g: &FdirFilter| {
            if perfect {
                g.stream == f.stream
            } else {
                g.signature == f.signature
            }
        };
        match cmd & 0b11 {
            0b01 => {
                if let Some(g) = list.iter_mut().find(|g| same(g)) {
                    *g = f;
                } else {
                    list.push(f);
                }
            }
            0b10 => list.retain(|g| !same(g)),
            _ => {}
        }
    }

    fn fdir_lookup(&self, p: &Parsed) -> Option<(u32, bool)> {
        if self.r(reg::FDIRCTRL) & (1 << 3) == 0 {
            return None;
        }
        let (Some(IpAddr::V4(s)), Some(IpAddr::V4(d)), Some(sp), Some(dp)) =
            (p.src, p.dst, p.src_port, p.dst_port)
        else {
            return None;
        };
        let flow_type = match p.protocol {
            Some(6) => 0b10,
            Some(17) => 0b01,
            Some(132) => 0b11,
            _ => return None,
        };
        let stream = Self::fdir_stream(flow_type, u32::from(s), u32::from(d), sp, dp);
        let bucket = fdir_hash(&stream, self.r(reg::FDIRHKEY)) & 0x7FFF;
        let list = self.fdir.get(&bucket)?;
        let hit = if self.fdir_perfect() {
            list.iter().find(|f| f.stream == stream)
        } else {
            let sig = fdir_hash(&stream, self.r(reg::FDIRSKEY)) & 0xFFFF;
            list.iter().find(|f| f.signature == sig)
        }?;
        // FDIRCMD.QUEUE_EN (bit 15) steers; DROP (bit 9) would drop.
        (hit.cmd & (1 << 15) != 0).then_some((hit.queue, hit.cmd & (1 << 10) != 0))
    }

    // ------------------------------------------------------------- receive

    /// A frame (without FCS) arrives from the wire.
    pub fn inject(&mut self, frame: &[u8]) {
        if !self.link_up || self.r(reg::RXCTRL) & 1 == 0 {
            return;
        }
        // Length checks (§8.2.3.23): runts and, without jumbo, oversize.
        if frame.len() < 60 {
            let v = self.r(reg::RUC);
            self.w(reg::RUC, v + 1);
            return;
        }
        if frame.len() > 1514 + if parse(frame).vlan.is_some() { 4 } else { 0 } {
            let v = self.r(reg::ROC);
            self.w(reg::ROC, v + 1);
            return;
        }
        let p = parse(frame);
        if !self.l2_accept(&p) {
            self.counters.filtered += 1;
            return;
        }
        let steer = self.select_queue(&p);
        let (queue, mut pkt_type) = (steer.queue, steer.ptype);
        let (rss_type, rss_hash) = self.rss(&p);
        if p.ipv4_hlen > 0 {
            pkt_type |= 1;
        } else if matches!(p.src, Some(IpAddr::V6(_))) {
            pkt_type |= 1 << 2;
        }
        if p.l4_off.is_some() {
            pkt_type |= match p.protocol {
                Some(6) => 1 << 4,
                Some(17) => 1 << 5,
                Some(132) => 1 << 6,
                _ => 0,
            };
        }
        let q = match queue {
            Some(q) => q as usize,
            None => match rss_type {
                0 => 0,
                _ => {
                    let idx = (rss_hash & 0x7F) as usize;
                    let e = (self.r(reg::reta(idx / 4)) >> (8 * (idx % 4))) & 0xF;
                    e as usize
                }
            },
        };
        let steer = Steer {
            ptype: pkt_type,
            ..steer
        };
        self.deliver(q, frame, &p, steer, rss_type, rss_hash);
    }

    fn l2_accept(&self, p: &Parsed) -> bool {
        let fctrl = self.r(reg::FCTRL);
        let d = p.dst_mac;
        if d == [0xff; 6] {
            return fctrl & (1 << 10) != 0;
        }
        if d[0] & 1 == 1 {
            return fctrl & (1 << 8) != 0;
        }
        if fctrl & (1 << 9) != 0 {
            return true;
        }
        (0..128).any(|i| {
            let rah = self.r(reg::rah(i));
            if rah & (1 << 31) == 0 {
                return false;
            }
            let l = self.r(reg::ral(i)).to_le_bytes();
            let h = rah.to_le_bytes();
            d == [l[0], l[1], l[2], l[3], h[0], h[1]]
        })
    }

    /// The filter pipeline (§7.1.2): returns the queue a filter chose (if
    /// any), the packet-type bits it sets, and whether Flow Director matched.
    fn select_queue(&mut self, p: &Parsed) -> Steer {
        // 1. EtherType filters (§7.1.2.3).
        for i in 0..8 {
            let f = self.r(reg::etqf(i));
            if f & (1 << 31) != 0 && f & 0xFFFF == u32::from(p.ethertype) {
                let s = self.r(reg::etqs(i));
                let ptype = (1 << 11) | i as u32;
                let queue = (s & (1 << 31) != 0).then_some((s >> 16) & 0x7F);
                return Steer {
                    queue,
                    ptype,
                    flm: false,
                    lli: queue.is_some() && s & (1 << 29) != 0,
                };
            }
        }
        // 2. SYN and 5-tuple filters, ordered by SYNQF.SYNQFP (§7.1.2.6).
        let synqf = self.r(reg::SYNQF);
        let syn = (synqf & 1 != 0
            && p.protocol == Some(6)
            && p.tcp_flags.is_some_and(|f| f & 0x12 == 0x02))
        .then_some(((synqf >> 1) & 0x7F, false));
        let five = self.five_tuple(p);
        let chosen = if synqf & (1 << 31) != 0 {
            syn.or(five)
        } else {
            five.or(syn)
        };
        if let Some((q, lli)) = chosen {
            return Steer {
                queue: Some(q),
                ptype: 0,
                flm: false,
                lli,
            };
        }
        // 3. Flow Director (§7.1.2.7).
        if let Some((q, lli)) = self.fdir_lookup(p) {
            return Steer {
                queue: Some(q),
                ptype: 0,
                flm: true,
                lli,
            };
        }
        Steer::default()
    }

    /// 5-tuple filters (§7.1.2.5): IPv4 only; the matching filter with the
    /// highest priority wins, the lowest index among equals.
    fn five_tuple(&self, p: &Parsed) -> Option<(u32, bool)> {
        let (Some(IpAddr::V4(src)), Some(IpAddr::V4(dst)), Some(proto)) =
            (p.src, p.dst, p.protocol)
        else {
            return None;
        };
        let mut best: Option<(u32, u32, bool)> = None;
        for i in 0..128 {
            let f = self.r(reg::ftqf(i));
            if f & (1 << 31) == 0 {
                continue;
            }
            let mask = f >> 25;
            let proto_ok = mask & (1 << 4) != 0
                || match f & 0b11 {
                    0b00 => proto == 6,
                    0b01 => proto == 17,
                    0b10 => proto == 132,
                    _ => !matches!(proto, 6 | 17 | 132),
                };
            let src_ok = mask & 1 != 0 || self.r(reg::saqf(i)) == u32::from_le_bytes(src.octets());
            let dst_ok = mask & 2 != 0 || self.r(reg::daqf(i)) == u32::from_le_bytes(dst.octets());
            let ports = self.r(reg::sdpqf(i));
            let sp_ok = mask & 4 != 0 || p.src_port.map(u16::swap_bytes) == Some(ports as u16);
            let dp_ok =
                mask & 8 != 0 || p.dst_port.map(u16::swap_bytes) == Some((ports >> 16) as u16);
            if proto_ok && src_ok && dst_ok && sp_ok && dp_ok {
                let prio = (f >> 2) & 0x7;
                if best.is_none_or(|(bp, _, _)| prio > bp) {
                    let imir = self.r(reg::l34t_imir(i));
                    best = Some((prio, (imir >> 21) & 0x7F, imir & (1 << 20) != 0));
                }
            }
        }
        best.map(|(_, q, lli)| (q, lli))
    }

    /// RSS (§7.1.2.8): the hash type and Toeplitz hash per MRQC's field enables.
    fn rss(&self, p: &Parsed) -> (u32, u32) {
        let mrqc = self.r(reg::MRQC);
        if mrqc & 0xF != 0b0001 {
            return (0, 0);
        }
        let key: Vec<u8> = (0..10)
            .flat_map(|i| self.r(reg::rssrk(i)).to_le_bytes())
            .collect();
        let mut input = Vec::with_capacity(36);
        let (v4, has_ports) = match (p.src, p.dst) {
            (Some(IpAddr::V4(s)), Some(IpAddr::V4(d))) => {
                input.extend_from_slice(&s.octets());
                input.extend_from_slice(&d.octets());
                (true, p.src_port.is_some())
            }
            (Some(IpAddr::V6(s)), Some(IpAddr::V6(d))) => {
                input.extend_from_slice(&s.octets());
                input.extend_from_slice(&d.octets());
                (false, p.src_port.is_some())
            }
            _ => return (0, 0),
        };
        let l4 = match (p.protocol, has_ports, v4) {
            (Some(6), true, true) if mrqc & (1 << 16) != 0 => Some(1),
            (Some(17), true, true) if mrqc & (1 << 22) != 0 => Some(7),
            (Some(6), true, false) if mrqc & (1 << 21) != 0 => Some(3),
            (Some(17), true, false) if mrqc & (1 << 23) != 0 => Some(8),
            _ => None,
        };
        let ty = if let Some(t) = l4 {
            input.extend_from_slice(&p.src_port.unwrap_or(0).to_be_bytes());
            input.extend_from_slice(&p.dst_port.unwrap_or(0).to_be_bytes());
            t
        } else if v4 && mrqc & (1 << 17) != 0 {
            2
        } else if !v4 && mrqc & (1 << 20) != 0 {
            5
        } else {
            return (0, 0);
        };
        (ty, netwire::toeplitz::hash(&key, &input))
    }

    // Device accesses to host memory. Every address the model uses comes from
    // a descriptor ring base (RDBAL/TDBAL/TDWBAL) or a descriptor the driver
    // posted: memory the driver handed to the device, which it owns and
    // touches only through raw pointers (descriptors with volatile access,
    // posted buffers not at all until the write-back says done). That is the
    // device-model side of `SimDma`'s contract.

    fn dev_read(&self, phys: u64, out: &mut [u8]) -> Result<(), DmaFault> {
        // SAFETY: see above: the driver holds no reference into memory it
        // handed to the device, and the model runs under its lock.
        unsafe { self.dma.read(phys, out) }
    }

    fn dev_write(&self, phys: u64, data: &[u8]) -> Result<(), DmaFault> {
        // SAFETY: as in `dev_read`.
        unsafe { self.dma.write(phys, data) }
    }

    fn dev_read_u64(&self, phys: u64) -> Result<u64, DmaFault> {
        // SAFETY: as in `dev_read`.
        unsafe { self.dma.read_u64(phys) }
    }

    fn dev_write_u64(&self, phys: u64, v: u64) -> Result<(), DmaFault> {
        // SAFETY: as in `dev_read`.
        unsafe { self.dma.write_u64(phys, v) }
    }

    fn dma_fault(&mut self) {
        self.counters.dma_faults += 1;
    }

    fn rx_checksums(frame: &[u8], p: &Parsed) -> (u32, u32) {
        let mut status = 0;
        let mut errors = 0;
        if p.ipv4_hlen > 0 {
            status |= 1 << 6; // IPCS
            let h = &frame[p.l3_off..p.l3_off + p.ipv4_hlen];
            if parse::ones_sum(h, 0) != 0xFFFF {
                errors |= 1 << 31; // IPE
            }
            if let (Some(l4), Some(IpAddr::V4(s)), Some(IpAddr::V4(d)), Some(proto)) =
                (p.l4_off, p.src, p.dst, p.protocol)
            {
                let total = usize::from(u16::from_be_bytes([
                    frame[p.l3_off + 2],
                    frame[p.l3_off + 3],
                ]));
                let end = (p.l3_off + total).min(frame.len());
                if matches!(proto, 6 | 17) && end > l4 {
                    let seg = &frame[l4..end];
                    let udp_zero = proto == 17 && seg.get(6..8) == Some(&[0, 0]);
                    if !udp_zero {
                        status |= 1 << 5; // L4I
                        if proto == 17 {
                            status |= 1 << 4; // UDPCS
                        }
                        let ps = parse::pseudo_v4(s, d, proto, seg.len());
                        if parse::ones_sum(seg, ps) != 0xFFFF {
                            errors |= 1 << 30; // L4E
                        }
                    }
                }
            }
        }
        (status, errors)
    }

    fn deliver(
        &mut self,
        q: usize,
        frame: &[u8],
        p: &Parsed,
        steer: Steer,
        rss_type: u32,
        rss_hash: u32,
    ) {
        let (pkt_type, flm) = (steer.ptype, steer.flm);
        let b = reg::rx(q);
        let missed = |m: &mut Self| {
            let v = m.r(reg::mpc(0));
            m.w(reg::mpc(0), v + 1);
            m.counters.missed += 1;
            m.raise(RX_MISS);
        };
        if self.r(b + reg::DCTL) & QUEUE_ENABLE == 0 {
            missed(self);
            return;
        }
        let len = (self.r(b + reg::LEN) / 16) as usize;
        let head = self.r(b + reg::HEAD) as usize;
        let tail = self.r(b + reg::TAIL) as usize;
        if len == 0 || head == tail || head >= len {
            missed(self);
            return;
        }
        let bsize = ((self.r(b + reg::SRRCTL) & 0x1F) as usize) * 1024;
        if bsize == 0 {
            missed(self);
            return;
        }
        // A frame longer than the buffer size spreads over several
        // descriptors, EOP only on the last (§7.1.6.2); every one of them
        // must be available, else the frame is missed.
        let pieces = frame.len().div_ceil(bsize).max(1);
        let avail = (tail + len - head) % len;
        if pieces > avail {
            missed(self);
            return;
        }
        let base = u64::from(self.r(b + reg::BAL)) | (u64::from(self.r(b + reg::BAH)) << 32);
        let mut head = head;
        let mut chunks = frame.chunks(bsize);
        for _ in 1..pieces {
            let chunk = chunks.next().unwrap_or_default();
            let Some(desc) = base.checked_add(16 * head as u64) else {
                self.dma_fault();
                return;
            };
            let Ok(addr) = self.dev_read_u64(desc) else {
                self.dma_fault();
                return;
            };
            let hi = 0b01 | ((chunk.len() as u64) << 32); // DD, no EOP
            if desc.checked_add(8).is_none()
                || self.dev_write(addr, chunk).is_err()
                || self.dev_write_u64(desc, 0).is_err()
                || self.dev_write_u64(desc + 8, hi).is_err()
            {
                self.dma_fault();
                return;
            }
            head = (head + 1) % len;
        }
        let last = chunks.next().unwrap_or_default();
        let Some(desc) = base.checked_add(16 * head as u64) else {
            self.dma_fault();
            return;
        };
        let Ok(addr) = self.dev_read_u64(desc) else {
            self.dma_fault();
            return;
        };
        if self.dev_write(addr, last).is_err() {
            self.dma_fault();
            return;
        }
        let (mut status, errors) = Self::rx_checksums(frame, p);
        status |= 0b11; // DD | EOP
        if flm {
            status |= 1 << 2;
        }
        let mut length = last.len() as u64;
        let garbage = self.faults.garbage.take();
        if garbage == Some(RxGarbage::LengthTooLarge) {
            length = 0xFFFF;
        }
        let lo = u64::from(rss_type | (pkt_type << 4)) | (u64::from(rss_hash) << 32);
        let hi = u64::from(status | errors) | (length << 32);
        if desc.checked_add(8).is_none()
            || self.dev_write_u64(desc, lo).is_err()
            || self.dev_write_u64(desc + 8, hi).is_err()
        {
            self.dma_fault();
            return;
        }
        if garbage == Some(RxGarbage::DoneOnUnposted) {
            if let Some(d) = base.checked_add(16 * tail as u64 + 8) {
                let _ = self.dev_write_u64(d, 0b11 | (60u64 << 32));
            }
        } else if garbage.is_some() {
            self.faults.garbage = garbage;
        }
        self.w(b + reg::HEAD, ((head + 1) % len) as u32);
        let v = self.r(reg::GPRC);
        self.w(reg::GPRC, v + 1);
        self.gorc += frame.len() as u64;
        self.delivered[q] += 1;
        self.counters.delivered += 1;
        self.queue_cause(q, false, steer.lli);
    }

    // ------------------------------------------------------------ transmit

    fn run_tx(&mut self, q: usize) {
        let b = reg::tx(q);
        if !self.link_up
            || self.r(b + reg::DCTL) & QUEUE_ENABLE == 0
            || self.r(reg::DMATXCTL) & 1 == 0
        {
            return;
        }
        let len = (self.r(b + reg::LEN) / 16) as usize;
        let base = u64::from(self.r(b + reg::BAL)) | (u64::from(self.r(b + reg::BAH)) << 32);
        let tail = self.r(b + reg::TAIL) as usize;
        if len == 0 || tail >= len {
            return;
        }
        let mut head = self.r(b + reg::HEAD) as usize;
        let mut done_any = false;
        while head != tail && head < len {
            // Driver-written base addresses may be anything: an address
            // that overflows is a DMA fault like any other bad one.
            let Some((desc, desc_hi)) = base
                .checked_add(16 * head as u64)
                .and_then(|d| Some((d, d.checked_add(8)?)))
            else {
                self.dma_fault();
                return;
            };
            let (Ok(lo), Ok(hi)) = (self.dev_read_u64(desc), self.dev_read_u64(desc_hi)) else {
                self.dma_fault();
                return;
            };
            let ctl = hi as u32;
            let dtyp = (ctl >> 20) & 0xF;
            let dcmd = ctl >> 24;
            if dtyp == 0b0010 {
                // Context descriptor (§7.2.3.2.3).
                let lens = lo as u32;
                self.tx_ctx[q] = TxContext {
                    iplen: (lens & 0x1FF) as usize,
                    maclen: ((lens >> 9) & 0x7F) as usize,
                    ipv4: ctl & (1 << 10) != 0,
                    tcp: (ctl >> 11) & 0b11 == 0b01,
                };
            } else {
                let dlen = (ctl & 0xFFFF) as usize;
                let mut buf = vec![0u8; dlen];
                if self.dev_read(lo, &mut buf).is_err() {
                    self.dma_fault();
                    return;
                }
                // A frame longer than any the device sends (no EOP in
                // sight) is dropped rather than buffered without bound.
                if self.tx_partial[q].len() + buf.len() > MAX_TX_FRAME {
                    self.tx_partial[q].clear();
                    self.counters.tx_dropped += 1;
                } else {
                    self.tx_partial[q].extend_from_slice(&buf);
                }
                if dcmd & 1 != 0 {
                    let mut frame = std::mem::take(&mut self.tx_partial[q]);
                    let popts = ((hi >> 32) as u32 >> 8) & 0x3F;
                    self.tx_offload(q, &mut frame, popts);
                    let v = self.r(reg::GPTC);
                    self.w(reg::GPTC, v + 1);
                    self.gotc += frame.len() as u64;
                    self.counters.transmitted += 1;
                    self.tx_out.push_back(frame);
                }
                if dcmd & (1 << 3) != 0 {
                    // RS: write STA.DD back (§7.2.3.2.4).
                    let _ = self.dev_write_u64(desc_hi, hi | (1 << 32));
                }
            }
            head = (head + 1) % len;
            done_any = true;
        }
        self.w(b + reg::HEAD, head as u32);
        let wbal = self.r(b + reg::WBAL);
        if wbal & 1 != 0 {
            let addr = u64::from(wbal & !3) | (u64::from(self.r(b + reg::WBAH)) << 32);
            let mut value = head as u32;
            match self.faults.garbage {
                Some(RxGarbage::TxHeadBeyondTail) => {
                    self.faults.garbage = None;
                    value = ((tail + 1) % len) as u32;
                }
                Some(RxGarbage::TxHeadOutOfRange) => {
                    self.faults.garbage = None;
                    value = (len + 5) as u32;
                }
                _ => {}
            }
            if self.dev_write(addr, &value.to_le_bytes()).is_err() {
                self.dma_fault();
            }
        }
        if done_any {
            self.queue_cause(q, true, false);
        }
    }

    fn tx_offload(&self, q: usize, frame: &mut [u8], popts: u32) {
        let c = self.tx_ctx[q];
        let l3 = c.maclen;
        if popts & 1 != 0 && c.ipv4 && frame.len() >= l3 + c.iplen && c.iplen >= 20 {
            frame[l3 + 10..l3 + 12].fill(0);
            let s = !parse::ones_sum(&frame[l3..l3 + c.iplen], 0);
            frame[l3 + 10..l3 + 12].copy_from_slice(&s.to_be_bytes());
        }
        if popts & 2 != 0 {
            // TXSM: the stack seeded the checksum field with the pseudo-header
            // sum; sum from the L4 header to the end (§7.2.5.1).
            let l4 = l3 + c.iplen;
            let off = if c.tcp { 16 } else { 6 };
            if frame.len() >= l4 + off + 2 {
                let s = !parse::ones_sum(&frame[l4..], 0);
                let s = if !c.tcp && s == 0 { 0xFFFF } else { s };
                frame[l4 + off..l4 + off + 2].copy_from_slice(&s.to_be_bytes());
            }
        }
    }
}

/// `(queue, is_tx)` if `off` is an RXDCTL or TXDCTL register.
/// The 82599 also decodes the 82598's addresses of MRQC (0x05818), RETA
/// (0x05C00) and RSSRK (0x05C80): Intel's own ixgbe driver header
/// (`ixgbe_type.h`: IXGBE_MRQC, IXGBE_RETA, IXGBE_RSSRK) programs RSS on the
/// 82599 through them. Both map to the same registers here.
fn canonical(off: usize) -> usize {
    match off {
        0x0_5818 => reg::MRQC,
        0x0_5C00..0x0_5C80 => reg::reta(0) + (off - 0x0_5C00),
        0x0_5C80..0x0_5CA8 => reg::rssrk(0) + (off - 0x0_5C80),
        _ => off,
    }
}

fn queue_dctl(off: usize) -> Option<(usize, bool)> {
    let rx = |base: usize, first: usize| {
        (off >= base && off < base + 64 * 0x40 && (off - base) % 0x40 == reg::DCTL)
            .then(|| first + (off - base) / 0x40)
    };
    if let Some(q) = rx(0x1000, 0).or_else(|| rx(0xD000, 64)) {
        return Some((q, false));
    }
    if (0x6000..0x6000 + 128 * 0x40).contains(&off) && (off - 0x6000) % 0x40 == reg::DCTL {
        return Some(((off - 0x6000) / 0x40, true));
    }
    None
}

fn tx_tail(off: usize) -> Option<usize> {
    ((0x6000..0x6000 + 128 * 0x40).contains(&off) && (off - 0x6000) % 0x40 == reg::TAIL)
        .then(|| (off - 0x6000) / 0x40)
}

/// A handle to a modelled 82599: the register window a driver uses.
/// Cheap to clone; all clones reach the same device.
#[derive(Debug, Clone)]
pub struct I82599 {
    inner: Arc<Mutex<Model>>,
}

impl I82599 {
    /// A new device with MAC address `mac` whose DMA goes through `dma`.
    pub fn new(dma: SimDma, mac: [u8; 6]) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Model::new(dma, mac))),
        }
    }

    /// Locks the device state (for injecting frames, faults and checks).
    pub fn model(&self) -> MutexGuard<'_, Model> {
        // The model's state stays consistent across a panicking test thread.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A frame arrives from the wire.
    pub fn inject(&self, frame: &[u8]) {
        self.model().inject(frame)
    }

    /// Lets virtual time pass (see [`Model::advance`]).
    pub fn advance(&self, ns: u64) {
        self.model().advance(ns)
    }

    /// Frames the device transmitted since the last call.
    pub fn take_transmitted(&self) -> Vec<Vec<u8>> {
        self.model().take_transmitted()
    }

    /// Connects this port to `end` of `link` at virtual time `now_ns`: frames
    /// the device transmitted enter the link, and frames that have arrived
    /// at `end` by then are received. Returns `(sent, received)`.
    pub fn pump_link(
        &self,
        link: &mut crate::link::Link,
        end: crate::link::End,
        now_ns: u64,
    ) -> (usize, usize) {
        let out = self.take_transmitted();
        for f in &out {
            link.send(end, now_ns, f);
        }
        let mut received = 0;
        while let Some(f) = link.recv(end, now_ns) {
            self.inject(&f);
            received += 1;
        }
        (out.len(), received)
    }

    /// Moves every frame each of two devices transmitted to the other: a
    /// cable between two ports. Returns how many frames moved.
    pub fn exchange(a: &Self, b: &Self) -> usize {
        let from_a = a.take_transmitted();
        let from_b = b.take_transmitted();
        let n = from_a.len() + from_b.len();
        for f in &from_a {
            b.inject(f);
        }
        for f in &from_b {
            a.inject(f);
        }
        n
    }
}

impl RegisterAccess for I82599 {
    fn read32(&self, offset: usize) -> u32 {
        self.model().read(offset)
    }

    fn write32(&self, offset: usize, value: u32) {
        self.model().write(offset, value)
    }
}

/// A delay that does nothing: the model advances by register reads, not time.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDelay;

impl embedded_hal::delay::DelayNs for NoDelay {
    fn delay_ns(&mut self, _ns: u32) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use nic_traits::Dma;

    /// A driver that programs garbage cannot make the model panic or
    /// touch memory outside the DMA regions.
    #[test]
    fn hostile_register_values_do_not_panic() {
        let dma = SimDma::new();
        let dev = I82599::new(dma.clone(), [2, 0, 0, 0, 0, 1]);
        let ring = dma.alloc(4096, 128).unwrap();
        let mut m = dev.model();
        // Never finishes reset reads; then fill queue 0 with nonsense.
        for _ in 0..READY_AFTER_READS {
            m.read(reg::CTRL);
        }
        m.write(reg::RXCTRL, 1);
        m.write(reg::DMATXCTL, 1);
        let tx = reg::tx(0);
        m.write(tx + reg::BAL, ring.phys() as u32);
        m.write(tx + reg::BAH, (ring.phys() >> 32) as u32);
        m.write(tx + reg::LEN, 4096);
        m.write(tx + reg::DCTL, QUEUE_ENABLE);
        // Data descriptors without EOP pointing into the ring itself, and one
        // pointing nowhere.
        for i in 0..255u64 {
            let addr = if i == 7 { 0xdead_0000 } else { ring.phys() };
            // SAFETY: no reference into the ring is live; one thread.
            unsafe {
                dma.write_u64(ring.phys() + 16 * i, addr).unwrap();
                dma.write_u64(ring.phys() + 16 * i + 8, 0x0030_0000 | 4096)
                    .unwrap();
            }
        }
        m.write(tx + reg::TAIL, 255);
        m.write(tx + reg::TAIL, 100_000);
        let rx = reg::rx(0);
        m.write(rx + reg::LEN, 16);
        m.write(rx + reg::HEAD, 5000);
        m.write(rx + reg::DCTL, QUEUE_ENABLE);
        m.write(rx + reg::SRRCTL, 2);
        m.write(reg::rah(0), 0);
        m.write(reg::FCTRL, 1 << 9);
        m.inject(&[0u8; 60]);
        m.write(0x1_FFFF, 1);
        assert_eq!(m.read(REG_WINDOW + 4), u32::MAX);
        assert!(m.counters.dma_faults > 0);
        assert!(m.counters.tx_dropped > 0);
        assert_eq!(m.counters.transmitted, 0);
    }

    #[test]
    fn ring_bases_near_the_top_of_the_address_space_are_dma_faults() {
        let dma = SimDma::new();
        let dev = I82599::new(dma.clone(), [2, 0, 0, 0, 0, 1]);
        let mut m = dev.model();
        for _ in 0..READY_AFTER_READS {
            m.read(reg::CTRL);
        }
        m.write(reg::RXCTRL, 1);
        m.write(reg::DMATXCTL, 1);
        m.write(reg::FCTRL, 1 << 9);
        // Transmit: the descriptor's second word would lie past u64::MAX.
        let tx = reg::tx(0);
        m.write(tx + reg::BAL, 0xFFFF_FFF8);
        m.write(tx + reg::BAH, 0xFFFF_FFFF);
        m.write(tx + reg::LEN, 128);
        m.write(tx + reg::DCTL, QUEUE_ENABLE);
        m.write(tx + reg::TAIL, 1);
        // Receive: the same for the write-back, and a frame spread over
        // descriptors whose addresses overflow.
        let rx = reg::rx(0);
        m.write(rx + reg::BAL, 0xFFFF_FFF8);
        m.write(rx + reg::BAH, 0xFFFF_FFFF);
        m.write(rx + reg::LEN, 128);
        m.write(rx + reg::SRRCTL, 1);
        m.write(rx + reg::DCTL, QUEUE_ENABLE);
        m.write(rx + reg::TAIL, 7);
        m.inject(&[0u8; 60]);
        m.inject(&[0u8; 1500]);
        assert!(m.counters.dma_faults >= 2, "{}", m.counters.dma_faults);
        assert_eq!(m.counters.transmitted, 0);
        assert_eq!(m.counters.delivered, 0);
    }
}
