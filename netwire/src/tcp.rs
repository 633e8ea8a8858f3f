//! TCP segments (RFC 9293) with the options a modern TCP uses: MSS, window
//! scale and timestamps (RFC 7323), SACK (RFC 2018).
//!
//! # Layout
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! |                        Sequence Number                        |
//! |                    Acknowledgment Number                      |
//! |  Data |     |A|C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsv |E|W|C|R|C|S|S|Y|I|            Window             |
//! |       |     | |R|E|G|K|H|T|N|N|                               |
//! |           Checksum            |         Urgent Pointer        |
//! |                    Options                    |    Padding    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use core::cmp::Ordering;
use core::fmt;
use core::net::IpAddr;
use core::ops;

use bitflags::bitflags;
use zerocopy::network_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::checksum::{self, ChecksumCapabilities};
use crate::ip::IpProtocol;
use crate::view;
use crate::{Error, Result};

/// A TCP sequence number: arithmetic and comparison modulo 2³²
/// (RFC 9293 §3.4).
///
/// `a < b` means `b` lies less than 2³¹ ahead of `a`, going forward around
/// the circle. Two numbers exactly 2³¹ apart are not comparable
/// (`partial_cmp` returns `None`), so the order never contradicts itself.
///
/// # Examples
///
/// ```
/// use netwire::SeqNumber;
///
/// let a = SeqNumber(u32::MAX - 1);
/// let b = a + 4; // wraps to 2
/// assert_eq!(b, SeqNumber(2));
/// assert!(a < b);
/// assert_eq!(b - a, 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// The later of two numbers in sequence space (`self` when incomparable).
    #[inline]
    #[must_use]
    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if self < other { other } else { self }
    }

    /// The earlier of two numbers in sequence space (`self` when incomparable).
    #[inline]
    #[must_use]
    pub fn min(self, other: SeqNumber) -> SeqNumber {
        if other < self { other } else { self }
    }

    /// `self + n` for a signed `n`, modulo 2³².
    #[inline]
    #[must_use]
    pub const fn wrapping_add_signed(self, n: i32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add_signed(n))
    }
}

impl PartialOrd for SeqNumber {
    #[inline]
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        let d = self.0.wrapping_sub(other.0) as i32;
        if d == i32::MIN { None } else { Some(d.cmp(&0)) }
    }
}

impl ops::Add<usize> for SeqNumber {
    type Output = SeqNumber;
    /// Advances by `rhs` modulo 2³² (a length above 2³² wraps; TCP never
    /// advances by 2³¹ or more at once).
    #[inline]
    fn add(self, rhs: usize) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(rhs as u32))
    }
}

impl ops::Sub<usize> for SeqNumber {
    type Output = SeqNumber;
    #[inline]
    fn sub(self, rhs: usize) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(rhs as u32))
    }
}

impl ops::AddAssign<usize> for SeqNumber {
    #[inline]
    fn add_assign(&mut self, rhs: usize) {
        *self = *self + rhs;
    }
}

impl ops::SubAssign<usize> for SeqNumber {
    #[inline]
    fn sub_assign(&mut self, rhs: usize) {
        *self = *self - rhs;
    }
}

