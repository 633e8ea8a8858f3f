//! One queue half shared between a thread and an interrupt handler.

use core::cell::RefCell;

use critical_section::Mutex;

use crate::Error;

/// A queue half (or any value) used both by a thread and by an interrupt handler on the same
/// core: each access runs inside a critical section.
///
/// A half used by one context only needs no wrapper: its operations are wait-free and may be
/// called from a handler directly.
///
/// # Examples
/// ```
/// use bulk_queue::{IrqShared, ring::RingMem};
/// let mut mem = RingMem::<u32, 4>::new();
/// let (p, mut c) = mem.split();
/// let shared = IrqShared::new(p);
/// shared.with(|p| p.push(5)).unwrap().unwrap(); // from a thread or a handler
/// assert_eq!(c.pop(), Ok(5));
/// ```
#[derive(Debug)]
pub struct IrqShared<T> {
    inner: Mutex<RefCell<T>>,
}

impl<T> IrqShared<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        IrqShared {
            inner: Mutex::new(RefCell::new(value)),
        }
    }

    /// Runs `f` on the value inside a critical section.
    ///
    /// # Errors
    /// [`Error::Busy`] when called re-entrantly from inside `f`.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, Error> {
        critical_section::with(|cs| {
            let mut v = self
                .inner
                .borrow(cs)
                .try_borrow_mut()
                .map_err(|_| Error::Busy)?;
            Ok(f(&mut v))
        })
    }
}
