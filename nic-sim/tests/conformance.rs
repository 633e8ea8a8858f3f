//! The software NIC passes the conformance kit of `nic-traits`, with every
//! buffer back in the pool afterwards.

use nic_sim::softnic::{SoftNicConfig, SoftNicHarness};
use nic_traits::QueueConfig;
use nic_traits::testkit::{self, Outcome, run_all};

fn run(config: SoftNicConfig, queue_config: QueueConfig) -> testkit::Report {
    let mut h = SoftNicHarness::new(config, queue_config);
    let report = match run_all(&mut h) {
        Ok(r) => r,
        Err(f) => panic!("{f}"),
    };
    assert_eq!(h.buffers_free(), h.buffers_total(), "buffers lost");
    report
}

#[test]
fn one_queue_softnic_passes_every_applicable_check() {
    let report = run(SoftNicConfig::default(), QueueConfig::default());
    for check in [
        "errors",
        "rx delivery",
        "tx and reclaim",
        "rx ring exhaustion",
        "oversized frame",
        "stop and release",
        "interrupt causes",
    ] {
        assert!(report.passed.contains(&check), "{check}: {report:?}");
    }
    // No filters: the placement check can only confirm Unsupported.
    assert_eq!(report.not_applicable.len(), 1, "{report:?}");
    assert_eq!(report.not_applicable[0].0, "filter placement");
    assert!(report.frames > 500, "{report:?}");
    assert!(report.buffers > 1000, "{report:?}");
}

#[test]
fn small_rings_small_buffers_and_several_queues_pass_too() {
    // 1024-byte buffers: the oversized frame is longer than the buffer but
    // shorter than the maximum frame, the other drop path.
    let report = run(
        SoftNicConfig {
            queues: 4,
            ..SoftNicConfig::default()
        },
        QueueConfig {
            rx_ring: 8,
            tx_ring: 4,
            rx_buf_len: 1024,
        },
    );
    assert_eq!(report.passed.len(), 7, "{report:?}");
}

#[test]
fn each_check_runs_alone() {
    let mut h = SoftNicHarness::new(SoftNicConfig::default(), QueueConfig::default());
    type Check = fn(&mut SoftNicHarness) -> Result<Outcome, testkit::Failure>;
    let checks: [Check; 8] = [
        testkit::check_errors,
        testkit::check_rx_delivery,
        testkit::check_tx,
        testkit::check_rx_exhaustion,
        testkit::check_oversized_frame,
        testkit::check_stop_release,
        testkit::check_interrupts,
        testkit::check_filters,
    ];
    for check in checks {
        check(&mut h).unwrap();
    }
    assert_eq!(h.buffers_free(), h.buffers_total());
}

/// Deliberate contract violations the kit must catch: a wrapper around the
/// software NIC that breaks one rule at a time.
mod broken {
    use nic_sim::softnic::{SoftNic, SoftQueue};
    use nic_traits::testkit::Harness;
    use nic_traits::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Bug {
        /// `release` keeps the posted receive buffers.
        LeakOnRelease,
        /// `tx_reclaim` hands buffers back newest first.
        ReclaimReversed,
        /// `rx_burst` reports one frame more than it moved.
        RxMiscount,
        /// `refill` leaves one descriptor unused when it could fill the ring.
        RefillOneShort,
        /// `rx_burst` flips a bit in the first frame of a burst.
        CorruptRx,
        /// `stats` never counts missed frames.
        NoMissedCount,
        /// A bad queue index gives `InvalidState`.
        WrongErrorKind,
        /// `rx_burst` loses a buffer in every third burst.
        LoseBuffer,
    }

    #[derive(Debug)]
    pub struct Card {
        pub inner: SoftNic,
        pub bug: Bug,
    }

    #[derive(Debug)]
    pub struct Queue {
        inner: SoftQueue,
        bug: Bug,
        bursts: u32,
    }

    impl ErrorType for Card {
        type Error = ErrorKind;
    }
    impl ErrorType for Queue {
        type Error = ErrorKind;
    }