impl ops::Sub for SeqNumber {
    type Output = i32;
    /// The signed distance from `rhs` to `self`.
    #[inline]
    fn sub(self, rhs: SeqNumber) -> i32 {
        self.0.wrapping_sub(rhs.0) as i32
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

bitflags! {
    /// The TCP control bits (RFC 9293 §3.1, RFC 3168 §6.1 for ECE/CWR), at
    /// their positions in the low 12 bits of the data-offset/flags word.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct TcpFlags: u16 {
        /// No more data from sender.
        const FIN = 0x001;
        /// Synchronize sequence numbers.
        const SYN = 0x002;
        /// Reset the connection.
        const RST = 0x004;
        /// Push function.
        const PSH = 0x008;
        /// Acknowledgment field is significant.
        const ACK = 0x010;
        /// Urgent pointer field is significant.
        const URG = 0x020;
        /// ECN-Echo (RFC 3168).
        const ECE = 0x040;
        /// Congestion Window Reduced (RFC 3168).
        const CWR = 0x080;
        /// The bit RFC 3540 named NS (now historic), used as AE by Accurate ECN.
        const AE = 0x100;
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for TcpFlags {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(f, "TcpFlags({=u16:#x})", self.bits());
    }
}

/// Mask of the flag and reserved bits in the data-offset/flags word.
const FLAGS_MASK: u16 = 0x0fff;

/// The fixed 20-byte TCP header.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct TcpHeader {
    /// Source port.
    pub src_port: U16,
    /// Destination port.
    pub dst_port: U16,
    /// Sequence number.
    pub seq_number: U32,
    /// Acknowledgment number.
    pub ack_number: U32,
    /// Data offset (high nibble, 32-bit words), reserved bits and flags.
    pub offset_flags: U16,
    /// Window.
    pub window_len: U16,
    /// Checksum.
    pub checksum: U16,
    /// Urgent pointer.
    pub urgent_pointer: U16,
}

const _: () = assert!(size_of::<TcpHeader>() == 20);

mod field {
    // The layout assertions below are these constants' check; rustc before
    // 1.88 does not count a use inside an anonymous const as a use.
    #![allow(dead_code)]

    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    pub const FLAGS: Range<usize> = 12..14;
    pub const WIN_SIZE: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
    pub const HEADER_LEN: usize = 20;
    /// Data offset is four bits: at most 15 words.
    pub const MAX_HEADER_LEN: usize = 60;

    // RFC 9293 §3.2 option kinds; RFC 7323 §2.2, §3.2; RFC 2018 §2, §3.
    pub const OPT_END: u8 = 0;
    pub const OPT_NOP: u8 = 1;
    pub const OPT_MSS: u8 = 2;
    pub const OPT_WS: u8 = 3;
    pub const OPT_SACKPERM: u8 = 4;
    pub const OPT_SACK: u8 = 5;
    pub const OPT_TSTAMP: u8 = 8;

    use super::TcpHeader as H;
    use core::mem::offset_of;
    const _: () = assert!(offset_of!(H, src_port) == SRC_PORT.start);
    const _: () = assert!(offset_of!(H, dst_port) == DST_PORT.start);
    const _: () = assert!(offset_of!(H, seq_number) == SEQ_NUM.start);
    const _: () = assert!(offset_of!(H, ack_number) == ACK_NUM.start);
    const _: () = assert!(offset_of!(H, offset_flags) == FLAGS.start);
    const _: () = assert!(offset_of!(H, window_len) == WIN_SIZE.start);
    const _: () = assert!(offset_of!(H, checksum) == CHECKSUM.start);
    const _: () = assert!(offset_of!(H, urgent_pointer) == URGENT.start);
    const _: () = assert!(URGENT.end == HEADER_LEN);
}

/// Length of the TCP header without options.
pub const HEADER_LEN: usize = field::HEADER_LEN;
/// Largest TCP header: data offset 15.
pub const MAX_HEADER_LEN: usize = field::MAX_HEADER_LEN;
/// Largest options area.
pub const MAX_OPTIONS_LEN: usize = MAX_HEADER_LEN - HEADER_LEN;
/// At most four SACK blocks fit in the options area (RFC 2018 §3).
pub const MAX_SACK_BLOCKS: usize = 4;

const ZERO_HEADER: TcpHeader = TcpHeader {
    src_port: U16::ZERO,
    dst_port: U16::ZERO,
    seq_number: U32::ZERO,
    ack_number: U32::ZERO,
    offset_flags: U16::ZERO,
    window_len: U16::ZERO,
    checksum: U16::ZERO,
    urgent_pointer: U16::ZERO,
};

/// One SACK block: the sequence numbers of the first byte received and of
/// the byte after the last (RFC 2018 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SackBlock {
    /// Left edge: first sequence number of the block.
    pub left: SeqNumber,
    /// Right edge: sequence number just after the block.
    pub right: SeqNumber,
}

/// Up to four SACK blocks, stored inline.
///
/// Equality and hashing look only at the blocks held.
#[derive(Clone, Copy, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SackBlocks {
    blocks: [SackBlock; MAX_SACK_BLOCKS],
    len: u8,
}

