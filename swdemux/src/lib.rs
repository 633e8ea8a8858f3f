#![no_std]
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#[cfg(any(test, feature = "std"))]
extern crate std;

mod error;
pub mod insn;
mod vm;

pub use error::Error;
pub use insn::{Insn, MAX_INSNS, MEMWORDS, Program};
pub use vm::VerifiedProgram;
