//! Segment-level tests in virtual time: a scripted peer builds segments, feeds them to the
//! stack, and checks the fields of what the stack emits.
//!
//! The peer's segments are built with netwire's `TcpRepr` and every segment the stack emits
//! is parsed by netwire as well as by tcp-lite's own parser, which must agree: two
//! independent implementations of the wire format check each other.

use core::net::IpAddr;
use netwire::tcp::{SackBlock, SackBlocks, TcpTimestamps};
use netwire::{ChecksumCapabilities, SeqNumber, TcpFlags, TcpPacket};
use tcp_lite::wire::{self, EthHdr, TcpRepr, flags as F};
use tcp_lite::{ArpEntry, Config, Error, Instant, Interface, SocketHandle, State, TcpSocket};

const US: [u8; 4] = [10, 0, 0, 1];
const PEER: [u8; 4] = [10, 0, 0, 2];
const MAC_US: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_PEER: [u8; 6] = [2, 0, 0, 0, 0, 2];
const PPORT: u16 = 40000;

#[derive(Debug, Clone)]
struct Seg {
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    mss: Option<u16>,
    wscale: Option<u8>,
    sack_permitted: bool,
    ts: Option<(u32, u32)>,
    sack: Vec<(u32, u32)>,
    payload: Vec<u8>,
}

fn owned(t: &TcpRepr<'_>) -> Seg {
    Seg {
        seq: t.seq,
        ack: t.ack,
        flags: t.flags,
        window: t.window,
        mss: t.mss,
        wscale: t.wscale,
        sack_permitted: t.sack_permitted,
        ts: t.timestamp,
        sack: t.sack[..usize::from(t.sack_len)].to_vec(),
        payload: t.payload.to_vec(),
    }
}

struct H<'a> {
    iface: Interface<'a>,
    now: u64, // ms
    port: u16,
}

fn leak<T>(v: T) -> &'static mut T {
    Box::leak(Box::new(v))
}

impl H<'static> {
    fn new(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::with_rx(4096, tweak)
    }

    fn with_rx(rx: usize, tweak: impl FnOnce(&mut Config)) -> Self {
        let socks: Vec<TcpSocket<'static>> = (0..6)
            .map(|_| {
                TcpSocket::new(
                    Box::leak(vec![0u8; rx].into_boxed_slice()),
                    leak([0u8; 8192]).as_mut_slice(),
                )
            })
            .collect();
        let socks = Box::leak(socks.into_boxed_slice());
        let mut cfg = Config::new(MAC_US, US, 24, [7; 16]);
        tweak(&mut cfg);
        let iface = Interface::new(cfg, socks, leak([0u16; 16]), leak([ArpEntry::default(); 4]));
        let mut h = H {
            iface,
            now: 1000,
            port: 80,
        };
        // Teach the stack the peer's MAC with an ARP request and drain the reply.
        let mut f = [0u8; 42];
        EthHdr {
            dst: [0xff; 6],
            src: MAC_PEER,
            ethertype: wire::ETHERTYPE_ARP,
        }
        .emit(&mut f)
        .unwrap();
        wire::ArpRepr {
            op: 1,
            sha: MAC_PEER,
            spa: PEER,
            tha: [0; 6],
            tpa: US,
        }
        .emit(&mut f[14..])
        .unwrap();
        h.iface.receive(h.t(), &f).unwrap();
        let mut out = [0u8; 1600];
        let n = h.iface.transmit(h.t(), &mut out).expect("ARP reply");
        let a = wire::ArpRepr::parse(&out[14..n]).unwrap();
        assert_eq!((a.op, a.sha, a.spa, a.tpa), (2, MAC_US, US, PEER));
        h
    }
}

impl H<'_> {
    fn t(&self) -> Instant {
        Instant::from_millis(self.now)
    }
    fn advance(&mut self, ms: u64) {
        self.now += ms;
    }
    fn send(&mut self, s: Seg) -> Result<(), Error> {
        let mut r = netwire::TcpRepr::new(
            PPORT,
            self.port,
            SeqNumber(s.seq),
            SeqNumber(s.ack),
            TcpFlags::from_bits_retain(u16::from(s.flags)),
            s.window,
        );
        r.max_seg_size = s.mss;
        r.window_scale = s.wscale;
        r.sack_permitted = s.sack_permitted;
        r.timestamps = s.ts.map(|(tsval, tsecr)| TcpTimestamps { tsval, tsecr });
        let blocks: Vec<SackBlock> = s
            .sack
            .iter()
            .map(|&(l, rr)| SackBlock {
                left: SeqNumber(l),
                right: SeqNumber(rr),
            })
            .collect();
        r.sack_blocks = SackBlocks::from_slice(&blocks);
        r.payload_len = s.payload.len();
        let (hl, tl) = (r.header_len(), r.buffer_len());
        let mut f = vec![0u8; 34 + tl];
        EthHdr {
            dst: MAC_US,
            src: MAC_PEER,
            ethertype: 0x0800,
        }
        .emit(&mut f)
        .unwrap();
        wire::Ipv4Repr {
            src: PEER,
            dst: US,
            proto: 6,
            ttl: 64,
            payload_len: tl,
        }
        .emit(&mut f[14..], 0, true)
        .unwrap();
        f[34 + hl..].copy_from_slice(&s.payload);
        let mut pkt = TcpPacket::new_unchecked(&mut f[34..]);
        r.emit(
            &mut pkt,
            &IpAddr::from(PEER),
            &IpAddr::from(US),
            &ChecksumCapabilities::software(),
        )
        .unwrap();
        self.iface.receive(self.t(), &f)
    }
    /// Every TCP segment the stack emits now.
    fn out(&mut self) -> Vec<Seg> {
        let mut v = Vec::new();
        let mut f = [0u8; 1600];
        while let Some(n) = self.iface.transmit(self.t(), &mut f) {
            if EthHdr::parse(&f[..n]).is_some_and(|e| e.ethertype == wire::ETHERTYPE_ARP) {
                // The cache entry expired: answer the request as the peer would.
                let a = wire::ArpRepr::parse(&f[14..n]).expect("valid ARP");
                assert_eq!((a.op, a.tpa), (1, PEER));
                let mut r = [0u8; 42];
                EthHdr {
                    dst: MAC_US,
                    src: MAC_PEER,
                    ethertype: wire::ETHERTYPE_ARP,
                }
                .emit(&mut r)
                .unwrap();
                wire::ArpRepr {
                    op: 2,
                    sha: MAC_PEER,
                    spa: PEER,
                    tha: MAC_US,
                    tpa: US,
                }
                .emit(&mut r[14..])
                .unwrap();
                self.iface.receive(self.t(), &r).unwrap();
                continue;
            }
            let (eth, ip, t) = wire::parse_tcp_frame(&f[..n]).expect("a valid TCP frame");
            assert_eq!(
                (eth.dst, ip.src, ip.dst, t.src_port, t.dst_port),
                (MAC_PEER, US, PEER, self.port, PPORT)
            );
            v.push(owned(&t));
        }
        v
    }
    fn one(&mut self) -> Seg {
        let v = self.out();
        assert_eq!(v.len(), 1, "expected one segment, got {v:#?}");
        v.into_iter().next().unwrap()
    }
    fn none(&mut self) {
        let v = self.out();
        assert!(v.is_empty(), "expected silence, got {v:#?}");
    }
}

