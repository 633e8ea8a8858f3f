//! The main demonstration: two software NICs joined by an impaired link.
//!
//! NIC A sends 1000 UDP datagrams (built with netwire) through its queue
//! driver; the link loses, duplicates, reorders and corrupts some of them
//! (seeded, so every run prints the same numbers); NIC B receives through its
//! queue driver with a deliberately slow consumer, so its receive ring runs
//! dry at times and the device counts missed frames. Every frame is then
//! accounted for, and the process exits non-zero if the numbers do not add
//! up. What arrived at B's port is written to `target/demo.pcap`.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufWriter;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use netwire::{
    ChecksumCapabilities, EtherType, EthernetAddress, EthernetFrame, EthernetRepr, IpProtocol,
    Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
};
use nic_sim::SimDma;
use nic_sim::link::{End, Impairment};
use nic_sim::pcap::PcapWriter;
use nic_sim::softnic::{SoftNicConfig, SoftNicHarness, SoftNicPair};
use nic_traits::{Batch, CardDriver, Dma, PacketBuf, QueueConfig, QueueDriver};

const SEED: u64 = 2024;
const FRAMES: u32 = 1000;
const PAYLOAD: usize = 64;
/// 14 (Ethernet) + 20 (IPv4) + 8 (UDP) + payload: no padding needed.
const FRAME_LEN: usize = 14 + 20 + 8 + PAYLOAD;
const SRC_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 10);
const DST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 11);
const PORT: u16 = 9000;
/// Virtual time per step of the simulation.
const STEP_NS: u64 = 10_000;
/// Frames A offers per step, and frames B's consumer takes per step.
const SEND_PER_STEP: usize = 32;
const TAKE_PER_STEP: usize = 28;

/// The datagram A sends as frame `seq`.
fn build_frame(seq: u32, src: [u8; 6], dst: [u8; 6], out: &mut [u8]) -> Result<(), netwire::Error> {
    let caps = ChecksumCapabilities::software();
    let eth = EthernetRepr {
        src_addr: EthernetAddress(src),
        dst_addr: EthernetAddress(dst),
        vlan: None,
        ethertype: EtherType::Ipv4,
    };
    let udp = UdpRepr {
        src_port: PORT,
        dst_port: PORT,
        payload_len: PAYLOAD,
    };
    let ip = Ipv4Repr::new(SRC_IP, DST_IP, IpProtocol::Udp, udp.buffer_len(), 64);
    let (eth_buf, rest) = out.split_at_mut(eth.header_len());
    eth.emit(&mut EthernetFrame::new_unchecked(&mut eth_buf[..]))?;
    let (ip_buf, udp_buf) = rest.split_at_mut(ip.header_len());
    ip.emit(&mut Ipv4Packet::new_unchecked(&mut ip_buf[..]), &caps)?;
    let payload = &mut udp_buf[8..8 + PAYLOAD];
    payload[..4].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in payload[4..].iter_mut().enumerate() {
        *b = (seq as usize * 7 + i) as u8;
    }
    udp.emit(
        &mut UdpPacket::new_unchecked(&mut udp_buf[..udp.buffer_len()]),
        &IpAddr::V4(SRC_IP),
        &IpAddr::V4(DST_IP),
        &caps,
    )
}

/// What B makes of a received frame.
enum Verdict {
    /// Intact: the datagram with this sequence number, byte for byte.
    Good(u32),
    /// A header or checksum check failed: corruption caught.
    Caught,
    /// Checksums passed but the bytes differ from what was sent (a flipped
    /// bit in a field no checksum covers, e.g. the source MAC).
    Slipped,
}

fn judge(frame: &[u8], src: [u8; 6], dst: [u8; 6]) -> Verdict {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return Verdict::Caught;
    };
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
        return Verdict::Caught;
    };
    if !ip.verify_checksum() || ip.next_header() != IpProtocol::Udp {
        return Verdict::Caught;
    }
    let Ok(udp) = UdpPacket::new_checked(ip.payload()) else {
        return Verdict::Caught;
    };
    let (s, d) = (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr()));
    if !udp.verify_checksum(&s, &d) || udp.payload().len() < 4 {
        return Verdict::Caught;
    }
    let p = udp.payload();
    let seq = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
    let mut expected = [0u8; FRAME_LEN];
    if seq >= FRAMES || build_frame(seq, src, dst, &mut expected).is_err() || frame != expected {
        return Verdict::Slipped;
    }
    Verdict::Good(seq)
}