impl SackBlocks {
    /// No blocks.
    pub const EMPTY: SackBlocks = SackBlocks {
        blocks: [SackBlock {
            left: SeqNumber(0),
            right: SeqNumber(0),
        }; MAX_SACK_BLOCKS],
        len: 0,
    };

    /// The first four blocks of `blocks`.
    #[must_use]
    pub fn from_slice(blocks: &[SackBlock]) -> SackBlocks {
        let mut s = Self::EMPTY;
        for b in blocks.iter().take(MAX_SACK_BLOCKS) {
            s.push(*b);
        }
        s
    }

    /// Appends a block; returns `false` (and drops it) when four are held.
    pub fn push(&mut self, block: SackBlock) -> bool {
        match self.blocks.get_mut(self.len as usize) {
            Some(slot) => {
                *slot = block;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The blocks held.
    #[inline]
    pub fn as_slice(&self) -> &[SackBlock] {
        &self.blocks[..(self.len as usize).min(MAX_SACK_BLOCKS)]
    }

    /// Number of blocks held.
    #[inline]
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// True when no block is held.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps only the first `n` blocks.
    #[inline]
    pub fn truncate(&mut self, n: usize) {
        if n < self.len as usize {
            self.len = n as u8;
        }
    }
}

impl PartialEq for SackBlocks {
    fn eq(&self, other: &SackBlocks) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SackBlocks {}

impl core::hash::Hash for SackBlocks {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// The two values of the timestamps option (RFC 7323 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TcpTimestamps {
    /// TSval: the sender's clock.
    pub tsval: u32,
    /// TSecr: the TSval echoed back.
    pub tsecr: u32,
}

/// One TCP option (RFC 9293 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TcpOption<'a> {
    /// End of Option List (kind 0): the options end here.
    EndOfList,
    /// No-Operation (kind 1), used for alignment.
    NoOperation,
    /// Maximum Segment Size (kind 2, RFC 9293 §3.7.1).
    MaxSegmentSize(u16),
    /// Window Scale shift count (kind 3, RFC 7323 §2).
    WindowScale(u8),
    /// SACK-Permitted (kind 4, RFC 2018 §2).
    SackPermitted,
    /// SACK blocks (kind 5, RFC 2018 §3).
    Sack(SackBlocks),
    /// Timestamps (kind 8, RFC 7323 §3).
    Timestamps(TcpTimestamps),
    /// Any other kind, with its data (length byte excluded).
    Unknown {
        /// Option kind.
        kind: u8,
        /// Option data after the kind and length bytes.
        data: &'a [u8],
    },
}

impl TcpOption<'_> {
    /// Bytes the option takes on the wire.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::Sack(s) => 2 + 8 * s.len(),
            TcpOption::Timestamps(_) => 10,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option at the start of `buf` and returns the rest.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when `buf` is too short; [`Error::Malformed`]
    /// for an unknown option whose length does not fit the length byte.
    pub fn emit<'b>(&self, buf: &'b mut [u8]) -> Result<&'b mut [u8]> {
        let n = self.buffer_len();
        if n > buf.len() {
            return Err(Error::Truncated);
        }
        let (head, rest) = buf.split_at_mut(n);
        match *self {
            TcpOption::EndOfList => head[0] = field::OPT_END,
            TcpOption::NoOperation => head[0] = field::OPT_NOP,
            TcpOption::MaxSegmentSize(mss) => {
                head.copy_from_slice(&[field::OPT_MSS, 4, (mss >> 8) as u8, mss as u8]);
            }
            TcpOption::WindowScale(s) => head.copy_from_slice(&[field::OPT_WS, 3, s]),
            TcpOption::SackPermitted => head.copy_from_slice(&[field::OPT_SACKPERM, 2]),
            TcpOption::Sack(ref s) => {
                head[0] = field::OPT_SACK;
                head[1] = n as u8;
                for (chunk, b) in head[2..].chunks_exact_mut(8).zip(s.as_slice()) {
                    chunk[..4].copy_from_slice(&b.left.0.to_be_bytes());
                    chunk[4..].copy_from_slice(&b.right.0.to_be_bytes());
                }
            }
            TcpOption::Timestamps(ts) => {
                head[0] = field::OPT_TSTAMP;
                head[1] = 10;
                head[2..6].copy_from_slice(&ts.tsval.to_be_bytes());
                head[6..10].copy_from_slice(&ts.tsecr.to_be_bytes());
            }
            TcpOption::Unknown { kind, data } => {
                head[0] = kind;
                head[1] = u8::try_from(n).map_err(|_| Error::Malformed)?;
                head[2..].copy_from_slice(data);
            }
        }
        Ok(rest)
    }
}

