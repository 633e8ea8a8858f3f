//! Errors shared by every driver of the family, in embedded-hal's style.
//!
//! A driver defines its own error type, which can carry driver-specific
//! detail, and maps it to an [`ErrorKind`] that generic code (the stack, the
//! demultiplexers, the conformance kit) understands.
//!
//! # For driver authors
//! Implement [`Error`] for your error type and [`ErrorType`] for your card and
//! queue drivers. Return [`ErrorKind`] directly if you need no more detail.
//!
//! # For host and stack authors
//! Match on [`Error::kind`]; never on a driver's concrete error type.

use core::fmt;

/// What went wrong, in terms generic code can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorKind {
    /// A bounded wait on the hardware ran out (reset, auto-read, link, queue enable).
    Timeout,
    /// A table or ring is full: no free filter slot, no free descriptor.
    NoResources,
    /// The device cannot do this at all (a filter class it lacks, an offload it lacks).
    Unsupported,
    /// An argument is out of range or inconsistent (queue index, mixed IPv4/IPv6 rule).
    InvalidArgument,
    /// The device reported something impossible (a descriptor it was never given,
    /// a length larger than the buffer). The driver refused it; nothing was lost.
    DeviceFault,
    /// The operation needs a link and the link is down.
    LinkDown,
    /// The object is not in a state that allows the operation (queue already
    /// handed out, card not initialised).
    InvalidState,
    /// A handle (filter, queue) does not name a live object of this device.
    NotFound,
    /// Anything else; see the driver's own error for detail.
    Other,
}

impl ErrorKind {
    /// A short, stable description.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timed out waiting for the device",
            Self::NoResources => "no free slot in the table or ring",
            Self::Unsupported => "not supported by this device",
            Self::InvalidArgument => "invalid argument",
            Self::DeviceFault => "the device reported an impossible value",
            Self::LinkDown => "link is down",
            Self::InvalidState => "not allowed in the current state",
            Self::NotFound => "no such object",
            Self::Other => "driver error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for ErrorKind {}

/// A driver error that generic code can classify.
///
/// # Examples
///
/// ```
/// use nic_traits::{Error, ErrorKind};
///
/// #[derive(Debug)]
/// enum MyError {
///     RingFull,
///     ResetTimeout { waited_us: u32 },
/// }
///
/// impl Error for MyError {
///     fn kind(&self) -> ErrorKind {
///         match self {
///             MyError::RingFull => ErrorKind::NoResources,
///             MyError::ResetTimeout { .. } => ErrorKind::Timeout,
///         }
///     }
/// }
/// assert_eq!(MyError::ResetTimeout { waited_us: 10 }.kind(), ErrorKind::Timeout);
/// ```
pub trait Error: fmt::Debug {
    /// The generic kind of this error.
    fn kind(&self) -> ErrorKind;
}

impl Error for ErrorKind {
    fn kind(&self) -> ErrorKind {
        *self
    }
}

impl Error for core::convert::Infallible {
    fn kind(&self) -> ErrorKind {
        match *self {}
    }
}

/// Shared by the card and queue driver traits: names the error type once.
pub trait ErrorType {
    /// The error the driver returns.
    type Error: Error;
}

impl<T: ErrorType + ?Sized> ErrorType for &mut T {
    type Error = T::Error;
}
