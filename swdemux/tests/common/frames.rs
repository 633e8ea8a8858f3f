//! Hand-built frames for benchmarks (Ethernet II + IPv4, RFC 791 / 9293 / 768 layouts).

/// An Ethernet + IPv4 (IHL 5) + TCP/UDP frame of 64 bytes.
pub fn ipv4_frame(proto: u8, src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let mut f = vec![0u8; 64];
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f[14] = 0x45;
    f[16..18].copy_from_slice(&50u16.to_be_bytes());
    f[22] = 64;
    f[23] = proto;
    f[26..30].copy_from_slice(&src);
    f[30..34].copy_from_slice(&dst);
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&dport.to_be_bytes());
    if proto == 6 {
        f[46] = 0x50; // data offset 5
        f[47] = 0x02; // SYN
    }
    f
}

/// The four filters of the libpcap comparison and a frame each one accepts.
pub fn bpf_cases() -> Vec<(&'static str, Vec<u8>)> {
    let tcp80 = ipv4_frame(6, [10, 0, 0, 2], [10, 0, 0, 1], 40000, 80);
    let udp = ipv4_frame(17, [10, 0, 0, 2], [10, 0, 0, 1], 5353, 53);
    vec![
        ("ip", tcp80.clone()),
        ("tcp dst port 80", tcp80.clone()),
        ("tcp port 80", tcp80),
        ("udp and host 10.0.0.1", udp),
    ]
}

/// The `i`-th TCP connection of the scaling benchmark: (peer, local) and its
/// tcpdump expression.
pub fn connection(i: usize) -> (std::net::SocketAddr, std::net::SocketAddr, String) {
    let src = std::net::SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 1024 + i as u16));
    let dst = std::net::SocketAddr::from(([10, 1, 0, 1], 80));
    let expr = format!(
        "tcp and src host {} and dst host {} and src port {} and dst port {}",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    );
    (src, dst, expr)
}

/// A TCP segment of connection `i` (see [`connection`]).
pub fn connection_frame(i: usize) -> Vec<u8> {
    let (src, dst, _) = connection(i);
    let (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
        unreachable!()
    };
    let mut f = ipv4_frame(6, s.octets(), d.octets(), src.port(), dst.port());
    f[47] = 0x10; // ACK
    f
}
