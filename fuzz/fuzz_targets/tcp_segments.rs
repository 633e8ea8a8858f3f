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
    /// How the numbers are chosen: 0-1 in order (sequence number at the
    /// peer's next byte, acknowledgment inside what the stack sent, ACK
    /// set), 2-3 a little out of order, 4 anywhere near the streams,
    /// 5 raw numbers and flags as given.
    mode: u8,
    /// Sequence number offset.
    seq: u16,
    /// Acknowledgment number offset.
    ack: u16,
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
    /// Bytes the peer sent in order (the next one is at `IRS + 1 + peer_sent`).
    peer_sent: u32,
    /// Furthest sequence number (relative to IRS) the peer's segments reach.
    peer_end: u32,
    /// Whether the peer's stream starts at `IRS + 1`, so that reads and
    /// acknowledgments can be checked against it (not after an active
    /// open, whose peer ISN the input picks).
    anchored: bool,
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
        // The peer announces itself first (an ARP request for our address),
        // so that the stack can address its replies without an ARP round.
        let mut f = [0u8; wire::ETH_LEN + wire::ARP_LEN];
        EthHdr {
            dst: [0xff; 6],
            src: MAC_PEER,
            ethertype: wire::ETHERTYPE_ARP,
        }
        .emit(&mut f)
        .expect("fits");
        wire::ArpRepr {
            op: 1,
            sha: MAC_PEER,
            spa: PEER,
            tha: [0; 6],
            tpa: US,
        }
        .emit(&mut f[wire::ETH_LEN..])
        .expect("fits");
        iface
            .receive(Instant::from_millis(1), &f)
            .expect("ARP request");
        Harness {
            iface,
            listener,
            conn: None,
            iss: None,
            sent: 0,
            read: 0,
            peer_sent: 0,
            peer_end: 0,
            anchored: true,
            done: false,
            now: 1,
        }
    }

    fn peer_segment(&mut self, r: &TcpRepr<'_>) {
        // Options beyond the 40-byte area cannot be sent: leave out SACK
        // blocks, then the timestamps, as a sender would.
        let mut r = *r;
        while r.options_len() > 40 && r.sack_len > 0 {
            r.sack_len -= 1;
        }
        if r.options_len() > 40 {
            r.timestamp = None;
        }
        let r = &r;
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
        // Where the segment ends, relative to the peer's ISN (a segment may
        // start before it and still reach into the stream).
        let end = r.seq.wrapping_add(r.seg_len()).wrapping_sub(IRS);
        if end < 1 << 30 {
            self.peer_end = self.peer_end.max(end);
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
            let Some((_, ip, t)) = wire::parse_tcp_frame(&o[..n]) else {
                assert!(n <= 1514, "frame of {n} bytes");
                continue;
            };
            // RFC 6691 §2: the data shrinks by the options sent with it, so
            // every frame, options included, fits a 1500-byte MTU.
            assert!(n <= 1514, "frame of {n} bytes");
            assert_eq!(ip.dst, PEER);
            if self.done || t.src_port != PORT || t.dst_port != PEER_PORT {
                continue;
            }
            assert!(t.payload.len() <= 1460, "payload over the MSS");
            if t.has(F::SYN) {
                if self.iss.is_none() && !t.has(F::RST) {
                    self.iss = Some(t.seq);
                } else if self.iss != Some(t.seq) || (self.anchored && t.ack != IRS.wrapping_add(1))
                {
                    // A new incarnation of the 4-tuple (the first one was
                    // reset before it was accepted): the checks end here.
                    self.done = true;
                }
                continue;
            }
            if t.has(F::ACK) && !t.has(F::RST) && self.iss.is_some() && self.anchored {
                let rel = t.ack.wrapping_sub(IRS);
                assert!(
                    rel <= self.peer_end,
                    "acknowledged {rel} past the peer's furthest byte {}",
                    self.peer_end
                );
            }
            if let Some(iss) = self.iss
                && !t.payload.is_empty()
            {
                let off = t.seq.wrapping_sub(iss.wrapping_add(1));
                assert!(
                    u64::from(off) + t.payload.len() as u64 <= u64::from(self.sent),
                    "sent bytes {off}+{} beyond the {} queued",
                    t.payload.len(),
                    self.sent
                );
                for (j, &b) in t.payload.iter().enumerate() {
                    assert_eq!(
                        b,
                        pattern(off + j as u32),
                        "sent byte at offset {}",
                        off + j as u32
                    );
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
            // Listening, nothing else: the input's first SYN picks the
            // peer's ISN.
            0 => self.anchored = false,
            // SYN-SENT: an active open.
            5 => {
                self.anchored = false;
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
                let iss = self.iss.expect("the stack answers a SYN with a SYN-ACK");
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
                    assert!(self.conn.is_some(), "the handshake completes");
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
        let took = self
            .iface
            .socket(c)
            .expect("a handle of this interface")
            .send_slice(&data);
        assert!(took <= data.len());
        self.sent += took as u32;
        self.drain();
    }

    fn recv(&mut self, n: u16) {
        let Some(c) = self.conn else { return };
        let mut out = vec![0u8; usize::from(n)];
        let got = self
            .iface
            .socket(c)
            .expect("a handle of this interface")
            .recv_slice(&mut out);
        assert!(got <= out.len());
        if !self.anchored {
            return self.drain();
        }
        for (j, &b) in out[..got].iter().enumerate() {
            let s = IRS.wrapping_add(1).wrapping_add(self.read + j as u32);
            assert_eq!(
                b,
                pattern(s),
                "read byte at offset {}",
                self.read + j as u32
            );
        }
        self.read += got as u32;
        self.drain();
    }

    fn check_queues(&mut self) {
        if let Some(c) = self.conn {
            let s = self.iface.socket(c).expect("a handle of this interface");
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
                h.now += u64::from(s.delay % 1000);
                let iss = h.iss.unwrap_or(0);
                let next = IRS.wrapping_add(1).wrapping_add(h.peer_sent);
                let acked = iss
                    .wrapping_add(1)
                    .wrapping_add(u32::from(s.ack) % (h.sent + 2));
                let (seq, ack, mut flags) = match s.mode % 6 {
                    0 | 1 => (next, acked, (s.flags & 0x2f) | F::ACK),
                    2 | 3 => (
                        next.wrapping_add(u32::from(s.seq % 128)).wrapping_sub(64),
                        acked,
                        (s.flags & 0x3f) | F::ACK,
                    ),
                    4 => (
                        next.wrapping_add(u32::from(s.seq % 8192))
                            .wrapping_sub(4096),
                        iss.wrapping_add(u32::from(s.ack % 8192)).wrapping_sub(4096),
                        s.flags & 0x3f,
                    ),
                    _ => (
                        u32::from(s.seq) << 16 | u32::from(s.ack),
                        u32::from(s.ack) << 16 | u32::from(s.seq),
                        s.flags,
                    ),
                };
                if s.mode % 6 < 2 && s.flags & 0x80 == 0 {
                    // Mostly plain data segments.
                    flags &= !(F::SYN | F::RST | F::FIN);
                }
                let len = if flags & F::SYN != 0 && s.len > 64 {
                    0
                } else {
                    s.len % 1400
                };
                // Data after a SYN starts one past its sequence number.
                let first = seq.wrapping_add(u32::from(flags & F::SYN != 0));
                let payload: Vec<u8> = (0..u32::from(len))
                    .map(|j| pattern(first.wrapping_add(j)))
                    .collect();
                if seq == next && flags & F::SYN == 0 {
                    h.peer_sent += u32::from(len);
                }
                let mut sack = [(0, 0); wire::MAX_SACK];
                for (d, &(l, r)) in sack.iter_mut().zip(&s.sack) {
                    *d = (
                        iss.wrapping_add(u32::from(l)),
                        iss.wrapping_add(u32::from(r)),
                    );
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
                    h.iface
                        .socket(c)
                        .expect("a handle of this interface")
                        .close();
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
