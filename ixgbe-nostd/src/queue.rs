//! Queue drivers: one per RX/TX queue pair, owning only its ring registers
//! and ring memory.

use core::mem::MaybeUninit;
use core::ptr::NonNull;
use core::sync::atomic::{Ordering, fence};

use nic_traits::{
    Batch, DmaRegion, ErrorKind, ErrorType, PacketBuf, QueueDriver, RegisterAccess, RxFlags,
    RxMeta, TxFlags,
};
use zerocopy::little_endian::U32;

use crate::desc::{self, AdvTxContext, rss_type, rx_error, rx_status, tx};
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

/// Receive flags from the write-back's status and error bits, indexed by
/// [`status_index`]: FLM, VP, L4I, IPCS, L4E, IPE.
const STATUS_FLAGS: [u16; 128] = {
    let mut t = [0u16; 128];
    let mut i = 0;
    while i < 128 {
        let status = ((i as u32 & 0x1B) << 2) | ((i as u32 & 0x60) << 25);
        let mut f = 0;
        if status & rx_status::IPCS != 0 {
            f |= if status & rx_error::IPE != 0 {
                RxFlags::IPV4_CSUM_BAD.bits()
            } else {
                RxFlags::IPV4_CSUM_OK.bits()
            };
        }
        if status & rx_status::L4I != 0 {
            f |= if status & rx_error::L4E != 0 {
                RxFlags::L4_CSUM_BAD.bits()
            } else {
                RxFlags::L4_CSUM_OK.bits()
            };
        }
        if status & rx_status::VP != 0 {
            f |= RxFlags::VLAN_STRIPPED.bits();
        }
        if status & rx_status::FLM != 0 {
            f |= RxFlags::FILTER_MATCH.bits();
        }
        t[i] = f;
        i += 1;
    }
    t
};

/// Packs FLM (2), VP (3), L4I (5), IPCS (6) and L4E (30), IPE (31) of the
/// status/error word into 7 bits.
#[inline(always)]
const fn status_index(status: u32) -> usize {
    (((status >> 2) & 0x1B) | ((status >> 25) & 0x60)) as usize
}

// The table index above takes these bits from the write-back.
const _: () = assert!(rx_status::L4I == 1 << 5 && rx_status::IPCS == 1 << 6);
const _: () = assert!(rx_error::L4E == 1 << 30 && rx_error::IPE == 1 << 31);
const _: () = assert!(rx_status::VP == 1 << 3 && rx_status::FLM == 1 << 2);

/// Receive metadata from the advanced receive write-back words (§7.1.6.2),
/// without branches: the [`RxDecoder`](nic_traits::RxDecoder) `rx_burst`
/// stores with every received frame's raw write-back, so the translation
/// costs only the frames whose metadata is asked for
/// ([`PacketBuf::rx`]).
///
/// # Examples
///
/// ```
/// use ixgbe_nostd::decode_rx_writeback;
/// use nic_traits::RxFlags;
/// // RSS type 2 (IPv4), hash 0x12345678; status DD|EOP|IPCS, length 60, VLAN 5.
/// let meta = decode_rx_writeback(&[0x1234_5678_0000_0012, 0x0005_003c_0000_0043]);
/// assert_eq!((meta.rss_hash, meta.vlan_tci, meta.packet_type), (0x1234_5678, 5, 1));
/// assert_eq!(meta.flags, RxFlags::RSS_HASH | RxFlags::IPV4_CSUM_OK);
/// ```
pub fn decode_rx_writeback(raw: &[u64; 2]) -> RxMeta {
    let [lo, hi] = *raw;
    let info = lo as u32;
    let status = hi as u32;
    let mut flags = STATUS_FLAGS[status_index(status)];
    // RSS_HASH when the RSS type (pkt_info 3:0) is not 0.
    flags |= u16::from(info & 0xF != rss_type::NONE) * RxFlags::RSS_HASH.bits();
    // FILTER_MATCH also from the ETQF packet-type bit (pkt_info 15).
    flags |= ((info >> 15) & 1) as u16 * RxFlags::FILTER_MATCH.bits();
    RxMeta {
        flags: RxFlags::from_bits_retain(flags),
        rss_hash: (lo >> 32) as u32,
        vlan_tci: (hi >> 48) as u16,
        packet_type: ((info >> 4) & 0x1FFF) as u16,
    }
}

/// The two words of an advanced transmit data descriptor (§7.2.3.2.4) for
/// one whole frame: `AdvTxData` packed without a round trip through memory.
#[inline(always)]
fn data_descriptor(addr: u64, len: u32, popts: u32) -> [u64; 2] {
    const CMD: u32 = tx::DTYP_DATA | tx::DCMD_DEXT | tx::DCMD_IFCS | tx::DCMD_EOP | tx::DCMD_RS;
    // DTALEN (15:0) and PAYLEN (63:46) are both `len` (below 2^14, so the
    // fields do not overlap): one multiplication places it twice.
    const TWICE: u64 = 1 | (1 << (32 + tx::PAYLEN_SHIFT));
    debug_assert!(len <= MAX_TX_LEN);
    [
        addr,
        (u64::from(len) * TWICE) | u64::from(CMD) | (u64::from(popts) << 32),
    ]
}

