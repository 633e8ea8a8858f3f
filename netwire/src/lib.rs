#![no_std]
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#[cfg(any(test, feature = "std"))]
extern crate std;

mod error;
#[cfg(test)]
#[path = "../tests/fixtures/frames.rs"]
mod frames;
mod view;

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod flow;
pub mod icmpv4;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod toeplitz;
pub mod udp;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use checksum::{ChecksumCapabilities, ChecksumMode};
pub use error::{Error, Result};
pub use ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr, VlanTci};
pub use flow::{FlowKey, Fragment};
pub use icmpv4::{Icmpv4DstUnreachable, Icmpv4Message, Icmpv4Packet, Icmpv4Repr};
pub use ip::IpProtocol;
pub use ipv4::{Ipv4Flags, Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use tcp::{SackBlock, SeqNumber, TcpFlags, TcpOption, TcpPacket, TcpRepr};
pub use toeplitz::ToeplitzKey;
pub use udp::{UdpPacket, UdpRepr};
