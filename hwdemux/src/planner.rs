//! The rule planner: places flow rules in a card's hardware filter classes
//! and keeps the rest for software, so that where a rule lives never changes
//! which endpoint a frame reaches.
//!
//! # Semantics
//! Rules have a priority; a frame belongs to the highest-priority matching
//! rule, the earliest-added one among equals. Hardware cannot always honour
//! that: it applies its classes in a fixed order (82599 datasheet §7.1.2:
//! EtherType → 5-tuple / SYN → Flow Director → RSS) and steers a frame before
//! any software filter sees it. The planner therefore keeps one invariant:
//!
//! > If two rules overlap (some frame matches both) and one of them is in
//! > hardware, then the winner of the two is in hardware too, in a class the
//! > card applies strictly earlier.
//!
//! Under it, hardware steering followed by software first-match on the
//! default queue gives exactly the ideal answer. A rule that cannot be placed
//! without breaking the invariant goes to software, and any hardware rule it
//! must beat is moved to software with it.

use heapless::Vec;
use nic_traits::{
    CardDriver, Error as _, ErrorKind, FilterAction, FilterClass, FilterHandle, FlowRule,
};

use crate::Error;
use crate::overlap::overlaps;

/// Names a rule the planner holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RuleId(pub u32);

/// Where a rule lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Placement {
    /// In a hardware filter.
    Hardware(FilterHandle),
    /// In software: the host's software demultiplexer must hold it, on the
    /// card's default queue.
    Software,
}

/// A rule with its action, priority and placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PlacedRule {
    /// The rule's name.
    pub id: RuleId,
    /// What it matches.
    pub rule: FlowRule,
    /// Where matching frames go.
    pub action: FilterAction,
    /// Higher wins; among equals the earlier rule wins.
    pub priority: u8,
    /// Where it lives now.
    pub placement: Placement,
}

/// The order in which the 82599 applies filter classes (§7.1.2); classes with
/// equal rank have no guaranteed order between them (SYN versus 5-tuple
/// depends on SYNQF.SYNQFP), so the planner treats them as unordered.
fn rank(class: FilterClass) -> u8 {
    match class {
        FilterClass::EtherType => 0,
        FilterClass::FiveTuple | FilterClass::Syn => 1,
        FilterClass::FlowDirectorPerfect => 2,
        FilterClass::FlowDirectorSignature => 3,
        // A class added later: unordered with everything.
        _ => u8::MAX,
    }
}

/// Hardware classes to try for a rule, best first. Signature filters are
/// never used: they match on a hash and would steer colliding frames wrongly.
fn candidates(rule: &FlowRule) -> &'static [FilterClass] {
    use FilterClass::*;
    match rule {
        FlowRule::EtherType(_) => &[EtherType],
        FlowRule::TcpSyn => &[Syn],
        FlowRule::TcpConnection { .. } => &[FiveTuple, FlowDirectorPerfect],
        FlowRule::Port { .. } => &[FlowDirectorPerfect, FiveTuple],
        FlowRule::Masked(_) => &[FiveTuple, FlowDirectorPerfect],
        _ => &[],
    }
}

/// The planner, holding up to `N` rules.
///
/// # Examples
///
/// See the crate documentation.
#[derive(Debug, Default)]
pub struct Planner<const N: usize> {
    rules: Vec<PlacedRule, N>,
    next_id: u32,
}

impl<const N: usize> Planner<N> {
    /// An empty planner.
    pub const fn new() -> Self {
        Self {
            rules: Vec::new(),
            next_id: 0,
        }
    }

    /// The rules held, oldest first.
    pub fn rules(&self) -> &[PlacedRule] {
        &self.rules
    }

    /// The rules in software, in the order a first-match software
    /// demultiplexer must evaluate them (priority, then age).
    pub fn software_rules(&self) -> impl Iterator<Item = &PlacedRule> {
        let mut max = u16::from(u8::MAX) + 1;
        core::iter::from_fn(move || {
            // Highest priority strictly below the last one returned, scanning
            // in age order; O(n · distinct priorities), no allocation.
            let p = self
                .rules
                .iter()
                .filter(|r| r.placement == Placement::Software && u16::from(r.priority) < max)
                .map(|r| r.priority)
                .max()?;
            max = u16::from(p);
            Some(
                self.rules
                    .iter()
                    .filter(move |r| r.placement == Placement::Software && r.priority == p),
            )
        })
        .flatten()
    }