/// Largest frame a single transmit descriptor can carry (DTALEN, §7.2.3.2.4).
pub const MAX_TX_LEN: u32 = 0x3FFF;
/// Smallest frame `tx_burst` accepts: the 82599 needs a PAYLEN of at least
/// 17 bytes (§7.2.3.2.4; Intel's ixgbe driver pads shorter frames to 17 for
/// this reason). The device pads to 60 bytes itself (HLREG0.TXPADEN).
pub const MIN_TX_LEN: u32 = 17;
/// Largest untagged frame `tx_burst` accepts: the card's maximum frame
/// without FCS, jumbo frames being off (HLREG0.JUMBOEN clear).
pub const MAX_TX_FRAME: u32 = crate::card::MAX_FRAME_LEN as u32;
const _: () = assert!(MAX_TX_FRAME + 4 <= MAX_TX_LEN);

/// Whether a frame longer than [`MAX_TX_FRAME`] is an 802.1Q-tagged frame
/// of at most `MAX_TX_FRAME + 4` bytes (IEEE 802.1Q: the tag adds 4).
#[cold]
fn tagged_fits(buf: &PacketBuf) -> bool {
    let len = buf.len();
    len > MAX_TX_FRAME && len <= MAX_TX_FRAME + 4 && buf.data().get(12..14) == Some(&[0x81, 0x00])
}

/// Checksum context the device holds in its context slot 0 (§7.2.3.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TxContextKey {
    flags: u16,
    l2_len: u8,
    l3_len: u16,
}

/// Why a pass of `tx_burst` over the batch ended.
#[derive(Debug, Clone, Copy)]
enum TxStop {
    /// The batch is empty or every free descriptor is filled.
    Done,
    /// The front frame cannot be sent (length, header lengths).
    Invalid,
    /// The front frame needs this checksum context first.
    Context(TxContextKey),
}

/// A ring of descriptors in DMA memory seen as `[u64; 2]` words.
#[derive(Debug)]
struct Ring {
    region: DmaRegion,
    view: RingView,
}

/// Where a ring's descriptors are: copied into locals on the fast path so
/// the compiler keeps them in registers.
#[derive(Debug, Clone, Copy)]
struct RingView {
    base: NonNull<[u64; 2]>,
    mask: usize,
}

impl Ring {
    fn new(region: DmaRegion, len: usize) -> Self {
        let base = region.virt().cast::<[u64; 2]>();
        Self {
            region,
            view: RingView {
                base,
                mask: len - 1,
            },
        }
    }

    /// The view for a ring of at most `N` descriptors (every ring of a
    /// queue with slot arrays of `N`): the mask also bounded by `N - 1`, so
    /// the compiler sees that a masked ring index is a valid slot index and
    /// drops the second mask and the bounds check.
    #[inline(always)]
    fn bounded<const N: usize>(&self) -> RingView {
        RingView {
            base: self.view.base,
            mask: self.view.mask & (N - 1),
        }
    }
}

impl core::ops::Deref for Ring {
    type Target = RingView;

    fn deref(&self) -> &RingView {
        &self.view
    }
}

impl RingView {
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

    /// The upper half of the second word: a transmit descriptor's
    /// write-back status (STA in olinfo_status, §7.2.3.2.4).
    #[inline(always)]
    fn read_sta(&self, i: usize) -> u32 {
        // SAFETY: as in `read_hi`; bytes 12..16 of the descriptor, 4-byte
        // aligned, hold the little-endian upper half of its second word.
        u32::from_le(unsafe {
            (&raw const (*self.base.as_ptr().add(i & self.mask))[1])
                .cast::<u32>()
                .add(1)
                .read_volatile()
        })
    }

