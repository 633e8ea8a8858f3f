//! The interface: Ethernet in and out, ARP, IPv4 input checks, ICMP echo, TCP demultiplexing
//! through a keyed hash table, listeners with bounded SYN queues, and output scheduling.

use crate::siphash::halfsiphash24;
use crate::tcp::{
    ACCEPTED, ChallengeLimiter, GEN, HASHED, IN_USE, Plan, Reply, State, TcpConfig, TcpSocket,
};
#[cfg(feature = "udp")]
use crate::udp::UdpSocket;
use crate::wire::{
    self, ARP_LEN, ArpRepr, ETH_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, EthHdr, IPV4_LEN, Ipv4Error,
    Ipv4Repr, PROTO_ICMP, PROTO_TCP, TcpRepr, flags as F,
};
#[cfg(feature = "udp")]
use crate::wire::{PROTO_UDP, UDP_LEN};
use crate::{Error, Instant};

/// Flag of a passive child not yet accepted (kept beside the TCB's own flags).
const CHILD: u32 = 1 << 17;
/// Hash-table entry states: 0 empty, `TOMB` deleted, otherwise slot + 1.
const TOMB: u16 = 0xffff;
/// Most listeners per interface.
const MAX_LISTENERS: usize = 4;
/// Addresses awaiting ARP resolution at once (the pending-resolution queue).
const MAX_PENDING: usize = 4;
/// Control frames (ARP replies, RSTs) queued at once; more are dropped.
const MAX_CTL: usize = 4;
/// Largest ICMP echo payload answered; larger requests are dropped.
pub const ECHO_MAX: usize = 64;
/// ARP requests per unresolved address before giving up (RFC 1122 §2.3.2.1 flood limit: 1/s).
const ARP_TRIES: u32 = 3;
/// Longest timer setting in ms (see [`Interface::new`]).
const TIMER_MAX: u32 = 1 << 30;

/// A handle to a TCP socket slot of an [`Interface`]: the slot's index and its generation,
/// which [`Interface::release`] advances, so that a released handle no longer reaches the
/// slot (until the 8-bit generation wraps after 256 releases of that slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SocketHandle(u16);

impl SocketHandle {
    /// Index of the slot in the socket array given to [`Interface::new`].
    pub fn index(self) -> usize {
        usize::from(self.0 as u8)
    }
}

/// One ARP cache entry; the cache is a caller-supplied slice of these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ArpEntry {
    ip: [u8; 4],
    mac: [u8; 6],
    expires: u32,
}

/// Which checksums the device computes or verifies itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChecksumOffload {
    /// The device fills IPv4/TCP checksums on transmit: the stack leaves them zero.
    pub tx: bool,
    /// The device has verified checksums on receive: the stack skips verification.
    pub rx: bool,
}

/// Interface configuration.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// Our MAC address.
    pub mac: [u8; 6],
    /// Our IPv4 address.
    pub ip: [u8; 4],
    /// Subnet prefix length; other destinations go through `gateway`.
    pub prefix_len: u8,
    /// Default router.
    pub gateway: Option<[u8; 4]>,
    /// Host secret for initial sequence numbers (first half, RFC 6528 §3) and the
    /// connection table hash (second half);
    /// draw it from a random source at boot.
    pub secret: [u8; 16],
    /// Device checksum offload.
    pub offload: ChecksumOffload,
    /// Lifetime of ARP cache entries in ms.
    pub arp_ttl_ms: u32,
    /// TCP tunables.
    pub tcp: TcpConfig,
}

impl Config {
    /// A configuration with defaults for everything but the addresses and the secret.
    pub fn new(mac: [u8; 6], ip: [u8; 4], prefix_len: u8, secret: [u8; 16]) -> Self {
        Config {
            mac,
            ip,
            prefix_len,
            gateway: None,
            secret,
            offload: ChecksumOffload::default(),
            arp_ttl_ms: 60_000,
            tcp: TcpConfig::default(),
        }
    }
}

/// Counters of what the interface saw and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    /// Frames received.
    pub rx_frames: u32,
    /// Frames dropped as malformed, misaddressed, unsupported or with bad checksums.
    pub rx_dropped: u32,
    /// SYNs refused because a listener's backlog or the socket slots were full.
    pub syn_dropped: u32,
    /// Frames emitted.
    pub tx_frames: u32,
    /// RSTs emitted.
    pub rst_sent: u32,
}

/// An address awaiting ARP resolution. `tries` is a full word so that an entry has no
/// padding byte: a fresh queue is then cleared in place as one block (smaller flash,
/// size/measure.sh).
#[derive(Debug, Clone, Copy, Default)]
struct Pending {
    ip: [u8; 4],
    next_ms: u32,
    tries: u32,
}

