//! CPU cost of a bulk transfer between two stacks over a lossless in-memory wire, in virtual
//! time: tcp-lite against smoltcp 0.14, same buffers (64 KiB), same 1 MiB, one run.
//!
//! `cargo bench -p tcp-lite --bench bulk` (criterion, wall time), or one transfer of one stack
//! for an exact instruction count:
//! `BULK_ONCE=tcp-lite valgrind --tool=callgrind target/release/deps/bulk-*` (likewise
//! `BULK_ONCE=smoltcp`).

use std::collections::VecDeque;
use std::hint::black_box;

use criterion::{Criterion, Throughput};

const TOTAL: usize = 1 << 20;
const BUF: usize = 64 * 1024;

/// Transfers `TOTAL` bytes from a tcp-lite client to a tcp-lite server; returns bytes read.
fn tcp_lite_transfer() -> usize {
    use tcp_lite::{ArpEntry, Config, Instant, Interface, TcpSocket};
    let (mut rx_a, mut tx_a, mut rx_b, mut tx_b) = (
        vec![0u8; BUF],
        vec![0u8; BUF],
        vec![0u8; BUF],
        vec![0u8; BUF],
    );
    let mut sa = [TcpSocket::new(&mut rx_a, &mut tx_a)];
    let mut sb = [TcpSocket::default(), TcpSocket::new(&mut rx_b, &mut tx_b)];
    let (mut ta, mut tb) = ([0u16; 4], [0u16; 4]);
    let (mut aa, mut ab) = ([ArpEntry::default(); 2], [ArpEntry::default(); 2]);
    let mut a = Interface::new(
        Config::new([2, 0, 0, 0, 0, 1], [10, 0, 0, 1], 24, [1; 16]),
        &mut sa,
        &mut ta,
        &mut aa,
    );
    let mut b = Interface::new(
        Config::new([2, 0, 0, 0, 0, 2], [10, 0, 0, 2], 24, [2; 16]),
        &mut sb,
        &mut tb,
        &mut ab,
    );
    let l = b.listen(80, 1).unwrap();
    let mut now = Instant::from_millis(0);
    let c = a.connect(now, ([10, 0, 0, 2], 80), 49152).unwrap();
    let (mut sent, mut got, mut server) = (0usize, 0usize, None);
    let mut frame = [0u8; 1600];
    let mut sink = [0u8; 4096];
    while got < TOTAL {
        if sent < TOTAL {
            sent += a.socket(c).unwrap().send_with(|buf| {
                let n = buf.len().min(TOTAL - sent);
                buf[..n].fill(0x5a);
                n
            });
        }
        let mut moved = false;
        while let Some(n) = a.transmit(now, &mut frame) {
            let _ = b.receive(now, &frame[..n]);
            moved = true;
        }
        server = server.or_else(|| b.accept(l));
        if let Some(s) = server {
            loop {
                let n = b.socket(s).unwrap().recv_slice(&mut sink);
                if n == 0 {
                    break;
                }
                got += n;
            }
        }
        while let Some(n) = b.transmit(now, &mut frame) {
            let _ = a.receive(now, &frame[..n]);
            moved = true;
        }
        if !moved {
            let next = [a.poll_at(now), b.poll_at(now)].into_iter().flatten().min();
            now = next
                .filter(|&t| t > now)
                .unwrap_or(Instant::from_millis(now.millis() + 1));
        }
    }
    black_box(sink);
    got
}

/// smoltcp device: frames queued in memory.
struct Dev {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
}
struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);
impl smoltcp::phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}
impl smoltcp::phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut v = vec![0u8; len];
        let r = f(&mut v);
        self.0.push_back(v);
        r
    }
}
impl smoltcp::phy::Device for Dev {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;
    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(Rx, Tx<'_>)> {
        let f = self.rx.pop_front()?;
        Some((Rx(f), Tx(&mut self.tx)))
    }
    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }
    fn capabilities(&self) -> smoltcp::phy::DeviceCapabilities {
        let mut c = smoltcp::phy::DeviceCapabilities::default();
        c.medium = smoltcp::phy::Medium::Ethernet;
        c.max_transmission_unit = 1514;
        c
    }
}

