//! Shared test helpers: a card on the model, buffer pools, frame builders.
#![allow(dead_code)]

use ixgbe_nostd::{Config, Ixgbe, IxgbeQueue};
use nic_sim::SimDma;
use nic_sim::i82599::{I82599, NoDelay, parse};
use nic_traits::{Batch, CardDriver, Dma, PacketBuf, QueueConfig, QueueDriver};

pub type Card = Ixgbe<I82599, SimDma, NoDelay>;
pub type Queue = IxgbeQueue<I82599, 512, 512>;

pub const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
pub const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

pub fn card_with(mac: [u8; 6], config: Config) -> (I82599, SimDma, Card) {
    let dma = SimDma::new();
    let dev = I82599::new(dma.clone(), mac);
    let card = Ixgbe::new(dev.clone(), dma.clone(), NoDelay, config).expect("bring-up");
    (dev, dma, card)
}

pub fn card() -> (I82599, SimDma, Card) {
    card_with(MAC_A, Config::default())
}

pub fn small_queue() -> QueueConfig {
    QueueConfig {
        rx_ring: 64,
        tx_ring: 64,
        rx_buf_len: 2048,
    }
}

/// `n` packet buffers of 2 KB (plus 128 bytes headroom and the 64-byte
/// buffer header) from DMA memory.
pub fn pool(dma: &SimDma, n: usize) -> Vec<PacketBuf> {
    let region = dma.alloc(n * 2240, 4096).expect("dma");
    region.into_buffers(2240, 128).collect()
}

pub fn batch<const N: usize>(bufs: impl IntoIterator<Item = PacketBuf>) -> Batch<N> {
    let mut b = Batch::new();
    for buf in bufs {
        b.push_back(buf).expect("batch capacity");
    }
    b
}

/// Posts all of `bufs` to the queue's receive ring.
pub fn refill_all<const N: usize>(q: &mut Queue, bufs: &mut Batch<N>) -> usize {
    q.refill(bufs).expect("refill")
}

fn csum(data: &[u8], mut acc: u32) -> u16 {
    for c in data.chunks(2) {
        acc += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    acc as u16
}

/// An Ethernet/IPv4/{UDP,TCP} frame with correct checksums.
#[allow(clippy::too_many_arguments)]
pub fn ipv4_frame(
    dst_mac: [u8; 6],
    proto: u8,
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    tcp_flags: u8,
    payload: usize,
) -> Vec<u8> {
    let l4_len = if proto == 6 { 20 } else { 8 } + payload;
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0xee]);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let total = (20 + l4_len) as u16;
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&src);
    ip[16..20].copy_from_slice(&dst);
    let c = !csum(&ip, 0);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut l4 = vec![0u8; l4_len];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    if proto == 6 {
        l4[12] = 5 << 4;
        l4[13] = tcp_flags;
    } else {
        l4[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
    }
    for (i, b) in l4
        .iter_mut()
        .enumerate()
        .skip(if proto == 6 { 20 } else { 8 })
    {
        *b = i as u8;
    }
    let pseudo = pseudo(src, dst, proto, l4_len);
    let c = !csum(&l4, pseudo);
    let off = if proto == 6 { 16 } else { 6 };
    l4[off..off + 2].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&l4);
    while f.len() < 60 {
        f.push(0);
    }
    f
}

pub fn pseudo(src: [u8; 4], dst: [u8; 4], proto: u8, len: usize) -> u32 {
    u32::from(u16::from_be_bytes([src[0], src[1]]))
        + u32::from(u16::from_be_bytes([src[2], src[3]]))
        + u32::from(u16::from_be_bytes([dst[0], dst[1]]))
        + u32::from(u16::from_be_bytes([dst[2], dst[3]]))
        + u32::from(proto)
        + len as u32
}

pub fn udp(dst_mac: [u8; 6], sport: u16, dport: u16) -> Vec<u8> {
    ipv4_frame(
        dst_mac,
        17,
        [10, 0, 0, 2],
        [10, 0, 0, 1],
        sport,
        dport,
        0,
        32,
    )
}

pub fn tcp(dst_mac: [u8; 6], sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    ipv4_frame(
        dst_mac,
        6,
        [10, 0, 0, 2],
        [10, 0, 0, 1],
        sport,
        dport,
        flags,
        16,
    )
}

/// Whether the IPv4 header and TCP/UDP checksums of `f` verify.
pub fn checksums_ok(f: &[u8]) -> bool {
    let p = parse(f);
    let ip = &f[14..34];
    if csum(ip, 0) != 0xFFFF {
        return false;
    }
    let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
    let l4 = &f[34..14 + total];
    let src: [u8; 4] = f[26..30].try_into().unwrap();
    let dst: [u8; 4] = f[30..34].try_into().unwrap();
    csum(l4, pseudo(src, dst, p.protocol.unwrap(), l4.len())) == 0xFFFF
}

/// Receives everything pending on `q`, returning the buffers.
pub fn drain(q: &mut Queue) -> Vec<PacketBuf> {
    let mut out: Batch<64> = Batch::new();
    let mut all = Vec::new();
    loop {
        let n = q.rx_burst(&mut out).expect("rx_burst");
        while let Some(b) = out.pop_front() {
            all.push(b);
        }
        if n == 0 {
            return all;
        }
    }
}

/// Takes queue `i` with the small config and fills its receive ring.
pub fn queue_with_buffers(card: &mut Card, dma: &SimDma, i: u16) -> Queue {
    let mut q = card.queue(i, small_queue()).expect("queue");
    let mut b: Batch<64> = batch(pool(dma, 63));
    assert_eq!(refill_all(&mut q, &mut b), 63);
    q
}
