//! A software NIC: a [`CardDriver`] and [`QueueDriver`]s over descriptor
//! rings kept in memory, with a simulated device side that moves frames
//! between the rings and a port.
//!
//! It is an honest one-queue-class NIC: N queue pairs (default 1), no
//! hardware filters and no RSS (every received frame goes to queue 0), no
//! offloads. Its value is that it keeps the contract exactly and runs
//! anywhere, so code above the driver (stacks, demultiplexers, examples) can
//! be tested in virtual time without the 82599 model.
//!
//! # Rings
//! Each queue has a receive and a transmit ring of a fixed number of
//! descriptors. As on real hardware, a ring of `n` descriptors holds at most
//! `n − 1` buffers (head equal to tail means empty); the driver advances the
//! tail and writes it to the device once per burst (a *doorbell*, counted in
//! [`QueueCounters::doorbells`]); the device advances the head as it fills
//! receive buffers or sends frames and marks each descriptor done; the driver
//! collects done descriptors in order.
//!
//! # The device side
//! Nothing happens in the device until the host calls
//! [`SoftNic::poll_device`] (or [`SoftNicPair::step`]) with the virtual time:
//! then the device sends every queued frame to its [`Port`] and takes every
//! frame that has arrived from it. A received frame is dropped and counted in
//! [`Stats::rx_missed`] when queue 0 is not running or has no buffer posted,
//! and in [`Stats::rx_errors`] when it is shorter than an Ethernet header,
//! longer than [`CardInfo::max_frame_len`], or longer than the posted buffer.
//!
//! # Examples
//!
//! ```
//! use nic_sim::softnic::{Port, SoftNic, SoftNicConfig};
//! use nic_sim::SimDma;
//! use nic_traits::{Batch, CardDriver, Dma, QueueConfig, QueueDriver};
//!
//! let mut nic = SoftNic::new(SoftNicConfig::default(), Port::Loopback);
//! let mut q = nic.queue(0, QueueConfig::default()).unwrap();
//! let dma = SimDma::new();
//! let mut pool: Batch<4> = Batch::new();
//! for b in dma.alloc(4 * 2112, 64).unwrap().into_buffers(2112, 0) {
//!     pool.push_back(b).unwrap();
//! }
//! // Post one buffer for reception, send a frame from another.
//! let mut rx: Batch<1> = Batch::new();
//! rx.push_back(pool.pop_front().unwrap()).unwrap();
//! assert_eq!(q.refill(&mut rx).unwrap(), 1);
//! let mut frame = pool.pop_front().unwrap();
//! let mac = nic.mac_address().0;
//! frame.append(&mac).unwrap(); // to ourselves
//! frame.append(&[2, 0, 0, 0, 0, 9, 0x88, 0xb5]).unwrap();
//! frame.append(b"hello").unwrap();
//! let mut tx: Batch<1> = Batch::new();
//! tx.push_back(frame).unwrap();
//! assert_eq!(q.tx_burst(&mut tx).unwrap(), 1);
//!
//! nic.poll_device(1_000);
//!
//! let mut got: Batch<4> = Batch::new();
//! assert_eq!(q.rx_burst(&mut got).unwrap(), 1);
//! assert_eq!(&got.get(0).unwrap().data()[14..], b"hello");
//! assert_eq!(q.tx_reclaim(&mut got).unwrap(), 1);
//! assert_eq!(nic.stats().rx_packets, 1);
//! ```

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use nic_traits::{
    Batch, CardDriver, CardEvents, CardInfo, ErrorKind, ErrorType, FilterAction, FilterCapacity,
    FilterClass, FilterHandle, FlowRule, InterruptCauses, LinkSpeed, LinkState, MacAddr, Offloads,
    PacketBuf, QueueConfig, QueueDriver, RssConfig, RxMode, Stats,
};

use crate::link::{End, Impairment, Link};
use crate::pcap::FrameTap;

/// Length of an Ethernet header (destination, source, EtherType; IEEE 802.3 §3.1.1).
const ETH_HEADER_LEN: usize = 14;

/// Largest ring, in descriptors, the software NIC accepts (a bound that
/// keeps a simulated ring's memory small; rings need at least 2).
pub const MAX_RING: u16 = 4096;

/// A link shared between the software NIC(s) and whoever else holds an end.
pub type SharedLink = Arc<Mutex<Link>>;

/// Where a software NIC's wire goes.
#[derive(Debug, Clone)]
pub enum Port {
    /// Transmitted frames come back as received frames in the same poll.
    Loopback,
    /// One end of a link; the other end belongs to someone else (another
    /// software NIC, a TCP stack under test, a test).
    Link(SharedLink, End),
    /// The host plays the wire: [`SoftNic::inject`] delivers frames and
    /// [`SoftNic::take_transmitted`] collects sent ones.
    Host,
}

/// Settings of a software NIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftNicConfig {
    /// The card's MAC address.
    pub mac: MacAddr,
    /// Number of queue pairs (at least 1).
    pub queues: u16,
    /// Largest frame, without FCS, sent or received.
    pub max_frame_len: u16,
}

impl Default for SoftNicConfig {
    fn default() -> Self {
        Self {
            // A locally administered unicast address (IEEE 802 U/L bit set).
            mac: MacAddr([0x02, 0, 0, 0, 0, 0x01]),
            queues: 1,
            // 1500-byte payload + 14-byte header + 4-byte 802.1Q tag.
            max_frame_len: 1518,
        }
    }
}

