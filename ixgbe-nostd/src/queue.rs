//! Queue drivers: one per RX/TX queue pair, owning only its ring registers
//! and ring memory.

use core::ptr::NonNull;
use core::sync::atomic::{Ordering, fence};

use nic_traits::{
    Batch, DmaRegion, ErrorKind, ErrorType, PacketBuf, QueueDriver, RegisterAccess, RxFlags,
    TxFlags,
};
use zerocopy::little_endian::{U32, U64};

use crate::desc::{self, AdvTxContext, AdvTxData, rss_type, rx_error, rx_status, tx};
use crate::regs;

/// How the driver learns that transmit descriptors are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TxCompletion {
    /// Read the DD bit the device writes back into each descriptor (RS set
    /// on every descriptor, §7.2.3.5.1).
    #[default]
    DescriptorDone,
    /// The device writes its head pointer to host memory (TDWBAL/TDWBAH,
    /// §7.2.3.5.2); one read per reclaim instead of one per descriptor.
    HeadWriteBack,
}

/// Largest frame a single transmit descriptor can carry (DTALEN, §7.2.3.2.4).
pub const MAX_TX_LEN: u32 = 0x3FFF;

/// Checksum context the device holds in its context slot 0 (§7.2.3.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TxContextKey {
    flags: u16,
    l2_len: u8,
    l3_len: u16,
}

/// A ring of descriptors in DMA memory seen as `[u64; 2]` words.
#[derive(Debug)]
struct Ring {
    region: DmaRegion,
    base: NonNull<[u64; 2]>,
    mask: usize,
}

impl Ring {
    fn new(region: DmaRegion, len: usize) -> Self {
        let base = region.virt().cast::<[u64; 2]>();
        Self {
            region,
            base,
            mask: len - 1,
        }
    }

    fn len(&self) -> usize {
        self.mask + 1
    }

    #[inline(always)]
    fn read_hi(&self, i: usize) -> u64 {
        // SAFETY: `i & mask < len`, the region holds `len` 16-byte
        // descriptors (checked when the ring was built) and is 128-byte
        // aligned; the device may write it concurrently, hence volatile.
        u64::from_le(unsafe {
            (&raw const (*self.base.as_ptr().add(i & self.mask))[1]).read_volatile()
        })
    }

    #[inline(always)]
    fn read_lo(&self, i: usize) -> u64 {
        // SAFETY: as in `read_hi`.
        u64::from_le(unsafe {
            (&raw const (*self.base.as_ptr().add(i & self.mask))[0]).read_volatile()
        })
    }

    #[inline(always)]
    fn write(&self, i: usize, w: [u64; 2]) {
        // SAFETY: as in `read_hi`; the slot is owned by the driver (not
        // posted) while it is written.
        unsafe {
            self.base
                .as_ptr()
                .add(i & self.mask)
                .write_volatile([w[0].to_le(), w[1].to_le()])
        }
    }

    #[inline(always)]
    fn clear_hi(&self, i: usize) {
        // SAFETY: as in `write`.
        unsafe { (&raw mut (*self.base.as_ptr().add(i & self.mask))[1]).write_volatile(0) }
    }
}

// SAFETY: the ring pointer refers to the owned `region`, which is `Send`.
unsafe impl Send for Ring {}

/// What the card hands a new queue driver.
#[derive(Debug)]
pub(crate) struct QueueParts {
    pub index: u16,
    pub rx_ring: DmaRegion,
    pub rx_len: usize,
    pub rx_buf_len: u32,
    pub tx_ring: DmaRegion,
    pub tx_len: usize,
    pub completion: TxCompletion,
    pub head_wb: Option<DmaRegion>,
}

/// The driver of one 82599 RX/TX queue pair.
///
/// `RXN` and `TXN` bound the ring sizes (the bookkeeping for posted buffers
/// lives inline). It touches only its own ring registers (RDT, TDT, and
/// EIMS/EIMC bits of its own vector, which are write-1-to-set/clear so no
/// other owner's bits change), takes no lock and is `Send`.
#[derive(Debug)]
pub struct IxgbeQueue<R, const RXN: usize, const TXN: usize> {
    regs: R,
    index: u16,
    rx: Ring,
    rx_bufs: [Option<PacketBuf>; RXN],
    rx_buf_len: u32,
    /// Next slot to complete.
    rx_next: usize,
    /// Slots posted to the device, from `rx_next` on.
    rx_posted: usize,
    tx: Ring,
    tx_bufs: [Option<PacketBuf>; TXN],
    /// Oldest slot not yet reclaimed.
    tx_clean: usize,
    /// Slots in use from `tx_clean` on (data and context descriptors).
    tx_used: usize,
    tx_ctx: Option<TxContextKey>,
    completion: TxCompletion,
    head_wb: Option<DmaRegion>,
    stopped: bool,
}

