#![no_std]
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#[cfg(any(test, feature = "std"))]
extern crate std;

mod codegen;
pub mod demux;
mod error;
pub mod expr;
pub mod fields;
pub mod insn;
pub mod rulec;
pub mod table;
pub mod vm;

pub use demux::{Delivery, Demux, EndpointSet, FragmentKey, FragmentNote, Verdict};
pub use error::Error;
pub use expr::{PCAP_ACCEPT, compile_expr};
pub use fields::flow_fields;
pub use insn::{Insn, MAX_INSNS, MEMWORDS, Program};
pub use rulec::compile_rule;
pub use table::{DemuxTable, Endpoint, EntryHandle, MAX_SHAPES};
pub use vm::VerifiedProgram;
