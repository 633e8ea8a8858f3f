//! Sequences of arbitrary segments (and application calls and clock steps)
//! into a tcp-lite connection driven first to one of its states: no panic,
//! and the sequence space stays consistent:
//! - every data byte the stack sends is the byte the application queued at
//!   that stream offset, and never beyond what was queued;
//! - the stack never acknowledges past the end of anything the peer sent;
//! - every byte the application reads is the byte the peer sent at that
//!   sequence number (whatever order segments arrived in);
//! - the queues stay within their buffers and every frame fits the MTU.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tcp_lite::wire::{self, EthHdr, TcpRepr, flags as F};
use tcp_lite::{ArpEntry, Config, Instant, Interface, SocketHandle, State, TcpSocket};

const US: [u8; 4] = [10, 0, 0, 1];
const PEER: [u8; 4] = [10, 0, 0, 2];
const MAC_US: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_PEER: [u8; 6] = [2, 0, 0, 0, 0, 2];
const PEER_PORT: u16 = 999;
const PORT: u16 = 80;
/// The peer's initial sequence number in the scripted handshakes.
const IRS: u32 = 0x7000_0000;
const BUF: usize = 2048;

/// The byte at sequence number `s` of either direction's stream.
fn pattern(s: u32) -> u8 {
    (s ^ (s >> 8) ^ (s >> 16)).wrapping_mul(0x9d) as u8
}

#[derive(Debug, Arbitrary)]
struct Seg {
    /// Sequence number: relative to the peer's next byte unless `raw`.
    seq: u16,
    /// Acknowledgment number: relative to the stack's ISS unless `raw`.
    ack: u16,
    raw: bool,
    flags: u8,
    window: u16,
    mss: Option<u16>,
    wscale: Option<u8>,
    sack_permitted: bool,
    timestamp: Option<(u32, u32)>,
    sack: Vec<(u16, u16)>,
    len: u16,
    /// Milliseconds to advance the clock before it arrives.
    delay: u16,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Seg(Seg),
    /// The application queues this many bytes.
    Send(u16),
    /// The application reads up to this many bytes.
    Recv(u16),
    Close,
    Abort,
    /// The clock moves on by this many milliseconds.
    Wait(u16),
    /// Raw bytes as a frame.
    Frame(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// Which state to drive the connection to first.
    start: u8,
    ops: Vec<Op>,
}

struct Harness<'a> {
    iface: Interface<'a>,
    listener: SocketHandle,
    conn: Option<SocketHandle>,
    /// The stack's ISS for the tracked connection, once seen.
    iss: Option<u32>,
    /// Bytes the application queued so far (stream offsets 0..sent).
    sent: u32,
    /// Bytes the application read so far.
    read: u32,
    /// Furthest sequence number (relative to IRS) the peer's segments reach.
    peer_end: u32,
    /// Whether reads are checked against the peer's stream from `IRS + 1`
    /// (not after an active open, whose peer ISN the input picks).
    check_reads: bool,
    /// The tracked connection has closed: only "no panic" is checked after.
    done: bool,
    now: u64,
}

