//! The TCP connection: state machine (RFC 9293 §3.10), retransmission (RFC 6298), fast
//! retransmit and NewReno recovery (RFC 5681, RFC 6582) steered by SACK (RFC 2018, RFC 6675),
//! window scaling and timestamps (RFC 7323) and the RFC 5961 defences.

use crate::ring::Ring;
use crate::seq::{due, ge, gt, le, lt, max};
use crate::wire::{MAX_SACK, TcpRepr, flags as F};

/// Connection state (RFC 9293 §3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum State {
    /// No connection.
    #[default]
    Closed,
    /// Waiting for a SYN.
    Listen,
    /// SYN sent, waiting for SYN-ACK.
    SynSent,
    /// SYN received, SYN-ACK sent.
    SynReceived,
    /// Open both ways.
    Established,
    /// Our FIN sent, waiting for its ACK or the peer's FIN.
    FinWait1,
    /// Our FIN acknowledged, waiting for the peer's FIN.
    FinWait2,
    /// Peer's FIN received, we may still send.
    CloseWait,
    /// Both FINs sent, ours not yet acknowledged.
    Closing,
    /// Peer closed first; our FIN sent, waiting for its ACK.
    LastAck,
    /// Waiting 2·MSL before the 4-tuple may be reused.
    TimeWait,
}

/// Congestion control algorithm of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Congestion {
    /// Slow start and congestion avoidance (RFC 5681) with NewReno recovery (RFC 6582).
    #[default]
    NewReno,
    /// CUBIC window growth (RFC 9438) with the same loss recovery.
    #[cfg(feature = "cubic")]
    Cubic,
}

/// Why a connection ended without a normal close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CloseReason {
    /// The peer sent an acceptable RST.
    Reset,
    /// Retransmissions or keepalive probes went unanswered.
    TimedOut,
}

/// Tunables shared by all connections of an interface.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TcpConfig {
    /// MSS announced (bytes of payload per segment we accept); 1460 suits Ethernet.
    pub mss: u16,
    /// Lower bound of the RTO in ms (RFC 6298 §2.4 says 1 s).
    pub min_rto_ms: u32,
    /// Upper bound of the RTO in ms (RFC 6298 §2.5 allows ≥ 60 s).
    pub max_rto_ms: u32,
    /// RTO before any RTT sample, ms (RFC 6298 §2.1: 1 s).
    pub initial_rto_ms: u32,
    /// Delayed-ACK timer in ms; a second segment is acknowledged at once regardless
    /// (RFC 9293 §3.8.6.3, RFC 5681 §4.2).
    pub ack_delay_ms: u32,
    /// Maximum segment lifetime in ms; TIME-WAIT lasts twice this (RFC 9293 §3.4.2).
    pub msl_ms: u32,
    /// Idle time before keepalive probes, ms (RFC 9293 §3.8.4: default ≥ 2 h).
    pub keepalive_ms: u32,
    /// Retransmissions (or keepalive probes) before a connection is abandoned.
    pub max_retries: u8,
    /// Challenge ACKs allowed per second across the interface (RFC 5961 §7).
    pub challenge_acks_per_sec: u16,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            mss: 1460,
            min_rto_ms: 1000,
            max_rto_ms: 60_000,
            initial_rto_ms: 1000,
            ack_delay_ms: 40,
            msl_ms: 30_000,
            keepalive_ms: 7_200_000,
            max_retries: 12,
            challenge_acks_per_sec: 10,
        }
    }
}

/// Rate limiter for challenge ACKs (RFC 5961 §7), one per interface.
#[derive(Debug, Default)]
pub(crate) struct ChallengeLimiter {
    start_ms: u32,
    count: u16,
}

impl ChallengeLimiter {
    pub(crate) fn allow(&mut self, now: u32, limit: u16) -> bool {
        if now.wrapping_sub(self.start_ms) >= 1000 {
            self.start_ms = now;
            self.count = 0;
        }
        if self.count < limit {
            self.count += 1;
            true
        } else {
            false
        }
    }
}

// Flag bits of `Tcb::flags`.
const TS: u32 = 1 << 0; // timestamps negotiated
const SACK: u32 = 1 << 1; // SACK permitted both ways
const NODELAY: u32 = 1 << 2; // Nagle off
const KEEPALIVE: u32 = 1 << 3;
const CLOSE: u32 = 1 << 4; // user closed the send side: FIN after the data
const ACK_NOW: u32 = 1 << 5;
pub(crate) const IN_USE: u32 = 1 << 6;
pub(crate) const ACCEPTED: u32 = 1 << 7;
const RECOVERY: u32 = 1 << 8;
const RTT: u32 = 1 << 9; // timing a segment (Karn)
const T_RTX: u32 = 1 << 10; // retransmit/persist/keepalive/time-wait timer armed
const T_ACK: u32 = 1 << 11; // delayed-ACK timer armed
const RTX_HOLE: u32 = 1 << 12; // retransmit the next hole now
const PROBE: u32 = 1 << 13; // send a zero-window or keepalive probe now
pub(crate) const HASHED: u32 = 1 << 14; // entered in the connection table
const SAMPLED: u32 = 1 << 15; // an RTT sample has been taken
const WS: u32 = 1 << 16; // the peer's SYN carried window scale
const RESET: u32 = 1 << 18; // closed by an acceptable RST
const TIMED_OUT: u32 = 1 << 19; // closed after unanswered retransmissions or probes
const TLP_ARMED: u32 = 1 << 20; // the retransmission timer runs as a tail-loss probe timer
const TLP_NOW: u32 = 1 << 21; // send a tail-loss probe now
/// Generation of the slot, bumped when it is released; part of every `SocketHandle`.
pub(crate) const GEN: u32 = 0xff << 24;

/// The per-connection state without its buffers.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tcb {
    pub(crate) remote_ip: [u8; 4],
    pub(crate) local_port: u16,
    pub(crate) remote_port: u16,
    pub(crate) state: State,
    /// Listener slot of an un-accepted passive child, or listener's backlog limit.
    pub(crate) parent: u8,
    /// Listener: children waiting to be accepted.
    pub(crate) queued: u8,
    pub(crate) flags: u32,
    snd_una: u32,
    snd_nxt: u32,
    snd_max: u32,
    snd_wl1: u32,
    snd_wnd: u32,
    rcv_nxt: u32,
    rcv_adv: u32,
    ts_recent: u32,
    srtt8: u16,
    rttvar4: u16,
    rto: u16,
    rtt_seq: u32,
    rtt_start: u16,
    cwnd: u32,
    ssthresh: u32,
    recover: u32,
    rtx_next: u32,
    t_rtx: u32,
    /// Low 16 bits of the delayed-ACK deadline (the delay is far below 32 s).
    t_ack: u16,
    mss: u16,
    snd_shift: u8,
    rcv_shift: u8,
    dupacks: u8,
    retries: u8,
    /// Receiver ACK pacing: bits 0–1 count the data segments since the last ACK sent
    /// (saturating at 3), bits 2–7 the quick ACKs left (see `QUICK_ACKS`).
    segs_unacked: u8,
    sack: [(u32, u32); MAX_SACK],
    ooo: [(u32, u32); RCV_RANGES],
    #[cfg(feature = "cubic")]
    cubic: crate::cubic::Cubic,
}

/// A TCP socket: connection state plus caller-supplied receive and send buffers.
#[derive(Debug, Default)]
pub struct TcpSocket<'a> {
    pub(crate) tcb: Tcb,
    rx: Ring<'a>,
    tx: Ring<'a>,
}

/// What the interface must send in reply to a segment, outside the socket's own output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    None,
    /// A RST with SEQ = SEG.ACK (RFC 9293 §3.10.7.3, §3.10.7.4: the answer to an
    /// unacceptable ACK before the connection is synchronised).
    Rst,
}

/// A segment the socket wants sent, beside the header fields it wrote: the payload's place
/// in the send buffer (offset from SND.UNA, length).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) data_off: usize,
    pub(crate) data_len: usize,
}

