use super::*;
use crate::ethernet::EthernetFrame;
use crate::frames;
use crate::ipv4::Ipv4Packet;
use core::net::{Ipv4Addr, Ipv6Addr};
use proptest::prelude::*;

const CAPS: ChecksumCapabilities = ChecksumCapabilities::software();

/// The TCP segment and its addresses inside a captured Ethernet/IPv4 frame.
fn segment(frame: &[u8]) -> (&[u8], IpAddr, IpAddr) {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    let (s, d) = (ip.src_addr().into(), ip.dst_addr().into());
    // Borrow the payload from the original frame so it outlives the views.
    let start = eth.header_len() + ip.header_len();
    (&frame[start..start + ip.payload().len()], s, d)
}

#[test]
fn captured_syn_parses() {
    let (seg, src, dst) = segment(&frames::TCP_SYN);
    let p = TcpPacket::new_checked(seg).unwrap();
    assert_eq!((p.src_port(), p.dst_port()), (41754, 8080));
    assert_eq!(p.seq_number(), SeqNumber(4213619821));
    assert_eq!(p.flags(), TcpFlags::SYN);
    assert!(p.syn() && !p.ack() && !p.fin() && !p.rst() && !p.psh());
    assert_eq!(p.window_len(), 64240);
    assert_eq!(p.header_len(), 40);
    assert_eq!(p.segment_len(), 1);
    assert!(p.verify_checksum(&src, &dst));
    assert!(!p.verify_checksum(&dst, &IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3))));
    let opts: std::vec::Vec<_> = p.options_iter().collect::<Result<_>>().unwrap();
    assert_eq!(
        opts,
        [
            TcpOption::MaxSegmentSize(1460),
            TcpOption::SackPermitted,
            TcpOption::Timestamps(TcpTimestamps {
                tsval: 1245529564,
                tsecr: 0
            }),
            TcpOption::NoOperation,
            TcpOption::WindowScale(10),
        ]
    );
    let repr = TcpRepr::parse(&p, &src, &dst, &CAPS).unwrap();
    assert_eq!(repr.max_seg_size, Some(1460));
    assert_eq!(repr.window_scale, Some(10));
    assert!(repr.sack_permitted);
    assert_eq!(
        repr.timestamps,
        Some(TcpTimestamps {
            tsval: 1245529564,
            tsecr: 0
        })
    );
    assert_eq!(repr.ack(), None);
    assert_eq!(repr.segment_len(), 1);
    // Our layout matches Linux's: emitting gives back the captured bytes.
    let mut out = [0u8; 40];
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut out[..]),
        &src,
        &dst,
        &CAPS,
    )
    .unwrap();
    assert_eq!(&out[..], seg);
}

#[test]
fn captured_syn_ack_and_data() {
    let (seg, src, dst) = segment(&frames::TCP_SYN_ACK);
    let p = TcpPacket::new_checked(seg).unwrap();
    let repr = TcpRepr::parse(&p, &src, &dst, &CAPS).unwrap();
    assert_eq!(repr.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(repr.ack(), Some(SeqNumber(4213619822)));
    let mut out = [0u8; 40];
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut out[..]),
        &src,
        &dst,
        &CAPS,
    )
    .unwrap();
    assert_eq!(&out[..], seg);

    let (seg, src, dst) = segment(&frames::TCP_PSH_DATA);
    let p = TcpPacket::new_checked(seg).unwrap();
    assert_eq!(p.payload(), b"hello");
    assert_eq!(p.segment_len(), 5);
    let repr = TcpRepr::parse(&p, &src, &dst, &CAPS).unwrap();
    assert_eq!(repr.payload_len, 5);
    assert_eq!(repr.flags, TcpFlags::PSH | TcpFlags::ACK);
    assert_eq!(repr.timestamps.map(|t| t.tsecr), Some(4000576645));
    let mut out = [0u8; 37];
    out[32..].copy_from_slice(b"hello");
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut out[..]),
        &src,
        &dst,
        &CAPS,
    )
    .unwrap();
    assert_eq!(&out[..], seg);

    // A flipped payload bit fails the checksum unless offloaded.
    let mut bad = [0u8; 37];
    bad.copy_from_slice(seg);
    bad[36] ^= 0x20;
    let p = TcpPacket::new_checked(&bad[..]).unwrap();
    assert_eq!(TcpRepr::parse(&p, &src, &dst, &CAPS), Err(Error::Checksum));
    assert!(TcpRepr::parse(&p, &src, &dst, &ChecksumCapabilities::offloaded()).is_ok());
}

