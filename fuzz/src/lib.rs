//! Shared pieces of the fuzz targets: reference models the targets compare
//! the family's crates against.

pub mod bpf_ref;
pub mod frames;
