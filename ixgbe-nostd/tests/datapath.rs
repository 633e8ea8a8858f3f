//! The driver's data path, bring-up and fault handling on the 82599 model.

mod common;

use common::*;
use ixgbe_nostd::{Config, Ixgbe, TxCompletion};
use nic_sim::SimDma;
use nic_sim::i82599::{I82599, NoDelay, RxGarbage};
use nic_traits::{
    Batch, CardDriver, CardEvents, ErrorKind, LinkSpeed, LinkState, QueueConfig, QueueDriver,
    RxFlags, TxFlags,
};

#[test]
fn bring_up_reads_the_eeprom_mac_and_the_link() {
    let (_dev, _dma, mut card) = card();
    assert_eq!(card.mac_address().0, MAC_A);
    assert_eq!(card.link(), LinkState::Up(LinkSpeed::Gbps10));
    let info = card.info();
    assert_eq!(info.queues, 64);
    assert_eq!(info.reta_len, 128);
    assert_eq!(card.stats(), nic_traits::Stats::default());
}

#[test]
fn two_modelled_cards_exchange_frames() {
    let (a, dma_a, mut card_a) = card_with(MAC_A, Config::default());
    let (b, dma_b, mut card_b) = card_with(MAC_B, Config::default());
    let mut qa = queue_with_buffers(&mut card_a, &dma_a, 0);
    let mut qb = queue_with_buffers(&mut card_b, &dma_b, 0);
    let mut out: Batch<32> = Batch::new();
    let frames: Vec<Vec<u8>> = (0..20).map(|i| udp(MAC_B, 1000 + i, 53)).collect();
    for (buf, f) in pool(&dma_a, 20).into_iter().zip(&frames) {
        let mut buf = buf;
        buf.append(f).unwrap();
        out.push_back(buf).unwrap();
    }
    assert_eq!(qa.tx_burst(&mut out).unwrap(), 20);
    assert!(out.is_empty());
    assert_eq!(I82599::exchange(&a, &b), 20);
    let got = drain(&mut qb);
    assert_eq!(got.len(), 20);
    for (buf, f) in got.iter().zip(&frames) {
        assert_eq!(buf.data(), &f[..]);
        assert!(
            buf.rx()
                .flags
                .contains(RxFlags::IPV4_CSUM_OK | RxFlags::L4_CSUM_OK)
        );
    }
    let mut done: Batch<32> = Batch::new();
    assert_eq!(qa.tx_reclaim(&mut done).unwrap(), 20);
    let sa = card_a.stats();
    let sb = card_b.stats();
    assert_eq!(sa.tx_packets, 20);
    assert_eq!(sb.rx_packets, 20);
    assert_eq!(
        sb.rx_bytes,
        frames.iter().map(|f| f.len() as u64).sum::<u64>()
    );
}

#[test]
fn head_write_back_completes_transmits() {
    let config = Config {
        tx_completion: TxCompletion::HeadWriteBack,
        ..Config::default()
    };
    let (dev, dma, mut card) = card_with(MAC_A, config);
    let mut q = card.queue(1, small_queue()).unwrap();
    let mut out: Batch<64> = batch(pool(&dma, 63).into_iter().map(|mut b| {
        b.append(&udp(MAC_B, 1, 2)).unwrap();
        b
    }));
    assert_eq!(q.tx_burst(&mut out).unwrap(), 63);
    assert_eq!(q.tx_free(), 0);
    assert_eq!(dev.take_transmitted().len(), 63);
    let mut done: Batch<64> = Batch::new();
    assert_eq!(q.tx_reclaim(&mut done).unwrap(), 63);
    let tags: Vec<u32> = done.iter().map(|b| b.tag()).collect();
    assert_eq!(tags, (0..63).collect::<Vec<_>>());
    assert_eq!(q.tx_free(), 63);
}

#[test]
fn transmit_checksum_offload_fills_in_both_checksums() {
    let (dev, dma, mut card) = card();
    let mut q = card.queue(0, small_queue()).unwrap();
    let good = udp(MAC_B, 7, 9);
    let mut f = good.clone();
    // Zero the IPv4 checksum; seed the UDP checksum with the pseudo-header sum.
    f[24..26].fill(0);
    let udp_len = f.len() - 34;
    let mut s = pseudo([10, 0, 0, 2], [10, 0, 0, 1], 17, udp_len);
    while s > 0xFFFF {
        s = (s & 0xFFFF) + (s >> 16);
    }
    f[40..42].copy_from_slice(&(s as u16).to_be_bytes());
    assert!(!checksums_ok(&f));
    let mut buf = pool(&dma, 1).pop().unwrap();
    buf.append(&f).unwrap();
    buf.tx_mut().flags = TxFlags::IPV4_CSUM | TxFlags::UDP_CSUM;
    buf.tx_mut().l2_len = 14;
    buf.tx_mut().l3_len = 20;
    let mut out: Batch<4> = batch([buf]);
    assert_eq!(q.tx_burst(&mut out).unwrap(), 1);
    // A context descriptor and a data descriptor.
    assert_eq!(q.tx_free(), 63 - 2);
    let sent = dev.take_transmitted();
    assert!(checksums_ok(&sent[0]), "model inserted checksums");
    assert_eq!(sent[0], good);
    let mut done: Batch<4> = Batch::new();
    assert_eq!(q.tx_reclaim(&mut done).unwrap(), 1);
    assert_eq!(q.tx_free(), 63);
}

