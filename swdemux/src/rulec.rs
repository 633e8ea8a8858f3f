//! Compiles a `nic_traits::FlowRule` to classic BPF that accepts exactly the
//! frames for which `rule.matches(&flow_fields(frame))` holds — the same
//! fixed offsets and presence rules as [`flow_fields`](crate::flow_fields).

use core::net::IpAddr;

use nic_traits::FlowRule;

use crate::Error;
use crate::codegen::{Emitter, Label};
use crate::fields::{ETH_IPV4, ETH_IPV6};
use crate::insn::{Program, op::*};

/// What the rule constrains, normalised.
#[derive(Clone, Copy, Default)]
struct Want {
    ethertype: Option<u16>,
    proto: Option<u8>,
    /// (address bits left-aligned in 4 words, prefix length, is IPv6).
    src: Option<([u32; 4], u8, bool)>,
    dst: Option<([u32; 4], u8, bool)>,
    sport: Option<u16>,
    dport: Option<u16>,
    syn: bool,
}

fn words(a: IpAddr) -> ([u32; 4], bool) {
    match a {
        IpAddr::V4(v) => ([u32::from(v), 0, 0, 0], false),
        IpAddr::V6(v) => {
            let o = v.octets();
            let w = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
            ([w(0), w(4), w(8), w(12)], true)
        }
    }
}

fn want(rule: &FlowRule) -> Option<Want> {
    let mut w = Want::default();
    match *rule {
        FlowRule::EtherType(t) => w.ethertype = Some(t),
        FlowRule::Port {
            protocol,
            port,
            addr,
        } => {
            w.proto = Some(protocol.number());
            w.dport = Some(port);
            w.dst = addr.map(|a| {
                let (ws, v6) = words(a);
                (ws, if v6 { 128 } else { 32 }, v6)
            });
        }
        FlowRule::TcpConnection { src, dst } => {
            w.proto = Some(6);
            let (s, v6) = words(src.ip());
            let (d, _) = words(dst.ip());
            let len = if v6 { 128 } else { 32 };
            w.src = Some((s, len, v6));
            w.dst = Some((d, len, v6));
            w.sport = Some(src.port());
            w.dport = Some(dst.port());
        }
        FlowRule::TcpSyn => {
            w.proto = Some(6);
            w.syn = true;
        }
        FlowRule::Masked(m) => {
            w.proto = m.protocol.map(|p| p.number());
            w.sport = m.src_port;
            w.dport = m.dst_port;
            w.src = m.src.map(|p| {
                let (ws, v6) = words(p.addr);
                (ws, p.len, v6)
            });
            w.dst = m.dst.map(|p| {
                let (ws, v6) = words(p.addr);
                (ws, p.len, v6)
            });
        }
        _ => return None,
    }
    Some(w)
}

/// The mask of word `i` of a `len`-bit prefix.
fn word_mask(i: u32, len: u8) -> u32 {
    let len = u32::from(len);
    let lo = 32 * i;
    if len <= lo {
        0
    } else if len >= lo + 32 {
        u32::MAX
    } else {
        !(u32::MAX >> (len - lo))
    }
}

/// Compiles a flow rule; a match returns `accept`.
///
/// # Errors
///
/// [`Error::InvalidRule`] for a rule that fails `FlowRule::validate`, or
/// [`Error::ProgramLength`] when the code does not fit in `N`.
///
/// # Examples
///
/// ```
/// use nic_traits::FlowRule;
/// use swdemux::{VerifiedProgram, compile_rule};
/// let p = compile_rule::<64>(&FlowRule::udp_port(53), 1).unwrap();
/// let v = VerifiedProgram::<64>::new(p.insns()).unwrap();
/// let mut f = [0u8; 60];
/// f[12] = 0x08;
/// f[14] = 0x45;
/// f[23] = 17;
/// f[36..38].copy_from_slice(&53u16.to_be_bytes());
/// assert_eq!(v.run(&f), 1);
/// ```
pub fn compile_rule<const N: usize>(rule: &FlowRule, accept: u32) -> Result<Program<N>, Error> {
    rule.validate().map_err(|_| Error::InvalidRule)?;
    let w = want(rule).ok_or(Error::InvalidRule)?;
    let mut e = Emitter::<N>::new();
    let f = e.ret(0)?;
    let t = e.ret(accept)?;
    // Tagged frames: the inner EtherType load falls through into the body
    // emitted just before it.
    body(&mut e, &w, 4, t, f)?;
    let tagged = e.stmt(LD | H | ABS, 16)?;
    let untagged = body(&mut e, &w, 0, t, f)?;
    // IEEE 802.1Q and 802.1ad tags, as `flow_fields` reads them.
    e.jump(JEQ, 0x88a8, tagged, untagged)?;
    e.jump(JEQ, 0x8100, tagged, e.last())?;
    e.stmt(LD | H | ABS, 12)?;
    e.finish()
}