fn seg(seq: u32, ack: u32, flags: u8) -> Seg {
    Seg {
        seq,
        ack,
        flags,
        window: 8192,
        mss: None,
        wscale: None,
        sack_permitted: false,
        ts: None,
        sack: Vec::new(),
        payload: Vec::new(),
    }
}

const PISS: u32 = 1_000_000;

/// Passive open without timestamps: returns (connection, stack's ISS + 1, peer's next seq).
fn established(h: &mut H<'_>, sack: bool) -> (SocketHandle, u32, u32) {
    let l = h.iface.listen(80, 2).unwrap();
    let mut syn = seg(PISS, 0, F::SYN);
    syn.mss = Some(1000);
    syn.sack_permitted = sack;
    h.send(syn).unwrap();
    let sa = h.one();
    assert_eq!(sa.flags, F::SYN | F::ACK);
    assert_eq!(sa.ack, PISS + 1);
    assert_eq!(sa.mss, Some(1460));
    assert_eq!(sa.sack_permitted, sack);
    assert_eq!(sa.ts, None, "no timestamps unless the SYN had them");
    assert_eq!(sa.wscale, None, "no window scale unless the SYN had it");
    assert!(
        h.iface.accept(l).is_none(),
        "not accepted before the handshake ends"
    );
    h.send(seg(PISS + 1, sa.seq + 1, F::ACK)).unwrap();
    h.none();
    let c = h.iface.accept(l).expect("established child");
    assert_eq!(h.iface.socket(c).unwrap().state(), State::Established);
    (c, sa.seq + 1, PISS + 1)
}

#[test]
fn passive_open_and_data_both_ways() {
    let mut h = H::new(|_| {});
    let (c, iss1, p) = established(&mut h, false);
    let mut d = seg(p, iss1, F::ACK | F::PSH);
    d.payload = b"hello".to_vec();
    h.send(d).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(h.iface.socket(c).unwrap().recv_slice(&mut buf), 5);
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(h.iface.socket(c).unwrap().send_slice(b"world"), 5);
    let o = h.one();
    assert_eq!(
        (o.seq, o.ack, o.payload.as_slice()),
        (iss1, p + 5, &b"world"[..])
    );
    assert_eq!(o.flags, F::ACK | F::PSH, "data piggybacks the delayed ACK");
}

#[test]
fn syn_options_are_negotiated() {
    let mut h = H::new(|_| {});
    h.iface.listen(80, 1).unwrap();
    let mut syn = seg(PISS, 0, F::SYN);
    syn.mss = Some(1200);
    syn.wscale = Some(7);
    syn.sack_permitted = true;
    syn.ts = Some((555, 0));
    h.send(syn).unwrap();
    let sa = h.one();
    assert_eq!(sa.wscale, Some(0), "4 KiB receive buffer needs no scaling");
    assert!(sa.sack_permitted);
    assert_eq!(
        sa.ts.map(|t| t.1),
        Some(555),
        "TSecr echoes the SYN's TSval"
    );
}

#[test]
fn rfc5961_blind_rst_in_window_gets_challenge_ack() {
    let mut h = H::new(|_| {});
    let (c, iss1, p) = established(&mut h, false);
    // In window but not RCV.NXT: a stack that resets on any in-window RST fails here.
    h.send(seg(p + 100, 0, F::RST)).unwrap();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::Established);
    let ca = h.one();
    assert_eq!(
        (ca.flags, ca.seq, ca.ack),
        (F::ACK, iss1, p),
        "challenge ACK"
    );
    // Outside the window: silently dropped.
    h.send(seg(p.wrapping_add(1 << 30), 0, F::RST)).unwrap();
    h.none();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::Established);
    // Exactly RCV.NXT: reset.
    h.send(seg(p, 0, F::RST)).unwrap();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::Closed);
    assert_eq!(
        h.iface.socket(c).unwrap().close_reason(),
        Some(tcp_lite::CloseReason::Reset)
    );
}

#[test]
fn rfc5961_syn_in_established_gets_challenge_ack() {
    let mut h = H::new(|_| {});
    let (c, iss1, p) = established(&mut h, false);
    h.send(seg(p + 10, 0, F::SYN)).unwrap();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::Established);
    let ca = h.one();
    assert_eq!((ca.flags, ca.seq, ca.ack), (F::ACK, iss1, p));
}

#[test]
fn rfc5961_blind_data_injection_with_bad_ack_is_refused() {
    let mut h = H::new(|_| {});
    let (c, iss1, p) = established(&mut h, false);
    // In-window data whose ACK lies far below SND.UNA − window: challenge ACK, data dropped.
    let mut d = seg(p, iss1.wrapping_sub(1 << 30), F::ACK);
    d.payload = b"evil".to_vec();
    h.send(d).unwrap();
    assert_eq!(h.iface.socket(c).unwrap().recv_queue(), 0);
    let ca = h.one();
    assert_eq!((ca.seq, ca.ack), (iss1, p));
    // ACK of data never sent: an ACK in reply, data dropped.
    let mut d = seg(p, iss1 + 5000, F::ACK);
    d.payload = b"evil".to_vec();
    h.send(d).unwrap();
    assert_eq!(h.iface.socket(c).unwrap().recv_queue(), 0);
    assert_eq!(h.one().ack, p);
}

#[test]
fn rfc5961_challenge_acks_are_rate_limited() {
    let mut h = H::new(|c| c.tcp.challenge_acks_per_sec = 3);
    let (_c, _, p) = established(&mut h, false);
    for i in 0..10 {
        h.send(seg(p + 1 + i, 0, F::RST)).unwrap();
    }
    assert_eq!(
        h.out().len(),
        1,
        "challenge ACKs coalesce into the pending ACK"
    );
    let mut n = 0;
    for i in 0..10 {
        h.send(seg(p + 1 + i, 0, F::RST)).unwrap();
        n += h.out().len();
    }
    assert_eq!(n, 0, "3 per second in all, all used by the first burst");
    h.advance(1000);
    h.send(seg(p + 1, 0, F::RST)).unwrap();
    assert_eq!(h.out().len(), 1, "the budget refills after a second");
}

#[test]
fn out_of_order_data_is_acked_at_once_with_sack() {
    let mut h = H::new(|_| {});
    let (c, iss1, p) = established(&mut h, true);
    let mut d = seg(p + 100, iss1, F::ACK);
    d.payload = vec![1; 50];
    h.send(d).unwrap();
    let a = h.one();
    assert_eq!(a.ack, p, "duplicate ACK");
    assert_eq!(a.sack, vec![(p + 100, p + 150)]);
    // Fill the hole: everything becomes readable and the ACK covers both.
    let mut d = seg(p, iss1, F::ACK);
    d.payload = vec![2; 100];
    h.send(d).unwrap();
    let a = h.one();
    assert_eq!(a.ack, p + 150, "gap filled: ACK at once");
    assert!(a.sack.is_empty());
    assert_eq!(h.iface.socket(c).unwrap().recv_queue(), 150);
}

#[test]
fn delayed_ack_every_second_segment_or_after_the_timer() {
    let mut h = H::new(|c| c.tcp.ack_delay_ms = 40);
    let (_c, iss1, p) = established(&mut h, false);
    let data = |s| {
        let mut d = seg(s, iss1, F::ACK);
        d.payload = vec![0; 100];
        d
    };
    h.send(data(p)).unwrap();
    h.none();
    h.send(data(p + 100)).unwrap();
    assert_eq!(h.one().ack, p + 200, "second segment: ACK at once");
    h.send(data(p + 200)).unwrap();
    h.none();
    h.advance(39);
    h.none();
    h.advance(1);
    assert_eq!(h.one().ack, p + 300, "ACK when the delay expires");
}