/// Out-of-order ranges held by the receiver, and so SACK blocks sent (RFC 2018 §4 asks for
/// as many as fit; two keep the per-connection state within 160 bytes on 32-bit targets).
const RCV_RANGES: usize = 2;

/// Data segments acknowledged at once, each, after one that held nothing new (or lay
/// outside the window) arrived: quick-ACK mode; Linux receivers do the same after such a
/// segment, with this count. The peer resent data we had acknowledged: our ACKs were lost
/// or came too late for its timer (a tail-loss probe or an RTO). Its window is a few
/// segments then, where a delayed ACK stalls it for the delayed-ACK time and the loss of
/// the one ACK covering two segments sends it back to its timer. RFC 5681 §4.2 asks for an
/// ACK for at least every second full-sized segment; acknowledging each one for a while is
/// within it.
const QUICK_ACKS: u8 = 16;
const _: () = assert!(QUICK_ACKS < 64); // six bits of `segs_unacked`

/// Data bytes per segment after the timestamp option (RFC 7323 §3.2: 12 bytes with padding).
/// Data bytes per segment: the MSS less the options sent with the data
/// (RFC 6691 §2) — timestamps, 12 bytes padded, and, while out-of-order data
/// is held, room for SACK blocks for both held ranges, 4 + 8 · 2 bytes.
#[inline(never)] // smaller flash (size/measure.sh)
fn eff_mss(t: &Tcb) -> u32 {
    let mut opts = if t.flags & TS != 0 { 12 } else { 0 };
    if t.flags & SACK != 0 && t.ooo.iter().any(|b| b.0 != b.1) {
        opts += 4 + 8 * t.ooo.len() as u32;
    }
    u32::from(t.mss).saturating_sub(opts).max(1)
}

impl<'a> TcpSocket<'a> {
    /// A closed socket with the given receive and send buffers.
    ///
    /// The receive buffer bounds the advertised window; windows above 64 KiB use window
    /// scaling (RFC 7323 §2).
    pub fn new(rx: &'a mut [u8], tx: &'a mut [u8]) -> Self {
        TcpSocket {
            tcb: Tcb::default(),
            rx: Ring::new(rx),
            tx: Ring::new(tx),
        }
    }

    /// Connection state.
    pub fn state(&self) -> State {
        self.tcb.state
    }
    /// Why the connection ended abnormally, if it did.
    pub fn close_reason(&self) -> Option<CloseReason> {
        match self.tcb.flags & (RESET | TIMED_OUT) {
            RESET => Some(CloseReason::Reset),
            TIMED_OUT => Some(CloseReason::TimedOut),
            _ => None,
        }
    }
    /// Remote address and port.
    pub fn remote(&self) -> ([u8; 4], u16) {
        (self.tcb.remote_ip, self.tcb.remote_port)
    }
    /// Local port.
    pub fn local_port(&self) -> u16 {
        self.tcb.local_port
    }
    /// True once the connection can carry data (ESTABLISHED or later, not closed).
    #[inline(never)] // smaller flash (size/measure.sh)
    pub fn is_established(&self) -> bool {
        matches!(
            self.tcb.state,
            State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait
        )
    }
    /// True if `send_*` can queue data now.
    pub fn can_send(&self) -> bool {
        matches!(
            self.tcb.state,
            State::SynSent | State::SynReceived | State::Established | State::CloseWait
        ) && self.tcb.flags & CLOSE == 0
            && self.tx.window() > 0
    }
    /// True if data is waiting to be read.
    pub fn can_recv(&self) -> bool {
        !self.rx.is_empty()
    }
    /// True when the peer has closed its side and every byte has been read.
    pub fn recv_finished(&self) -> bool {
        self.rx.is_empty()
            && matches!(
                self.tcb.state,
                State::CloseWait
                    | State::LastAck
                    | State::Closing
                    | State::TimeWait
                    | State::Closed
            )
    }
    /// Bytes queued for sending and not yet acknowledged.
    pub fn send_queue(&self) -> usize {
        self.tx.len()
    }
    /// Bytes waiting to be read.
    pub fn recv_queue(&self) -> usize {
        self.rx.len()
    }
    /// Switches Nagle's algorithm (RFC 9293 §3.7.4); on by default.
    pub fn set_nagle(&mut self, on: bool) {
        if on {
            self.tcb.flags &= !NODELAY;
        } else {
            self.tcb.flags |= NODELAY;
        }
    }
    /// Switches keepalive probes (RFC 9293 §3.8.4); off by default. The idle period starts
    /// with the next segment received.
    pub fn set_keepalive(&mut self, on: bool) {
        if on {
            self.tcb.flags |= KEEPALIVE;
        } else {
            self.tcb.flags &= !KEEPALIVE;
        }
    }
    /// Chooses the congestion controller; takes effect on the next window growth.
    pub fn set_congestion(&mut self, c: Congestion) {
        #[cfg(feature = "cubic")]
        {
            self.tcb.cubic.enabled = c == Congestion::Cubic;
        }
        let _ = c;
    }
    /// Congestion window in bytes.
    pub fn cwnd(&self) -> u32 {
        self.tcb.cwnd
    }
    /// Smoothed RTT in ms, once measured.
    pub fn srtt_ms(&self) -> Option<u32> {
        (self.tcb.flags & SAMPLED != 0).then_some(u32::from(self.tcb.srtt8 >> 3))
    }
    /// Current retransmission timeout in ms.
    pub fn rto_ms(&self) -> u32 {
        u32::from(self.tcb.rto)
    }

    /// Queues bytes for sending; returns how many fit.
    ///
    /// # Examples
    /// ```
    /// let (mut rx, mut tx) = ([0u8; 64], [0u8; 8]);
    /// let mut s = tcp_lite::TcpSocket::new(&mut rx, &mut tx);
    /// // A closed socket takes no data.
    /// assert_eq!(s.send_slice(b"hello"), 0);
    /// ```
    pub fn send_slice(&mut self, data: &[u8]) -> usize {
        if !self.can_send() {
            return 0;
        }
        self.tx.enqueue(data)
    }
    /// Zero-copy send: `f` writes into contiguous free send-buffer space and returns how
    /// many bytes it wrote.
    pub fn send_with(&mut self, f: impl FnOnce(&mut [u8]) -> usize) -> usize {
        if !self.can_send() {
            return 0;
        }
        let buf = self.tx.free_contig();
        let n = f(buf).min(buf.len());
        self.tx.commit(n);
        n
    }
    /// Copies received bytes into `out`; returns how many.
    pub fn recv_slice(&mut self, out: &mut [u8]) -> usize {
        self.rx.dequeue(out)
    }
    /// Zero-copy receive: `f` reads contiguous received bytes and returns how many it used.
    pub fn recv_with(&mut self, f: impl FnOnce(&[u8]) -> usize) -> usize {
        let buf = self.rx.data_contig();
        let n = f(buf).min(buf.len());
        self.rx.consume(n);
        n
    }

    /// Closes the send side: a FIN follows the queued data (RFC 9293 §3.10.4).
    pub fn close(&mut self) {
        let t = &mut self.tcb;
        match t.state {
            State::Listen | State::SynSent => t.state = State::Closed,
            // In SYN-RECEIVED the FIN waits for the handshake to complete.
            State::SynReceived => t.flags |= CLOSE,
            State::Established => {
                t.flags |= CLOSE;
                t.state = State::FinWait1;
            }
            State::CloseWait => {
                t.flags |= CLOSE;
                t.state = State::LastAck;
            }
            _ => {}
        }
    }

    /// Drops the connection at once; returns the RST the interface should send.
    pub(crate) fn abort(&mut self) -> Option<(u32, u32)> {
        let t = &self.tcb;
        let rst = matches!(
            t.state,
            State::SynReceived
                | State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait
                | State::Closing
                | State::LastAck
        )
        .then_some((t.snd_nxt, t.rcv_nxt));
        self.tcb.state = State::Closed;
        rst
    }

