//! Capture files in the classic libpcap format, readable by tcpdump and
//! Wireshark, and taps that record every frame crossing a port.
//!
//! The format (IETF draft-ietf-opsawg-pcap, "PCAP Capture File Format", §4
//! file header and §5 packet record): a 24-byte file header — magic number,
//! version 2.4, a reserved time-zone offset and accuracy (both 0), the
//! snapshot length and the link type — then, per frame, a 16-byte record
//! header (seconds, sub-second part, captured length, original length) and
//! the captured bytes. The magic `0xa1b23c4d` says the sub-second part is in
//! nanoseconds, `0xa1b2c3d4` in microseconds; both are written in the byte
//! order of the fields that follow, here little-endian. The link type is
//! `LINKTYPE_ETHERNET` = 1 (tcpdump.org "Link-layer header types").
//!
//! # Examples
//!
//! ```
//! use nic_sim::pcap::PcapWriter;
//!
//! let mut pcap = PcapWriter::new(Vec::new()).unwrap();
//! pcap.write_frame(1_500_000_123, &[0xff; 60]).unwrap();
//! let bytes = pcap.into_inner();
//! assert_eq!(&bytes[..4], &0xa1b2_3c4d_u32.to_le_bytes());
//! assert_eq!(bytes.len(), 24 + 16 + 60);
//! // Seconds and nanoseconds of the timestamp.
//! assert_eq!(&bytes[24..28], &1u32.to_le_bytes());
//! assert_eq!(&bytes[28..32], &500_000_123u32.to_le_bytes());
//! ```

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use crate::link::{End, Link, LinkCounters};

/// Magic number of a file with microsecond timestamps (draft-ietf-opsawg-pcap §4).
pub const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Magic number of a file with nanosecond timestamps (draft-ietf-opsawg-pcap §4).
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// `LINKTYPE_ETHERNET`: IEEE 802.3 frames without FCS (tcpdump.org link-layer header types).
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Snapshot length written to the header: the largest frame recorded whole
/// (262144, what tcpdump uses by default).
pub const SNAPLEN: u32 = 262_144;

/// Writes frames to a classic pcap file.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    nanos: bool,
    frames: u64,
    errors: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Starts a file with nanosecond timestamps and writes its header.
    pub fn new(out: W) -> io::Result<Self> {
        Self::with_precision(out, true)
    }

    /// Starts a file with microsecond timestamps (for tools that predate
    /// the nanosecond variant) and writes its header.
    pub fn new_micros(out: W) -> io::Result<Self> {
        Self::with_precision(out, false)
    }

    fn with_precision(mut out: W, nanos: bool) -> io::Result<Self> {
        let magic = if nanos { MAGIC_NANOS } else { MAGIC_MICROS };
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&magic.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes()); // version major
        h[6..8].copy_from_slice(&4u16.to_le_bytes()); // version minor
        // 8..16: time-zone offset and timestamp accuracy, both 0.
        h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&h)?;
        Ok(Self {
            out,
            nanos,
            frames: 0,
            errors: 0,
        })
    }

    /// Appends one frame seen at `ts_ns` nanoseconds (of virtual time: a
    /// capture of a simulation starts at the epoch). Frames longer than
    /// [`SNAPLEN`] are cut there, with their original length kept.
    pub fn write_frame(&mut self, ts_ns: u64, frame: &[u8]) -> io::Result<()> {
        let secs = u32::try_from(ts_ns / 1_000_000_000).unwrap_or(u32::MAX);
        let sub_ns = (ts_ns % 1_000_000_000) as u32;
        let sub = if self.nanos { sub_ns } else { sub_ns / 1000 };
        let orig = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let incl = orig.min(SNAPLEN);
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&secs.to_le_bytes());
        h[4..8].copy_from_slice(&sub.to_le_bytes());
        h[8..12].copy_from_slice(&incl.to_le_bytes());
        h[12..16].copy_from_slice(&orig.to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&frame[..incl as usize])?;
        self.frames += 1;
        Ok(())
    }

    /// Frames written.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Frames a [`FrameTap`] could not write (I/O errors).
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Flushes the output.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The output, e.g. to inspect an in-memory capture.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Gives back the output.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Which way a frame crossed a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Arrived from the wire.
    Rx,
    /// Left onto the wire.
    Tx,
}

