//! The card driver: owns every global register of the 82599 and its filter
//! tables, brings the device up and hands out queue drivers.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use embedded_hal::delay::DelayNs;
use nic_traits::{
    CardDriver, CardEvents, CardInfo, Dma, ErrorKind, ErrorType, FilterAction, FilterCapacity,
    FilterClass, FilterHandle, FlowRule, InterruptCauses, L4Protocol, LinkSpeed, LinkState,
    MacAddr, MaskedTuple, Offloads, QueueConfig, RegisterAccess, RssConfig, RssHashFields, RxMode,
    Stats, wait_for,
};

use crate::fdir::{self, FdirInput};
use crate::queue::{IxgbeQueue, QueueParts, TxCompletion};
use crate::regs::{self, *};

/// Which Flow Director mode the card runs in; the 82599 holds either perfect
/// or signature filters, never both (FDIRCTRL.PERFECT_MATCH, §7.1.2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FdirMode {
    /// Flow Director off (its packet buffer memory stays with receive).
    #[default]
    Off,
    /// Perfect-match filters.
    Perfect,
    /// Signature (hash) filters.
    Signature,
}

/// Bring-up options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// Flow Director mode.
    pub flow_director: FdirMode,
    /// How transmit completion is detected.
    pub tx_completion: TxCompletion,
    /// Drop a frame at once when its queue has no descriptor (SRRCTL.DROP_EN)
    /// instead of stalling the packet buffer for every queue.
    pub rx_drop_enable: bool,
    /// The SYN filter takes precedence over 5-tuple filters (SYNQF.SYNQFP).
    pub syn_before_five_tuple: bool,
    /// Flow Director bucket hash key (FDIRHKEY).
    pub fdir_hash_key: u32,
    /// Flow Director signature hash key (FDIRSKEY).
    pub fdir_signature_key: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            flow_director: FdirMode::Off,
            tx_completion: TxCompletion::DescriptorDone,
            rx_drop_enable: true,
            syn_before_five_tuple: false,
            // Any 32-bit keys work; these are the ones Intel's drivers use
            // (IXGBE_ATR_BUCKET_HASH_KEY / IXGBE_ATR_SIGNATURE_HASH_KEY).
            fdir_hash_key: 0x3DAD_14E2,
            fdir_signature_key: 0x1740_7A27,
        }
    }
}

/// Bounds of every wait on the device, in microseconds.
mod timeout {
    /// CTRL.RST self-clears within 1 ms after the reset (§4.6.3.2); allow 10.
    pub const RESET_US: u32 = 10_000;
    /// EEPROM auto-read completes within tens of ms (§4.6.3).
    pub const EEPROM_US: u32 = 50_000;
    /// RDRXCTL.DMAIDONE after reset.
    pub const DMA_INIT_US: u32 = 10_000;
    /// RXDCTL/TXDCTL.ENABLE read back (§4.6.7, §4.6.8).
    pub const QUEUE_US: u32 = 10_000;
    /// FDIRCTRL.INIT_DONE (§4.6.11.1.1).
    pub const FDIR_US: u32 = 10_000;
    /// Poll interval.
    pub const POLL_US: u32 = 10;
}

/// 5-tuple filters (§7.1.2.5).
pub const FIVE_TUPLE_FILTERS: usize = 128;
/// EtherType filters (§7.1.2.3).
pub const ETYPE_FILTERS: usize = 8;
/// Queue pairs handed out: MTQC = 0 gives 64 transmit queues (§7.2.1.2.1).
pub const QUEUE_PAIRS: u16 = 64;
/// RSS queues a redirection table entry can name (4-bit entries in RSS-only
/// mode, §7.1.2.8.2).
pub const RSS_QUEUES: u16 = 16;
/// MSI-X vectors whose queue causes EICR bits 15:0 report (§8.2.3.5.1), so
/// that [`CardDriver::interrupt_causes`] can poll them: the vectors
/// [`CardInfo::vectors`] announces.
pub const VECTORS: u16 = 16;
/// MSI-X vectors of the 82599 (its MSI-X table has 64 entries, §7.3.1.4).
/// A queue may be routed to any of them with
/// [`CardDriver::set_queue_vector`]; vectors 16..64 are masked through
/// EIMS_EX/EIMC_EX and signalled only by their MSI-X message — EICR has no
/// bit for them, so [`CardDriver::interrupt_causes`] cannot report them.
pub const MSIX_VECTORS: u16 = 64;
/// Entries of the redirection table (§7.1.2.8.2).
pub const RETA_LEN: usize = 128;
/// RSS key length in bytes (§7.1.2.8.1).
pub const RSS_KEY_LEN: usize = 40;
/// Perfect filters with a 64 KB Flow Director table (§7.1.2.7.5).
pub const FDIR_PERFECT_HW: u32 = 2048;
/// Signature filters with a 64 KB Flow Director table.
pub const FDIR_SIGNATURE_HW: u32 = 8192;
/// Largest frame without FCS (no jumbo frames).
pub const MAX_FRAME_LEN: u16 = 1514;
/// Smallest receive buffer [`CardDriver::queue`] accepts: the largest frame
/// with a VLAN tag (1514 + 4 bytes; the CRC is stripped, RDRXCTL.CRCSTRIP)
/// rounded up to SRRCTL.BSIZEPACKET's 1 KB granularity, so every frame fits
/// one descriptor.
pub const MIN_RX_BUF_LEN: u32 = 2048;
const _: () = assert!(MIN_RX_BUF_LEN >= MAX_FRAME_LEN as u32 + 4);

#[derive(Debug, Clone, Copy)]
struct FdirEntry {
    input: FdirInput,
}

