//! The demultiplexing table: many (priority, flow rule or program →
//! endpoint) entries whose answer is exactly that of evaluating them in
//! priority order and taking the first match — with flow rules merged into
//! hashed lookups (after MPF, PathFinder and DPF), so thousands of connection
//! rules cost one hash probe per packet.
//!
//! Flow rules are grouped by *shape*: which fields they constrain and with
//! what prefix lengths. Each shape is one lookup keyed on the masked fields,
//! in one open-addressing hash table shared by all shapes. Shapes and
//! programs are visited in order of the best precedence they hold; once a
//! match is found, every group that cannot beat it is skipped.

use core::net::IpAddr;

use nic_traits::FlowRule;

use crate::Error;
use crate::fields::{Packet, have};
use crate::vm::VerifiedProgram;

/// A receiving endpoint (a queue, an application channel).
pub type Endpoint = u16;

/// Names one installation of an entry: the entry's index and its insertion
/// number, unique per table. A handle whose entry was removed names nothing,
/// even after its index is reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EntryHandle {
    index: u32,
    seq: u64,
}

/// Installations a table accepts over its life, one insertion number each:
/// the low 48 bits of an entry's precedence hold `SEQ_LIMIT - seq`, so an
/// earlier entry always ranks above a later one of equal priority and no
/// precedence is 0 (0 marks an unused shape). At a million installations a
/// second that lasts about nine years; past it, adding says [`Error::Full`].
const SEQ_LIMIT: u64 = (1 << 48) - 1;

/// Most distinct rule shapes a table holds.
pub const MAX_SHAPES: usize = 32;

/// TCP SYN and ACK bits (RFC 9293 §3.1).
const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;

// Field bits of a shape.
const F_ETHERTYPE: u8 = 1;
const F_PROTO: u8 = 2;
const F_SRC: u8 = 4;
const F_DST: u8 = 8;
const F_SPORT: u8 = 16;
const F_DPORT: u8 = 32;
const F_SYN: u8 = 64;
const F_V6: u8 = 128;

/// Which fields a rule constrains, how, and for addresses with what prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Shape {
    fields: u8,
    src_len: u8,
    dst_len: u8,
}

/// The masked fields a rule asks for; compared whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Key {
    /// EtherType, protocol, ports: `ethertype << 48 | proto << 40 | sport << 16 | dport`.
    small: u64,
    src: [u32; 4],
    dst: [u32; 4],
}

/// What a shape keeps of a packet: presence needed, masks to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Masks {
    need: u8,
    v6: bool,
    syn: bool,
    small: u64,
    src: [u32; 4],
    dst: [u32; 4],
}

fn words(v: u128) -> [u32; 4] {
    [
        (v >> 96) as u32,
        (v >> 64) as u32,
        (v >> 32) as u32,
        v as u32,
    ]
}

/// IPv4 addresses sit in word 0, as in [`Packet`].
fn addr_words(v6: bool, bits: u128) -> [u32; 4] {
    if v6 {
        words(bits)
    } else {
        [bits as u32, 0, 0, 0]
    }
}

fn addr_bits(a: IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(v) => (false, u128::from(u32::from(v))),
        IpAddr::V6(v) => (true, u128::from(v)),
    }
}

fn mask(v6: bool, len: u8) -> u128 {
    let width: u32 = if v6 { 128 } else { 32 };
    let len = u32::from(len).min(width);
    if len == 0 {
        0
    } else {
        let ones = u128::MAX >> (128 - width);
        ones & !ones.checked_shr(len).unwrap_or(0)
    }
}