    pub(crate) fn reset_for(&mut self, remote_ip: [u8; 4], remote_port: u16, local_port: u16) {
        let keep = self.tcb.flags & (NODELAY | KEEPALIVE | IN_USE | GEN);
        #[cfg(feature = "cubic")]
        let cubic = self.tcb.cubic.enabled;
        // Whole-struct reset first: one aligned clear (smaller flash than a partial one).
        self.tcb = Tcb::default();
        let t = &mut self.tcb;
        t.remote_ip = remote_ip;
        t.remote_port = remote_port;
        t.local_port = local_port;
        t.flags = keep;
        #[cfg(feature = "cubic")]
        {
            self.tcb.cubic.enabled = cubic;
        }
        self.rx.clear();
        self.tx.clear();
    }

    fn rcv_wnd(&self) -> u32 {
        self.rx.window() as u32
    }

    fn init_common(&mut self, cfg: &TcpConfig, iss: u32) {
        let t = &mut self.tcb;
        t.snd_una = iss;
        t.snd_nxt = iss;
        t.snd_max = iss;
        t.rto = cfg.initial_rto_ms.min(0xffff) as u16;
        t.mss = 536; // RFC 9293 §3.7.1 default send MSS
        t.ssthresh = u32::MAX;
        t.recover = iss;
        // RFC 7323 §2.3: the smallest shift that lets the receive buffer be advertised.
        let mut s = 0;
        while s < 14 && (self.rx.capacity() >> s) > 0xffff {
            s += 1;
        }
        t.rcv_shift = s;
    }

    /// Active open (RFC 9293 §3.10.1).
    pub(crate) fn open_active(&mut self, cfg: &TcpConfig, iss: u32) {
        self.init_common(cfg, iss);
        self.tcb.state = State::SynSent;
        // SYN-SENT offers every option; RFC 7323 §2.2 / RFC 2018 §2.
        self.tcb.flags |= TS | SACK;
    }

    /// Passive open of a child from a listener's SYN (RFC 9293 §3.10.7.2).
    pub(crate) fn open_passive(&mut self, cfg: &TcpConfig, iss: u32, seg: &TcpRepr<'_>, now: u32) {
        self.init_common(cfg, iss);
        self.tcb.state = State::SynReceived;
        self.take_syn(cfg, seg, now);
    }

    pub(crate) fn listen(&mut self, port: u16, backlog: u8) {
        self.reset_for([0; 4], 0, port);
        self.tcb.state = State::Listen;
        self.tcb.parent = backlog;
    }

    /// Reads the SYN's sequence number and options.
    fn take_syn(&mut self, cfg: &TcpConfig, seg: &TcpRepr<'_>, now: u32) {
        let t = &mut self.tcb;
        t.rcv_nxt = seg.seq.wrapping_add(1);
        t.rcv_adv = t.rcv_nxt;
        // Never below 64 (RFC 9293 §3.7.1 leaves no smaller useful value), never above ours.
        t.mss = seg.mss.unwrap_or(536).min(cfg.mss).max(64);
        // RFC 7323 §2.2: scaling only if both sides sent the option.
        match seg.wscale {
            Some(s) => {
                t.snd_shift = s;
                t.flags |= WS;
            }
            None => t.rcv_shift = 0,
        }
        // An active open offered TS and SACK, a passive one answers what the SYN offers: in
        // both cases an option is on exactly when the peer's SYN carries it.
        t.flags &= !(TS | SACK);
        if seg.timestamp.is_some() {
            t.flags |= TS;
        }
        if seg.sack_permitted {
            t.flags |= SACK;
        }
        if let Some((v, _)) = seg.timestamp {
            t.ts_recent = v;
        }
        // RFC 9293 §3.10.7.3: the window in a SYN is never scaled.
        t.snd_wnd = u32::from(seg.window);
        t.snd_wl1 = seg.seq;
        // RFC 5681 §3.1: IW = min(4·MSS, max(2·MSS, 4380)).
        let m = u32::from(t.mss);
        t.cwnd = (4 * m).min((2 * m).max(4380));
        let _ = now;
    }

    /// Closes the connection; `reason` is `RESET`, `TIMED_OUT` or 0 for a normal close.
    #[inline(never)] // smaller flash (size/measure.sh)
    fn set_closed(&mut self, reason: u32) {
        self.tcb.state = State::Closed;
        self.tcb.flags = (self.tcb.flags & !(RESET | TIMED_OUT | T_RTX | T_ACK | ACK_NOW)) | reason;
    }

    #[inline(never)] // smaller flash (size/measure.sh)
    fn challenge(&mut self, now: u32, cfg: &TcpConfig, lim: &mut ChallengeLimiter) {
        if lim.allow(now, cfg.challenge_acks_per_sec) {
            self.tcb.flags |= ACK_NOW;
        }
    }

    #[inline(never)] // smaller flash (size/measure.sh)
    fn arm_rtx(&mut self, now: u32, ms: u32) {
        self.tcb.t_rtx = now.wrapping_add(ms);
        self.tcb.flags = (self.tcb.flags | T_RTX) & !TLP_ARMED;
    }

    /// Arms the retransmission (or persist) timer with the current RTO.
    #[inline(never)] // smaller flash (size/measure.sh)
    fn arm_rto(&mut self, now: u32) {
        let rto = u32::from(self.tcb.rto);
        self.arm_rtx(now, rto);
    }

    /// Starts (or restarts) the 2·MSL TIME-WAIT timer (RFC 9293 §3.4.2).
    #[inline(never)] // smaller flash (size/measure.sh)
    fn arm_time_wait(&mut self, now: u32, cfg: &TcpConfig) {
        self.arm_rtx(now, cfg.msl_ms.saturating_mul(2));
    }

    /// Doubles the RTO up to its bound (RFC 6298 §5.5).
    fn back_off(&mut self, cfg: &TcpConfig) {
        let t = &mut self.tcb;
        t.rto = (u32::from(t.rto) * 2).min(cfg.max_rto_ms).min(0xffff) as u16;
    }

    /// The tail-loss probe timeout, if a probe may be armed now: PTO = 2·SRTT (RFC 8985 §7.2),
    /// plus the peer's delayed-ACK time when one segment is in flight (estimated by our own
    /// `ack_delay_ms`, where the RFC takes 200 ms), and only when it comes before the RTO.
    fn pto(&self, cfg: &TcpConfig) -> Option<u32> {
        let t = &self.tcb;
        let mut pto = u32::from(t.srtt8 >> 2).max(2);
        if self.flight() <= u32::from(t.mss) {
            pto += cfg.ack_delay_ms;
        }
        (t.flags & SAMPLED != 0
            && t.retries == 0
            && t.snd_wnd > 0
            && pto < u32::from(t.rto)
            && self.is_established())
        .then_some(pto)
    }

    /// Arms the timer for outstanding data: the tail-loss probe if one applies, else the RTO
    /// (RFC 6298 §5.1).
    fn arm_data_timer(&mut self, now: u32, cfg: &TcpConfig) {
        match self.pto(cfg) {
            Some(pto) => {
                self.arm_rtx(now, pto);
                self.tcb.flags |= TLP_ARMED;
            }
            None => {
                self.arm_rto(now);
            }
        }
    }

