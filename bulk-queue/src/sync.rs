//! The atomics the ring is built from: `core`'s, or loom's model of them under `--cfg loom`.
//!
//! The ring needs only atomic loads, stores and fences (no read-modify-write), so it builds for
//! targets without compare-and-swap such as `thumbv6m-none-eabi`.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, Ordering, fence};

#[cfg(all(loom, target_has_atomic = "64"))]
pub(crate) use loom::sync::atomic::AtomicU64;

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU32, Ordering, fence};

#[cfg(all(not(loom), target_has_atomic = "64"))]
pub(crate) use core::sync::atomic::AtomicU64;
