//! UDP between two stacks over a direct in-memory wire.

use tcp_lite::{ArpEntry, Config, Error, Instant, Interface, TcpSocket, UdpSocket};

fn leak<T>(v: T) -> &'static mut T {
    Box::leak(Box::new(v))
}

fn host(last: u8, port: u16) -> Interface<'static> {
    let udp = leak([UdpSocket::new(leak([0u8; 512]), leak([0u8; 512]))]);
    udp[0].bind(port);
    let socks = leak([TcpSocket::default()]);
    Interface::new(
        Config::new([2, 0, 0, 0, 0, last], [10, 0, 0, last], 24, [last; 16]),
        socks,
        leak([0u16; 2]),
        leak([ArpEntry::default(); 2]),
    )
    .with_udp(udp)
}

fn pump(a: &mut Interface<'static>, b: &mut Interface<'static>, now: Instant) {
    let mut f = [0u8; 1600];
    for _ in 0..10 {
        while let Some(n) = a.transmit(now, &mut f) {
            let _ = b.receive(now, &f[..n]);
        }
        while let Some(n) = b.transmit(now, &mut f) {
            let _ = a.receive(now, &f[..n]);
        }
    }
}

#[test]
fn datagrams_round_trip_after_arp() {
    let (mut a, mut b) = (host(1, 5000), host(2, 53));
    let now = Instant::from_millis(5);
    a.udp(0)
        .unwrap()
        .send_to(b"question", ([10, 0, 0, 2], 53))
        .unwrap();
    a.udp(0)
        .unwrap()
        .send_to(b"second", ([10, 0, 0, 2], 53))
        .unwrap();
    pump(&mut a, &mut b, now);
    let mut buf = [0u8; 64];
    let s = b.udp(0).unwrap();
    assert_eq!(s.recv_from(&mut buf), Some((8, ([10, 0, 0, 1], 5000))));
    assert_eq!(&buf[..8], b"question");
    assert_eq!(s.recv_from(&mut buf), Some((6, ([10, 0, 0, 1], 5000))));
    assert_eq!(s.recv_from(&mut buf), None);
    s.send_to(b"answer", ([10, 0, 0, 1], 5000)).unwrap();
    pump(&mut a, &mut b, now);
    assert_eq!(
        a.udp(0).unwrap().recv_from(&mut buf),
        Some((6, ([10, 0, 0, 2], 53)))
    );
    assert_eq!(&buf[..6], b"answer");
}

#[test]
fn limits_are_enforced() {
    let (mut rx, mut tx) = ([0u8; 32], [0u8; 32]);
    let mut s = UdpSocket::new(&mut rx, &mut tx);
    s.bind(1);
    assert_eq!(
        s.send_to(&[0; 1473], ([1, 2, 3, 4], 5)),
        Err(Error::Malformed)
    );
    assert_eq!(s.send_to(&[0; 20], ([1, 2, 3, 4], 5)), Ok(()));
    assert_eq!(
        s.send_to(&[0; 20], ([1, 2, 3, 4], 5)),
        Err(Error::Exhausted)
    );
}

#[test]
fn unbound_port_and_bad_checksum_are_refused() {
    let (mut a, mut b) = (host(1, 5000), host(2, 53));
    let now = Instant::from_millis(5);
    a.udp(0)
        .unwrap()
        .send_to(b"x", ([10, 0, 0, 2], 54))
        .unwrap();
    let mut f = [0u8; 1600];
    // First the ARP exchange.
    let n = a.transmit(now, &mut f).unwrap();
    b.receive(now, &f[..n]).unwrap();
    let n = b.transmit(now, &mut f).unwrap();
    a.receive(now, &f[..n]).unwrap();
    let n = a.transmit(now, &mut f).unwrap();
    assert_eq!(b.receive(now, &f[..n]), Err(Error::NotForUs));
    f[n - 1] ^= 0xff;
    assert_eq!(b.receive(now, &f[..n]), Err(Error::Malformed));
}

#[test]
fn the_send_queue_count_does_not_overflow() {
    // A send queue with room for more than 65 535 empty datagrams (8 bytes each).
    let mut u = UdpSocket::new(leak([0u8; 16]), vec![0u8; 8 * 65_537].leak());
    u.bind(1);
    for _ in 0..65_535 {
        u.send_to(&[], ([10, 0, 0, 2], 7)).unwrap();
    }
    assert_eq!(u.send_queue(), 65_535);
    assert_eq!(u.send_to(&[], ([10, 0, 0, 2], 7)), Err(Error::Exhausted));
    assert_eq!(u.send_queue(), 65_535);
}