#[test]
fn mixed_offloads_share_and_switch_contexts_and_a_full_ring_keeps_the_order() {
    let (dev, dma, mut card) = card();
    let mut q = card.queue(0, small_queue()).unwrap();
    let mut free = pool(&dma, 80);
    let frame = |free: &mut Vec<nic_traits::PacketBuf>, n: u16, flags: TxFlags| {
        let mut buf = free.pop().unwrap();
        // The IPv4 checksum zeroed: the device fills it in when asked.
        let mut f = udp(MAC_B, n, 9);
        f[24..26].fill(0);
        buf.append(&f).unwrap();
        buf.tx_mut().flags = flags;
        buf.tx_mut().l2_len = 14;
        buf.tx_mut().l3_len = 20;
        buf
    };
    let a = TxFlags::IPV4_CSUM;
    let b = TxFlags::IPV4_CSUM | TxFlags::UDP_CSUM;
    // Plain, A, A, B, plain, B: contexts before the first A and the first
    // B only (the device keeps the last one), eight descriptors for six.
    let kinds = [TxFlags::empty(), a, a, b, TxFlags::empty(), b];
    let mut out: Batch<64> = Batch::new();
    for (n, &flags) in kinds.iter().enumerate() {
        out.push_back(frame(&mut free, n as u16, flags)).unwrap();
    }
    assert_eq!(q.tx_burst(&mut out).unwrap(), 6);
    assert_eq!(q.tx_free(), 63 - 8);
    let sent = dev.take_transmitted();
    assert_eq!(sent.len(), 6);
    for (n, f) in sent.iter().enumerate() {
        // In order, and the IPv4 checksum inserted where asked for.
        assert_eq!(u16::from_be_bytes([f[34], f[35]]), n as u16);
        assert_eq!(f[24..26] != [0, 0], !kinds[n].is_empty(), "frame {n}");
    }
    // Fill all but one descriptor with plain frames.
    for n in 0..54 {
        out.push_back(frame(&mut free, 100 + n, TxFlags::empty()))
            .unwrap();
    }
    assert_eq!(q.tx_burst(&mut out).unwrap(), 54);
    assert_eq!(q.tx_free(), 1);
    // A frame needing a new context (A; the device holds B) does not fit
    // with its context in one descriptor: it and the frame behind it wait.
    out.push_back(frame(&mut free, 200, a)).unwrap();
    out.push_back(frame(&mut free, 201, TxFlags::empty()))
        .unwrap();
    assert_eq!(q.tx_burst(&mut out).unwrap(), 0);
    assert_eq!((out.len(), q.tx_free()), (2, 1));
    let mut done: Batch<64> = Batch::new();
    assert_eq!(q.tx_reclaim(&mut done).unwrap(), 60);
    assert_eq!(q.tx_burst(&mut out).unwrap(), 2);
    assert_eq!(q.tx_free(), 63 - 3);
    let sent = dev.take_transmitted();
    let ports: Vec<u16> = sent
        .iter()
        .map(|f| u16::from_be_bytes([f[34], f[35]]))
        .collect();
    assert_eq!(ports[54..], [200, 201]);
    assert_ne!(sent[54][24..26], [0, 0]);
    assert_eq!(sent[55][24..26], [0, 0]);
}

#[test]
fn receive_flags_bad_checksums() {
    let (dev, dma, mut card) = card();
    let mut q = queue_with_buffers(&mut card, &dma, 0);
    let mut f = udp(MAC_A, 1, 2);
    f[40] ^= 0xff; // UDP checksum
    dev.inject(&f);
    let mut f2 = udp(MAC_A, 1, 2);
    f2[24] ^= 0xff; // IPv4 checksum
    dev.inject(&f2);
    let got = drain(&mut q);
    assert_eq!(got.len(), 2);
    assert!(
        got[0]
            .rx()
            .flags
            .contains(RxFlags::L4_CSUM_BAD | RxFlags::IPV4_CSUM_OK)
    );
    assert!(got[1].rx().flags.contains(RxFlags::IPV4_CSUM_BAD));
}

