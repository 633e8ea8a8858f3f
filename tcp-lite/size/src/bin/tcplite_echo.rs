//! IPv4 + TCP + ARP (+ ICMP echo) echo server on port 7 with tcp-lite.
#![no_std]
#![no_main]

use tcp_lite::{ArpEntry, Config, Instant, Interface, TcpSocket};
use tcp_lite_size::{now_ms, rx, tx};

#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let (mut rxb, mut txb) = ([0u8; 2048], [0u8; 2048]);
    let mut sockets = [TcpSocket::default(), TcpSocket::new(&mut rxb, &mut txb)];
    let mut table = [0u16; 4];
    let mut arp = [ArpEntry::default(); 4];
    let cfg = Config::new([2, 0, 0, 0, 0, 1], [192, 168, 1, 2], 24, [0x5a; 16]);
    let mut iface = Interface::new(cfg, &mut sockets, &mut table, &mut arp);
    let listener = iface.listen(7, 1).ok();
    let mut conn = None;
    let mut frame = [0u8; 1536];
    loop {
        let now = Instant::from_millis(now_ms());
        let n = rx(&mut frame);
        if n > 0 {
            let _ = iface.receive(now, &frame[..n]);
        }
        if conn.is_none() {
            conn = listener.and_then(|l| iface.accept(l));
        }
        if let Some(c) = conn {
            let closed = iface.socket(c).is_none_or(|s| {
                let mut buf = [0u8; 256];
                let k = s.recv_slice(&mut buf);
                s.send_slice(&buf[..k]);
                if s.recv_finished() {
                    s.close();
                }
                s.state() == tcp_lite::State::Closed
            });
            if closed {
                iface.release(c);
                conn = None;
            }
        }
        while let Some(n) = iface.transmit(now, &mut frame) {
            tx(&frame[..n]);
        }
    }
}
