#![no_std]
#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod buffer;
pub mod card;
pub mod dma;
pub mod error;
pub mod flow;
pub mod queue;
pub mod regs;
#[cfg(feature = "testkit")]
pub mod testkit;
mod wait;

pub use buffer::{NoRoom, PacketBuf, RxDecoder, RxFlags, RxMeta, TxFlags, TxMeta};
pub use card::{
    CardDriver, CardEvents, CardInfo, InterruptCauses, LinkSpeed, LinkState, MacAddr, Offloads,
    QueueConfig, RxMode, Stats,
};
pub use dma::{BufferIter, Dma, DmaRegion, PhysAddr};
pub use error::{Error, ErrorKind, ErrorType};
pub use flow::{
    FilterAction, FilterCapacity, FilterClass, FilterHandle, FlowFields, FlowRule, IpPrefix,
    L4Protocol, MaskedTuple, RssConfig, RssHashFields,
};
pub use queue::{Batch, IntoIter as BatchIntoIter, QueueDriver};
pub use regs::{Mmio, RegisterAccess};
pub use wait::wait_for;
