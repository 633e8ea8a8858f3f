//! The nic-traits conformance kit on the 82599 driver and the register-level model.

mod common;

use common::*;
use ixgbe_nostd::{Config, FdirMode, TxCompletion};
use nic_sim::SimDma;
use nic_sim::i82599::I82599;
use nic_traits::testkit::{self, Failure, Harness, Outcome};
use nic_traits::{PacketBuf, QueueConfig};

struct ModelHarness {
    dev: I82599,
    card: Card,
    pool: Vec<PacketBuf>,
    total: usize,
}

impl ModelHarness {
    fn new(config: Config) -> Self {
        let (dev, dma, card): (I82599, SimDma, Card) = card_with(MAC_A, config);
        let pool = pool(&dma, 2 * 64 + 128);
        Self {
            dev,
            card,
            total: pool.len(),
            pool,
        }
    }
}

impl Harness for ModelHarness {
    type Card = Card;

    fn card(&mut self) -> &mut Card {
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

/// Every check of the kit, filter placement included (on the full
/// multi-queue card).
const CHECKS: [(&str, Check); 8] = [
    ("errors", testkit::check_errors),
    ("rx delivery", testkit::check_rx_delivery),
    ("tx and reclaim", testkit::check_tx),
    ("rx ring exhaustion", testkit::check_rx_exhaustion),
    ("oversized frame", testkit::check_oversized_frame),
    ("stop and release", testkit::check_stop_release),
    ("interrupt causes", testkit::check_interrupts),
    ("filter placement", testkit::check_filters),
];

fn run(config: Config) {
    for (name, check) in CHECKS {
        let mut h = ModelHarness::new(config);
        match check(&mut h) {
            Ok(Outcome::Passed) => {}
            Ok(Outcome::NotApplicable(why)) => panic!("{name} not applicable: {why}"),
            Err(failure) => panic!("{name}: {failure}"),
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

#[test]
fn conformance_kit_passes_with_signature_flow_director() {
    run(Config {
        flow_director: FdirMode::Signature,
        ..Config::default()
    });
}

#[test]
fn run_all_reports_every_check_passed() {
    let mut h = ModelHarness::new(Config::default());
    let report = testkit::run_all(&mut h).expect("the kit passes");
    assert!(report.not_applicable.is_empty(), "{report:?}");
    assert!(report.passed.len() >= CHECKS.len(), "{report:?}");
}