    /// Bytes 12..14 of the second word: a receive descriptor's write-back
    /// PKT_LEN (§7.1.6.2), read on its own so it arrives zero-extended.
    #[inline(always)]
    fn read_pkt_len(&self, i: usize) -> u16 {
        // SAFETY: as in `read_hi`; bytes 12..14 of the descriptor, 2-byte
        // aligned, hold the little-endian length.
        u16::from_le(unsafe {
            (&raw const (*self.base.as_ptr().add(i & self.mask))[1])
                .cast::<u16>()
                .add(2)
                .read_volatile()
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
        // Two 8-byte stores: a 16-byte volatile store of the array goes
        // through the stack.
        unsafe {
            let d = self.base.as_ptr().add(i & self.mask);
            (&raw mut (*d)[0]).write_volatile(w[0].to_le());
            (&raw mut (*d)[1]).write_volatile(w[1].to_le());
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

/// Receive buffers by ring slot. A slot holds a buffer exactly when it is
/// posted (in `rx_next..rx_next + rx_posted`, modulo the ring length): that
/// range is the only record, so taking a received buffer is one load and
/// posting one a store.
struct RxSlots<const N: usize>([MaybeUninit<PacketBuf>; N]);

impl<const N: usize> RxSlots<N> {
    const fn new() -> Self {
        Self([const { MaybeUninit::uninit() }; N])
    }

    /// Moves the buffer out of slot `i % N`.
    ///
    /// # Safety
    /// The slot is posted (holds a buffer), and the caller treats it as not
    /// posted from now on (advances `rx_next` or shrinks `rx_posted` past
    /// it), so the buffer is moved out once.
    #[inline(always)]
    unsafe fn take(&mut self, i: usize) -> PacketBuf {
        // SAFETY: the caller guarantees that the slot holds a buffer that is
        // not read again.
        unsafe { self.0[i % N].assume_init_read() }
    }

    /// Puts `buf` into slot `i % N`, which the caller posts. A slot that
    /// still held a buffer would leak it, never duplicate it.
    #[inline(always)]
    fn put(&mut self, i: usize, buf: PacketBuf) {
        self.0[i % N].write(buf);
    }
}

impl<const N: usize> core::fmt::Debug for RxSlots<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RxSlots")
            .field("slots", &N)
            .finish_non_exhaustive()
    }
}

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
    rx_bufs: RxSlots<RXN>,
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
    rx_chains_dropped: u64,
}

impl<R: RegisterAccess, const RXN: usize, const TXN: usize> IxgbeQueue<R, RXN, TXN> {
    pub(crate) fn new(regs: R, p: QueueParts) -> Self {
        // Slot indices are ring indices reduced modulo the capacity, which
        // is then a mask (rings are powers of two no larger than it).
        const { assert!(RXN.is_power_of_two() && TXN.is_power_of_two()) };
        Self {
            regs,
            index: p.index,
            rx: Ring::new(p.rx_ring, p.rx_len),
            rx_bufs: RxSlots::new(),
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
            rx_chains_dropped: 0,
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

    /// CPU address of the receive ring (identifies the driver to its card).
    pub(crate) fn rx_ring_addr(&self) -> usize {
        self.rx.region.virt().as_ptr() as usize
    }

    /// Gives back the ring memory after [`release`](QueueDriver::release)
    /// emptied the queue (for the host to free once the queue is stopped).
    /// The card then keeps the index taken for good; prefer
    /// [`CardDriver::return_queue`](nic_traits::CardDriver::return_queue),
    /// which frees the rings and makes the index available again.
    pub fn into_rings(self) -> (DmaRegion, DmaRegion, Option<DmaRegion>) {
        (self.rx.region, self.tx.region, self.head_wb)
    }

    fn tx_context(buf: &PacketBuf) -> Option<TxContextKey> {
        let f = buf.tx().flags;
        if f.is_empty() {
            return None;
        }
        Some(TxContextKey {
            flags: f.bits(),
            l2_len: buf.tx().l2_len,
            l3_len: buf.tx().l3_len,
        })
    }

    fn context(key: TxContextKey) -> AdvTxContext {
        let f = TxFlags::from_bits_retain(key.flags);
        let mut tucmd = 0;
        if f.contains(TxFlags::IPV4_CSUM) {
            tucmd |= tx::TUCMD_IPV4;
        }
        if f.contains(TxFlags::TCP_CSUM) {
            tucmd |= tx::TUCMD_L4T_TCP;
        }
        AdvTxContext {
            vlan_macip_lens: U32::new(
                u32::from(key.l3_len & 0x1FF) | (u32::from(key.l2_len & 0x7F) << tx::MACLEN_SHIFT),
            ),
            seqnum_seed: U32::new(0),
            type_tucmd_mlhl: U32::new(tucmd | tx::DTYP_CTXT | tx::DCMD_DEXT),
            mss_l4len_idx: U32::new(0),
        }
    }

    fn popts(key: TxContextKey) -> u32 {
        let f = TxFlags::from_bits_retain(key.flags);
        let mut popts = tx::CC;
        if f.contains(TxFlags::IPV4_CSUM) {
            popts |= tx::POPTS_IXSM;
        }
        if f.intersects(TxFlags::TCP_CSUM | TxFlags::UDP_CSUM) {
            popts |= tx::POPTS_TXSM;
        }
        popts
    }

    /// `tx_burst` for a frame off the common path: a longer frame (only
    /// with an 802.1Q tag) or a checksum offload. Queues the frame at
    /// `start + k` (the caller guarantees that descriptor is free) and
    /// returns the new `k`; or gives the frame back with `stop` saying why:
    /// it is invalid, or it needs a new context descriptor (`tx_ctx` is the
    /// context the device holds).
    #[cold]
    #[inline(never)]
    fn tx_one_slow(
        buf: PacketBuf,
        ring: RingView,
        slots: &mut [Option<PacketBuf>; TXN],
        tx_ctx: Option<TxContextKey>,
        start: usize,
        k: usize,
        stop: &mut TxStop,
    ) -> Result<usize, PacketBuf> {
        let len = buf.len();
        // A longer frame only with an 802.1Q tag (4 bytes more).
        if len.wrapping_sub(MIN_TX_LEN) > MAX_TX_FRAME - MIN_TX_LEN && !tagged_fits(&buf) {
            *stop = TxStop::Invalid;
            return Err(buf);
        }
        let mut popts = 0;
        if let Some(key) = Self::tx_context(&buf) {
            // IPLEN is 9 bits and MACLEN 7 in the context descriptor
            // (§7.2.3.2.3): longer headers cannot be described.
            if key.l3_len > 0x1FF || key.l2_len > 0x7F {
                *stop = TxStop::Invalid;
                return Err(buf);
            }
            if Some(key) != tx_ctx {
                *stop = TxStop::Context(key);
                return Err(buf);
            }
            popts = Self::popts(key);
        }
        let t = (start + k) & ring.mask;
        ring.write(t, data_descriptor(buf.phys_addr(), len, popts));
        slots[t % TXN] = Some(buf);
        Ok(k + 1)
    }

    /// Whether the context descriptor in transmit slot `t` (the `k`-th of
    /// the `used` slots in use) is done: when the data descriptor after it
    /// has DD set (§7.2.3.5.1; the context itself reports no status). A
    /// context descriptor is always followed by its data descriptor, so one
    /// in the last slot in use cannot be.
    #[cold]
    #[inline(never)]
    fn context_done(ring: RingView, k: usize, used: usize, t: usize) -> Result<bool, ErrorKind> {
        if k + 1 >= used {
            return Err(ErrorKind::DeviceFault);
        }
        Ok(ring.read_sta(t + 1) & tx::STA_DD != 0)
    }

    /// How many transmit slots the device reports done: the validated head
    /// write-back distance, or unbounded when each descriptor's DD decides.
    #[inline(always)]
    fn tx_done_budget(&self) -> Result<usize, ErrorKind> {
        match self.completion {
            TxCompletion::HeadWriteBack => {
                let done = self.tx_done_by_head()?;
                // Descriptor contents are read only after the head.
                fence(Ordering::Acquire);
                Ok(done)
            }
            TxCompletion::DescriptorDone => Ok(usize::MAX),
        }
    }

    /// Moves completed transmit buffers straight back to the receive ring,
    /// each reset to `headroom`, with one doorbell: `tx_reclaim` and
    /// `refill` in one pass, without the caller's batch (the forwarding
    /// case). Returns how many buffers were posted.
    ///
    /// A buffer whose room after `headroom` is smaller than the queue's
    /// receive buffer length stays in the transmit ring (for `tx_reclaim`)
    /// and the call returns `InvalidArgument`.
    ///
    /// # Examples
    ///
    /// See the forwarding loop in the crate documentation.
    pub fn recycle(&mut self, headroom: u32) -> Result<usize, ErrorKind> {
        if self.stopped {
            return Err(ErrorKind::InvalidState);
        }
        match self.completion {
            TxCompletion::HeadWriteBack => {
                let done = self.tx_done_budget()?;
                self.recycle_done::<true>(headroom, done)
            }
            TxCompletion::DescriptorDone => self.recycle_done::<false>(headroom, usize::MAX),
        }
    }

    /// `recycle` for one completion mode (`HEAD`: `left` slots are done by
    /// the validated head write-back; otherwise each frame's DD decides),
    /// compiled separately so each loop gets the registers to itself.
    #[inline(never)]
    fn recycle_done<const HEAD: bool>(
        &mut self,
        headroom: u32,
        left: usize,
    ) -> Result<usize, ErrorKind> {
        let rx_ring = self.rx.bounded::<RXN>();
        let mask = rx_ring.mask;
        let budget = mask - self.rx_posted;
        let mut i = (self.rx_next + self.rx_posted) & mask;
        let tx_ring = self.tx.bounded::<TXN>();
        let tx_mask = tx_ring.mask;
        let c = self.tx_clean;
        let used = self.tx_used;
        let buf_len = self.rx_buf_len;
        let tx_slots = &mut self.tx_bufs;
        let rx_slots = &mut self.rx_bufs;
        let mut result = Ok(());
        let first = i;
        // `k` counts the transmit slots passed, `n` the buffers posted
        // (fewer than the ring holds).
        let (k, n) = if HEAD {
            // Every slot before the validated head is done; context
            // slots hold no buffer and are passed over. At most
            // `budget` slots are passed: each holds at most one buffer,
            // so every buffer taken has a receive descriptor (a context
            // slot among them leaves a buffer for the next call).
            let end = c + left.min(budget);
            let mut j = c;
            while j < end {
                let slot = &mut tx_slots[(j & tx_mask) % TXN];
                if let Some(mut buf) = slot.take() {
                    // As in `refill`: device writes stay in the data area.
                    let Ok(phys) = buf.reset_for_rx(headroom, buf_len) else {
                        *slot = Some(buf);
                        result = Err(ErrorKind::InvalidArgument);
                        break;
                    };
                    rx_ring.write(i, [phys, 0]);
                    rx_slots.put(i, buf);
                    i = (i + 1) & mask;
                }
                j += 1;
            }
            (j - c, i.wrapping_sub(first) & mask)
        } else {
            // Descriptor done, as in `tx_reclaim`; at most `budget`
            // slots are passed, as above.
            // `j` runs over the slots passed, `c..c + k`, unmasked.
            let end = c + used.min(budget);
            let mut j = c;
            while j < end {
                let t = j & tx_mask;
                let slot = &mut tx_slots[t % TXN];
                let Some(mut buf) = slot.take() else {
                    // A context descriptor: done with the data
                    // descriptor after it, and only then passed.
                    match Self::context_done(tx_ring, j - c, used, t) {
                        Ok(true) => {
                            j += 1;
                            continue;
                        }
                        Ok(false) => break,
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                };
                if tx_ring.read_sta(t) & tx::STA_DD == 0 {
                    *slot = Some(buf);
                    break;
                }
                let Ok(phys) = buf.reset_for_rx(headroom, buf_len) else {
                    *slot = Some(buf);
                    result = Err(ErrorKind::InvalidArgument);
                    break;
                };
                rx_ring.write(i, [phys, 0]);
                rx_slots.put(i, buf);
                i = (i + 1) & mask;
                j += 1;
            }
            let k = j - c;
            (k, i.wrapping_sub(first) & mask)
        };
        self.tx_clean = (c + k) & tx_mask;
        self.tx_used = used - k;
        if n > 0 {
            self.rx_posted += n;
            // Descriptor stores must reach memory before the doorbell.
            fence(Ordering::Release);
            self.regs
                .write32(regs::rdt(usize::from(self.index)), i as u32);
        }
        result.map(|()| n)
    }

    /// One pass of `rx_burst`: takes completed single-descriptor frames;
    /// also says whether it stopped at a completed descriptor without EOP.
    #[inline(always)]
    fn rx_once<const N: usize>(&mut self, out: &mut Batch<N>) -> (Result<usize, ErrorKind>, bool) {
        let ring = self.rx.bounded::<RXN>();
        let mask = ring.mask;
        let buf_len = self.rx_buf_len;
        let slots = &mut self.rx_bufs;
        let next = self.rx_next;
        let posted = self.rx_posted;
        // The status word of the descriptor that ended the loop (DD clear
        // if none did): read once, classified after the loop.
        let mut stop = 0u64;
        // `k` counts the frames taken. `fill_from` asks at most `posted`
        // times and only while `out` has room, so only posted slots are
        // looked at and every buffer taken from the ring has a place.
        let mut k = 0;
        let n = out.fill_from(posted, || {
            let i = (next + k) & mask;
            let hi = ring.read_hi(i);
            // The common case, DD and EOP set, in one test; without DD the
            // ring has no more frames, without EOP the descriptor starts a
            // multi-descriptor frame (§7.1.6.2), left for `drop_rx_chain`.
            if !hi & u64::from(rx_status::DD | rx_status::EOP) != 0 {
                stop = hi;
                return None;
            }
            // The device writes DD last (§7.1.6.2): read the other word only
            // after it, ordered by the acquire fence. Both words are local
            // copies from here on, validated once.
            fence(Ordering::Acquire);
            let lo = ring.read_lo(i);
            // The length is what is checked and kept; the raw words keep
            // the rest of the write-back (a device that rewrites the
            // length meanwhile changes only what `len` says, still checked).
            let len = u32::from(ring.read_pkt_len(i));
            // A length beyond the posted buffer cannot be true: keep the
            // buffer.
            if len > buf_len {
                stop = hi;
                return None;
            }
            // SAFETY: `fill_from` asks at most `posted` times, so slot `i`
            // is posted; `rx_next` moves past it below.
            let mut buf = unsafe { slots.take(i) };
            // SAFETY: `len <= buf_len`, and `refill` and `recycle` posted
            // only buffers with at least `buf_len` bytes after the headroom,
            // which nothing changed since (the driver owns the buffer).
            unsafe { buf.set_len_unchecked(len) };
            // The write-back as it is; `PacketBuf::rx` decodes it on demand.
            buf.set_rx_raw([lo, hi], decode_rx_writeback);
            // Clear DD so a stale write-back is never taken for a new one.
            ring.clear_hi(i);
            k += 1;
            Some(buf)
        });
        let i = (next + n) & mask;
        self.rx_next = i;
        self.rx_posted = posted - n;
        let status = stop as u32;
        let chain = status & rx_status::DD != 0 && status & rx_status::EOP == 0;
        // DD and EOP with a length beyond the buffer.
        if status & (rx_status::DD | rx_status::EOP) == rx_status::DD | rx_status::EOP {
            return (Err(ErrorKind::DeviceFault), false);
        }
        // The first slot not posted must not be done: a device that writes
        // DD there completed a descriptor it was never given.
        let free = (i + self.rx_posted) & mask;
        if ring.read_hi(free) as u32 & rx_status::DD != 0 {
            return (Err(ErrorKind::DeviceFault), false);
        }
        (Ok(n), chain)
    }

    /// Drops the multi-descriptor frame starting at `rx_next` once the
    /// device has completed all of it (a descriptor with EOP among the
    /// posted ones, every one before it done): each of its buffers is
    /// posted again at the tail, one doorbell, and
    /// [`rx_chains_dropped`](Self::rx_chains_dropped) counts it. Returns
    /// whether a chain was dropped (`false`: the frame is not complete yet).
    ///
    /// The driver never asks for such frames (buffers hold the largest
    /// frame, [`crate::card::MIN_RX_BUF_LEN`]); without this a device that
    /// sent one anyway would wedge the ring on its first descriptor.
    #[cold]
    fn drop_rx_chain(&mut self) -> bool {
        let ring = self.rx.bounded::<RXN>();
        let mask = ring.mask;
        let mut k = 0;
        loop {
            if k >= self.rx_posted {
                return false;
            }
            let hi = ring.read_hi(self.rx_next + k);
            if hi as u32 & rx_status::DD == 0 {
                return false;
            }
            k += 1;
            if hi as u32 & rx_status::EOP != 0 {
                break;
            }
        }
        fence(Ordering::Acquire);
        for _ in 0..k {
            let from = self.rx_next;
            // SAFETY: `k <= rx_posted`, so `from` is posted; `rx_next` moves
            // past it right after.
            let buf = unsafe { self.rx_bufs.take(from) };
            ring.clear_hi(from);
            self.rx_next = (from + 1) & mask;
            // Posted again at the tail (the first slot not posted): the ring
            // holds as many as before.
            let to = (self.rx_next + self.rx_posted - 1) & mask;
            ring.write(to, [buf.phys_addr(), 0]);
            self.rx_bufs.put(to, buf);
        }
        self.rx_chains_dropped += 1;
        fence(Ordering::Release);
        let tail = (self.rx_next + self.rx_posted) & mask;
        self.regs
            .write32(regs::rdt(usize::from(self.index)), tail as u32);
        true
    }

    /// Multi-descriptor receive frames dropped whole (see
    /// [`QueueDriver::rx_burst`]); their buffers went back to the ring.
    pub fn rx_chains_dropped(&self) -> u64 {
        self.rx_chains_dropped
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
        let mut total = 0;
        loop {
            let (n, chain) = self.rx_once(out);
            total += n?;
            // A frame spread over several descriptors: drop it whole (its
            // buffers go back to the ring) and go on receiving.
            if !chain || !self.drop_rx_chain() {
                return Ok(total);
            }
        }
    }

    fn refill<const N: usize>(&mut self, bufs: &mut Batch<N>) -> Result<usize, ErrorKind> {
        if self.stopped {
            return Err(ErrorKind::InvalidState);
        }
        let ring = self.rx.bounded::<RXN>();
        let mask = ring.mask;
        // One slot stays empty: RDH == RDT means an empty ring (§7.1.9).
        let room = mask - self.rx_posted;
        // Free-running: masked once per descriptor, where it is used.
        let mut i = self.rx_next + self.rx_posted;
        let buf_len = self.rx_buf_len;
        let slots = &mut self.rx_bufs;
        let n = bufs.drain_into(room, |buf| {
            // The device may write `rx_buf_len` bytes at `phys_addr`: refuse
            // a buffer whose data area is smaller, so device writes never
            // leave the data area (the `PacketBuf` device invariant).
            if buf.writable_len() < buf_len {
                return Err(buf);
            }
            let t = i & mask;
            ring.write(t, [buf.phys_addr(), 0]);
            slots.put(t, buf);
            i += 1;
            Ok(())
        });
        let i = i & mask;
        if n > 0 {
            self.rx_posted += n;
            // Descriptor stores must reach memory before the doorbell.
            fence(Ordering::Release);
            self.regs
                .write32(regs::rdt(usize::from(self.index)), i as u32);
        }
        // Stopped with room left and a buffer in front: the buffer was
        // refused.
        if n < room && !bufs.is_empty() {
            return Err(ErrorKind::InvalidArgument);
        }
        Ok(n)
    }

    fn rx_free(&self) -> usize {
        self.rx.mask - self.rx_posted
    }

    fn tx_burst<const N: usize>(&mut self, bufs: &mut Batch<N>) -> Result<usize, ErrorKind> {
        if self.stopped {
            return Err(ErrorKind::InvalidState);
        }
        let ring = self.tx.bounded::<TXN>();
        let mask = ring.mask;
        let start = self.tx_clean + self.tx_used;
        // Free descriptors; `k` counts those filled (data and context).
        let room = mask - self.tx_used;
        let mut k = 0;
        let mut n = 0;
        let mut result = Ok(());
        let slots = &mut self.tx_bufs;
        let tx_ctx = &mut self.tx_ctx;
        // Passes over the batch, each taking at most one frame per free
        // descriptor, so a frame that takes one descriptor always has it; a
        // frame that needs a new context descriptor ends the pass, which
        // writes the context and starts the next pass.
        loop {
            let mut stop = TxStop::Done;
            n += bufs.drain_into(room - k, |buf| {
                let len = buf.len();
                // The common case in two compares: MIN_TX_LEN..=MAX_TX_FRAME
                // (one compare), no offload.
                if len.wrapping_sub(MIN_TX_LEN) <= MAX_TX_FRAME - MIN_TX_LEN
                    && buf.tx().flags.is_empty()
                {
                    let t = (start + k) & mask;
                    ring.write(t, data_descriptor(buf.phys_addr(), len, 0));
                    slots[t % TXN] = Some(buf);
                    k += 1;
                    return Ok(());
                }
                k = Self::tx_one_slow(buf, ring, slots, *tx_ctx, start, k, &mut stop)?;
                Ok(())
            });
            match stop {
                TxStop::Done => break,
                TxStop::Invalid => {
                    result = Err(ErrorKind::InvalidArgument);
                    break;
                }
                TxStop::Context(key) => {
                    // The context and the frame's data descriptor.
                    if k + 2 > room {
                        break;
                    }
                    let t = (start + k) & mask;
                    ring.write(t, desc::to_words(&Self::context(key)));
                    slots[t % TXN] = None;
                    k += 1;
                    *tx_ctx = Some(key);
                }
            }
        }
        self.tx_used += k;
        if n > 0 {
            // Descriptor stores must reach memory before the doorbell.
            fence(Ordering::Release);
            let tail = (start + k) & mask;
            self.regs
                .write32(regs::tdt(usize::from(self.index)), tail as u32);
        }
        result.map(|()| n)
    }

    fn tx_reclaim<const N: usize>(&mut self, done: &mut Batch<N>) -> Result<usize, ErrorKind> {
        if self.completion == TxCompletion::HeadWriteBack {
            // Every slot before the validated head is done; context slots
            // hold no buffer and are passed over.
            let left = self.tx_done_budget()?;
            let mask = self.tx.mask;
            let c = self.tx_clean;
            let slots = &mut self.tx_bufs;
            // `k` counts the transmit slots passed; `fill_from` asks only
            // while `done` has room.
            let mut k = 0;
            let n = done.fill_from(usize::MAX, || {
                while k < left {
                    let buf = slots[((c + k) & mask) % TXN].take();
                    k += 1;
                    if buf.is_some() {
                        return buf;
                    }
                }
                None
            });
            self.tx_clean = (c + k) & mask;
            self.tx_used -= k;
            return Ok(n);
        }
        // Descriptor done: each frame's data descriptor has its DD bit
        // written back (§7.2.3.5.1).
        let ring = self.tx.bounded::<TXN>();
        let mask = ring.mask;
        let c = self.tx_clean;
        let used = self.tx_used;
        let mut result = Ok(());
        let slots = &mut self.tx_bufs;
        // `k` counts the transmit slots passed; `fill_from` asks only while
        // `done` has room, and at most `used` times (each buffer is one
        // used slot). A slot holds a buffer only inside the used range, so
        // the range is checked on the empty-slot path alone.
        let mut k = 0;
        let n = done.fill_from(used, || {
            loop {
                let t = (c + k) & mask;
                let slot = &mut slots[t % TXN];
                let Some(buf) = slot.take() else {
                    if k >= used {
                        return None;
                    }
                    // A context descriptor, passed with its frame.
                    match Self::context_done(ring, k, used, t) {
                        Ok(true) => {
                            k += 1;
                            continue;
                        }
                        Ok(false) => return None,
                        Err(e) => {
                            result = Err(e);
                            return None;
                        }
                    }
                };
                if ring.read_sta(c + k) & tx::STA_DD == 0 {
                    *slot = Some(buf);
                    return None;
                }
                k += 1;
                return Some(buf);
            }
        });
        self.tx_clean = (c + k) & mask;
        self.tx_used = used - k;
        result.map(|()| n)
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
        // EIMS/EIMC and EIMS_EX/EIMC_EX are write-1-to-set/clear: no
        // read-modify-write, no lock. Vectors 0..16 through EIMS/EIMC
        // (§8.2.3.5.5, §8.2.3.5.6), the others through the extended pair.
        let reg = match (vector, enabled) {
            (0..16, true) => regs::EIMS,
            (0..16, false) => regs::EIMC,
            (_, true) => regs::eims_ex(vector as usize / 32),
            (_, false) => regs::eimc_ex(vector as usize / 32),
        };
        self.regs.write32(reg, 1 << (vector % 32));
        Ok(())
    }

    /// Takes back every buffer (see [`QueueDriver::release`]) once the
    /// device has stopped the queue: while RXDCTL.ENABLE or TXDCTL.ENABLE
    /// still reads set, the device may write posted buffers, so nothing is
    /// moved and 0 is returned.
    fn release<const N: usize>(&mut self, out: &mut Batch<N>) -> usize {
        let q = usize::from(self.index);
        let rx_on = regs::Rxdctl::from_bits_retain(self.regs.read32(regs::rxdctl(q)))
            .contains(regs::Rxdctl::ENABLE);
        let tx_on = regs::Txdctl::from_bits_retain(self.regs.read32(regs::txdctl(q)))
            .contains(regs::Txdctl::ENABLE);
        if rx_on || tx_on {
            return 0;
        }
        self.stopped = true;
        let mut n = 0;
        let mask = self.rx.mask;
        while self.rx_posted > 0 && !out.is_full() {
            // SAFETY: `rx_next` is posted (`rx_posted > 0`) and leaves the
            // posted range right after.
            let buf = unsafe { self.rx_bufs.take(self.rx_next) };
            self.rx_next = (self.rx_next + 1) & mask;
            self.rx_posted -= 1;
            if let Err(buf) = out.push_back(buf) {
                // Cannot happen (`out` has room); the slot is posted again.
                self.rx_next = self.rx_next.wrapping_sub(1) & mask;
                self.rx_posted += 1;
                self.rx_bufs.put(self.rx_next, buf);
                break;
            }
            n += 1;
        }
        for slot in self.tx_bufs.iter_mut() {
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
        if self.tx_bufs.iter().all(Option::is_none) {
            self.tx_used = 0;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desc::AdvTxData;
    use zerocopy::little_endian::U64;

    fn naive(status: u32) -> u16 {
        let mut f = RxFlags::empty();
        if status & rx_status::IPCS != 0 {
            f |= if status & rx_error::IPE != 0 {
                RxFlags::IPV4_CSUM_BAD
            } else {
                RxFlags::IPV4_CSUM_OK
            };
        }
        if status & rx_status::L4I != 0 {
            f |= if status & rx_error::L4E != 0 {
                RxFlags::L4_CSUM_BAD
            } else {
                RxFlags::L4_CSUM_OK
            };
        }
        if status & rx_status::VP != 0 {
            f |= RxFlags::VLAN_STRIPPED;
        }
        if status & rx_status::FLM != 0 {
            f |= RxFlags::FILTER_MATCH;
        }
        f.bits()
    }

    /// The receive metadata the driver produced before it kept the raw
    /// write-back: every field from the datasheet layout (§7.1.6.2).
    fn naive_meta(lo: u64, hi: u64) -> RxMeta {
        let wb: desc::AdvRxWb = desc::from_words([lo, hi]);
        let info = wb.pkt_info.get();
        let mut flags = RxFlags::from_bits_retain(naive(wb.status_error.get()));
        if info & 0xF != rss_type::NONE {
            flags |= RxFlags::RSS_HASH;
        }
        let ptype = ((info >> 4) & 0x1FFF) as u16;
        if ptype & desc::packet_type::ETQF != 0 {
            flags |= RxFlags::FILTER_MATCH;
        }
        RxMeta {
            flags,
            rss_hash: wb.rss.get(),
            vlan_tci: wb.vlan.get(),
            packet_type: ptype,
        }
    }

    #[test]
    fn lazy_decode_matches_the_write_back_for_every_bit_combination() {
        let mem: &'static mut [u64] =
            std::boxed::Box::leak(std::vec![0u64; 512 / 8].into_boxed_slice());
        // SAFETY: leaked memory, owned by the region from now on.
        let region = unsafe {
            DmaRegion::from_raw_parts(NonNull::new(mem.as_mut_ptr()).unwrap().cast(), 0, 512)
        };
        let mut buf = region.into_buffers(512, 0).next().unwrap();
        let mut checked = 0u32;
        // Every combination of the status and error bits the datasheet
        // defines (§7.1.6.2), each with every other bit of the word set in
        // turn (or none), and the remaining fields varied.
        let defined = [
            rx_status::DD,
            rx_status::EOP,
            rx_status::FLM,
            rx_status::VP,
            rx_status::UDPCS,
            rx_status::L4I,
            rx_status::IPCS,
            rx_error::HBO,
            rx_error::RXE,
            rx_error::L4E,
            rx_error::IPE,
        ];
        let mask = defined.iter().fold(0, |a, b| a | b);
        let others: std::vec::Vec<u32> = (0..32)
            .map(|b| 1u32 << b)
            .filter(|b| b & mask == 0)
            .chain([0])
            .collect();
        assert_eq!(others.len(), 22);
        for combo in 0u32..(1 << defined.len()) {
            let base = defined
                .iter()
                .enumerate()
                .filter(|(i, _)| combo & (1 << i) != 0)
                .fold(0, |a, (_, b)| a | b);
            for (j, other) in others.iter().enumerate() {
                let status = base | other;
                let x = (combo * 32 + j as u32).wrapping_mul(0x9E37_79B9);
                let info = (x & 0xFFFF_FFF0) | (combo % 16);
                let lo = u64::from(info) | (u64::from(x ^ 0x5555_5555) << 32);
                let hi =
                    u64::from(status) | (u64::from(x & 0xFFFF) << 32) | (u64::from(x >> 16) << 48);
                let want = naive_meta(lo, hi);
                assert_eq!(decode_rx_writeback(&[lo, hi]), want, "{lo:#x} {hi:#x}");
                buf.set_rx_raw([lo, hi], decode_rx_writeback);
                assert_eq!(buf.rx(), want);
                assert_eq!(buf.rx_raw(), [lo, hi]);
                checked += 1;
            }
        }
        assert_eq!(checked, 2048 * 22);
        // Every packet type and RSS type with the ETQF bit on and off.
        for info in 0u32..(1 << 17) {
            let lo = u64::from(info) | (0xdead_beef << 32);
            let hi = u64::from(rx_status::DD | rx_status::EOP | rx_status::IPCS);
            assert_eq!(decode_rx_writeback(&[lo, hi]), naive_meta(lo, hi));
        }
    }

    #[test]
    fn data_descriptor_words_match_the_layout() {
        let popts = tx::CC | tx::POPTS_TXSM;
        let d = AdvTxData {
            buffer_addr: U64::new(0x00a0_0000_1080),
            cmd_type_len: U32::new(
                60 | tx::DTYP_DATA | tx::DCMD_DEXT | tx::DCMD_IFCS | tx::DCMD_EOP | tx::DCMD_RS,
            ),
            olinfo_status: U32::new((60 << tx::PAYLEN_SHIFT) | popts),
        };
        assert_eq!(
            data_descriptor(0x00a0_0000_1080, 60, popts),
            desc::to_words(&d)
        );
    }

    #[test]
    fn status_table_agrees_with_the_bit_definitions() {
        let bits = [
            rx_status::FLM,
            rx_status::VP,
            rx_status::L4I,
            rx_status::IPCS,
            rx_error::L4E,
            rx_error::IPE,
            rx_status::DD,
            rx_status::EOP,
            rx_status::UDPCS,
            rx_error::RXE,
        ];
        for combo in 0u32..(1 << bits.len()) {
            let status = bits
                .iter()
                .enumerate()
                .filter(|(i, _)| combo & (1 << i) != 0)
                .fold(0, |a, (_, b)| a | b);
            assert_eq!(
                STATUS_FLAGS[status_index(status)],
                naive(status),
                "{status:#x}"
            );
        }
        let meta = decode_rx_writeback(&[0x1234_5678_0000_8012, 0x0005_003c_0000_0063]);
        assert_eq!(meta.rss_hash, 0x1234_5678);
        assert_eq!(meta.vlan_tci, 5);
        assert_eq!(meta.packet_type, 0x801);
        assert!(
            meta.flags
                .contains(RxFlags::RSS_HASH | RxFlags::FILTER_MATCH | RxFlags::IPV4_CSUM_OK)
        );
    }
}