#[test]
fn quick_acks_after_a_resent_segment_then_delayed_again() {
    // A segment that holds only data already received (the peer's timer resent it: our
    // ACK was lost or late) is acknowledged at once, and so are the next 16 in-order
    // segments; then every second one again.
    let mut h = H::new(|c| c.tcp.ack_delay_ms = 40);
    let (_c, iss1, p) = established(&mut h, true);
    let data = |s| {
        let mut d = seg(s, iss1, F::ACK);
        d.payload = vec![0; 100];
        d
    };
    h.send(data(p)).unwrap();
    h.none(); // delayed ACK
    h.send(data(p)).unwrap();
    assert_eq!(h.one().ack, p + 100, "resent data: ACK at once");
    let mut s = p + 100;
    for k in 0..16 {
        h.send(data(s)).unwrap();
        s += 100;
        assert_eq!(h.one().ack, s, "quick ACK {k}");
    }
    h.send(data(s)).unwrap();
    h.none();
    h.send(data(s + 100)).unwrap();
    assert_eq!(h.one().ack, s + 200, "every second segment again");
}

#[test]
fn closed_port_gets_rst() {
    let mut h = H::new(|_| {});
    h.send(seg(5, 0, F::SYN)).unwrap();
    let r = h.one();
    assert_eq!((r.flags, r.seq, r.ack), (F::RST | F::ACK, 0, 6));
    h.send(seg(5, 77, F::ACK)).unwrap();
    let r = h.one();
    assert_eq!((r.flags, r.seq), (F::RST, 77));
    // A RST never draws a RST.
    h.send(seg(5, 77, F::RST)).unwrap();
    h.none();
}

#[test]
fn listen_backlog_bounds_the_syn_queue() {
    let mut h = H::new(|_| {});
    h.iface.listen(80, 1).unwrap();
    h.send(seg(PISS, 0, F::SYN)).unwrap();
    assert_eq!(h.out().len(), 1);
    let mut s2 = seg(PISS, 0, F::SYN);
    s2.flags = F::SYN;
    // A second SYN from another port: the queue is full.
    let mut f = [0u8; 200];
    let r = TcpRepr {
        src_port: PPORT + 1,
        dst_port: 80,
        seq: 9,
        flags: F::SYN,
        window: 100,
        ..Default::default()
    };
    let n = wire::tcp_frame(
        &mut f,
        EthHdr {
            dst: MAC_US,
            src: MAC_PEER,
            ethertype: 0x0800,
        },
        PEER,
        US,
        &r,
    )
    .unwrap();
    h.iface.receive(h.t(), &f[..n]).unwrap();
    h.none();
    assert_eq!(h.iface.stats().syn_dropped, 1);
}

#[test]
fn retransmission_timeout_backs_off() {
    let mut h = H::new(|c| {
        c.tcp.min_rto_ms = 200;
        c.tcp.ack_delay_ms = 40;
    });
    let (c, iss1, _p) = established(&mut h, false);
    assert_eq!(
        h.iface.socket(c).unwrap().srtt_ms(),
        Some(0),
        "the handshake gave an RTT sample"
    );
    h.iface.socket(c).unwrap().send_slice(b"abc");
    assert_eq!(h.one().seq, iss1);
    let rto = u64::from(h.iface.socket(c).unwrap().rto_ms());
    assert_eq!(rto, 200);
    // RFC 8985 tail-loss probe: PTO = 2·SRTT (at least 2 ms) + the delayed-ACK allowance for
    // a single segment in flight; no back-off.
    h.advance(41);
    h.none();
    h.advance(1);
    let r = h.one();
    assert_eq!(
        (r.seq, r.payload.as_slice()),
        (iss1, &b"abc"[..]),
        "tail-loss probe"
    );
    assert_eq!(
        u64::from(h.iface.socket(c).unwrap().rto_ms()),
        rto,
        "a probe does not back off"
    );
    // Then the RTO.
    h.advance(rto - 1);
    h.none();
    h.advance(1);
    let r = h.one();
    assert_eq!(
        (r.seq, r.payload.as_slice()),
        (iss1, &b"abc"[..]),
        "retransmitted"
    );
    assert_eq!(
        u64::from(h.iface.socket(c).unwrap().rto_ms()),
        rto * 2,
        "RFC 6298 §5.5 back-off"
    );
    assert_eq!(
        h.iface.socket(c).unwrap().cwnd(),
        1000,
        "loss window: one segment (RFC 5681 §3.1)"
    );
    h.advance(rto * 2);
    assert_eq!(h.one().seq, iss1);
    assert_eq!(u64::from(h.iface.socket(c).unwrap().rto_ms()), rto * 4);
}

#[test]
fn fast_retransmit_and_newreno_partial_ack() {
    let mut h = H::new(|_| {});
    let (c, iss1, p) = established(&mut h, true);
    // Open the window wide, then queue eight segments' worth.
    h.send(seg(p, iss1, F::ACK)).unwrap();
    let data = vec![9u8; 8000];
    h.iface.socket(c).unwrap().send_slice(&data);
    let first = h.out();
    assert!(
        first.len() >= 4,
        "initial window sends several segments: {}",
        first.len()
    );
    let mss = first[0].payload.len() as u32;
    assert_eq!(mss, 1000);
    assert_eq!(
        first.last().map(|s| s.seq + s.payload.len() as u32),
        Some(iss1 + 4 * mss)
    );
    // Segments 0 and 2 are lost: duplicate ACKs carry SACK blocks for 1 and 3.
    let dup = |h: &mut H<'_>, blocks: Vec<(u32, u32)>| {
        let mut a = seg(p, iss1, F::ACK);
        a.sack = blocks;
        h.send(a).unwrap();
        h.out()
    };
    let s1 = (iss1 + mss, iss1 + 2 * mss);
    let s3 = (iss1 + 3 * mss, iss1 + 4 * mss);
    // RFC 3042 limited transmit: each of the first two duplicate ACKs sends one new segment.
    let lt1 = dup(&mut h, vec![s1]);
    assert_eq!(
        lt1.iter().map(|s| s.seq - iss1).collect::<Vec<_>>(),
        vec![4 * mss]
    );
    let lt2 = dup(&mut h, vec![s3, s1]);
    assert_eq!(
        lt2.iter().map(|s| s.seq - iss1).collect::<Vec<_>>(),
        vec![5 * mss]
    );
    let out = dup(&mut h, vec![s3, s1]);
    assert_eq!(
        out.first().map(|s| (s.seq, s.payload.len())),
        Some((iss1, mss as usize)),
        "fast retransmit"
    );
    // Partial ACK (RFC 6582 §3.2 step 4): up to segment 2, which is retransmitted at once,
    // skipping SACKed segment 3.
    let mut a = seg(p, iss1 + 2 * mss, F::ACK);
    a.sack = vec![s3];
    h.send(a).unwrap();
    let out = h.out();
    assert_eq!(
        out.first().map(|s| (s.seq - iss1, s.payload.len())),
        Some((2 * mss, mss as usize)),
        "partial ACK retransmits the next hole at once: {:?}",
        out.iter()
            .map(|s| (s.seq - iss1, s.payload.len()))
            .collect::<Vec<_>>()
    );
    assert!(
        out.iter().all(|s| s.seq != iss1 + 3 * mss),
        "SACKed data is not resent"
    );
}