#[test]
fn frames_not_for_us_are_filtered_until_promiscuous() {
    let (dev, dma, mut card) = card();
    let mut q = queue_with_buffers(&mut card, &dma, 0);
    dev.inject(&udp(MAC_B, 1, 2));
    assert_eq!(drain(&mut q).len(), 0);
    card.set_rx_mode(nic_traits::RxMode {
        promiscuous: true,
        ..Default::default()
    })
    .unwrap();
    dev.inject(&udp(MAC_B, 1, 2));
    assert_eq!(drain(&mut q).len(), 1);
    // Broadcast is off now (the mode says so).
    dev.inject(&udp([0xff; 6], 1, 2));
    assert_eq!(drain(&mut q).len(), 0);
}

#[test]
fn ring_exhaustion_counts_drops_and_loses_no_buffer() {
    let (dev, dma, mut card) = card();
    let mut q = card.queue(0, small_queue()).unwrap();
    let mut b: Batch<64> = batch(pool(&dma, 10));
    assert_eq!(q.refill(&mut b).unwrap(), 10);
    for i in 0..25 {
        dev.inject(&udp(MAC_A, i, 2));
    }
    let got = drain(&mut q);
    assert_eq!(got.len(), 10);
    let s = card.stats();
    assert_eq!(s.rx_missed, 15);
    assert_eq!(s.rx_packets, 10);
    assert_eq!(dev.model().counters.missed, 15);
    // Everything comes back: 10 received, none left in the ring.
    card.stop_queue(0).unwrap();
    let mut rest: Batch<64> = Batch::new();
    assert_eq!(q.release(&mut rest), 0);
    let mut tags: Vec<u32> = got.iter().map(|b| b.tag()).collect();
    tags.sort();
    assert_eq!(tags, (0..10).collect::<Vec<_>>());
}

#[test]
fn refill_stops_at_a_full_ring_and_release_returns_everything() {
    let (_dev, dma, mut card) = card();
    let mut q = card.queue(0, small_queue()).unwrap();
    let mut b: Batch<128> = batch(pool(&dma, 100));
    assert_eq!(q.refill(&mut b).unwrap(), 63);
    assert_eq!(b.len(), 37);
    assert_eq!(q.rx_free(), 0);
    card.stop_queue(0).unwrap();
    let mut out: Batch<40> = Batch::new();
    assert_eq!(q.release(&mut out), 40);
    let mut out2: Batch<40> = Batch::new();
    assert_eq!(q.release(&mut out2), 23);
    assert_eq!(q.refill(&mut b), Err(ErrorKind::InvalidState));
}

#[test]
fn link_flap_is_reported_and_holds_transmits() {
    let (dev, dma, mut card) = card();
    let mut q = queue_with_buffers(&mut card, &dma, 0);
    let _ = card.interrupt_causes();
    dev.model().set_link(false);
    assert_eq!(card.link(), LinkState::Down);
    assert!(
        card.interrupt_causes()
            .events
            .contains(CardEvents::LINK_CHANGE)
    );
    // Received frames are lost on a down link; transmits wait.
    dev.inject(&udp(MAC_A, 1, 2));
    let mut buf = pool(&dma, 1).pop().unwrap();
    buf.append(&udp(MAC_B, 1, 2)).unwrap();
    let mut out: Batch<4> = batch([buf]);
    assert_eq!(q.tx_burst(&mut out).unwrap(), 1);
    assert!(dev.take_transmitted().is_empty());
    let mut done: Batch<4> = Batch::new();
    assert_eq!(q.tx_reclaim(&mut done).unwrap(), 0);
    dev.model().set_link(true);
    assert_eq!(card.link(), LinkState::Up(LinkSpeed::Gbps10));
    assert!(
        card.interrupt_causes()
            .events
            .contains(CardEvents::LINK_CHANGE)
    );
    assert_eq!(dev.take_transmitted().len(), 1);
    assert_eq!(q.tx_reclaim(&mut done).unwrap(), 1);
    assert_eq!(drain(&mut q).len(), 0);
    dev.inject(&udp(MAC_A, 1, 2));
    assert_eq!(drain(&mut q).len(), 1);
}

fn bring_up_with(f: impl FnOnce(&mut nic_sim::i82599::Faults)) -> Result<(), ErrorKind> {
    let dma = SimDma::new();
    let dev = I82599::new(dma.clone(), MAC_A);
    f(&mut dev.model().faults);
    Ixgbe::<_, _, _>::new(dev, dma, NoDelay, Config::default()).map(|_| ())
}

