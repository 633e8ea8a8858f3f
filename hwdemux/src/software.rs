//! The software side of placement: the rules the planner keeps in software,
//! installed in a [`swdemux::DemuxTable`] that serves the card's default
//! queue. Hardware steering followed by this table gives the same endpoint
//! as ideal first-match over all rules (the planner's invariant).

use swdemux::DemuxTable;

use crate::{Error, Placement, Planner};

/// Installs every rule the planner keeps in software into `table`, which
/// must be empty; returns how many. A rule's [`FilterAction::queue`]
/// becomes its endpoint in the table.
///
/// Priorities carry over unchanged and rules go in oldest first, so the
/// table's precedence (higher priority, then earlier entry) is the planner's.
/// Rebuild the table whenever [`Planner::add`] or [`Planner::remove`] change
/// placements (an `add` may move hardware rules to software).
///
/// [`FilterAction::queue`]: nic_traits::FilterAction::queue
///
/// # Errors
/// [`Error::NotEmpty`] if `table` holds entries; [`Error::Software`] when
/// the table cannot hold a rule (full, or a rule shape it lacks room for).
pub fn fill_software_table<
    const N: usize,
    const RULES: usize,
    const SLOTS: usize,
    const PROGS: usize,
    const PROG_LEN: usize,
>(
    planner: &Planner<N>,
    table: &mut DemuxTable<RULES, SLOTS, PROGS, PROG_LEN>,
) -> Result<usize, Error> {
    if !table.is_empty() {
        return Err(Error::NotEmpty);
    }
    let mut n = 0;
    for r in planner
        .rules()
        .iter()
        .filter(|r| r.placement == Placement::Software)
    {
        table
            .add_rule(u16::from(r.priority), r.rule, r.action.queue)
            .map_err(Error::Software)?;
        n += 1;
    }
    Ok(n)
}