/// A queued control frame: an ARP reply to `mac`/`ip`, or a RST with `kind` as its TCP
/// flags. `kind` 0 marks a free entry, so that a fresh queue is all zeros. `kind` is 16 bits
/// wide so that an entry has no padding byte: a fresh queue is then cleared in place as one
/// block instead of built entry by entry and copied (smaller flash, size/measure.sh).
#[derive(Debug, Clone, Copy, Default)]
struct Ctl {
    kind: u16,
    mac: [u8; 6],
    ip: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
}

/// `Ctl::kind` of an ARP reply (no TCP flag combination the queue holds).
const CTL_ARP_REPLY: u16 = 0xff;

/// The echo request waiting for its reply; `len` 0 when none.
#[derive(Debug)]
struct Echo {
    mac: [u8; 6],
    ip: [u8; 4],
    len: u8,
    data: [u8; 8 + ECHO_MAX],
}

/// A network interface with its TCP sockets. All memory comes from the caller.
#[derive(Debug)]
pub struct Interface<'a> {
    cfg: Config,
    sockets: &'a mut [TcpSocket<'a>],
    table: &'a mut [u16],
    arp: &'a mut [ArpEntry],
    #[cfg(feature = "udp")]
    udp: &'a mut [UdpSocket<'a>],
    pending: [Pending; MAX_PENDING],
    ctl: [Ctl; MAX_CTL],
    echo: Echo,
    listeners: [u16; MAX_LISTENERS],
    limiter: ChallengeLimiter,
    ident: u16,
    rr: u16,
    stats: Stats,
}

/// The handle of slot `s` whose flags are `flags`: generation and index.
fn handle(flags: u32, s: usize) -> SocketHandle {
    SocketHandle((flags >> 16) as u16 & 0xff00 | s as u16)
}

fn ms(now: Instant) -> u32 {
    now.millis() as u32
}