#[test]
fn bring_up_times_out_instead_of_hanging() {
    assert_eq!(bring_up_with(|_| {}), Ok(()));
    assert_eq!(
        bring_up_with(|f| f.auto_read_never_done = true),
        Err(ErrorKind::Timeout)
    );
    assert_eq!(
        bring_up_with(|f| f.reset_stuck = true),
        Err(ErrorKind::Timeout)
    );
    assert_eq!(
        bring_up_with(|f| f.dma_init_never_done = true),
        Err(ErrorKind::Timeout)
    );
}

#[test]
fn queue_enable_times_out() {
    let (dev, _dma, mut card) = card();
    dev.model().faults.queue_enable_stuck = true;
    assert_eq!(card.queue(0, small_queue()).err(), Some(ErrorKind::Timeout));
}

#[test]
fn garbage_length_is_a_device_fault_and_keeps_the_buffer() {
    let (dev, dma, mut card) = card();
    let mut q = queue_with_buffers(&mut card, &dma, 0);
    dev.inject(&udp(MAC_A, 1, 2));
    dev.model().faults.garbage = Some(RxGarbage::LengthTooLarge);
    dev.inject(&udp(MAC_A, 1, 3));
    let mut out: Batch<8> = Batch::new();
    assert_eq!(q.rx_burst(&mut out), Err(ErrorKind::DeviceFault));
    // The good frame before the fault stays received.
    assert_eq!(out.len(), 1);
    card.stop_queue(0).unwrap();
    let mut rest: Batch<64> = Batch::new();
    assert_eq!(q.release(&mut rest), 62);
}

#[test]
fn done_on_an_unposted_descriptor_is_a_device_fault() {
    let (dev, dma, mut card) = card();
    let mut q = card.queue(0, small_queue()).unwrap();
    let mut b: Batch<8> = batch(pool(&dma, 4));
    q.refill(&mut b).unwrap();
    dev.model().faults.garbage = Some(RxGarbage::DoneOnUnposted);
    dev.inject(&udp(MAC_A, 1, 3));
    let mut out: Batch<8> = Batch::new();
    assert_eq!(q.rx_burst(&mut out), Err(ErrorKind::DeviceFault));
    assert_eq!(out.len(), 1);
    card.stop_queue(0).unwrap();
    let mut rest: Batch<8> = Batch::new();
    assert_eq!(q.release(&mut rest), 3);
}

#[test]
fn transmit_head_beyond_the_tail_is_a_device_fault() {
    for garbage in [RxGarbage::TxHeadBeyondTail, RxGarbage::TxHeadOutOfRange] {
        head_fault(garbage);
    }
}

fn head_fault(garbage: RxGarbage) {
    let config = Config {
        tx_completion: TxCompletion::HeadWriteBack,
        ..Config::default()
    };
    let (dev, dma, mut card) = card_with(MAC_A, config);
    let mut q = card.queue(0, small_queue()).unwrap();
    dev.model().faults.garbage = Some(garbage);
    let mut out: Batch<4> = batch(pool(&dma, 2).into_iter().map(|mut b| {
        b.append(&udp(MAC_B, 1, 2)).unwrap();
        b
    }));
    assert_eq!(q.tx_burst(&mut out).unwrap(), 2);
    let mut done: Batch<4> = Batch::new();
    assert_eq!(q.tx_reclaim(&mut done), Err(ErrorKind::DeviceFault));
    assert!(done.is_empty());
    card.stop_queue(0).unwrap();
    assert_eq!(q.release(&mut done), 2);
}

#[test]
fn bad_queue_requests_are_refused() {
    let (_dev, _dma, mut card) = card();
    let bad = |rx_ring, rx_buf_len| QueueConfig {
        rx_ring,
        tx_ring: 64,
        rx_buf_len,
    };
    assert_eq!(
        card.queue(64, small_queue()).err(),
        Some(ErrorKind::InvalidArgument)
    );
    assert_eq!(
        card.queue(0, bad(100, 2048)).err(),
        Some(ErrorKind::InvalidArgument)
    );
    assert_eq!(
        card.queue(0, bad(1024, 2048)).err(),
        Some(ErrorKind::InvalidArgument)
    );
    assert_eq!(
        card.queue(0, bad(64, 1000)).err(),
        Some(ErrorKind::InvalidArgument)
    );
    // 1 KB buffers cannot hold a full-size frame in one descriptor.
    assert_eq!(
        card.queue(0, bad(64, 1024)).err(),
        Some(ErrorKind::InvalidArgument)
    );
    assert_eq!(
        card.queue(0, bad(64, 17 * 1024)).err(),
        Some(ErrorKind::InvalidArgument)
    );
    let q = card.queue(0, small_queue()).unwrap();
    assert_eq!(
        card.queue(0, small_queue()).err(),
        Some(ErrorKind::InvalidState)
    );
    card.stop_queue(0).unwrap();
    card.return_queue(q).unwrap();
    assert!(card.queue(0, small_queue()).is_ok());
}

