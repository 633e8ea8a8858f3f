#![doc = include_str!("../README.md")]

pub mod dma;
pub mod link;
mod rng;

pub use dma::{DmaFault, SimDma};