/// The 82599 card driver.
///
/// Generic over register access `R` (real MMIO or the model), DMA `D` and a
/// delay `T` for bounded waits. `RXN`/`TXN` bound the ring sizes of the queue
/// drivers it hands out; `FDIR` bounds the Flow Director rules it tracks.
#[derive(Debug)]
pub struct Ixgbe<R, D, T, const RXN: usize = 512, const TXN: usize = 512, const FDIR: usize = 256> {
    regs: R,
    dma: D,
    delay: T,
    config: Config,
    mac: MacAddr,
    stats: Stats,
    queues_out: u64,
    /// CPU address of each handed-out queue's receive ring: identifies the
    /// driver [`return_queue`](CardDriver::return_queue) is given.
    rx_rings: [usize; QUEUE_PAIRS as usize],
    etqf_used: u8,
    ftqf_used: u128,
    syn_used: bool,
    fdir: [Option<FdirEntry>; FDIR],
    fdir_used: u32,
}

impl<R, D, T, const RXN: usize, const TXN: usize, const FDIR: usize> Ixgbe<R, D, T, RXN, TXN, FDIR>
where
    R: RegisterAccess + Clone + Send,
    D: Dma,
    T: DelayNs,
{
    /// Brings the device up (datasheet §4.6.3) and returns its driver.
    ///
    /// Fails with [`ErrorKind::Timeout`] when the device does not finish its
    /// reset, EEPROM auto-read or DMA initialisation in time.
    pub fn new(regs: R, dma: D, delay: T, config: Config) -> Result<Self, ErrorKind> {
        // Flow Director software indices are 15 bits (FDIRHASH 30:16).
        const { assert!(FDIR <= 0x8000) };
        let mut card = Self {
            regs,
            dma,
            delay,
            config,
            mac: MacAddr::default(),
            stats: Stats::default(),
            queues_out: 0,
            rx_rings: [0; QUEUE_PAIRS as usize],
            etqf_used: 0,
            ftqf_used: 0,
            syn_used: false,
            fdir: [const { None }; FDIR],
            fdir_used: 0,
        };
        card.bring_up()?;
        Ok(card)
    }

    /// The register window (for diagnostics).
    pub fn registers(&self) -> &R {
        &self.regs
    }

    /// The bring-up options.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn read(&self, off: usize) -> u32 {
        self.regs.read32(off)
    }

    fn write(&self, off: usize, v: u32) {
        self.regs.write32(off, v)
    }

    fn wait(&mut self, timeout_us: u32, mut done: impl FnMut(&R) -> bool) -> Result<(), ErrorKind> {
        let regs = &self.regs;
        wait_for(&mut self.delay, timeout_us, timeout::POLL_US, || done(regs))
    }

    fn bring_up(&mut self) -> Result<(), ErrorKind> {
        // §4.6.3.1: mask all interrupts.
        self.write(EIMC, 0x7FFF_FFFF);
        // §4.6.3.2: global reset (device and link), then wait for the
        // self-clearing RST bit.
        let ctrl = Ctrl::from_bits_retain(self.read(CTRL)) | Ctrl::RST | Ctrl::LRST;
        self.write(CTRL, ctrl.bits());
        self.wait(timeout::RESET_US, |r| {
            !Ctrl::from_bits_retain(r.read32(CTRL)).contains(Ctrl::RST)
        })?;
        // §4.6.3.1 again after reset: mask and clear pending causes,
        // including the vectors only the extended masks reach.
        self.write(EIMC, 0x7FFF_FFFF);
        self.write(eimc_ex(0), u32::MAX);
        self.write(eimc_ex(1), u32::MAX);
        let _ = self.read(EICR);
        // §4.6.3: wait for EEPROM auto-read and DMA initialisation.
        self.wait(timeout::EEPROM_US, |r| {
            Eec::from_bits_retain(r.read32(EEC)).contains(Eec::ARD)
        })?;
        self.wait(timeout::DMA_INIT_US, |r| {
            Rdrxctl::from_bits_retain(r.read32(RDRXCTL)).contains(Rdrxctl::DMAIDONE)
        })?;
        // The MAC address the EEPROM loaded into RAL(0)/RAH(0) (§8.2.3.7.9).
        let ral = self.read(ral(0)).to_le_bytes();
        let rah = self.read(rah(0)).to_le_bytes();
        self.mac = MacAddr([ral[0], ral[1], ral[2], ral[3], rah[0], rah[1]]);
        // Tell firmware a driver owns the device (§8.2.3.1.3).
        let ext = CtrlExt::from_bits_retain(self.read(CTRL_EXT)) | CtrlExt::DRV_LOAD;
        self.write(CTRL_EXT, ext.bits());
        // §4.6.4: link setup. The link mode (AUTOC.LMS) the EEPROM loaded
        // matches the board's PHY/module (§8.2.3.22.19): keep it and only
        // restart auto-negotiation (ignored by the modes without it).
        let autoc = Autoc::from_bits_retain(self.read(AUTOC)) | Autoc::RESTART_AN;
        self.write(AUTOC, autoc.bits());
        // §4.6.5: statistics registers are clear-on-read: read them all.
        self.stats = Stats::default();
        self.read_stats();
        self.stats = Stats::default();
        self.init_rx();
        self.init_tx();
        self.init_interrupts();
        self.queues_out = 0;
        self.etqf_used = 0;
        self.ftqf_used = 0;
        self.syn_used = false;
        self.fdir = [const { None }; FDIR];
        self.fdir_used = 0;
        if self.config.flow_director != FdirMode::Off {
            self.init_fdir()?;
        }
        // §4.6.7: enable receive once the global setup is done.
        let rxctrl = Rxctrl::from_bits_retain(self.read(RXCTRL)) | Rxctrl::RXEN;
        self.write(RXCTRL, rxctrl.bits());
        Ok(())
    }

    fn init_rx(&mut self) {
        // §4.6.7: receive off while configuring.
        let rxctrl = Rxctrl::from_bits_retain(self.read(RXCTRL)) - Rxctrl::RXEN;
        self.write(RXCTRL, rxctrl.bits());
        // CRC stripping must agree in HLREG0 and RDRXCTL (§8.2.3.8.8).
        let hl = Hlreg0::from_bits_retain(self.read(HLREG0))
            | Hlreg0::RXCRCSTRP
            | Hlreg0::TXCRCEN
            | Hlreg0::TXPADEN;
        self.write(HLREG0, (hl - Hlreg0::JUMBOEN).bits());
        let rd = Rdrxctl::from_bits_retain(self.read(RDRXCTL)) | Rdrxctl::CRCSTRIP;
        self.write(RDRXCTL, rd.bits());
        // Accept broadcast (§8.2.3.7.1).
        let f = Fctrl::from_bits_retain(self.read(FCTRL)) | Fctrl::BAM;
        self.write(FCTRL, f.bits());
        // RSS hash in the write-back instead of the fragment checksum (§7.1.6.2).
        let cs = Rxcsum::from_bits_retain(self.read(RXCSUM)) | Rxcsum::PCSD;
        self.write(RXCSUM, cs.bits());
        self.write(MRQC, 0);
        // The RSS and 5-tuple tables hold random values after reset.
        for i in 0..32 {
            self.write(reta(i), 0);
        }
        for i in 0..FIVE_TUPLE_FILTERS {
            self.write(ftqf(i), 0);
        }
        for i in 0..ETYPE_FILTERS {
            self.write(etqf(i), 0);
            self.write(etqs(i), 0);
        }
        self.write(SYNQF, 0);
    }

    fn init_tx(&mut self) {
        // §4.6.8: transmit DMA set-up with the descriptor arbiter off.
        let rttdcs = Rttdcs::from_bits_retain(self.read(RTTDCS)) | Rttdcs::ARBDIS;
        self.write(RTTDCS, rttdcs.bits());
        self.write(MTQC, 0);
        self.write(RTTDCS, (rttdcs - Rttdcs::ARBDIS).bits());
        // Largest DMA read request: 0xFFF × 64 B (§8.2.3.9.1).
        self.write(DTXMXSZRQ, 0xFFF);
        let d = Dmatxctl::from_bits_retain(self.read(DMATXCTL)) | Dmatxctl::TE;
        self.write(DMATXCTL, d.bits());
    }

    fn init_interrupts(&mut self) {
        // MSI-X mode with per-vector EICR bits (§7.3.1.4); causes are polled
        // or enabled per queue through EIMS.
        let g = Gpie::from_bits_retain(self.read(GPIE)) | Gpie::MSIX_MODE | Gpie::PBA_SUPPORT;
        self.write(GPIE, g.bits());
        // Link-status and other causes to vector 0 (§8.2.3.5.17).
        self.write(IVAR_MISC, regs::ivar_field::ALLOC_VAL);
    }

    fn init_fdir(&mut self) -> Result<(), ErrorKind> {
        // §4.6.11.1.1: keys and masks first, then FDIRCTRL, then INIT_DONE.
        self.write(FDIRHKEY, self.config.fdir_hash_key);
        self.write(FDIRSKEY, self.config.fdir_signature_key);
        // Compare L4 type, addresses and ports; ignore VLAN, pool and flex bytes.
        use regs::fdir_field as f;
        self.write(
            FDIRM,
            f::M_VLANID | f::M_VLANP | f::M_POOL | f::M_FLEX | f::M_DIPV6,
        );
        self.write(FDIRSIP4M, 0);
        self.write(FDIRDIP4M, 0);
        self.write(FDIRTCPM, 0);
        self.write(FDIRUDPM, 0);
        let mut ctrl = f::PBALLOC_64K | f::REPORT_STATUS | f::drop_q(127) | f::max_length(0xA);
        if self.config.flow_director == FdirMode::Perfect {
            ctrl |= f::PERFECT_MATCH;
        }
        self.write(FDIRCTRL, ctrl);
        self.wait(timeout::FDIR_US, |r| r.read32(FDIRCTRL) & f::INIT_DONE != 0)
    }

    fn read_stats(&mut self) {
        let s = &mut self.stats;
        let r = &self.regs;
        s.rx_packets += u64::from(r.read32(GPRC));
        s.tx_packets += u64::from(r.read32(GPTC));
        // 36-bit octet counters: low word first (§8.2.3.23.18).
        let lo = u64::from(r.read32(GORCL));
        s.rx_bytes += lo | (u64::from(r.read32(GORCH) & 0xF) << 32);
        let lo = u64::from(r.read32(GOTCL));
        s.tx_bytes += lo | (u64::from(r.read32(GOTCH) & 0xF) << 32);
        for i in 0..8 {
            s.rx_missed += u64::from(r.read32(mpc(i)));
        }
        s.rx_errors += u64::from(r.read32(CRCERRS))
            + u64::from(r.read32(RLEC))
            + u64::from(r.read32(RUC))
            + u64::from(r.read32(ROC))
            + u64::from(r.read32(ILLERRC));
        let _ = r.read32(ERRBC);
    }

    /// Clears RXDCTL/TXDCTL.ENABLE of queue `q` and waits for the device to
    /// read back both clear (§4.6.7.1, §4.6.8.1).
    fn disable_queue(&mut self, q: usize) -> Result<(), ErrorKind> {
        let c = Rxdctl::from_bits_retain(self.read(rxdctl(q))) - Rxdctl::ENABLE;
        self.write(rxdctl(q), c.bits());
        let t = Txdctl::from_bits_retain(self.read(txdctl(q))) - Txdctl::ENABLE;
        self.write(txdctl(q), t.bits());
        self.wait(timeout::QUEUE_US, |r| {
            !Rxdctl::from_bits_retain(r.read32(rxdctl(q))).contains(Rxdctl::ENABLE)
                && !Txdctl::from_bits_retain(r.read32(txdctl(q))).contains(Txdctl::ENABLE)
        })
    }

    fn check_queue(&self, queue: u16) -> Result<(), ErrorKind> {
        if queue < QUEUE_PAIRS {
            Ok(())
        } else {
            Err(ErrorKind::InvalidArgument)
        }
    }

    fn install_etype(&mut self, rule: &FlowRule, a: FilterAction) -> Result<u32, ErrorKind> {
        let FlowRule::EtherType(t) = *rule else {
            return Err(ErrorKind::Unsupported);
        };
        // §7.1.2.3: EtherType filters are not for IP frames.
        if t == 0x0800 || t == 0x86DD {
            return Err(ErrorKind::Unsupported);
        }
        let i = (0..ETYPE_FILTERS)
            .find(|i| self.etqf_used & (1 << i) == 0)
            .ok_or(ErrorKind::NoResources)?;
        use regs::etq_field as e;
        let mut etqs_v = e::ETQS_QUEUE_EN | e::etqs_rx_queue(u32::from(a.queue));
        if a.low_latency {
            etqs_v |= e::ETQS_LLI;
        }
        self.write(etqs(i), etqs_v);
        self.write(etqf(i), e::ETQF_FILTER_EN | u32::from(t));
        self.etqf_used |= 1 << i;
        Ok(i as u32)
    }

    fn install_five_tuple(&mut self, rule: &FlowRule, a: FilterAction) -> Result<u32, ErrorKind> {
        use regs::five_tuple_field as f;
        let t = five_tuple_of(rule)?;
        let prio = match a.priority {
            0 => 1,
            p @ 1..=7 => p,
            _ => return Err(ErrorKind::InvalidArgument),
        };
        let i = (0..FIVE_TUPLE_FILTERS)
            .find(|i| self.ftqf_used & (1 << i) == 0)
            .ok_or(ErrorKind::NoResources)?;
        let mut ftqf_v = f::QUEUE_ENABLE | f::POOL_MASK | f::priority(u32::from(prio));
        match t.protocol {
            Some(L4Protocol::Tcp) => ftqf_v |= f::PROTOCOL_TCP,
            Some(L4Protocol::Udp) => ftqf_v |= f::PROTOCOL_UDP,
            Some(L4Protocol::Sctp) => ftqf_v |= f::PROTOCOL_SCTP,
            Some(L4Protocol::Other(_)) => return Err(ErrorKind::Unsupported),
            None => ftqf_v |= f::MASK_PROTOCOL,
        }
        if t.src.is_none() {
            ftqf_v |= f::MASK_SOURCE_ADDRESS;
        }
        if t.dst.is_none() {
            ftqf_v |= f::MASK_DESTINATION_ADDRESS;
        }
        if t.src_port.is_none() {
            ftqf_v |= f::MASK_SOURCE_PORT;
        }
        if t.dst_port.is_none() {
            ftqf_v |= f::MASK_DESTINATION_PORT;
        }
        // Addresses and ports in network byte order: the register's low byte
        // is the first byte on the wire (§8.2.3.7.16–18).
        let addr = |a: Option<Ipv4Addr>| a.map_or(0, |a| u32::from_le_bytes(a.octets()));
        let port = |p: Option<u16>| u32::from(p.unwrap_or(0).swap_bytes());
        self.write(saqf(i), addr(t.src));
        self.write(daqf(i), addr(t.dst));
        self.write(sdpqf(i), port(t.src_port) | (port(t.dst_port) << 16));
        let mut imir = f::IMIR_SIZE_BP | f::imir_rx_queue(u32::from(a.queue));
        if a.low_latency {
            imir |= f::IMIR_LLI;
        }
        self.write(l34t_imir(i), imir);
        // FTQF last: its QUEUE_ENABLE activates the filter.
        self.write(ftqf(i), ftqf_v);
        self.ftqf_used |= 1 << i;
        Ok(i as u32)
    }

    fn install_syn(&mut self, rule: &FlowRule, a: FilterAction) -> Result<u32, ErrorKind> {
        if *rule != FlowRule::TcpSyn {
            return Err(ErrorKind::Unsupported);
        }
        if self.syn_used {
            return Err(ErrorKind::NoResources);
        }
        use regs::synqf_field as s;
        let mut v = s::QUEUE_EN | s::rx_queue(u32::from(a.queue));
        if self.config.syn_before_five_tuple {
            v |= s::SYNQFP;
        }
        self.write(SYNQF, v);
        self.syn_used = true;
        Ok(0)
    }

    fn fdir_capacity(&self, class: FilterClass) -> u32 {
        let hw = match (class, self.config.flow_director) {
            (FilterClass::FlowDirectorPerfect, FdirMode::Perfect) => FDIR_PERFECT_HW,
            (FilterClass::FlowDirectorSignature, FdirMode::Signature) => FDIR_SIGNATURE_HW,
            _ => 0,
        };
        hw.min(FDIR as u32)
    }

    fn fdir_program(&mut self, input: &FdirInput, index: u32, cmd: u32, a: FilterAction) {
        use regs::fdir_field as f;
        let bucket = fdir::bucket_hash(input, self.config.fdir_hash_key);
        let hash = if self.config.flow_director == FdirMode::Perfect {
            // Perfect mode: the field registers hold the flow, the hash
            // register the bucket and our software index (§7.1.2.7.10).
            self.write(FDIRIPSA, input.src_ip);
            self.write(FDIRIPDA, input.dst_ip);
            self.write(
                FDIRPORT,
                (u32::from(input.dst_port) << 16) | u32::from(input.src_port),
            );
            self.write(FDIRVLAN, 0);
            bucket | f::HASH_VALID | f::sig_sw_index(index)
        } else {
            let sig = fdir::signature(input, self.config.fdir_signature_key);
            bucket | f::HASH_VALID | (sig << 16)
        };
        self.write(FDIRHASH, hash);
        let mut c = cmd
            | f::FILTER_UPDATE
            | f::l4type(u32::from(input.flow_type))
            | f::QUEUE_EN
            | f::rx_queue(u32::from(a.queue));
        if a.low_latency {
            c |= f::INT;
        }
        self.write(FDIRCMD, c);
    }

    fn install_fdir(
        &mut self,
        class: FilterClass,
        rule: &FlowRule,
        a: FilterAction,
    ) -> Result<u32, ErrorKind> {
        if self.fdir_capacity(class) == 0 {
            return Err(ErrorKind::Unsupported);
        }
        let input = fdir_input_of(rule)?;
        if self.fdir_used >= self.fdir_capacity(class) {
            return Err(ErrorKind::NoResources);
        }
        // The device keys a filter by its flow (perfect) or by its bucket
        // hash and signature (signature): a second rule with the same key
        // would overwrite the first in the device (FDIRCMD.FILTER_UPDATE).
        let key = |i: &FdirInput| {
            (
                fdir::bucket_hash(i, self.config.fdir_hash_key),
                fdir::signature(i, self.config.fdir_signature_key),
            )
        };
        for e in self.fdir.iter().flatten() {
            if e.input == input {
                return Err(ErrorKind::InvalidArgument);
            }
            if self.config.flow_director == FdirMode::Signature && key(&e.input) == key(&input) {
                return Err(ErrorKind::NoResources);
            }
        }
        let i = self
            .fdir
            .iter()
            .position(Option::is_none)
            .ok_or(ErrorKind::NoResources)?;
        self.fdir_program(&input, i as u32, regs::fdir_field::CMD_ADD_FLOW, a);
        self.fdir[i] = Some(FdirEntry { input });
        self.fdir_used += 1;
        Ok(i as u32)
    }
}

