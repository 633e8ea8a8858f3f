//! No input panics: arbitrary and mutated frames fed to stacks in every state.

use proptest::prelude::*;
use tcp_lite::wire::{self, EthHdr, TcpRepr, flags as F};
use tcp_lite::{ArpEntry, Config, Instant, Interface, TcpSocket};

const US: [u8; 4] = [10, 0, 0, 1];
const PEER: [u8; 4] = [10, 0, 0, 2];
const MAC_US: [u8; 6] = [2, 0, 0, 0, 0, 1];

fn leak<T>(v: T) -> &'static mut T {
    Box::leak(Box::new(v))
}

/// A stack with a listener and a connection driven to state number `k` by a scripted peer.
/// Also returns the stack's ISS for the connection (0 if none), so that segments can carry
/// acknowledgment numbers it accepts.
fn stack(k: u8) -> (Interface<'static>, u32) {
    let socks: Vec<TcpSocket<'static>> = (0..3)
        .map(|_| {
            TcpSocket::new(
                leak([0u8; 2048]).as_mut_slice(),
                leak([0u8; 2048]).as_mut_slice(),
            )
        })
        .collect();
    let i = Interface::new(
        Config::new(MAC_US, US, 24, [3; 16]),
        Box::leak(socks.into_boxed_slice()),
        leak([0u16; 8]),
        leak([ArpEntry::default(); 2]),
    );
    #[cfg(feature = "udp")]
    let i = i.with_udp({
        let u = leak([tcp_lite::UdpSocket::new(leak([0u8; 256]), leak([0u8; 256]))]);
        u[0].bind(7);
        u
    });
    let mut i = i;
    let l = i.listen(80, 2).unwrap();
    let now = Instant::from_millis(1);
    let mut f = [0u8; 200];
    let mut feed = |i: &mut Interface<'static>, seq: u32, ack: u32, flags: u8| {
        let r = TcpRepr {
            src_port: 999,
            dst_port: 80,
            seq,
            ack,
            flags,
            window: 1000,
            ..Default::default()
        };
        let n = wire::tcp_frame(
            &mut f,
            EthHdr {
                dst: MAC_US,
                src: [2, 0, 0, 0, 0, 2],
                ethertype: 0x0800,
            },
            PEER,
            US,
            &r,
        )
        .unwrap();
        let _ = i.receive(now, &f[..n]);
        let mut o = [0u8; 1600];
        let mut last = None;
        while let Some(n) = i.transmit(now, &mut o) {
            if let Some((_, _, t)) = wire::parse_tcp_frame(&o[..n]) {
                last = Some(t.seq);
            }
        }
        last
    };
    if k == 5 {
        // SYN-SENT: an active open to the peer's port.
        i.connect(now, (PEER, 999), 80).unwrap();
        let mut o = [0u8; 1600];
        while i.transmit(now, &mut o).is_some() {}
        return (i, 0);
    }
    let mut iss = 0;
    if k >= 1 {
        iss = feed(&mut i, 100, 0, F::SYN).unwrap_or(0);
        if k >= 2 {
            feed(&mut i, 101, iss.wrapping_add(1), F::ACK);
            if let Some(c) = i.accept(l) {
                if k >= 3 {
                    i.socket(c).unwrap().send_slice(b"data");
                    i.socket(c).unwrap().close();
                    feed(&mut i, 101, iss.wrapping_add(1), F::ACK);
                }
                if k >= 4 {
                    feed(&mut i, 101, iss.wrapping_add(1), F::ACK | F::FIN);
                }
            }
        }
    }
    (i, iss)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_frames_never_panic(k in 0u8..6, frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..8)) {
        let (mut i, _) = stack(k);
        let mut o = [0u8; 1600];
        for (n, f) in frames.iter().enumerate() {
            let _ = i.receive(Instant::from_millis(2 + n as u64), f);
            while i.transmit(Instant::from_millis(2 + n as u64), &mut o).is_some() {}
        }
    }

    /// Valid Ethernet/IPv4/TCP framing around arbitrary TCP header bytes and options, so
    /// that the fuzzing reaches the TCP state machine of an existing connection.
    #[test]
    fn arbitrary_tcp_segments_never_panic(
        k in 0u8..6,
        segs in proptest::collection::vec((any::<u32>(), any::<u32>(), any::<u8>(), any::<u16>(), proptest::collection::vec(any::<u8>(), 0..=40), 0usize..64), 1..10),
    ) {
        let (mut i, iss) = stack(k);
        let mut o = [0u8; 1600];
        for (n, (seq, ack, flags, win, opts, plen)) in segs.into_iter().enumerate() {
            let now = Instant::from_millis(2 + 300 * n as u64);
            let payload = vec![0x42u8; plen];
            let r = TcpRepr { src_port: 999, dst_port: 80, seq: seq % 4 + 100, ack: if ack & 1 == 0 { iss.wrapping_add(ack % 6000) } else { ack }, flags: flags & 0x1f, window: win, payload: &payload, ..Default::default() };
            let mut f = [0u8; 400];
            let n = wire::tcp_frame(&mut f, EthHdr { dst: MAC_US, src: [2, 0, 0, 0, 0, 2], ethertype: 0x0800 }, PEER, US, &r).unwrap();
            // Splice arbitrary option bytes in and fix the data offset and checksum.
            let olen = opts.len() / 4 * 4;
            let mut g = f[..34 + 20].to_vec();
            g.extend_from_slice(&opts[..olen]);
            g.extend_from_slice(&f[34 + 20..n]);
            let tl = g.len() - 34;
            g[16..18].copy_from_slice(&((tl + 20) as u16).to_be_bytes());
            g[24..26].copy_from_slice(&[0, 0]);
            let c = wire::fold(wire::sum(0, &g[14..34]));
            g[24..26].copy_from_slice(&c.to_be_bytes());
            g[34 + 12] = (((20 + olen) / 4) as u8) << 4;
            g[34 + 16..34 + 18].copy_from_slice(&[0, 0]);
            let c = wire::fold(wire::sum(wire::pseudo_sum(PEER, US, 6, tl), &g[34..]));
            g[34 + 16..34 + 18].copy_from_slice(&c.to_be_bytes());
            let res = i.receive(now, &g);
            prop_assert!(res.is_ok(), "{:?}", res);
            while i.transmit(now, &mut o).is_some() {}
        }
    }
}