    /// Processes one segment addressed to this connection (RFC 9293 §3.10.7).
    pub(crate) fn process(
        &mut self,
        now: u32,
        cfg: &TcpConfig,
        lim: &mut ChallengeLimiter,
        seg: &TcpRepr<'_>,
    ) -> Reply {
        let rst = seg.has(F::RST);
        let syn = seg.has(F::SYN);
        let ackf = seg.has(F::ACK);
        match self.tcb.state {
            State::Closed | State::Listen => return Reply::None,
            State::SynSent => return self.process_syn_sent(now, cfg, seg),
            _ => {}
        }
        let t = &mut self.tcb;
        if t.state == State::SynReceived && syn && !ackf && seg.seq == t.rcv_nxt.wrapping_sub(1) {
            // The peer did not get our SYN-ACK and sent its SYN again: answer it again.
            t.snd_nxt = t.snd_una;
            return Reply::None;
        }
        // RFC 7323 §5.3 PAWS: an older timestamp marks an old duplicate.
        if t.flags & TS != 0 && !rst {
            if let Some((v, _)) = seg.timestamp {
                if lt(v, t.ts_recent) {
                    t.flags |= ACK_NOW;
                    return Reply::None;
                }
            }
        }
        // RFC 9293 §3.10.7.4 first: acceptability.
        let wnd = self.rcv_wnd();
        let t = &mut self.tcb;
        let len = seg.seg_len();
        let in_wnd = |s: u32| le(t.rcv_nxt, s) && lt(s, t.rcv_nxt.wrapping_add(wnd));
        let acceptable = match (len, wnd) {
            (0, 0) => seg.seq == t.rcv_nxt,
            (0, _) => in_wnd(seg.seq),
            (_, 0) => false,
            _ => in_wnd(seg.seq) || in_wnd(seg.seq.wrapping_add(len - 1)),
        };
        if rst {
            // RFC 5961 §3.2: reset only at exactly RCV.NXT; in window → challenge ACK.
            if seg.seq == t.rcv_nxt {
                self.set_closed(RESET);
            } else if acceptable || in_wnd(seg.seq) {
                self.challenge(now, cfg, lim);
            }
            return Reply::None;
        }
        if !acceptable {
            t.flags |= ACK_NOW;
            if len > 0 {
                // Data we hold already: quick ACKs (see `QUICK_ACKS`).
                t.segs_unacked = (t.segs_unacked & 3) | (QUICK_ACKS << 2);
            }
            if t.state == State::TimeWait && seg.has(F::FIN) {
                // A retransmitted FIN: our last ACK was lost; restart 2·MSL (RFC 9293 §3.10.7.4).
                self.arm_time_wait(now, cfg);
            }
            return Reply::None;
        }
        if syn {
            // RFC 5961 §4.2 / RFC 9293 §3.10.7.4 fourth: any SYN in a synchronised state
            // draws a challenge ACK and is dropped.
            self.challenge(now, cfg, lim);
            return Reply::None;
        }
        if !ackf {
            return Reply::None;
        }
        // RFC 7323 §4.3: TS.Recent <- SEG.TSval if SEG.SEQ <= Last.ACK.sent. Last.ACK.sent
        // is RCV.NXT when no ACK is owed; while one is owed the update waits for it, so
        // TS.Recent keeps the timestamp of the earliest segment the next ACK covers.
        if let Some((v, _)) = seg.timestamp {
            if t.flags & (TS | T_ACK | ACK_NOW) == TS && le(seg.seq, t.rcv_nxt) {
                t.ts_recent = v;
            }
        }
        // The peer is alive: an answered keepalive or zero-window probe is no failure.
        if (t.flags & KEEPALIVE != 0 && t.snd_una == t.snd_max) || seg.window == 0 {
            t.retries = 0;
        }
        if t.state == State::SynReceived {
            if !(gt(seg.ack, t.snd_una) && le(seg.ack, t.snd_max)) {
                return Reply::Rst;
            }
            // Our SYN is acknowledged: it took a sequence number but no send-buffer byte.
            // A close() that came during the handshake takes effect now (RFC 9293 §3.10.4).
            t.state = if t.flags & CLOSE != 0 {
                State::FinWait1
            } else {
                State::Established
            };
            t.snd_wnd = u32::from(seg.window) << t.snd_shift;
            t.snd_wl1 = seg.seq;
            t.snd_una = t.snd_una.wrapping_add(1);
            t.snd_nxt = max(t.snd_nxt, t.snd_una);
            self.syn_acked();
            let t = &mut self.tcb;
            if t.snd_una == t.snd_max {
                t.flags &= !T_RTX;
            }
            self.ack_rtt(cfg, now, seg);
        }
        let t = &mut self.tcb;
        // RFC 5961 §5.2: ACK acceptable only within [SND.UNA − MAX.SND.WND, SND.MAX]; the
        // current send window stands in for MAX.SND.WND.
        if gt(seg.ack, t.snd_max) {
            t.flags |= ACK_NOW;
            return Reply::None;
        }
        let low = t.snd_una.wrapping_sub(t.snd_wnd.max(u32::from(t.mss)));
        if lt(seg.ack, low) {
            self.challenge(now, cfg, lim);
            return Reply::None;
        }
        self.process_ack(now, cfg, seg);
        self.process_data(now, cfg, seg);
        self.idle_keepalive(now, cfg);
        Reply::None
    }

    /// (Re)starts the keepalive idle timer when nothing is outstanding or queued
    /// (RFC 9293 §3.8.4): any segment from the peer restarts the idle period.
    fn idle_keepalive(&mut self, now: u32, cfg: &TcpConfig) {
        let t = &self.tcb;
        if t.flags & KEEPALIVE != 0
            && t.snd_una == t.snd_max
            && self.tx.is_empty()
            && matches!(t.state, State::Established | State::CloseWait)
        {
            self.arm_rtx(now, cfg.keepalive_ms);
        }
    }

    fn process_syn_sent(&mut self, now: u32, cfg: &TcpConfig, seg: &TcpRepr<'_>) -> Reply {
        let t = &mut self.tcb;
        let ackf = seg.has(F::ACK);
        // RFC 9293 §3.10.7.3: an ACK must cover our SYN and nothing unsent.
        if ackf && (le(seg.ack, t.snd_una) || gt(seg.ack, t.snd_max)) {
            return if seg.has(F::RST) {
                Reply::None
            } else {
                Reply::Rst
            };
        }
        if seg.has(F::RST) {
            if ackf {
                self.set_closed(RESET);
            }
            return Reply::None;
        }
        if !seg.has(F::SYN) {
            return Reply::None;
        }
        self.take_syn(cfg, seg, now);
        let t = &mut self.tcb;
        if ackf {
            t.snd_una = seg.ack;
            t.snd_nxt = max(t.snd_nxt, seg.ack);
            t.state = State::Established;
            t.flags |= ACK_NOW;
            t.flags &= !T_RTX;
            self.syn_acked();
            self.ack_rtt(cfg, now, seg);
            self.idle_keepalive(now, cfg);
        } else {
            // Simultaneous open (RFC 9293 §3.5 figure 7): answer with SYN-ACK.
            t.state = State::SynReceived;
            t.snd_nxt = t.snd_una;
        }
        Reply::None
    }

    /// Our SYN (or SYN-ACK) is acknowledged. If it had to be retransmitted, the initial
    /// window is 1 SMSS (RFC 5681 §3.1) and the RTO is re-initialised to 3 s (RFC 6298 §5.7;
    /// also when a configured initial RTO above 3 s had been backed off); an RTT sample taken
    /// from this ACK then replaces that RTO.
    #[inline(never)]
    fn syn_acked(&mut self) {
        let t = &mut self.tcb;
        if t.retries > 0 {
            t.cwnd = u32::from(t.mss);
            t.rto = 3000;
        }
        t.retries = 0;
    }

    /// An RTT sample from an ACK that advanced SND.UNA: the echoed timestamp (RFC 7323 §4.1),
    /// else the timed segment if Karn's algorithm left it timed (RFC 6298 §3).
    #[inline(never)]
    fn ack_rtt(&mut self, cfg: &TcpConfig, now: u32, seg: &TcpRepr<'_>) {
        let t = &self.tcb;
        let r = match seg.timestamp {
            Some((_, ecr)) if t.flags & TS != 0 && ecr != 0 => now.wrapping_sub(ecr),
            _ if t.flags & RTT != 0 && gt(seg.ack, t.rtt_seq) => {
                u32::from((now as u16).wrapping_sub(t.rtt_start))
            }
            _ => return,
        };
        self.tcb.flags &= !RTT;
        self.rtt_sample(cfg, r);
    }

