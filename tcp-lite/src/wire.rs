//! The few wire formats the stack reads and writes: Ethernet II, ARP (Ethernet/IPv4), IPv4,
//! ICMPv4 echo, UDP and TCP with its options, and the Internet checksum.
//!
//! Parsers take untrusted bytes: every length and offset is checked before use and a parse
//! returns `None` instead of panicking. Emitters write into a buffer whose length the caller
//! sized with the matching `*_LEN` / `header_len` and return `None` if it is too short.

/// Length of an Ethernet II header (RFC 894).
pub const ETH_LEN: usize = 14;
/// EtherType of IPv4 (RFC 894).
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP (RFC 826).
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// Length of an ARP packet for Ethernet/IPv4 (RFC 826).
pub const ARP_LEN: usize = 28;
/// Length of an IPv4 header without options (RFC 791 §3.1).
pub const IPV4_LEN: usize = 20;
/// IP protocol number of ICMP (RFC 790).
pub const PROTO_ICMP: u8 = 1;
/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;
/// Length of a TCP header without options (RFC 9293 §3.1).
pub const TCP_LEN: usize = 20;
/// Length of a UDP header (RFC 768).
pub const UDP_LEN: usize = 8;

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
#[inline]
fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}
#[inline]
fn ip(b: &[u8], at: usize) -> [u8; 4] {
    [b[at], b[at + 1], b[at + 2], b[at + 3]]
}
#[inline]
fn mac(b: &[u8], at: usize) -> [u8; 6] {
    [b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5]]
}

/// Ones'-complement sum of `data` added to `acc` (RFC 1071), not yet folded and
/// complemented; returns a value below 2^17.
///
/// Sums little-endian 32-bit words into a 64-bit accumulator and swaps the folded result
/// (RFC 1071 §2: the sum is independent of word size once folded, and byte-order
/// independent up to a final swap), so the loop is a plain load and add.
pub fn sum(acc: u32, data: &[u8]) -> u32 {
    let mut a = 0u64;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        a += u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
    }
    let mut tail = [0u8; 4];
    let r = chunks.remainder();
    tail[..r.len()].copy_from_slice(r);
    a += u64::from(u32::from_le_bytes(tail));
    // 2^16 ≡ 1 (mod 2^16 − 1): folding the halves keeps the ones'-complement sum.
    let a = (a & 0xffff_ffff) + (a >> 32);
    let a = (a & 0xffff_ffff) + (a >> 32);
    let a = (a & 0xffff) + (a >> 16);
    let a = ((a & 0xffff) + (a >> 16)) as u16;
    acc + u32::from(a.swap_bytes())
}

/// Folds a 32-bit ones'-complement sum and complements it (RFC 1071).
#[inline(never)] // one copy for every checksum site (smaller flash, tcp-lite/size/measure.sh)
pub fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Sum of the IPv4 pseudo-header used by TCP and UDP (RFC 9293 §3.1, RFC 768).
#[inline(never)] // smaller flash (tcp-lite/size/measure.sh)
pub fn pseudo_sum(src: [u8; 4], dst: [u8; 4], proto: u8, len: usize) -> u32 {
    // Each address as two big-endian 16-bit words; the sum stays below 2^19.
    let words = |a: [u8; 4]| {
        let v = u32::from_be_bytes(a);
        (v >> 16) + (v & 0xffff)
    };
    words(src) + words(dst) + u32::from(proto) + (len as u32 & 0xffff)
}

/// A parsed Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EthHdr {
    /// Destination MAC.
    pub dst: [u8; 6],
    /// Source MAC.
    pub src: [u8; 6],
    /// EtherType.
    pub ethertype: u16,
}

impl EthHdr {
    /// Parses the header; `None` if `frame` is shorter than [`ETH_LEN`].
    pub fn parse(frame: &[u8]) -> Option<Self> {
        if frame.len() < ETH_LEN {
            return None;
        }
        Some(Self {
            dst: mac(frame, 0),
            src: mac(frame, 6),
            ethertype: be16(frame, 12),
        })
    }
    /// Writes the header into the first [`ETH_LEN`] bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Option<()> {
        let b = buf.get_mut(..ETH_LEN)?;
        b[0..6].copy_from_slice(&self.dst);
        b[6..12].copy_from_slice(&self.src);
        put16(b, 12, self.ethertype);
        Some(())
    }
}