#[test]
fn an_index_is_handed_out_again_only_after_its_driver_came_back() {
    let (dev, dma, mut card) = card();
    let mut old = queue_with_buffers(&mut card, &dma, 0);
    // Stopping the queue keeps the index taken while the old driver lives:
    // otherwise the old driver's doorbells would move a new ring's tail.
    card.stop_queue(0).unwrap();
    assert_eq!(
        card.queue(0, small_queue()).err(),
        Some(ErrorKind::InvalidState)
    );
    assert_eq!(card.reset(), Err(ErrorKind::InvalidState));
    // A driver of another card (same index) is not taken back.
    let (_dev_b, _dma_b, mut card_b) = card_with(MAC_B, Config::default());
    let foreign = card_b.queue(0, small_queue()).unwrap();
    assert_eq!(card.return_queue(foreign), Err(ErrorKind::InvalidArgument));
    let mut rest: Batch<512> = Batch::new();
    assert!(old.release(&mut rest) > 0);
    card.return_queue(old).unwrap();
    let mut q = queue_with_buffers(&mut card, &dma, 0);
    dev.inject(&udp(MAC_A, 1, 2));
    assert_eq!(drain(&mut q).len(), 1);
    assert_eq!(dev.model().counters.dma_faults, 0);
}

#[test]
fn release_keeps_the_buffers_while_the_device_runs_the_queue() {
    let (dev, dma, mut card) = card();
    let mut q = queue_with_buffers(&mut card, &dma, 0);
    let posted = q.rx_ring_len() - 1 - q.rx_free();
    let mut out: Batch<512> = Batch::new();
    assert_eq!(q.release(&mut out), 0);
    assert!(out.is_empty());
    // The queue still works: nothing was taken from under the device.
    dev.inject(&udp(MAC_A, 1, 2));
    assert_eq!(drain(&mut q).len(), 1);
    card.stop_queue(0).unwrap();
    assert_eq!(q.release(&mut out), posted - 1);
}

#[test]
fn queue_interrupts_follow_ivar_and_eims() {
    let (dev, dma, mut card) = card();
    // Unfiltered frames go to queue 0 (no RSS).
    let mut q = queue_with_buffers(&mut card, &dma, 0);
    card.set_queue_vector(0, 3).unwrap();
    card.set_moderation(3, 100).unwrap();
    let _ = card.interrupt_causes();
    dev.inject(&udp(MAC_A, 1, 2));
    assert_eq!(dev.model().counters.interrupts, 0, "masked");
    assert_eq!(card.interrupt_causes().vectors, 1 << 3);
    q.set_interrupt(true).unwrap();
    dev.inject(&udp(MAC_A, 1, 2));
    assert_eq!(dev.model().counters.interrupts, 1);
    q.set_interrupt(false).unwrap();
    dev.inject(&udp(MAC_A, 1, 2));
    assert_eq!(dev.model().counters.interrupts, 1);
    assert_eq!(drain(&mut q).len(), 3);
    assert_eq!(
        card.set_queue_vector(0, 64),
        Err(ErrorKind::InvalidArgument)
    );
    assert_eq!(card.set_moderation(64, 10), Err(ErrorKind::InvalidArgument));
}

#[test]
fn reset_brings_the_card_back() {
    let (dev, dma, mut card) = card();
    let q = card.queue(0, small_queue()).unwrap();
    assert_eq!(card.reset(), Err(ErrorKind::InvalidState));
    card.return_queue(q).unwrap();
    card.reset().unwrap();
    assert_eq!(card.mac_address().0, MAC_A);
    let mut q = queue_with_buffers(&mut card, &dma, 0);
    dev.inject(&udp(MAC_A, 1, 2));
    assert_eq!(drain(&mut q).len(), 1);
}