    /// RTT sample in ms into SRTT/RTTVAR/RTO (RFC 6298 §2.2–2.3, G = 1 ms).
    fn rtt_sample(&mut self, cfg: &TcpConfig, r: u32) {
        let t = &mut self.tcb;
        // SRTT is kept in 1/8 ms in 16 bits: samples above 8 s saturate.
        let r = r.min(8191);
        let (mut srtt8, mut rttvar4) = (u32::from(t.srtt8), u32::from(t.rttvar4));
        if t.flags & SAMPLED == 0 {
            srtt8 = r << 3;
            rttvar4 = r << 1;
            t.flags |= SAMPLED;
        } else {
            let err = (srtt8 >> 3).abs_diff(r);
            // RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R|; SRTT <- 7/8 SRTT + 1/8 R (scaled by 4 and 8).
            rttvar4 = rttvar4 - (rttvar4 >> 2) + err;
            srtt8 = srtt8 - (srtt8 >> 3) + r;
        }
        t.srtt8 = srtt8.min(0xffff) as u16;
        t.rttvar4 = rttvar4.min(0xffff) as u16;
        let rto = (srtt8 >> 3) + rttvar4.max(1);
        t.rto = rto.max(cfg.min_rto_ms).min(cfg.max_rto_ms).min(0xffff) as u16;
        t.retries = 0;
    }

    fn flight(&self) -> u32 {
        self.tcb.snd_max.wrapping_sub(self.tcb.snd_una)
    }

    fn sacked_bytes(&self) -> u32 {
        self.tcb.sack.iter().map(|&(l, r)| r.wrapping_sub(l)).sum()
    }

    /// Merges a peer's SACK blocks into the scoreboard (RFC 2018 §4, RFC 6675 §4 "lite":
    /// three ranges, the lowest dropped when full). Blocks outside (SND.UNA, SND.MAX] are
    /// ignored. Returns true if anything new was learned.
    // Out of line: smaller flash on Cortex-M (size/measure.sh).
    #[inline(never)]
    fn update_scoreboard(&mut self, seg: &TcpRepr<'_>) -> bool {
        let t = &mut self.tcb;
        let mut news = false;
        for &(l, r) in &seg.sack[..usize::from(seg.sack_len).min(MAX_SACK)] {
            if !(lt(t.snd_una, l) && lt(l, r) && le(r, t.snd_max)) {
                continue;
            }
            if t.sack
                .iter()
                .any(|b| b.0 != b.1 && le(b.0, l) && le(r, b.1))
            {
                continue;
            }
            let (mut l, mut r) = (l, r);
            // Absorb every overlapping or adjacent range.
            for b in t.sack.iter_mut() {
                if b.0 != b.1 && le(b.0, r) && le(l, b.1) {
                    l = if lt(b.0, l) { b.0 } else { l };
                    r = max(b.1, r);
                    *b = (0, 0);
                }
            }
            news = true;
            // Place into the first empty slot, else replace the lowest block.
            let mut slot: Option<&mut (u32, u32)> = None;
            for b in t.sack.iter_mut() {
                let better = slot
                    .as_ref()
                    .is_none_or(|x| x.0 != x.1 && (b.0 == b.1 || lt(b.0, x.0)));
                if better {
                    slot = Some(b);
                }
            }
            if let Some(b) = slot {
                *b = (l, r);
            }
        }
        news
    }

    /// End of the SACKed block containing `s`, if any.
    fn sacked_at(&self, s: u32) -> Option<u32> {
        self.tcb
            .sack
            .iter()
            .find(|b| b.0 != b.1 && le(b.0, s) && lt(s, b.1))
            .map(|b| b.1)
    }

    #[inline(never)] // smaller flash (size/measure.sh)
    fn highest_sacked(&self) -> u32 {
        let t = &self.tcb;
        t.sack
            .iter()
            .filter(|b| b.0 != b.1)
            .fold(t.snd_una, |m, b| max(m, b.1))
    }

    fn process_ack(&mut self, now: u32, cfg: &TcpConfig, seg: &TcpRepr<'_>) {
        let sack_news = self.tcb.flags & SACK != 0 && self.update_scoreboard(seg);
        let sacked = self.sacked_bytes();
        let t = &mut self.tcb;
        let mss = u32::from(t.mss);
        // Window update (RFC 9293 §3.10.7.4 fifth): only if SND.UNA =< SEG.ACK (SEG.ACK =<
        // SND.MAX was checked by the caller) and SND.WL1 =< SEG.SEQ. SND.UNA stands in for
        // SND.WL2, which it never falls below, so the SND.WL2 =< SEG.ACK test is covered.
        let old_wnd = t.snd_wnd;
        // Both differences non-negative: one sign test.
        if (seg.ack.wrapping_sub(t.snd_una) | seg.seq.wrapping_sub(t.snd_wl1)) as i32 >= 0 {
            t.snd_wnd = u32::from(seg.window) << t.snd_shift;
            t.snd_wl1 = seg.seq;
        }
        if gt(seg.ack, t.snd_una) {
            let acked = seg.ack.wrapping_sub(t.snd_una);
            let data = (acked as usize).min(self.tx.len());
            let fin_acked = t.flags & CLOSE != 0 && acked as usize > self.tx.len();
            self.tx.consume(data);
            let t = &mut self.tcb;
            t.snd_una = seg.ack;
            if lt(t.snd_nxt, t.snd_una) {
                t.snd_nxt = t.snd_una;
            }
            if lt(t.rtx_next, t.snd_una) {
                t.rtx_next = t.snd_una;
            }
            for b in t.sack.iter_mut() {
                if le(b.1, t.snd_una) {
                    *b = (0, 0);
                } else if lt(b.0, t.snd_una) {
                    b.0 = t.snd_una;
                }
            }
            self.ack_rtt(cfg, now, seg);
            let t = &mut self.tcb;
            t.retries = 0;
            // RFC 6298 §5.2/5.3: stop or restart the timer.
            if t.snd_una == t.snd_max {
                t.flags &= !T_RTX;
            } else {
                self.arm_data_timer(now, cfg);
            }
            let flight = self.flight();
            let t = &mut self.tcb;
            if t.flags & RECOVERY != 0 {
                if ge(seg.ack, t.recover) {
                    // RFC 6582 §3.2 step 3, full ACK: deflate to min(ssthresh, FlightSize + SMSS).
                    t.flags &= !RECOVERY;
                    t.cwnd = t.ssthresh.min(flight.max(mss) + mss);
                    t.dupacks = 0;
                } else {
                    // Partial ACK (step 4): retransmit the next hole, deflate by the amount
                    // acknowledged and add back one SMSS.
                    t.flags |= RTX_HOLE;
                    t.cwnd = t.cwnd.saturating_sub(acked);
                    if acked >= mss {
                        t.cwnd = t.cwnd.saturating_add(mss);
                    }
                    t.cwnd = t.cwnd.max(mss);
                }
            } else {
                t.dupacks = 0;
                self.grow_cwnd(now, acked);
            }
            let t = &mut self.tcb;
            if fin_acked {
                match t.state {
                    State::FinWait1 => t.state = State::FinWait2,
                    State::Closing => {
                        t.state = State::TimeWait;
                        self.arm_time_wait(now, cfg);
                    }
                    State::LastAck => self.set_closed(0),
                    _ => {}
                }
            }
        } else if seg.ack == t.snd_una
            && t.snd_max != t.snd_una
            && seg.payload.is_empty()
            && !seg.has(F::FIN)
            && (t.snd_wnd == old_wnd || sack_news)
        {
            // RFC 5681 §2 duplicate ACK.
            t.dupacks = t.dupacks.saturating_add(1);
            // RFC 5827 early retransmit: with fewer than four segments outstanding and
            // nothing new to send, the threshold is one less than the segments outstanding.
            // With oseg = ceil(FlightSize / SMSS) segments outstanding: oseg < 4 and
            // DupAcks ≥ max(oseg − 1, 1); DupAcks ≥ 1 here, so that is FlightSize ≤
            // (min(DupAcks, 2) + 1) · SMSS (no division).
            let flight = t.snd_max.wrapping_sub(t.snd_una);
            let early =
                self.tx.len() as u32 <= flight && flight <= u32::from(t.dupacks.min(2) + 1) * mss;
            if t.flags & RECOVERY != 0 {
                t.cwnd = t.cwnd.saturating_add(mss); // RFC 6582 step 3 inflation
                if sack_news && lt(t.rtx_next, self.highest_sacked()) {
                    self.tcb.flags |= RTX_HOLE;
                }
            } else if (t.dupacks >= 3 || (sack_news && sacked > 2 * mss) || early)
                && (gt(seg.ack, t.recover) || (sack_news && seg.ack == t.recover))
            {
                // RFC 6582 §3.2 step 2 / RFC 5681 §3.2: fast retransmit only if the ACK
                // covers more than `recover` (the highest byte sent, SND.MAX − 1, when it
                // was set: SEG.ACK − 1 > recover, that is SEG.ACK > `recover` as kept here).
                // The rule keeps duplicate ACKs drawn by unneeded retransmissions of old
                // data from starting a second recovery. With SACK, an ACK that SACKs data
                // above SND.UNA = `recover` reports data sent after `recover`, which no
                // retransmission of old data can draw (a duplicate ACK in RFC 6675 §2's
                // sense), and RFC 6675 §5.1 allows a new recovery once HighACK >=
                // RecoveryPoint: so an ACK at `recover` with new SACK blocks qualifies.
                self.enter_recovery();
            }
        }
        self.check_lost_rtx();
    }