/// Iterator over the options of a segment, yielded in order.
///
/// Stops after End of Option List; yields one [`Error::Malformed`] and stops
/// on an option whose length byte is missing, below 2, runs past the options
/// area, or is wrong for its kind (RFC 9293 §3.2 asks a TCP to survive
/// illegal option lengths). Unknown kinds are skipped by their length.
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    data: &'a [u8],
}

impl<'a> TcpOptions<'a> {
    /// Options in `data` (the options area of a header).
    #[inline]
    pub const fn new(data: &'a [u8]) -> TcpOptions<'a> {
        TcpOptions { data }
    }
}

#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let data = self.data;
        let (&kind, rest) = data.split_first()?;
        match kind {
            field::OPT_END => {
                self.data = &[];
                return Some(Ok(TcpOption::EndOfList));
            }
            field::OPT_NOP => {
                self.data = rest;
                return Some(Ok(TcpOption::NoOperation));
            }
            _ => {}
        }
        let len = match rest.first() {
            Some(&l) if l >= 2 && (l as usize) <= data.len() => l as usize,
            _ => {
                self.data = &[];
                return Some(Err(Error::Malformed));
            }
        };
        let (opt, tail) = data.split_at(len);
        self.data = tail;
        let body = &opt[2..];
        let parsed = match (kind, body.len()) {
            (field::OPT_MSS, 2) => {
                TcpOption::MaxSegmentSize(u16::from_be_bytes([body[0], body[1]]))
            }
            (field::OPT_WS, 1) => TcpOption::WindowScale(body[0]),
            (field::OPT_SACKPERM, 0) => TcpOption::SackPermitted,
            (field::OPT_SACK, n) if n % 8 == 0 && (8..=8 * MAX_SACK_BLOCKS).contains(&n) => {
                let mut s = SackBlocks::EMPTY;
                for c in body.chunks_exact(8) {
                    s.push(SackBlock {
                        left: SeqNumber(be32(c, 0)),
                        right: SeqNumber(be32(c, 4)),
                    });
                }
                TcpOption::Sack(s)
            }
            (field::OPT_TSTAMP, 8) => TcpOption::Timestamps(TcpTimestamps {
                tsval: be32(body, 0),
                tsecr: be32(body, 4),
            }),
            (
                field::OPT_MSS
                | field::OPT_WS
                | field::OPT_SACKPERM
                | field::OPT_SACK
                | field::OPT_TSTAMP,
                _,
            ) => {
                self.data = &[];
                return Some(Err(Error::Malformed));
            }
            _ => TcpOption::Unknown { kind, data: body },
        };
        Some(Ok(parsed))
    }
}