/// The same transfer between two smoltcp stacks.
fn smoltcp_transfer() -> usize {
    use smoltcp::iface::{Config, Interface, SocketSet, SocketStorage};
    use smoltcp::socket::tcp;
    use smoltcp::time::Instant;
    use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};
    let mut da = Dev {
        rx: VecDeque::new(),
        tx: VecDeque::new(),
    };
    let mut db = Dev {
        rx: VecDeque::new(),
        tx: VecDeque::new(),
    };
    let mut now = Instant::from_millis(0);
    let mut ia = Interface::new(
        Config::new(EthernetAddress([2, 0, 0, 0, 0, 1]).into()),
        &mut da,
        now,
    );
    let mut ib = Interface::new(
        Config::new(EthernetAddress([2, 0, 0, 0, 0, 2]).into()),
        &mut db,
        now,
    );
    ia.update_ip_addrs(|x| x.push(IpCidr::new(IpAddress::v4(10, 0, 0, 1), 24)).unwrap());
    ib.update_ip_addrs(|x| x.push(IpCidr::new(IpAddress::v4(10, 0, 0, 2), 24)).unwrap());
    let (mut st_a, mut st_b): ([SocketStorage; 1], [SocketStorage; 1]) = Default::default();
    let mut storage = [
        vec![0u8; BUF],
        vec![0u8; BUF],
        vec![0u8; BUF],
        vec![0u8; BUF],
    ];
    let mut bufs = storage.iter_mut();
    let mut sa = SocketSet::new(&mut st_a[..]);
    let mut sb = SocketSet::new(&mut st_b[..]);
    let ca = sa.add(tcp::Socket::new(
        tcp::SocketBuffer::new(&mut bufs.next().unwrap()[..]),
        tcp::SocketBuffer::new(&mut bufs.next().unwrap()[..]),
    ));
    let cb = sb.add(tcp::Socket::new(
        tcp::SocketBuffer::new(&mut bufs.next().unwrap()[..]),
        tcp::SocketBuffer::new(&mut bufs.next().unwrap()[..]),
    ));
    sb.get_mut::<tcp::Socket>(cb).listen(80).unwrap();
    sa.get_mut::<tcp::Socket>(ca)
        .connect(ia.context(), (IpAddress::v4(10, 0, 0, 2), 80), 49152)
        .unwrap();
    let (mut sent, mut got) = (0usize, 0usize);
    let mut sink = [0u8; 4096];
    while got < TOTAL {
        let s = sa.get_mut::<tcp::Socket>(ca);
        if sent < TOTAL && s.can_send() {
            sent += s
                .send(|buf| {
                    let n = buf.len().min(TOTAL - sent);
                    buf[..n].fill(0x5a);
                    (n, n)
                })
                .unwrap();
        }
        ia.poll(now, &mut da, &mut sa);
        let mut moved = !da.tx.is_empty();
        db.rx.extend(da.tx.drain(..));
        ib.poll(now, &mut db, &mut sb);
        let s = sb.get_mut::<tcp::Socket>(cb);
        while s.can_recv() {
            got += s.recv_slice(&mut sink).unwrap();
        }
        ib.poll(now, &mut db, &mut sb);
        moved |= !db.tx.is_empty();
        da.rx.extend(db.tx.drain(..));
        if !moved {
            let next = [ia.poll_at(now, &sa), ib.poll_at(now, &sb)]
                .into_iter()
                .flatten()
                .min();
            now = next
                .filter(|&t| t > now)
                .unwrap_or(now + smoltcp::time::Duration::from_millis(1));
        }
    }
    black_box(sink);
    got
}

fn main() {
    match std::env::var("BULK_ONCE").as_deref() {
        Ok("tcp-lite") => {
            assert_eq!(tcp_lite_transfer(), TOTAL);
            return;
        }
        Ok("smoltcp") => {
            assert_eq!(smoltcp_transfer(), TOTAL);
            return;
        }
        _ => {}
    }
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("bulk 1 MiB, 64 KiB buffers, lossless");
    g.throughput(Throughput::Bytes(TOTAL as u64));
    g.sample_size(20);
    // Interleaved in one run, same input.
    g.bench_function("tcp-lite", |b| {
        b.iter(|| assert_eq!(tcp_lite_transfer(), TOTAL))
    });
    g.bench_function("smoltcp 0.14", |b| {
        b.iter(|| assert_eq!(smoltcp_transfer(), TOTAL))
    });
    g.finish();
    c.final_summary();
}