/// Per-queue counters of the software NIC (beyond [`Stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueCounters {
    /// Tail writes (doorbells) by the queue driver, receive and transmit.
    pub doorbells: u64,
    /// Frames written to this queue's receive buffers.
    pub rx_frames: u64,
    /// Frames sent from this queue.
    pub tx_frames: u64,
}

/// Device-wide counters of the software NIC (beyond [`Stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceCounters {
    /// Received frames dropped by the address filter (not for our MAC and
    /// not accepted by the receive mode).
    pub rx_filtered: u64,
    /// Transmitted frames the device refused (shorter than an Ethernet
    /// header or longer than the maximum frame); their buffers still complete.
    pub tx_errors: u64,
    /// Interrupt causes latched.
    pub interrupts: u64,
}

#[derive(Debug, Default)]
struct Slot {
    buf: Option<PacketBuf>,
    done: bool,
}

/// One descriptor ring. Indices run modulo `slots.len()`; the slots from
/// `clean` to `tail` belong to the device or wait for the driver to collect
/// them, the slots from `tail` to `clean` are free.
#[derive(Debug)]
struct Ring {
    slots: Vec<Slot>,
    /// The driver's next slot to collect.
    clean: usize,
    /// The device's next slot to process.
    head: usize,
    /// The tail register: the device may process slots up to here.
    tail: usize,
}

impl Ring {
    fn new(n: u16) -> Self {
        Self {
            slots: (0..n).map(|_| Slot::default()).collect(),
            clean: 0,
            head: 0,
            tail: 0,
        }
    }

    fn len(&self) -> usize {
        self.slots.len()
    }

    fn next(&self, i: usize) -> usize {
        if i + 1 == self.len() { 0 } else { i + 1 }
    }

    /// Slots from `a` up to `b`, modulo the ring size.
    fn distance(&self, a: usize, b: usize) -> usize {
        (b + self.len() - a) % self.len()
    }

    fn free(&self) -> usize {
        self.len() - 1 - self.distance(self.clean, self.tail)
    }

    /// Posts buffers from the front of `bufs` until the ring or `bufs` runs out.
    fn post<const N: usize>(&mut self, bufs: &mut Batch<N>) -> usize {
        let mut n = 0;
        while self.free() > 0 {
            let Some(mut buf) = bufs.pop_front() else {
                break;
            };
            buf.set_rx(Default::default());
            let t = self.tail;
            self.slots[t] = Slot {
                buf: Some(buf),
                done: false,
            };
            self.tail = self.next(t);
            n += 1;
        }
        n
    }

    /// Collects done slots in order into `out` until one is not done or `out` is full.
    fn collect<const N: usize>(&mut self, out: &mut Batch<N>) -> usize {
        let mut n = 0;
        while self.clean != self.head && !out.is_full() && self.slots[self.clean].done {
            let c = self.clean;
            let slot = std::mem::take(&mut self.slots[c]);
            self.clean = self.next(c);
            // A done slot always holds a buffer (only `post` fills slots).
            let Some(buf) = slot.buf else { continue };
            match out.push_back(buf) {
                Ok(()) => n += 1,
                Err(buf) => {
                    // Unreachable: `out` was checked not full; keep the
                    // buffer in the ring rather than lose it.
                    self.slots[c] = Slot {
                        buf: Some(buf),
                        done: true,
                    };
                    self.clean = c;
                    break;
                }
            }
        }
        n
    }

    /// Takes every buffer still in the ring, oldest first, until `out` is full.
    fn release<const N: usize>(&mut self, out: &mut Batch<N>) -> usize {
        let mut n = 0;
        while self.clean != self.tail && !out.is_full() {
            let c = self.clean;
            if self.head == c {
                self.head = self.next(c);
            }
            self.clean = self.next(c);
            self.slots[c].done = false;
            if let Some(buf) = self.slots[c].buf.take() {
                // `out` was checked not full, so this cannot fail.
                if out.push_back(buf).is_ok() {
                    n += 1;
                }
            }
        }
        n
    }
}

#[derive(Debug)]
struct QueueState {
    /// Cleared by `stop_queue` and `return_queue`: the device no longer touches the rings.
    running: bool,
    rx: Ring,
    tx: Ring,
    rx_buf_len: u32,
    interrupt: bool,
    counters: QueueCounters,
}

type SharedQueue = Arc<Mutex<QueueState>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is completed before anything can panic,
    // so a poisoned lock still guards consistent state.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug)]
struct QueueSlot {
    state: Option<SharedQueue>,
    vector: u16,
}

struct Device {
    config: SoftNicConfig,
    rx_mode: RxMode,
    link_up: bool,
    port: Port,
    stats: Stats,
    counters: DeviceCounters,
    queues: Vec<QueueSlot>,
    moderation: Vec<u32>,
    pending_vectors: u64,
    pending_events: CardEvents,
    /// Frames waiting to enter the device from the wire (`inject`, loopback).
    wire_in: VecDeque<Vec<u8>>,
    /// Frames the device sent, for a `Host` port.
    wire_out: VecDeque<Vec<u8>>,
    tap: Option<Box<dyn FrameTap>>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("config", &self.config)
            .field("port", &self.port)
            .field("stats", &self.stats)
            .field("counters", &self.counters)
            .field("queues", &self.queues)
            .field("tap", &self.tap.is_some())
            .finish_non_exhaustive()
    }
}

