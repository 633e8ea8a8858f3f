//! Two tcp-lite stacks over a simulated link with seeded loss, duplication, reordering,
//! corruption and delay: every byte must arrive exactly once and in order.
//!
//! The link is nic-sim's: seeded, deterministic impairment in virtual time.

use nic_sim::link::{End, Impairment};
use tcp_lite::wire::flags as F;
use tcp_lite::{ArpEntry, Config, Instant, Interface, State, TcpSocket};

/// The nic-sim link, with frames traced when `TRACE` is set.
struct Link {
    inner: nic_sim::link::Link,
}

impl Link {
    fn new(seed: u64, imp: Impairment) -> Self {
        let mut inner = nic_sim::link::Link::new(seed, imp);
        // 100 Mbit/s in each direction, so that windows and queues matter.
        inner.set_bandwidth(End::A, 12_500_000);
        inner.set_bandwidth(End::B, 12_500_000);
        Link { inner }
    }
    fn send(&mut self, from: End, now_us: u64, frame: &[u8]) {
        if std::env::var_os("TRACE").is_some() {
            trace(from, now_us, frame);
        }
        self.inner.send(from, now_us * 1000, frame);
    }
    fn recv(&mut self, at: End, now_us: u64) -> Option<Vec<u8>> {
        self.inner.recv(at, now_us * 1000)
    }
    fn next_at(&self) -> Option<u64> {
        [End::A, End::B]
            .into_iter()
            .filter_map(|e| self.inner.next_arrival(e))
            .min()
            .map(|ns| ns.div_ceil(1000))
    }
}

fn trace(d: End, now: u64, frame: &[u8]) {
    match tcp_lite::wire::parse_tcp_frame(frame) {
        Some((_, _, t)) => println!(
            "{now:>10} {} seq={} ack={} fl={:02x} win={} len={} sack={:?} ts={:?}",
            if d == End::A { "A>B" } else { "B>A" },
            t.seq,
            t.ack,
            t.flags,
            t.window,
            t.payload.len(),
            &t.sack[..t.sack_len as usize],
            t.timestamp
        ),
        None => println!(
            "{now:>10} {} non-TCP frame of {} bytes",
            if d == End::A { "A>B" } else { "B>A" },
            frame.len()
        ),
    }
}

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];
const IP_A: [u8; 4] = [10, 0, 0, 1];
const IP_B: [u8; 4] = [10, 0, 0, 2];

/// Byte `i` of the test stream.
fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(2654435761) >> 13) as u8
}

struct Outcome {
    virtual_us: u64,
    delivered: usize,
    /// Frames lost, duplicated, reordered and corrupted by the link, both directions.
    impaired: [u64; 4],
    /// The sender's retransmissions, seen on the wire.
    rtx: Rtx,
}

/// Retransmitted data segments of the sender, classified from the wire and the socket's
/// public state: by a retransmission timeout (the RTO doubled), by a tail-loss probe (another
/// timer), or at once on an ACK (fast retransmit, SACK holes, partial ACKs, and the
/// go-back-N resends after a timeout); `spurious` counts those whose bytes the receiver
/// already held when they were sent.
#[derive(Default, Clone, Copy, Debug)]
struct Rtx {
    rto: u64,
    tlp: u64,
    on_ack: u64,
    spurious: u64,
    /// Virtual µs from the sender's last received frame to each RTO retransmission.
    rto_wait_us: u64,
    /// Sum of the RTO (before its back-off) at each timeout, ms.
    rto_ms: u64,
    /// Sum of SRTT samples taken at each retransmission timeout and probe, ms.
    srtt_ms: u64,
}

impl core::ops::AddAssign for Rtx {
    fn add_assign(&mut self, o: Rtx) {
        self.rto += o.rto;
        self.tlp += o.tlp;
        self.on_ack += o.on_ack;
        self.spurious += o.spurious;
        self.rto_wait_us += o.rto_wait_us;
        self.rto_ms += o.rto_ms;
        self.srtt_ms += o.srtt_ms;
    }
}

/// Byte ranges `[l, r)` (offsets from the first data byte) the receiver has taken in.
#[derive(Default)]
struct Held(Vec<(u64, u64)>);