#[test]
fn offloaded_emit_leaves_checksum_zero() {
    let repr = TcpRepr::new(1, 2, SeqNumber(3), SeqNumber(4), TcpFlags::ACK, 5);
    let mut out = [0xffu8; 20];
    let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut out[..]),
        &a,
        &a,
        &ChecksumCapabilities::offloaded(),
    )
    .unwrap();
    assert_eq!(TcpPacket::new_checked(&out[..]).unwrap().checksum(), 0);
    // Wrong buffer sizes are refused before anything is written.
    let mut short = [0u8; 19];
    assert_eq!(
        repr.emit(&mut TcpPacket::new_unchecked(&mut short[..]), &a, &a, &CAPS),
        Err(Error::Truncated)
    );
    assert_eq!(short, [0u8; 19]);
    let mut long = [0u8; 21];
    assert_eq!(
        repr.emit(&mut TcpPacket::new_unchecked(&mut long[..]), &a, &a, &CAPS),
        Err(Error::Malformed)
    );
}

#[test]
fn ipv6_checksum() {
    let src = IpAddr::V6("fd00::1".parse::<Ipv6Addr>().unwrap());
    let dst = IpAddr::V6("fd00::2".parse::<Ipv6Addr>().unwrap());
    let mut repr = TcpRepr::new(443, 50000, SeqNumber(1), SeqNumber(2), TcpFlags::ACK, 100);
    repr.payload_len = 3;
    let mut out = [0u8; 23];
    out[20..].copy_from_slice(b"abc");
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut out[..]),
        &src,
        &dst,
        &CAPS,
    )
    .unwrap();
    let p = TcpPacket::new_checked(&out[..]).unwrap();
    assert!(p.verify_checksum(&src, &dst));
    assert_eq!(TcpRepr::parse(&p, &src, &dst, &CAPS).unwrap(), repr);
}