/// The software NIC's card driver (and the handle on its device side).
#[derive(Debug)]
pub struct SoftNic {
    dev: Arc<Mutex<Device>>,
}

/// The software NIC's queue driver for one queue pair. `Send`: it may run on
/// another thread than the card driver.
#[derive(Debug)]
pub struct SoftQueue {
    index: u16,
    state: SharedQueue,
}

impl SoftNic {
    /// A software NIC attached to `port`, with its link up.
    pub fn new(config: SoftNicConfig, port: Port) -> Self {
        let queues = config.queues.max(1);
        let config = SoftNicConfig { queues, ..config };
        let dev = Device {
            config,
            // Broadcast accepted from the start so ARP works without setup.
            rx_mode: RxMode {
                broadcast: true,
                ..RxMode::default()
            },
            link_up: true,
            port,
            stats: Stats::default(),
            counters: DeviceCounters::default(),
            queues: (0..queues)
                .map(|q| QueueSlot {
                    state: None,
                    vector: q,
                })
                .collect(),
            moderation: vec![0; usize::from(queues)],
            pending_vectors: 0,
            pending_events: CardEvents::empty(),
            wire_in: VecDeque::new(),
            wire_out: VecDeque::new(),
            tap: None,
        };
        Self {
            dev: Arc::new(Mutex::new(dev)),
        }
    }

    /// Records every frame crossing the port (received or sent) into `tap`,
    /// e.g. a [`PcapWriter`](crate::pcap::PcapWriter).
    pub fn set_tap(&mut self, tap: impl FrameTap + 'static) {
        lock(&self.dev).tap = Some(Box::new(tap));
    }

    /// Removes the tap and gives it back (to flush or inspect it).
    pub fn take_tap(&mut self) -> Option<Box<dyn FrameTap>> {
        lock(&self.dev).tap.take()
    }

    /// Delivers `frame` to the device as if it arrived from the wire; it is
    /// received at the next [`poll_device`](Self::poll_device). Returns
    /// false (frame not accepted by the wire) when the link is down.
    pub fn inject(&self, frame: &[u8]) -> bool {
        let mut dev = lock(&self.dev);
        if !dev.link_up {
            return false;
        }
        dev.wire_in.push_back(frame.to_vec());
        true
    }

    /// Takes the oldest frame the device sent to a [`Port::Host`] port.
    pub fn take_transmitted(&self) -> Option<Vec<u8>> {
        lock(&self.dev).wire_out.pop_front()
    }

    /// Brings the link up or down; a change raises [`CardEvents::LINK_CHANGE`].
    /// While down, frames sent are dropped (counted as sent by the queue,
    /// not by [`Stats::tx_packets`]) and nothing is received.
    pub fn set_link_up(&self, up: bool) {
        let mut dev = lock(&self.dev);
        if dev.link_up != up {
            dev.link_up = up;
            dev.pending_events |= CardEvents::LINK_CHANGE;
        }
    }

    /// Device-wide counters beyond [`Stats`].
    pub fn device_counters(&self) -> DeviceCounters {
        lock(&self.dev).counters
    }

    /// Counters of queue `index` while it is handed out.
    pub fn queue_counters(&self, index: u16) -> Option<QueueCounters> {
        let dev = lock(&self.dev);
        let slot = dev.queues.get(usize::from(index))?;
        slot.state.as_ref().map(|q| lock(q).counters)
    }

    /// Runs the device up to virtual time `now_ns`: transmits everything the
    /// queue drivers queued, then receives everything that has arrived.
    pub fn poll_device(&self, now_ns: u64) {
        self.poll_tx(now_ns);
        self.poll_rx(now_ns);
    }

    /// The transmit half of [`poll_device`](Self::poll_device).
    pub fn poll_tx(&self, now_ns: u64) {
        let mut dev = lock(&self.dev);
        dev.transmit(now_ns);
    }

    /// The receive half of [`poll_device`](Self::poll_device).
    pub fn poll_rx(&self, now_ns: u64) {
        let mut dev = lock(&self.dev);
        dev.receive(now_ns);
    }
}

impl Device {
    fn running_queues(&self) -> Vec<(SharedQueue, u16)> {
        self.queues
            .iter()
            .filter_map(|s| s.state.clone().map(|q| (q, s.vector)))
            .collect()
    }

    fn raise(&mut self, vector: u16) {
        if u32::from(vector) < u64::BITS {
            self.pending_vectors |= 1 << vector;
            self.counters.interrupts += 1;
        }
    }

    fn transmit(&mut self, now_ns: u64) {
        for (queue, vector) in self.running_queues() {
            let mut guard = lock(&queue);
            let q = &mut *guard;
            if !q.running {
                continue;
            }
            let mut sent = 0;
            while q.tx.head != q.tx.tail {
                let h = q.tx.head;
                let frame = q.tx.slots[h].buf.as_ref().map(|b| b.data().to_vec());
                q.tx.slots[h].done = true;
                q.tx.head = q.tx.next(h);
                sent += 1;
                let Some(frame) = frame else { continue };
                if frame.len() < ETH_HEADER_LEN
                    || frame.len() > usize::from(self.config.max_frame_len)
                {
                    self.counters.tx_errors += 1;
                    continue;
                }
                q.counters.tx_frames += 1;
                if !self.link_up {
                    continue;
                }
                self.stats.tx_packets += 1;
                self.stats.tx_bytes += frame.len() as u64;
                if let Some(tap) = self.tap.as_mut() {
                    tap.frame(crate::pcap::Direction::Tx, now_ns, &frame);
                }
                match &self.port {
                    Port::Loopback => self.wire_in.push_back(frame),
                    Port::Host => self.wire_out.push_back(frame),
                    Port::Link(link, end) => lock(link).send(*end, now_ns, &frame),
                }
            }
            let raise = sent > 0 && q.interrupt;
            drop(guard);
            if raise {
                self.raise(vector);
            }
        }
    }