    /// Looks up a rule.
    pub fn get(&self, id: RuleId) -> Option<&PlacedRule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// Whether `a` (at index `ia`) beats `b` (at index `ib`) for a frame both match.
    fn wins(a: &PlacedRule, ia: usize, b: &PlacedRule, ib: usize) -> bool {
        a.priority > b.priority || (a.priority == b.priority && ia < ib)
    }

    /// Whether rule `new` (to be appended last) may sit in `class` without
    /// breaking the invariant.
    fn fits(&self, new: &PlacedRule, class: FilterClass) -> bool {
        let inew = self.rules.len();
        self.rules.iter().enumerate().all(|(i, s)| {
            if !overlaps(&s.rule, &new.rule) {
                return true;
            }
            match s.placement {
                Placement::Hardware(h) if Self::wins(s, i, new, inew) => {
                    rank(h.class) < rank(class)
                }
                Placement::Hardware(h) => rank(class) < rank(h.class),
                // Software rule that beats `new`: hardware would steal its frames.
                Placement::Software => !Self::wins(s, i, new, inew),
            }
        })
    }

    /// Adds a rule, placing it in hardware where the card can hold it and the
    /// invariant allows, else in software (possibly moving hardware rules it
    /// must beat to software too). Returns its name and placement.
    ///
    /// Errors: [`Error::InvalidRule`] for an inconsistent rule,
    /// [`Error::Full`] when the planner holds `N` rules, [`Error::Card`] when
    /// the card fails other than by lacking room or support. On error the
    /// rule is not added.
    pub fn add<C: CardDriver>(
        &mut self,
        card: &mut C,
        rule: FlowRule,
        action: FilterAction,
        priority: u8,
    ) -> Result<(RuleId, Placement), Error> {
        rule.validate().map_err(|_| Error::InvalidRule)?;
        if self.rules.is_full() {
            return Err(Error::Full);
        }
        let id = RuleId(self.next_id);
        let mut new = PlacedRule {
            id,
            rule,
            action,
            priority,
            placement: Placement::Software,
        };
        for &class in candidates(&rule) {
            if card.filter_capacity(class).free() == 0 || !self.fits(&new, class) {
                continue;
            }
            match card.install_filter(class, &rule, action) {
                Ok(handle) => {
                    new.placement = Placement::Hardware(handle);
                    break;
                }
                Err(e) if matches!(e.kind(), ErrorKind::Unsupported | ErrorKind::NoResources) => {
                    continue;
                }
                Err(e) => return Err(Error::Card(e.kind())),
            }
        }
        self.next_id = self.next_id.wrapping_add(1);
        let placement = new.placement;
        // Capacity was checked above.
        let _ = self.rules.push(new);
        if placement == Placement::Software {
            if let Err(e) = self.demote_losers(card) {
                // The card refused to remove a filter it installed, so the
                // new rule cannot be honoured; it is not added. Rules moved
                // to software before the failure stay there (software is
                // always correct for them); the refused filter stays in
                // hardware, which the caller learns from the error.
                self.rules.pop();
                return Err(e);
            }
        }
        Ok((id, placement))
    }

    /// Moves to software every hardware rule that some software rule beats
    /// and overlaps, until none is left (a moved rule may in turn beat others).
    fn demote_losers<C: CardDriver>(&mut self, card: &mut C) -> Result<(), Error> {
        // Each pass moves at least one rule or ends, so at most N + 1 passes.
        loop {
            let mut changed = false;
            for i in 0..self.rules.len() {
                let soft = self.rules[i];
                if soft.placement != Placement::Software {
                    continue;
                }
                for j in 0..self.rules.len() {
                    let hard = self.rules[j];
                    let Placement::Hardware(handle) = hard.placement else {
                        continue;
                    };
                    if Self::wins(&soft, i, &hard, j) && overlaps(&soft.rule, &hard.rule) {
                        card.remove_filter(handle)
                            .map_err(|e| Error::Card(e.kind()))?;
                        self.rules[j].placement = Placement::Software;
                        changed = true;
                    }
                }
            }
            if !changed {
                return Ok(());
            }
        }
    }

    /// Removes a rule (from the card too, if it is in hardware).
    pub fn remove<C: CardDriver>(&mut self, card: &mut C, id: RuleId) -> Result<PlacedRule, Error> {
        let i = self
            .rules
            .iter()
            .position(|r| r.id == id)
            .ok_or(Error::NotFound)?;
        if let Placement::Hardware(h) = self.rules[i].placement {
            card.remove_filter(h).map_err(|e| Error::Card(e.kind()))?;
        }
        Ok(self.rules.remove(i))
    }
}
