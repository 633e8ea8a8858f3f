#![no_std]
#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_op_in_unsafe_fn)]
#[cfg(any(test, feature = "std"))]
extern crate std;

use core::fmt;

#[cfg(not(loom))]
mod bulk;
mod element;
#[cfg(feature = "critical-section")]
mod irq;
pub mod lined;
pub mod ring;
mod shm;
mod sync;

#[cfg(not(loom))]
pub use bulk::{
    AlignedBuf, BulkConsumer, BulkProducer, DESCRIPTOR_SIZE, Geometry, MAGIC, SlotData, VERSION,
    split,
};
pub use element::{Descriptor, Element, Seq};
#[cfg(feature = "critical-section")]
pub use irq::IrqShared;
#[cfg(not(loom))]
pub use shm::{REGION_ALIGN, Region};

/// What can go wrong in a queue operation or when attaching to a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The ring has no free entry.
    Full,
    /// The ring has no entry to pop.
    Empty,
    /// The peer's index is impossible (more than `capacity` away from ours): a corrupt or
    /// hostile peer. Nothing was changed.
    PeerCorrupt,
    /// A descriptor names a pool, slot or byte range outside the pool. It was consumed and
    /// dropped.
    BadDescriptor,
    /// The slot is not owned by this side: it cannot be sent, released, accessed, or received
    /// twice.
    NotOwned,
    /// An index or byte range outside a chunk or slot.
    OutOfRange,
    /// The region is not 128-byte aligned (or is null).
    Misaligned,
    /// The region is smaller than its geometry needs, or the ownership map is too small.
    TooSmall,
    /// The region header does not start with [`MAGIC`].
    BadMagic,
    /// The region header has another layout version than [`VERSION`].
    BadVersion,
    /// The geometry is invalid, or the header's geometry differs from the expected one.
    BadGeometry,
    /// A queue half shared with an interrupt handler is in use (re-entered).
    Busy,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Full => "queue full",
            Error::Empty => "queue empty",
            Error::PeerCorrupt => "peer index out of range (corrupt or hostile peer)",
            Error::BadDescriptor => "descriptor outside the pool",
            Error::NotOwned => "slot not owned by this side",
            Error::OutOfRange => "index or range out of bounds",
            Error::Misaligned => "region not 128-byte aligned",
            Error::TooSmall => "region or ownership map too small",
            Error::BadMagic => "region header has a bad magic number",
            Error::BadVersion => "region header has an unsupported version",
            Error::BadGeometry => "invalid or mismatched queue geometry",
            Error::Busy => "queue half in use",
        })
    }
}

impl core::error::Error for Error {}

#[cfg(all(test, not(loom)))]
mod tests;