/// An ARP packet for Ethernet/IPv4 (RFC 826).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ArpRepr {
    /// Operation: 1 request, 2 reply.
    pub op: u16,
    /// Sender hardware address.
    pub sha: [u8; 6],
    /// Sender protocol address.
    pub spa: [u8; 4],
    /// Target hardware address.
    pub tha: [u8; 6],
    /// Target protocol address.
    pub tpa: [u8; 4],
}

impl ArpRepr {
    /// Parses an ARP packet; `None` unless it is Ethernet/IPv4 with the right lengths.
    pub fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < ARP_LEN
            || be16(b, 0) != 1
            || be16(b, 2) != ETHERTYPE_IPV4
            || b[4] != 6
            || b[5] != 4
        {
            return None;
        }
        Some(Self {
            op: be16(b, 6),
            sha: mac(b, 8),
            spa: ip(b, 14),
            tha: mac(b, 18),
            tpa: ip(b, 24),
        })
    }
    /// Writes the packet into the first [`ARP_LEN`] bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Option<()> {
        let b = buf.get_mut(..ARP_LEN)?;
        put16(b, 0, 1);
        put16(b, 2, ETHERTYPE_IPV4);
        b[4] = 6;
        b[5] = 4;
        put16(b, 6, self.op);
        b[8..14].copy_from_slice(&self.sha);
        b[14..18].copy_from_slice(&self.spa);
        b[18..24].copy_from_slice(&self.tha);
        b[24..28].copy_from_slice(&self.tpa);
        Some(())
    }
}

/// Why an IPv4 header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Ipv4Error {
    /// Shorter than its header or its total length, or a bad IHL / version.
    Malformed,
    /// Header checksum mismatch.
    Checksum,
    /// A fragment (MF set or a non-zero offset): this stack does not reassemble.
    Fragment,
}

/// A parsed IPv4 header (RFC 791 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ipv4Repr {
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
    /// Protocol number.
    pub proto: u8,
    /// Time to live.
    pub ttl: u8,
    /// Payload length (total length minus header length).
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// Parses and checks an IPv4 header; returns it and the header length.
    ///
    /// Checks version, IHL (≥ 5 and within the buffer), total length (≥ IHL·4 and ≤ the
    /// buffer; trailing link padding is ignored), the header checksum unless
    /// `verify_checksum` is false, and refuses fragments (RFC 791 §3.2: MF or offset ≠ 0).
    pub fn parse(b: &[u8], verify_checksum: bool) -> Result<(Self, usize), Ipv4Error> {
        if b.len() < IPV4_LEN || b[0] >> 4 != 4 {
            return Err(Ipv4Error::Malformed);
        }
        let ihl = usize::from(b[0] & 0x0f) * 4;
        let total = usize::from(be16(b, 2));
        if ihl < IPV4_LEN || total < ihl || total > b.len() {
            return Err(Ipv4Error::Malformed);
        }
        if verify_checksum && fold(sum(0, &b[..ihl])) != 0 {
            return Err(Ipv4Error::Checksum);
        }
        let frag = be16(b, 6);
        if frag & 0x3fff != 0 {
            return Err(Ipv4Error::Fragment);
        }
        Ok((
            Self {
                src: ip(b, 12),
                dst: ip(b, 16),
                proto: b[9],
                ttl: b[8],
                payload_len: total - ihl,
            },
            ihl,
        ))
    }

    /// Writes a 20-byte header (DF set, no options) into `buf`.
    pub fn emit(&self, buf: &mut [u8], ident: u16, checksum: bool) -> Option<()> {
        let b = buf.get_mut(..IPV4_LEN)?;
        b[0] = 0x45;
        b[1] = 0;
        put16(b, 2, (IPV4_LEN + self.payload_len) as u16);
        put16(b, 4, ident);
        put16(b, 6, 0x4000);
        b[8] = self.ttl;
        b[9] = self.proto;
        put16(b, 10, 0);
        b[12..16].copy_from_slice(&self.src);
        b[16..20].copy_from_slice(&self.dst);
        if checksum {
            let c = fold(sum(0, b));
            put16(b, 10, c);
        }
        Some(())
    }
}