impl Shape {
    /// The shape and masked key of a (valid) rule.
    fn of_rule(rule: &FlowRule) -> Option<(Shape, Key)> {
        let mut s = Shape::default();
        let mut k = Key::default();
        let mut small = |sh: u32, v: u64| k.small |= v << sh;
        match *rule {
            FlowRule::EtherType(t) => {
                s.fields = F_ETHERTYPE;
                small(48, u64::from(t));
            }
            FlowRule::Port {
                protocol,
                port,
                addr,
            } => {
                s.fields = F_PROTO | F_DPORT;
                small(40, u64::from(protocol.number()));
                small(0, u64::from(port));
                if let Some(a) = addr {
                    let (v6, bits) = addr_bits(a);
                    s.fields |= F_DST | if v6 { F_V6 } else { 0 };
                    s.dst_len = if v6 { 128 } else { 32 };
                    k.dst = addr_words(v6, bits);
                }
            }
            FlowRule::TcpConnection { src, dst } => {
                let (v6, sbits) = addr_bits(src.ip());
                let (_, dbits) = addr_bits(dst.ip());
                s.fields = F_PROTO | F_SRC | F_DST | F_SPORT | F_DPORT | if v6 { F_V6 } else { 0 };
                s.src_len = if v6 { 128 } else { 32 };
                s.dst_len = s.src_len;
                small(40, 6);
                small(16, u64::from(src.port()));
                small(0, u64::from(dst.port()));
                k.src = addr_words(v6, sbits);
                k.dst = addr_words(v6, dbits);
            }
            FlowRule::TcpSyn => {
                s.fields = F_PROTO | F_SYN;
                small(40, 6);
            }
            FlowRule::Masked(m) => {
                if let Some(p) = m.protocol {
                    s.fields |= F_PROTO;
                    small(40, u64::from(p.number()));
                }
                if let Some(p) = m.src_port {
                    s.fields |= F_SPORT;
                    small(16, u64::from(p));
                }
                if let Some(p) = m.dst_port {
                    s.fields |= F_DPORT;
                    small(0, u64::from(p));
                }
                if let Some(p) = m.src {
                    let (v6, bits) = addr_bits(p.addr);
                    s.fields |= F_SRC | if v6 { F_V6 } else { 0 };
                    s.src_len = p.len;
                    k.src = addr_words(v6, bits & mask(v6, p.len));
                }
                if let Some(p) = m.dst {
                    let (v6, bits) = addr_bits(p.addr);
                    s.fields |= F_DST | if v6 { F_V6 } else { 0 };
                    s.dst_len = p.len;
                    k.dst = addr_words(v6, bits & mask(v6, p.len));
                }
            }
            _ => return None,
        }
        Some((s, k))
    }

    /// What this shape keeps of a packet.
    fn masks(&self) -> Masks {
        let v6 = self.fields & F_V6 != 0;
        let f = self.fields;
        let mut m = Masks {
            v6,
            syn: f & F_SYN != 0,
            ..Masks::default()
        };
        let mut need = 0;
        if f & F_ETHERTYPE != 0 {
            need |= have::ETHERTYPE;
            m.small |= 0xffff << 48;
        }
        if f & F_PROTO != 0 {
            need |= have::PROTO;
            m.small |= 0xff << 40;
        }
        if f & F_SPORT != 0 {
            need |= have::SPORT;
            m.small |= 0xffff << 16;
        }
        if f & F_DPORT != 0 {
            need |= have::DPORT;
            m.small |= 0xffff;
        }
        if f & F_SYN != 0 {
            need |= have::FLAGS;
        }
        if f & F_SRC != 0 {
            need |= have::SRC;
            m.src = addr_words(v6, mask(v6, self.src_len));
        }
        if f & F_DST != 0 {
            need |= have::DST;
            m.dst = addr_words(v6, mask(v6, self.dst_len));
        }
        m.need = need;
        m
    }
}

impl Masks {
    /// The key a packet presents to this shape, if it has every field.
    #[inline(always)]
    fn key_of(&self, p: &Packet) -> Option<Key> {
        if p.have & self.need != self.need {
            return None;
        }
        if self.need & (have::SRC | have::DST) != 0 && p.v6 != self.v6 {
            return None;
        }
        if self.syn && p.flags & (TCP_SYN | TCP_ACK) != TCP_SYN {
            return None;
        }
        let and = |a: [u32; 4], m: [u32; 4]| [a[0] & m[0], a[1] & m[1], a[2] & m[2], a[3] & m[3]];
        Some(Key {
            small: p.small & self.small,
            src: and(p.src, self.src),
            dst: and(p.dst, self.dst),
        })
    }
}