/// A rule in 5-tuple filter form (IPv4 only; addresses exact or wildcard).
struct FiveTuple {
    protocol: Option<L4Protocol>,
    src: Option<Ipv4Addr>,
    dst: Option<Ipv4Addr>,
    src_port: Option<u16>,
    dst_port: Option<u16>,
}

fn v4(a: IpAddr) -> Result<Ipv4Addr, ErrorKind> {
    match a {
        IpAddr::V4(a) => Ok(a),
        IpAddr::V6(_) => Err(ErrorKind::Unsupported),
    }
}

fn v4_sock(s: SocketAddr) -> Result<(Ipv4Addr, u16), ErrorKind> {
    Ok((v4(s.ip())?, s.port()))
}

fn five_tuple_of(rule: &FlowRule) -> Result<FiveTuple, ErrorKind> {
    rule.validate()?;
    Ok(match *rule {
        FlowRule::Port {
            protocol,
            port,
            addr,
        } => FiveTuple {
            protocol: Some(protocol),
            src: None,
            dst: addr.map(v4).transpose()?,
            src_port: None,
            dst_port: Some(port),
        },
        FlowRule::TcpConnection { src, dst } => {
            let (s, sp) = v4_sock(src)?;
            let (d, dp) = v4_sock(dst)?;
            FiveTuple {
                protocol: Some(L4Protocol::Tcp),
                src: Some(s),
                dst: Some(d),
                src_port: Some(sp),
                dst_port: Some(dp),
            }
        }
        FlowRule::Masked(MaskedTuple {
            protocol,
            src,
            dst,
            src_port,
            dst_port,
        }) => {
            // The 5-tuple masks are per field: a prefix must be all or nothing.
            let exact = |p: Option<nic_traits::IpPrefix>| -> Result<Option<Ipv4Addr>, ErrorKind> {
                match p {
                    None => Ok(None),
                    Some(p) if p.len == 0 => {
                        v4(p.addr)?;
                        Ok(None)
                    }
                    Some(p) if p.len == 32 => Ok(Some(v4(p.addr)?)),
                    Some(_) => Err(ErrorKind::Unsupported),
                }
            };
            FiveTuple {
                protocol,
                src: exact(src)?,
                dst: exact(dst)?,
                src_port,
                dst_port,
            }
        }
        _ => return Err(ErrorKind::Unsupported),
    })
}