/// TCP header flags (RFC 9293 §3.1).
pub mod flags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field is significant.
    pub const ACK: u8 = 0x10;
}

/// Maximum number of SACK blocks carried in or read from one segment (RFC 2018 §3: 4 fit
/// without timestamps, 3 with).
pub const MAX_SACK: usize = 3;

/// A TCP segment: header fields, the options this stack understands, and the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TcpRepr<'p> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful with [`flags::ACK`]).
    pub ack: u32,
    /// Flag bits (see [`flags`]).
    pub flags: u8,
    /// Window field as carried (unscaled).
    pub window: u16,
    /// Maximum segment size option (RFC 9293 §3.7.1).
    pub mss: Option<u16>,
    /// Window scale shift option (RFC 7323 §2).
    pub wscale: Option<u8>,
    /// SACK-permitted option (RFC 2018 §2).
    pub sack_permitted: bool,
    /// Timestamps option (TSval, TSecr) (RFC 7323 §3).
    pub timestamp: Option<(u32, u32)>,
    /// SACK blocks (left edge, right edge), first `sack_len` valid (RFC 2018 §3).
    pub sack: [(u32, u32); MAX_SACK],
    /// Number of valid entries in `sack`.
    pub sack_len: u8,
    /// Payload.
    pub payload: &'p [u8],
}

impl<'p> TcpRepr<'p> {
    /// True if every bit of `f` is set.
    pub fn has(&self, f: u8) -> bool {
        self.flags & f == f
    }

    /// Sequence space the segment occupies: payload plus one each for SYN and FIN.
    pub fn seg_len(&self) -> u32 {
        self.payload.len() as u32
            + u32::from(self.flags & flags::SYN != 0)
            + u32::from(self.flags & flags::FIN != 0)
    }

    /// Parses a TCP segment from `b` (the IP payload). Verifies the checksum against the
    /// pseudo-header when `verify` is given. A segment with an illegal option length (below
    /// 2, past the header, or missing) is refused: RFC 9293 §3.1 (MUST-7) requires handling
    /// it and suggests resetting the connection; dropping the segment costs the peer no state.
    /// Unknown options and known ones with an unexpected length are skipped.
    pub fn parse(b: &'p [u8], verify: Option<([u8; 4], [u8; 4])>) -> Option<Self> {
        let mut r = TcpRepr::default();
        r.parse_into(b, verify)?;
        Some(r)
    }

    /// [`parse`](Self::parse) into `self`, which holds no options on entry (a segment
    /// description written in place is not moved around: smaller flash).
    pub(crate) fn parse_into(
        &mut self,
        b: &'p [u8],
        verify: Option<([u8; 4], [u8; 4])>,
    ) -> Option<()> {
        if b.len() < TCP_LEN {
            return None;
        }
        let off = usize::from(b[12] >> 4) * 4;
        if off < TCP_LEN || off > b.len() {
            return None;
        }
        if let Some((src, dst)) = verify {
            if fold(sum(pseudo_sum(src, dst, PROTO_TCP, b.len()), b)) != 0 {
                return None;
            }
        }
        let r = self;
        r.src_port = be16(b, 0);
        r.dst_port = be16(b, 2);
        r.seq = be32(b, 4);
        r.ack = be32(b, 8);
        r.flags = b[13] & 0x1f;
        r.window = be16(b, 14);
        r.payload = &b[off..];
        let mut o = &b[TCP_LEN..off];
        while let [kind, rest @ ..] = o {
            match *kind {
                0 => break,
                1 => {
                    o = rest;
                    continue;
                }
                _ => {}
            }
            let len = usize::from(*rest.first()?);
            if len < 2 || len > o.len() {
                return None;
            }
            let d = &o[2..len];
            match (*kind, len) {
                (2, 4) => r.mss = Some(be16(d, 0)),
                // RFC 7323 §2.3: a shift above 14 is used as 14.
                (3, 3) => r.wscale = Some(d[0].min(14)),
                (4, 2) => r.sack_permitted = true,
                (5, _) if (len - 2) % 8 == 0 => {
                    // A second SACK option adds to the first, up to MAX_SACK blocks in all.
                    for blk in d.chunks_exact(8) {
                        let Some(slot) = r.sack.get_mut(usize::from(r.sack_len)) else {
                            break;
                        };
                        *slot = (be32(blk, 0), be32(blk, 4));
                        r.sack_len += 1;
                    }
                }
                (8, 10) => r.timestamp = Some((be32(d, 0), be32(d, 4))),
                _ => {}
            }
            o = &o[len..];
        }
        Some(())
    }

