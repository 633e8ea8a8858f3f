//! A compiler from a tcpdump-like expression subset to verified classic BPF
//! with libpcap's semantics (link type Ethernet).
//!
//! Accepted: `ip`, `ip6`, `arp`, `rarp`, `vlan`, `tcp`, `udp`, `sctp`,
//! `icmp`; `[proto] [src|dst] host ADDR` (IPv4 or IPv6), `[src|dst] net
//! A.B.C.D[/LEN]`, `[tcp|udp|sctp] [src|dst] port N`, `... portrange N-M`;
//! `and`/`&&`, `or`/`||`, `not`/`!`, parentheses. As in libpcap (pcap-filter(7)),
//! `and` and `or` have equal precedence and associate left to right, `not`
//! binds tightest, and `vlan` shifts the offsets of every primitive after it
//! by four bytes.
//!
//! What each primitive tests is what libpcap 1.10 generates for it
//! (`tcpdump -d`): `tcp` also finds TCP after one IPv6 fragment header; `port`
//! means TCP, UDP or SCTP, over IPv4 (first fragments only) and IPv6; `host`
//! and `net` with an IPv4 address also match ARP and RARP sender/target
//! addresses.

use crate::Error;
use crate::codegen::{Emitter, Label};
use crate::insn::{Program, op::*};

/// What a compiled expression returns on a match, as libpcap does (its
/// default snapshot length).
pub const PCAP_ACCEPT: u32 = 262_144;

/// Most AST nodes an expression may have.
const MAX_NODES: usize = 256;

const ETH_IP: u32 = 0x0800;
const ETH_IP6: u32 = 0x86dd;
const ETH_ARP: u32 = 0x0806;
const ETH_RARP: u32 = 0x8035;
/// 802.1Q, 802.1ad and the legacy QinQ tag, as libpcap's `vlan` tests.
const ETH_VLAN: [u32; 3] = [0x8100, 0x88a8, 0x9100];
/// IPv6 Fragment header next-header value (RFC 8200 §4.5).
const IP6_FRAGMENT: u32 = 44;
const PROTO_ICMP: u32 = 1;
const PROTO_TCP: u32 = 6;
const PROTO_UDP: u32 = 17;
const PROTO_SCTP: u32 = 132;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Any,
    Src,
    Dst,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qual {
    Ip,
    Ip6,
    Arp,
    Rarp,
    Tcp,
    Udp,
    Sctp,
    Icmp,
}

#[derive(Debug, Clone, Copy)]
enum Prim {
    EtherType(u32),
    Vlan,
    /// An IP protocol over IPv4, and over IPv6 (with one fragment header).
    Proto(u32),
    Icmp,
    /// IPv4 host or net: `ip` and/or `arp`/`rarp` parts.
    Net4 {
        addr: u32,
        mask: u32,
        dir: Dir,
        ip: bool,
        arp: bool,
        rarp: bool,
    },
    Host6 {
        addr: [u32; 4],
        dir: Dir,
    },
    /// A port range (a single port when `lo == hi`); `protos` bit 0 TCP,
    /// bit 1 UDP, bit 2 SCTP.
    Port {
        lo: u16,
        hi: u16,
        dir: Dir,
        protos: u8,
        range: bool,
    },
}

#[derive(Debug, Clone, Copy)]
enum Node {
    Prim { p: Prim, link: u32 },
    And(u16, u16),
    Or(u16, u16),
    Not(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Word(&'a str),
    End,
}

struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// The next token and its byte offset.
    fn next(&mut self) -> Result<(usize, Tok<'a>), Error> {
        let b = self.s.as_bytes();
        while b.get(self.pos).is_some_and(|c| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
        let at = self.pos;
        let Some(&c) = b.get(at) else {
            return Ok((at, Tok::End));
        };
        let two = |x: u8| b.get(at + 1) == Some(&x);
        let (len, tok) = match c {
            b'(' => (1, Tok::LParen),
            b')' => (1, Tok::RParen),
            b'&' if two(b'&') => (2, Tok::And),
            b'|' if two(b'|') => (2, Tok::Or),
            b'!' => (1, Tok::Not),
            c if c.is_ascii_alphanumeric() || matches!(c, b'.' | b':' | b'/' | b'-' | b'_') => {
                let mut end = at;
                while b.get(end).is_some_and(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, b'.' | b':' | b'/' | b'-' | b'_')
                }) {
                    end += 1;
                }
                let w = self.s.get(at..end).unwrap_or("");
                let tok = match w {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    w => Tok::Word(w),
                };
                (end - at, tok)
            }
            _ => {
                return Err(Error::Expression {
                    offset: at,
                    reason: "unexpected character",
                });
            }
        };
        self.pos = at + len;
        Ok((at, tok))
    }
}