    impl CardDriver for Card {
        type Queue = Queue;
        fn info(&self) -> CardInfo {
            self.inner.info()
        }
        fn reset(&mut self) -> Result<(), ErrorKind> {
            self.inner.reset()
        }
        fn mac_address(&self) -> MacAddr {
            self.inner.mac_address()
        }
        fn set_rx_mode(&mut self, mode: RxMode) -> Result<(), ErrorKind> {
            self.inner.set_rx_mode(mode)
        }
        fn link(&mut self) -> LinkState {
            self.inner.link()
        }
        fn stats(&mut self) -> Stats {
            let mut s = self.inner.stats();
            if self.bug == Bug::NoMissedCount {
                s.rx_missed = 0;
            }
            s
        }
        fn queue(&mut self, index: u16, config: QueueConfig) -> Result<Queue, ErrorKind> {
            match self.inner.queue(index, config) {
                Err(ErrorKind::InvalidArgument) if self.bug == Bug::WrongErrorKind => {
                    Err(ErrorKind::InvalidState)
                }
                r => r.map(|inner| Queue {
                    inner,
                    bug: self.bug,
                    bursts: 0,
                }),
            }
        }
        fn stop_queue(&mut self, index: u16) -> Result<(), ErrorKind> {
            self.inner.stop_queue(index)
        }
        fn return_queue(&mut self, queue: Queue) -> Result<(), ErrorKind> {
            self.inner.return_queue(queue.inner)
        }
        fn filter_capacity(&self, class: FilterClass) -> FilterCapacity {
            self.inner.filter_capacity(class)
        }
        fn install_filter(
            &mut self,
            class: FilterClass,
            rule: &FlowRule,
            action: FilterAction,
        ) -> Result<FilterHandle, ErrorKind> {
            self.inner.install_filter(class, rule, action)
        }
        fn remove_filter(&mut self, handle: FilterHandle) -> Result<(), ErrorKind> {
            self.inner.remove_filter(handle)
        }
        fn set_rss(&mut self, config: &RssConfig<'_>) -> Result<(), ErrorKind> {
            self.inner.set_rss(config)
        }
        fn set_queue_vector(&mut self, queue: u16, vector: u16) -> Result<(), ErrorKind> {
            self.inner.set_queue_vector(queue, vector)
        }
        fn set_moderation(&mut self, vector: u16, interval_us: u32) -> Result<(), ErrorKind> {
            self.inner.set_moderation(vector, interval_us)
        }
        fn interrupt_causes(&mut self) -> InterruptCauses {
            self.inner.interrupt_causes()
        }
    }

