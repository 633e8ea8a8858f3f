//! UDP (RFC 768): sockets bound to a port, queuing whole datagrams in caller-supplied rings.

use crate::Error;
use crate::ring::Ring;

/// Bytes of bookkeeping stored with each queued datagram: length, address, port.
const REC: usize = 8;
/// Largest datagram payload sent or accepted: Ethernet MTU 1500 − IPv4 20 − UDP 8.
pub const UDP_MAX_PAYLOAD: usize = 1472;

/// A UDP socket: a bound port and receive and send queues of whole datagrams.
///
/// # Examples
/// ```
/// let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
/// let mut s = tcp_lite::UdpSocket::new(&mut rx, &mut tx);
/// s.bind(53);
/// s.send_to(b"query", ([10, 0, 0, 2], 53)).unwrap();
/// assert_eq!(s.send_queue(), 1);
/// ```
#[derive(Debug, Default)]
pub struct UdpSocket<'a> {
    port: u16,
    queued_tx: u16,
    rx: Ring<'a>,
    tx: Ring<'a>,
}

fn record(len: usize, ip: [u8; 4], port: u16) -> [u8; REC] {
    let mut h = [0u8; REC];
    h[..2].copy_from_slice(&(len as u16).to_be_bytes());
    h[2..6].copy_from_slice(&ip);
    h[6..].copy_from_slice(&port.to_be_bytes());
    h
}

impl<'a> UdpSocket<'a> {
    /// An unbound socket over the given queues (each datagram takes 8 bytes more).
    pub fn new(rx: &'a mut [u8], tx: &'a mut [u8]) -> Self {
        UdpSocket {
            port: 0,
            queued_tx: 0,
            rx: Ring::new(rx),
            tx: Ring::new(tx),
        }
    }
    /// Binds to `port` (0 unbinds).
    pub fn bind(&mut self, port: u16) {
        self.port = port;
    }
    /// The bound port, 0 if none.
    pub fn port(&self) -> u16 {
        self.port
    }
    /// Datagrams waiting to be sent.
    pub fn send_queue(&self) -> usize {
        usize::from(self.queued_tx)
    }
    /// Queues a datagram to `dst`.
    ///
    /// # Errors
    /// [`Error::Malformed`] above [`UDP_MAX_PAYLOAD`] bytes, [`Error::Exhausted`] when the send
    /// queue has no room or already holds 65 535 datagrams.
    pub fn send_to(&mut self, data: &[u8], dst: ([u8; 4], u16)) -> Result<(), Error> {
        if data.len() > UDP_MAX_PAYLOAD {
            return Err(Error::Malformed);
        }
        // The datagram count is 16 bits: a queue large enough for more is not filled further.
        if self.tx.window() < REC + data.len() || self.queued_tx == u16::MAX {
            return Err(Error::Exhausted);
        }
        self.tx.enqueue(&record(data.len(), dst.0, dst.1));
        self.tx.enqueue(data);
        self.queued_tx += 1;
        Ok(())
    }
    /// Takes the next datagram: its length (truncated to `buf`) and source.
    pub fn recv_from(&mut self, buf: &mut [u8]) -> Option<(usize, ([u8; 4], u16))> {
        let (len, ip, port) = Self::peek(&self.rx)?;
        self.rx.consume(REC);
        let k = len.min(buf.len());
        let n = self.rx.read_at(0, &mut buf[..k]);
        self.rx.consume(len);
        Some((n, (ip, port)))
    }
    fn peek(r: &Ring<'_>) -> Option<(usize, [u8; 4], u16)> {
        let mut h = [0u8; REC];
        if r.read_at(0, &mut h) < REC {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([h[0], h[1]]));
        Some((
            len,
            [h[2], h[3], h[4], h[5]],
            u16::from_be_bytes([h[6], h[7]]),
        ))
    }
    /// Queues a received datagram; dropped when it does not fit.
    pub(crate) fn deliver(&mut self, src: ([u8; 4], u16), data: &[u8]) {
        if self.rx.window() >= REC + data.len() {
            self.rx.enqueue(&record(data.len(), src.0, src.1));
            self.rx.enqueue(data);
        }
    }
    /// The next datagram to send: (payload length, destination).
    pub(crate) fn next_tx(&self) -> Option<(usize, [u8; 4], u16)> {
        Self::peek(&self.tx)
    }
    /// Copies the next datagram's payload into `out` and dequeues it.
    pub(crate) fn pop_tx(&mut self, out: &mut [u8]) {
        if let Some((len, _, _)) = Self::peek(&self.tx) {
            self.tx.consume(REC);
            let k = len.min(out.len());
            self.tx.read_at(0, &mut out[..k]);
            self.tx.consume(len);
            self.queued_tx = self.queued_tx.saturating_sub(1);
        }
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for UdpSocket<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "UdpSocket {{ port {}, rx {} B, tx {} datagrams }}",
            self.port,
            self.rx.len(),
            self.queued_tx
        )
    }
}