#[inline(always)]
fn hash(shape: u8, k: &Key) -> u64 {
    // Three independent multiplicative mixes (odd constants from the
    // golden ratio and its neighbours, Knuth TAOCP vol. 3 §6.4), folded.
    let pair = |a: u32, b: u32| (u64::from(a) << 32) | u64::from(b);
    let a = (k.small ^ (u64::from(shape) << 56)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let b = (pair(k.src[0], k.dst[0]) ^ pair(k.src[1], k.dst[1]).rotate_left(17))
        .wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    let c = (pair(k.src[2], k.dst[2]) ^ pair(k.src[3], k.dst[3]).rotate_left(29))
        .wrapping_mul(0x1656_67b1_9e37_79f9);
    let h = a ^ b.rotate_left(21) ^ c.rotate_left(42);
    h ^ (h >> 31)
}

/// What an entry matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Matcher {
    Flow {
        shape: u8,
        key: Key,
    },
    /// `select`: the program's return value is the endpoint.
    Program {
        slot: u16,
        select: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Entry {
    /// Priority in the high 16 bits, then `SEQ_LIMIT - insertion number`:
    /// larger wins.
    prec: u64,
    endpoint: Endpoint,
    matcher: Matcher,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Slot {
    shape: u8,
    key: Key,
    /// The best entry with this shape and key.
    entry: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Group {
    Shape(u8),
    Entry(u32),
}

/// A demultiplexing table in caller-chosen storage: up to `RULES` entries
/// (flow rules and programs together), a hash table of `SLOTS` slots (a
/// power of two, at least `RULES`; twice that keeps probes short), up to
/// `PROGS` programs of up to `PROG_LEN` instructions each.
///
/// Precedence: a higher `priority` wins; among equal priorities the entry
/// installed first wins.
///
/// # Examples
///
/// ```
/// use nic_traits::FlowRule;
/// use swdemux::{DemuxTable, compile_expr};
/// let mut t = DemuxTable::<16, 32, 2, 64>::new();
/// t.add_rule(10, FlowRule::tcp_port(80), 1).unwrap();
/// let udp = compile_expr::<64>("udp", 1).unwrap();
/// t.add_program(5, udp.insns(), 2).unwrap();
/// let mut f = [0u8; 60];
/// f[12] = 0x08;
/// f[14] = 0x45;
/// f[23] = 6;
/// f[36..38].copy_from_slice(&80u16.to_be_bytes());
/// assert_eq!(t.lookup(&f), Some(1));
/// f[23] = 17;
/// assert_eq!(t.lookup(&f), Some(2));
/// ```
#[derive(Debug)]
pub struct DemuxTable<
    const RULES: usize,
    const SLOTS: usize,
    const PROGS: usize,
    const PROG_LEN: usize,
> {
    entries: [Option<Entry>; RULES],
    slots: [Option<Slot>; SLOTS],
    shapes: heapless::Vec<(Shape, Masks, u64), MAX_SHAPES>,
    programs: [Option<VerifiedProgram<PROG_LEN>>; PROGS],
    /// Shapes and program entries by descending best precedence.
    groups: heapless::Vec<(u64, Group), { MAX_SHAPES + 64 }>,
    /// Insertion number of the next entry, below `SEQ_LIMIT`.
    seq: u64,
}

impl<const RULES: usize, const SLOTS: usize, const PROGS: usize, const PROG_LEN: usize> Default
    for DemuxTable<RULES, SLOTS, PROGS, PROG_LEN>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const RULES: usize, const SLOTS: usize, const PROGS: usize, const PROG_LEN: usize>
    DemuxTable<RULES, SLOTS, PROGS, PROG_LEN>
{
    /// An empty table.
    pub fn new() -> Self {
        const { assert!(SLOTS.is_power_of_two() && SLOTS >= RULES && PROGS <= 64) };
        Self {
            entries: [None; RULES],
            slots: [None; SLOTS],
            shapes: heapless::Vec::new(),
            programs: core::array::from_fn(|_| None),
            groups: heapless::Vec::new(),
            seq: 0,
        }
    }

    /// Whether another insertion number is left.
    fn seq_left(&self) -> Result<(), Error> {
        if self.seq < SEQ_LIMIT {
            Ok(())
        } else {
            Err(Error::Full)
        }
    }

    /// The precedence and handle of a new entry at `index`; call after
    /// [`Self::seq_left`].
    fn prec(&mut self, priority: u16, index: usize) -> (u64, EntryHandle) {
        let seq = self.seq;
        let p = (u64::from(priority) << 48) | (SEQ_LIMIT - seq);
        self.seq = self.seq.saturating_add(1).min(SEQ_LIMIT);
        (
            p,
            EntryHandle {
                index: index as u32,
                seq,
            },
        )
    }

    fn free_entry(&self) -> Result<usize, Error> {
        self.entries
            .iter()
            .position(Option::is_none)
            .ok_or(Error::Full)
    }

    /// Installs a flow rule.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRule`] for a rule that fails `FlowRule::validate`,
    /// [`Error::Full`] when entries, hash slots or shapes run out (or after
    /// 2⁴⁸ − 1 installations in this table's life).
    pub fn add_rule(
        &mut self,
        priority: u16,
        rule: FlowRule,
        endpoint: Endpoint,
    ) -> Result<EntryHandle, Error> {
        rule.validate().map_err(|_| Error::InvalidRule)?;
        let (shape, key) = Shape::of_rule(&rule).ok_or(Error::InvalidRule)?;
        self.seq_left()?;
        let idx = self.free_entry()?;
        let used = self.slots.iter().filter(|s| s.is_some()).count();
        if used >= SLOTS {
            return Err(Error::Full);
        }
        // An existing shape, else one no entry uses any more (its slots are
        // all gone), else a new one. Shape ids never change, so hashes stay.
        let in_use = |sid: usize| {
            self.entries
                .iter()
                .flatten()
                .any(|e| matches!(e.matcher, Matcher::Flow { shape, .. } if shape as usize == sid))
        };
        let sid = match self.shapes.iter().position(|(s, _, _)| *s == shape) {
            Some(i) => i,
            None => match (0..self.shapes.len()).find(|&i| !in_use(i)) {
                Some(i) => {
                    if let Some(s) = self.shapes.get_mut(i) {
                        *s = (shape, shape.masks(), 0);
                    }
                    i
                }
                None => {
                    self.shapes
                        .push((shape, shape.masks(), 0))
                        .map_err(|_| Error::Full)?;
                    self.shapes.len() - 1
                }
            },
        };
        let (prec, handle) = self.prec(priority, idx);
        let e = Entry {
            prec,
            endpoint,
            matcher: Matcher::Flow {
                shape: sid as u8,
                key,
            },
        };
        if let Some(slot) = self.entries.get_mut(idx) {
            *slot = Some(e);
        }
        self.index_key(sid as u8, key);
        self.rebuild_groups();
        Ok(handle)
    }

    /// Installs a classic-BPF program (verified here): a frame it returns
    /// non-zero for goes to `endpoint`.
    ///
    /// # Errors
    ///
    /// The verifier's error, or [`Error::Full`].
    pub fn add_program(
        &mut self,
        priority: u16,
        insns: &[crate::Insn],
        endpoint: Endpoint,
    ) -> Result<EntryHandle, Error> {
        self.insert_program(priority, insns, endpoint, false)
    }

    /// Installs a classic-BPF program (verified here) whose return value
    /// selects the endpoint: 0 is no match, 1..=65535 that endpoint, larger
    /// values endpoint 65535 (so tcpdump's "accept", 262144, lands there).
    ///
    /// # Errors
    ///
    /// The verifier's error, or [`Error::Full`].
    ///
    /// # Examples
    ///
    /// ```
    /// use swdemux::{DemuxTable, Program};
    /// let mut t = DemuxTable::<4, 4, 1, 8>::new();
    /// // ldb [0]; ret a: the first byte names the endpoint.
    /// let p = Program::<8>::from_insns(&[(0x30u16, 0u8, 0u8, 0u32), (0x16, 0, 0, 0)]).unwrap();
    /// t.add_program_selecting(0, p.insns()).unwrap();
    /// assert_eq!(t.lookup(&[7, 0, 0]), Some(7));
    /// assert_eq!(t.lookup(&[0, 1, 2]), None);
    /// ```
    pub fn add_program_selecting(
        &mut self,
        priority: u16,
        insns: &[crate::Insn],
    ) -> Result<EntryHandle, Error> {
        self.insert_program(priority, insns, 0, true)
    }

    fn insert_program(
        &mut self,
        priority: u16,
        insns: &[crate::Insn],
        endpoint: Endpoint,
        select: bool,
    ) -> Result<EntryHandle, Error> {
        let prog = VerifiedProgram::<PROG_LEN>::new(insns)?;
        self.seq_left()?;
        let idx = self.free_entry()?;
        let pslot = self
            .programs
            .iter()
            .position(Option::is_none)
            .ok_or(Error::Full)?;
        if self.groups.len() >= self.groups.capacity() {
            return Err(Error::Full);
        }
        if let Some(p) = self.programs.get_mut(pslot) {
            *p = Some(prog);
        }
        let (prec, handle) = self.prec(priority, idx);
        if let Some(slot) = self.entries.get_mut(idx) {
            *slot = Some(Entry {
                prec,
                endpoint,
                matcher: Matcher::Program {
                    slot: pslot as u16,
                    select,
                },
            });
        }
        self.rebuild_groups();
        Ok(handle)
    }

    /// Removes an entry.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for a handle with no entry: never installed
    /// here, already removed, or its index since reused by another entry.
    ///
    /// # Examples
    ///
    /// ```
    /// use nic_traits::FlowRule;
    /// use swdemux::{DemuxTable, Error};
    /// let mut t = DemuxTable::<4, 8, 1, 16>::new();
    /// let old = t.add_rule(1, FlowRule::tcp_port(80), 1).unwrap();
    /// t.remove(old).unwrap();
    /// let new = t.add_rule(1, FlowRule::tcp_port(443), 2).unwrap();
    /// assert_eq!(t.remove(old), Err(Error::NotFound));
    /// assert_eq!(t.len(), 1);
    /// t.remove(new).unwrap();
    /// ```
    pub fn remove(&mut self, h: EntryHandle) -> Result<(), Error> {
        let e = self
            .entries
            .get_mut(h.index as usize)
            .filter(|e| e.is_some_and(|e| e.prec & SEQ_LIMIT == SEQ_LIMIT - h.seq))
            .and_then(Option::take)
            .ok_or(Error::NotFound)?;
        match e.matcher {
            Matcher::Program { slot, .. } => {
                if let Some(p) = self.programs.get_mut(slot as usize) {
                    *p = None;
                }
            }
            Matcher::Flow { shape, key } => {
                self.unindex_key(shape, key);
                self.index_key(shape, key);
            }
        }
        self.rebuild_groups();
        Ok(())
    }

    /// Number of installed entries.
    pub fn len(&self) -> usize {
        self.entries.iter().filter(|e| e.is_some()).count()
    }

    /// Whether no entry is installed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Points the slot of (shape, key) at the best entry with that shape and
    /// key, inserting the slot if absent.
    fn index_key(&mut self, shape: u8, key: Key) {
        let best = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.map(|e| (i, e)))
            .filter(|(_, e)| e.matcher == Matcher::Flow { shape, key })
            .max_by_key(|(_, e)| e.prec);
        let Some((best, _)) = best else { return };
        let m = SLOTS - 1;
        let mut i = hash(shape, &key) as usize & m;
        for _ in 0..SLOTS {
            match self.slots.get_mut(i) {
                Some(Some(s)) if s.shape == shape && s.key == key => {
                    s.entry = best as u32;
                    return;
                }
                Some(slot @ None) => {
                    *slot = Some(Slot {
                        shape,
                        key,
                        entry: best as u32,
                    });
                    return;
                }
                _ => i = (i + 1) & m,
            }
        }
    }

    /// Removes the slot of (shape, key), re-placing the rest of its probe
    /// cluster so linear probing still finds every key.
    fn unindex_key(&mut self, shape: u8, key: Key) {
        let m = SLOTS - 1;
        let mut i = hash(shape, &key) as usize & m;
        let mut found = false;
        for _ in 0..SLOTS {
            match self.slots.get(i).copied().flatten() {
                None => return,
                Some(s) if s.shape == shape && s.key == key => {
                    found = true;
                    break;
                }
                Some(_) => i = (i + 1) & m,
            }
        }
        // A full table walked without finding the key: nothing to remove.
        if !found {
            return;
        }
        if let Some(s) = self.slots.get_mut(i) {
            *s = None;
        }
        let mut j = (i + 1) & m;
        for _ in 0..SLOTS {
            let Some(s) = self.slots.get_mut(j).and_then(Option::take) else {
                return;
            };
            let mut p = hash(s.shape, &s.key) as usize & m;
            while let Some(Some(_)) = self.slots.get(p) {
                p = (p + 1) & m;
            }
            if let Some(slot) = self.slots.get_mut(p) {
                *slot = Some(s);
            }
            j = (j + 1) & m;
        }
    }

    /// Orders shapes and programs by their best precedence. The group list
    /// holds `MAX_SHAPES + 64` and `new` checks `PROGS <= 64`, so every push
    /// fits.
    fn rebuild_groups(&mut self) {
        for (_, _, best) in self.shapes.iter_mut() {
            *best = 0;
        }
        self.groups.clear();
        for (i, e) in self.entries.iter().enumerate() {
            let Some(e) = e else { continue };
            match e.matcher {
                Matcher::Flow { shape, .. } => {
                    if let Some((_, _, best)) = self.shapes.get_mut(shape as usize) {
                        *best = (*best).max(e.prec);
                    }
                }
                Matcher::Program { .. } => {
                    let _ = self.groups.push((e.prec, Group::Entry(i as u32)));
                }
            }
        }
        for (sid, (_, _, best)) in self.shapes.iter().enumerate() {
            // Unused shapes (best 0: no entry) cost nothing per packet.
            if *best != 0 {
                let _ = self.groups.push((*best, Group::Shape(sid as u8)));
            }
        }
        self.groups
            .sort_unstable_by_key(|g| core::cmp::Reverse(g.0));
    }

    /// The endpoint of the best matching entry, or `None`.
    pub fn lookup(&self, frame: &[u8]) -> Option<Endpoint> {
        let pkt = Packet::parse(frame);
        let mut best: Option<Entry> = None;
        for &(gprec, g) in &self.groups {
            if best.is_some_and(|b| b.prec > gprec) {
                break;
            }
            let found = match g {
                Group::Shape(sid) => {
                    let (Some(p), Some((_, masks, _))) =
                        (pkt.as_ref(), self.shapes.get(sid as usize))
                    else {
                        continue;
                    };
                    let Some(key) = masks.key_of(p) else { continue };
                    self.probe(sid, &key)
                }
                Group::Entry(i) => match self.entries.get(i as usize).copied().flatten() {
                    Some(
                        e @ Entry {
                            matcher: Matcher::Program { slot, select },
                            ..
                        },
                    ) => match self.programs.get(slot as usize) {
                        Some(Some(p)) => match p.run(frame) {
                            0 => None,
                            r if select => Some(Entry {
                                endpoint: u16::try_from(r).unwrap_or(Endpoint::MAX),
                                ..e
                            }),
                            _ => Some(e),
                        },
                        _ => None,
                    },
                    _ => None,
                },
            };
            if let Some(e) = found {
                if best.is_none_or(|b| e.prec > b.prec) {
                    best = Some(e);
                }
            }
        }
        best.map(|e| e.endpoint)
    }

    #[inline]
    fn probe(&self, shape: u8, key: &Key) -> Option<Entry> {
        let m = SLOTS - 1;
        let mut i = hash(shape, key) as usize & m;
        for _ in 0..SLOTS {
            match self.slots.get(i)? {
                Some(s) if s.shape == shape && s.key == *key => {
                    return self.entries.get(s.entry as usize).copied().flatten();
                }
                Some(_) => i = (i + 1) & m,
                None => return None,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_frame(dport: u16) -> [u8; 60] {
        let mut f = [0u8; 60];
        f[12] = 0x08;
        f[14] = 0x45;
        f[23] = 6;
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f
    }

    #[test]
    fn stale_handle_does_not_remove_the_entry_now_at_its_index() {
        let mut t = DemuxTable::<4, 8, 1, 16>::new();
        let old = t.add_rule(1, FlowRule::tcp_port(80), 1).unwrap();
        t.remove(old).unwrap();
        let new = t.add_rule(1, FlowRule::tcp_port(443), 2).unwrap();
        assert_eq!(new.index, old.index, "the index is reused");
        assert_eq!(t.remove(old), Err(Error::NotFound));
        assert_eq!(t.lookup(&tcp_frame(443)), Some(2));
        // The same for a program reusing a flow rule's index.
        t.remove(new).unwrap();
        let prog = crate::compile_expr::<16>("tcp", 1).unwrap();
        let p = t.add_program(0, prog.insns(), 3).unwrap();
        assert_eq!(t.remove(new), Err(Error::NotFound));
        assert_eq!(t.lookup(&tcp_frame(443)), Some(3));
        t.remove(p).unwrap();
        assert!(t.is_empty());
    }

    #[test]
    fn unindexing_an_absent_key_from_full_slots_changes_nothing() {
        let mut t = DemuxTable::<2, 2, 1, 16>::new();
        t.add_rule(1, FlowRule::tcp_port(80), 1).unwrap();
        t.add_rule(1, FlowRule::tcp_port(81), 2).unwrap();
        assert!(t.slots.iter().all(Option::is_some));
        let (shape, key) = Shape::of_rule(&FlowRule::tcp_port(82)).unwrap();
        t.unindex_key(0, key);
        assert_eq!(t.shapes.first().map(|s| s.0), Some(shape));
        assert_eq!(t.lookup(&tcp_frame(80)), Some(1));
        assert_eq!(t.lookup(&tcp_frame(81)), Some(2));
    }

    #[test]
    fn ihl_below_five_has_no_ports() {
        let mut t = DemuxTable::<4, 8, 1, 16>::new();
        t.add_rule(1, FlowRule::tcp_port(80), 1).unwrap();
        let mut f = tcp_frame(80);
        assert_eq!(t.lookup(&f), Some(1));
        // IHL 4 would put the "ports" in the destination address: 0.0.0.80.
        f[14] = 0x44;
        f[30..34].copy_from_slice(&[0, 0, 0, 80]);
        assert_eq!(t.lookup(&f), None);
        let ff = crate::flow_fields(&f).unwrap();
        assert_eq!(
            (ff.protocol, ff.src_port, ff.dst_port),
            (Some(6), None, None)
        );
        let p = crate::compile_rule::<64>(&FlowRule::tcp_port(80), 1).unwrap();
        let v = crate::VerifiedProgram::<64>::new(p.insns()).unwrap();
        assert_eq!(v.run(&f), 0);
        f[14] = 0x45;
        assert_eq!(v.run(&f), 1);
        // IHL 0 would read them from the IP header's first word.
        f[14] = 0x40;
        f[16..18].copy_from_slice(&80u16.to_be_bytes());
        assert_eq!(t.lookup(&f), None);
        assert_eq!(v.run(&f), 0);
    }

    #[test]
    fn insertion_numbers_never_wrap() {
        let mut t = DemuxTable::<4, 8, 1, 16>::new();
        let first = t.add_rule(1, FlowRule::tcp_port(80), 1).unwrap();
        t.seq = SEQ_LIMIT - 1;
        // The last insertion number still ranks below the first one.
        let last = t.add_rule(1, FlowRule::tcp_port(80), 2).unwrap();
        assert_eq!(t.lookup(&tcp_frame(80)), Some(1));
        // No number is left: adding is refused and changes nothing.
        assert_eq!(t.add_rule(1, FlowRule::tcp_port(81), 3), Err(Error::Full));
        let prog = crate::compile_expr::<16>("tcp", 1).unwrap();
        assert_eq!(t.add_program(9, prog.insns(), 4), Err(Error::Full));
        assert_eq!(t.len(), 2);
        t.remove(first).unwrap();
        assert_eq!(t.lookup(&tcp_frame(80)), Some(2));
        t.remove(last).unwrap();
        assert!(t.is_empty());
    }
}