impl<R: RegisterAccess, const RXN: usize, const TXN: usize> IxgbeQueue<R, RXN, TXN> {
    pub(crate) fn new(regs: R, p: QueueParts) -> Self {
        Self {
            regs,
            index: p.index,
            rx: Ring::new(p.rx_ring, p.rx_len),
            rx_bufs: [const { None }; RXN],
            rx_buf_len: p.rx_buf_len,
            rx_next: 0,
            rx_posted: 0,
            tx: Ring::new(p.tx_ring, p.tx_len),
            tx_bufs: [const { None }; TXN],
            tx_clean: 0,
            tx_used: 0,
            tx_ctx: None,
            completion: p.completion,
            head_wb: p.head_wb,
            stopped: false,
        }
    }

    /// Receive ring size in descriptors.
    pub fn rx_ring_len(&self) -> usize {
        self.rx.len()
    }

    /// Transmit ring size in descriptors.
    pub fn tx_ring_len(&self) -> usize {
        self.tx.len()
    }

    /// Gives back the ring memory after [`release`](QueueDriver::release)
    /// emptied the queue (for the host to free once the queue is stopped).
    pub fn into_rings(self) -> (DmaRegion, DmaRegion, Option<DmaRegion>) {
        (self.rx.region, self.tx.region, self.head_wb)
    }

    #[inline(always)]
    fn rx_meta(lo: u64, hi: u64, buf: &mut PacketBuf) {
        let info = lo as u32;
        let status = hi as u32;
        let mut flags = RxFlags::empty();
        if info & 0xF != rss_type::NONE {
            flags |= RxFlags::RSS_HASH;
        }
        if status & rx_status::IPCS != 0 {
            flags |= if status & rx_error::IPE != 0 {
                RxFlags::IPV4_CSUM_BAD
            } else {
                RxFlags::IPV4_CSUM_OK
            };
        }
        if status & rx_status::L4I != 0 {
            flags |= if status & rx_error::L4E != 0 {
                RxFlags::L4_CSUM_BAD
            } else {
                RxFlags::L4_CSUM_OK
            };
        }
        if status & rx_status::VP != 0 {
            flags |= RxFlags::VLAN_STRIPPED;
        }
        if status & rx_status::FLM != 0 || (info >> 4) as u16 & desc::packet_type::ETQF != 0 {
            flags |= RxFlags::FILTER_MATCH;
        }
        buf.rx.flags = flags;
        buf.rx.rss_hash = (lo >> 32) as u32;
        buf.rx.vlan_tci = (hi >> 48) as u16;
        buf.rx.packet_type = ((info >> 4) & 0x1FFF) as u16;
    }

    fn tx_context(&self, buf: &PacketBuf) -> Option<TxContextKey> {
        let f = buf.tx.flags;
        if f.is_empty() {
            return None;
        }
        Some(TxContextKey {
            flags: f.bits(),
            l2_len: buf.tx.l2_len,
            l3_len: buf.tx.l3_len,
        })
    }

    /// Completed transmit slots according to the head write-back, validated.
    fn tx_done_by_head(&self) -> Result<usize, ErrorKind> {
        let Some(wb) = &self.head_wb else {
            return Err(ErrorKind::InvalidState);
        };
        // SAFETY: the region is at least 4 bytes, 16-byte aligned, owned by
        // this queue; the device writes it, hence volatile.
        let head = u32::from_le(unsafe { wb.virt().cast::<u32>().as_ptr().read_volatile() });
        let head = head as usize;
        if head >= self.tx.len() {
            return Err(ErrorKind::DeviceFault);
        }
        let done = head.wrapping_sub(self.tx_clean) & self.tx.mask;
        // A head beyond the tail: the device claims descriptors never posted.
        if done > self.tx_used {
            return Err(ErrorKind::DeviceFault);
        }
        Ok(done)
    }
}

impl<R, const RXN: usize, const TXN: usize> ErrorType for IxgbeQueue<R, RXN, TXN> {
    type Error = ErrorKind;
}

