#![doc = include_str!("../README.md")]

pub mod dma;
pub mod i82599;

pub use dma::{DmaFault, SimDma};
