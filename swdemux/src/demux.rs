//! The demultiplexer: the [`DemuxTable`] plus the special classes — ARP to
//! every endpoint that asked for it (or to a control endpoint), a default
//! endpoint for what nothing claimed — and IPv4 fragments.
//!
//! # Fragments
//!
//! Non-first IPv4 fragments carry no ports, so they follow the decision made
//! for their first fragment. Fragments are identified by source,
//! destination, protocol and identification (RFC 791 §3.2). The first
//! fragment (offset 0, MF set) is classified as usual and its decision
//! recorded until `now + timeout` (caller-supplied time, any unit). A later
//! fragment takes the recorded decision, whatever order they arrive in:
//!
//! - a non-first fragment that arrives before its first fragment is
//!   reported as [`FragmentNote::Held`]: the caller keeps the frame (this
//!   crate copies no packet data) and a pending record is kept;
//! - when the first fragment then arrives, its verdict says
//!   [`FragmentNote::Released`]: every frame held under that key now goes to
//!   the same delivery;
//! - [`Demux::expire`] drops records past their time and names every pending
//!   key that expired, so the caller can free the frames it held;
//! - with no room for a record the verdict says [`FragmentNote::TableFull`].
//!   Expired pending records keep their slot until [`Demux::expire`] has
//!   named them, so call it regularly to make room.
//!
//! A pending record ends exactly once: released by its first fragment (even
//! one arriving after the record's time) or named by [`Demux::expire`].
//! Nothing is dropped silently. IPv6 fragments (next header 44) are
//! classified as they are: rules see protocol 44 and no ports.

use crate::fields::{ETH_IPV4, link};
use crate::table::{DemuxTable, Endpoint};

/// EtherType of ARP (RFC 826).
const ETH_ARP: u16 = 0x0806;

/// A set of endpoints 0..64, as a bitmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EndpointSet(pub u64);

impl EndpointSet {
    /// Whether `e` is in the set.
    pub const fn contains(&self, e: Endpoint) -> bool {
        e < 64 && self.0 & (1 << e) != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The members, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = Endpoint> + '_ {
        (0..64u16).filter(|&e| self.contains(e))
    }
}

/// Where a frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Delivery {
    /// To one endpoint.
    One(Endpoint),
    /// To every endpoint of the set (ARP).
    Set(EndpointSet),
    /// Nothing claimed it and there is no default endpoint.
    Unclaimed,
    /// A non-first fragment whose first fragment has not been seen: hold it
    /// (see [`FragmentNote::Held`]).
    Pending,
}

/// A fragment's identity (RFC 791 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FragmentKey {
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
    /// IP protocol.
    pub protocol: u8,
    /// Identification.
    pub id: u16,
}

/// What fragment handling did for a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FragmentNote {
    /// Not an IPv4 fragment.
    NotFragment,
    /// A first fragment; its decision is recorded for the others.
    First,
    /// A later fragment; it follows its first fragment's decision.
    Following,
    /// A later fragment before its first: the caller holds the frame under
    /// this key until [`FragmentNote::Released`] or [`Demux::expire`] names it.
    Held(FragmentKey),
    /// A first fragment for which frames were held: they go to the same
    /// delivery as this one.
    Released(FragmentKey),
    /// No room to record the fragment: a first fragment is delivered as
    /// classified but later ones will be held; a later one is `Pending`
    /// without a record. The caller decides (count and drop, or retry).
    TableFull,
}

/// The result of [`Demux::classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Verdict {
    /// Where the frame goes.
    pub delivery: Delivery,
    /// What fragment handling did.
    pub fragment: FragmentNote,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct FragRecord {
    key: FragmentKey,
    /// `None` while pending (later fragments seen, first not yet).
    decision: Option<Delivery>,
    expires: u64,
}

/// A demultiplexer with a [`DemuxTable`] and `FRAGS` fragment records.
///
/// # Examples
///
/// ```
/// use nic_traits::FlowRule;
/// use swdemux::{Delivery, Demux, FragmentNote};
/// let mut d = Demux::<8, 16, 1, 32, 4>::new(30);
/// d.table_mut().add_rule(1, FlowRule::udp_port(53), 3).unwrap();
/// d.set_default(Some(9));
/// let mut frame = [0u8; 60];
/// frame[12] = 0x08;
/// frame[14] = 0x45;
/// frame[23] = 17;
/// frame[36..38].copy_from_slice(&53u16.to_be_bytes());
/// let v = d.classify(&frame, 0);
/// assert_eq!(v.delivery, Delivery::One(3));
/// assert_eq!(v.fragment, FragmentNote::NotFragment);
/// frame[23] = 6;
/// assert_eq!(d.classify(&frame, 0).delivery, Delivery::One(9));
/// ```
#[derive(Debug)]
pub struct Demux<
    const RULES: usize,
    const SLOTS: usize,
    const PROGS: usize,
    const PROG_LEN: usize,
    const FRAGS: usize,
