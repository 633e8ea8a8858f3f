//! Sequence-number arithmetic modulo 2³² (RFC 9293 §3.4): `a < b` when the signed
//! distance from `b` to `a` is negative.

#[inline]
pub(crate) fn lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}
#[inline]
pub(crate) fn le(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) <= 0
}
#[inline]
pub(crate) fn gt(a: u32, b: u32) -> bool {
    lt(b, a)
}
#[inline]
pub(crate) fn ge(a: u32, b: u32) -> bool {
    le(b, a)
}
#[inline]
pub(crate) fn max(a: u32, b: u32) -> u32 {
    if lt(a, b) { b } else { a }
}

/// Milliseconds-clock deadline reached: `now` at or past `deadline` (wrapping, ±24 days).
#[inline]
pub(crate) fn due(now: u32, deadline: u32) -> bool {
    (now.wrapping_sub(deadline) as i32) >= 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps() {
        assert!(lt(0xffff_fff0, 0x10));
        assert!(gt(0x10, 0xffff_fff0));
        assert!(le(5, 5) && ge(5, 5) && !lt(5, 5));
        assert_eq!(max(0xffff_fff0, 0x10), 0x10);
        assert!(due(3, 0xffff_fffe));
        assert!(!due(0xffff_fffe, 3));
    }
}
