//! The card driver: owns the device's global registers and filters and hands
//! out queue drivers.

use crate::error::ErrorType;
use crate::flow::{FilterAction, FilterCapacity, FilterClass, FilterHandle, FlowRule, RssConfig};
use crate::queue::QueueDriver;

/// A MAC (Ethernet) address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The broadcast address ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: Self = Self([0xff; 6]);

    /// Whether the group (multicast) bit is set (IEEE 802, first octet bit 0).
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl core::fmt::Display for MacAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// Link speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum LinkSpeed {
    /// 10 Mbit/s.
    Mbps10,
    /// 100 Mbit/s.
    Mbps100,
    /// 1 Gbit/s.
    Gbps1,
    /// 10 Gbit/s.
    Gbps10,
    /// Another speed, in Mbit/s.
    Other(u32),
}

/// Link state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LinkState {
    /// No link.
    Down,
    /// Link up at a speed.
    Up(LinkSpeed),
}

/// Which frames the card accepts besides those to its own address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RxMode {
    /// Every unicast frame.
    pub promiscuous: bool,
    /// Every multicast frame.
    pub all_multicast: bool,
    /// Broadcast frames.
    pub broadcast: bool,
}

/// Counters since the card was brought up (or last cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    /// Frames received and delivered to a queue.
    pub rx_packets: u64,
    /// Bytes in those frames.
    pub rx_bytes: u64,
    /// Frames dropped because the queue had no free descriptor.
    pub rx_missed: u64,
    /// Frames dropped as malformed (CRC, length).
    pub rx_errors: u64,
    /// Frames transmitted.
    pub tx_packets: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
}

bitflags::bitflags! {
    /// Offloads the card can perform.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Offloads: u32 {
        /// Verifies IPv4 header checksums on receive.
        const RX_IPV4_CSUM = 1 << 0;
        /// Verifies TCP/UDP checksums on receive.
        const RX_L4_CSUM = 1 << 1;
        /// Inserts IPv4 header checksums on transmit.
        const TX_IPV4_CSUM = 1 << 2;
        /// Inserts TCP/UDP checksums on transmit.
        const TX_L4_CSUM = 1 << 3;
        /// Computes an RSS hash per received frame.
        const RSS_HASH = 1 << 4;
        /// Strips VLAN tags on receive.
        const VLAN_STRIP = 1 << 5;
        /// Segments large TCP sends.
        const TSO = 1 << 6;
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Offloads {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Offloads({=u32:#x})", self.bits())
    }
}

/// What a card is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CardInfo {
    /// Number of RX/TX queue pairs the driver can hand out.
    pub queues: u16,
    /// Number of interrupt vectors (0 when the card is only polled).
    pub vectors: u16,
    /// Largest frame, without FCS, the card sends and receives.
    pub max_frame_len: u16,
    /// Offloads available.
    pub offloads: Offloads,
    /// Entries in the RSS redirection table (0 without RSS).
    pub reta_len: u16,
}

/// Ring sizes and buffer size for a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QueueConfig {
    /// Receive descriptors (the card may require a multiple of some number).
    pub rx_ring: u16,
    /// Transmit descriptors.
    pub tx_ring: u16,
    /// Bytes the device may write into each receive buffer (from its data start).
    pub rx_buf_len: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            rx_ring: 512,
            tx_ring: 512,
            rx_buf_len: 2048,
        }
    }
}

bitflags::bitflags! {
    /// Causes reported by [`CardDriver::interrupt_causes`] besides queues.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct CardEvents: u32 {
        /// The link state changed.
        const LINK_CHANGE = 1 << 0;
        /// The device reported an internal error (e.g. a PCIe error).
        const DEVICE_ERROR = 1 << 1;
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for CardEvents {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "CardEvents({=u32:#x})", self.bits())
    }
}

/// Pending interrupt causes, read and acknowledged in one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct InterruptCauses {
    /// Card-wide events.
    pub events: CardEvents,
    /// Bit `v` set: vector `v` has queue work pending.
    pub vectors: u64,
}

