// The body of the smoltcp echo servers, included by `src/bin/smoltcp_echo.rs` (smoltcp 0.14)
// and `src/bin/smoltcp013_echo.rs` (smoltcp 0.13), which each name their smoltcp release
// `stack`: one program, measured against both releases.
use stack::iface::{Config, Interface, SocketSet, SocketStorage};
use stack::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use stack::socket::tcp;
use stack::time::Instant;
use stack::wire::{EthernetAddress, IpAddress, IpCidr};
use tcp_lite_size::{now_ms, rx, tx};

struct Dev {
    frame: [u8; 1536],
}
struct Rx<'a>(&'a [u8]);
struct Tx;

impl RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}
impl TxToken for Tx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = [0u8; 1536];
        let r = f(&mut buf[..len]);
        tx(&buf[..len]);
        r
    }
}
impl Device for Dev {
    type RxToken<'a> = Rx<'a>;
    type TxToken<'a> = Tx;
    fn receive(&mut self, _: Instant) -> Option<(Rx<'_>, Tx)> {
        let n = rx(&mut self.frame);
        (n > 0).then(|| (Rx(&self.frame[..n]), Tx))
    }
    fn transmit(&mut self, _: Instant) -> Option<Tx> {
        Some(Tx)
    }
    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ethernet;
        c.max_transmission_unit = 1514;
        c
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let mut dev = Dev { frame: [0; 1536] };
    let mut cfg = Config::new(EthernetAddress([2, 0, 0, 0, 0, 1]).into());
    cfg.random_seed = 0x5a5a;
    let mut iface = Interface::new(cfg, &mut dev, Instant::from_millis(now_ms() as i64));
    iface.update_ip_addrs(|a| {
        let _ = a.push(IpCidr::new(IpAddress::v4(192, 168, 1, 2), 24));
    });
    let (mut rxb, mut txb) = ([0u8; 2048], [0u8; 2048]);
    let mut storage: [SocketStorage; 1] = Default::default();
    let mut sockets = SocketSet::new(&mut storage[..]);
    let h = sockets.add(tcp::Socket::new(
        tcp::SocketBuffer::new(&mut rxb[..]),
        tcp::SocketBuffer::new(&mut txb[..]),
    ));
    loop {
        let now = Instant::from_millis(now_ms() as i64);
        iface.poll(now, &mut dev, &mut sockets);
        let s = sockets.get_mut::<tcp::Socket>(h);
        if !s.is_open() {
            let _ = s.listen(7);
        }
        if s.may_recv() {
            let mut buf = [0u8; 256];
            if let Ok(k) = s.recv_slice(&mut buf) {
                let _ = s.send_slice(&buf[..k]);
            }
        } else if s.may_send() {
            s.close();
        }
    }
}