fn fdir_input_of(rule: &FlowRule) -> Result<FdirInput, ErrorKind> {
    // With all fields compared (global masks zero), only fully specified
    // IPv4 flows can be expressed.
    let t = five_tuple_of(rule)?;
    let flow_type = match t.protocol {
        Some(L4Protocol::Tcp) => fdir::flow_type::TCPV4,
        Some(L4Protocol::Udp) => fdir::flow_type::UDPV4,
        Some(L4Protocol::Sctp) => fdir::flow_type::SCTPV4,
        _ => return Err(ErrorKind::Unsupported),
    };
    match (t.src, t.dst, t.src_port, t.dst_port) {
        (Some(s), Some(d), Some(sp), Some(dp)) => Ok(FdirInput {
            flow_type,
            src_ip: u32::from(s),
            dst_ip: u32::from(d),
            src_port: sp,
            dst_port: dp,
        }),
        _ => Err(ErrorKind::Unsupported),
    }
}

impl<R, D, T, const RXN: usize, const TXN: usize, const FDIR: usize> ErrorType
    for Ixgbe<R, D, T, RXN, TXN, FDIR>
{
    type Error = ErrorKind;
}

impl<R, D, T, const RXN: usize, const TXN: usize, const FDIR: usize> CardDriver
    for Ixgbe<R, D, T, RXN, TXN, FDIR>