    fn receive(&mut self, now_ns: u64) {
        if let Port::Link(link, end) = &self.port {
            let mut link = lock(link);
            while let Some(frame) = link.recv(*end, now_ns) {
                // A frame arriving while the link is down is lost on the wire.
                if self.link_up {
                    self.wire_in.push_back(frame);
                }
            }
        }
        while let Some(frame) = self.wire_in.pop_front() {
            self.receive_frame(now_ns, &frame);
        }
    }

    fn accepts(&self, frame: &[u8]) -> bool {
        let mut dst = [0u8; 6];
        dst.copy_from_slice(&frame[..6]);
        let dst = MacAddr(dst);
        let m = self.rx_mode;
        m.promiscuous
            || dst == self.config.mac
            || (dst == MacAddr::BROADCAST && (m.broadcast || m.all_multicast))
            || (dst.is_multicast() && dst != MacAddr::BROADCAST && m.all_multicast)
    }

    fn receive_frame(&mut self, now_ns: u64, frame: &[u8]) {
        if let Some(tap) = self.tap.as_mut() {
            tap.frame(crate::pcap::Direction::Rx, now_ns, frame);
        }
        if frame.len() < ETH_HEADER_LEN || frame.len() > usize::from(self.config.max_frame_len) {
            self.stats.rx_errors += 1;
            return;
        }
        if !self.accepts(frame) {
            self.counters.rx_filtered += 1;
            return;
        }
        // No filters, no RSS: everything goes to queue 0.
        let Some(slot) = self.queues.first() else {
            self.stats.rx_missed += 1;
            return;
        };
        let vector = slot.vector;
        let Some(queue) = slot.state.clone() else {
            self.stats.rx_missed += 1;
            return;
        };
        let mut guard = lock(&queue);
        let q = &mut *guard;
        if !q.running || q.rx.head == q.rx.tail {
            self.stats.rx_missed += 1;
            return;
        }
        let h = q.rx.head;
        let limit = q.rx_buf_len as usize;
        let Some(buf) = q.rx.slots[h].buf.as_mut() else {
            // A slot without a buffer cannot be posted; treat as no descriptor.
            self.stats.rx_missed += 1;
            return;
        };
        let area = buf.writable_area();
        if frame.len() > area.len().min(limit) {
            // The frame does not fit the posted buffer: dropped, buffer kept posted.
            self.stats.rx_errors += 1;
            return;
        }
        area[..frame.len()].copy_from_slice(frame);
        if buf.set_len(frame.len() as u32).is_err() {
            self.stats.rx_errors += 1;
            return;
        }
        q.rx.slots[h].done = true;
        q.rx.head = q.rx.next(h);
        q.counters.rx_frames += 1;
        self.stats.rx_packets += 1;
        self.stats.rx_bytes += frame.len() as u64;
        let raise = q.interrupt;
        drop(guard);
        if raise {
            self.raise(vector);
        }
    }
}

impl ErrorType for SoftNic {
    type Error = ErrorKind;
}

impl ErrorType for SoftQueue {
    type Error = ErrorKind;
}

impl CardDriver for SoftNic {
    type Queue = SoftQueue;

    fn info(&self) -> CardInfo {
        let dev = lock(&self.dev);
        CardInfo {
            queues: dev.config.queues,
            vectors: dev.config.queues,
            max_frame_len: dev.config.max_frame_len,
            offloads: Offloads::empty(),
            reta_len: 0,
        }
    }

    fn reset(&mut self) -> Result<(), ErrorKind> {
        let mut dev = lock(&self.dev);
        // As the contract asks: no reset while a queue driver is out.
        if dev.queues.iter().any(|s| s.state.is_some()) {
            return Err(ErrorKind::InvalidState);
        }
        for (i, slot) in dev.queues.iter_mut().enumerate() {
            slot.vector = i as u16;
        }
        dev.moderation.iter_mut().for_each(|m| *m = 0);
        dev.stats = Stats::default();
        dev.counters = DeviceCounters::default();
        dev.pending_vectors = 0;
        dev.pending_events = CardEvents::empty();
        dev.wire_in.clear();
        Ok(())
    }

    fn mac_address(&self) -> MacAddr {
        lock(&self.dev).config.mac
    }

    fn set_rx_mode(&mut self, mode: RxMode) -> Result<(), ErrorKind> {
        lock(&self.dev).rx_mode = mode;
        Ok(())
    }

    fn link(&mut self) -> LinkState {
        if lock(&self.dev).link_up {
            LinkState::Up(LinkSpeed::Gbps10)
        } else {
            LinkState::Down
        }
    }

    fn stats(&mut self) -> Stats {
        lock(&self.dev).stats
    }