> {
    table: DemuxTable<RULES, SLOTS, PROGS, PROG_LEN>,
    arp: EndpointSet,
    control: Option<Endpoint>,
    default: Option<Endpoint>,
    frags: [Option<FragRecord>; FRAGS],
    timeout: u64,
}

impl<
    const RULES: usize,
    const SLOTS: usize,
    const PROGS: usize,
    const PROG_LEN: usize,
    const FRAGS: usize,
> Demux<RULES, SLOTS, PROGS, PROG_LEN, FRAGS>
{
    /// A demultiplexer whose fragment records live `frag_timeout` time units.
    pub fn new(frag_timeout: u64) -> Self {
        Self {
            table: DemuxTable::new(),
            arp: EndpointSet(0),
            control: None,
            default: None,
            frags: [None; FRAGS],
            timeout: frag_timeout,
        }
    }

    /// The rule and program table.
    pub fn table(&self) -> &DemuxTable<RULES, SLOTS, PROGS, PROG_LEN> {
        &self.table
    }

    /// The rule and program table, to add or remove entries.
    pub fn table_mut(&mut self) -> &mut DemuxTable<RULES, SLOTS, PROGS, PROG_LEN> {
        &mut self.table
    }

    /// Adds `e` (0..64) to the endpoints that receive every ARP frame.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`](crate::Error::OutOfRange) for an endpoint past
    /// 63 (the subscriber set is a 64-bit map).
    pub fn subscribe_arp(&mut self, e: Endpoint) -> Result<(), crate::Error> {
        if e >= 64 {
            return Err(crate::Error::OutOfRange);
        }
        self.arp.0 |= 1 << e;
        Ok(())
    }

    /// Removes `e` from the ARP subscribers.
    pub fn unsubscribe_arp(&mut self, e: Endpoint) {
        if e < 64 {
            self.arp.0 &= !(1 << e);
        }
    }

    /// The control endpoint: receives ARP when no endpoint subscribed.
    pub fn set_control(&mut self, e: Option<Endpoint>) {
        self.control = e;
    }

    /// The default endpoint: receives what nothing else claimed.
    pub fn set_default(&mut self, e: Option<Endpoint>) {
        self.default = e;
    }

    fn decide(&self, frame: &[u8], ethertype: Option<u16>) -> Delivery {
        if ethertype == Some(ETH_ARP) {
            if !self.arp.is_empty() {
                return Delivery::Set(self.arp);
            }
            if let Some(c) = self.control {
                return Delivery::One(c);
            }
        }
        match self.table.lookup(frame).or(self.default) {
            Some(e) => Delivery::One(e),
            None => Delivery::Unclaimed,
        }
    }

    /// Classifies one received frame at time `now`.
    pub fn classify(&mut self, frame: &[u8], now: u64) -> Verdict {
        let link = link(frame);
        let frag = match link {
            Some((l3, ETH_IPV4)) => fragment_of(frame, l3),
            _ => None,
        };
        let Some((key, first)) = frag else {
            return Verdict {
                delivery: self.decide(frame, link.map(|l| l.1)),
                fragment: FragmentNote::NotFragment,
            };
        };
        // A pending record applies whatever its time: its held frames must be
        // released by this key's first fragment or named by `expire`, once.
        // A decided record applies only until it expires.
        let found = self.frags.iter().position(|r| {
            r.is_some_and(|r| r.key == key && (r.decision.is_none() || r.expires > now))
        });
        if first {
            let delivery = self.decide(frame, Some(ETH_IPV4));
            let rec = FragRecord {
                key,
                decision: Some(delivery),
                expires: now.saturating_add(self.timeout),
            };
            let (slot, note) = match found {
                Some(i) => {
                    let was_pending = self
                        .frags
                        .get(i)
                        .copied()
                        .flatten()
                        .is_some_and(|r| r.decision.is_none());
                    (
                        Some(i),
                        if was_pending {
                            FragmentNote::Released(key)
                        } else {
                            FragmentNote::First
                        },
                    )
                }
                None => (self.free_slot(now), FragmentNote::First),
            };
            let note = match slot.and_then(|i| self.frags.get_mut(i)) {
                Some(s) => {
                    *s = Some(rec);
                    note
                }
                None => FragmentNote::TableFull,
            };
            return Verdict {
                delivery,
                fragment: note,
            };
        }
        match found.and_then(|i| self.frags.get(i).copied().flatten()) {
            Some(FragRecord {
                decision: Some(d), ..
            }) => Verdict {
                delivery: d,
                fragment: FragmentNote::Following,
            },
            Some(_) => Verdict {
                delivery: Delivery::Pending,
                fragment: FragmentNote::Held(key),
            },
            None => {
                let rec = FragRecord {
                    key,
                    decision: None,
                    expires: now.saturating_add(self.timeout),
                };
                match self.free_slot(now).and_then(|i| self.frags.get_mut(i)) {
                    Some(s) => {
                        *s = Some(rec);
                        Verdict {
                            delivery: Delivery::Pending,
                            fragment: FragmentNote::Held(key),
                        }
                    }
                    None => Verdict {
                        delivery: Delivery::Pending,
                        fragment: FragmentNote::TableFull,
                    },
                }
            }
        }
    }

    /// An empty slot, or one whose decided record has expired. A pending
    /// record is never reused here, expired or not: only [`Demux::expire`]
    /// (which names its key) or its first fragment ends it.
    fn free_slot(&self, now: u64) -> Option<usize> {
        self.frags
            .iter()
            .position(|r| r.is_none_or(|r| r.expires <= now && r.decision.is_some()))
    }

    /// Forgets records whose time has come; calls `held` with the key of
    /// every expired *pending* record (frames the caller still holds).
    pub fn expire(&mut self, now: u64, mut held: impl FnMut(FragmentKey)) {
        for r in self.frags.iter_mut() {
            if let Some(rec) = *r {
                if rec.expires <= now {
                    if rec.decision.is_none() {
                        held(rec.key);
                    }
                    *r = None;
                }
            }
        }
    }
}