    /// Hands the options as emitted to `push`, in 32-bit words (each option this stack
    /// sends fills whole words with NOP padding, as RFC 7323 Appendix A lays them out).
    fn option_words(&self, mut push: impl FnMut(u32)) {
        if let Some(m) = self.mss {
            push(0x0204_0000 | u32::from(m));
        }
        if let Some(s) = self.wscale {
            push(0x0103_0300 | u32::from(s));
        }
        match (self.sack_permitted, self.timestamp) {
            (sp, Some((v, e))) => {
                push(if sp { 0x0402_080a } else { 0x0101_080a });
                push(v);
                push(e);
            }
            (true, None) => push(0x0101_0402),
            (false, None) => {}
        }
        let k = usize::from(self.sack_len).min(MAX_SACK);
        if k > 0 {
            push(0x0101_0500 | (2 + 8 * k as u32));
            for &(l, r) in &self.sack[..k] {
                push(l);
                push(r);
            }
        }
    }

    /// Length of the options as emitted, padded to 4 bytes.
    pub fn options_len(&self) -> usize {
        let mut n = 0;
        self.option_words(|_| n += 4);
        n
    }

    /// Length of the TCP header with options.
    pub fn header_len(&self) -> usize {
        TCP_LEN + self.options_len()
    }

    /// Writes header, options and payload into `buf` and fills the checksum for the given
    /// addresses unless `checksum` is `None`. Returns the segment length.
    pub fn emit(&self, buf: &mut [u8], checksum: Option<([u8; 4], [u8; 4])>) -> Option<usize> {
        let hl = self.emit_header(buf)?;
        let total = hl + self.payload.len();
        let b = buf.get_mut(..total)?;
        b.get_mut(hl..)?.copy_from_slice(self.payload);
        if let Some((src, dst)) = checksum {
            let c = fold(sum(pseudo_sum(src, dst, PROTO_TCP, total), b));
            put16(b, 16, c);
        }
        Some(total)
    }