/// Something that watches frames crossing a port: a pcap file, a counter,
/// a test's recorder.
pub trait FrameTap: Send {
    /// Called for every frame crossing the port, at virtual time `ts_ns`.
    fn frame(&mut self, dir: Direction, ts_ns: u64, frame: &[u8]);
}

impl<W: Write + Send> FrameTap for PcapWriter<W> {
    fn frame(&mut self, _dir: Direction, ts_ns: u64, frame: &[u8]) {
        if self.write_frame(ts_ns, frame).is_err() {
            self.errors += 1;
        }
    }
}

impl<F: FnMut(Direction, u64, &[u8]) + Send> FrameTap for F {
    fn frame(&mut self, dir: Direction, ts_ns: u64, frame: &[u8]) {
        self(dir, ts_ns, frame)
    }
}

/// One tap shared by several ports (e.g. one capture file for both NICs),
/// keeping the inner tap reachable for the caller.
impl<T: FrameTap> FrameTap for Arc<Mutex<T>> {
    fn frame(&mut self, dir: Direction, ts_ns: u64, frame: &[u8]) {
        self.lock()
            .unwrap_or_else(|e| e.into_inner())
            .frame(dir, ts_ns, frame)
    }
}

/// A [`Link`] that records frames crossing its ends: with a tap set on an
/// end, every frame sent from it ([`Direction::Tx`]) and every frame taken
/// at it ([`Direction::Rx`]) is recorded.
///
/// # Examples
///
/// ```
/// use nic_sim::link::{End, Link};
/// use nic_sim::pcap::{PcapWriter, TappedLink};
/// use std::sync::{Arc, Mutex};
///
/// let pcap = Arc::new(Mutex::new(PcapWriter::new(Vec::new()).unwrap()));
/// let mut link = TappedLink::new(Link::perfect());
/// link.set_tap(End::B, pcap.clone());
/// link.send(End::A, 0, &[0u8; 60]);
/// assert!(link.recv(End::B, 0).is_some());
/// assert_eq!(pcap.lock().unwrap().frames(), 1);
/// ```
pub struct TappedLink {
    link: Link,
    taps: [Option<Box<dyn FrameTap>>; 2],
}

impl std::fmt::Debug for TappedLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TappedLink")
            .field("link", &self.link)
            .field("tap_a", &self.taps[0].is_some())
            .field("tap_b", &self.taps[1].is_some())
            .finish()
    }
}

fn idx(end: End) -> usize {
    match end {
        End::A => 0,
        End::B => 1,
    }
}

impl TappedLink {
    /// Wraps `link`, with no taps yet.
    pub fn new(link: Link) -> Self {
        Self {
            link,
            taps: [None, None],
        }
    }

    /// Records frames crossing `end` into `tap`.
    pub fn set_tap(&mut self, end: End, tap: impl FrameTap + 'static) {
        self.taps[idx(end)] = Some(Box::new(tap));
    }

    /// Removes the tap of `end` and gives it back.
    pub fn take_tap(&mut self, end: End) -> Option<Box<dyn FrameTap>> {
        self.taps[idx(end)].take()
    }

    /// [`Link::send`], recorded at `from`.
    pub fn send(&mut self, from: End, now_ns: u64, frame: &[u8]) {
        if let Some(tap) = self.taps[idx(from)].as_mut() {
            tap.frame(Direction::Tx, now_ns, frame);
        }
        self.link.send(from, now_ns, frame);
    }