impl<'a> Harness<'a> {
    fn new(
        sockets: &'a mut [TcpSocket<'a>],
        table: &'a mut [u16],
        arp: &'a mut [ArpEntry],
    ) -> Self {
        let mut iface = Interface::new(Config::new(MAC_US, US, 24, [3; 16]), sockets, table, arp);
        let listener = iface.listen(PORT, 2).expect("listen");
        Harness {
            iface,
            listener,
            conn: None,
            iss: None,
            sent: 0,
            read: 0,
            peer_end: 0,
            check_reads: true,
            done: false,
            now: 1,
        }
    }

    fn peer_segment(&mut self, r: &TcpRepr<'_>) {
        let mut f = [0u8; 1600];
        let n = wire::tcp_frame(
            &mut f,
            EthHdr {
                dst: MAC_US,
                src: MAC_PEER,
                ethertype: wire::ETHERTYPE_IPV4,
            },
            PEER,
            US,
            r,
        )
        .expect("segment fits");
        let rel = r.seq.wrapping_sub(IRS);
        if rel < 1 << 30 {
            self.peer_end = self.peer_end.max(rel + r.seg_len());
        }
        let res = self.iface.receive(Instant::from_millis(self.now), &f[..n]);
        assert!(res.is_ok(), "well-formed segment refused: {res:?}");
        self.drain();
    }

    /// Sends whatever the stack has to send and checks each frame.
    fn drain(&mut self) {
        let mut o = [0u8; 1600];
        let mut guard = 0;
        while let Some(n) = self.iface.transmit(Instant::from_millis(self.now), &mut o) {
            guard += 1;
            assert!(guard < 10_000, "transmit never runs dry");
            assert!(n <= 1514, "frame of {n} bytes");
            let Some((_, ip, t)) = wire::parse_tcp_frame(&o[..n]) else {
                continue;
            };
            assert_eq!(ip.dst, PEER);
            if self.done || t.src_port != PORT || t.dst_port != PEER_PORT {
                continue;
            }
            assert!(t.payload.len() <= 1460, "payload over the MSS");
            if t.has(F::SYN) {
                if self.iss.is_none() && !t.has(F::RST) {
                    self.iss = Some(t.seq);
                }
                continue;
            }
            if t.has(F::ACK) && !t.has(F::RST) && self.iss.is_some() {
                let rel = t.ack.wrapping_sub(IRS);
                assert!(
                    rel <= self.peer_end,
                    "acknowledged {rel} past the peer's furthest byte {}",
                    self.peer_end
                );
            }
            if let Some(iss) = self.iss {
                if !t.payload.is_empty() {
                    let off = t.seq.wrapping_sub(iss.wrapping_add(1));
                    assert!(
                        u64::from(off) + t.payload.len() as u64 <= u64::from(self.sent),
                        "sent bytes {off}+{} beyond the {} queued",
                        t.payload.len(),
                        self.sent
                    );
                    for (j, &b) in t.payload.iter().enumerate() {
                        assert_eq!(b, pattern(off + j as u32), "sent byte at offset {}", off + j as u32);
                    }
                }
            }
        }
    }

    /// Drives the connection to start state `k`.
    fn start(&mut self, k: u8) {
        let syn = |seq| TcpRepr {
            src_port: PEER_PORT,
            dst_port: PORT,
            seq,
            flags: F::SYN,
            window: 4000,
            mss: Some(1000),
            ..Default::default()
        };
        match k % 6 {
            // Listening, nothing else.
            0 => {}
            // SYN-SENT: an active open.
            5 => {
                self.check_reads = false;
                self.conn = Some(
                    self.iface
                        .connect(Instant::from_millis(self.now), (PEER, PEER_PORT), PORT)
                        .expect("connect"),
                );
                // The listener on the same port would take the peer's
                // segments only for other 4-tuples.
                self.drain();
            }
            k => {
                self.peer_segment(&syn(IRS));
                let Some(iss) = self.iss else { return };
                if k >= 2 {
                    self.peer_segment(&TcpRepr {
                        src_port: PEER_PORT,
                        dst_port: PORT,
                        seq: IRS + 1,
                        ack: iss.wrapping_add(1),
                        flags: F::ACK,
                        window: 4000,
                        ..Default::default()
                    });
                    self.conn = self.iface.accept(self.listener);
                }
                if k >= 3 {
                    self.send(100);
                }
                if k >= 4 {
                    // Peer closes: CLOSE-WAIT.
                    self.peer_segment(&TcpRepr {
                        src_port: PEER_PORT,
                        dst_port: PORT,
                        seq: IRS + 1,
                        ack: iss.wrapping_add(1),
                        flags: F::ACK | F::FIN,
                        window: 4000,
                        ..Default::default()
                    });
                }
            }
        }
    }

    fn send(&mut self, n: u16) {
        let Some(c) = self.conn else { return };
        let mut data = vec![0u8; usize::from(n)];
        for (j, b) in data.iter_mut().enumerate() {
            *b = pattern(self.sent + j as u32);
        }
        let took = self.iface.socket(c).send_slice(&data);
        assert!(took <= data.len());
        self.sent += took as u32;
        self.drain();
    }

    fn recv(&mut self, n: u16) {
        let Some(c) = self.conn else { return };
        let mut out = vec![0u8; usize::from(n)];
        let got = self.iface.socket(c).recv_slice(&mut out);
        assert!(got <= out.len());
        if !self.check_reads {
            return self.drain();
        }
        for (j, &b) in out[..got].iter().enumerate() {
            let s = IRS.wrapping_add(1).wrapping_add(self.read + j as u32);
            assert_eq!(b, pattern(s), "read byte at offset {}", self.read + j as u32);
        }
        self.read += got as u32;
        self.drain();
    }

    fn check_queues(&mut self) {
        if let Some(c) = self.conn {
            let s = self.iface.socket(c);
            assert!(s.send_queue() <= BUF, "send queue {}", s.send_queue());
            assert!(s.recv_queue() <= BUF, "receive queue {}", s.recv_queue());
            if s.state() == State::Closed {
                // The slot may be reused by another connection from here:
                // the checks end with this one.
                self.conn = None;
                self.done = true;
            }
        } else if self.iss.is_some() && !self.done {
            self.conn = self.iface.accept(self.listener);
        }
    }
}