/// The fragment key and whether this is the first fragment, for an IPv4
/// fragment (RFC 791 §3.1: MF is bit 13 of bytes 6..8, offset the low 13).
fn fragment_of(frame: &[u8], l3: usize) -> Option<(FragmentKey, bool)> {
    let ip = frame.get(l3..l3 + 20)?;
    let ff = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
    let more = ff & 0x2000 != 0;
    let offset = ff & 0x1fff;
    if !more && offset == 0 {
        return None;
    }
    let key = FragmentKey {
        src: ip.get(12..16)?.try_into().ok()?,
        dst: ip.get(16..20)?.try_into().ok()?,
        protocol: *ip.get(9)?,
        id: u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]),
    };
    Some((key, offset == 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nic_traits::FlowRule;

    fn frag(id: u16, offset: u16, more: bool, dport: u16) -> [u8; 60] {
        let mut f = [0u8; 60];
        f[12] = 0x08;
        f[14] = 0x45;
        f[18..20].copy_from_slice(&id.to_be_bytes());
        let ff = offset | if more { 0x2000 } else { 0 };
        f[20..22].copy_from_slice(&ff.to_be_bytes());
        f[23] = 17;
        f[26..30].copy_from_slice(&[10, 0, 0, 2]);
        f[30..34].copy_from_slice(&[10, 0, 0, 1]);
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f
    }

    type D = Demux<8, 16, 1, 32, 2>;

    fn demux() -> D {
        let mut d = D::new(10);
        d.table_mut()
            .add_rule(1, FlowRule::udp_port(53), 3)
            .unwrap();
        d.set_default(Some(9));
        d
    }

    #[test]
    fn later_fragments_follow_the_first_in_order() {
        let mut d = demux();
        let v = d.classify(&frag(7, 0, true, 53), 0);
        assert_eq!(
            v,
            Verdict {
                delivery: Delivery::One(3),
                fragment: FragmentNote::First
            }
        );
        // The later fragment's "port" bytes are payload: ignored.
        let v = d.classify(&frag(7, 185, false, 1), 1);
        assert_eq!(
            v,
            Verdict {
                delivery: Delivery::One(3),
                fragment: FragmentNote::Following
            }
        );
        // Another datagram (other id) has no record.
        let v = d.classify(&frag(8, 185, false, 53), 1);
        assert_eq!(v.delivery, Delivery::Pending);
    }

    #[test]
    fn out_of_order_fragments_are_held_then_released() {
        let mut d = demux();
        let key = FragmentKey {
            src: [10, 0, 0, 2],
            dst: [10, 0, 0, 1],
            protocol: 17,
            id: 7,
        };
        let v = d.classify(&frag(7, 185, false, 0), 0);
        assert_eq!(
            v,
            Verdict {
                delivery: Delivery::Pending,
                fragment: FragmentNote::Held(key)
            }
        );
        let v = d.classify(&frag(7, 370, true, 0), 0);
        assert_eq!(v.fragment, FragmentNote::Held(key));
        let v = d.classify(&frag(7, 0, true, 53), 1);
        assert_eq!(
            v,
            Verdict {
                delivery: Delivery::One(3),
                fragment: FragmentNote::Released(key)
            }
        );
        assert_eq!(
            d.classify(&frag(7, 555, false, 0), 2).delivery,
            Delivery::One(3)
        );
    }

    #[test]
    fn expiry_reports_held_fragments_and_full_table_is_explicit() {
        let mut d = demux();
        d.classify(&frag(1, 185, false, 0), 0);
        d.classify(&frag(2, 0, true, 53), 0);
        // Two records in a table of two: a third datagram has no room.
        assert_eq!(
            d.classify(&frag(3, 185, false, 0), 5).fragment,
            FragmentNote::TableFull
        );
        let v = d.classify(&frag(4, 0, true, 53), 5);
        assert_eq!(
            v,
            Verdict {
                delivery: Delivery::One(3),
                fragment: FragmentNote::TableFull
            }
        );
        let mut expired = std::vec::Vec::new();
        d.expire(10, |k| expired.push(k.id));
        assert_eq!(expired, [1]);
        // Records past their time no longer apply.
        assert_eq!(
            d.classify(&frag(2, 185, false, 0), 11).delivery,
            Delivery::Pending
        );
    }

    #[test]
    fn expired_pending_record_is_not_reused_before_expire_names_it() {
        let mut d = Demux::<8, 16, 1, 32, 1>::new(10);
        d.table_mut()
            .add_rule(1, FlowRule::udp_port(53), 3)
            .unwrap();
        assert!(matches!(
            d.classify(&frag(1, 185, false, 0), 0).fragment,
            FragmentNote::Held(_)
        ));
        // Record 1 is past its time but not yet reported: no room for 2.
        assert_eq!(
            d.classify(&frag(2, 185, false, 0), 20),
            Verdict {
                delivery: Delivery::Pending,
                fragment: FragmentNote::TableFull
            }
        );
        assert_eq!(
            d.classify(&frag(3, 0, true, 53), 20),
            Verdict {
                delivery: Delivery::One(3),
                fragment: FragmentNote::TableFull
            }
        );
        let mut named = std::vec::Vec::new();
        d.expire(20, |k| named.push(k.id));
        assert_eq!(named, [1]);
        named.clear();
        d.expire(1000, |k| named.push(k.id));
        assert!(named.is_empty(), "{named:?}");
        // Now there is room.
        assert!(matches!(
            d.classify(&frag(2, 185, false, 0), 21).fragment,
            FragmentNote::Held(_)
        ));
    }

    #[test]
    fn late_first_fragment_releases_an_expired_pending_record() {
        let mut d = Demux::<8, 16, 1, 32, 1>::new(10);
        d.table_mut()
            .add_rule(1, FlowRule::udp_port(53), 3)
            .unwrap();
        let v = d.classify(&frag(5, 185, false, 0), 0);
        let FragmentNote::Held(key) = v.fragment else {
            panic!("{v:?}")
        };
        // A later fragment of the same datagram joins the pending record.
        assert_eq!(
            d.classify(&frag(5, 370, true, 0), 15).fragment,
            FragmentNote::Held(key)
        );
        let v = d.classify(&frag(5, 0, true, 53), 30);
        assert_eq!(
            v,
            Verdict {
                delivery: Delivery::One(3),
                fragment: FragmentNote::Released(key)
            }
        );
        // Released, so `expire` does not name it again.
        let mut named = std::vec::Vec::new();
        d.expire(1000, |k| named.push(k.id));
        assert!(named.is_empty(), "{named:?}");
    }

    #[test]
    fn arp_goes_to_subscribers_then_control_then_rules() {
        let mut d = demux();
        let mut arp = [0u8; 42];
        arp[12] = 0x08;
        arp[13] = 0x06;
        assert_eq!(d.classify(&arp, 0).delivery, Delivery::One(9));
        d.set_control(Some(0));
        assert_eq!(d.classify(&arp, 0).delivery, Delivery::One(0));
        d.subscribe_arp(4).unwrap();
        d.subscribe_arp(63).unwrap();
        assert_eq!(d.subscribe_arp(64), Err(crate::Error::OutOfRange));
        let v = d.classify(&arp, 0);
        let Delivery::Set(s) = v.delivery else {
            panic!("{v:?}")
        };
        assert_eq!(s.iter().collect::<std::vec::Vec<_>>(), [4, 63]);
        d.set_default(None);
        let mut other = [0u8; 60];
        other[12] = 0x88;
        assert_eq!(d.classify(&other, 0).delivery, Delivery::Unclaimed);
    }
}
