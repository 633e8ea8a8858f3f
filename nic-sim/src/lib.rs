#![doc = include_str!("../README.md")]

pub mod dma;
pub mod link;
pub mod pcap;
mod rng;
pub mod softnic;

pub use dma::{DmaFault, SimDma};