#[test]
fn simultaneous_open() {
    let mut h = H::new(|_| {});
    h.port = 5000;
    let c = h.iface.connect(h.t(), (PEER, PPORT), 5000).unwrap();
    let syn = h.one();
    assert_eq!(syn.flags, F::SYN);
    assert!(syn.ts.is_some() && syn.sack_permitted && syn.wscale.is_some());
    // Our SYN crosses the peer's.
    h.send(seg(PISS, 0, F::SYN)).unwrap();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::SynReceived);
    let sa = h.one();
    assert_eq!(
        (sa.flags, sa.seq, sa.ack),
        (F::SYN | F::ACK, syn.seq, PISS + 1)
    );
    h.send(seg(PISS + 1, syn.seq + 1, F::ACK | F::SYN))
        .unwrap_or(());
    // A SYN-ACK in SYN-RECEIVED is a SYN in a synchronised state: challenge ACK.
    h.out();
    h.send(seg(PISS + 1, syn.seq + 1, F::ACK)).unwrap();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::Established);
}

#[test]
fn active_close_through_time_wait() {
    let mut h = H::new(|c| c.tcp.msl_ms = 1000);
    let (c, iss1, p) = established(&mut h, false);
    h.iface.socket(c).unwrap().close();
    let fin = h.one();
    assert_eq!((fin.flags, fin.seq), (F::FIN | F::ACK, iss1));
    assert_eq!(h.iface.socket(c).unwrap().state(), State::FinWait1);
    h.send(seg(p, iss1 + 1, F::ACK)).unwrap();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::FinWait2);
    h.send(seg(p, iss1 + 1, F::ACK | F::FIN)).unwrap();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::TimeWait);
    assert_eq!(h.one().ack, p + 1);
    h.advance(1999);
    h.none();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::TimeWait);
    h.advance(1);
    h.none();
    assert_eq!(
        h.iface.socket(c).unwrap().state(),
        State::Closed,
        "closed after 2·MSL"
    );
}

#[test]
fn passive_close_and_simultaneous_close() {
    let mut h = H::new(|_| {});
    let (c, iss1, p) = established(&mut h, false);
    h.send(seg(p, iss1, F::ACK | F::FIN)).unwrap();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::CloseWait);
    assert!(h.iface.socket(c).unwrap().recv_finished());
    assert_eq!(h.one().ack, p + 1);
    h.iface.socket(c).unwrap().close();
    let fin = h.one();
    assert!(fin.flags & F::FIN != 0);
    assert_eq!(h.iface.socket(c).unwrap().state(), State::LastAck);
    h.send(seg(p + 1, iss1 + 1, F::ACK)).unwrap();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::Closed);

    let mut h = H::new(|_| {});
    let (c, iss1, p) = established(&mut h, false);
    h.iface.socket(c).unwrap().close();
    assert!(h.one().flags & F::FIN != 0);
    // The peer's FIN crosses ours: CLOSING, then TIME-WAIT on the ACK of our FIN.
    h.send(seg(p, iss1, F::ACK | F::FIN)).unwrap();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::Closing);
    h.send(seg(p + 1, iss1 + 1, F::ACK)).unwrap();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::TimeWait);
}

#[test]
fn zero_window_probe() {
    let mut h = H::new(|c| c.tcp.min_rto_ms = 200);
    let (c, iss1, p) = established(&mut h, false);
    let mut a = seg(p, iss1, F::ACK);
    a.window = 0;
    h.send(a).unwrap();
    h.iface.socket(c).unwrap().send_slice(b"xyz");
    h.none();
    let rto = u64::from(h.iface.socket(c).unwrap().rto_ms());
    h.advance(rto);
    let probe = h.one();
    assert_eq!(
        (probe.seq, probe.payload.len()),
        (iss1, 1),
        "one byte past a zero window"
    );
    let mut a = seg(p, iss1 + 1, F::ACK);
    a.window = 100;
    h.send(a).unwrap();
    let o = h.out();
    assert!(
        o.iter().map(|s| s.payload.len()).sum::<usize>() >= 2,
        "rest sent once the window opens: {o:#?}"
    );
}

#[test]
fn paws_drops_old_timestamps() {
    let mut h = H::new(|_| {});
    let l = h.iface.listen(80, 1).unwrap();
    let mut syn = seg(PISS, 0, F::SYN);
    syn.ts = Some((1000, 0));
    h.send(syn).unwrap();
    let sa = h.one();
    let mut a = seg(PISS + 1, sa.seq + 1, F::ACK);
    a.ts = Some((1001, sa.ts.unwrap().0));
    h.send(a).unwrap();
    let c = h.iface.accept(l).unwrap();
    let mut d = seg(PISS + 1, sa.seq + 1, F::ACK);
    d.ts = Some((900, 0));
    d.payload = b"old".to_vec();
    h.send(d).unwrap();
    assert_eq!(
        h.iface.socket(c).unwrap().recv_queue(),
        0,
        "PAWS rejects an older TSval"
    );
    assert_eq!(h.one().ts.map(|t| t.1), Some(1001));
}

#[test]
fn isn_depends_on_tuple_and_clock() {
    let mut h = H::new(|_| {});
    h.port = 5000;
    h.iface.connect(h.t(), (PEER, PPORT), 5000).unwrap();
    let a = h.one().seq;
    h.port = 5001;
    h.iface.connect(h.t(), (PEER, PPORT), 5001).unwrap();
    let b = h.one().seq;
    assert_ne!(a, b, "keyed hash of the 4-tuple");
    let mut h2 = H::new(|_| {});
    h2.now += 1;
    h2.port = 5000;
    h2.iface.connect(h2.t(), (PEER, PPORT), 5000).unwrap();
    assert_eq!(
        h2.one().seq.wrapping_sub(a),
        250,
        "M advances every 4 µs (1 ms = 250)"
    );
}

#[test]
fn icmp_echo_is_answered() {
    let mut h = H::new(|_| {});
    let mut f = [0u8; 14 + 20 + 16];
    EthHdr {
        dst: MAC_US,
        src: MAC_PEER,
        ethertype: 0x0800,
    }
    .emit(&mut f)
    .unwrap();
    wire::Ipv4Repr {
        src: PEER,
        dst: US,
        proto: 1,
        ttl: 64,
        payload_len: 16,
    }
    .emit(&mut f[14..], 1, true)
    .unwrap();
    let icmp = &mut f[34..];
    icmp[0] = 8;
    icmp[4..8].copy_from_slice(&[0, 1, 0, 2]);
    icmp[8..].copy_from_slice(b"pingpong");
    let c = wire::fold(wire::sum(0, icmp));
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    h.iface.receive(h.t(), &f).unwrap();
    let mut o = [0u8; 1600];
    let n = h.iface.transmit(h.t(), &mut o).unwrap();
    assert_eq!(n, f.len());
    let (ip, hl) = wire::Ipv4Repr::parse(&o[14..n], true).unwrap();
    assert_eq!((ip.src, ip.dst, ip.proto), (US, PEER, 1));
    let r = &o[14 + hl..n];
    assert_eq!(r[0], 0, "echo reply");
    assert_eq!(&r[8..], b"pingpong");
    assert_eq!(wire::fold(wire::sum(0, r)), 0, "valid checksum");
}