fn pool(dma: &SimDma, count: usize) -> Vec<PacketBuf> {
    match dma.alloc(count * 2112, 64) {
        Ok(region) => region.into_buffers(2112, 0).collect(),
        Err(e) => {
            eprintln!("demo: cannot allocate DMA memory: {e}");
            Vec::new()
        }
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
}

#[derive(Debug, Default)]
struct Receiver {
    frames: u64,
    good: u64,
    unique: BTreeSet<u32>,
    caught: u64,
    slipped: u64,
    out_of_order: u64,
    highest: Option<u32>,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("demo: FAILED: {why}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let impairment = Impairment {
        loss: 0.02,
        duplicate: 0.01,
        reorder: 0.02,
        corrupt: 0.01,
        delay_ns: 20_000,
        jitter_ns: 5_000,
    };
    let mut pair = SoftNicPair::new(SEED, impairment, 1);
    // 10 Gbit/s each way.
    {
        let mut link = pair.link.lock().map_err(|_| "link lock poisoned")?;
        link.set_bandwidth(End::A, 1_250_000_000);
        link.set_bandwidth(End::B, 1_250_000_000);
    }
    let dir = target_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // Shown relative to the working directory when it lies below it.
    let dir = dir.canonicalize().unwrap_or(dir);
    let dir = std::env::current_dir()
        .ok()
        .and_then(|cwd| dir.strip_prefix(cwd).ok().map(PathBuf::from))
        .unwrap_or(dir);
    let pcap_path = dir.join("demo.pcap");
    let file = File::create(&pcap_path).map_err(|e| format!("{}: {e}", pcap_path.display()))?;
    let pcap = PcapWriter::new(BufWriter::new(file)).map_err(|e| e.to_string())?;
    let pcap = Arc::new(Mutex::new(pcap));
    pair.b.set_tap(pcap.clone());

    let (mac_a, mac_b) = (pair.a.mac_address().0, pair.b.mac_address().0);
    let config = QueueConfig {
        rx_ring: 64,
        tx_ring: 64,
        rx_buf_len: 2048,
    };
    let mut qa = pair
        .a
        .queue(0, config)
        .map_err(|e| format!("queue A: {e}"))?;
    let mut qb = pair
        .b
        .queue(0, config)
        .map_err(|e| format!("queue B: {e}"))?;
    let dma = SimDma::new();
    let mut pool_a = pool(&dma, 128);
    let mut pool_b = pool(&dma, 96);
    let (total_a, total_b) = (pool_a.len(), pool_b.len());

    let mut next_seq = 0u32;
    let mut reclaimed = 0u64;
    let mut rx = Receiver::default();
    let mut now = 0u64;
    let mut idle_steps = 0;
    while idle_steps < 10 {
        // A: take back sent buffers, then queue as many new frames as fit.
        let mut done: Batch<64> = Batch::new();
        reclaimed += qa.tx_reclaim(&mut done).map_err(|e| e.to_string())? as u64;
        pool_a.extend(done);
        let mut out: Batch<SEND_PER_STEP> = Batch::new();
        while next_seq < FRAMES && !out.is_full() && out.len() < qa.tx_free() {
            let Some(mut buf) = pool_a.pop() else { break };
            buf.reset(0);
            let mut frame = [0u8; FRAME_LEN];
            build_frame(next_seq, mac_a, mac_b, &mut frame).map_err(|e| e.to_string())?;
            buf.append(&frame).map_err(|e| e.to_string())?;
            let _ = out.push_back(buf);
            next_seq += 1;
        }
        qa.tx_burst(&mut out).map_err(|e| e.to_string())?;
        // Anything the ring did not take goes back (and is built again later).
        next_seq -= out.len() as u32;
        pool_a.extend(out);

        // B: keep the ring stocked from the pool.
        let mut fill: Batch<64> = Batch::new();
        while fill.len() < qb.rx_free() {
            let Some(mut buf) = pool_b.pop() else { break };
            buf.reset(0);
            let _ = fill.push_back(buf);
        }
        qb.refill(&mut fill).map_err(|e| e.to_string())?;
        pool_b.extend(fill);

        pair.step(now);

        // B's consumer is slower than A's sender: at most TAKE_PER_STEP frames.
        let mut got: Batch<TAKE_PER_STEP> = Batch::new();
        let took = qb.rx_burst(&mut got).map_err(|e| e.to_string())?;
        for buf in got {
            rx.frames += 1;
            match judge(buf.data(), mac_a, mac_b) {
                Verdict::Good(seq) => {
                    rx.good += 1;
                    rx.unique.insert(seq);
                    match rx.highest {
                        Some(h) if seq < h => rx.out_of_order += 1,
                        _ => rx.highest = Some(seq),
                    }
                }
                Verdict::Caught => rx.caught += 1,
                Verdict::Slipped => rx.slipped += 1,
            }
            pool_b.push(buf);
        }

        now += STEP_NS;
        let busy = next_seq < FRAMES
            || reclaimed < u64::from(FRAMES)
            || pair.next_arrival().is_some()
            || took > 0;
        idle_steps = if busy { 0 } else { idle_steps + 1 };
        if now > 1_000_000_000 {
            return Err("the simulation did not settle within 1 s of virtual time".into());
        }
    }

    // Stop both queues and take every buffer back.
    for (nic, q, pool) in [
        (&mut pair.a, &mut qa, &mut pool_a),
        (&mut pair.b, &mut qb, &mut pool_b),
    ] {
        nic.stop_queue(0).map_err(|e| e.to_string())?;
        loop {
            let mut out: Batch<32> = Batch::new();
            let n = q.release(&mut out);
            pool.extend(out);
            if n < 32 {
                break;
            }
        }
    }
    let (doorbells_a, doorbells_b) = (qa.counters().doorbells, qb.counters().doorbells);
    let link = pair.link.lock().map_err(|_| "link lock poisoned")?;
    let l = link.counters(End::A);
    drop(link);
    let sa = pair.a.stats();
    let sb = pair.b.stats();
    let filtered = pair.b.device_counters().rx_filtered;
    let captured = {
        let mut w = pcap.lock().map_err(|_| "pcap lock poisoned")?;
        w.flush().map_err(|e| e.to_string())?;
        if w.errors() > 0 {
            return Err(format!(
                "{} frames could not be written to the capture",
                w.errors()
            ));
        }
        w.frames()
    };

    // The conformance kit on the same kind of NIC.
    let mut harness = SoftNicHarness::new(SoftNicConfig::default(), QueueConfig::default());
    let report = nic_traits::testkit::run_all(&mut harness).map_err(|f| f.to_string())?;

    let pct = |p: f64| p * 100.0;
    println!("nic family demo: two software NICs, a 10 Gbit/s link A→B, impairment seed {SEED}");
    println!(
        "  impairment   loss {:.1}%, duplicate {:.1}%, reorder {:.1}%, corrupt {:.1}%, delay {} µs + jitter ≤ {} µs",
        pct(impairment.loss),
        pct(impairment.duplicate),
        pct(impairment.reorder),
        pct(impairment.corrupt),
        impairment.delay_ns / 1000,
        impairment.jitter_ns / 1000
    );
    println!(
        "  A sent       {} UDP frames (tx_packets {}, {} buffers reclaimed)",
        FRAMES, sa.tx_packets, reclaimed
    );
    println!(
        "  link         lost {}, duplicated {}, reordered {}, corrupted {} → {} frames arrived at B",
        l.lost, l.duplicated, l.reordered, l.corrupted, l.delivered
    );
    println!(
        "  B device     rx_packets {}, rx_missed {} (ring empty), rx_errors {}, not for B's MAC {}",
        sb.rx_packets, sb.rx_missed, sb.rx_errors, filtered
    );
    println!(
        "  B app        {} intact ({} distinct datagrams, {} duplicates, {} out of order), {} corrupt caught by checksums, {} corrupt in unchecksummed bytes",
        rx.good,
        rx.unique.len(),
        rx.good - rx.unique.len() as u64,
        rx.out_of_order,
        rx.caught,
        rx.slipped
    );
    println!(
        "  buffers      A {}/{} and B {}/{} back in their pools; doorbells A {}, B {}",
        pool_a.len(),
        total_a,
        pool_b.len(),
        total_b,
        doorbells_a,
        doorbells_b
    );
    println!(
        "  conformance  software NIC: {} checks passed, {} not applicable ({} frames, {} buffer hand-overs)",
        report.passed.len(),
        report.not_applicable.len(),
        report.frames,
        report.buffers
    );
    println!(
        "  capture      {captured} frames seen at B's port in {}\n               open with: tcpdump -nn -r {0}   (or wireshark)",
        pcap_path.display()
    );

    // The books must balance.
    let mut wrong = Vec::new();
    let mut expect = |ok: bool, what: &str| {
        if !ok {
            wrong.push(what.to_string());
        }
    };
    let sent = u64::from(FRAMES);
    expect(
        l.sent == sent && sa.tx_packets == sent,
        "A sent every frame once",
    );
    expect(reclaimed == sent, "every transmit buffer was reclaimed");
    expect(
        l.delivered == l.sent - l.lost + l.duplicated,
        "link: delivered = sent − lost + duplicated",
    );
    expect(
        captured == l.delivered,
        "every frame that arrived was captured",
    );
    expect(
        sb.rx_packets + sb.rx_missed + sb.rx_errors + filtered == l.delivered,
        "B: arrived = received + missed + errors + filtered",
    );
    expect(
        rx.frames == sb.rx_packets,
        "B's application got every frame received",
    );
    expect(
        rx.good + rx.caught + rx.slipped == rx.frames,
        "every received frame was judged",
    );
    expect(
        rx.caught + rx.slipped + filtered <= 2 * l.corrupted,
        "only corrupted frames (or their duplicates) fail checks",
    );
    expect(
        rx.unique.len() as u64 <= sent - l.lost,
        "no datagram arrived that the link lost",
    );
    expect(
        rx.good - rx.unique.len() as u64 <= l.duplicated,
        "duplicates only from the link",
    );
    expect(
        pool_a.len() == total_a && pool_b.len() == total_b,
        "no buffer leaked",
    );
    expect(
        l.lost > 0 && l.duplicated > 0 && l.reordered > 0 && l.corrupted > 0 && sb.rx_missed > 0,
        "every impairment and ring exhaustion occurred",
    );
    expect(
        report.passed.len() == 7,
        "the software NIC passed the conformance kit",
    );
    if wrong.is_empty() {
        println!("  OK           every frame is accounted for");
        Ok(())
    } else {
        Err(format!("numbers do not add up: {}", wrong.join("; ")))
    }
}