struct Parser<'a> {
    lex: Lexer<'a>,
    peeked: Option<(usize, Tok<'a>)>,
    nodes: heapless::Vec<Node, MAX_NODES>,
    /// Link-layer offset shift: 4 per `vlan` seen so far.
    link: u32,
}

fn err<T>(offset: usize, reason: &'static str) -> Result<T, Error> {
    Err(Error::Expression { offset, reason })
}

impl<'a> Parser<'a> {
    fn peek(&mut self) -> Result<(usize, Tok<'a>), Error> {
        if let Some(t) = self.peeked {
            return Ok(t);
        }
        let t = self.lex.next()?;
        self.peeked = Some(t);
        Ok(t)
    }

    fn bump(&mut self) -> Result<(usize, Tok<'a>), Error> {
        let t = self.peek()?;
        self.peeked = None;
        Ok(t)
    }

    fn node(&mut self, at: usize, n: Node) -> Result<u16, Error> {
        self.nodes.push(n).map_err(|_| Error::Expression {
            offset: at,
            reason: "expression too complex",
        })?;
        Ok((self.nodes.len() - 1) as u16)
    }

    /// expr := unary ((and | or) unary)*, left-associative.
    fn expr(&mut self, depth: u32) -> Result<u16, Error> {
        let mut left = self.unary(depth)?;
        loop {
            let (at, t) = self.peek()?;
            match t {
                Tok::And | Tok::Or => {
                    self.bump()?;
                    let right = self.unary(depth)?;
                    let n = if t == Tok::And {
                        Node::And(left, right)
                    } else {
                        Node::Or(left, right)
                    };
                    left = self.node(at, n)?;
                }
                _ => return Ok(left),
            }
        }
    }

    fn unary(&mut self, depth: u32) -> Result<u16, Error> {
        let (at, t) = self.bump()?;
        if depth > 64 {
            return err(at, "expression nested too deeply");
        }
        match t {
            Tok::Not => {
                let inner = self.unary(depth + 1)?;
                self.node(at, Node::Not(inner))
            }
            Tok::LParen => {
                let inner = self.expr(depth + 1)?;
                match self.bump()? {
                    (_, Tok::RParen) => Ok(inner),
                    (at, _) => err(at, "expected ')'"),
                }
            }
            Tok::Word(w) => self.primitive(at, w),
            Tok::End => err(at, "expected a primitive"),
            _ => err(at, "expected a primitive"),
        }
    }