    impl QueueDriver for Queue {
        fn index(&self) -> u16 {
            self.inner.index()
        }
        fn rx_burst<const N: usize>(&mut self, out: &mut Batch<N>) -> Result<usize, ErrorKind> {
            let before = out.len();
            let n = self.inner.rx_burst(out)?;
            if n > 0 {
                self.bursts += 1;
                match self.bug {
                    Bug::RxMiscount => return Ok(n + 1),
                    Bug::CorruptRx => {
                        if let Some(b) = out.get_mut(before) {
                            let last = b.data().len() - 1;
                            b.data_mut()[last] ^= 1;
                        }
                    }
                    Bug::LoseBuffer if self.bursts.is_multiple_of(3) => {
                        out.pop_back();
                        return Ok(n - 1);
                    }
                    _ => {}
                }
            }
            Ok(n)
        }
        fn refill<const N: usize>(&mut self, bufs: &mut Batch<N>) -> Result<usize, ErrorKind> {
            if self.bug == Bug::RefillOneShort && bufs.len() >= self.inner.rx_free() {
                let take = self.inner.rx_free().saturating_sub(1);
                let mut part: Batch<N> = Batch::new();
                for _ in 0..take {
                    if let Some(b) = bufs.pop_front() {
                        let _ = part.push_back(b);
                    }
                }
                let n = self.inner.refill(&mut part)?;
                // Put back anything not posted, at the front, in order.
                while let Some(b) = part.pop_back() {
                    let _ = bufs.push_front(b);
                }
                return Ok(n);
            }
            self.inner.refill(bufs)
        }
        fn rx_free(&self) -> usize {
            self.inner.rx_free()
        }
        fn tx_burst<const N: usize>(&mut self, bufs: &mut Batch<N>) -> Result<usize, ErrorKind> {
            self.inner.tx_burst(bufs)
        }
        fn tx_reclaim<const N: usize>(&mut self, done: &mut Batch<N>) -> Result<usize, ErrorKind> {
            let before = done.len();
            let n = self.inner.tx_reclaim(done)?;
            if self.bug == Bug::ReclaimReversed && n > 1 {
                let mut tmp: Batch<N> = Batch::new();
                while done.len() > before {
                    if let Some(b) = done.pop_back() {
                        let _ = tmp.push_back(b);
                    }
                }
                while let Some(b) = tmp.pop_front() {
                    let _ = done.push_back(b);
                }
            }
            Ok(n)
        }
        fn tx_free(&self) -> usize {
            self.inner.tx_free()
        }
        fn set_interrupt(&mut self, enabled: bool) -> Result<(), ErrorKind> {
            self.inner.set_interrupt(enabled)
        }
        fn release<const N: usize>(&mut self, out: &mut Batch<N>) -> usize {
            let n = self.inner.release(out);
            if self.bug == Bug::LeakOnRelease && n > 0 {
                out.pop_front();
                return n - 1;
            }
            n
        }
    }

    /// The software NIC's harness with the broken card in front.
    #[derive(Debug)]
    pub struct BrokenHarness {
        pub inner: nic_sim::softnic::SoftNicHarness,
        pub card: Card,
    }

    impl Harness for BrokenHarness {
        type Card = Card;
        fn card(&mut self) -> &mut Card {
            &mut self.card
        }
        fn inject(&mut self, frame: &[u8]) -> bool {
            self.card.inner.inject(frame)
        }
        fn take_transmitted(&mut self, out: &mut [u8]) -> Option<usize> {
            let f = self.card.inner.take_transmitted()?;
            let n = f.len().min(out.len());
            out[..n].copy_from_slice(&f[..n]);
            Some(f.len())
        }
        fn advance(&mut self) {
            self.card.inner.poll_device(0);
        }
        fn alloc_buffer(&mut self) -> Option<PacketBuf> {
            self.inner.alloc_buffer()
        }
        fn free_buffer(&mut self, buf: PacketBuf) {
            self.inner.free_buffer(buf)
        }
        fn queue_config(&self) -> QueueConfig {
            QueueConfig {
                rx_ring: 32,
                tx_ring: 32,
                rx_buf_len: 2048,
            }
        }
    }
}

#[test]
fn the_kit_catches_each_deliberate_violation() {
    use broken::{BrokenHarness, Bug, Card};
    use nic_sim::softnic::{Port, SoftNic};
    let cases = [
        (Bug::LeakOnRelease, "never came back"),
        (Bug::ReclaimReversed, "out of the order sent"),
        (Bug::RxMiscount, "miscounted"),
        (Bug::RefillOneShort, "min(batch length, free descriptors)"),
        (Bug::CorruptRx, "contents or length changed"),
        (Bug::NoMissedCount, "rx_missed"),
        (Bug::WrongErrorKind, "queue(index past the last queue)"),
        (Bug::LoseBuffer, "not the next one sent"),
    ];
    for (bug, expected) in cases {
        let mut h = BrokenHarness {
            inner: SoftNicHarness::new(SoftNicConfig::default(), QueueConfig::default()),
            card: Card {
                inner: SoftNic::new(SoftNicConfig::default(), Port::Host),
                bug,
            },
        };
        let failure = match run_all(&mut h) {
            Err(f) => f,
            Ok(report) => panic!("{bug:?} passed the kit: {report:?}"),
        };
        assert!(
            failure.what.contains(expected),
            "{bug:?}: expected a failure about {expected:?}, got: {failure}"
        );
    }
}