impl Held {
    fn add(&mut self, l: u64, r: u64) {
        let (mut l, mut r) = (l, r);
        self.0.retain(|&(a, b)| {
            let touch = a <= r && l <= b;
            if touch {
                l = l.min(a);
                r = r.max(b);
            }
            !touch
        });
        self.0.push((l, r));
    }
    fn covers(&self, l: u64, r: u64) -> bool {
        self.0.iter().any(|&(a, b)| a <= l && r <= b)
    }
}

fn run(seed: u64, imp: Impairment, total: usize, buf: usize) -> Outcome {
    run_with(seed, imp, total, buf, None, None, |_| {})
}

fn run_with(
    seed: u64,
    imp: Impairment,
    total: usize,
    buf: usize,
    slow_reader: Option<(usize, u64)>,
    blind_every_us: Option<u64>,
    setup: impl FnOnce(&mut TcpSocket<'_>),
) -> Outcome {
    // A slow reader takes at most `.0` bytes every `.1` µs, so the window closes and opens.
    let (read_max, read_every) = slow_reader.unwrap_or((usize::MAX, 0));
    let mut next_read = 0u64;
    // A blind attacker who knows the 4-tuple and roughly where the sequence numbers are
    // (from an old segment), but not RCV.NXT exactly.
    let mut last_a: Option<(u32, u32, u16)> = None;
    // Retransmission bookkeeping: first data sequence number, highest data end sent (as an
    // offset from it), what the receiver holds, when the sender last received a frame.
    let mut base: Option<u32> = None;
    let mut sent_end = 0u64;
    let mut held = Held::default();
    let mut last_rx_a = 0u64;
    let mut rtx = Rtx::default();
    let mut next_blind = 0u64;
    let mut blind_sent = 0u32;
    let mut rx_a = vec![0u8; buf];
    let mut tx_a = vec![0u8; buf];
    let mut rx_b = vec![0u8; buf];
    let mut tx_b = vec![0u8; buf];
    let mut sa = [TcpSocket::new(&mut rx_a, &mut tx_a)];
    // The listener needs no buffers: it takes slot 0, the connection slot 1.
    let mut sb = [TcpSocket::default(), TcpSocket::new(&mut rx_b, &mut tx_b)];
    let (mut ta, mut tb) = ([0u16; 4], [0u16; 4]);
    let (mut aa, mut ab) = ([ArpEntry::default(); 2], [ArpEntry::default(); 2]);
    let mut ca = Config::new(MAC_A, IP_A, 24, [1; 16]);
    let mut cb = Config::new(MAC_B, IP_B, 24, [2; 16]);
    // A LAN: the RFC 6298 1 s floor would dominate a 200 µs path; Linux uses 200 ms.
    ca.tcp.min_rto_ms = 200;
    cb.tcp.min_rto_ms = 200;
    let mut a = Interface::new(ca, &mut sa, &mut ta, &mut aa);
    let mut b = Interface::new(cb, &mut sb, &mut tb, &mut ab);
    let mut link = Link::new(seed, imp);
    let l = b.listen(80, 2).unwrap();
    let mut now = 0u64;
    let c = a
        .connect(Instant::from_micros(now), (IP_B, 80), 49152)
        .unwrap();
    setup(a.socket(c).unwrap());
    let mut server = None;
    let (mut sent, mut got) = (0usize, 0usize);
    let mut frame = vec![0u8; 1600];
    let mut chunk = vec![0u8; 8192];
    let mut closed = false;
    let limit_us = 600_000_000; // 10 virtual minutes
    loop {
        let t = Instant::from_micros(now);
        // Application: A writes the stream, B reads and checks it.
        if a.socket(c).unwrap().can_send() && sent < total {
            let n = a.socket(c).unwrap().send_with(|buf| {
                let n = buf.len().min(total - sent);
                for (i, b) in buf[..n].iter_mut().enumerate() {
                    *b = pattern((sent + i) as u64);
                }
                n
            });
            sent += n;
        }
        if sent == total && !closed && a.socket(c).unwrap().is_established() {
            a.socket(c).unwrap().close();
            closed = true;
        }
        if server.is_none() {
            server = b.accept(l);
        }
        if let Some(s) = server.filter(|_| now >= next_read) {
            next_read = now + read_every;
            let mut budget = read_max;
            loop {
                let k = chunk.len().min(budget);
                let n = b.socket(s).unwrap().recv_slice(&mut chunk[..k]);
                budget -= n;
                if n == 0 {
                    break;
                }
                for (i, &x) in chunk[..n].iter().enumerate() {
                    assert_eq!(
                        x,
                        pattern((got + i) as u64),
                        "seed {seed}: byte {} corrupted",
                        got + i
                    );
                }
                got += n;
            }
            if b.socket(s).unwrap().state() == State::CloseWait {
                b.socket(s).unwrap().close();
            }
        }
        // Network.
        let rto_before = a.socket(c).unwrap().rto_ms();
        while let Some(n) = a.transmit(t, &mut frame) {
            if let Some((_, _, seg)) = tcp_lite::wire::parse_tcp_frame(&frame[..n]) {
                if !seg.payload.is_empty() {
                    let b0 = *base.get_or_insert(seg.seq);
                    let l = u64::from(seg.seq.wrapping_sub(b0));
                    let r = l + seg.payload.len() as u64;
                    if r <= sent_end {
                        if now == last_rx_a {
                            rtx.on_ack += 1;
                        } else if a.socket(c).unwrap().rto_ms() > rto_before {
                            rtx.rto += 1;
                            rtx.rto_wait_us += now - last_rx_a;
                            rtx.rto_ms += u64::from(rto_before);
                            rtx.srtt_ms += u64::from(a.socket(c).unwrap().srtt_ms().unwrap_or(0));
                        } else {
                            rtx.tlp += 1;
                            rtx.srtt_ms += u64::from(a.socket(c).unwrap().srtt_ms().unwrap_or(0));
                        }
                        if held.covers(l, r) {
                            rtx.spurious += 1;
                        }
                    }
                    sent_end = sent_end.max(r);
                    last_a = Some((
                        seg.seq.wrapping_add(seg.payload.len() as u32),
                        seg.ack,
                        seg.src_port,
                    ));
                }
            }
            link.send(End::A, now, &frame[..n]);
        }
        while let Some(n) = b.transmit(t, &mut frame) {
            link.send(End::B, now, &frame[..n]);
        }
        if let (Some(every), Some((end, ack, port))) = (blind_every_us, last_a) {
            if now >= next_blind {
                next_blind = now + every;
                for (k, flags) in [
                    (7u32, F::RST),
                    (1_007, F::RST),
                    (2_900, F::RST | F::ACK),
                    (4_000, F::SYN),
                ] {
                    let r = tcp_lite::wire::TcpRepr {
                        src_port: port,
                        dst_port: 80,
                        seq: end.wrapping_add(k),
                        ack,
                        flags,
                        window: 1000,
                        ..Default::default()
                    };
                    let eth = tcp_lite::wire::EthHdr {
                        dst: MAC_B,
                        src: MAC_A,
                        ethertype: 0x0800,
                    };
                    let mut f = [0u8; 100];
                    let n = tcp_lite::wire::tcp_frame(&mut f, eth, IP_A, IP_B, &r).unwrap();
                    let _ = b.receive(t, &f[..n]);
                    blind_sent += 1;
                }
            }
        }
        let mut moved = false;
        while let Some(f) = link.recv(End::B, now) {
            if let (Some(b0), Some((_, _, seg))) = (base, tcp_lite::wire::parse_tcp_frame(&f)) {
                if !seg.payload.is_empty() && seg.dst_port == 80 {
                    let l = u64::from(seg.seq.wrapping_sub(b0));
                    held.add(l, l + seg.payload.len() as u64);
                }
            }
            let _ = b.receive(t, &f);
            moved = true;
        }
        while let Some(f) = link.recv(End::A, now) {
            last_rx_a = now;
            let _ = a.receive(t, &f);
            moved = true;
        }
        let done = got == total
            && server.is_some_and(|s| b.socket(s).unwrap().state() == State::Closed)
            && matches!(
                a.socket(c).unwrap().state(),
                State::TimeWait | State::Closed
            );
        if done {
            break;
        }
        if moved {
            continue;
        }
        let next = [a.poll_at(t), b.poll_at(t)]
            .into_iter()
            .flatten()
            .map(|i| i.micros())
            .chain(link.next_at())
            .chain((server.is_some() && next_read > now && got < total).then_some(next_read))
            .min();
        let next = next.unwrap_or(now + 1000).max(now + 1);
        now = next;
        assert!(
            now < limit_us,
            "seed {seed}: stalled at {got}/{total} bytes, a={:?}",
            a.socket(c).unwrap().state()
        );
    }
    let (x, y) = (link.inner.counters(End::A), link.inner.counters(End::B));
    let impaired = [
        x.lost + y.lost,
        x.duplicated + y.duplicated,
        x.reordered + y.reordered,
        x.corrupted + y.corrupted,
    ];
    if blind_every_us.is_some() {
        assert!(blind_sent > 40, "the attack ran: {blind_sent} segments");
    }
    Outcome {
        virtual_us: now,
        delivered: got,
        impaired,
        rtx,
    }
}

/// Impairment for a loss rate; duplication, reordering and corruption scale with it. For
/// debugging, the environment variables L, D, R, C multiply the loss rate per kind instead.
fn imp(loss: f64) -> Impairment {
    let f = |k: &str, d: f64| {
        std::env::var(k)
            .ok()
            .map_or(d, |v| v.parse::<f64>().unwrap() * loss)
    };
    Impairment {
        loss: f("L", loss),
        duplicate: f("D", loss / 2.0),
        reorder: f("R", loss),
        corrupt: f("C", loss / 2.0),
        delay_ns: 500_000,
        jitter_ns: 100_000,
    }
}

#[test]
fn clean_link_delivers() {
    let o = run(1, imp(0.0), 256 * 1024, 32 * 1024);
    assert_eq!(o.delivered, 256 * 1024);
}

#[test]
fn impaired_links_deliver_exactly_once_in_order() {
    let size = if cfg!(debug_assertions) {
        128 * 1024
    } else {
        1024 * 1024
    };
    let mut impaired = [0u64; 4];
    for seed in 1..=12u64 {
        for loss in [0.001, 0.01, 0.05] {
            let o = run(seed, imp(loss), size, 32 * 1024);
            assert_eq!(o.delivered, size);
            for (t, n) in impaired.iter_mut().zip(o.impaired) {
                *t += n;
            }
        }
    }
    // The link really did lose, duplicate, reorder and corrupt frames.
    assert!(
        impaired.iter().all(|&n| n > 10),
        "impairments seen: {impaired:?}"
    );
}

/// Prints virtual-time throughput per loss rate for BENCHMARKS.md:
/// `cargo test --release -p tcp-lite --test netsim -- --ignored --nocapture throughput`.
#[test]
#[ignore = "a report, not a check: run by hand for BENCHMARKS.md"]
fn throughput_report() {
    // `RATES=0.05` measures only the listed loss rates (comma-separated), same seeds.
    let rates: Vec<f64> = std::env::var("RATES").map_or(vec![0.0, 0.001, 0.01, 0.05], |v| {
        v.split(',').map(|r| r.trim().parse().unwrap()).collect()
    });
    // `SEEDS=32` runs seeds 1..=32 instead of 1..=8.
    let seeds: u64 = std::env::var("SEEDS").map_or(8, |v| v.parse().unwrap());
    for loss in rates {
        let mut rates = Vec::new();
        let mut rtx = Rtx::default();
        #[cfg_attr(not(feature = "cubic"), allow(unused_mut))]
        let mut rtx_cubic = Rtx::default();
        #[cfg_attr(not(feature = "cubic"), allow(unused_mut))]
        let mut cubic: Vec<f64> = Vec::new();
        let mut us = [0u64; 2];
        for seed in 1..=seeds {
            let o = run(seed, imp(loss), 4 << 20, 64 * 1024);
            us[0] += o.virtual_us;
            rates.push(o.delivered as f64 * 8.0 / o.virtual_us as f64);
            rtx += o.rtx;
            #[cfg(feature = "cubic")]
            {
                let o = run_with(seed, imp(loss), 4 << 20, 64 * 1024, None, None, |s| {
                    s.set_congestion(tcp_lite::Congestion::Cubic)
                });
                cubic.push(o.delivered as f64 * 8.0 / o.virtual_us as f64);
                us[1] += o.virtual_us;
                rtx_cubic += o.rtx;
            }
        }
        if std::env::var_os("PER_SEED").is_some() {
            println!("per seed (1..=8): {rates:.1?} / CUBIC {cubic:.1?}");
            println!("retransmissions over the seeds: {rtx:?} / CUBIC {rtx_cubic:?}");
            let agg = |us: u64| (seeds * (4 << 23)) as f64 / us.max(1) as f64;
            print!("aggregate (all bytes / all time): {:.1} Mbit/s", agg(us[0]));
            if !cubic.is_empty() {
                print!(" / CUBIC {:.1} Mbit/s", agg(us[1]));
            }
            println!();
        }
        rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "loss {:>5.1}%: median {:.1} Mbit/s (min {:.1}, max {:.1}) over {seeds} seeds, 4 MiB each",
            loss * 100.0,
            rates[rates.len() / 2],
            rates[0],
            rates[rates.len() - 1]
        );
        if !cubic.is_empty() {
            cubic.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!(
                "           CUBIC: median {:.1} Mbit/s (min {:.1}, max {:.1})",
                cubic[cubic.len() / 2],
                cubic[0],
                cubic[cubic.len() - 1]
            );
        }
    }
}