#[test]
fn bad_frames_are_refused() {
    let mut h = H::new(|_| {});
    h.iface.listen(80, 1).unwrap();
    let mut f = [0u8; 1600];
    let r = TcpRepr {
        src_port: PPORT,
        dst_port: 80,
        seq: 1,
        flags: F::SYN,
        window: 100,
        ..Default::default()
    };
    let n = wire::tcp_frame(
        &mut f,
        EthHdr {
            dst: MAC_US,
            src: MAC_PEER,
            ethertype: 0x0800,
        },
        PEER,
        US,
        &r,
    )
    .unwrap();
    let mut bad = f;
    bad[14 + 20 + 4] ^= 1; // TCP checksum
    assert_eq!(h.iface.receive(h.t(), &bad[..n]), Err(Error::Malformed));
    let mut bad = f;
    bad[14 + 10] ^= 1; // IP checksum
    assert_eq!(h.iface.receive(h.t(), &bad[..n]), Err(Error::Checksum));
    let mut bad = f;
    bad[14 + 6] = 0x20; // MF: a fragment
    assert!(h.iface.receive(h.t(), &bad[..n]).is_err());
    let mut bad = f;
    bad[14] = 0x46; // IHL beyond the header actually present is inconsistent
    assert!(h.iface.receive(h.t(), &bad[..n]).is_err());
    assert_eq!(h.iface.receive(h.t(), &f[..20]), Err(Error::Malformed));
    h.none();
}

#[test]
fn keepalive_probes_then_gives_up() {
    let mut h = H::new(|c| {
        c.tcp.keepalive_ms = 10_000;
        c.tcp.max_retries = 3;
    });
    let (c, iss1, p) = established(&mut h, false);
    h.iface.socket(c).unwrap().set_keepalive(true);
    h.send(seg(p, iss1, F::ACK)).unwrap();
    h.none();
    h.advance(9_999);
    h.none();
    h.advance(1);
    let k = h.one();
    assert_eq!(
        (k.seq, k.ack, k.payload.len()),
        (iss1 - 1, p, 0),
        "SEG.SEQ = SND.NXT - 1"
    );
    // The peer answers: the idle period starts again.
    h.send(seg(p, iss1, F::ACK)).unwrap();
    h.advance(10_000);
    assert_eq!(h.one().seq, iss1 - 1);
    // No answer now: probes every 75 s, then the connection is dropped.
    for _ in 0..2 {
        h.advance(75_000);
        assert_eq!(h.one().seq, iss1 - 1);
    }
    h.advance(75_000);
    h.out();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::Closed);
    assert_eq!(
        h.iface.socket(c).unwrap().close_reason(),
        Some(tcp_lite::CloseReason::TimedOut)
    );
}

#[test]
fn window_scaling_both_ways() {
    let mut h = H::with_rx(256 * 1024, |_| {});
    let l = h.iface.listen(80, 1).unwrap();
    let mut syn = seg(PISS, 0, F::SYN);
    syn.wscale = Some(7);
    syn.mss = Some(1000);
    syn.window = 100;
    h.send(syn).unwrap();
    let sa = h.one();
    // RFC 7323 §2.3: the smallest shift that covers 256 KiB in 16 bits is 3.
    assert_eq!(sa.wscale, Some(3));
    assert_eq!(sa.window, 0xffff, "the SYN-ACK's window is never scaled");
    // The peer's window 100 << 7 = 12 800 bytes: the initial window (4 segments) fits.
    h.send(seg(PISS + 1, sa.seq + 1, F::ACK)).unwrap();
    let c = h.iface.accept(l).unwrap();
    h.iface.socket(c).unwrap().set_nagle(false);
    h.iface.socket(c).unwrap().send_slice(&[1u8; 8000]);
    let out = h.out();
    assert_eq!(
        out.iter().map(|s| s.payload.len()).sum::<usize>(),
        4000,
        "cwnd-limited, not window-limited"
    );
    assert_eq!(
        out[0].window,
        (256 * 1024 / 8) as u16,
        "the window scaled by 2^3"
    );
    // A window of 10 << 7 = 1280 bytes from the next ACK limits what follows: one full
    // segment; the 280-byte rest waits (sender SWS avoidance, RFC 9293 §3.8.6.2.1).
    let mut a = seg(PISS + 1, sa.seq + 1 + 4000, F::ACK);
    a.window = 10;
    h.send(a).unwrap();
    let out = h.out();
    assert_eq!(
        out.iter().map(|s| s.payload.len()).collect::<Vec<_>>(),
        vec![1000]
    );
}

#[test]
fn arp_resolution_queue_is_bounded() {
    let mut h = H::new(|_| {});
    // Five destinations nobody has resolved: at most four requests are pending at once.
    for k in 0..5u8 {
        h.iface
            .connect(h.t(), ([10, 0, 0, 10 + k], 80), 6000)
            .unwrap();
    }
    let mut f = [0u8; 1600];
    let mut asked = Vec::new();
    while let Some(n) = h.iface.transmit(h.t(), &mut f) {
        let a = wire::ArpRepr::parse(&f[14..n]).expect("only ARP requests before resolution");
        assert_eq!((a.op, &f[..6]), (1, &[0xff; 6][..]));
        asked.push(a.tpa);
    }
    assert_eq!(asked.len(), 4, "{asked:?}");
    // Retried once a second, three times, then dropped to make room for the fifth.
    let mut rounds = 0;
    for _ in 0..5 {
        h.advance(1000);
        while h.iface.transmit(h.t(), &mut f).is_some() {
            rounds += 1;
        }
    }
    assert!(rounds >= 8, "retries and the fifth destination: {rounds}");
}

#[test]
fn retransmitted_syn_gets_the_syn_ack_again() {
    let mut h = H::new(|_| {});
    h.iface.listen(80, 1).unwrap();
    h.send(seg(PISS, 0, F::SYN)).unwrap();
    let first = h.one();
    h.advance(300);
    h.send(seg(PISS, 0, F::SYN)).unwrap();
    let again = h.one();
    assert_eq!(
        (again.flags, again.seq, again.ack),
        (F::SYN | F::ACK, first.seq, PISS + 1)
    );
    assert_eq!(
        h.iface.stats().syn_dropped,
        0,
        "the same connection, not a second one"
    );
}

#[test]
fn time_wait_acks_a_retransmitted_fin_and_restarts() {
    let mut h = H::new(|c| c.tcp.msl_ms = 1000);
    let (c, iss1, p) = established(&mut h, false);
    h.iface.socket(c).unwrap().close();
    h.out();
    h.send(seg(p, iss1 + 1, F::ACK | F::FIN)).unwrap();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::TimeWait);
    assert_eq!(h.one().ack, p + 1);
    h.advance(1500);
    h.send(seg(p, iss1 + 1, F::ACK | F::FIN)).unwrap();
    assert_eq!(h.one().ack, p + 1, "the lost ACK is sent again");
    h.advance(1999);
    h.none();
    assert_eq!(
        h.iface.socket(c).unwrap().state(),
        State::TimeWait,
        "2·MSL counted from the retransmitted FIN"
    );
    h.advance(1);
    h.none();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::Closed);
}

#[test]
fn active_open() {
    let mut h = H::new(|_| {});
    h.port = 5000;
    let c = h.iface.connect(h.t(), (PEER, PPORT), 5000).unwrap();
    let syn = h.one();
    assert_eq!((syn.flags, syn.ack, syn.mss), (F::SYN, 0, Some(1460)));
    assert_eq!(h.iface.socket(c).unwrap().state(), State::SynSent);
    let mut sa = seg(PISS, syn.seq + 1, F::SYN | F::ACK);
    sa.mss = Some(1200);
    h.send(sa).unwrap();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::Established);
    let a = h.one();
    assert_eq!((a.flags, a.seq, a.ack), (F::ACK, syn.seq + 1, PISS + 1));
    assert_eq!(a.ts, None, "the SYN-ACK had no timestamps: none are sent");
    assert!(a.sack.is_empty());
}

