#![no_std]
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#[cfg(any(test, feature = "std"))]
extern crate std;

#[cfg(feature = "cubic")]
mod cubic;
mod iface;
mod ring;
mod seq;
pub mod siphash;
mod tcp;
#[cfg(feature = "udp")]
mod udp;
pub mod wire;

pub use iface::{ArpEntry, ChecksumOffload, Config, ECHO_MAX, Interface, SocketHandle, Stats};
pub use tcp::{CloseReason, Congestion, State, TcpConfig, TcpSocket};
#[cfg(feature = "udp")]
pub use udp::{UDP_MAX_PAYLOAD, UdpSocket};

/// A point in virtual time, with millisecond resolution, from an arbitrary epoch.
///
/// Milliseconds are the stack's clock: timers are kept in them, and keeping them as the
/// representation spares 32-bit targets a 64-bit division on every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant(u64);

impl Instant {
    /// From microseconds (truncated to the millisecond).
    pub const fn from_micros(us: u64) -> Self {
        Instant(us / 1000)
    }
    /// From milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }
    /// Microseconds since the epoch (a multiple of 1000; saturates at `u64::MAX`).
    pub const fn micros(self) -> u64 {
        self.0.saturating_mul(1000)
    }
    /// Milliseconds since the epoch.
    pub const fn millis(self) -> u64 {
        self.0
    }
}

/// Errors of this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// A frame or header too short or with inconsistent lengths.
    Malformed,
    /// A checksum did not verify.
    Checksum,
    /// An IPv4 fragment: this stack does not reassemble and drops them.
    Fragment,
    /// Addressed to another host or MAC.
    NotForUs,
    /// A protocol or message type this stack does not handle.
    Unsupported,
    /// No free socket slot, listener entry or connection-table entry.
    Exhausted,
    /// The address or 4-tuple is already in use.
    AddrInUse,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::Malformed => "malformed frame",
            Error::Checksum => "bad checksum",
            Error::Fragment => "IPv4 fragment dropped",
            Error::NotForUs => "not addressed to this interface",
            Error::Unsupported => "unsupported protocol or message",
            Error::Exhausted => "no free slot",
            Error::AddrInUse => "address in use",
        })
    }
}

impl core::error::Error for Error {}