/// One run for debugging: `SEED=3 LOSS=0.05 TRACE=1 cargo test --test netsim -- --ignored one_run`.
#[test]
#[ignore = "a debugging aid"]
fn one_run() {
    let seed = std::env::var("SEED").map_or(1, |s| s.parse().unwrap());
    let loss = std::env::var("LOSS").map_or(0.05, |s| s.parse().unwrap());
    let o = run(seed, imp(loss), 1 << 20, 64 * 1024);
    println!(
        "{} bytes in {} µs: {:.1} Mbit/s, impaired {:?}",
        o.delivered,
        o.virtual_us,
        o.delivered as f64 * 8.0 / o.virtual_us as f64,
        o.impaired
    );
}

/// CUBIC (RFC 9438) on the sender delivers the stream as NewReno does.
#[cfg(feature = "cubic")]
#[test]
fn cubic_delivers_exactly_once_in_order() {
    use tcp_lite::Congestion;
    let size = if cfg!(debug_assertions) {
        128 * 1024
    } else {
        1024 * 1024
    };
    for seed in 1..=4u64 {
        for loss in [0.0, 0.01] {
            let o = run_with(seed, imp(loss), size, 32 * 1024, None, None, |s| {
                s.set_congestion(Congestion::Cubic)
            });
            assert_eq!(o.delivered, size);
        }
    }
}

/// A receiver that reads 1 KiB every 2 ms through a 4 KiB window: zero windows, window
/// updates and persist probes under impairment.
#[test]
fn slow_reader_small_window() {
    let size = 64 * 1024;
    for seed in 1..=6u64 {
        for loss in [0.0, 0.02] {
            let o = run_with(
                seed,
                imp(loss),
                size,
                4096,
                Some((1024, 2000)),
                None,
                |_| {},
            );
            assert_eq!(o.delivered, size);
            // Bounded by the reader: 64 KiB at 1 KiB / 2 ms takes at least 128 ms.
            assert!(o.virtual_us >= 126_000, "{}", o.virtual_us);
        }
    }
}

/// RFC 5961 end to end: blind RSTs and SYNs with in-window (but not exact) sequence numbers,
/// injected every millisecond into the receiver during a transfer over an impaired link. A
/// stack that resets on any in-window RST loses the connection here.
#[test]
fn blind_rst_and_syn_injection_does_not_reset() {
    let size = 256 * 1024;
    for seed in 1..=3u64 {
        for loss in [0.0, 0.01] {
            let o = run_with(seed, imp(loss), size, 32 * 1024, None, Some(1000), |_| {});
            assert_eq!(o.delivered, size);
        }
    }
}
