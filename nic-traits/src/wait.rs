//! Bounded waits on hardware.

use embedded_hal::delay::DelayNs;

/// Polls `done` every `poll_us` microseconds until it returns true or
/// `timeout_us` microseconds have passed; `Err(ErrorKind::Timeout)` then.
///
/// The condition is checked once more after the last delay, so a condition
/// that becomes true just at the deadline is not reported as a timeout.
///
/// # Examples
///
/// ```
/// use nic_traits::{wait_for, ErrorKind};
/// struct NoDelay;
/// impl embedded_hal::delay::DelayNs for NoDelay {
///     fn delay_ns(&mut self, _ns: u32) {}
/// }
/// let mut polls = 0;
/// assert_eq!(wait_for(&mut NoDelay, 100, 10, || { polls += 1; polls == 3 }), Ok(()));
/// assert_eq!(wait_for(&mut NoDelay, 100, 10, || false), Err(ErrorKind::Timeout));
/// ```
pub fn wait_for<D: DelayNs + ?Sized>(
    delay: &mut D,
    timeout_us: u32,
    poll_us: u32,
    mut done: impl FnMut() -> bool,
) -> Result<(), crate::ErrorKind> {
    let poll_us = poll_us.max(1);
    let mut waited = 0u32;
    loop {
        if done() {
            return Ok(());
        }
        if waited >= timeout_us {
            return Err(crate::ErrorKind::Timeout);
        }
        let step = poll_us.min(timeout_us - waited);
        delay.delay_us(step);
        waited += step;
    }
}