#[test]
fn malformed_options() {
    let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let caps = ChecksumCapabilities::offloaded();
    let cases: [&[u8]; 8] = [
        &[2, 0, 0, 0],                          // length 0
        &[2, 1, 0, 0],                          // length 1
        &[2, 3, 5, 0],                          // MSS with length 3
        &[3, 4, 0, 0],                          // WS with length 4
        &[5, 6, 0, 0, 0, 0, 1, 1],              // SACK with 4 data bytes
        &[8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // TS with length 12
        &[0xfe, 30, 0, 0],                      // length past the end
        &[1, 1, 1, 2],                          // MSS kind with no length byte
    ];
    for opts in cases {
        let mut seg = [0u8; 32];
        seg[12] = ((20 + opts.len()).div_ceil(4) as u8) << 4;
        seg[20..20 + opts.len()].copy_from_slice(opts);
        let hl = 20 + opts.len().next_multiple_of(4);
        let p = TcpPacket::new_checked(&seg[..hl]).unwrap();
        assert_eq!(
            TcpRepr::parse(&p, &a, &a, &caps),
            Err(Error::Malformed),
            "{opts:?}"
        );
    }
    // Unknown options are skipped by their length; after EOL nothing is read.
    let opts = [0xfe, 4, 0xaa, 0xbb, 2, 4, 0x05, 0xdc, 0, 2, 0, 0];
    let mut seg = [0u8; 32];
    seg[12] = 8 << 4;
    seg[20..].copy_from_slice(&opts);
    let p = TcpPacket::new_checked(&seg[..]).unwrap();
    let repr = TcpRepr::parse(&p, &a, &a, &caps).unwrap();
    assert_eq!(repr.max_seg_size, Some(1500));
    let mut it = p.options_iter();
    assert_eq!(
        it.next(),
        Some(Ok(TcpOption::Unknown {
            kind: 0xfe,
            data: &[0xaa, 0xbb]
        }))
    );
    assert_eq!(it.nth(1), Some(Ok(TcpOption::EndOfList)));
    assert_eq!(it.next(), None);
}

#[test]
fn sack_blocks_fit_in_forty_bytes() {
    let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let blocks: std::vec::Vec<SackBlock> = (0..4)
        .map(|i| SackBlock {
            left: SeqNumber(i * 100),
            right: SeqNumber(i * 100 + 50),
        })
        .collect();
    let mut repr = TcpRepr::new(1, 2, SeqNumber(3), SeqNumber(4), TcpFlags::ACK, 5);
    repr.sack_blocks = SackBlocks::from_slice(&blocks);
    assert_eq!(repr.header_len(), 20 + 4 + 32);
    repr.timestamps = Some(TcpTimestamps { tsval: 1, tsecr: 2 });
    // With timestamps only three blocks fit (RFC 2018 §3).
    assert_eq!(repr.header_len(), 60);
    let mut out = [0u8; 60];
    repr.emit(&mut TcpPacket::new_unchecked(&mut out[..]), &a, &a, &CAPS)
        .unwrap();
    let parsed = TcpRepr::parse(&TcpPacket::new_checked(&out[..]).unwrap(), &a, &a, &CAPS).unwrap();
    assert_eq!(parsed.sack_blocks.as_slice(), &blocks[..3]);
    // A SYN with every option leaves room for two SACK blocks.
    repr.max_seg_size = Some(1460);
    repr.window_scale = Some(7);
    repr.sack_permitted = true;
    assert_eq!(repr.header_len(), 60);
    assert_eq!(repr.layout().1, 2);
    repr.sack_blocks = SackBlocks::EMPTY;
    assert_eq!(repr.header_len(), 40);
    let mut s = SackBlocks::from_slice(&blocks);
    assert!(!s.push(SackBlock::default()));
    assert_eq!(s.len(), 4);
}

#[test]
fn seq_number_wraps() {
    let a = SeqNumber(u32::MAX - 10);
    let b = a + 20;
    assert_eq!(b, SeqNumber(9));
    assert!(a < b);
    assert!(b > a);
    assert!(b >= b);
    assert_eq!(b - a, 20);
    assert_eq!(a - b, -20);
    assert_eq!(b - 20usize, a);
    assert_eq!(a.max(b), b);
    assert_eq!(a.min(b), a);
    let mut c = a;
    c += 11;
    assert_eq!(c, SeqNumber(0));
    c -= 1;
    assert_eq!(c, SeqNumber(u32::MAX));
    assert_eq!(SeqNumber(5).wrapping_add_signed(-6), SeqNumber(u32::MAX));
    // Exactly half the space apart: neither is before the other.
    assert_eq!(SeqNumber(0).partial_cmp(&SeqNumber(1 << 31)), None);
    assert_eq!(SeqNumber(1 << 31).partial_cmp(&SeqNumber(0)), None);
}

fn arb_repr() -> impl Strategy<Value = TcpRepr> {
    (
        (
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            0u16..0x1000,
            any::<u16>(),
            any::<u16>(),
        ),
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u8>()),
            any::<bool>(),
            proptest::collection::vec((any::<u32>(), any::<u32>()), 0..=4),
            proptest::option::of((any::<u32>(), any::<u32>())),
            0usize..64,
        ),
    )
        .prop_map(
            |((sp, dp, seq, ack, flags, win, urg), (mss, ws, sp_ok, sacks, ts, plen))| {
                let blocks: std::vec::Vec<SackBlock> = sacks
                    .into_iter()
                    .map(|(l, r)| SackBlock {
                        left: SeqNumber(l),
                        right: SeqNumber(r),
                    })
                    .collect();
                TcpRepr {
                    src_port: sp,
                    dst_port: dp,
                    seq_number: SeqNumber(seq),
                    ack_number: SeqNumber(ack),
                    flags: TcpFlags::from_bits_retain(flags),
                    window_len: win,
                    urgent_pointer: urg,
                    max_seg_size: mss,
                    window_scale: ws,
                    sack_permitted: sp_ok,
                    sack_blocks: SackBlocks::from_slice(&blocks),
                    timestamps: ts.map(|(tsval, tsecr)| TcpTimestamps { tsval, tsecr }),
                    payload_len: plen,
                }
            },
        )
}