/// A read/write view of a TCP segment in a buffer.
///
/// The buffer is the whole segment: TCP has no length field, so the payload
/// runs to the end of the buffer (slice it to the IP payload).
///
/// After [`check_len`](Self::check_len) succeeds (as it has for
/// [`new_checked`](Self::new_checked)) no accessor panics and the data
/// offset lies in `20..=buffer length`. Accessors and setters never panic on
/// an unchecked buffer either: fields beyond its end read as zero, slices
/// outside it are empty, and writes beyond it are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps `buffer` without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> TcpPacket<T> {
        TcpPacket { buffer }
    }

    /// Wraps `buffer` and checks it with [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<TcpPacket<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the buffer holds the fixed header and that the data
    /// offset is at least 20 bytes and within the buffer.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when the buffer is too short;
    /// [`Error::Malformed`] when the data offset is below 5 words.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            Err(Error::Malformed)
        } else if hl > len {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// The wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The fixed 20-byte header as a zero-copy struct.
    #[inline]
    pub fn header(&self) -> &TcpHeader {
        view::header(self.buffer.as_ref(), &ZERO_HEADER)
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        self.header().src_port.get()
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        self.header().dst_port.get()
    }

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> SeqNumber {
        SeqNumber(self.header().seq_number.get())
    }

    /// Acknowledgment number (meaningful when ACK is set).
    #[inline]
    pub fn ack_number(&self) -> SeqNumber {
        SeqNumber(self.header().ack_number.get())
    }

    /// Header length in bytes (data offset × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        ((self.header().offset_flags.get() >> 12) as usize) * 4
    }

    /// Control bits, reserved bits included.
    #[inline]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags::from_bits_retain(self.header().offset_flags.get() & FLAGS_MASK)
    }

    /// FIN flag.
    #[inline]
    pub fn fin(&self) -> bool {
        self.flags().contains(TcpFlags::FIN)
    }

    /// SYN flag.
    #[inline]
    pub fn syn(&self) -> bool {
        self.flags().contains(TcpFlags::SYN)
    }

    /// RST flag.
    #[inline]
    pub fn rst(&self) -> bool {
        self.flags().contains(TcpFlags::RST)
    }

    /// PSH flag.
    #[inline]
    pub fn psh(&self) -> bool {
        self.flags().contains(TcpFlags::PSH)
    }

    /// ACK flag.
    #[inline]
    pub fn ack(&self) -> bool {
        self.flags().contains(TcpFlags::ACK)
    }

    /// Window.
    #[inline]
    pub fn window_len(&self) -> u16 {
        self.header().window_len.get()
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.header().checksum.get()
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent_pointer(&self) -> u16 {
        self.header().urgent_pointer.get()
    }

    /// The raw options area.
    #[inline]
    pub fn options(&self) -> &[u8] {
        view::slice(self.buffer.as_ref(), HEADER_LEN, self.header_len())
    }

    /// Iterator over the parsed options.
    #[inline]
    pub fn options_iter(&self) -> TcpOptions<'_> {
        TcpOptions::new(self.options())
    }

    /// The data after the header, to the end of the buffer.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        view::slice(b, self.header_len(), b.len())
    }

    /// Sequence space the segment occupies: payload length plus one each
    /// for SYN and FIN (RFC 9293 §3.4).
    #[inline]
    pub fn segment_len(&self) -> usize {
        self.payload().len() + self.syn() as usize + self.fin() as usize
    }

    /// True when the checksum over the pseudo-header and the whole buffer is
    /// correct (RFC 9293 §3.1).
    pub fn verify_checksum(&self, src_addr: &IpAddr, dst_addr: &IpAddr) -> bool {
        let b = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header(src_addr, dst_addr, IpProtocol::Tcp, b.len() as u32);
        checksum::verify_with(pseudo, b)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// The fixed header for writing; `None` when the buffer is too short.
    #[inline]
    pub fn header_mut(&mut self) -> Option<&mut TcpHeader> {
        view::header_mut(self.buffer.as_mut())
    }

    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        if let Some(h) = self.header_mut() {
            h.src_port.set(v);
        }
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        if let Some(h) = self.header_mut() {
            h.dst_port.set(v);
        }
    }

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, v: SeqNumber) {
        if let Some(h) = self.header_mut() {
            h.seq_number.set(v.0);
        }
    }

    /// Sets the acknowledgment number.
    #[inline]
    pub fn set_ack_number(&mut self, v: SeqNumber) {
        if let Some(h) = self.header_mut() {
            h.ack_number.set(v.0);
        }
    }

    /// Sets the header length in bytes (rounded down to words), keeping the flags.
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        if let Some(h) = self.header_mut() {
            let w = h.offset_flags.get();
            h.offset_flags
                .set((((len / 4) as u16 & 0xf) << 12) | (w & FLAGS_MASK));
        }
    }

    /// Sets the control and reserved bits, keeping the data offset.
    #[inline]
    pub fn set_flags(&mut self, flags: TcpFlags) {
        if let Some(h) = self.header_mut() {
            let w = h.offset_flags.get();
            h.offset_flags
                .set((w & !FLAGS_MASK) | (flags.bits() & FLAGS_MASK));
        }
    }

    /// Sets the window.
    #[inline]
    pub fn set_window_len(&mut self, v: u16) {
        if let Some(h) = self.header_mut() {
            h.window_len.set(v);
        }
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        if let Some(h) = self.header_mut() {
            h.checksum.set(v);
        }
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent_pointer(&mut self, v: u16) {
        if let Some(h) = self.header_mut() {
            h.urgent_pointer.set(v);
        }
    }

    /// Computes and writes the checksum over the pseudo-header and the whole
    /// buffer.
    pub fn fill_checksum(&mut self, src_addr: &IpAddr, dst_addr: &IpAddr) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header(src_addr, dst_addr, IpProtocol::Tcp, b.len() as u32);
        let c = !checksum::add(pseudo, checksum::sum(b));
        self.set_checksum(c);
    }

    /// The options area for writing.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        view::slice_mut(self.buffer.as_mut(), HEADER_LEN, hl)
    }

    /// The payload for writing.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let b = self.buffer.as_mut();
        let len = b.len();
        view::slice_mut(b, hl, len)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for TcpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The header fields of a TCP segment, options decoded.
