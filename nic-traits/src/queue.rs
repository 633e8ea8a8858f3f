//! Queue drivers: one per hardware RX/TX queue pair, each owning its rings.
//!
//! A queue driver is `Send` and touches only its own ring memory and ring
//! registers, so it runs on any core or in another protection domain without
//! locks. Batches move in [`Batch`]es: the caller's fixed-capacity FIFO of
//! buffers, so the caller chooses the burst size and no buffer is ever
//! copied or dropped on the way.

use crate::buffer::PacketBuf;
use crate::error::ErrorType;

/// A caller-sized FIFO of packet buffers moved in and out of queue drivers.
pub type Batch<const N: usize> = heapless::Deque<PacketBuf, N>;

/// A driver for one receive/transmit queue pair.
///
/// # Contract
/// - **Nothing is lost or duplicated.** Every buffer given to [`refill`] or
///   [`tx_burst`] comes back exactly once: from [`rx_burst`] (filled), from
///   [`tx_reclaim`] (sent), or from [`release`] (when the queue stops).
/// - **Bursts.** Each call handles as many buffers as fit both the ring and
///   the caller's batch, and tells the device about all of them with one
///   doorbell (tail register write).
/// - **Untrusted device.** A descriptor the device writes that cannot be true
///   (a length larger than the buffer, completion of a slot that was never
///   posted) yields [`ErrorKind::DeviceFault`](crate::ErrorKind::DeviceFault);
///   buffers already moved in that call stay moved, and the faulty buffer is
///   kept by the driver until [`release`].
/// - A queue driver never blocks and never waits on the device.
///
/// [`refill`]: QueueDriver::refill
/// [`tx_burst`]: QueueDriver::tx_burst
/// [`rx_burst`]: QueueDriver::rx_burst
/// [`tx_reclaim`]: QueueDriver::tx_reclaim
/// [`release`]: QueueDriver::release
pub trait QueueDriver: ErrorType + Send {
    /// This queue's index on the card.
    fn index(&self) -> u16;

    /// Moves received frames to the back of `out`, oldest first, until the
    /// ring has no more completed frames or `out` is full. Returns how many.
    fn rx_burst<const N: usize>(&mut self, out: &mut Batch<N>) -> Result<usize, Self::Error>;

    /// Posts free buffers from the front of `bufs` to the receive ring until
    /// the ring is full or `bufs` is empty. Returns how many were posted.
    fn refill<const N: usize>(&mut self, bufs: &mut Batch<N>) -> Result<usize, Self::Error>;

    /// Receive descriptors that could take a buffer now.
    fn rx_free(&self) -> usize;

    /// Queues frames from the front of `bufs` for transmission, in order,
    /// until the ring is full or `bufs` is empty. Returns how many.
    fn tx_burst<const N: usize>(&mut self, bufs: &mut Batch<N>) -> Result<usize, Self::Error>;

    /// Moves buffers whose transmission completed to the back of `done`,
    /// in the order they were queued. Returns how many.
    fn tx_reclaim<const N: usize>(&mut self, done: &mut Batch<N>) -> Result<usize, Self::Error>;

    /// Transmit descriptors that could take a frame now.
    fn tx_free(&self) -> usize;

    /// Enables or disables this queue's interrupt; with it disabled the
    /// queue is driven by polling.
    fn set_interrupt(&mut self, enabled: bool) -> Result<(), Self::Error>;

    /// Takes back every buffer the driver holds (posted receive buffers,
    /// untransmitted or unreclaimed frames), moving them to the back of
    /// `out` until it is full. Call after stopping the queue on the card;
    /// returns how many were moved, and call again while it returns `out`'s
    /// free space.
    fn release<const N: usize>(&mut self, out: &mut Batch<N>) -> usize;
}