#[test]
fn syn_sent_checks_the_ack_and_rst() {
    let mut h = H::new(|_| {});
    h.port = 5000;
    let c = h.iface.connect(h.t(), (PEER, PPORT), 5000).unwrap();
    let syn = h.one();
    // An ACK that does not cover our SYN: RST with SEQ = SEG.ACK, state unchanged.
    h.send(seg(PISS, syn.seq + 7, F::SYN | F::ACK)).unwrap();
    let r = h.one();
    assert_eq!((r.flags, r.seq), (F::RST, syn.seq + 7));
    assert_eq!(h.iface.socket(c).unwrap().state(), State::SynSent);
    // A RST without an acceptable ACK is ignored (RFC 9293 §3.10.7.3, RFC 5961 §3.2).
    h.send(seg(0, syn.seq + 7, F::RST | F::ACK)).unwrap();
    h.none();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::SynSent);
    // With an acceptable ACK: connection refused.
    h.send(seg(0, syn.seq + 1, F::RST | F::ACK)).unwrap();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::Closed);
    assert_eq!(
        h.iface.socket(c).unwrap().close_reason(),
        Some(tcp_lite::CloseReason::Reset)
    );
}

#[test]
fn checksum_offload_skips_compute_and_verify() {
    let mut h = H::new(|c| c.offload = tcp_lite::ChecksumOffload { tx: true, rx: true });
    h.iface.listen(80, 1).unwrap();
    let mut f = [0u8; 200];
    let r = TcpRepr {
        src_port: PPORT,
        dst_port: 80,
        seq: 1,
        flags: F::SYN,
        window: 100,
        ..Default::default()
    };
    let n = wire::tcp_frame(
        &mut f,
        EthHdr {
            dst: MAC_US,
            src: MAC_PEER,
            ethertype: 0x0800,
        },
        PEER,
        US,
        &r,
    )
    .unwrap();
    // Wrong TCP and IP checksums: the device vouched for the frame, so it is taken.
    f[14 + 20 + 16] ^= 0xff;
    f[14 + 10] ^= 0xff;
    h.iface.receive(h.t(), &f[..n]).unwrap();
    let mut o = [0u8; 1600];
    let n = h.iface.transmit(h.t(), &mut o).unwrap();
    assert_eq!(
        &o[14 + 10..14 + 12],
        &[0, 0],
        "IP checksum left to the device"
    );
    assert_eq!(
        &o[34 + 16..34 + 18],
        &[0, 0],
        "TCP checksum left to the device"
    );
    let t = TcpRepr::parse(&o[34..n], None).unwrap();
    assert_eq!(t.flags, F::SYN | F::ACK);
}

#[test]
fn data_queued_before_a_simultaneous_open_completes_is_sent_whole() {
    let mut h = H::new(|_| {});
    h.port = 5000;
    let c = h.iface.connect(h.t(), (PEER, PPORT), 5000).unwrap();
    let syn = h.one();
    assert_eq!(
        h.iface.socket(c).unwrap().send_slice(b"hello"),
        5,
        "SYN-SENT takes data to send later"
    );
    h.send(seg(PISS, 0, F::SYN)).unwrap();
    let sa = h.one();
    assert_eq!(sa.flags, F::SYN | F::ACK);
    assert!(
        sa.payload.is_empty(),
        "no data before the handshake completes"
    );
    h.iface.socket(c).unwrap().close();
    assert_eq!(
        h.iface.socket(c).unwrap().state(),
        State::SynReceived,
        "the FIN waits for the handshake"
    );
    h.send(seg(PISS + 1, syn.seq + 1, F::ACK)).unwrap();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::FinWait1);
    let d = h.one();
    assert_eq!(
        (d.seq, d.payload.as_slice()),
        (syn.seq + 1, &b"hello"[..]),
        "not one byte lost to the SYN"
    );
    assert!(d.flags & F::FIN != 0, "the FIN follows the data");
    h.send(seg(PISS + 1, syn.seq + 7, F::ACK)).unwrap();
    assert_eq!(h.iface.socket(c).unwrap().state(), State::FinWait2);
    assert_eq!(h.iface.socket(c).unwrap().send_queue(), 0);
}

#[test]
fn karn_no_rtt_sample_from_a_retransmitted_segment() {
    let mut h = H::new(|c| {
        c.tcp.min_rto_ms = 200;
        c.tcp.ack_delay_ms = 500; // keeps the tail-loss probe out of the way
    });
    let (c, iss1, p) = established(&mut h, false);
    assert_eq!(h.iface.socket(c).unwrap().srtt_ms(), Some(0));
    h.iface.socket(c).unwrap().send_slice(b"abc");
    assert_eq!(h.one().seq, iss1);
    h.advance(200);
    assert_eq!(h.one().seq, iss1, "RTO retransmission");
    // The ACK comes 150 ms after the retransmission (350 ms after the first send): which
    // transmission it answers is unknown, so it must not be sampled (RFC 6298 §3).
    h.advance(150);
    h.send(seg(p, iss1 + 3, F::ACK)).unwrap();
    assert_eq!(
        h.iface.socket(c).unwrap().srtt_ms(),
        Some(0),
        "no sample from an ambiguous ACK"
    );
    // A fresh segment, acknowledged 30 ms later, is sampled.
    h.iface.socket(c).unwrap().send_slice(b"def");
    assert_eq!(h.one().seq, iss1 + 3);
    h.advance(30);
    h.send(seg(p, iss1 + 6, F::ACK)).unwrap();
    // SRTT ← 7/8·0 + 1/8·30 = 3.75 ms.
    assert_eq!(h.iface.socket(c).unwrap().srtt_ms(), Some(3));
}

#[test]
fn nagle_holds_small_segments_while_data_is_unacknowledged() {
    let mut h = H::new(|_| {});
    let (c, iss1, p) = established(&mut h, false);
    h.iface.socket(c).unwrap().send_slice(b"a");
    assert_eq!(h.one().payload, b"a", "nothing outstanding: sent at once");
    h.iface.socket(c).unwrap().send_slice(b"b");
    h.none();
    h.iface.socket(c).unwrap().send_slice(b"c");
    h.none();
    h.send(seg(p, iss1 + 1, F::ACK)).unwrap();
    assert_eq!(h.one().payload, b"bc", "coalesced once the ACK came");
    // Switched off: every write goes out.
    h.iface.socket(c).unwrap().set_nagle(false);
    h.iface.socket(c).unwrap().send_slice(b"d");
    assert_eq!(h.one().payload, b"d");
    h.iface.socket(c).unwrap().send_slice(b"e");
    assert_eq!(h.one().payload, b"e");
}