    fn queue(&mut self, index: u16, config: QueueConfig) -> Result<SoftQueue, ErrorKind> {
        let mut dev = lock(&self.dev);
        let slot = dev
            .queues
            .get_mut(usize::from(index))
            .ok_or(ErrorKind::InvalidArgument)?;
        if slot.state.is_some() {
            return Err(ErrorKind::InvalidState);
        }
        let ring_ok = |n: u16| (2..=MAX_RING).contains(&n);
        if !ring_ok(config.rx_ring) || !ring_ok(config.tx_ring) || config.rx_buf_len == 0 {
            return Err(ErrorKind::InvalidArgument);
        }
        let state = Arc::new(Mutex::new(QueueState {
            running: true,
            rx: Ring::new(config.rx_ring),
            tx: Ring::new(config.tx_ring),
            rx_buf_len: config.rx_buf_len,
            interrupt: false,
            counters: QueueCounters::default(),
        }));
        slot.state = Some(state.clone());
        Ok(SoftQueue { index, state })
    }

    fn stop_queue(&mut self, index: u16) -> Result<(), ErrorKind> {
        let mut dev = lock(&self.dev);
        let slot = dev
            .queues
            .get_mut(usize::from(index))
            .ok_or(ErrorKind::InvalidArgument)?;
        // The index stays taken until the driver is given back.
        let q = slot.state.as_ref().ok_or(ErrorKind::InvalidState)?;
        let mut q = lock(q);
        if !q.running {
            return Err(ErrorKind::InvalidState);
        }
        q.running = false;
        Ok(())
    }

    fn return_queue(&mut self, queue: SoftQueue) -> Result<(), ErrorKind> {
        let mut dev = lock(&self.dev);
        let slot = dev
            .queues
            .get_mut(usize::from(queue.index))
            .ok_or(ErrorKind::InvalidArgument)?;
        match &slot.state {
            Some(s) if Arc::ptr_eq(s, &queue.state) => {
                lock(s).running = false;
                slot.state = None;
                Ok(())
            }
            _ => Err(ErrorKind::InvalidArgument),
        }
    }

    fn filter_capacity(&self, _class: FilterClass) -> FilterCapacity {
        FilterCapacity { total: 0, used: 0 }
    }

    fn install_filter(
        &mut self,
        _class: FilterClass,
        _rule: &FlowRule,
        _action: FilterAction,
    ) -> Result<FilterHandle, ErrorKind> {
        Err(ErrorKind::Unsupported)
    }

    fn remove_filter(&mut self, _handle: FilterHandle) -> Result<(), ErrorKind> {
        // No filter was ever installed, so no handle names one.
        Err(ErrorKind::NotFound)
    }

    fn set_rss(&mut self, _config: &RssConfig<'_>) -> Result<(), ErrorKind> {
        Err(ErrorKind::Unsupported)
    }

    fn set_queue_vector(&mut self, queue: u16, vector: u16) -> Result<(), ErrorKind> {
        let mut dev = lock(&self.dev);
        if vector >= dev.config.queues {
            return Err(ErrorKind::InvalidArgument);
        }
        let slot = dev
            .queues
            .get_mut(usize::from(queue))
            .ok_or(ErrorKind::InvalidArgument)?;
        slot.vector = vector;
        Ok(())
    }

    fn set_moderation(&mut self, vector: u16, interval_us: u32) -> Result<(), ErrorKind> {
        // Recorded only: in virtual time every cause is reported at the next read.
        let mut dev = lock(&self.dev);
        let m = dev
            .moderation
            .get_mut(usize::from(vector))
            .ok_or(ErrorKind::InvalidArgument)?;
        *m = interval_us;
        Ok(())
    }

    fn interrupt_causes(&mut self) -> InterruptCauses {
        let mut dev = lock(&self.dev);
        let causes = InterruptCauses {
            events: dev.pending_events,
            vectors: dev.pending_vectors,
        };
        dev.pending_events = CardEvents::empty();
        dev.pending_vectors = 0;
        causes
    }
}

impl SoftQueue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        lock(&self.state)
    }

    /// This queue's counters.
    pub fn counters(&self) -> QueueCounters {
        self.lock().counters
    }
}

impl QueueDriver for SoftQueue {
    fn index(&self) -> u16 {
        self.index
    }

    fn rx_burst<const N: usize>(&mut self, out: &mut Batch<N>) -> Result<usize, ErrorKind> {
        Ok(self.lock().rx.collect(out))
    }

    fn refill<const N: usize>(&mut self, bufs: &mut Batch<N>) -> Result<usize, ErrorKind> {
        let mut q = self.lock();
        let n = q.rx.post(bufs);
        if n > 0 {
            // One tail write for the whole burst.
            q.counters.doorbells += 1;
        }
        Ok(n)
    }

    fn rx_free(&self) -> usize {
        self.lock().rx.free()
    }

    fn tx_burst<const N: usize>(&mut self, bufs: &mut Batch<N>) -> Result<usize, ErrorKind> {
        let mut q = self.lock();
        let n = q.tx.post(bufs);
        if n > 0 {
            q.counters.doorbells += 1;
        }
        Ok(n)
    }

    fn tx_reclaim<const N: usize>(&mut self, done: &mut Batch<N>) -> Result<usize, ErrorKind> {
        Ok(self.lock().tx.collect(done))
    }

    fn tx_free(&self) -> usize {
        self.lock().tx.free()
    }

    fn set_interrupt(&mut self, enabled: bool) -> Result<(), ErrorKind> {
        self.lock().interrupt = enabled;
        Ok(())
    }