impl<'a> Interface<'a> {
    /// An interface over caller-supplied socket slots, connection table and ARP cache.
    ///
    /// `table` is the open-addressing connection table; give it at least twice as many
    /// entries as there are sockets. At most 255 socket slots are used. Timer settings
    /// (`arp_ttl_ms`, `tcp.keepalive_ms`, twice `tcp.msl_ms`) above 2^30 ms (12.4 days) are
    /// cut to that: the wrapping millisecond clock orders deadlines only within 24.8 days.
    pub fn new(
        cfg: Config,
        sockets: &'a mut [TcpSocket<'a>],
        table: &'a mut [u16],
        arp: &'a mut [ArpEntry],
    ) -> Self {
        let n = sockets.len().min(255);
        let sockets = &mut sockets[..n];
        table.fill(0);
        // Deadlines compare on a wrapping 32-bit millisecond clock, so a timer must stay
        // below 2^31 ms (24.8 days): longer settings are cut to 2^30 ms (12.4 days).
        let mut cfg = cfg;
        cfg.arp_ttl_ms = cfg.arp_ttl_ms.min(TIMER_MAX);
        cfg.tcp.keepalive_ms = cfg.tcp.keepalive_ms.min(TIMER_MAX);
        cfg.tcp.msl_ms = cfg.tcp.msl_ms.min(TIMER_MAX / 2);
        Interface {
            cfg,
            sockets,
            table,
            arp,
            #[cfg(feature = "udp")]
            udp: &mut [],
            pending: Default::default(),
            ctl: Default::default(),
            echo: Echo {
                mac: [0; 6],
                ip: [0; 4],
                len: 0,
                data: [0; 8 + ECHO_MAX],
            },
            listeners: [u16::MAX; MAX_LISTENERS],
            limiter: ChallengeLimiter::default(),
            ident: 0,
            rr: 0,
            stats: Stats::default(),
        }
    }

    #[cfg(feature = "udp")]
    /// Adds UDP sockets (bound with [`UdpSocket::bind`] before or after).
    pub fn with_udp(mut self, udp: &'a mut [UdpSocket<'a>]) -> Self {
        self.udp = udp;
        self
    }

    #[cfg(feature = "udp")]
    /// The UDP socket in slot `i` of the slice given to [`with_udp`](Self::with_udp).
    pub fn udp(&mut self, i: usize) -> Option<&mut UdpSocket<'a>> {
        self.udp.get_mut(i)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }
    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }
    /// The socket behind `h`, or `None` if `h` names no slot of this interface (a handle
    /// from another interface with more slots) or was given to [`release`](Self::release).
    pub fn socket(&mut self, h: SocketHandle) -> Option<&mut TcpSocket<'a>> {
        let s = self.slot(h)?;
        self.sockets.get_mut(s)
    }

    /// The slot `h` names, if its generation is current.
    fn slot(&self, h: SocketHandle) -> Option<usize> {
        let s = h.index();
        (self.sockets.get(s)?.tcb.flags >> 24 == u32::from(h.0 >> 8)).then_some(s)
    }

    /// Home entry of a 4-tuple in the connection table; `None` for an empty table.
    fn key_hash(&self, ip: [u8; 4], rport: u16, lport: u16) -> Option<usize> {
        (self.tuple_hash(1, ip, rport, lport) as usize).checked_rem(self.table.len())
    }

    /// HalfSipHash-2-4 of the 4-tuple (local address, local port, remote address, remote
    /// port) keyed with half `i` of the host secret: the ISN function uses the first half,
    /// the connection table the second. One function for both (smaller flash).
    #[inline(never)]
    fn tuple_hash(&self, i: usize, rip: [u8; 4], rport: u16, lport: u16) -> u32 {
        let mut k = [0u8; 8];
        k.copy_from_slice(&self.cfg.secret[8 * i..8 * i + 8]);
        let mut m = [0u8; 12];
        m[..4].copy_from_slice(&self.cfg.ip);
        m[4..6].copy_from_slice(&lport.to_be_bytes());
        m[6..10].copy_from_slice(&rip);
        m[10..12].copy_from_slice(&rport.to_be_bytes());
        halfsiphash24(&k, &m)
    }

    fn find(&self, ip: [u8; 4], rport: u16, lport: u16) -> Option<usize> {
        let n = self.table.len();
        let mut p = self.key_hash(ip, rport, lport)?;
        // Linear probing from the home entry, once round the table.
        for _ in 0..n {
            let e = *self.table.get(p)?;
            p = if p + 1 == n { 0 } else { p + 1 };
            if e == 0 {
                return None;
            }
            if e != TOMB {
                let s = usize::from(e - 1);
                let t = &self.sockets.get(s)?.tcb;
                if t.flags & HASHED != 0
                    && t.remote_ip == ip
                    && t.remote_port == rport
                    && t.local_port == lport
                {
                    return Some(s);
                }
            }
        }
        None
    }

    fn insert(&mut self, s: usize) -> Result<(), Error> {
        let t = &self.sockets.get(s).ok_or(Error::Exhausted)?.tcb;
        let n = self.table.len();
        let mut p = self
            .key_hash(t.remote_ip, t.remote_port, t.local_port)
            .ok_or(Error::Exhausted)?;
        for _ in 0..n {
            let e = self.table.get_mut(p).ok_or(Error::Exhausted)?;
            p = if p + 1 == n { 0 } else { p + 1 };
            if *e == 0 || *e == TOMB {
                *e = s as u16 + 1;
                if let Some(sock) = self.sockets.get_mut(s) {
                    sock.tcb.flags |= HASHED;
                }
                return Ok(());
            }
        }
        Err(Error::Exhausted)
    }

    fn remove(&mut self, s: usize) {
        let n = self.table.len();
        if let Some(p) = self.table.iter().position(|&e| e == s as u16 + 1) {
            self.table[p] = TOMB;
            // Keeps tombstones from piling up: a deleted entry followed by an empty one, and
            // the tombstones before it, become empty (the empty entry ends the walk).
            if self.table[(p + 1) % n] == 0 {
                let mut q = p;
                while self.table[q] == TOMB {
                    self.table[q] = 0;
                    q = (q + n - 1) % n;
                }
            }
        }
        if let Some(sock) = self.sockets.get_mut(s) {
            sock.tcb.flags &= !HASHED;
        }
    }

    /// Bookkeeping after a socket's state may have changed.
    fn sync(&mut self, s: usize) {
        let Some(t) = self.sockets.get(s).map(|s| &s.tcb) else {
            return;
        };
        if t.state != State::Closed {
            return;
        }
        let (hashed, child, parent) = (
            t.flags & HASHED != 0,
            t.flags & CHILD != 0,
            usize::from(t.parent),
        );
        if hashed {
            // A linear search of the table, only when a connection ends.
            self.remove(s);
        }
        if child {
            if let Some(c) = self.sockets.get_mut(s) {
                c.tcb.flags &= !(CHILD | IN_USE);
            }
            if let Some(l) = self.sockets.get_mut(parent) {
                l.tcb.queued = l.tcb.queued.saturating_sub(1);
            }
        }
    }

    fn free_slot(&self) -> Option<usize> {
        self.sockets.iter().position(|s| s.tcb.flags & IN_USE == 0)
    }

    /// RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a
    /// timer ticking every 4 µs (here advanced 250 ticks per millisecond of the stack's
    /// clock: the RFC's rate at millisecond granularity) and F HalfSipHash-2-4 keyed with the
    /// first half of the host secret (a keyed PRF, as §3 asks).
    fn isn(&self, now: Instant, rip: [u8; 4], rport: u16, lport: u16) -> u32 {
        (now.millis() as u32)
            .wrapping_mul(250)
            .wrapping_add(self.tuple_hash(0, rip, rport, lport))
    }

    /// Opens a connection to `remote` from `local_port` (RFC 9293 §3.10.1).
    ///
    /// # Errors
    /// [`Error::Exhausted`] when no slot or table entry is free, [`Error::AddrInUse`] if the
    /// 4-tuple is taken.
    pub fn connect(
        &mut self,
        now: Instant,
        remote: ([u8; 4], u16),
        local_port: u16,
    ) -> Result<SocketHandle, Error> {
        if self.find(remote.0, remote.1, local_port).is_some() {
            return Err(Error::AddrInUse);
        }
        let s = self.free_slot().ok_or(Error::Exhausted)?;
        let iss = self.isn(now, remote.0, remote.1, local_port);
        let sock = &mut self.sockets[s];
        sock.tcb.flags = (sock.tcb.flags & GEN) | IN_USE;
        sock.reset_for(remote.0, remote.1, local_port);
        sock.open_active(&self.cfg.tcp, iss);
        if let Err(e) = self.insert(s) {
            self.sockets[s].tcb.flags &= GEN;
            self.sockets[s].tcb.state = State::Closed;
            return Err(e);
        }
        Ok(handle(self.sockets[s].tcb.flags, s))
    }

    /// Listens on `port` with a SYN queue of at most `backlog` connections not yet accepted.
    ///
    /// # Errors
    /// [`Error::Exhausted`] when no slot or listener entry is free, [`Error::AddrInUse`] if
    /// the port already has a listener.
    pub fn listen(&mut self, port: u16, backlog: u8) -> Result<SocketHandle, Error> {
        if self.listener(port).is_some() {
            return Err(Error::AddrInUse);
        }
        let l = self.listeners.iter().position(|&l| {
            l == u16::MAX
                || self
                    .sockets
                    .get(usize::from(l))
                    .is_none_or(|s| s.tcb.state != State::Listen)
        });
        let l = l.ok_or(Error::Exhausted)?;
        let s = self.free_slot().ok_or(Error::Exhausted)?;
        self.sockets[s].tcb.flags = (self.sockets[s].tcb.flags & GEN) | IN_USE;
        self.sockets[s].listen(port, backlog);
        self.listeners[l] = s as u16;
        Ok(handle(self.sockets[s].tcb.flags, s))
    }

    /// The listener slot for `port`, if any.
    #[inline(never)] // smaller flash (size/measure.sh)
    fn listener(&self, port: u16) -> Option<usize> {
        self.listeners.iter().map(|&l| usize::from(l)).find(|&l| {
            self.sockets
                .get(l)
                .is_some_and(|s| s.tcb.state == State::Listen && s.tcb.local_port == port)
        })
    }

    /// Takes an established connection from a listener's queue.
    pub fn accept(&mut self, listener: SocketHandle) -> Option<SocketHandle> {
        let l = self.slot(listener)?;
        let s = self.sockets.iter().position(|s| {
            s.tcb.flags & (CHILD | IN_USE) == CHILD | IN_USE
                && usize::from(s.tcb.parent) == l
                && s.tcb.state != State::SynReceived
        })?;
        let t = &mut self.sockets[s].tcb;
        t.flags = (t.flags & !CHILD) | ACCEPTED;
        let h = handle(t.flags, s);
        if let Some(ls) = self.sockets.get_mut(l) {
            ls.tcb.queued = ls.tcb.queued.saturating_sub(1);
        }
        Some(h)
    }

    /// Aborts a connection with a RST (RFC 9293 §3.10.5); a stale handle does nothing.
    pub fn abort(&mut self, h: SocketHandle) {
        if let Some(s) = self.slot(h) {
            self.abort_slot(s);
        }
    }

    fn abort_slot(&mut self, s: usize) {
        let Some(sock) = self.sockets.get_mut(s) else {
            return;
        };
        let (ip, rport, lport) = (
            sock.tcb.remote_ip,
            sock.tcb.remote_port,
            sock.tcb.local_port,
        );
        if let Some((seq, ack)) = sock.abort() {
            if let Some(mac) = self.lookup_mac(ip) {
                if let Some(c) = self.push_ctl(u16::from(F::RST | F::ACK), mac, ip) {
                    (c.sport, c.dport, c.seq, c.ack) = (lport, rport, seq, ack);
                }
            }
        }
        self.sync(s);
    }

    /// Returns a slot to the free pool, aborting its connection if still open (and, for a
    /// listener, the connections in its queue not yet accepted). `h` and every copy of it
    /// stop working; a stale handle does nothing.
    #[inline(never)] // smaller flash (size/measure.sh)
    pub fn release(&mut self, h: SocketHandle) {
        let Some(s) = self.slot(h) else {
            return;
        };
        for c in 0..self.sockets.len() {
            let t = &self.sockets[c].tcb;
            if c == s || t.flags & (CHILD | IN_USE) == CHILD | IN_USE && usize::from(t.parent) == s
            {
                self.abort_slot(c);
            }
        }
        let t = &mut self.sockets[s].tcb;
        t.flags = (t.flags & GEN).wrapping_add(1 << 24);
    }

    /// Takes a free control-queue entry for a frame of `kind` to `mac`/`ip` and returns it
    /// for the caller to fill in the rest (in place: no entry is built and copied), or
    /// `None` when the queue is full and the frame is dropped.
    #[inline(never)] // smaller flash (size/measure.sh)
    fn push_ctl(&mut self, kind: u16, mac: [u8; 6], ip: [u8; 4]) -> Option<&mut Ctl> {
        let slot = self.ctl.iter_mut().find(|c| c.kind == 0)?;
        (slot.kind, slot.mac, slot.ip) = (kind, mac, ip);
        Some(slot)
    }

    fn lookup_mac(&self, ip: [u8; 4]) -> Option<[u8; 6]> {
        self.arp
            .iter()
            .find(|e| e.ip == ip && e.ip != [0; 4])
            .map(|e| e.mac)
    }

    fn learn(&mut self, now_ms: u32, ip: [u8; 4], mac: [u8; 6]) {
        if ip == [0; 4] || mac[0] & 1 != 0 {
            return;
        }
        let expires = now_ms.wrapping_add(self.cfg.arp_ttl_ms);
        // Reuse the entry for `ip`, else an empty one, else the one that expired first or
        // expires soonest.
        // One pass: the entry for `ip` ranks first, then empty ones, then by time left.
        // Time left is signed (negative: expired); flipping the sign bit orders it as u32.
        let mut best: Option<(u32, &mut ArpEntry)> = None;
        for e in self.arp.iter_mut() {
            let rank = if e.ip == ip {
                0
            } else if e.ip == [0; 4] {
                1
            } else {
                (e.expires.wrapping_sub(now_ms) ^ 0x8000_0000).max(2)
            };
            if best.as_ref().is_none_or(|b| rank < b.0) {
                best = Some((rank, e));
            }
        }
        if let Some((_, e)) = best {
            *e = ArpEntry { ip, mac, expires };
        }
        for p in self.pending.iter_mut().filter(|p| p.ip == ip) {
            *p = Pending::default();
        }
    }

    fn next_hop(&self, dst: [u8; 4]) -> [u8; 4] {
        let p = u32::from(self.cfg.prefix_len.min(32));
        let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
        let same = u32::from_be_bytes(dst) & mask == u32::from_be_bytes(self.cfg.ip) & mask;
        match self.cfg.gateway {
            Some(g) if !same => g,
            _ => dst,
        }
    }

    /// Resolves the next hop of `dst`; on a miss queues an ARP request (bounded queue).
    fn resolve(&mut self, now_ms: u32, dst: [u8; 4]) -> Option<[u8; 6]> {
        let hop = self.next_hop(dst);
        // An expired entry is not used (RFC 1122 §2.3.2.1 wants a timeout); `learn` refreshes
        // or replaces it.
        if let Some(e) = self.arp.iter().find(|e| e.ip == hop && e.ip != [0; 4]) {
            if !crate::seq::due(now_ms, e.expires) {
                return Some(e.mac);
            }
        }
        if !self.pending.iter().any(|p| p.ip == hop) {
            if let Some(p) = self.pending.iter_mut().find(|p| p.ip == [0; 4]) {
                *p = Pending {
                    ip: hop,
                    next_ms: now_ms,
                    tries: 0,
                };
            }
        }
        None
    }

    /// Feeds one received Ethernet frame.
    ///
    /// # Errors
    /// [`Error::Malformed`], [`Error::Checksum`], [`Error::Fragment`], [`Error::NotForUs`] or
    /// [`Error::Unsupported`] when the frame is dropped; the stack's state is then unchanged
    /// apart from counters.
    pub fn receive(&mut self, now: Instant, frame: &[u8]) -> Result<(), Error> {
        self.stats.rx_frames = self.stats.rx_frames.wrapping_add(1);
        let r = self.receive_inner(now, frame);
        if r.is_err() {
            self.stats.rx_dropped = self.stats.rx_dropped.wrapping_add(1);
        }
        r
    }

    // Out of line: inlined into a caller's poll loop it costs about 500 bytes more flash on
    // Cortex-M at opt-level "s" (measured with size/measure.sh).
    #[inline(never)]
    fn receive_inner(&mut self, now: Instant, frame: &[u8]) -> Result<(), Error> {
        let now_ms = ms(now);
        let eth = EthHdr::parse(frame).ok_or(Error::Malformed)?;
        if eth.dst != self.cfg.mac && eth.dst != [0xff; 6] {
            return Err(Error::NotForUs);
        }
        let body = &frame[ETH_LEN..];
        match eth.ethertype {
            ETHERTYPE_ARP => {
                let a = ArpRepr::parse(body).ok_or(Error::Malformed)?;
                if a.tpa != self.cfg.ip {
                    return Err(Error::NotForUs);
                }
                self.learn(now_ms, a.spa, a.sha);
                if a.op == 1 {
                    self.push_ctl(CTL_ARP_REPLY, a.sha, a.spa);
                }
                Ok(())
            }
            ETHERTYPE_IPV4 => {
                let (ip, hl) =
                    Ipv4Repr::parse(body, !self.cfg.offload.rx).map_err(|e| match e {
                        Ipv4Error::Malformed => Error::Malformed,
                        Ipv4Error::Checksum => Error::Checksum,
                        Ipv4Error::Fragment => Error::Fragment,
                    })?;
                if ip.dst != self.cfg.ip {
                    return Err(Error::NotForUs);
                }
                let payload = body.get(hl..hl + ip.payload_len).ok_or(Error::Malformed)?;
                match ip.proto {
                    PROTO_TCP => self.receive_tcp(now, eth.src, ip.src, payload),
                    PROTO_ICMP => self.receive_icmp(eth.src, ip.src, payload),
                    #[cfg(feature = "udp")]
                    PROTO_UDP => {
                        let verify = (!self.cfg.offload.rx).then_some((ip.src, self.cfg.ip));
                        let (sp, dp, len) =
                            wire::udp_parse(payload, verify).ok_or(Error::Malformed)?;
                        let s = self
                            .udp
                            .iter_mut()
                            .find(|s| s.port() == dp && dp != 0)
                            .ok_or(Error::NotForUs)?;
                        s.deliver((ip.src, sp), &payload[UDP_LEN..len]);
                        Ok(())
                    }
                    _ => Err(Error::Unsupported),
                }
            }
            _ => Err(Error::Unsupported),
        }
    }

    fn receive_icmp(&mut self, mac: [u8; 6], src: [u8; 4], p: &[u8]) -> Result<(), Error> {
        let (ty, _, _) = wire::icmp_echo(p).ok_or(Error::Malformed)?;
        if !self.cfg.offload.rx && wire::fold(wire::sum(0, p)) != 0 {
            return Err(Error::Checksum);
        }
        // RFC 792: answer echo requests; anything else is not ours to handle.
        if ty != 8 || p.len() > 8 + ECHO_MAX {
            return Err(Error::Unsupported);
        }
        let e = &mut self.echo;
        e.data
            .get_mut(..p.len())
            .ok_or(Error::Unsupported)?
            .copy_from_slice(p);
        e.mac = mac;
        e.ip = src;
        e.len = p.len() as u8;
        Ok(())
    }

    fn receive_tcp(
        &mut self,
        now: Instant,
        mac: [u8; 6],
        src: [u8; 4],
        p: &[u8],
    ) -> Result<(), Error> {
        let verify = (!self.cfg.offload.rx).then_some((src, self.cfg.ip));
        let mut seg = TcpRepr::default();
        seg.parse_into(p, verify).ok_or(Error::Malformed)?;
        let now_ms = ms(now);
        if let Some(s) = self.find(src, seg.src_port, seg.dst_port) {
            let reply = self.sockets[s].process(now_ms, &self.cfg.tcp, &mut self.limiter, &seg);
            self.sync(s);
            if reply == Reply::None {
                return Ok(());
            }
        } else {
            if seg.has(F::RST) {
                return Ok(());
            }
            if let Some(l) = self.listener(seg.dst_port) {
                // RFC 9293 §3.10.7.2: in LISTEN an ACK draws a RST (below), a SYN opens a
                // connection, and anything else is dropped.
                if !seg.has(F::ACK) {
                    if seg.has(F::SYN) {
                        return self.spawn_child(now, l, src, &seg);
                    }
                    return Ok(());
                }
            }
        }
        // RFC 9293 §3.10.7.1: a segment for no connection draws a RST; a connection's RST
        // (which always answers an ACK) takes the same form.
        self.send_rst(mac, src, &seg);
        Ok(())
    }

    fn spawn_child(
        &mut self,
        now: Instant,
        l: usize,
        src: [u8; 4],
        seg: &TcpRepr<'_>,
    ) -> Result<(), Error> {
        let lt = &self.sockets[l].tcb;
        // The SYN queue: at most `backlog` children waiting for accept().
        if lt.queued >= lt.parent {
            self.stats.syn_dropped = self.stats.syn_dropped.wrapping_add(1);
            return Ok(());
        }
        let Some(s) = self.free_slot() else {
            self.stats.syn_dropped = self.stats.syn_dropped.wrapping_add(1);
            return Ok(());
        };
        let iss = self.isn(now, src, seg.src_port, seg.dst_port);
        let nodelay_keep = self.sockets[l].tcb.flags;
        let sock = &mut self.sockets[s];
        // `reset_for` keeps only the options, IN_USE and the slot's own generation.
        sock.tcb.flags = (sock.tcb.flags & GEN) | ((nodelay_keep | IN_USE) & !GEN);
        sock.reset_for(src, seg.src_port, seg.dst_port);
        sock.tcb.flags |= CHILD;
        sock.tcb.parent = l as u8;
        sock.open_passive(&self.cfg.tcp, iss, seg, ms(now));
        if self.insert(s).is_err() {
            self.sockets[s].tcb.flags &= GEN;
            self.sockets[s].tcb.state = State::Closed;
            self.stats.syn_dropped = self.stats.syn_dropped.wrapping_add(1);
            return Ok(());
        }
        self.sockets[l].tcb.queued += 1;
        Ok(())
    }

    /// Queues the RST that answers `seg` (RFC 9293 §3.10.7.1): SEQ = SEG.ACK if it carries an
    /// ACK, else SEQ = 0 with ACK = SEG.SEQ + SEG.LEN.
    fn send_rst(&mut self, mac: [u8; 6], ip: [u8; 4], seg: &TcpRepr<'_>) {
        let ackf = seg.has(F::ACK);
        let kind = u16::from(if ackf { F::RST } else { F::RST | F::ACK });
        if let Some(c) = self.push_ctl(kind, mac, ip) {
            (c.sport, c.dport) = (seg.dst_port, seg.src_port);
            (c.seq, c.ack) = if ackf {
                (seg.ack, 0)
            } else {
                (0, seg.seq.wrapping_add(seg.seg_len()))
            };
        }
    }

    /// Writes the next frame to send into `buf` and returns its length, or `None` if
    /// nothing is due. Call until it returns `None` after every `receive` and API call.
    ///
    /// `buf` must hold 94 bytes of headers plus the configured MSS; shorter buffers only
    /// receive control frames.
    pub fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let n = self.transmit_inner(now, buf);
        if n.is_some() {
            self.stats.tx_frames = self.stats.tx_frames.wrapping_add(1);
        }
        n
    }

    fn eth_ip(
        &mut self,
        buf: &mut [u8],
        mac: [u8; 6],
        dst: [u8; 4],
        proto: u8,
        len: usize,
    ) -> Option<()> {
        EthHdr {
            dst: mac,
            src: self.cfg.mac,
            ethertype: ETHERTYPE_IPV4,
        }
        .emit(buf)?;
        self.ident = self.ident.wrapping_add(1);
        Ipv4Repr {
            src: self.cfg.ip,
            dst,
            proto,
            ttl: 64,
            payload_len: len,
        }
        .emit(buf.get_mut(ETH_LEN..)?, self.ident, !self.cfg.offload.tx)
    }

    // Out of line: inlined into a caller's poll loop it costs about 500 bytes more flash on
    // Cortex-M at opt-level "s" (measured with size/measure.sh).
    #[inline(never)]
    fn transmit_inner(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let now_ms = ms(now);
        // One segment description for every TCP output path below; those that find nothing
        // to send leave its options and payload empty.
        let mut r = TcpRepr::default();
        if let Some(slot) = self.ctl.iter_mut().find(|c| c.kind != 0) {
            let c = *slot;
            slot.kind = 0;
            if c.kind == CTL_ARP_REPLY {
                return self.arp_frame(buf, 2, c.mac, c.mac, c.ip);
            }
            r.src_port = c.sport;
            r.dst_port = c.dport;
            r.seq = c.seq;
            r.ack = c.ack;
            r.flags = c.kind as u8;
            let none = Plan {
                data_off: 0,
                data_len: 0,
            };
            let n = self.emit_tcp(buf, c.mac, c.ip, &r, usize::MAX, none)?;
            self.stats.rst_sent = self.stats.rst_sent.wrapping_add(1);
            return Some(n);
        }
        if self.echo.len > 0 {
            let len = usize::from(self.echo.len);
            self.echo.len = 0;
            let (mac, ip) = (self.echo.mac, self.echo.ip);
            self.eth_ip(buf, mac, ip, PROTO_ICMP, len)?;
            let p = buf.get_mut(ETH_LEN + IPV4_LEN..ETH_LEN + IPV4_LEN + len)?;
            p.copy_from_slice(self.echo.data.get(..len)?);
            if let [ty, _, c0, c1, ..] = p {
                *ty = 0; // echo reply
                *c0 = 0;
                *c1 = 0;
            }
            if !self.cfg.offload.tx {
                let c = wire::fold(wire::sum(0, p));
                wire::put_u16(p, 2, c);
            }
            return Some(ETH_LEN + IPV4_LEN + len);
        }
        if let Some(n) = self.arp_request(now_ms, buf) {
            return Some(n);
        }
        #[cfg(feature = "udp")]
        for i in 0..self.udp.len() {
            let Some((len, dst, dport)) = self.udp[i].next_tx() else {
                continue;
            };
            let Some(mac) = self.resolve(now_ms, dst) else {
                continue;
            };
            let total = ETH_LEN + IPV4_LEN + UDP_LEN + len;
            if buf.len() < total {
                // Cannot ever be sent through this buffer: drop it.
                self.udp[i].pop_tx(&mut []);
                continue;
            }
            self.eth_ip(buf, mac, dst, PROTO_UDP, UDP_LEN + len)?;
            let u = &mut buf[ETH_LEN + IPV4_LEN..total];
            self.udp[i].pop_tx(&mut u[UDP_LEN..]);
            let sport = self.udp[i].port();
            let ck = (!self.cfg.offload.tx).then_some((self.cfg.ip, dst));
            wire::udp_emit(u, sport, dport, len, ck);
            return Some(total);
        }
        if buf.len() < ETH_LEN + IPV4_LEN + 60 + usize::from(self.cfg.tcp.mss) {
            return None;
        }
        let n = self.sockets.len();
        for k in 0..n {
            let s = (usize::from(self.rr) + k) % n;
            let cfg = &self.cfg.tcp;
            match self.sockets.get_mut(s) {
                Some(sock) if sock.tcb.flags & IN_USE != 0 => sock.on_timer(now_ms, cfg),
                _ => continue,
            }
            self.sync(s);
            let dst = match self.sockets.get(s) {
                Some(sock) if !matches!(sock.state(), State::Closed | State::Listen) => {
                    sock.tcb.remote_ip
                }
                _ => continue,
            };
            let Some(mac) = self.resolve(now_ms, dst) else {
                continue;
            };
            let Some(plan) = self
                .sockets
                .get_mut(s)
                .and_then(|sock| sock.dispatch(now_ms, &self.cfg.tcp, &mut r))
            else {
                continue;
            };
            self.rr = ((s + 1) % n) as u16;
            return self.emit_tcp(buf, mac, dst, &r, s, plan);
        }
        // Sockets may just have asked for a resolution.
        self.arp_request(now_ms, buf)
    }

    /// Writes an ARP packet from this interface (RFC 826) with operation `op` to `dst`.
    fn arp_frame(
        &self,
        buf: &mut [u8],
        op: u16,
        dst: [u8; 6],
        tha: [u8; 6],
        tpa: [u8; 4],
    ) -> Option<usize> {
        EthHdr {
            dst,
            src: self.cfg.mac,
            ethertype: ETHERTYPE_ARP,
        }
        .emit(buf)?;
        ArpRepr {
            op,
            sha: self.cfg.mac,
            spa: self.cfg.ip,
            tha,
            tpa,
        }
        .emit(buf.get_mut(ETH_LEN..)?)?;
        Some(ETH_LEN + ARP_LEN)
    }

    /// Emits a due ARP request of the pending-resolution queue.
    fn arp_request(&mut self, now_ms: u32, buf: &mut [u8]) -> Option<usize> {
        for i in 0..MAX_PENDING {
            let p = self.pending[i];
            if p.ip != [0; 4] && crate::seq::due(now_ms, p.next_ms) {
                if p.tries >= ARP_TRIES {
                    self.pending[i] = Pending::default();
                    continue;
                }
                self.pending[i].tries += 1;
                self.pending[i].next_ms = now_ms.wrapping_add(1000);
                return self.arp_frame(buf, 1, [0xff; 6], [0; 6], p.ip);
            }
        }
        None
    }

    /// Writes a TCP segment with Ethernet and IPv4 headers: the header fields of `r` (which
    /// carries no payload) and `plan.data_len` bytes from socket `s`'s send buffer, with the
    /// checksum unless offloaded. The one segment writer for data, ACKs and RSTs.
    // Out of line: shared by every TCP output path (smaller flash).
    #[inline(never)]
    fn emit_tcp(
        &mut self,
        buf: &mut [u8],
        mac: [u8; 6],
        dst: [u8; 4],
        r: &TcpRepr<'_>,
        s: usize,
        plan: Plan,
    ) -> Option<usize> {
        let seg = buf.get_mut(ETH_LEN + IPV4_LEN..)?;
        let hl = r.emit_header(seg)?;
        let tl = hl + plan.data_len;
        let seg = seg.get_mut(..tl)?;
        if let (Some(sock), Some(data)) = (self.sockets.get(s), seg.get_mut(hl..)) {
            sock.tx_read(plan.data_off, data);
        }
        if !self.cfg.offload.tx {
            let c = wire::fold(wire::sum(
                wire::pseudo_sum(self.cfg.ip, dst, PROTO_TCP, tl),
                seg,
            ));
            wire::put_u16(seg, 16, c);
        }
        self.eth_ip(buf, mac, dst, PROTO_TCP, tl)?;
        Some(ETH_LEN + IPV4_LEN + tl)
    }

    /// When to call `transmit` next if nothing arrives: the earliest timer, or `now` if
    /// control frames are queued. `None` if no timer is armed.
    pub fn poll_at(&self, now: Instant) -> Option<Instant> {
        if self.ctl.iter().any(|c| c.kind != 0) || self.echo.len > 0 {
            return Some(now);
        }
        let now_ms = ms(now);
        let pend = self
            .pending
            .iter()
            .filter(|p| p.ip != [0; 4])
            .map(|p| p.next_ms);
        let socks = self
            .sockets
            .iter()
            .filter(|s| s.tcb.flags & IN_USE != 0)
            .filter_map(|s| s.deadline(now_ms));
        let d = pend
            .chain(socks)
            .map(|d| d.wrapping_sub(now_ms) as i32)
            .min()?;
        Some(if d <= 0 {
            now
        } else {
            Instant::from_millis(now.millis().saturating_add(d as u64))
        })
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Interface<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "Interface {{ {}, {} sockets, {} }}",
            self.cfg.ip,
            self.sockets.len(),
            self.stats
        )
    }
}
