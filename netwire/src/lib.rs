#![no_std]
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#[cfg(any(test, feature = "std"))]
extern crate std;

mod error;
mod view;

pub mod checksum;
pub mod ethernet;
pub mod ip;
pub mod ipv4;
pub mod tcp;

pub use checksum::{ChecksumCapabilities, ChecksumMode};
pub use error::{Error, Result};
pub use ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr, VlanTci};
pub use ip::IpProtocol;
pub use ipv4::{Ipv4Flags, Ipv4Packet, Ipv4Repr};
pub use tcp::{SackBlock, SeqNumber, TcpFlags, TcpOption, TcpPacket, TcpRepr};