/// The card driver: one per device, owning its global registers.
///
/// # For driver authors
/// Bring the device up in your constructor (reset, wait for the device with
/// bounded waits, configure), then implement this trait. A card that lacks a
/// feature says so — zero filter capacity, `Unsupported` from
/// [`install_filter`](Self::install_filter), `vectors: 0` — rather than
/// pretending.
///
/// # For host authors
/// Ask [`info`](Self::info), take queue drivers with
/// [`queue`](Self::queue), place rules with
/// [`install_filter`](Self::install_filter), and call
/// [`interrupt_causes`](Self::interrupt_causes) from your interrupt handler
/// or poll loop.
pub trait CardDriver: ErrorType {
    /// The queue driver type this card hands out.
    type Queue: QueueDriver;

    /// Static facts about the card.
    fn info(&self) -> CardInfo;

    /// Resets the device and brings it up again with the current settings.
    ///
    /// A card whose queue drivers touch device registers fails with
    /// `InvalidState` while any queue driver it handed out has not been
    /// given back with [`return_queue`](Self::return_queue): a reset would
    /// otherwise leave that driver ringing doorbells of a ring it no longer
    /// owns.
    fn reset(&mut self) -> Result<(), Self::Error>;

    /// The card's MAC address.
    fn mac_address(&self) -> MacAddr;

    /// Sets which frames are accepted besides unicast to our address.
    fn set_rx_mode(&mut self, mode: RxMode) -> Result<(), Self::Error>;

    /// Reads the link state.
    fn link(&mut self) -> LinkState;

    /// Reads the statistics counters.
    fn stats(&mut self) -> Stats;

    /// Sets up queue pair `index` and hands out its driver. Each index is
    /// handed out at most once until its driver is given back with
    /// [`return_queue`](Self::return_queue) (`InvalidState` before): two
    /// live drivers of one index would both write its ring registers.
    fn queue(&mut self, index: u16, config: QueueConfig) -> Result<Self::Queue, Self::Error>;

    /// Stops queue `index` in the device (it stops receiving and
    /// transmitting). The index stays taken: afterwards call the queue
    /// driver's [`release`](QueueDriver::release) to take back its buffers,
    /// then give the driver back with [`return_queue`](Self::return_queue).
    fn stop_queue(&mut self, index: u16) -> Result<(), Self::Error>;

    /// Takes back a queue driver this card handed out, stopping its queue in
    /// the device if it still runs, so that its index can be handed out
    /// again. Call [`release`](QueueDriver::release) first: buffers the
    /// driver still holds are dropped with it.
    ///
    /// Fails with `InvalidArgument` for a driver this card does not have
    /// out, or with the error of stopping the queue (then the index stays
    /// taken and the driver's memory is not reused, as the device may still
    /// write it).
    ///
    /// The default drops the driver, which is right for a card whose queue
    /// drivers own all their state and whose [`queue`](Self::queue) does not
    /// wait for them to come back.
    fn return_queue(&mut self, queue: Self::Queue) -> Result<(), Self::Error> {
        drop(queue);
        Ok(())
    }

    /// Table size and use of a filter class (`total == 0`: the card lacks it).
    fn filter_capacity(&self, class: FilterClass) -> FilterCapacity;

    /// Installs `rule` in a filter of `class` steering to `action.queue`.
    ///
    /// Fails with `Unsupported` when the class cannot express the rule,
    /// `NoResources` when the class's table is full, `InvalidArgument` for a
    /// bad queue index or an inconsistent rule.
    fn install_filter(
        &mut self,
        class: FilterClass,
        rule: &FlowRule,
        action: FilterAction,
    ) -> Result<FilterHandle, Self::Error>;

    /// Removes an installed filter.
    fn remove_filter(&mut self, handle: FilterHandle) -> Result<(), Self::Error>;

    /// Configures RSS (key, redirection table, hashed fields).
    fn set_rss(&mut self, config: &RssConfig<'_>) -> Result<(), Self::Error>;

    /// Routes queue `queue`'s interrupt to vector `vector`.
    fn set_queue_vector(&mut self, queue: u16, vector: u16) -> Result<(), Self::Error>;

    /// Sets the minimum interval between interrupts of `vector` (0: none).
    fn set_moderation(&mut self, vector: u16, interval_us: u32) -> Result<(), Self::Error>;

    /// Reads and acknowledges pending interrupt causes. Works with
    /// interrupts masked too, for polling.
    fn interrupt_causes(&mut self) -> InterruptCauses;
}