proptest! {
    #[test]
    fn repr_round_trip(repr in arb_repr(), payload in any::<[u8; 64]>(), v6 in any::<bool>()) {
        let (src, dst): (IpAddr, IpAddr) = if v6 {
            ("2001:db8::1".parse::<Ipv6Addr>().unwrap().into(), "2001:db8::2".parse::<Ipv6Addr>().unwrap().into())
        } else {
            (Ipv4Addr::new(192, 0, 2, 1).into(), Ipv4Addr::new(198, 51, 100, 7).into())
        };
        let mut buf = [0u8; 124];
        let len = repr.buffer_len();
        let hl = repr.header_len();
        buf[hl..len].copy_from_slice(&payload[..repr.payload_len]);
        repr.emit(&mut TcpPacket::new_unchecked(&mut buf[..len]), &src, &dst, &CAPS).unwrap();
        let p = TcpPacket::new_checked(&buf[..len]).unwrap();
        prop_assert_eq!(p.payload(), &payload[..repr.payload_len]);
        let parsed = TcpRepr::parse(&p, &src, &dst, &CAPS).unwrap();
        // Only SACK blocks beyond the 40-byte options area are dropped.
        let mut expected = repr;
        expected.sack_blocks.truncate(repr.layout().1);
        prop_assert_eq!(parsed, expected);
        let mut again = [0u8; 124];
        again[hl..len].copy_from_slice(&payload[..repr.payload_len]);
        parsed.emit(&mut TcpPacket::new_unchecked(&mut again[..len]), &src, &dst, &CAPS).unwrap();
        prop_assert_eq!(&again[..len], &buf[..len]);
    }

    #[test]
    fn accessors_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80)) {
        let p = TcpPacket::new_unchecked(&data[..]);
        let checked = p.check_len().is_ok();
        let _ = (p.src_port(), p.dst_port(), p.seq_number(), p.ack_number(), p.header_len(), p.flags());
        let _ = (p.fin(), p.syn(), p.rst(), p.psh(), p.ack(), p.window_len(), p.checksum(), p.urgent_pointer());
        let _ = (p.segment_len(), p.verify_checksum(&IpAddr::V4(Ipv4Addr::LOCALHOST), &IpAddr::V6(Ipv6Addr::LOCALHOST)));
        let (o, pl) = (p.options(), p.payload());
        if checked {
            prop_assert_eq!(o.len() + HEADER_LEN + pl.len(), data.len());
        }
        for opt in p.options_iter() {
            let _ = opt;
        }
        let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let _ = TcpRepr::parse(&p, &a, &a, &ChecksumCapabilities::offloaded());
        let mut copy = data.clone();
        let mut m = TcpPacket::new_unchecked(&mut copy[..]);
        m.fill_checksum(&a, &a);
        m.set_flags(TcpFlags::all());
        let _ = (m.options_mut().len(), m.payload_mut().len());
    }

    #[test]
    fn option_decoder_agrees_with_iterator(opts in proptest::collection::vec(
        prop_oneof![Just(0u8), Just(1u8), Just(2u8), Just(3u8), Just(4u8), Just(5u8), Just(8u8), Just(10u8), any::<u8>()],
        0..40,
    )) {
        let base = TcpRepr::new(0, 0, SeqNumber(0), SeqNumber(0), TcpFlags::empty(), 0);
        let mut fast = base;
        let fast_result = fast.parse_options(&opts);
        let mut slow = base;
        let slow_result = TcpOptions::new(&opts).try_for_each(|o| {
            match o? {
                TcpOption::MaxSegmentSize(m) => slow.max_seg_size = Some(m),
                TcpOption::WindowScale(s) => slow.window_scale = Some(s),
                TcpOption::SackPermitted => slow.sack_permitted = true,
                TcpOption::Sack(s) => slow.sack_blocks = s,
                TcpOption::Timestamps(t) => slow.timestamps = Some(t),
                _ => {}
            }
            Ok(())
        });
        prop_assert_eq!(fast_result, slow_result);
        if fast_result.is_ok() {
            prop_assert_eq!(fast, slow);
        }
    }

    #[test]
    fn seq_order_matches_distance(a: u32, d in 1u32..(1 << 31)) {
        let x = SeqNumber(a);
        let y = x + d as usize;
        prop_assert!(x < y);
        prop_assert!(y > x);
        prop_assert_eq!(y - x, d as i32);
        prop_assert_eq!(y - d as usize, x);
    }
}
