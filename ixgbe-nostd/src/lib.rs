#![no_std]
#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod card;
pub mod desc;
pub mod fdir;
pub mod queue;
pub mod regs;

pub use card::{Config, FdirMode, Ixgbe};
pub use nic_traits::ErrorKind as Error;
pub use queue::{IxgbeQueue, TxCompletion, decode_rx_writeback};
