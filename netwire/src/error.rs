//! The crate's error type.

use core::fmt;

/// Why a packet could not be parsed or emitted.
///
/// Every parser in this crate returns one of these instead of panicking.
///
/// # Examples
///
/// ```
/// use netwire::{Error, EthernetFrame};
///
/// // Thirteen bytes cannot hold a 14-byte Ethernet header.
/// assert_eq!(EthernetFrame::new_checked(&[0u8; 13][..]).unwrap_err(), Error::Truncated);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The buffer is shorter than the header or than a length field says.
    Truncated,
    /// A field holds a value the format forbids (a length smaller than the
    /// header, a wrong version, an option with an impossible length).
    Malformed,
    /// The checksum does not match the data.
    Checksum,
    /// The packet is well formed but uses something this crate does not handle
    /// (an ARP hardware type other than Ethernet, an ICMP message type
    /// without a representation).
    Unsupported,
}

/// `Result` with [`Error`].
pub type Result<T> = core::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated packet",
            Error::Malformed => "malformed packet",
            Error::Checksum => "checksum mismatch",
            Error::Unsupported => "unsupported packet",
        })
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn display_names_each_variant() {
        assert_eq!(Error::Truncated.to_string(), "truncated packet");
        assert_eq!(Error::Malformed.to_string(), "malformed packet");
        assert_eq!(Error::Checksum.to_string(), "checksum mismatch");
        assert_eq!(Error::Unsupported.to_string(), "unsupported packet");
        let e: &dyn core::error::Error = &Error::Truncated;
        assert!(e.source().is_none());
    }
}