#[test]
fn recycle_moves_sent_buffers_back_to_the_receive_ring() {
    for completion in [TxCompletion::DescriptorDone, TxCompletion::HeadWriteBack] {
        let config = Config {
            tx_completion: completion,
            ..Config::default()
        };
        let (dev, dma, mut card) = card_with(MAC_A, config);
        let mut q = card.queue(0, small_queue()).unwrap();
        let mut b: Batch<64> = batch(pool(&dma, 40));
        assert_eq!(q.refill(&mut b).unwrap(), 40);
        for round in 0..10u16 {
            for i in 0..20 {
                dev.inject(&udp(MAC_A, round * 100 + i, 7));
            }
            let mut got: Batch<32> = Batch::new();
            assert_eq!(q.rx_burst(&mut got).unwrap(), 20);
            assert_eq!(q.tx_burst(&mut got).unwrap(), 20);
            assert_eq!(dev.take_transmitted().len(), 20);
            assert_eq!(q.recycle(128).unwrap(), 20);
            assert_eq!(q.rx_free(), 63 - 40);
        }
        // A headroom that leaves less than the receive buffer length is
        // refused and the buffer stays for tx_reclaim.
        dev.inject(&udp(MAC_A, 1, 7));
        let mut got: Batch<32> = Batch::new();
        assert_eq!(q.rx_burst(&mut got).unwrap(), 1);
        q.tx_burst(&mut got).unwrap();
        assert_eq!(q.recycle(1024), Err(ErrorKind::InvalidArgument));
        let mut done: Batch<4> = Batch::new();
        assert_eq!(q.tx_reclaim(&mut done).unwrap(), 1);
        card.stop_queue(0).unwrap();
        let mut rest: Batch<64> = Batch::new();
        assert_eq!(q.release(&mut rest) + done.len(), 40);
    }
}