    /// Lost-retransmission detection: once the peer SACKs data sent after our latest
    /// retransmission while SND.UNA is still missing, the retransmissions before it are taken
    /// as lost and the holes are walked again from SND.UNA (the idea of RFC 6675's IsLost
    /// applied to retransmissions, assuming a mostly FIFO path).
    fn check_lost_rtx(&mut self) {
        let high = self.highest_sacked();
        let t = &mut self.tcb;
        if t.flags & (RECOVERY | SACK) == RECOVERY | SACK
            && gt(high, t.rtt_seq)
            && gt(t.rtx_next, t.snd_una)
        {
            t.rtx_next = t.snd_una;
            t.rtt_seq = t.snd_max;
            t.flags |= RTX_HOLE;
        }
    }

    /// ssthresh after a loss: max(FlightSize / 2, 2·SMSS) (RFC 5681 §3.1 equation 4), or
    /// CUBIC's multiplicative decrease (RFC 9438 §4.6).
    fn reduce_ssthresh(&mut self) {
        let flight = self.flight();
        let t = &mut self.tcb;
        let mss = u32::from(t.mss);
        t.ssthresh = (flight / 2).max(2 * mss);
        #[cfg(feature = "cubic")]
        if t.cubic.enabled {
            t.ssthresh = t.cubic.on_loss(t.cwnd, mss);
        }
    }

    fn enter_recovery(&mut self) {
        self.reduce_ssthresh();
        let t = &mut self.tcb;
        let mss = u32::from(t.mss);
        t.cwnd = t.ssthresh.saturating_add(3 * mss);
        t.recover = t.snd_max;
        t.rtx_next = t.snd_una;
        t.flags |= RECOVERY | RTX_HOLE;
        t.flags &= !RTT;
    }

    fn grow_cwnd(&mut self, now: u32, acked: u32) {
        let t = &mut self.tcb;
        let mss = u32::from(t.mss);
        if t.cwnd < t.ssthresh {
            // RFC 5681 §3.1 slow start, with appropriate byte counting capped at 1 SMSS
            // per ACK... RFC 3465 allows L = 2.
            t.cwnd = t.cwnd.saturating_add(acked.min(2 * mss));
            return;
        }
        #[cfg(feature = "cubic")]
        if t.cubic.enabled {
            let srtt = u32::from(t.srtt8 >> 3);
            t.cwnd = t.cubic.on_ack(now, t.cwnd, mss, acked, srtt);
            return;
        }
        let _ = now;
        // RFC 5681 §3.1 congestion avoidance: cwnd += SMSS·SMSS/cwnd.
        t.cwnd = t.cwnd.saturating_add((mss * mss / t.cwnd.max(1)).max(1));
    }

    fn process_data(&mut self, now: u32, cfg: &TcpConfig, seg: &TcpRepr<'_>) {
        let t = &mut self.tcb;
        if !matches!(
            t.state,
            State::Established | State::FinWait1 | State::FinWait2
        ) {
            return;
        }
        let mut seq = seg.seq;
        let mut data = seg.payload;
        // Trim what we already have (RFC 9293 §3.10.7.4 seventh).
        if lt(seq, t.rcv_nxt) {
            let skip = t.rcv_nxt.wrapping_sub(seq) as usize;
            data = data.get(skip..).unwrap_or(&[]);
            seq = t.rcv_nxt;
        }
        let fin_seq = seg.seq.wrapping_add(seg.payload.len() as u32);
        if !data.is_empty() {
            let off = seq.wrapping_sub(t.rcv_nxt) as usize;
            let n = self.rx.write_at(off, data) as u32;
            let t = &mut self.tcb;
            let had_ooo = t.ooo.iter().any(|b| b.0 != b.1);
            // The new range, merged with the held ones it touches, goes first (RFC 2018 §4:
            // the first SACK block reports the newest data); one slot more than kept, so
            // that an in-order range never pushes a held one out before it is pulled in.
            let (mut l, mut r) = (seq, seq.wrapping_add(n));
            let mut all = [(0u32, 0u32); RCV_RANGES + 1];
            let mut j = 1;
            for b in t.ooo {
                if b.0 != b.1 && le(b.0, r) && le(l, b.1) {
                    l = if lt(b.0, l) { b.0 } else { l };
                    r = max(b.1, r);
                } else if b.0 != b.1 {
                    if let Some(x) = all.get_mut(j) {
                        *x = b;
                        j += 1;
                    }
                }
            }
            // Pull the new range in if it now starts at RCV.NXT. Held ranges always lie above
            // RCV.NXT with a gap, and those touching the new range were merged into it, so no
            // other range can follow it in.
            if le(l, t.rcv_nxt) {
                if gt(r, t.rcv_nxt) {
                    self.rx.commit(r.wrapping_sub(t.rcv_nxt) as usize);
                    t.rcv_nxt = r;
                }
                l = r;
            }
            all[0] = (l, r);
            // Keep the newest ranges; a forgotten one is simply received again.
            let mut k = 0;
            t.ooo = [(0, 0); RCV_RANGES];
            for b in all {
                if b.0 != b.1 && k < RCV_RANGES {
                    t.ooo[k] = b;
                    k += 1;
                }
            }
            // RFC 5681 §4.2: ACK at once out of order, when filling a gap, or when nothing
            // fitted; otherwise every second segment, or after the delayed-ACK time, unless
            // quick ACKs are left.
            let mut u = t.segs_unacked;
            if u & 3 != 3 {
                u += 1;
            }
            let quick = u >= 4;
            if quick {
                u -= 4;
            }
            t.segs_unacked = u;
            if off > 0 || n == 0 || had_ooo || quick || u & 3 >= 2 {
                t.flags |= ACK_NOW;
            } else if t.flags & T_ACK == 0 {
                t.t_ack = now.wrapping_add(cfg.ack_delay_ms.min(30_000)) as u16;
                t.flags |= T_ACK;
            }
        }
        let t = &mut self.tcb;
        if seg.has(F::FIN) && t.rcv_nxt == fin_seq {
            t.rcv_nxt = t.rcv_nxt.wrapping_add(1);
            t.flags |= ACK_NOW;
            match t.state {
                State::Established => t.state = State::CloseWait,
                State::FinWait1 => t.state = State::Closing,
                State::FinWait2 => {
                    t.state = State::TimeWait;
                    self.arm_time_wait(now, cfg);
                }
                _ => {}
            }
        }
    }

    /// Earliest timer deadline in ms, if any timer is armed.
    pub(crate) fn deadline(&self, now: u32) -> Option<u32> {
        let t = &self.tcb;
        let a = (t.flags & T_RTX != 0).then_some(t.t_rtx);
        let b = (t.flags & T_ACK != 0)
            .then(|| now.wrapping_add(t.t_ack.wrapping_sub(now as u16) as i16 as u32));
        match (a, b) {
            (Some(a), Some(b)) => Some(if lt(a, b) { a } else { b }),
            (x, y) => x.or(y),
        }
    }