/// Code for one link offset `l`, entered with the EtherType in A.
fn body<const N: usize>(
    e: &mut Emitter<N>,
    w: &Want,
    l: u32,
    t: Label,
    f: Label,
) -> Result<Label, Error> {
    if let Some(ty) = w.ethertype {
        return e.jump(JEQ, u32::from(ty), t, f);
    }
    let ip_level = w.proto.is_some()
        || w.src.is_some()
        || w.dst.is_some()
        || w.sport.is_some()
        || w.dport.is_some()
        || w.syn;
    if !ip_level {
        // Every frame with an EtherType matches. Nothing is emitted, so
        // whatever falls through here lands on `t`, emitted just before.
        return Ok(t);
    }
    let family = w.src.or(w.dst).map(|(_, _, v6)| v6);
    match family {
        Some(false) => {
            let v4 = ip(e, w, false, l, t, f)?;
            e.jump(JEQ, u32::from(ETH_IPV4), v4, f)
        }
        Some(true) => {
            let v6 = ip(e, w, true, l, t, f)?;
            e.jump(JEQ, u32::from(ETH_IPV6), v6, f)
        }
        None => {
            let v6 = ip(e, w, true, l, t, f)?;
            let v6 = e.jump(JEQ, u32::from(ETH_IPV6), v6, f)?;
            let v4 = ip(e, w, false, l, t, f)?;
            e.jump(JEQ, u32::from(ETH_IPV4), v4, v6)
        }
    }
}

fn ip<const N: usize>(
    e: &mut Emitter<N>,
    w: &Want,
    v6: bool,
    l: u32,
    t: Label,
    f: Label,
) -> Result<Label, Error> {
    let nh = 14 + l;
    let (proto_off, src_off, dst_off) = if v6 {
        (nh + 6, nh + 8, nh + 24)
    } else {
        (nh + 9, nh + 12, nh + 16)
    };
    let nwords = if v6 { 4 } else { 1 };
    let ports = w.sport.is_some() || w.dport.is_some() || w.syn;
    // Back to front: ports and flags, then addresses, then protocol. A
    // trailing load must fall through to `t`: bridge with `ja` if other
    // code was emitted since.
    let mut next = if e.last() == t { t } else { e.ja(t)? };
    if ports {
        let (mode, base) = if v6 { (ABS, nh + 40) } else { (IND, nh) };
        if w.syn {
            // RFC 9293 §3.1: SYN set, ACK clear.
            e.jump(JEQ, 0x02, next, f)?;
            e.stmt(ALU | AND | K, 0x12)?;
            next = e.stmt(LD | B | mode, base + 13)?;
        }
        if let Some(p) = w.dport {
            e.jump(JEQ, u32::from(p), next, f)?;
        }
        // Both ports must be present (`flow_fields` reads them together).
        next = e.stmt(LD | H | mode, base + 2)?;
        if let Some(p) = w.sport {
            e.jump(JEQ, u32::from(p), next, f)?;
        }
        next = e.stmt(LD | H | mode, base)?;
        if !v6 {
            // First fragments only, with IHL at least 5 (X = 4 * IHL >= 20),
            // as `flow_fields` reads them (RFC 791 §3.1).
            e.jump(JGE, 20, next, f)?;
            e.stmt(MISC | TXA, 0)?;
            next = e.stmt(LDX | B | MSH, nh)?;
            e.jump(JSET, 0x1fff, f, next)?;
            next = e.stmt(LD | H | ABS, nh + 6)?;
        }
        // TCP, UDP and SCTP carry ports.
        e.jump(JEQ, 132, next, f)?;
        e.jump(JEQ, 17, next, e.last())?;
        e.jump(JEQ, 6, next, e.last())?;
        next = e.stmt(LD | B | ABS, proto_off)?;
    }
    for (want, off) in [(w.dst, dst_off), (w.src, src_off)] {
        if let Some((addr, len, _)) = want {
            for i in (0..nwords).rev() {
                let m = word_mask(i, len);
                e.jump(JEQ, addr[i as usize] & m, next, f)?;
                if m != u32::MAX {
                    e.stmt(ALU | AND | K, m)?;
                }
                next = e.stmt(LD | W | ABS, off + 4 * i)?;
            }
        }
    }
    if let Some(p) = w.proto {
        e.jump(JEQ, u32::from(p), next, f)?;
        next = e.stmt(LD | B | ABS, proto_off)?;
    }
    Ok(next)
}