///
/// The payload is not part of the repr: [`parse`](Self::parse) records its
/// length, and [`emit`](Self::emit) checksums whatever the caller already
/// wrote after the header, so data is never copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq_number: SeqNumber,
    /// Acknowledgment number, written as is (meaningful when ACK is set).
    pub ack_number: SeqNumber,
    /// Control and reserved bits.
    pub flags: TcpFlags,
    /// Window (unscaled, as on the wire).
    pub window_len: u16,
    /// Urgent pointer.
    pub urgent_pointer: u16,
    /// MSS option.
    pub max_seg_size: Option<u16>,
    /// Window scale option: the shift count as on the wire (RFC 7323 §2.3
    /// caps its use at 14; the value is not clamped here).
    pub window_scale: Option<u8>,
    /// SACK-Permitted option.
    pub sack_permitted: bool,
    /// SACK blocks.
    pub sack_blocks: SackBlocks,
    /// Timestamps option.
    pub timestamps: Option<TcpTimestamps>,
    /// Payload length.
    pub payload_len: usize,
}

impl TcpRepr {
    /// A segment with the given ports, numbers and flags and no options.
    pub const fn new(
        src_port: u16,
        dst_port: u16,
        seq_number: SeqNumber,
        ack_number: SeqNumber,
        flags: TcpFlags,
        window_len: u16,
    ) -> TcpRepr {
        TcpRepr {
            src_port,
            dst_port,
            seq_number,
            ack_number,
            flags,
            window_len,
            urgent_pointer: 0,
            max_seg_size: None,
            window_scale: None,
            sack_permitted: false,
            sack_blocks: SackBlocks::EMPTY,
            timestamps: None,
            payload_len: 0,
        }
    }

    /// The acknowledgment number when ACK is set.
    #[inline]
    pub fn ack(&self) -> Option<SeqNumber> {
        self.flags
            .contains(TcpFlags::ACK)
            .then_some(self.ack_number)
    }

    /// Sequence space the segment occupies: payload length plus one each
    /// for SYN and FIN (RFC 9293 §3.4).
    #[inline]
    pub fn segment_len(&self) -> usize {
        self.payload_len
            + self.flags.contains(TcpFlags::SYN) as usize
            + self.flags.contains(TcpFlags::FIN) as usize
    }