    /// Runs expired timers (RFC 6298 §5.4–5.7, RFC 9293 §3.8.6.1 persist, §3.8.4 keepalive).
    // Out of line: smaller flash on Cortex-M (size/measure.sh).
    #[inline(never)]
    pub(crate) fn on_timer(&mut self, now: u32, cfg: &TcpConfig) {
        let t = &mut self.tcb;
        if t.flags & T_ACK != 0 && (now as u16).wrapping_sub(t.t_ack) as i16 >= 0 {
            t.flags = (t.flags & !T_ACK) | ACK_NOW;
        }
        if t.flags & T_RTX == 0 || !due(now, t.t_rtx) {
            return;
        }
        t.flags &= !T_RTX;
        if t.state == State::TimeWait {
            self.set_closed(0);
            return;
        }
        if t.flags & TLP_ARMED != 0 && t.snd_max != t.snd_una {
            // Tail-loss probe (RFC 8985 §7.2-7.3 timing): no back-off, no window reduction;
            // the RTO follows if the probe does not help. Deliberate deviation from §7.3:
            // the probe resends the first unacknowledged segment, not new data or the last
            // segment. That needs no search for the last segment's boundaries in the send
            // buffer (flash this crate is sized against), repairs a lost SND.UNA directly,
            // and otherwise still draws an ACK whose SACK blocks start recovery; the cost is
            // a probe that may duplicate data the peer already holds.
            t.flags = (t.flags & !TLP_ARMED) | TLP_NOW;
            self.arm_rto(now);
            return;
        }
        if t.retries >= cfg.max_retries {
            self.set_closed(TIMED_OUT);
            return;
        }
        t.retries += 1;
        let mss = u32::from(t.mss);
        if t.snd_max != t.snd_una {
            // Retransmission timeout: back off, collapse the window, go back to SND.UNA.
            if t.retries == 1 {
                self.reduce_ssthresh();
            }
            let t = &mut self.tcb;
            t.cwnd = mss;
            t.snd_nxt = t.snd_una;
            t.rtx_next = t.snd_una;
            t.recover = t.snd_max; // RFC 6582 §3.2 step 1 after a timeout
            t.flags &= !(RECOVERY | RTT | RTX_HOLE);
            t.sack = [(0, 0); MAX_SACK];
            t.dupacks = 0;
            if t.snd_wnd == 0 {
                // The outstanding byte was a zero-window probe: probe again.
                t.flags |= PROBE;
            }
            self.back_off(cfg);
            self.arm_rto(now);
        } else if !self.tx.is_empty() && t.snd_wnd == 0 || t.flags & KEEPALIVE != 0 {
            // Persist (zero-window probe) or keepalive probe.
            t.flags |= PROBE;
            if t.snd_wnd == 0 && !self.tx.is_empty() {
                self.back_off(cfg);
                self.arm_rto(now);
            } else {
                // RFC 1122 §4.2.3.6: ≥ 75 s between keepalives without a reply.
                self.arm_rtx(now, 75_000);
            }
        } else {
            t.retries = 0;
        }
    }

    /// Decides the next segment to send, if any, and updates send state as if it was sent.
    /// Writes the header fields into `r`, which holds no options or payload on entry (the
    /// caller's buffer: a segment description is not copied around). When it returns `None`
    /// it has set no option in `r`.
    // Out of line: smaller flash on Cortex-M (size/measure.sh).
    #[inline(never)]
    pub(crate) fn dispatch(
        &mut self,
        now: u32,
        cfg: &TcpConfig,
        r: &mut TcpRepr<'static>,
    ) -> Option<Plan> {
        let rcv_wnd = self.rcv_wnd();
        let txlen = self.tx.len() as u32;
        let t = &mut self.tcb;
        r.src_port = t.local_port;
        r.dst_port = t.remote_port;
        r.ack = t.rcv_nxt;
        r.flags = F::ACK;
        let ts = t.flags & TS != 0;
        let mut plan = Plan {
            data_off: 0,
            data_len: 0,
        };
        match t.state {
            State::Closed | State::Listen => return None,
            State::SynSent | State::SynReceived => {
                if t.snd_nxt == t.snd_una {
                    r.flags = if t.state == State::SynSent {
                        F::SYN
                    } else {
                        F::SYN | F::ACK
                    };
                    r.seq = t.snd_una;
                    r.mss = Some(cfg.mss);
                    // RFC 7323 §2.2: send WS on a SYN-ACK only if the SYN had it.
                    if t.state == State::SynSent || t.flags & WS != 0 {
                        r.wscale = Some(t.rcv_shift);
                    }
                    r.sack_permitted = t.flags & SACK != 0;
                    t.snd_nxt = t.snd_una.wrapping_add(1);
                    t.snd_max = max(t.snd_max, t.snd_nxt);
                    if t.flags & T_RTX == 0 {
                        self.arm_rto(now);
                    }
                    let t = &mut self.tcb;
                    if t.flags & SAMPLED == 0 && t.retries == 0 {
                        t.rtt_start = now as u16;
                        t.rtt_seq = t.snd_una;
                        t.flags |= RTT;
                    }
                } else if t.state == State::SynReceived && t.flags & ACK_NOW != 0 {
                    r.seq = t.snd_nxt;
                } else {
                    return None;
                }
            }
            State::TimeWait => {
                if t.flags & ACK_NOW == 0 {
                    return None;
                }
                r.seq = t.snd_nxt;
            }
            _ => {
                let una = t.snd_una;
                let probe = t.flags & PROBE != 0;
                t.flags &= !PROBE;
                if let Some((seq, len, fin)) = self.next_segment(now, txlen, probe) {
                    plan = self.finish(now, cfg, r, seq, len, fin, ts);
                } else if probe && self.tcb.flags & KEEPALIVE != 0 && txlen == 0 {
                    // Keepalive: SEG.SEQ = SND.NXT − 1 (RFC 9293 §3.8.4).
                    r.seq = una.wrapping_sub(1);
                } else {
                    // Window update after the application freed space (RFC 9293 §3.8.6.2.2).
                    let t = &mut self.tcb;
                    let new_edge = t.rcv_nxt.wrapping_add(rcv_wnd);
                    if gt(new_edge, t.rcv_adv)
                        && new_edge.wrapping_sub(t.rcv_adv)
                            >= (self.rx.capacity() as u32 / 2).min(2 * u32::from(cfg.mss))
                    {
                        t.flags |= ACK_NOW;
                    }
                    if t.flags & ACK_NOW == 0 {
                        return None;
                    }
                    r.seq = t.snd_nxt;
                }
            }
        }
        self.finish_ctl(r, ts, now, rcv_wnd);
        Some(plan)
    }

