#![no_std]
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#[cfg(any(test, feature = "std"))]
extern crate std;

mod codegen;
mod error;
mod expr;
pub mod insn;
mod vm;

pub use error::Error;
pub use expr::{PCAP_ACCEPT, compile_expr};
pub use insn::{Insn, MAX_INSNS, MEMWORDS, Program};
pub use vm::VerifiedProgram;
