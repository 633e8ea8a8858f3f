//! Two tcp-lite stacks over a simulated link with seeded loss, duplication, reordering,
//! corruption and delay: every byte must arrive exactly once and in order.
//!
//! The impairment is written here (deterministic xorshift, per-frame decisions) rather than
//! taken from nic-sim, so the test depends on nothing but this crate.

use tcp_lite::{ArpEntry, Config, Instant, Interface, State, TcpSocket};

/// xorshift64* (Vigna 2016): a small deterministic generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 + f64::EPSILON <= p
    }
}

#[derive(Clone, Copy)]
struct Impairment {
    loss: f64,
    duplicate: f64,
    reorder: f64,
    corrupt: f64,
    delay_us: u64,
    jitter_us: u64,
}

/// One direction of the link: frames in flight with their delivery times.
struct Pipe {
    q: Vec<(u64, u64, Vec<u8>)>, // (deliver at, order, frame)
    order: u64,
}

struct Link {
    rng: Rng,
    imp: Impairment,
    dirs: [Pipe; 2],
    /// Serialisation: 10 Mbit/s-ish so that windows matter; µs per byte.
    ns_per_byte: u64,
    busy_until: [u64; 2],
}

impl Link {
    fn new(seed: u64, imp: Impairment) -> Self {
        Link {
            rng: Rng(seed | 1),
            imp,
            dirs: [
                Pipe {
                    q: Vec::new(),
                    order: 0,
                },
                Pipe {
                    q: Vec::new(),
                    order: 0,
                },
            ],
            ns_per_byte: 80, // 100 Mbit/s
            busy_until: [0; 2],
        }
    }
    fn send(&mut self, d: usize, now: u64, frame: &[u8]) {
        if std::env::var_os("TRACE").is_some() {
            trace(d, now, frame);
        }
        let start = self.busy_until[d].max(now);
        let done = start + frame.len() as u64 * self.ns_per_byte / 1000;
        self.busy_until[d] = done;
        if self.rng.chance(self.imp.loss) {
            return;
        }
        let copies = if self.rng.chance(self.imp.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut f = frame.to_vec();
            if self.rng.chance(self.imp.corrupt) && !f.is_empty() {
                let i = (self.rng.next() % f.len() as u64) as usize;
                f[i] ^= 1 << (self.rng.next() % 8);
            }
            let mut at = done + self.imp.delay_us;
            if self.imp.jitter_us > 0 {
                at += self.rng.next() % self.imp.jitter_us;
            }
            if self.rng.chance(self.imp.reorder) {
                at += self.imp.delay_us.max(1000);
            }
            let p = &mut self.dirs[d];
            p.order += 1;
            p.q.push((at, p.order, f));
        }
    }
    fn recv(&mut self, d: usize, now: u64) -> Option<Vec<u8>> {
        let p = &mut self.dirs[d];
        let i = (0..p.q.len())
            .filter(|&i| p.q[i].0 <= now)
            .min_by_key(|&i| (p.q[i].0, p.q[i].1))?;
        Some(p.q.swap_remove(i).2)
    }
    fn next_at(&self) -> Option<u64> {
        self.dirs.iter().flat_map(|p| p.q.iter().map(|e| e.0)).min()
    }
}

fn trace(d: usize, now: u64, frame: &[u8]) {
    match tcp_lite::wire::parse_tcp_frame(frame) {
        Some((_, _, t)) => println!(
            "{now:>10} {} seq={} ack={} fl={:02x} win={} len={} sack={:?} ts={:?}",
            if d == 0 { "A>B" } else { "B>A" },
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
            if d == 0 { "A>B" } else { "B>A" },
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
}

fn run(seed: u64, imp: Impairment, total: usize, buf: usize) -> Outcome {
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
    let mut server = None;
    let (mut sent, mut got) = (0usize, 0usize);
    let mut frame = vec![0u8; 1600];
    let mut chunk = vec![0u8; 8192];
    let mut closed = false;
    let limit_us = 600_000_000; // 10 virtual minutes
    loop {
        let t = Instant::from_micros(now);
        // Application: A writes the stream, B reads and checks it.
        if a.socket(c).can_send() && sent < total {
            let n = a.socket(c).send_with(|buf| {
                let n = buf.len().min(total - sent);
                for (i, b) in buf[..n].iter_mut().enumerate() {
                    *b = pattern((sent + i) as u64);
                }
                n
            });
            sent += n;
        }
        if sent == total && !closed && a.socket(c).is_established() {
            a.socket(c).close();
            closed = true;
        }
        if server.is_none() {
            server = b.accept(l);
        }
        if let Some(s) = server {
            loop {
                let n = b.socket(s).recv_slice(&mut chunk);
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
            if b.socket(s).state() == State::CloseWait {
                b.socket(s).close();
            }
        }
        // Network.
        while let Some(n) = a.transmit(t, &mut frame) {
            link.send(0, now, &frame[..n]);
        }
        while let Some(n) = b.transmit(t, &mut frame) {
            link.send(1, now, &frame[..n]);
        }
        let mut moved = false;
        while let Some(f) = link.recv(0, now) {
            let _ = b.receive(t, &f);
            moved = true;
        }
        while let Some(f) = link.recv(1, now) {
            let _ = a.receive(t, &f);
            moved = true;
        }
        let done = got == total
            && server.is_some_and(|s| b.socket(s).state() == State::Closed)
            && matches!(a.socket(c).state(), State::TimeWait | State::Closed);
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
            .min();
        let next = next.unwrap_or(now + 1000).max(now + 1);
        now = next;
        assert!(
            now < limit_us,
            "seed {seed}: stalled at {got}/{total} bytes, a={:?}",
            a.socket(c).state()
        );
    }
    Outcome {
        virtual_us: now,
        delivered: got,
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
        delay_us: 500,
        jitter_us: 100,
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
    for seed in 1..=12u64 {
        for loss in [0.001, 0.01, 0.05] {
            let o = run(seed, imp(loss), size, 32 * 1024);
            assert_eq!(o.delivered, size);
        }
    }
}

/// Prints virtual-time throughput per loss rate for BENCHMARKS.md:
/// `cargo test --release -p tcp-lite --test netsim -- --ignored --nocapture throughput`.
#[test]
#[ignore = "a report, not a check: run by hand for BENCHMARKS.md"]
fn throughput_report() {
    for loss in [0.0, 0.001, 0.01, 0.05] {
        let mut rates = Vec::new();
        for seed in 1..=8u64 {
            let o = run(seed, imp(loss), 4 << 20, 64 * 1024);
            rates.push(o.delivered as f64 * 8.0 / o.virtual_us as f64);
        }
        rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "loss {:>5.1}%: median {:.1} Mbit/s (min {:.1}, max {:.1}) over 8 seeds, 4 MiB each",
            loss * 100.0,
            rates[rates.len() / 2],
            rates[0],
            rates[rates.len() - 1]
        );
    }
}