    /// [`Link::recv`], recorded at `at`.
    pub fn recv(&mut self, at: End, now_ns: u64) -> Option<Vec<u8>> {
        let frame = self.link.recv(at, now_ns)?;
        if let Some(tap) = self.taps[idx(at)].as_mut() {
            tap.frame(Direction::Rx, now_ns, &frame);
        }
        Some(frame)
    }

    /// [`Link::next_arrival`].
    pub fn next_arrival(&self, at: End) -> Option<u64> {
        self.link.next_arrival(at)
    }

    /// [`Link::counters`].
    pub fn counters(&self, from: End) -> LinkCounters {
        self.link.counters(from)
    }

    /// The wrapped link (to change impairments or read counters).
    pub fn link_mut(&mut self) -> &mut Link {
        &mut self.link
    }

    /// Gives back the wrapped link.
    pub fn into_inner(self) -> Link {
        self.link
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_parser::{Linktype, PcapCapture};

    #[test]
    fn pcap_parser_reads_what_we_write_in_both_precisions() {
        for nanos in [true, false] {
            let mut w = if nanos {
                PcapWriter::new(Vec::new()).unwrap()
            } else {
                PcapWriter::new_micros(Vec::new()).unwrap()
            };
            let frames: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 60 + usize::from(i)]).collect();
            for (i, f) in frames.iter().enumerate() {
                w.write_frame(2_000_000_000 + i as u64 * 1_234_567, f)
                    .unwrap();
            }
            let bytes = w.into_inner();
            let cap = PcapCapture::from_file(&bytes).unwrap();
            assert_eq!(cap.header.network, Linktype::ETHERNET);
            assert_eq!(cap.header.is_nanosecond_precision(), nanos);
            assert_eq!((cap.header.version_major, cap.header.version_minor), (2, 4));
            assert_eq!(cap.blocks.len(), 5);
            for (i, b) in cap.blocks.iter().enumerate() {
                assert_eq!(b.data, &frames[i][..]);
                assert_eq!(b.origlen as usize, frames[i].len());
                assert_eq!(b.ts_sec, 2);
                let ns = i as u32 * 1_234_567;
                assert_eq!(b.ts_usec, if nanos { ns } else { ns / 1000 });
            }
        }
    }

    #[test]
    fn long_frames_are_cut_at_the_snapshot_length() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_frame(0, &vec![1u8; SNAPLEN as usize + 10]).unwrap();
        let bytes = w.into_inner();
        let cap = PcapCapture::from_file(&bytes).unwrap();
        assert_eq!(cap.blocks[0].caplen, SNAPLEN);
        assert_eq!(cap.blocks[0].origlen, SNAPLEN + 10);
    }

    #[test]
    fn write_errors_are_counted_by_the_tap() {
        /// Accepts `self.0` more bytes, then fails.
        struct Limited(usize);
        impl Write for Limited {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                if b.len() > self.0 {
                    return Err(io::Error::other("disk full"));
                }
                self.0 -= b.len();
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        assert!(PcapWriter::new(Limited(10)).is_err());
        let mut w = PcapWriter::new(Limited(24 + 16 + 20)).unwrap();
        w.frame(Direction::Rx, 0, &[0; 20]);
        w.frame(Direction::Rx, 0, &[0; 20]);
        assert_eq!((w.frames(), w.errors()), (1, 1));
    }

    #[test]
    fn tapped_link_records_both_directions_at_one_end() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let mut link = TappedLink::new(Link::perfect());
        link.set_tap(End::A, move |d: Direction, t: u64, f: &[u8]| {
            s.lock().unwrap().push((d, t, f.len()))
        });
        link.send(End::A, 5, &[0; 60]);
        link.send(End::B, 6, &[0; 61]);
        assert!(link.recv(End::B, 10).is_some());
        assert!(link.recv(End::A, 10).is_some());
        assert_eq!(
            *seen.lock().unwrap(),
            vec![(Direction::Tx, 5, 60), (Direction::Rx, 10, 61)]
        );
        assert_eq!(link.counters(End::A).delivered, 1);
    }
}