impl<R: RegisterAccess + Send, const RXN: usize, const TXN: usize> QueueDriver
    for IxgbeQueue<R, RXN, TXN>
{
    fn index(&self) -> u16 {
        self.index
    }

    fn rx_burst<const N: usize>(&mut self, out: &mut Batch<N>) -> Result<usize, ErrorKind> {
        if self.stopped {
            return Err(ErrorKind::InvalidState);
        }
        let mut n = 0;
        while self.rx_posted > 0 && !out.is_full() {
            let i = self.rx_next;
            let hi = self.rx.read_hi(i);
            if hi as u32 & rx_status::DD == 0 {
                break;
            }
            // Read the rest of the descriptor only after DD was seen: the
            // device writes DD last (§7.1.6.2), and the acquire fence keeps
            // the second load after the first.
            fence(Ordering::Acquire);
            let lo = self.rx.read_lo(i);
            let len = (hi >> 32) as u16 as u32;
            if hi as u32 & rx_status::EOP == 0 || len > self.rx_buf_len {
                // Multi-descriptor frames are never enabled and a length
                // beyond the posted buffer cannot be true: keep the buffer.
                return Err(ErrorKind::DeviceFault);
            }
            let Some(mut buf) = self.rx_bufs[i].take() else {
                return Err(ErrorKind::DeviceFault);
            };
            if buf.set_len(len).is_err() {
                self.rx_bufs[i] = Some(buf);
                return Err(ErrorKind::DeviceFault);
            }
            Self::rx_meta(lo, hi, &mut buf);
            // Clear DD so a stale write-back cannot be mistaken for a new one.
            self.rx.clear_hi(i);
            self.rx_next = (i + 1) & self.rx.mask;
            self.rx_posted -= 1;
            if out.push_back(buf).is_err() {
                // Unreachable: `out` had room; never drop a buffer anyway.
                return Err(ErrorKind::Other);
            }
            n += 1;
        }
        // The first slot not posted must not be done: a device that writes
        // DD there completed a descriptor it was never given.
        let free = (self.rx_next + self.rx_posted) & self.rx.mask;
        if self.rx.read_hi(free) as u32 & rx_status::DD != 0 {
            return Err(ErrorKind::DeviceFault);
        }
        Ok(n)
    }

    fn refill<const N: usize>(&mut self, bufs: &mut Batch<N>) -> Result<usize, ErrorKind> {
        if self.stopped {
            return Err(ErrorKind::InvalidState);
        }
        let cap = self.rx.mask; // one slot stays empty: RDH == RDT means empty
        let mut n = 0;
        let mut result = Ok(());
        while self.rx_posted < cap {
            let Some(buf) = bufs.pop_front() else { break };
            if buf.capacity() - buf.headroom() < self.rx_buf_len {
                // The device may write `rx_buf_len` bytes: refuse a smaller buffer.
                let _ = bufs.push_front(buf);
                result = Err(ErrorKind::InvalidArgument);
                break;
            }
            let i = (self.rx_next + self.rx_posted) & self.rx.mask;
            self.rx.write(i, [buf.phys_addr(), 0]);
            self.rx_bufs[i] = Some(buf);
            self.rx_posted += 1;
            n += 1;
        }
        if n > 0 {
            // Descriptor stores must reach memory before the doorbell.
            fence(Ordering::Release);
            let tail = (self.rx_next + self.rx_posted) & self.rx.mask;
            self.regs
                .write32(regs::rdt(usize::from(self.index)), tail as u32);
        }
        result.map(|()| n)
    }

    fn rx_free(&self) -> usize {
        self.rx.mask - self.rx_posted
    }

    fn tx_burst<const N: usize>(&mut self, bufs: &mut Batch<N>) -> Result<usize, ErrorKind> {
        if self.stopped {
            return Err(ErrorKind::InvalidState);
        }
        let cap = self.tx.mask;
        let mut n = 0;
        let mut result = Ok(());
        let mut tail = (self.tx_clean + self.tx_used) & self.tx.mask;
        while let Some(front) = bufs.front() {
            let len = front.len();
            if len == 0 || len > MAX_TX_LEN {
                result = Err(ErrorKind::InvalidArgument);
                break;
            }
            let ctx = self.tx_context(front);
            let need_ctx = ctx.is_some() && ctx != self.tx_ctx;
            if self.tx_used + 1 + usize::from(need_ctx) > cap {
                break;
            }
            let Some(buf) = bufs.pop_front() else { break };
            let mut popts = 0;
            if let Some(key) = ctx {
                if need_ctx {
                    let mut tucmd = 0;
                    let f = TxFlags::from_bits_retain(key.flags);
                    if f.contains(TxFlags::IPV4_CSUM) {
                        tucmd |= tx::TUCMD_IPV4;
                    }
                    if f.contains(TxFlags::TCP_CSUM) {
                        tucmd |= tx::TUCMD_L4T_TCP;
                    }
                    let c = AdvTxContext {
                        vlan_macip_lens: U32::new(
                            u32::from(key.l3_len & 0x1FF)
                                | (u32::from(key.l2_len & 0x7F) << tx::MACLEN_SHIFT),
                        ),
                        seqnum_seed: U32::new(0),
                        type_tucmd_mlhl: U32::new(tucmd | tx::DTYP_CTXT | tx::DCMD_DEXT),
                        mss_l4len_idx: U32::new(0),
                    };
                    self.tx.write(tail, desc::to_words(&c));
                    self.tx_bufs[tail] = None;
                    tail = (tail + 1) & self.tx.mask;
                    self.tx_used += 1;
                    self.tx_ctx = ctx;
                }
                let f = TxFlags::from_bits_retain(key.flags);
                popts |= tx::CC;
                if f.contains(TxFlags::IPV4_CSUM) {
                    popts |= tx::POPTS_IXSM;
                }
                if f.intersects(TxFlags::TCP_CSUM | TxFlags::UDP_CSUM) {
                    popts |= tx::POPTS_TXSM;
                }
            }
            let d = AdvTxData {
                buffer_addr: U64::new(buf.phys_addr()),
                cmd_type_len: U32::new(
                    len | tx::DTYP_DATA
                        | tx::DCMD_DEXT
                        | tx::DCMD_IFCS
                        | tx::DCMD_EOP
                        | tx::DCMD_RS,
                ),
                olinfo_status: U32::new((len << tx::PAYLEN_SHIFT) | popts),
            };
            self.tx.write(tail, desc::to_words(&d));
            self.tx_bufs[tail] = Some(buf);
            tail = (tail + 1) & self.tx.mask;
            self.tx_used += 1;
            n += 1;
        }
        if n > 0 {
            // Descriptor stores must reach memory before the doorbell.
            fence(Ordering::Release);
            self.regs
                .write32(regs::tdt(usize::from(self.index)), tail as u32);
        }
        result.map(|()| n)
    }

    fn tx_reclaim<const N: usize>(&mut self, done: &mut Batch<N>) -> Result<usize, ErrorKind> {
        let mut n = 0;
        match self.completion {
            TxCompletion::HeadWriteBack => {
                let mut left = self.tx_done_by_head()?;
                fence(Ordering::Acquire);
                while left > 0 && !done.is_full() {
                    let i = self.tx_clean;
                    if let Some(buf) = self.tx_bufs[i].take() {
                        if done.push_back(buf).is_err() {
                            return Err(ErrorKind::Other);
                        }
                        n += 1;
                    }
                    self.tx_clean = (i + 1) & self.tx.mask;
                    self.tx_used -= 1;
                    left -= 1;
                }
            }
            TxCompletion::DescriptorDone => {
                while self.tx_used > 0 && !done.is_full() {
                    let i = self.tx_clean;
                    // A context descriptor completes with the data
                    // descriptor after it, which always follows in the ring.
                    let data = if self.tx_bufs[i].is_none() {
                        (i + 1) & self.tx.mask
                    } else {
                        i
                    };
                    if data != i && self.tx_used < 2 {
                        return Err(ErrorKind::DeviceFault);
                    }
                    let hi = self.tx.read_hi(data);
                    if (hi >> 32) as u32 & tx::STA_DD == 0 {
                        break;
                    }
                    fence(Ordering::Acquire);
                    let Some(buf) = self.tx_bufs[data].take() else {
                        return Err(ErrorKind::DeviceFault);
                    };
                    if done.push_back(buf).is_err() {
                        return Err(ErrorKind::Other);
                    }
                    let used = 1 + usize::from(data != i);
                    self.tx_clean = (data + 1) & self.tx.mask;
                    self.tx_used -= used;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    fn tx_free(&self) -> usize {
        self.tx.mask - self.tx_used
    }

    fn set_interrupt(&mut self, enabled: bool) -> Result<(), ErrorKind> {
        let q = usize::from(self.index);
        // Read (never write) the IVAR entry the card programmed for our
        // receive side to learn our vector.
        let ivar = self.regs.read32(regs::ivar(q / 2)) >> regs::ivar_field::shift(q, false);
        if ivar & regs::ivar_field::ALLOC_VAL == 0 {
            return Err(ErrorKind::InvalidState);
        }
        let vector = ivar & regs::ivar_field::VECTOR_MASK;
        if vector >= 16 {
            return Err(ErrorKind::Unsupported);
        }
        // EIMS/EIMC are write-1-to-set/clear: no read-modify-write, no lock.
        let reg = if enabled { regs::EIMS } else { regs::EIMC };
        self.regs.write32(reg, 1 << vector);
        Ok(())
    }

    fn release<const N: usize>(&mut self, out: &mut Batch<N>) -> usize {
        self.stopped = true;
        let mut n = 0;
        for slot in self.rx_bufs.iter_mut().chain(self.tx_bufs.iter_mut()) {
            if out.is_full() {
                break;
            }
            if let Some(buf) = slot.take() {
                if let Err(buf) = out.push_back(buf) {
                    *slot = Some(buf);
                    break;
                }
                n += 1;
            }
        }
        if self.rx_bufs.iter().all(Option::is_none) {
            self.rx_posted = 0;
        }
        if self.tx_bufs.iter().all(Option::is_none) {
            self.tx_used = 0;
        }
        n
    }
}
