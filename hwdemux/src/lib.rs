#![no_std]
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(test, feature = "std"))]
extern crate std;

mod overlap;
mod planner;
mod ports;
mod software;

pub use overlap::overlaps;
pub use planner::{PlacedRule, Placement, Planner, RuleId};
pub use ports::{EPHEMERAL, Endpoint, PortManager};
pub use software::fill_software_table;

use nic_traits::ErrorKind;

/// Why the planner or port manager refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The rule is inconsistent (mixed address families, bad prefix, port 0).
    InvalidRule,
    /// The planner's or port manager's table is full.
    Full,
    /// No rule or binding by that name.
    NotFound,
    /// The port is bound to another endpoint.
    PortInUse,
    /// Only the endpoint holding a port may release it.
    NotOwner,
    /// The card failed in a way other than lacking room or support.
    Card(ErrorKind),
    /// The software table to fill already holds entries.
    NotEmpty,
    /// The software demultiplexer refused a rule.
    Software(swdemux::Error),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::InvalidRule => f.write_str("invalid flow rule"),
            Self::Full => f.write_str("table full"),
            Self::NotFound => f.write_str("no such rule or binding"),
            Self::PortInUse => f.write_str("port already bound"),
            Self::NotOwner => f.write_str("port bound to another endpoint"),
            Self::Card(k) => write!(f, "card error: {k}"),
            Self::NotEmpty => f.write_str("software table is not empty"),
            Self::Software(e) => write!(f, "software demultiplexer: {e}"),
        }
    }
}

impl core::error::Error for Error {}