#[test]
fn two_cards_over_a_lossy_simulated_link() {
    use nic_sim::link::{End, Impairment, Link};
    let (a, dma_a, mut card_a) = card_with(MAC_A, Config::default());
    let (b, dma_b, mut card_b) = card_with(MAC_B, Config::default());
    let mut qa = queue_with_buffers(&mut card_a, &dma_a, 0);
    let mut qb = queue_with_buffers(&mut card_b, &dma_b, 0);
    let lossy = Impairment {
        loss: 0.2,
        delay_ns: 5_000,
        ..Impairment::PERFECT
    };
    let mut link = Link::new(7, lossy);
    let mut sent_total = 0;
    let mut received = Vec::new();
    let mut pool_a = pool(&dma_a, 200);
    for round in 0..10u64 {
        let mut out: Batch<32> = Batch::new();
        for i in 0..20 {
            let mut buf = pool_a.pop().unwrap();
            buf.append(&udp(MAC_B, (round * 20 + i) as u16, 9)).unwrap();
            out.push_back(buf).unwrap();
        }
        sent_total += qa.tx_burst(&mut out).unwrap();
        let now = round * 10_000;
        a.pump_link(&mut link, End::A, now);
        b.pump_link(&mut link, End::B, now + 6_000);
        for buf in drain(&mut qb) {
            received.push(u16::from_be_bytes([buf.data()[34], buf.data()[35]]));
            let mut back: Batch<1> = Batch::new();
            let mut buf = buf;
            buf.reset(128);
            back.push_back(buf).unwrap();
            qb.refill(&mut back).unwrap();
        }
        let mut done: Batch<32> = Batch::new();
        assert_eq!(qa.tx_reclaim(&mut done).unwrap(), 20);
    }
    let lost = link.counters(End::A).lost;
    assert_eq!(sent_total, 200);
    assert!(lost > 10 && lost < 80, "lost {lost}");
    assert_eq!(received.len() as u64 + lost, 200);
    // Order is kept and nothing is duplicated.
    assert!(received.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(card_b.stats().rx_packets, received.len() as u64);
}

#[test]
fn vectors_past_15_are_masked_through_the_extended_registers() {
    let (dev, dma, mut card) = card();
    let mut q = queue_with_buffers(&mut card, &dma, 0);
    for (vector, ex_mask, bit) in [(16u16, 0xAA0, 16), (40, 0xAA4, 8), (63, 0xAA4, 31)] {
        card.set_queue_vector(0, vector).unwrap();
        let v = usize::from(vector);
        let before = dev.model().vector_interrupts[v];
        let _ = card.interrupt_causes();
        dev.inject(&udp(MAC_A, 1, 2));
        assert_eq!(
            dev.model().vector_interrupts[v],
            before,
            "vector {vector} masked"
        );
        q.set_interrupt(true).unwrap();
        assert_eq!(
            dev.model().peek(ex_mask),
            1 << bit,
            "EIMS_EX bit of {vector}"
        );
        dev.inject(&udp(MAC_A, 1, 2));
        assert_eq!(
            dev.model().vector_interrupts[v],
            before + 1,
            "vector {vector} fires"
        );
        // EICR has no cause bit past 15: polling cannot see these vectors.
        assert_eq!(card.interrupt_causes().vectors, 0);
        q.set_interrupt(false).unwrap();
        assert_eq!(dev.model().peek(ex_mask), 0);
        dev.inject(&udp(MAC_A, 1, 2));
        assert_eq!(dev.model().vector_interrupts[v], before + 1, "masked again");
    }
    // Moderation reaches the EITR registers past 23 too (§8.2.3.5.12).
    card.set_queue_vector(0, 40).unwrap();
    card.set_moderation(40, 100).unwrap();
    q.set_interrupt(true).unwrap();
    for i in 0..5 {
        dev.inject(&udp(MAC_A, i, 7));
    }
    // The loop above interrupted on vector 40 at this virtual time, so all
    // five causes wait for the interval, then raise one interrupt.
    assert_eq!(dev.model().vector_interrupts[40], 1, "held back");
    dev.advance(110_000);
    assert_eq!(
        dev.model().vector_interrupts[40],
        2,
        "held-back cause fires"
    );
    // Vectors below 16 still share bits 15:0 between EIMS and EIMS_EX(0).
    card.set_queue_vector(0, 5).unwrap();
    q.set_interrupt(true).unwrap();
    assert_eq!(dev.model().peek(0x880) & 0xFFFF, 1 << 5);
    assert_eq!(dev.model().peek(0xAA0), 1 << 5);
    assert_eq!(drain(&mut q).len(), 14);
}

#[test]
fn moderation_holds_interrupts_and_low_latency_filters_bypass_it() {
    use nic_traits::{FilterAction, FilterClass, FlowRule};
    let (dev, dma, mut card) = card();
    let mut q = queue_with_buffers(&mut card, &dma, 0);
    card.set_queue_vector(0, 2).unwrap();
    // 100 µs between interrupts of vector 2.
    card.set_moderation(2, 100).unwrap();
    q.set_interrupt(true).unwrap();
    for i in 0..5 {
        dev.inject(&udp(MAC_A, i, 7));
    }
    assert_eq!(
        dev.model().vector_interrupts[2],
        1,
        "the rest wait for the interval"
    );
    dev.advance(50_000);
    assert_eq!(dev.model().vector_interrupts[2], 1);
    dev.advance(60_000);
    assert_eq!(
        dev.model().vector_interrupts[2],
        2,
        "held-back cause fires after 100 µs"
    );
    // A low-latency 5-tuple filter to the same queue interrupts at once.
    let lli = FilterAction {
        queue: 0,
        low_latency: true,
        priority: 1,
    };
    card.install_filter(FilterClass::FiveTuple, &FlowRule::udp_port(53), lli)
        .unwrap();
    for i in 0..3 {
        dev.inject(&udp(MAC_A, i, 53));
    }
    assert_eq!(dev.model().vector_interrupts[2], 5);
    // Ordinary frames are still moderated.
    dev.inject(&udp(MAC_A, 9, 7));
    assert_eq!(dev.model().vector_interrupts[2], 5);
    assert_eq!(drain(&mut q).len(), 9);
}

#[test]
fn a_multi_descriptor_frame_is_dropped_whole_and_the_ring_keeps_working() {
    let (dev, dma, mut card) = card();
    let mut q = queue_with_buffers(&mut card, &dma, 0);
    let free = q.rx_free();
    // Force 1 KB receive buffers behind the driver's back: the device then
    // spreads a full-size frame over two descriptors, EOP on the second.
    {
        let mut m = dev.model();
        let srr = m.read(ixgbe_nostd::regs::srrctl(0));
        m.write(ixgbe_nostd::regs::srrctl(0), (srr & !0x1F) | 1);
    }
    let mut big = vec![0x5a; 1514];
    big[..6].copy_from_slice(&MAC_A);
    big[12..14].copy_from_slice(&[0x88, 0xb5]);
    for round in 0..3u16 {
        dev.inject(&big);
        dev.inject(&udp(MAC_A, round, 2));
        let got = drain(&mut q);
        assert_eq!(got.len(), 1, "round {round}: the small frame arrives");
        assert_eq!(got[0].data(), &udp(MAC_A, round, 2)[..]);
        assert_eq!(q.rx_chains_dropped(), u64::from(round) + 1);
        // The chain's two buffers went back to the ring: only the frame
        // handed out left it.
        assert_eq!(q.rx_free(), free + 1);
        let mut back: Batch<1> = batch(got);
        assert_eq!(q.refill(&mut back).unwrap(), 1);
    }
    assert_eq!(dev.model().counters.dma_faults, 0);
    card.stop_queue(0).unwrap();
    let mut rest: Batch<64> = Batch::new();
    assert_eq!(q.release(&mut rest), 63);
}

#[test]
fn bring_up_keeps_the_link_mode_the_eeprom_loaded() {
    use ixgbe_nostd::regs::{AUTOC, Autoc};
    for lms in [
        Autoc::LMS_10G_SERIAL,
        Autoc::LMS_KX4_KX_KR,
        Autoc::LMS_1G_AN,
    ] {
        let dma = SimDma::new();
        let dev = I82599::new(dma.clone(), MAC_A);
        dev.model().eeprom_autoc = lms | 0x1234_0000 & !Autoc::LMS_MASK;
        let _card: Card = Ixgbe::new(dev.clone(), dma, NoDelay, Config::default()).unwrap();
        let autoc = dev.model().peek(AUTOC);
        assert_eq!(autoc & Autoc::LMS_MASK, lms, "LMS kept");
        assert_eq!(autoc & 0xFFFF_0000, 0x1234_0000 & !Autoc::LMS_MASK);
        assert!(Autoc::from_bits_retain(autoc).contains(Autoc::RESTART_AN));
    }
}

#[test]
fn frames_the_device_cannot_send_are_refused_and_stay_in_the_batch() {
    let (dev, dma, mut card) = card();
    let mut q = card.queue(0, small_queue()).unwrap();
    let mut bufs = pool(&dma, 16).into_iter();
    let mut frame = |len: usize, tagged: bool| {
        let mut b = bufs.next().unwrap();
        let mut f = vec![0x11; len];
        if len >= 14 {
            f[..6].copy_from_slice(&MAC_B);
            if tagged {
                f[12..14].copy_from_slice(&[0x81, 0x00]);
            }
        }
        b.append(&f).unwrap();
        b
    };
    let bad = [
        frame(16, false),
        frame(1515, false),
        frame(1519, true),
        frame(0, false),
    ];
    for b in bad {
        let len = b.len();
        let mut one: Batch<2> = batch([b]);
        assert_eq!(
            q.tx_burst(&mut one),
            Err(ErrorKind::InvalidArgument),
            "{len}"
        );
        assert_eq!(one.len(), 1, "{len}: the buffer stays with the caller");
        assert_eq!(one.get(0).unwrap().len(), len);
    }
    // Header lengths the context descriptor cannot hold (IPLEN 9 bits,
    // MACLEN 7 bits).
    for (l2, l3) in [(14u8, 0x200u16), (0x80, 20)] {
        let mut b = frame(60, false);
        b.tx_mut().flags = TxFlags::IPV4_CSUM;
        b.tx_mut().l2_len = l2;
        b.tx_mut().l3_len = l3;
        let mut one: Batch<2> = batch([b]);
        assert_eq!(q.tx_burst(&mut one), Err(ErrorKind::InvalidArgument));
        assert_eq!(one.len(), 1);
    }
    // The limits themselves are accepted.
    let mut ok: Batch<4> = batch([frame(17, false), frame(1514, false), frame(1518, true)]);
    assert_eq!(q.tx_burst(&mut ok).unwrap(), 3);
    let sent = dev.take_transmitted();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[1].len(), 1514);
    assert_eq!(dev.model().counters.dma_faults, 0);
}