#[test]
fn connection_table_survives_churn() {
    // Connections opened and released through a 16-entry table: tombstones must neither hide
    // live entries nor fill the table.
    let mut h = H::new(|_| {});
    let l = h.iface.listen(80, 4).unwrap();
    let mut f = [0u8; 200];
    let mut o = [0u8; 1600];
    let mut frame = |h: &mut H<'_>, port: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]| {
        let r = TcpRepr {
            src_port: port,
            dst_port: 80,
            seq,
            ack,
            flags,
            window: 1000,
            payload,
            ..Default::default()
        };
        let n = wire::tcp_frame(
            &mut f,
            EthHdr {
                dst: MAC_US,
                src: MAC_PEER,
                ethertype: 0x0800,
            },
            PEER,
            US,
            &r,
        )
        .unwrap();
        h.iface.receive(h.t(), &f[..n]).unwrap();
    };
    let mut open = |h: &mut H<'_>, port: u16| {
        frame(h, port, 1000, 0, F::SYN, &[]);
        let n = h.iface.transmit(h.t(), &mut o).expect("SYN-ACK");
        let (_, _, sa) = wire::parse_tcp_frame(&o[..n]).unwrap();
        assert_eq!((sa.flags, sa.dst_port), (F::SYN | F::ACK, port));
        let iss = sa.seq;
        frame(h, port, 1001, iss + 1, F::ACK, &[]);
        let c = h.iface.accept(l).expect("established");
        // Data reaches this very connection: the lookup works.
        frame(h, port, 1001, iss + 1, F::ACK, b"x");
        assert_eq!(h.iface.socket(c).unwrap().recv_queue(), 1, "port {port}");
        assert_eq!(h.iface.socket(c).unwrap().remote().1, port);
        (c, iss)
    };
    let (keep, keep_iss) = open(&mut h, 7000);
    for round in 0..40u16 {
        let (c, _) = open(&mut h, 8000 + round);
        h.iface.release(c);
        let mut rst = [0u8; 1600];
        let n = h
            .iface
            .transmit(h.t(), &mut rst)
            .expect("the RST of the release");
        let (_, _, t) = wire::parse_tcp_frame(&rst[..n]).unwrap();
        assert_eq!((t.flags & F::RST, t.dst_port), (F::RST, 8000 + round));
    }
    assert_eq!(h.iface.stats().syn_dropped, 0);
    // The long-lived connection is still found after 40 inserts and removals.
    let mut f2 = [0u8; 200];
    let r = TcpRepr {
        src_port: 7000,
        dst_port: 80,
        seq: 1002,
        ack: keep_iss + 1,
        flags: F::ACK,
        window: 1000,
        payload: b"y",
        ..Default::default()
    };
    let n = wire::tcp_frame(
        &mut f2,
        EthHdr {
            dst: MAC_US,
            src: MAC_PEER,
            ethertype: 0x0800,
        },
        PEER,
        US,
        &r,
    )
    .unwrap();
    h.iface.receive(h.t(), &f2[..n]).unwrap();
    assert_eq!(h.iface.socket(keep).unwrap().recv_queue(), 2);
}

#[test]
fn arp_entries_expire() {
    let mut h = H::new(|c| c.arp_ttl_ms = 5_000);
    let (c, _iss1, _p) = established(&mut h, false);
    h.advance(5_000);
    h.iface.socket(c).unwrap().send_slice(b"z");
    let mut f = [0u8; 1600];
    let n = h.iface.transmit(h.t(), &mut f).expect("a frame");
    let a = wire::ArpRepr::parse(&f[14..n]).expect("an ARP request first: the entry expired");
    assert_eq!((a.op, a.tpa), (1, PEER));
    // The harness answers it; then the data goes out.
    let mut r = [0u8; 42];
    EthHdr {
        dst: MAC_US,
        src: MAC_PEER,
        ethertype: wire::ETHERTYPE_ARP,
    }
    .emit(&mut r)
    .unwrap();
    wire::ArpRepr {
        op: 2,
        sha: MAC_PEER,
        spa: PEER,
        tha: MAC_US,
        tpa: US,
    }
    .emit(&mut r[14..])
    .unwrap();
    h.iface.receive(h.t(), &r).unwrap();
    assert_eq!(h.one().payload, b"z");
}

#[test]
fn lost_syn_gives_one_mss_initial_window_and_three_second_rto() {
    // Active open: the SYN is retransmitted, then the SYN-ACK arrives (no timestamps, so no
    // RTT sample: Karn's algorithm excludes the retransmitted SYN).
    let mut h = H::new(|_| {});
    h.port = 5000;
    let c = h.iface.connect(h.t(), (PEER, PPORT), 5000).unwrap();
    let syn = h.one();
    h.advance(1000);
    assert_eq!(h.one().seq, syn.seq, "SYN retransmitted");
    let mut sa = seg(PISS, syn.seq + 1, F::SYN | F::ACK);
    sa.mss = Some(1000);
    h.send(sa).unwrap();
    let s = h.iface.socket(c).unwrap();
    assert_eq!(s.state(), State::Established);
    assert_eq!(
        s.cwnd(),
        1000,
        "RFC 5681 §3.1: IW = 1 SMSS after a lost SYN"
    );
    assert_eq!(s.rto_ms(), 3000, "RFC 6298 §5.7: RTO re-initialised to 3 s");
    // Passive open: the SYN-ACK is retransmitted before the ACK arrives.
    let mut h = H::new(|_| {});
    let l = h.iface.listen(80, 1).unwrap();
    let mut syn = seg(PISS, 0, F::SYN);
    syn.mss = Some(1000);
    h.send(syn).unwrap();
    let sa = h.one();
    h.advance(1000);
    assert_eq!(h.one().seq, sa.seq, "SYN-ACK retransmitted");
    h.send(seg(PISS + 1, sa.seq + 1, F::ACK)).unwrap();
    let c = h.iface.accept(l).expect("established");
    let s = h.iface.socket(c).unwrap();
    assert_eq!(
        s.cwnd(),
        1000,
        "RFC 5681 §3.1: IW = 1 SMSS after a lost SYN-ACK"
    );
    assert_eq!(s.rto_ms(), 3000, "RFC 6298 §5.7");
    // Without a loss the initial window stays min(4·MSS, max(2·MSS, 4380)).
    let mut h = H::new(|_| {});
    let (c, _, _) = established(&mut h, false);
    assert_eq!(h.iface.socket(c).unwrap().cwnd(), 4000);
    assert_eq!(h.iface.socket(c).unwrap().rto_ms(), 1000);
}

#[test]
fn no_fast_retransmit_for_duplicate_acks_at_recover() {
    // RFC 6582 §3.2 step 2: after a timeout, recover = SND.MAX; duplicate ACKs that do not
    // cover more than recover must not start another fast retransmit.
    let mut h = H::new(|c| c.tcp.min_rto_ms = 200);
    let (c, iss1, p) = established(&mut h, false);
    h.iface.socket(c).unwrap().send_slice(&[1u8; 4000]);
    assert_eq!(h.out().len(), 4);
    h.advance(100);
    h.out(); // tail-loss probe
    h.advance(400);
    let r = h.out();
    assert_eq!(r.first().map(|s| s.seq), Some(iss1), "RTO retransmission");
    // The originals had arrived: everything up to recover is acknowledged.
    h.send(seg(p, iss1 + 4000, F::ACK)).unwrap();
    h.iface.socket(c).unwrap().send_slice(&[2u8; 4000]);
    let sent = h.out();
    assert_eq!(sent.first().map(|s| s.seq), Some(iss1 + 4000));
    let mut again = Vec::new();
    for _ in 0..4 {
        h.send(seg(p, iss1 + 4000, F::ACK)).unwrap();
        again.extend(h.out());
    }
    assert!(
        again.iter().all(|s| s.seq != iss1 + 4000),
        "no fast retransmit at ACK == recover: {again:?}"
    );
}