where
    R: RegisterAccess + Clone + Send,
    D: Dma,
    T: DelayNs,
{
    type Queue = IxgbeQueue<R, RXN, TXN>;

    fn info(&self) -> CardInfo {
        CardInfo {
            queues: QUEUE_PAIRS,
            vectors: VECTORS,
            max_frame_len: MAX_FRAME_LEN,
            offloads: Offloads::RX_IPV4_CSUM
                | Offloads::RX_L4_CSUM
                | Offloads::TX_IPV4_CSUM
                | Offloads::TX_L4_CSUM
                | Offloads::RSS_HASH,
            reta_len: RETA_LEN as u16,
        }
    }

    /// Resets the card (see [`CardDriver::reset`]); `InvalidState` while a
    /// queue driver is out (not given back with
    /// [`return_queue`](CardDriver::return_queue)).
    fn reset(&mut self) -> Result<(), ErrorKind> {
        if self.queues_out != 0 {
            return Err(ErrorKind::InvalidState);
        }
        self.bring_up()
    }

    fn mac_address(&self) -> MacAddr {
        self.mac
    }

    fn set_rx_mode(&mut self, mode: RxMode) -> Result<(), ErrorKind> {
        let mut f = Fctrl::from_bits_retain(self.read(FCTRL));
        f.set(Fctrl::UPE, mode.promiscuous);
        f.set(Fctrl::MPE, mode.all_multicast);
        f.set(Fctrl::BAM, mode.broadcast);
        self.write(FCTRL, f.bits());
        Ok(())
    }

    fn link(&mut self) -> LinkState {
        let l = Links::from_bits_retain(self.read(LINKS));
        if !l.contains(Links::LINK_UP) {
            return LinkState::Down;
        }
        LinkState::Up(match l.link_speed() {
            0b11 => LinkSpeed::Gbps10,
            0b10 => LinkSpeed::Gbps1,
            0b01 => LinkSpeed::Mbps100,
            _ => LinkSpeed::Other(0),
        })
    }

    fn stats(&mut self) -> Stats {
        self.read_stats();
        self.stats
    }

    fn queue(&mut self, index: u16, config: QueueConfig) -> Result<Self::Queue, ErrorKind> {
        self.check_queue(index)?;
        if self.queues_out & (1 << index) != 0 {
            return Err(ErrorKind::InvalidState);
        }
        let ring_ok = |n: u16, max: usize| {
            let n = usize::from(n);
            n.is_power_of_two() && n >= 8 && n <= max
        };
        if !ring_ok(config.rx_ring, RXN) || !ring_ok(config.tx_ring, TXN) {
            return Err(ErrorKind::InvalidArgument);
        }
        // SRRCTL.BSIZEPACKET is in 1 KB units, 1..=16 KB (§8.2.3.8.7). A
        // buffer must hold the largest frame whole: the 82599 spreads a
        // longer one over several descriptors (§7.1.6), which this driver
        // does not ask for.
        let kb = config.rx_buf_len / 1024;
        if !config.rx_buf_len.is_multiple_of(1024) || config.rx_buf_len < MIN_RX_BUF_LEN || kb > 16
        {
            return Err(ErrorKind::InvalidArgument);
        }
        let q = usize::from(index);
        let rx_len = usize::from(config.rx_ring);
        let tx_len = usize::from(config.tx_ring);
        // Rings are 128-byte aligned (RDBAL/TDBAL low 7 bits are zero).
        let rx_ring = self.dma.alloc(rx_len * crate::desc::DESC_LEN, 128)?;
        let tx_ring = match self.dma.alloc(tx_len * crate::desc::DESC_LEN, 128) {
            Ok(r) => r,
            Err(e) => {
                // SAFETY: the device was never given this region's address.
                unsafe { self.dma.dealloc(rx_ring) };
                return Err(e);
            }
        };
        let head_wb = match self.config.tx_completion {
            TxCompletion::HeadWriteBack => match self.dma.alloc(16, 16) {
                Ok(r) => Some(r),
                Err(e) => {
                    // SAFETY: the device was never given these regions' addresses.
                    unsafe {
                        self.dma.dealloc(rx_ring);
                        self.dma.dealloc(tx_ring);
                    }
                    return Err(e);
                }
            },
            TxCompletion::DescriptorDone => None,
        };
        // From here on the device knows the rings: on a timeout they stay
        // allocated (leaked) rather than freed under a device that may still
        // write them.

        // §4.6.7: receive queue.
        let base = rx_ring.phys();
        self.write(rdbal(q), base as u32);
        self.write(rdbah(q), (base >> 32) as u32);
        self.write(rdlen(q), (rx_len * crate::desc::DESC_LEN) as u32);
        let mut srr = self.read(srrctl(q));
        srr &=
            !(srrctl_field::BSIZEPACKET_MASK | srrctl_field::DESCTYPE_MASK | srrctl_field::DROP_EN);
        srr |= srrctl_field::bsizepacket(kb) | srrctl_field::DESCTYPE_ADV_ONEBUF;
        if self.config.rx_drop_enable {
            srr |= srrctl_field::DROP_EN;
        }
        self.write(srrctl(q), srr);
        self.write(rdh(q), 0);
        self.write(rdt(q), 0);
        let c = Rxdctl::from_bits_retain(self.read(rxdctl(q))) | Rxdctl::ENABLE;
        self.write(rxdctl(q), c.bits());
        self.wait(timeout::QUEUE_US, |r| {
            Rxdctl::from_bits_retain(r.read32(rxdctl(q))).contains(Rxdctl::ENABLE)
        })?;

        // §4.6.8: transmit queue.
        let base = tx_ring.phys();
        self.write(tdbal(q), base as u32);
        self.write(tdbah(q), (base >> 32) as u32);
        self.write(tdlen(q), (tx_len * crate::desc::DESC_LEN) as u32);
        self.write(tdh(q), 0);
        self.write(tdt(q), 0);
        if let Some(wb) = &head_wb {
            let a = wb.phys();
            self.write(tdwbah(q), (a >> 32) as u32);
            self.write(tdwbal(q), a as u32 | Tdwbal::HEAD_WB_EN.bits());
        } else {
            self.write(tdwbal(q), 0);
            self.write(tdwbah(q), 0);
        }
        // PTHRESH 32, HTHRESH 1, WTHRESH 0: write back every RS descriptor
        // at once (§7.2.3.4.1).
        let t = Txdctl::thresholds(32, 1, 0) | Txdctl::ENABLE.bits();
        self.write(txdctl(q), t);
        self.wait(timeout::QUEUE_US, |r| {
            Txdctl::from_bits_retain(r.read32(txdctl(q))).contains(Txdctl::ENABLE)
        })?;
        // Default vector: queue index modulo the vectors.
        self.set_queue_vector(index, index % VECTORS)?;
        self.queues_out |= 1 << index;
        self.rx_rings[q] = rx_ring.virt().as_ptr() as usize;
        Ok(IxgbeQueue::new(
            self.regs.clone(),
            QueueParts {
                index,
                rx_ring,
                rx_len,
                rx_buf_len: config.rx_buf_len,
                tx_ring,
                tx_len,
                completion: self.config.tx_completion,
                head_wb,
            },
        ))
    }

    fn stop_queue(&mut self, index: u16) -> Result<(), ErrorKind> {
        self.check_queue(index)?;
        self.disable_queue(usize::from(index))
    }

    /// Takes back a queue driver (see [`CardDriver::return_queue`]) and
    /// frees its ring memory once the device has stopped the queue.
    fn return_queue(&mut self, queue: Self::Queue) -> Result<(), ErrorKind> {
        let index = nic_traits::QueueDriver::index(&queue);
        self.check_queue(index)?;
        let q = usize::from(index);
        // Only the driver this card handed out for `index` is taken back:
        // its receive ring is the memory the card allocated for it.
        if self.queues_out & (1 << index) == 0 || self.rx_rings[q] != queue.rx_ring_addr() {
            return Err(ErrorKind::InvalidArgument);
        }
        // On a timeout the driver (and its ring memory) is dropped without
        // freeing and the index stays taken: the device may still write.
        self.disable_queue(q)?;
        let (rx, tx, wb) = queue.into_rings();
        // SAFETY: the device has stopped the queue (RXDCTL/TXDCTL.ENABLE read
        // back clear) and the card no longer has the index out, so nothing
        // gives the device these addresses again before a new `queue`
        // programs fresh rings.
        unsafe {
            self.dma.dealloc(rx);
            self.dma.dealloc(tx);
            if let Some(wb) = wb {
                self.dma.dealloc(wb);
            }
        }
        self.queues_out &= !(1 << index);
        Ok(())
    }

    fn filter_capacity(&self, class: FilterClass) -> FilterCapacity {
        match class {
            FilterClass::EtherType => FilterCapacity {
                total: ETYPE_FILTERS as u32,
                used: self.etqf_used.count_ones(),
            },
            FilterClass::FiveTuple => FilterCapacity {
                total: FIVE_TUPLE_FILTERS as u32,
                used: self.ftqf_used.count_ones(),
            },
            FilterClass::Syn => FilterCapacity {
                total: 1,
                used: u32::from(self.syn_used),
            },
            FilterClass::FlowDirectorPerfect | FilterClass::FlowDirectorSignature => {
                let total = self.fdir_capacity(class);
                FilterCapacity {
                    total,
                    used: if total == 0 { 0 } else { self.fdir_used },
                }
            }
            _ => FilterCapacity::default(),
        }
    }

    /// Installs `rule` (see [`CardDriver::install_filter`]).
    ///
    /// - EtherType: [`FlowRule::EtherType`] except IPv4/IPv6.
    /// - 5-tuple: IPv4 port, connection and masked rules whose prefixes
    ///   are /32 or /0; `action.priority` 1..=7 (0 means 1), the highest
    ///   matching priority wins, the lowest index among equals.
    /// - SYN: [`FlowRule::TcpSyn`], one entry; [`Config::syn_before_five_tuple`]
    ///   decides whether it beats the 5-tuple filters.
    /// - Flow Director (in the mode [`Config::flow_director`] selects): fully
    ///   specified IPv4 TCP/UDP/SCTP flows; a duplicate is `InvalidArgument`,
    ///   a signature collision `NoResources`.
    fn install_filter(
        &mut self,
        class: FilterClass,
        rule: &FlowRule,
        action: FilterAction,
    ) -> Result<FilterHandle, ErrorKind> {
        rule.validate()?;
        self.check_queue(action.queue)?;
        let index = match class {
            FilterClass::EtherType => self.install_etype(rule, action)?,
            FilterClass::FiveTuple => self.install_five_tuple(rule, action)?,
            FilterClass::Syn => self.install_syn(rule, action)?,
            FilterClass::FlowDirectorPerfect | FilterClass::FlowDirectorSignature => {
                self.install_fdir(class, rule, action)?
            }
            _ => return Err(ErrorKind::Unsupported),
        };
        Ok(FilterHandle { class, index })
    }

    fn remove_filter(&mut self, handle: FilterHandle) -> Result<(), ErrorKind> {
        let i = handle.index as usize;
        match handle.class {
            FilterClass::EtherType if i < ETYPE_FILTERS && self.etqf_used & (1 << i) != 0 => {
                self.write(etqf(i), 0);
                self.write(etqs(i), 0);
                self.etqf_used &= !(1 << i);
            }
            FilterClass::FiveTuple if i < FIVE_TUPLE_FILTERS && self.ftqf_used & (1 << i) != 0 => {
                self.write(ftqf(i), 0);
                self.ftqf_used &= !(1 << i);
            }
            FilterClass::Syn if i == 0 && self.syn_used => {
                self.write(SYNQF, 0);
                self.syn_used = false;
            }
            FilterClass::FlowDirectorPerfect | FilterClass::FlowDirectorSignature
                if self.fdir_capacity(handle.class) > 0 =>
            {
                let Some(entry) = self.fdir.get(i).copied().flatten() else {
                    return Err(ErrorKind::NotFound);
                };
                self.fdir_program(
                    &entry.input,
                    handle.index,
                    regs::fdir_field::CMD_REMOVE_FLOW,
                    FilterAction::default(),
                );
                self.fdir[i] = None;
                self.fdir_used -= 1;
            }
            _ => return Err(ErrorKind::NotFound),
        }
        Ok(())
    }

    fn set_rss(&mut self, config: &RssConfig<'_>) -> Result<(), ErrorKind> {
        use regs::mrqc_field as m;
        if config.fields.is_empty() {
            self.write(MRQC, 0);
            return Ok(());
        }
        if config.key.len() != RSS_KEY_LEN
            || config.reta.is_empty()
            || config.reta.len() > RETA_LEN
            || config.reta.iter().any(|&q| q >= RSS_QUEUES)
        {
            return Err(ErrorKind::InvalidArgument);
        }
        // RSSRK(i) holds key bytes 4i..4i+4, byte 4i in bits 7:0 (§8.2.3.7.15).
        for (i, k) in config.key.chunks_exact(4).enumerate() {
            self.write(rssrk(i), u32::from_le_bytes([k[0], k[1], k[2], k[3]]));
        }
        // RETA(n) holds entries 4n..4n+4, entry 4n in bits 7:0 (§8.2.3.7.14);
        // a shorter table repeats.
        for n in 0..RETA_LEN / 4 {
            let mut v = 0u32;
            for j in 0..4 {
                let e = config.reta[(4 * n + j) % config.reta.len()];
                v |= u32::from(e & 0xF) << (8 * j);
            }
            self.write(reta(n), v);
        }
        let f = config.fields;
        let mut mrqc = m::MRQE_RSS;
        for (flag, bit) in [
            (RssHashFields::IPV4, m::IPV4),
            (RssHashFields::IPV4_TCP, m::TCPIPV4),
            (RssHashFields::IPV4_UDP, m::UDPIPV4),
            (RssHashFields::IPV6, m::IPV6),
            (RssHashFields::IPV6_TCP, m::TCPIPV6),
            (RssHashFields::IPV6_UDP, m::UDPIPV6),
        ] {
            if f.contains(flag) {
                mrqc |= bit;
            }
        }
        self.write(MRQC, mrqc);
        Ok(())
    }

    fn set_queue_vector(&mut self, queue: u16, vector: u16) -> Result<(), ErrorKind> {
        self.check_queue(queue)?;
        if vector >= MSIX_VECTORS {
            return Err(ErrorKind::InvalidArgument);
        }
        let q = usize::from(queue);
        let entry = u32::from(vector) | regs::ivar_field::ALLOC_VAL;
        let mut v = self.read(ivar(q / 2));
        for tx in [false, true] {
            let s = regs::ivar_field::shift(q, tx);
            v = (v & !(0xFF << s)) | (entry << s);
        }
        self.write(ivar(q / 2), v);
        Ok(())
    }

    /// Sets EITR's interval (2 µs units, at most 1022 µs). EITR.LLI_MOD
    /// stays clear, so low-latency interrupts from filters with
    /// [`FilterAction::low_latency`] are not held back by the interval.
    fn set_moderation(&mut self, vector: u16, interval_us: u32) -> Result<(), ErrorKind> {
        if vector >= MSIX_VECTORS {
            return Err(ErrorKind::InvalidArgument);
        }
        use regs::eitr_field as e;
        self.write(
            eitr(usize::from(vector)),
            e::interval_us(interval_us) | e::CNT_WDIS,
        );
        Ok(())
    }

    fn interrupt_causes(&mut self) -> InterruptCauses {
        let r = Eicr::from_bits_retain(self.read(EICR));
        // Write-1-to-clear what was read, whatever GPIE.OCD says (§8.2.3.5.1).
        self.write(EICR, r.bits());
        let mut events = CardEvents::empty();
        if r.contains(Eicr::LSC) {
            events |= CardEvents::LINK_CHANGE;
        }
        if r.intersects(Eicr::PCI_EXCEPTION | Eicr::ECC) {
            events |= CardEvents::DEVICE_ERROR;
        }
        InterruptCauses {
            events,
            vectors: u64::from(r.bits() & Eicr::RTXQ.bits()),
        }
    }
}