    /// Writes header and options (checksum field zero, payload not copied) into `buf`;
    /// returns the header length, or `None` if `buf` is too short or the options exceed
    /// 40 bytes.
    pub(crate) fn emit_header(&self, buf: &mut [u8]) -> Option<usize> {
        // Options first, straight into place after the fixed header; a word that does not
        // fit the buffer or the 60-byte header (RFC 9293 §3.1) fails the emit.
        let mut hl = TCP_LEN;
        let mut fits = true;
        self.option_words(|x| match buf.get_mut(hl..hl + 4).filter(|_| hl < 60) {
            Some(o) => {
                o.copy_from_slice(&x.to_be_bytes());
                hl += 4;
            }
            None => fits = false,
        });
        let fixed = buf.get_mut(..TCP_LEN).filter(|_| fits)?;
        fixed[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        fixed[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        fixed[4..8].copy_from_slice(&self.seq.to_be_bytes());
        fixed[8..12].copy_from_slice(&self.ack.to_be_bytes());
        fixed[12] = ((hl / 4) as u8) << 4;
        fixed[13] = self.flags;
        fixed[14..16].copy_from_slice(&self.window.to_be_bytes());
        fixed[16..20].fill(0);
        Some(hl)
    }
}

/// Builds a complete Ethernet + IPv4 + TCP frame; a helper for tests and tools.
pub fn tcp_frame(
    buf: &mut [u8],
    eth: EthHdr,
    src: [u8; 4],
    dst: [u8; 4],
    seg: &TcpRepr<'_>,
) -> Option<usize> {
    let tl = seg.header_len() + seg.payload.len();
    eth.emit(buf)?;
    Ipv4Repr {
        src,
        dst,
        proto: PROTO_TCP,
        ttl: 64,
        payload_len: tl,
    }
    .emit(buf.get_mut(ETH_LEN..)?, 0, true)?;
    seg.emit(buf.get_mut(ETH_LEN + IPV4_LEN..)?, Some((src, dst)))?;
    Some(ETH_LEN + IPV4_LEN + tl)
}

/// Parses an Ethernet + IPv4 + TCP frame (checksums verified); a helper for tests and tools.
pub fn parse_tcp_frame(frame: &[u8]) -> Option<(EthHdr, Ipv4Repr, TcpRepr<'_>)> {
    let eth = EthHdr::parse(frame)?;
    if eth.ethertype != ETHERTYPE_IPV4 {
        return None;
    }
    let ipb = &frame[ETH_LEN..];
    let (ip4, hl) = Ipv4Repr::parse(ipb, true).ok()?;
    if ip4.proto != PROTO_TCP {
        return None;
    }
    let t = TcpRepr::parse(ipb.get(hl..hl + ip4.payload_len)?, Some((ip4.src, ip4.dst)))?;
    Some((eth, ip4, t))
}

/// Reads an ICMP echo request/reply header: (type, identifier, sequence).
pub(crate) fn icmp_echo(b: &[u8]) -> Option<(u8, u16, u16)> {
    if b.len() < 8 {
        return None;
    }
    Some((b[0], be16(b, 4), be16(b, 6)))
}

/// Reads a UDP header: (src port, dst port, datagram length) after checking the length and,
/// when `verify` is given and the checksum field is non-zero, the checksum (RFC 768).
#[cfg(feature = "udp")]
pub(crate) fn udp_parse(b: &[u8], verify: Option<([u8; 4], [u8; 4])>) -> Option<(u16, u16, usize)> {
    if b.len() < UDP_LEN {
        return None;
    }
    let len = usize::from(be16(b, 4));
    if len < UDP_LEN || len > b.len() {
        return None;
    }
    if let Some((s, d)) = verify {
        if be16(b, 6) != 0 && fold(sum(pseudo_sum(s, d, PROTO_UDP, len), &b[..len])) != 0 {
            return None;
        }
    }
    Some((be16(b, 0), be16(b, 2), len))
}

/// Writes a UDP header for the `payload_len` bytes already at `b[8..]`, with the checksum
/// when `ck` gives the addresses.
#[cfg(feature = "udp")]
pub(crate) fn udp_emit(
    b: &mut [u8],
    sp: u16,
    dp: u16,
    payload_len: usize,
    ck: Option<([u8; 4], [u8; 4])>,
) {
    let len = UDP_LEN + payload_len;
    put16(b, 0, sp);
    put16(b, 2, dp);
    put16(b, 4, len as u16);
    put16(b, 6, 0);
    if let Some((s, d)) = ck {
        let c = fold(sum(pseudo_sum(s, d, PROTO_UDP, len), &b[..len]));
        // RFC 768: a computed zero is sent as all ones.
        put16(b, 6, if c == 0 { 0xffff } else { c });
    }
}

pub(crate) fn put_u16(b: &mut [u8], at: usize, v: u16) {
    put16(b, at, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (folded, not
    /// complemented), whatever the starting offset of an odd tail.
    #[test]
    fn rfc1071_example() {
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(!fold(sum(0, &d)), 0xddf2);
        // Odd length: the last byte is the high byte of a padded word.
        assert_eq!(
            !fold(sum(0, &d[..7])),
            !fold(sum(0, &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0x00]))
        );
        // Accumulating in parts equals one pass when the split is even.
        assert_eq!(fold(sum(sum(0, &d[..2]), &d[2..])), fold(sum(0, &d)));
    }

    /// The word-wise sum equals a plain 16-bit reference on arbitrary lengths.
    #[test]
    fn matches_16_bit_reference() {
        let data: std::vec::Vec<u8> = (0..1500u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
            .collect();
        for len in [0, 1, 2, 3, 4, 5, 63, 64, 65, 1499, 1500] {
            let d = &data[..len];
            let mut r: u32 = 0;
            for c in d.chunks(2) {
                r += u32::from(c[0]) << 8 | c.get(1).map_or(0, |&b| u32::from(b));
            }
            assert_eq!(fold(sum(0, d)), fold(r), "len {len}");
            assert_eq!(
                fold(sum(0xfffe, d)),
                fold(r + 0xfffe),
                "len {len} with carry-in"
            );
        }
    }

    /// Options are written in place and read back; a set that needs more than the 40 bytes
    /// a TCP header holds is refused rather than truncated.
    #[test]
    fn options_round_trip_and_limit() {
        let mut r = TcpRepr {
            src_port: 1,
            dst_port: 2,
            flags: flags::ACK,
            timestamp: Some((7, 9)),
            sack: [(10, 20), (30, 40), (50, 60)],
            sack_len: 3,
            ..TcpRepr::default()
        };
        let mut b = [0u8; 80];
        let n = r.emit(&mut b, None).unwrap();
        assert_eq!(n, 60);
        assert_eq!(n, r.header_len());
        let p = TcpRepr::parse(&b[..n], None).unwrap();
        assert_eq!((p.timestamp, p.sack, p.sack_len), (r.timestamp, r.sack, 3));
        // Too short a buffer for the options.
        assert_eq!(r.emit(&mut b[..56], None), None);
        // MSS on top of timestamps and three SACK blocks: 44 bytes of options.
        r.mss = Some(1460);
        assert_eq!(r.emit(&mut b, None), None);
    }

    /// Two SACK options in one header (3 + 1 blocks, 36 bytes of options) keep the first
    /// MAX_SACK blocks instead of indexing past the array.
    #[test]
    fn two_sack_options_are_bounded() {
        let mut b = [0u8; 56];
        b[12] = 14 << 4; // 56-byte header
        b[13] = flags::ACK;
        let mut o = std::vec![5u8, 26];
        for i in 0..6u32 {
            o.extend_from_slice(&(100 * (i + 1)).to_be_bytes());
        }
        o.extend_from_slice(&[5, 10, 0, 0, 0x10, 0, 0, 0, 0x20, 0]);
        b[20..20 + o.len()].copy_from_slice(&o);
        let r = TcpRepr::parse(&b, None).unwrap();
        assert_eq!(r.sack_len, 3);
        assert_eq!(r.sack, [(100, 200), (300, 400), (500, 600)]);
    }

    /// RFC 9293 §3.1 MUST-7: a segment with an illegal option length is refused; a known
    /// option with an unexpected but legal length is skipped.
    #[test]
    fn illegal_option_lengths_refuse_the_segment() {
        let hdr = |opts: &[u8]| {
            let mut b = [0u8; 24];
            b[12] = 6 << 4; // 24-byte header
            b[13] = flags::ACK;
            b[20..20 + opts.len()].copy_from_slice(opts);
            b
        };
        for bad in [[2u8, 0, 0, 0], [2, 1, 0, 0], [1, 1, 1, 8], [1, 1, 1, 2]] {
            assert!(TcpRepr::parse(&hdr(&bad), None).is_none(), "{bad:?}");
        }
        // A trailing kind byte without its length.
        assert!(TcpRepr::parse(&hdr(&[1, 1, 1, 3]), None).is_none());
        // MSS with length 3 is skipped; NOP, SACK-permitted and EOL are read.
        let b = hdr(&[2, 3, 9, 0]);
        assert_eq!(TcpRepr::parse(&b, None).unwrap().mss, None);
        let b = hdr(&[1, 4, 2, 0]);
        assert!(TcpRepr::parse(&b, None).unwrap().sack_permitted);
    }
}