#[test]
fn sack_fast_retransmit_for_a_loss_right_at_recover() {
    // The same timeout as above, with SACK: the first segment after `recover` is lost and
    // the peer SACKs the later ones. Those blocks report data sent after `recover`, which
    // no retransmission of old data draws (RFC 6675 §2), and HighACK >= RecoveryPoint
    // (RFC 6675 §5.1): fast retransmit, not a wait for the probe or the RTO.
    let mut h = H::new(|c| c.tcp.min_rto_ms = 200);
    let (c, iss1, p) = established(&mut h, true);
    h.iface.socket(c).unwrap().send_slice(&[1u8; 4000]);
    assert_eq!(h.out().len(), 4);
    h.advance(100);
    h.out(); // tail-loss probe
    h.advance(400);
    let r = h.out();
    assert_eq!(r.first().map(|s| s.seq), Some(iss1), "RTO retransmission");
    // The originals had arrived: everything up to recover is acknowledged.
    h.send(seg(p, iss1 + 4000, F::ACK)).unwrap();
    h.iface.socket(c).unwrap().send_slice(&[2u8; 4000]);
    let sent = h.out();
    assert_eq!(sent.first().map(|s| s.seq), Some(iss1 + 4000));
    // The segment at recover is lost, the following ones arrive and are SACKed.
    let mut again = Vec::new();
    // Limited transmit sends the rest of the 4000 bytes meanwhile; three duplicate ACKs.
    for k in 1..=3 {
        let mut a = seg(p, iss1 + 4000, F::ACK);
        a.sack = vec![(iss1 + 5000, iss1 + 5000 + 1000 * k)];
        h.send(a).unwrap();
        again.extend(h.out());
    }
    assert!(
        again
            .iter()
            .any(|s| s.seq == iss1 + 4000 && !s.payload.is_empty()),
        "fast retransmit of the segment at recover: {again:?}"
    );
}

#[test]
fn ts_recent_is_the_timestamp_of_the_earliest_unacknowledged_segment() {
    // RFC 7323 §4.3: with a delayed ACK, the ACK echoes the TSval of the first segment it
    // covers, not the latest.
    let mut h = H::new(|c| c.tcp.ack_delay_ms = 40);
    let l = h.iface.listen(80, 1).unwrap();
    let mut syn = seg(PISS, 0, F::SYN);
    syn.ts = Some((1000, 0));
    h.send(syn).unwrap();
    let sa = h.one();
    let mut a = seg(PISS + 1, sa.seq + 1, F::ACK);
    a.ts = Some((1001, sa.ts.unwrap().0));
    h.send(a).unwrap();
    h.iface.accept(l).unwrap();
    let data = |s: u32, tsval: u32| {
        let mut d = seg(s, sa.seq + 1, F::ACK);
        d.ts = Some((tsval, 0));
        d.payload = vec![0; 100];
        d
    };
    h.send(data(PISS + 1, 2000)).unwrap();
    h.none();
    h.send(data(PISS + 101, 3000)).unwrap();
    let ack = h.one();
    assert_eq!(ack.ack, PISS + 201);
    assert_eq!(
        ack.ts.map(|t| t.1),
        Some(2000),
        "TSecr of the earliest segment"
    );
    // Once that ACK is sent, the next in-order segment updates TS.Recent again.
    h.send(data(PISS + 201, 4000)).unwrap();
    h.advance(40);
    assert_eq!(h.one().ts.map(|t| t.1), Some(4000));
}

#[test]
fn released_handles_do_not_reach_the_next_connection_in_the_slot() {
    let mut h = H::new(|_| {});
    let (c, _, _) = established(&mut h, false);
    h.iface.release(c);
    h.out(); // the RST
    // The next connection takes the same slot.
    h.port = 5000;
    let d = h.iface.connect(h.t(), (PEER, PPORT), 5000).unwrap();
    h.out();
    assert_eq!(d.index(), c.index(), "the slot is reused");
    assert_ne!(d, c);
    assert!(h.iface.socket(c).is_none(), "stale handle");
    h.iface.abort(c);
    h.iface.release(c);
    h.none();
    assert_eq!(h.iface.socket(d).unwrap().state(), State::SynSent);
}

#[test]
fn releasing_a_listener_aborts_its_unaccepted_connections() {
    let mut h = H::new(|_| {});
    let l = h.iface.listen(80, 2).unwrap();
    h.send(seg(PISS, 0, F::SYN)).unwrap();
    let sa = h.one();
    h.send(seg(PISS + 1, sa.seq + 1, F::ACK)).unwrap();
    h.none();
    h.iface.release(l);
    let r = h.one();
    assert_eq!(r.flags & F::RST, F::RST, "the queued connection is reset");
    assert!(h.iface.accept(l).is_none());
    // A new listener in the same slot gets no stale child.
    let l2 = h.iface.listen(80, 2).unwrap();
    assert_eq!(l2.index(), l.index());
    assert!(h.iface.accept(l2).is_none());
    h.send(seg(PISS + 1, sa.seq + 1, F::ACK)).unwrap();
    assert!(h.iface.accept(l2).is_none(), "the old connection is gone");
}

#[test]
fn an_old_ack_does_not_update_the_send_window() {
    // RFC 9293 §3.10.7.4: the window is taken only from an ACK with SND.UNA =< SEG.ACK, even
    // if SND.WL1 < SEG.SEQ.
    let mut h = H::new(|_| {});
    let (c, iss1, p) = established(&mut h, false);
    h.iface.socket(c).unwrap().send_slice(&[1u8; 1000]);
    assert_eq!(h.one().seq, iss1);
    h.send(seg(p, iss1 + 1000, F::ACK)).unwrap();
    h.none();
    // An older ACK (delayed in the network) with a later SEG.SEQ and a zero window.
    let mut old = seg(p + 10, iss1 + 500, F::ACK);
    old.window = 0;
    h.send(old).unwrap();
    h.out();
    h.iface.socket(c).unwrap().send_slice(&[2u8; 100]);
    let sent = h.out();
    assert!(
        sent.iter()
            .any(|s| s.seq == iss1 + 1000 && s.payload.len() == 100),
        "the window is still open: {sent:?}"
    );
}

#[test]
fn listen_drops_a_segment_without_syn_ack_or_rst() {
    // RFC 9293 §3.10.7.2: a segment to a LISTEN port without SYN, ACK or RST is dropped.
    let mut h = H::new(|_| {});
    h.iface.listen(80, 1).unwrap();
    let mut d = seg(PISS, 0, F::FIN);
    d.payload = b"x".to_vec();
    h.send(d).unwrap();
    h.none();
    // An ACK still draws a RST.
    h.send(seg(PISS, 77, F::ACK)).unwrap();
    let r = h.one();
    assert_eq!((r.flags, r.seq), (F::RST, 77));
}

#[test]
fn very_long_timer_settings_are_cut_not_wrapped() {
    // A keepalive time past 2^31 ms would wrap the deadline into the past and fire at once.
    let mut h = H::new(|c| {
        c.tcp.keepalive_ms = u32::MAX;
        c.tcp.msl_ms = u32::MAX;
        c.arp_ttl_ms = u32::MAX;
    });
    assert_eq!(h.iface.config().tcp.keepalive_ms, 1 << 30);
    assert_eq!(h.iface.config().tcp.msl_ms, 1 << 29);
    assert_eq!(h.iface.config().arp_ttl_ms, 1 << 30);
    let (c, iss1, p) = established(&mut h, false);
    h.iface.socket(c).unwrap().set_keepalive(true);
    h.send(seg(p, iss1, F::ACK)).unwrap();
    h.advance(1000);
    h.none();
    h.advance((1 << 30) - 1000);
    assert_eq!(h.one().seq, iss1 - 1, "the keepalive comes after 2^30 ms");
}