#[test]
fn refill_refuses_a_buffer_too_small_for_the_device_and_keeps_the_order() {
    let (_dev, dma, mut card) = card();
    let mut q = card.queue(0, small_queue()).unwrap();
    let mut good = pool(&dma, 70);
    // 1024-byte buffers: less than the 2048 bytes the device may write.
    let mut small = nic_traits::Dma::alloc(&dma, 1024, 4096)
        .unwrap()
        .into_buffers(1024, 0);
    let mut b: Batch<4> = Batch::new();
    b.push_back(good.pop().unwrap()).unwrap();
    b.push_back(small.next().unwrap()).unwrap();
    b.push_back(good.pop().unwrap()).unwrap();
    assert_eq!(q.refill(&mut b), Err(ErrorKind::InvalidArgument));
    assert_eq!(q.rx_free(), 62);
    assert_eq!(b.len(), 2);
    assert_eq!(b.front().unwrap().capacity(), 1024 - 64);
    let refused = b.pop_front().unwrap();
    assert_eq!(q.refill(&mut b).unwrap(), 1);
    // A full ring is no error: the buffers stay.
    let mut rest: Batch<64> = batch(good.drain(..61));
    assert_eq!(q.refill(&mut rest).unwrap(), 61);
    assert_eq!(q.rx_free(), 0);
    b.push_back(refused).unwrap();
    b.push_back(good.pop().unwrap()).unwrap();
    assert_eq!(q.refill(&mut b).unwrap(), 0);
    assert_eq!(b.len(), 2);
}