    /// Reads a segment, verifying its checksum when `caps.tcp.rx()`.
    ///
    /// NOPs, End of Option List and unknown options are skipped.
    ///
    /// # Errors
    ///
    /// From [`check_len`](TcpPacket::check_len); [`Error::Checksum`];
    /// [`Error::Malformed`] for an option with an illegal length.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &TcpPacket<T>,
        src_addr: &IpAddr,
        dst_addr: &IpAddr,
        caps: &ChecksumCapabilities,
    ) -> Result<TcpRepr> {
        packet.check_len()?;
        if caps.tcp.rx() && !packet.verify_checksum(src_addr, dst_addr) {
            return Err(Error::Checksum);
        }
        // One header reference for all fields: one length check.
        let h = packet.header();
        let mut repr = TcpRepr::new(
            h.src_port.get(),
            h.dst_port.get(),
            SeqNumber(h.seq_number.get()),
            SeqNumber(h.ack_number.get()),
            TcpFlags::from_bits_retain(h.offset_flags.get() & FLAGS_MASK),
            h.window_len.get(),
        );
        repr.urgent_pointer = h.urgent_pointer.get();
        let b = packet.buffer.as_ref();
        let hl = packet.header_len();
        repr.payload_len = b.len().saturating_sub(hl);
        repr.parse_options(view::slice(b, HEADER_LEN, hl))?;
        Ok(repr)
    }

    /// Decodes the options area into the repr's option fields, with the
    /// same rules as [`TcpOptions`] but without building a [`TcpOption`]
    /// per option.
    fn parse_options(&mut self, opts: &[u8]) -> Result<()> {
        let mut rest = opts;
        loop {
            let (kind, len) = match rest {
                [] | [field::OPT_END, ..] => return Ok(()),
                [field::OPT_NOP, tail @ ..] => {
                    rest = tail;
                    continue;
                }
                [kind, len, ..] if *len >= 2 && (*len as usize) <= rest.len() => {
                    (*kind, *len as usize)
                }
                _ => return Err(Error::Malformed),
            };
            let (opt, tail) = rest.split_at(len);
            rest = tail;
            match (kind, &opt[2..]) {
                (field::OPT_MSS, &[a, b]) => self.max_seg_size = Some(u16::from_be_bytes([a, b])),
                (field::OPT_WS, &[s]) => self.window_scale = Some(s),
                (field::OPT_SACKPERM, []) => self.sack_permitted = true,
                (field::OPT_TSTAMP, &[a, b, c, d, e, f, g, h]) => {
                    self.timestamps = Some(TcpTimestamps {
                        tsval: u32::from_be_bytes([a, b, c, d]),
                        tsecr: u32::from_be_bytes([e, f, g, h]),
                    });
                }
                (field::OPT_SACK, body)
                    if body.len() % 8 == 0 && (8..=8 * MAX_SACK_BLOCKS).contains(&body.len()) =>
                {
                    let mut s = SackBlocks::EMPTY;
                    for c in body.chunks_exact(8) {
                        s.push(SackBlock {
                            left: SeqNumber(be32(c, 0)),
                            right: SeqNumber(be32(c, 4)),
                        });
                    }
                    self.sack_blocks = s;
                }
                (
                    field::OPT_MSS
                    | field::OPT_WS
                    | field::OPT_SACKPERM
                    | field::OPT_SACK
                    | field::OPT_TSTAMP,
                    _,
                ) => {
                    return Err(Error::Malformed);
                }
                _ => {}
            }
        }
    }

    /// Lengths of the fixed options (without SACK blocks) and the number of
    /// SACK blocks that fit in the rest of the 40-byte area.
    fn layout(&self) -> (usize, usize) {
        let mut n = 0;
        if self.max_seg_size.is_some() {
            n += 4;
        }
        if self.timestamps.is_some() {
            n += 12; // SACK-Permitted + TS, or NOP NOP TS
        } else if self.sack_permitted {
            n += 4; // NOP NOP SACK-Permitted
        }
        if self.window_scale.is_some() {
            n += 4; // NOP WS
        }
        let room = MAX_OPTIONS_LEN - n;
        let fit = if room >= 12 { (room - 4) / 8 } else { 0 };
        (n, self.sack_blocks.len().min(fit))
    }

    /// Header length including options, padded to 32-bit words.
    ///
    /// SACK blocks that do not fit in the 40-byte options area are left out
    /// (RFC 2018 §3: at most three with timestamps).
    pub fn header_len(&self) -> usize {
        let (n, sacks) = self.layout();
        HEADER_LEN + n + if sacks > 0 { 4 + 8 * sacks } else { 0 }
    }

    /// Header plus payload length.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Writes the header and options into `packet`, whose buffer must be
    /// exactly [`buffer_len`](Self::buffer_len) long with the payload already
    /// in place after [`header_len`](Self::header_len) bytes; then fills the
    /// checksum when `caps.tcp.tx()` (otherwise writes zero).
    ///
    /// Options are laid out as Linux does, each aligned with NOPs: MSS,
    /// SACK-Permitted + timestamps, window scale, SACK blocks.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when the buffer is shorter than `buffer_len`,
    /// [`Error::Malformed`] when longer. Nothing is written then.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src_addr: &IpAddr,
        dst_addr: &IpAddr,
        caps: &ChecksumCapabilities,
    ) -> Result<()> {
        let hl = self.header_len();
        let len = packet.buffer.as_ref().len();
        match len.cmp(&(hl + self.payload_len)) {
            Ordering::Less => return Err(Error::Truncated),
            Ordering::Greater => return Err(Error::Malformed),
            Ordering::Equal => {}
        }
        // The whole fixed header in one store; the length check above
        // guarantees the buffer holds it and the options.
        let (h, rest) =
            TcpHeader::mut_from_prefix(packet.buffer.as_mut()).map_err(|_| Error::Truncated)?;
        *h = TcpHeader {
            src_port: U16::new(self.src_port),
            dst_port: U16::new(self.dst_port),
            seq_number: U32::new(self.seq_number.0),
            ack_number: U32::new(self.ack_number.0),
            offset_flags: U16::new((((hl / 4) as u16) << 12) | (self.flags.bits() & FLAGS_MASK)),
            window_len: U16::new(self.window_len),
            checksum: U16::ZERO,
            urgent_pointer: U16::new(self.urgent_pointer),
        };
        self.emit_options(rest.get_mut(..hl - HEADER_LEN).ok_or(Error::Truncated)?)?;
        if caps.tcp.tx() {
            packet.fill_checksum(src_addr, dst_addr);
        }
        Ok(())
    }

    fn emit_options(&self, buf: &mut [u8]) -> Result<()> {
        /// Appends `bytes` at `*n`; the layout keeps every write inside the
        /// 40-byte area, so the bounds check never fails.
        fn put(area: &mut [u8; MAX_OPTIONS_LEN], n: &mut usize, bytes: &[u8]) {
            if let Some(dst) = area.get_mut(*n..*n + bytes.len()) {
                dst.copy_from_slice(bytes);
            }
            *n += bytes.len();
        }
        use field::{OPT_MSS, OPT_NOP, OPT_SACK, OPT_SACKPERM, OPT_TSTAMP, OPT_WS};
        let (_, sacks) = self.layout();
        // Unwritten bytes stay End of Option List (zero) padding.
        let mut area = [field::OPT_END; MAX_OPTIONS_LEN];
        let mut n = 0;
        if let Some(mss) = self.max_seg_size {
            let [hi, lo] = mss.to_be_bytes();
            put(&mut area, &mut n, &[OPT_MSS, 4, hi, lo]);
        }
        match (self.sack_permitted, self.timestamps) {
            (sack_permitted, Some(ts)) => {
                // SACK-Permitted fills the two bytes that would be NOP NOP.
                let lead = if sack_permitted {
                    [OPT_SACKPERM, 2]
                } else {
                    [OPT_NOP, OPT_NOP]
                };
                let [a, b, c, d] = ts.tsval.to_be_bytes();
                let [e, f, g, h] = ts.tsecr.to_be_bytes();
                put(
                    &mut area,
                    &mut n,
                    &[lead[0], lead[1], OPT_TSTAMP, 10, a, b, c, d, e, f, g, h],
                );
            }
            (true, None) => put(&mut area, &mut n, &[OPT_NOP, OPT_NOP, OPT_SACKPERM, 2]),
            (false, None) => {}
        }
        if let Some(ws) = self.window_scale {
            put(&mut area, &mut n, &[OPT_NOP, OPT_WS, 3, ws]);
        }
        if sacks > 0 {
            put(
                &mut area,
                &mut n,
                &[OPT_NOP, OPT_NOP, OPT_SACK, (2 + 8 * sacks) as u8],
            );
            for b in self.sack_blocks.as_slice().iter().take(sacks) {
                let [a0, a1, a2, a3] = b.left.0.to_be_bytes();
                let [b0, b1, b2, b3] = b.right.0.to_be_bytes();
                put(&mut area, &mut n, &[a0, a1, a2, a3, b0, b1, b2, b3]);
            }
        }
        let src = area.get(..buf.len()).ok_or(Error::Truncated)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
