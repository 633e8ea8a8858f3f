#![doc = include_str!("../README.md")]

pub mod dma;

pub use dma::{DmaFault, SimDma};