    /// Takes back every buffer once the queue is stopped (0 before).
    fn release<const N: usize>(&mut self, out: &mut Batch<N>) -> usize {
        let mut q = self.lock();
        if q.running {
            return 0;
        }
        let n = q.rx.release(out);
        n + q.tx.release(out)
    }
}

/// Two software NICs joined by an impaired link, stepped together.
#[derive(Debug)]
pub struct SoftNicPair {
    /// The NIC at end A.
    pub a: SoftNic,
    /// The NIC at end B.
    pub b: SoftNic,
    /// The link between them.
    pub link: SharedLink,
}

impl SoftNicPair {
    /// Two NICs with MAC addresses 02:00:00:00:00:0a and …:0b joined by a
    /// link with `impairment` both ways, seeded with `seed`.
    pub fn new(seed: u64, impairment: Impairment, queues: u16) -> Self {
        let link: SharedLink = Arc::new(Mutex::new(Link::new(seed, impairment)));
        let cfg = |last: u8| SoftNicConfig {
            mac: MacAddr([0x02, 0, 0, 0, 0, last]),
            queues,
            ..SoftNicConfig::default()
        };
        Self {
            a: SoftNic::new(cfg(0x0a), Port::Link(link.clone(), End::A)),
            b: SoftNic::new(cfg(0x0b), Port::Link(link.clone(), End::B)),
            link,
        }
    }

    /// Runs both devices up to `now_ns`: both transmit first, so a frame
    /// sent over a link without delay is received in the same step.
    pub fn step(&self, now_ns: u64) {
        self.a.poll_tx(now_ns);
        self.b.poll_tx(now_ns);
        self.a.poll_rx(now_ns);
        self.b.poll_rx(now_ns);
    }