    /// The next segment occupying sequence space in a synchronised state, as (SEQ, data
    /// length, FIN): a tail-loss probe, else a SACK hole in recovery, else new (or, after a
    /// timeout, resent) data within the windows, Nagle and SWS avoidance permitting.
    #[inline(never)] // smaller flash (size/measure.sh)
    fn next_segment(&mut self, now: u32, txlen: u32, probe: bool) -> Option<(u32, u32, bool)> {
        let t = &mut self.tcb;
        let mss = eff_mss(t);
        let una = t.snd_una;
        let fin_pending = t.flags & CLOSE != 0
            && matches!(t.state, State::FinWait1 | State::Closing | State::LastAck);
        let fin_seq = una.wrapping_add(txlen);
        if t.flags & TLP_NOW != 0 {
            t.flags &= !TLP_NOW;
            let len = txlen.min(mss);
            let fin = fin_pending && len == txlen;
            if lt(una, t.snd_max) && (len > 0 || fin) {
                return Some((una, len, fin));
            }
        }
        if t.flags & RTX_HOLE != 0 && t.flags & RECOVERY != 0 {
            // SACK-steered retransmission of the next hole (RFC 6675 §5 NextSeg "lite").
            t.flags &= !RTX_HOLE;
            let mut s = max(t.rtx_next, una);
            while let Some(end) = self.sacked_at(s) {
                s = end;
            }
            let t = &self.tcb;
            let limit = t
                .sack
                .iter()
                .filter(|b| b.0 != b.1 && gt(b.0, s))
                .fold(t.snd_max, |m, b| if lt(b.0, m) { b.0 } else { m });
            let len = limit.wrapping_sub(s).min(mss).min(fin_seq.wrapping_sub(s));
            // A hole lies below the highest SACKed byte; above it data is merely in flight.
            // SND.UNA itself is always fair game (fast retransmit, partial ACK).
            let high = self.highest_sacked();
            let t = &mut self.tcb;
            if lt(s, t.snd_max)
                && (s == una || lt(s, high))
                && (len > 0 || (fin_pending && s == fin_seq))
            {
                let fin = fin_pending && s.wrapping_add(len) == fin_seq;
                t.rtx_next = s.wrapping_add(len + u32::from(fin));
                // During recovery RTT_SEQ marks SND.MAX at the latest retransmission, for
                // lost-retransmission detection in `process_ack`.
                t.rtt_seq = t.snd_max;
                return Some((s, len, fin));
            }
        }
        let t = &self.tcb;
        let seq = t.snd_nxt;
        let off = seq.wrapping_sub(una);
        let avail = txlen.saturating_sub(off);
        let wnd_end = una.wrapping_add(t.snd_wnd);
        let wnd_room = if lt(seq, wnd_end) {
            wnd_end.wrapping_sub(seq)
        } else {
            0
        };
        // RFC 3042 limited transmit: each of the first two duplicate ACKs lets one new
        // segment out beyond the congestion window.
        let lt_extra = if t.flags & RECOVERY == 0 && seq == t.snd_max {
            u32::from(t.dupacks.min(2)) * mss
        } else {
            0
        };
        let cwnd_room = t.cwnd.saturating_add(lt_extra).saturating_sub(off);
        let mut len = avail.min(wnd_room).min(cwnd_room).min(mss);
        // Sender SWS avoidance: no runt segment just because the congestion window's byte
        // count is not a multiple of the segment size.
        if len < mss && len < avail && len == cwnd_room && off > 0 {
            len = 0;
        }
        if probe && t.snd_wnd == 0 && avail > 0 && seq == una {
            // Zero-window probe: one byte beyond the window (RFC 9293 §3.8.6.1).
            len = 1;
        }
        let all = len == avail;
        let fin = fin_pending && all && seq.wrapping_add(len) == fin_seq;
        // Nagle (RFC 9293 §3.7.4) and sender SWS avoidance: hold a small new segment while
        // data is unacknowledged.
        if len > 0
            && len < mss
            && !fin
            && una != t.snd_max
            && !lt(seq, t.snd_max)
            && (t.flags & NODELAY == 0 || !all)
            && !probe
        {
            len = 0;
        }
        if len > 0 || fin {
            return Some((seq, len, fin));
        }
        if avail > 0 && t.snd_wnd == 0 && una == t.snd_max && t.flags & T_RTX == 0 {
            // Persist timer (RFC 9293 §3.8.6.1).
            self.arm_rto(now);
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        now: u32,
        cfg: &TcpConfig,
        r: &mut TcpRepr<'static>,
        seq: u32,
        len: u32,
        fin: bool,
        ts: bool,
    ) -> Plan {
        let t = &mut self.tcb;
        r.seq = seq;
        if fin {
            r.flags |= F::FIN;
        }
        if len > 0 {
            r.flags |= F::PSH;
        }
        let end = seq.wrapping_add(len + u32::from(fin));
        let new_data = !lt(seq, t.snd_max);
        if lt(seq, t.snd_max) {
            // A retransmission: Karn's algorithm forbids timing it (RFC 6298 §3).
            if t.flags & RTT != 0 && le(seq, t.rtt_seq) {
                t.flags &= !RTT;
            }
        }
        if ge(seq, t.snd_nxt) || lt(t.snd_nxt, end) {
            t.snd_nxt = max(t.snd_nxt, end);
        }
        if gt(end, t.snd_max) {
            t.snd_max = end;
        }
        if new_data && t.flags & (RTT | RECOVERY) == 0 && !ts {
            t.rtt_seq = seq;
            t.rtt_start = now as u16;
            t.flags |= RTT;
        }
        // RFC 8985 §7.2: (re)start the probe timer after new data; otherwise start the RTO
        // only if it is not running (RFC 6298 §5.1).
        if t.flags & T_RTX == 0
            || (new_data && t.flags & TLP_ARMED != 0)
            || (new_data && self.pto(cfg).is_some())
        {
            self.arm_data_timer(now, cfg);
        }
        let data_off = seq.wrapping_sub(self.tcb.snd_una) as usize;
        Plan {
            data_off,
            data_len: len as usize,
        }
    }

    /// Fills the window, timestamp and SACK fields. `r` holds the flags and the ACK number
    /// (RCV.NXT) already; a SYN-SENT segment is a SYN without ACK, its ACK field zero.
    fn finish_ctl(&mut self, r: &mut TcpRepr<'static>, ts: bool, now: u32, rcv_wnd: u32) {
        let t = &mut self.tcb;
        let is_syn = r.has(F::SYN);
        if t.state == State::SynSent {
            r.ack = 0;
            r.timestamp = Some((now, 0));
        } else if ts {
            r.timestamp = Some((now, t.ts_recent));
        }
        // RFC 7323 §2.2: the window in a SYN or SYN-ACK is not scaled.
        let shift = if is_syn { 0 } else { t.rcv_shift };
        let w = (rcv_wnd >> shift).min(0xffff);
        r.window = w as u16;
        let edge = t.rcv_nxt.wrapping_add(w << shift);
        if gt(edge, t.rcv_adv) {
            t.rcv_adv = edge;
        }
        if t.flags & SACK != 0 && !is_syn {
            for (slot, &b) in r.sack.iter_mut().zip(t.ooo.iter().filter(|b| b.0 != b.1)) {
                *slot = b;
                r.sack_len += 1;
            }
        }
        t.flags &= !(ACK_NOW | T_ACK);
        t.segs_unacked &= !3;
    }

    pub(crate) fn tx_read(&self, off: usize, out: &mut [u8]) -> usize {
        self.tx.read_at(off, out)
    }
}

// The per-connection state without buffer storage fits 160 bytes on 32-bit targets: the TCB
// plus two ring descriptors (slice pointer and length, head, length). Checked at compile
// time by every 32-bit build (thumbv6m, thumbv7em) and by the unit test below on any host.
// The `cubic` feature adds its 16 bytes of state on top.
#[cfg(all(target_pointer_width = "32", not(feature = "cubic")))]
const _: () = assert!(core::mem::size_of::<TcpSocket<'static>>() <= 160);

#[cfg(all(test, not(feature = "cubic")))]
mod tests {
    use super::*;

    #[test]
    fn per_connection_state_is_at_most_160_bytes_on_32_bit() {
        // The TCB holds no pointers, so its size is the same on every target with 4-byte
        // alignment of u32; a ring descriptor is 8 + 4 + 4 bytes on a 32-bit target.
        let tcb = core::mem::size_of::<Tcb>();
        assert_eq!(core::mem::align_of::<Tcb>(), 4);
        assert!(tcb + 2 * 16 <= 160, "TCB is {tcb} bytes");
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for TcpSocket<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        let t = &self.tcb;
        defmt::write!(
            f,
            "TcpSocket {{ {} {}:{} -> {}, snd_una {}, snd_nxt {}, rcv_nxt {}, cwnd {}, rx {}, tx {} }}",
            t.state,
            t.remote_ip,
            t.remote_port,
            t.local_port,
            t.snd_una,
            t.snd_nxt,
            t.rcv_nxt,
            t.cwnd,
            self.rx.len(),
            self.tx.len()
        )
    }
}
