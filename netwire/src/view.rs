//! Helpers shared by the checked views: header access that never panics.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The fixed header at the start of `buf`, or `zero` when `buf` is too short.
///
/// For a buffer that passed `check_len` this is one length comparison that
/// always succeeds; an unchecked short buffer reads as an all-zero header
/// instead of panicking.
#[inline(always)]
pub(crate) fn header<'a, H>(buf: &'a [u8], zero: &'static H) -> &'a H
where
    H: FromBytes + KnownLayout + Immutable + Unaligned,
{
    match H::ref_from_prefix(buf) {
        Ok((h, _)) => h,
        Err(_) => zero,
    }
}

/// The fixed header at the start of `buf` for writing, `None` when too short.
#[inline(always)]
pub(crate) fn header_mut<H>(buf: &mut [u8]) -> Option<&mut H>
where
    H: FromBytes + IntoBytes + KnownLayout + Unaligned,
{
    H::mut_from_prefix(buf).ok().map(|(h, _)| h)
}

/// `buf[range]`, or an empty slice when the range lies outside `buf`.
#[inline(always)]
pub(crate) fn slice(buf: &[u8], start: usize, end: usize) -> &[u8] {
    buf.get(start..end).unwrap_or(&[])
}

/// `buf[range]` for writing, or an empty slice when the range lies outside `buf`.
#[inline(always)]
pub(crate) fn slice_mut(buf: &mut [u8], start: usize, end: usize) -> &mut [u8] {
    match buf.get_mut(start..end) {
        Some(s) => s,
        None => &mut [],
    }
}
