//! Random rule sets (flow rules, and the same rules compiled to classic BPF)
//! with insertions and removals, and random frames: the merged
//! `swdemux::DemuxTable` answers what ordered first-match evaluation of the
//! live entries answers — highest priority first, earlier insertion first
//! among equals — each entry judged by `nic_traits::FlowRule::matches` on
//! the fields `swdemux::flow_fields` extracts. Each compiled rule also
//! agrees with `matches` on its own.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use nic_family_fuzz::frames::{FrameSpec, RuleSpec};
use nic_traits::FlowRule;
use swdemux::{DemuxTable, EntryHandle, VerifiedProgram, compile_rule, flow_fields};

const RULES: usize = 24;
const SLOTS: usize = 32;
const PROGS: usize = 6;
const PROG_LEN: usize = 128;

#[derive(Debug, Arbitrary)]
enum Op {
    /// A flow rule: (priority index, rule, endpoint).
    AddRule(u8, RuleSpec, u16),
    /// The rule compiled to classic BPF, installed as a program.
    AddProgram(u8, RuleSpec, u16),
    /// Remove the `i % live`-th live entry.
    Remove(u8),
    /// Look up a frame.
    Lookup(FrameSpec),
}

struct Live {
    handle: EntryHandle,
    priority: u16,
    seq: u64,
    rule: FlowRule,
    endpoint: u16,
}

fn expected(live: &[Live], frame: &[u8]) -> Option<u16> {
    let fields = flow_fields(frame)?;
    live.iter()
        .filter(|e| e.rule.matches(&fields))
        .max_by_key(|e| (e.priority, core::cmp::Reverse(e.seq)))
        .map(|e| e.endpoint)
}

fuzz_target!(|ops: Vec<Op>| {
    let mut table = DemuxTable::<RULES, SLOTS, PROGS, PROG_LEN>::new();
    let mut live: Vec<Live> = Vec::new();
    let mut seq = 0u64;
    for op in ops.iter().take(64) {
        match op {
            Op::AddRule(prio, spec, ep) | Op::AddProgram(prio, spec, ep) => {
                // Few distinct priorities, so ties (insertion order) matter.
                let priority = u16::from(prio % 4);
                let rule = spec.rule();
                let added = if matches!(op, Op::AddRule(..)) {
                    table.add_rule(priority, rule, *ep)
                } else {
                    match compile_rule::<PROG_LEN>(&rule, 1) {
                        Ok(p) => table.add_program(priority, p.insns(), *ep),
                        Err(e) => Err(e),
                    }
                };
                if let Ok(handle) = added {
                    assert!(rule.validate().is_ok(), "invalid rule accepted: {rule:?}");
                    live.push(Live {
                        handle,
                        priority,
                        seq,
                        rule,
                        endpoint: *ep,
                    });
                    seq += 1;
                } else if rule.validate().is_ok() && live.is_empty() {
                    panic!("a valid rule into an empty table failed: {rule:?} {added:?}");
                }
            }
            Op::Remove(i) => {
                if !live.is_empty() {
                    let e = live.remove(usize::from(*i) % live.len());
                    table.remove(e.handle).expect("live handle removes");
                    assert!(table.remove(e.handle).is_err(), "removed twice");
                }
            }
            Op::Lookup(spec) => {
                let frame = spec.bytes();
                assert_eq!(
                    table.lookup(&frame),
                    expected(&live, &frame),
                    "frame {frame:02x?}"
                );
                // Each live rule on its own, compiled to BPF.
                let fields = flow_fields(&frame);
                for e in &live {
                    let want = fields.is_some_and(|f| e.rule.matches(&f));
                    let p = compile_rule::<PROG_LEN>(&e.rule, 1).expect("valid rule compiles");
                    let v = VerifiedProgram::<PROG_LEN>::new(p.insns()).expect("compiled verifies");
                    assert_eq!(
                        v.run(&frame) != 0,
                        want,
                        "compiled {:?} on {frame:02x?}",
                        e.rule
                    );
                }
            }
        }
    }
    assert_eq!(table.len(), live.len());
});