    fn primitive(&mut self, at: usize, first: &'a str) -> Result<u16, Error> {
        let mut word = (at, first);
        let qual = match first {
            "ip" => Some(Qual::Ip),
            "ip6" => Some(Qual::Ip6),
            "arp" => Some(Qual::Arp),
            "rarp" => Some(Qual::Rarp),
            "tcp" => Some(Qual::Tcp),
            "udp" => Some(Qual::Udp),
            "sctp" => Some(Qual::Sctp),
            "icmp" => Some(Qual::Icmp),
            "vlan" => {
                let link = self.link;
                self.link += 4;
                return self.node(
                    at,
                    Node::Prim {
                        p: Prim::Vlan,
                        link,
                    },
                );
            }
            _ => None,
        };
        if let Some(q) = qual {
            match self.peek()? {
                (a, Tok::Word(w))
                    if matches!(w, "src" | "dst" | "host" | "net" | "port" | "portrange") =>
                {
                    self.bump()?;
                    word = (a, w);
                }
                _ => {
                    let p = match q {
                        Qual::Ip => Prim::EtherType(ETH_IP),
                        Qual::Ip6 => Prim::EtherType(ETH_IP6),
                        Qual::Arp => Prim::EtherType(ETH_ARP),
                        Qual::Rarp => Prim::EtherType(ETH_RARP),
                        Qual::Tcp => Prim::Proto(PROTO_TCP),
                        Qual::Udp => Prim::Proto(PROTO_UDP),
                        Qual::Sctp => Prim::Proto(PROTO_SCTP),
                        Qual::Icmp => Prim::Icmp,
                    };
                    return self.node(at, Node::Prim { p, link: self.link });
                }
            }
        }
        let dir = match word.1 {
            "src" | "dst" => {
                let d = if word.1 == "src" { Dir::Src } else { Dir::Dst };
                match self.bump()? {
                    (a, Tok::Word(w)) => word = (a, w),
                    (a, _) => return err(a, "expected host, net, port or portrange"),
                }
                d
            }
            _ => Dir::Any,
        };
        let kind = word;
        let (vat, value) = match self.bump()? {
            (a, Tok::Word(w)) => (a, w),
            (a, _) => return err(a, "expected a value"),
        };
        let p = match kind.1 {
            "host" | "net" => self.address(qual, kind, dir, vat, value)?,
            "port" | "portrange" => {
                let protos = match qual {
                    None => 0b111,
                    Some(Qual::Tcp) => 0b001,
                    Some(Qual::Udp) => 0b010,
                    Some(Qual::Sctp) => 0b100,
                    Some(_) => return err(at, "this protocol has no ports"),
                };
                let (lo, hi) = if kind.1 == "port" {
                    let p = parse_port(value).ok_or(Error::Expression {
                        offset: vat,
                        reason: "bad port number",
                    })?;
                    (p, p)
                } else {
                    let (a, b) = value.split_once('-').ok_or(Error::Expression {
                        offset: vat,
                        reason: "expected a range N-M",
                    })?;
                    let bad = Error::Expression {
                        offset: vat,
                        reason: "bad port range",
                    };
                    let (a, b) = (parse_port(a).ok_or(bad)?, parse_port(b).ok_or(bad)?);
                    // libpcap swaps a reversed range.
                    (a.min(b), a.max(b))
                };
                Prim::Port {
                    lo,
                    hi,
                    dir,
                    protos,
                    range: kind.1 == "portrange",
                }
            }
            _ => return err(kind.0, "expected host, net, port or portrange"),
        };
        self.node(at, Node::Prim { p, link: self.link })
    }

    fn address(
        &self,
        qual: Option<Qual>,
        kind: (usize, &str),
        dir: Dir,
        vat: usize,
        value: &str,
    ) -> Result<Prim, Error> {
        let is_net = kind.1 == "net";
        let (addr, len) = match value.split_once('/') {
            Some((a, l)) if is_net => (a, Some(l)),
            Some(_) => return err(vat, "a host has no prefix length"),
            None => (value, None),
        };
        if let Ok(a) = addr.parse::<core::net::Ipv4Addr>() {
            let len: u32 = match len {
                Some(l) => match l.parse() {
                    Ok(l) if l <= 32 => l,
                    _ => return err(vat, "bad prefix length"),
                },
                None => 32,
            };
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            let a = u32::from(a);
            if a & !mask != 0 {
                return err(vat, "non-network bits set in the address");
            }
            let (ip, arp, rarp) = match qual {
                None => (true, true, true),
                Some(Qual::Ip) => (true, false, false),
                Some(Qual::Arp) => (false, true, false),
                Some(Qual::Rarp) => (false, false, true),
                Some(_) => return err(kind.0, "this protocol has no IPv4 addresses"),
            };
            return Ok(Prim::Net4 {
                addr: a,
                mask,
                dir,
                ip,
                arp,
                rarp,
            });
        }
        if let Ok(a) = addr.parse::<core::net::Ipv6Addr>() {
            if is_net {
                return err(vat, "IPv6 networks are not supported; use host");
            }
            if !matches!(qual, None | Some(Qual::Ip6)) {
                return err(kind.0, "this protocol has no IPv6 addresses");
            }
            let o = a.octets();
            let w = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
            return Ok(Prim::Host6 {
                addr: [w(0), w(4), w(8), w(12)],
                dir,
            });
        }
        err(vat, "expected an IPv4 or IPv6 address (no host names)")
    }
}

fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Compiles an expression; a match returns `accept` (libpcap returns
/// [`PCAP_ACCEPT`]), anything else 0. Verify the result with
/// [`VerifiedProgram::new`](crate::VerifiedProgram::new) before running it.
///
/// # Errors
///
/// [`Error::Expression`] with the byte offset of the offending token, or
/// [`Error::ProgramLength`] when the code does not fit in `N`.
///
/// # Examples
///
/// ```
/// use swdemux::{Error, VerifiedProgram, compile_expr};
/// let p = compile_expr::<64>("tcp dst port 80", 1).unwrap();
/// let v = VerifiedProgram::<64>::new(p.insns()).unwrap();
/// assert_eq!(v.run(&[0u8; 60]), 0);
/// assert_eq!(
///     compile_expr::<64>("tcp port eighty", 1),
///     Err(Error::Expression { offset: 9, reason: "bad port number" })
/// );
/// ```
pub fn compile_expr<const N: usize>(expr: &str, accept: u32) -> Result<Program<N>, Error> {
    let mut p = Parser {
        lex: Lexer { s: expr, pos: 0 },
        peeked: None,
        nodes: heapless::Vec::new(),
        link: 0,
    };
    let root = p.expr(0)?;
    match p.bump()? {
        (_, Tok::End) => {}
        (at, _) => return err(at, "expected and, or or the end"),
    }
    let mut e = Emitter::<N>::new();
    let f = e.ret(0)?;
    let t = e.ret(accept)?;
    gen_node(&mut e, &p.nodes, root, t, f)?;
    e.finish()
}

fn gen_node<const N: usize>(
    e: &mut Emitter<N>,
    nodes: &[Node],
    n: u16,
    t: Label,
    f: Label,
) -> Result<Label, Error> {
    let Some(&node) = nodes.get(n as usize) else {
        return Err(Error::Expression {
            offset: 0,
            reason: "internal: bad node",
        });
    };
    match node {
        Node::And(a, b) => {
            let eb = gen_node(e, nodes, b, t, f)?;
            gen_node(e, nodes, a, eb, f)
        }
        Node::Or(a, b) => {
            let eb = gen_node(e, nodes, b, t, f)?;
            gen_node(e, nodes, a, t, eb)
        }
        Node::Not(a) => gen_node(e, nodes, a, f, t),
        Node::Prim { p, link } => gen_prim(e, p, link, t, f),
    }
}

/// `A == one of ks` (A already loaded).
fn jeq_any<const N: usize>(
    e: &mut Emitter<N>,
    ks: &[u32],
    t: Label,
    f: Label,
) -> Result<Label, Error> {
    let mut next = f;
    for &k in ks.iter().rev() {
        next = e.jump(JEQ, k, t, next)?;
    }
    Ok(next)
}

fn gen_prim<const N: usize>(
    e: &mut Emitter<N>,
    p: Prim,
    l: u32,
    t: Label,
    f: Label,
) -> Result<Label, Error> {
    let eth = 12 + l;
    let nh = 14 + l;
    match p {
        Prim::EtherType(ty) => e.ld_jeq(H, eth, ty, t, f),
        Prim::Vlan => {
            jeq_any(e, &ETH_VLAN, t, f)?;
            e.stmt(LD | H | ABS, eth)
        }
        Prim::Icmp => {
            let proto = e.ld_jeq(B, nh + 9, PROTO_ICMP, t, f)?;
            e.ld_jeq(H, eth, ETH_IP, proto, f)
        }
        Prim::Proto(pr) => {
            // IPv6: next header, or next header after one fragment header.
            let after_frag = e.ld_jeq(B, nh + 40, pr, t, f)?;
            let frag = e.jump(JEQ, IP6_FRAGMENT, after_frag, f)?;
            e.jump(JEQ, pr, t, frag)?;
            let v6 = e.stmt(LD | B | ABS, nh + 6)?;
            let v6 = e.jump(JEQ, ETH_IP6, v6, f)?;
            let v4 = e.ld_jeq(B, nh + 9, pr, t, f)?;
            e.jump(JEQ, ETH_IP, v4, v6)?;
            e.stmt(LD | H | ABS, eth)
        }
        Prim::Net4 {
            addr,
            mask,
            dir,
            ip,
            arp,
            rarp,
        } => {
            // ARP/RARP sender and target protocol addresses (RFC 826, for
            // Ethernet + IPv4): offsets 14 and 24 into the ARP packet.
            let mut next = f;
            if arp || rarp {
                let arp_body = addr_pair(e, nh + 14, nh + 24, addr, mask, dir, t, f)?;
                let types: &[u32] = match (arp, rarp) {
                    (true, true) => &[ETH_ARP, ETH_RARP],
                    (true, false) => &[ETH_ARP],
                    _ => &[ETH_RARP],
                };
                next = jeq_any(e, types, arp_body, f)?;
            }
            if ip {
                let ip_body = addr_pair(e, nh + 12, nh + 16, addr, mask, dir, t, f)?;
                e.jump(JEQ, ETH_IP, ip_body, next)?;
            } else if next == f {
                return Ok(f);
            }
            e.stmt(LD | H | ABS, eth)
        }
        Prim::Host6 { addr, dir } => {
            let six = |e: &mut Emitter<N>, off: u32, t: Label, f: Label| -> Result<Label, Error> {
                let mut next = t;
                for i in (0..4).rev() {
                    next = e.ld_jeq(W, off + 4 * i as u32, addr[i], next, f)?;
                }
                Ok(next)
            };
            let body = match dir {
                Dir::Src => six(e, nh + 8, t, f)?,
                Dir::Dst => six(e, nh + 24, t, f)?,
                Dir::Any => {
                    let d = six(e, nh + 24, t, f)?;
                    six(e, nh + 8, t, d)?
                }
            };
            e.ld_jeq(H, eth, ETH_IP6, body, f)
        }
        Prim::Port {
            lo,
            hi,
            dir,
            protos,
            range,
        } => {
            let protos_list = |protos: u8| {
                let mut v = heapless::Vec::<u32, 3>::new();
                // libpcap tests SCTP, TCP, UDP in that order.
                for (bit, pr) in [(4u8, PROTO_SCTP), (1, PROTO_TCP), (2, PROTO_UDP)] {
                    if protos & bit != 0 {
                        // At most three entries: always fits.
                        let _ = v.push(pr);
                    }
                }
                v
            };
            let pl = protos_list(protos);
            // IPv4: first fragments only (RFC 791 fragment offset zero);
            // ports after the header, at 4 * IHL.
            ports(e, IND, nh, lo, hi, range, dir, t, f)?;
            let msh = e.stmt(LDX | B | MSH, nh)?;
            e.jump(JSET, 0x1fff, f, msh)?;
            e.stmt(LD | H | ABS, nh + 6)?;
            jeq_any_entry(e, &pl, f)?;
            e.stmt(LD | B | ABS, nh + 9)?;
            let v4 = e.jump(JEQ, ETH_IP, e.last(), f)?;
            // IPv6: ports right after the fixed header (no extension headers).
            let v6_ports = ports(e, ABS, nh + 40, lo, hi, range, dir, t, f)?;
            jeq_any(e, &pl, v6_ports, f)?;
            let v6 = e.stmt(LD | B | ABS, nh + 6)?;
            e.jump(JEQ, ETH_IP6, v6, v4)?;
            e.stmt(LD | H | ABS, eth)
        }
    }
}

/// `A == one of ks`, falling through to the instruction emitted last.
fn jeq_any_entry<const N: usize>(e: &mut Emitter<N>, ks: &[u32], f: Label) -> Result<Label, Error> {
    let t = e.last();
    jeq_any(e, ks, t, f)
}

/// Address test against `src` / `dst` offsets with a mask.
#[allow(clippy::too_many_arguments)]
fn addr_pair<const N: usize>(
    e: &mut Emitter<N>,
    src: u32,
    dst: u32,
    addr: u32,
    mask: u32,
    dir: Dir,
    t: Label,
    f: Label,
) -> Result<Label, Error> {
    let one = |e: &mut Emitter<N>, off: u32, t: Label, f: Label| -> Result<Label, Error> {
        e.jump(JEQ, addr, t, f)?;
        if mask != u32::MAX {
            e.stmt(ALU | AND | K, mask)?;
        }
        e.stmt(LD | W | ABS, off)
    };
    match dir {
        Dir::Src => one(e, src, t, f),
        Dir::Dst => one(e, dst, t, f),
        Dir::Any => {
            let d = one(e, dst, t, f)?;
            one(e, src, t, d)
        }
    }
}

/// Port test: loads with `mode` (ABS, or IND after `ldxb 4*([nh]&0xf)`) at
/// `base` + 0 (source) / + 2 (destination).
#[allow(clippy::too_many_arguments)]
fn ports<const N: usize>(
    e: &mut Emitter<N>,
    mode: u16,
    base: u32,
    lo: u16,
    hi: u16,
    range: bool,
    dir: Dir,
    t: Label,
    f: Label,
) -> Result<Label, Error> {
    let one = |e: &mut Emitter<N>, off: u32, t: Label, f: Label| -> Result<Label, Error> {
        if range {
            let upper = e.jump(JGT, u32::from(hi), f, t)?;
            e.jump(JGE, u32::from(lo), upper, f)?;
        } else {
            e.jump(JEQ, u32::from(lo), t, f)?;
        }
        e.stmt(LD | H | mode, off)
    };
    match dir {
        Dir::Src => one(e, base, t, f),
        Dir::Dst => one(e, base + 2, t, f),
        Dir::Any => {
            let d = one(e, base + 2, t, f)?;
            one(e, base, t, d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VerifiedProgram;

    fn e(expr: &str) -> Result<VerifiedProgram<512>, Error> {
        let p = compile_expr::<512>(expr, 7)?;
        VerifiedProgram::new(p.insns())
    }

    fn at(expr: &str) -> usize {
        match e(expr) {
            Err(Error::Expression { offset, .. }) => offset,
            other => panic!("{expr}: {other:?}"),
        }
    }

    #[test]
    fn errors_point_at_the_token() {
        assert_eq!(at("tcp port"), 8);
        assert_eq!(at("tcp port x"), 9);
        assert_eq!(at("host 10.0.0.300"), 5);
        assert_eq!(at("net 10.0.0.1/8"), 4);
        assert_eq!(at("ip and (tcp"), 11);
        assert_eq!(at("ip or"), 5);
        assert_eq!(at("tcp udp"), 4);
        assert_eq!(at("icmp port 80"), 0);
        assert_eq!(at("ip $"), 3);
        assert_eq!(at("portrange 5"), 10);
        assert_eq!(at("host example.com"), 5);
        assert_eq!(at(""), 0);
        assert_eq!(at(&"(".repeat(100)), 65);
    }

    fn frame(ethertype: u16, proto: u8, sport: u16, dport: u16) -> [u8; 64] {
        let mut f = [0u8; 64];
        f[12..14].copy_from_slice(&ethertype.to_be_bytes());
        f[14] = 0x45;
        f[23] = proto;
        f[26..30].copy_from_slice(&[10, 0, 0, 2]);
        f[30..34].copy_from_slice(&[10, 0, 0, 1]);
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f
    }

    #[test]
    fn semantics_on_hand_made_frames() {
        let f = frame(0x0800, 6, 40000, 80);
        assert_eq!(e("tcp dst port 80").unwrap().run(&f), 7);
        assert_eq!(e("tcp src port 80").unwrap().run(&f), 0);
        assert_eq!(e("udp port 80").unwrap().run(&f), 0);
        assert_eq!(e("portrange 79-81").unwrap().run(&f), 7);
        assert_eq!(e("portrange 81-79").unwrap().run(&f), 7);
        assert_eq!(e("portrange 81-90").unwrap().run(&f), 0);
        assert_eq!(
            e("src host 10.0.0.2 and dst net 10.0.0.0/8")
                .unwrap()
                .run(&f),
            7
        );
        assert_eq!(e("not ip").unwrap().run(&f), 0);
        // Equal precedence, left to right: (ip or arp) and udp.
        assert_eq!(e("ip or arp and udp").unwrap().run(&f), 0);
        assert_eq!(e("ip or (arp and udp)").unwrap().run(&f), 7);
        // A non-first fragment has no ports.
        let mut frag = f;
        frag[20] = 0x00;
        frag[21] = 0x10;
        assert_eq!(e("tcp port 80").unwrap().run(&frag), 0);
        assert_eq!(e("tcp").unwrap().run(&frag), 7);
    }

    #[test]
    fn long_jumps_use_trampolines() {
        // 30 host tests: the final "ret 0" is far from the first jumps.
        let mut s = std::string::String::from("host 10.0.0.0");
        for i in 1..30 {
            s.push_str(&std::format!(" or host 10.0.0.{i}"));
        }
        let p = e(&s).unwrap();
        assert!(p.len() > 256);
        let f = frame(0x0800, 6, 1, 2);
        assert_eq!(p.run(&f), 7);
        let mut other = f;
        other[29] = 200;
        other[33] = 201;
        assert_eq!(p.run(&other), 0);
    }
}
