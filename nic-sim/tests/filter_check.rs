//! The conformance kit's filter check on a card that has filters: a test
//! double with one filter class (EtherType, four entries) and two queues,
//! each queue backed by its own software NIC, the harness steering injected
//! frames by the installed rules. It passes the kit; a variant that steers
//! matching frames to the wrong queue is caught.

use nic_sim::softnic::{Port, SoftNic, SoftNicConfig, SoftNicHarness, SoftQueue};
use nic_traits::testkit::{self, Harness, Outcome};
use nic_traits::*;

const SLOTS: usize = 4;

#[derive(Debug)]
struct Card {
    nics: [SoftNic; 2],
    rules: [Option<(u16, u16)>; SLOTS],
}

#[derive(Debug)]
struct Queue {
    inner: SoftQueue,
    index: u16,
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
        CardInfo {
            queues: 2,
            vectors: 1,
            ..self.nics[0].info()
        }
    }
    fn reset(&mut self) -> Result<(), ErrorKind> {
        self.rules = [None; SLOTS];
        self.nics[0].reset()?;
        self.nics[1].reset()
    }
    fn mac_address(&self) -> MacAddr {
        self.nics[0].mac_address()
    }
    fn set_rx_mode(&mut self, mode: RxMode) -> Result<(), ErrorKind> {
        self.nics[0].set_rx_mode(mode)?;
        self.nics[1].set_rx_mode(mode)
    }
    fn link(&mut self) -> LinkState {
        self.nics[0].link()
    }
    fn stats(&mut self) -> Stats {
        let (a, b) = (self.nics[0].stats(), self.nics[1].stats());
        Stats {
            rx_packets: a.rx_packets + b.rx_packets,
            rx_bytes: a.rx_bytes + b.rx_bytes,
            rx_missed: a.rx_missed + b.rx_missed,
            rx_errors: a.rx_errors + b.rx_errors,
            tx_packets: a.tx_packets + b.tx_packets,
            tx_bytes: a.tx_bytes + b.tx_bytes,
        }
    }
    fn queue(&mut self, index: u16, config: QueueConfig) -> Result<Queue, ErrorKind> {
        let nic = self
            .nics
            .get_mut(usize::from(index))
            .ok_or(ErrorKind::InvalidArgument)?;
        let inner = nic.queue(0, config)?;
        Ok(Queue { inner, index })
    }
    fn stop_queue(&mut self, index: u16) -> Result<(), ErrorKind> {
        let nic = self
            .nics
            .get_mut(usize::from(index))
            .ok_or(ErrorKind::InvalidArgument)?;
        nic.stop_queue(0)
    }
    fn return_queue(&mut self, queue: Queue) -> Result<(), ErrorKind> {
        let nic = self
            .nics
            .get_mut(usize::from(queue.index))
            .ok_or(ErrorKind::InvalidArgument)?;
        nic.return_queue(queue.inner)
    }
    fn filter_capacity(&self, class: FilterClass) -> FilterCapacity {
        match class {
            FilterClass::EtherType => FilterCapacity {
                total: SLOTS as u32,
                used: self.rules.iter().flatten().count() as u32,
            },
            _ => FilterCapacity::default(),
        }
    }
    fn install_filter(
        &mut self,
        class: FilterClass,
        rule: &FlowRule,
        action: FilterAction,
    ) -> Result<FilterHandle, ErrorKind> {
        let (FilterClass::EtherType, FlowRule::EtherType(t)) = (class, *rule) else {
            return Err(ErrorKind::Unsupported);
        };
        if action.queue >= 2 {
            return Err(ErrorKind::InvalidArgument);
        }
        let slot = self
            .rules
            .iter()
            .position(Option::is_none)
            .ok_or(ErrorKind::NoResources)?;
        self.rules[slot] = Some((t, action.queue));
        Ok(FilterHandle {
            class,
            index: slot as u32,
        })
    }
    fn remove_filter(&mut self, handle: FilterHandle) -> Result<(), ErrorKind> {
        let slot = match handle.class {
            FilterClass::EtherType => self.rules.get_mut(handle.index as usize),
            _ => None,
        };
        slot.and_then(Option::take)
            .map(drop)
            .ok_or(ErrorKind::NotFound)
    }
    fn set_rss(&mut self, _config: &RssConfig<'_>) -> Result<(), ErrorKind> {
        Err(ErrorKind::Unsupported)
    }
    fn set_queue_vector(&mut self, queue: u16, vector: u16) -> Result<(), ErrorKind> {
        if queue >= 2 || vector != 0 {
            return Err(ErrorKind::InvalidArgument);
        }
        Ok(())
    }
    fn set_moderation(&mut self, vector: u16, _interval_us: u32) -> Result<(), ErrorKind> {
        if vector != 0 {
            return Err(ErrorKind::InvalidArgument);
        }
        Ok(())
    }
    fn interrupt_causes(&mut self) -> InterruptCauses {
        let (a, b) = (
            self.nics[0].interrupt_causes(),
            self.nics[1].interrupt_causes(),
        );
        InterruptCauses {
            events: a.events | b.events,
            vectors: a.vectors | b.vectors,
        }
    }
}