    /// When the next frame in flight arrives at either NIC.
    pub fn next_arrival(&self) -> Option<u64> {
        let link = lock(&self.link);
        match (link.next_arrival(End::A), link.next_arrival(End::B)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A [`Harness`](nic_traits::testkit::Harness) for the conformance kit: a
/// software NIC on a [`Port::Host`] wire, a pool of buffers in [`SimDma`](crate::SimDma)
/// memory, and a virtual clock that [`advance`](nic_traits::testkit::Harness::advance)
/// moves by one microsecond per call.
///
/// # Examples
///
/// ```
/// use nic_sim::softnic::{SoftNicConfig, SoftNicHarness};
/// use nic_traits::QueueConfig;
///
/// let mut h = SoftNicHarness::new(SoftNicConfig::default(), QueueConfig::default());
/// let report = nic_traits::testkit::run_all(&mut h).unwrap();
/// assert!(report.passed.contains(&"tx and reclaim"));
/// ```
#[derive(Debug)]
pub struct SoftNicHarness {
    nic: SoftNic,
    now_ns: u64,
    pool: Vec<PacketBuf>,
    queue_config: QueueConfig,
    buffers: usize,
}

impl SoftNicHarness {
    /// A software NIC with `config`, queues set up with `queue_config`, and
    /// enough buffers for the kit.
    pub fn new(config: SoftNicConfig, queue_config: QueueConfig) -> Self {
        let dma = crate::SimDma::new();
        let rings = usize::from(queue_config.rx_ring.max(queue_config.tx_ring));
        let count = 2 * rings + 64;
        // Room for `rx_buf_len` bytes after each buffer's header.
        let size = (queue_config.rx_buf_len as usize).max(2048) + PacketBuf::HEADER_LEN;
        let pool: Vec<PacketBuf> = match nic_traits::Dma::alloc(&dma, count * size, 64) {
            Ok(region) => region.into_buffers(size, 0).collect(),
            Err(_) => Vec::new(),
        };
        Self {
            nic: SoftNic::new(config, Port::Host),
            now_ns: 0,
            buffers: pool.len(),
            pool,
            queue_config,
        }
    }

    /// The software NIC.
    pub fn nic(&self) -> &SoftNic {
        &self.nic
    }

    /// Buffers back in the pool; equal to [`buffers_total`](Self::buffers_total)
    /// when nothing is lost.
    pub fn buffers_free(&self) -> usize {
        self.pool.len()
    }

    /// Buffers the pool started with.
    pub fn buffers_total(&self) -> usize {
        self.buffers
    }
}

impl nic_traits::testkit::Harness for SoftNicHarness {
    type Card = SoftNic;

    fn card(&mut self) -> &mut SoftNic {
        &mut self.nic
    }

    fn inject(&mut self, frame: &[u8]) -> bool {
        self.nic.inject(frame)
    }

    fn take_transmitted(&mut self, out: &mut [u8]) -> Option<usize> {
        let frame = self.nic.take_transmitted()?;
        let n = frame.len().min(out.len());
        out[..n].copy_from_slice(&frame[..n]);
        Some(frame.len())
    }

    fn advance(&mut self) {
        self.now_ns += 1_000;
        self.nic.poll_device(self.now_ns);
    }

    fn alloc_buffer(&mut self) -> Option<PacketBuf> {
        self.pool.pop()
    }

    fn free_buffer(&mut self, mut buf: PacketBuf) {
        buf.reset(0);
        self.pool.push(buf);
    }

    fn queue_config(&self) -> QueueConfig {
        self.queue_config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimDma;
    use nic_traits::Dma;

    fn pool<const N: usize>(dma: &SimDma) -> Batch<N> {
        let mut b = Batch::new();
        for buf in dma.alloc(N * 2112, 64).unwrap().into_buffers(2112, 0) {
            b.push_back(buf).unwrap();
        }
        b
    }

    fn frame(dst: MacAddr, n: u8, len: usize) -> Vec<u8> {
        let mut f = vec![n; len];
        f[..6].copy_from_slice(&dst.0);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 0xee]);
        f[12..14].copy_from_slice(&[0x88, 0xb5]);
        f
    }

    #[test]
    fn ring_holds_one_less_than_its_size_and_one_doorbell_per_burst() {
        let mut nic = SoftNic::new(SoftNicConfig::default(), Port::Host);
        let cfg = QueueConfig {
            rx_ring: 8,
            tx_ring: 8,
            rx_buf_len: 2048,
        };
        let mut q = nic.queue(0, cfg).unwrap();
        let dma = SimDma::new();
        let mut bufs: Batch<16> = pool(&dma);
        assert_eq!(q.rx_free(), 7);
        assert_eq!(q.refill(&mut bufs).unwrap(), 7);
        assert_eq!(bufs.len(), 9);
        assert_eq!(q.refill(&mut bufs).unwrap(), 0);
        assert_eq!(q.counters().doorbells, 1);
        let mac = nic.mac_address();
        for i in 0..10 {
            assert!(nic.inject(&frame(mac, i, 60)));
        }
        nic.poll_device(0);
        let s = nic.stats();
        assert_eq!((s.rx_packets, s.rx_missed), (7, 3));
        let mut out: Batch<4> = Batch::new();
        assert_eq!(q.rx_burst(&mut out).unwrap(), 4);
        assert_eq!(out.get(3).unwrap().data()[20], 3);
        assert_eq!(q.rx_burst(&mut out).unwrap(), 0);
        nic.stop_queue(0).unwrap();
        let mut rest: Batch<16> = Batch::new();
        assert_eq!(q.release(&mut rest), 3);
        assert_eq!(q.release(&mut rest), 0);
    }

    #[test]
    fn errors_for_bad_arguments_and_states() {
        let mut nic = SoftNic::new(SoftNicConfig::default(), Port::Host);
        let cfg = QueueConfig::default();
        assert_eq!(nic.queue(1, cfg).unwrap_err(), ErrorKind::InvalidArgument);
        let bad = QueueConfig { rx_ring: 1, ..cfg };
        assert_eq!(nic.queue(0, bad).unwrap_err(), ErrorKind::InvalidArgument);
        let q = nic.queue(0, cfg).unwrap();
        assert_eq!(nic.queue(0, cfg).unwrap_err(), ErrorKind::InvalidState);
        assert_eq!(nic.stop_queue(3), Err(ErrorKind::InvalidArgument));
        nic.stop_queue(0).unwrap();
        assert_eq!(nic.stop_queue(0), Err(ErrorKind::InvalidState));
        nic.return_queue(q).unwrap();
        assert_eq!(nic.stop_queue(0), Err(ErrorKind::InvalidState));
        assert!(nic.queue(0, cfg).is_ok());
        for class in FilterClass::ALL {
            assert_eq!(nic.filter_capacity(class).total, 0);
            let r = nic.install_filter(class, &FlowRule::ARP, FilterAction::default());
            assert_eq!(r, Err(ErrorKind::Unsupported));
        }
        assert_eq!(nic.set_queue_vector(0, 1), Err(ErrorKind::InvalidArgument));
        assert_eq!(nic.set_moderation(1, 10), Err(ErrorKind::InvalidArgument));
        let rss = RssConfig {
            key: &[0; 40],
            reta: &[0],
            fields: Default::default(),
        };
        assert_eq!(nic.set_rss(&rss), Err(ErrorKind::Unsupported));
    }

    #[test]
    fn oversized_runt_and_foreign_frames_are_counted_not_delivered() {
        let mut nic = SoftNic::new(SoftNicConfig::default(), Port::Host);
        let cfg = QueueConfig {
            rx_ring: 8,
            tx_ring: 8,
            rx_buf_len: 256,
        };
        let mut q = nic.queue(0, cfg).unwrap();
        let dma = SimDma::new();
        let mut bufs: Batch<4> = pool(&dma);
        q.refill(&mut bufs).unwrap();
        let mac = nic.mac_address();
        nic.inject(&frame(mac, 1, 300)); // longer than the buffer
        nic.inject(&frame(mac, 2, 1519)); // longer than the maximum frame
        nic.inject(&[0u8; 10]); // runt
        nic.inject(&frame(MacAddr([2, 9, 9, 9, 9, 9]), 3, 60)); // not ours
        nic.inject(&frame(MacAddr::BROADCAST, 4, 60));
        nic.inject(&frame(mac, 5, 256)); // exactly fits
        nic.poll_device(0);
        let s = nic.stats();
        assert_eq!((s.rx_packets, s.rx_errors, s.rx_missed), (2, 3, 0));
        assert_eq!(nic.device_counters().rx_filtered, 1);
        let mut out: Batch<4> = Batch::new();
        q.rx_burst(&mut out).unwrap();
        assert_eq!(out.get(0).unwrap().data()[20], 4);
        assert_eq!(out.get(1).unwrap().len(), 256);
        nic.set_rx_mode(RxMode {
            promiscuous: true,
            ..RxMode::default()
        })
        .unwrap();
        nic.inject(&frame(MacAddr([2, 9, 9, 9, 9, 9]), 3, 60));
        nic.poll_device(1);
        assert_eq!(nic.stats().rx_packets, 3);
    }

    #[test]
    fn interrupt_causes_name_the_queue_vector_and_link_changes() {
        let mut nic = SoftNic::new(
            SoftNicConfig {
                queues: 2,
                ..SoftNicConfig::default()
            },
            Port::Loopback,
        );
        let mut q0 = nic.queue(0, QueueConfig::default()).unwrap();
        let mut q1 = nic.queue(1, QueueConfig::default()).unwrap();
        nic.set_queue_vector(0, 1).unwrap();
        q0.set_interrupt(true).unwrap();
        q1.set_interrupt(true).unwrap();
        let dma = SimDma::new();
        let mut bufs: Batch<4> = pool(&dma);
        let mut one: Batch<1> = Batch::new();
        one.push_back(bufs.pop_front().unwrap()).unwrap();
        q0.refill(&mut one).unwrap();
        assert_eq!(nic.interrupt_causes(), InterruptCauses::default());
        // Sent on queue 1 (vector 1), looped back to queue 0 (vector 1 too).
        let mut f = bufs.pop_front().unwrap();
        f.append(&frame(nic.mac_address(), 1, 60)).unwrap();
        one.push_back(f).unwrap();
        q1.tx_burst(&mut one).unwrap();
        nic.poll_device(0);
        assert_eq!(nic.interrupt_causes().vectors, 0b10);
        assert_eq!(nic.interrupt_causes().vectors, 0);
        nic.set_link_up(false);
        assert_eq!(nic.link(), LinkState::Down);
        assert!(!nic.inject(&[0; 60]));
        assert_eq!(nic.interrupt_causes().events, CardEvents::LINK_CHANGE);
    }

    #[test]
    fn reset_waits_for_queue_drivers_and_release_waits_for_stop() {
        let mut nic = SoftNic::new(SoftNicConfig::default(), Port::Host);
        let mut q = nic.queue(0, QueueConfig::default()).unwrap();
        let dma = SimDma::new();
        let mut bufs: Batch<4> = pool(&dma);
        q.refill(&mut bufs).unwrap();
        nic.inject(&frame(nic.mac_address(), 1, 60));
        nic.poll_device(0);
        assert_eq!(nic.stats().rx_packets, 1);
        // A driver is out: no reset, and release moves nothing while it runs.
        assert_eq!(nic.reset(), Err(ErrorKind::InvalidState));
        let mut out: Batch<8> = Batch::new();
        assert_eq!(q.release(&mut out), 0);
        nic.stop_queue(0).unwrap();
        // Stopped but not given back: the index stays taken.
        assert_eq!(
            nic.queue(0, QueueConfig::default()).err(),
            Some(ErrorKind::InvalidState)
        );
        nic.inject(&frame(nic.mac_address(), 2, 60));
        nic.poll_device(1);
        assert_eq!(nic.stats().rx_missed, 1);
        assert_eq!(q.release(&mut out), 4);
        assert_eq!(out.get(0).unwrap().data()[20], 1);
        // A driver of another card is refused.
        let mut other = SoftNic::new(SoftNicConfig::default(), Port::Host);
        let foreign = other.queue(0, QueueConfig::default()).unwrap();
        assert_eq!(nic.return_queue(foreign), Err(ErrorKind::InvalidArgument));
        nic.return_queue(q).unwrap();
        nic.reset().unwrap();
        assert_eq!(nic.stats(), Stats::default());
        assert!(nic.queue(0, QueueConfig::default()).is_ok());
    }

    #[test]
    fn pair_moves_frames_both_ways_and_queue_driver_is_send() {
        fn is_send<T: Send>() {}
        is_send::<SoftQueue>();
        is_send::<SoftNic>();
        let mut pair = SoftNicPair::new(1, Impairment::default(), 1);
        let dma = SimDma::new();
        let mut qa = pair.a.queue(0, QueueConfig::default()).unwrap();
        let mut qb = pair.b.queue(0, QueueConfig::default()).unwrap();
        let mut bufs: Batch<8> = pool(&dma);
        let mut rx: Batch<2> = Batch::new();
        rx.push_back(bufs.pop_front().unwrap()).unwrap();
        qb.refill(&mut rx).unwrap();
        rx.push_back(bufs.pop_front().unwrap()).unwrap();
        qa.refill(&mut rx).unwrap();
        let mut f = bufs.pop_front().unwrap();
        f.append(&frame(pair.b.mac_address(), 7, 100)).unwrap();
        let mut tx: Batch<2> = Batch::new();
        tx.push_back(f).unwrap();
        // Sent from another thread: the queue driver moves.
        let handle = std::thread::spawn(move || {
            qa.tx_burst(&mut tx).unwrap();
            qa
        });
        let mut qa = handle.join().unwrap();
        pair.step(0);
        let mut got: Batch<2> = Batch::new();
        assert_eq!(qb.rx_burst(&mut got).unwrap(), 1);
        assert_eq!(got.get(0).unwrap().data()[50], 7);
        assert_eq!(qa.tx_reclaim(&mut got).unwrap(), 1);
        assert_eq!(pair.next_arrival(), None);
        assert_eq!(pair.a.stats().tx_packets, 1);
        assert_eq!(pair.b.stats().rx_packets, 1);
    }
}