fuzz_target!(|input: Input| {
    let mut mem = vec![0u8; 6 * BUF];
    let mut halves = mem.chunks_mut(BUF);
    let mut sockets: Vec<TcpSocket<'_>> = (0..3)
        .map(|_| TcpSocket::new(halves.next().unwrap(), halves.next().unwrap()))
        .collect();
    let mut table = [0u16; 8];
    let mut arp = [ArpEntry::default(); 2];
    let mut h = Harness::new(&mut sockets, &mut table, &mut arp);
    h.start(input.start);
    for op in input.ops.iter().take(48) {
        match op {
            Op::Seg(s) => {
                h.now += u64::from(s.delay);
                let iss = h.iss.unwrap_or(0);
                let flags = s.flags & 0x3f;
                let (seq, ack) = if s.raw {
                    (u32::from(s.seq) << 16 | u32::from(s.ack), u32::from(s.ack) << 16)
                } else {
                    (
                        IRS.wrapping_add(1).wrapping_add(u32::from(s.seq % 4096)),
                        iss.wrapping_add(u32::from(s.ack % 4096)),
                    )
                };
                let len = if flags & F::SYN != 0 && s.len > 64 { 0 } else { s.len % 1400 };
                // Data after a SYN starts one past its sequence number.
                let first = seq.wrapping_add(u32::from(flags & F::SYN != 0));
                let payload: Vec<u8> = (0..u32::from(len))
                    .map(|j| pattern(first.wrapping_add(j)))
                    .collect();
                let mut sack = [(0, 0); wire::MAX_SACK];
                for (d, &(l, r)) in sack.iter_mut().zip(&s.sack) {
                    *d = (iss.wrapping_add(u32::from(l)), iss.wrapping_add(u32::from(r)));
                }
                h.peer_segment(&TcpRepr {
                    src_port: PEER_PORT,
                    dst_port: PORT,
                    seq,
                    ack,
                    flags,
                    window: s.window,
                    mss: s.mss,
                    wscale: s.wscale,
                    sack_permitted: s.sack_permitted,
                    timestamp: s.timestamp,
                    sack,
                    sack_len: s.sack.len().min(wire::MAX_SACK) as u8,
                    payload: &payload,
                });
            }
            Op::Send(n) => h.send(n % 3000),
            Op::Recv(n) => h.recv(*n),
            Op::Close => {
                if let Some(c) = h.conn {
                    h.iface.socket(c).close();
                    h.drain();
                }
            }
            Op::Abort => {
                if let Some(c) = h.conn {
                    h.iface.abort(c);
                    h.drain();
                }
            }
            Op::Wait(ms) => {
                h.now += u64::from(*ms) * 16;
                h.drain();
            }
            Op::Frame(bytes) => {
                // A valid TCP segment here would bypass the peer's stream
                // bookkeeping: those go through `Op::Seg`.
                if wire::parse_tcp_frame(bytes).is_some() {
                    continue;
                }
                let _ = h.iface.receive(Instant::from_millis(h.now), bytes);
                h.drain();
            }
        }
        h.check_queues();
    }
});