impl QueueDriver for Queue {
    fn index(&self) -> u16 {
        self.index
    }
    fn rx_burst<const N: usize>(&mut self, out: &mut Batch<N>) -> Result<usize, ErrorKind> {
        self.inner.rx_burst(out)
    }
    fn refill<const N: usize>(&mut self, bufs: &mut Batch<N>) -> Result<usize, ErrorKind> {
        self.inner.refill(bufs)
    }
    fn rx_free(&self) -> usize {
        self.inner.rx_free()
    }
    fn tx_burst<const N: usize>(&mut self, bufs: &mut Batch<N>) -> Result<usize, ErrorKind> {
        self.inner.tx_burst(bufs)
    }
    fn tx_reclaim<const N: usize>(&mut self, done: &mut Batch<N>) -> Result<usize, ErrorKind> {
        self.inner.tx_reclaim(done)
    }
    fn tx_free(&self) -> usize {
        self.inner.tx_free()
    }
    fn set_interrupt(&mut self, enabled: bool) -> Result<(), ErrorKind> {
        self.inner.set_interrupt(enabled)
    }
    fn release<const N: usize>(&mut self, out: &mut Batch<N>) -> usize {
        self.inner.release(out)
    }
}

struct FilterHarness {
    card: Card,
    buffers: SoftNicHarness,
    misroute: bool,
}

impl FilterHarness {
    fn new(misroute: bool) -> Self {
        let nic = || SoftNic::new(SoftNicConfig::default(), Port::Host);
        Self {
            card: Card {
                nics: [nic(), nic()],
                rules: [None; SLOTS],
            },
            buffers: SoftNicHarness::new(SoftNicConfig::default(), QueueConfig::default()),
            misroute,
        }
    }
}

impl Harness for FilterHarness {
    type Card = Card;
    fn card(&mut self) -> &mut Card {
        &mut self.card
    }
    fn inject(&mut self, frame: &[u8]) -> bool {
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        let fields = FlowFields {
            ethertype,
            ..FlowFields::default()
        };
        let hit = self
            .card
            .rules
            .iter()
            .flatten()
            .find(|(t, _)| FlowRule::EtherType(*t).matches(&fields));
        let mut queue = hit.map_or(0, |&(_, q)| usize::from(q));
        if self.misroute && hit.is_some() {
            queue = 1 - queue;
        }
        self.card.nics[queue].inject(frame)
    }
    fn take_transmitted(&mut self, out: &mut [u8]) -> Option<usize> {
        let f = self.card.nics[0]
            .take_transmitted()
            .or_else(|| self.card.nics[1].take_transmitted())?;
        let n = f.len().min(out.len());
        out[..n].copy_from_slice(&f[..n]);
        Some(f.len())
    }
    fn advance(&mut self) {
        self.card.nics[0].poll_device(0);
        self.card.nics[1].poll_device(0);
    }
    fn alloc_buffer(&mut self) -> Option<PacketBuf> {
        self.buffers.alloc_buffer()
    }
    fn free_buffer(&mut self, buf: PacketBuf) {
        self.buffers.free_buffer(buf)
    }
}

#[test]
fn a_card_with_filters_passes_every_check_including_placement() {
    let mut h = FilterHarness::new(false);
    let report = testkit::run_all(&mut h).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(report.passed.len(), 8, "{report:?}");
    assert!(report.not_applicable.is_empty());
    assert_eq!(h.buffers.buffers_free(), h.buffers.buffers_total());
    assert_eq!(h.card.filter_capacity(FilterClass::EtherType).used, 0);
    assert_eq!(
        testkit::check_filters(&mut h).unwrap(),
        Outcome::Passed,
        "and again: the slot was freed"
    );
}

#[test]
fn a_card_steering_to_the_wrong_queue_is_caught() {
    let mut h = FilterHarness::new(true);
    let failure = testkit::check_filters(&mut h).unwrap_err();
    assert!(
        failure.what.contains("did not land on the rule's queue"),
        "{failure}"
    );
}
