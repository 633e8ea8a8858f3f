//! A reference classic-BPF verifier and interpreter that works on the raw
//! instructions and checks everything at run time, for differential fuzzing
//! of `swdemux::VerifiedProgram` (which pre-decodes, fuses instructions and
//! checks only packet bounds at run time).
//!
//! Semantics: McCanne & Jacobson, "The BSD Packet Filter", USENIX Winter
//! 1993, §4 (a load past the end of the packet ends the program with 0);
//! opcode values from `<linux/filter.h>` / `<net/bpf.h>`; division or modulo
//! by X = 0 returns 0 and shifts by X of 32 or more give 0, as libpcap's
//! `bpf_filter` does. The verifier rules are those `swdemux` documents:
//! 1..=4096 instructions, known opcodes, forward jumps inside the program,
//! no constant division/modulo by zero, constant shifts below 32, scratch
//! indexes below 16 and written on every path before being read, and no
//! path that falls off the end.

use swdemux::Insn;
use swdemux::insn::op::*;

/// Scratch memory cells.
const MEMWORDS: usize = 16;

/// Why the reference verifier rejects a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Empty or longer than the limit.
    Length,
    /// Opcode not in the instruction set.
    Opcode(usize),
    /// A jump leaves the program.
    Jump(usize),
    /// Constant division or modulo by zero.
    DivZero(usize),
    /// Constant shift of 32 or more.
    Shift(usize),
    /// Scratch index of 16 or more.
    MemIndex(usize),
    /// The last instruction falls through.
    FallsOff(usize),
    /// A scratch cell read on some path where it was not written.
    Uninit(usize),
}

fn class(code: u16) -> u16 {
    code & 0x07
}

fn is_known(code: u16) -> bool {
    const LOADS: [u16; 12] = [
        LD | W | ABS,
        LD | H | ABS,
        LD | B | ABS,
        LD | W | IND,
        LD | H | IND,
        LD | B | IND,
        LD | W | IMM,
        LD | W | LEN,
        LD | W | MEM,
        LDX | W | IMM,
        LDX | W | LEN,
        LDX | W | MEM,
    ];
    if LOADS.contains(&code) || code == LDX | B | MSH || code == ST || code == STX {
        return true;
    }
    match class(code) {
        ALU => {
            let op = code & 0xf0;
            let src = code & 0x08;
            if code & !0xff != 0 || code & 0x07 != ALU {
                return false;
            }
            if op == NEG {
                // Only the K form (0x84) is defined.
                return src == 0;
            }
            op <= XOR
        }
        JMP => {
            let op = code & 0xf0;
            if code & !0xff != 0 {
                return false;
            }
            if op == JA {
                return code == JMP | JA;
            }
            op <= JSET
        }
        RET => code == RET | K || code == RET | A,
        MISC => code == MISC | TAX || code == MISC | TXA,
        _ => false,
    }
}

/// A packet load whose constant offset is past `u32::MAX - 4`: no packet
/// holds it, so the load always ends the program with 0. `swdemux` (like
/// this reference) treats the instructions only such a load leads to as
/// unreachable when checking scratch memory; the structural rules (opcodes,
/// jump ranges, falling off the end) still apply to them.
pub fn never_loads(i: &Insn) -> bool {
    let packet_load = i.code == LD | W | ABS
        || i.code == LD | H | ABS
        || i.code == LD | B | ABS
        || i.code == LD | W | IND
        || i.code == LD | H | IND
        || i.code == LD | B | IND
        || i.code == LDX | B | MSH;
    packet_load && i.k > u32::MAX - 4
}

/// Successor instruction indexes of instruction `pc` (may be out of range).
fn successors(pc: usize, i: &Insn) -> ([u64; 2], usize) {
    let next = pc as u64 + 1;
    match class(i.code) {
        RET => ([0, 0], 0),
        JMP if i.code & 0xf0 == JA => ([next + u64::from(i.k), 0], 1),
        JMP => ([next + u64::from(i.jt), next + u64::from(i.jf)], 2),
        _ => ([next, 0], 1),
    }
}

fn mem_index(i: &Insn) -> Option<(bool, u32)> {
    // (reads?, index)
    match i.code {
        c if c == LD | W | MEM || c == LDX | W | MEM => Some((true, i.k)),
        c if c == ST || c == STX => Some((false, i.k)),
        _ => None,
    }
}

/// Verifies `insns` for storage of `cap` instructions.
///
/// # Errors
///
/// The first broken rule found.
pub fn verify(insns: &[Insn], cap: usize) -> Result<(), Reject> {
    let len = insns.len();
    if len == 0 || len > 4096 || len > cap {
        return Err(Reject::Length);
    }
    for (pc, i) in insns.iter().enumerate() {
        if !is_known(i.code) {
            return Err(Reject::Opcode(pc));
        }
        let (succ, n) = successors(pc, i);
        for &s in &succ[..n] {
            if s >= len as u64 {
                return Err(if class(i.code) == JMP {
                    Reject::Jump(pc)
                } else {
                    Reject::FallsOff(pc)
                });
            }
        }
        if class(i.code) == ALU && i.code & 0x08 == K {
            let op = i.code & 0xf0;
            if (op == DIV || op == MOD) && i.k == 0 {
                return Err(Reject::DivZero(pc));
            }
            if (op == LSH || op == RSH) && i.k >= 32 {
                return Err(Reject::Shift(pc));
            }
        }
        if let Some((_, m)) = mem_index(i)
            && m as usize >= MEMWORDS
        {
            return Err(Reject::MemIndex(pc));
        }
    }
    // Written-before-read over reachable instructions: jumps go forward, so
    // one pass in order sees every predecessor first.
    let mut written: Vec<Option<u16>> = vec![None; len];
    written[0] = Some(0);
    for (pc, i) in insns.iter().enumerate() {
        let Some(here) = written[pc] else { continue };
        let mut out = here;
        if let Some((reads, m)) = mem_index(i) {
            if reads && here & (1 << m) == 0 {
                return Err(Reject::Uninit(pc));
            }
            if !reads {
                out |= 1 << m;
            }
        }
        if never_loads(i) {
            continue;
        }
        let (succ, n) = successors(pc, i);
        for &s in &succ[..n] {
            let w = &mut written[s as usize];
            *w = Some(match *w {
                None => out,
                Some(prev) => prev & out,
            });
        }
    }
    Ok(())
}

fn load(pkt: &[u8], off: u64, size: usize) -> Option<u32> {
    let start = usize::try_from(off).ok()?;
    let bytes = pkt.get(start..start.checked_add(size)?)?;
    Some(bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
}

/// Runs a program [`verify`] accepted on `pkt` with wire length `wire_len`;
/// returns the program's result and the number of instructions executed.
///
/// # Panics
///
/// On anything a verified program must never do (a jump out of range, a
/// scratch read before a write, a backward jump): those are verifier bugs.
pub fn run(insns: &[Insn], pkt: &[u8], wire_len: u32) -> (u32, usize) {
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem: [Option<u32>; MEMWORDS] = [None; MEMWORDS];
    let mut pc = 0usize;
    let mut steps = 0usize;
    loop {
        let i = insns[pc];
        steps += 1;
        assert!(steps <= insns.len(), "a verified program ran too long");
        let k = i.k;
        let size = match i.code & 0x18 {
            W => 4,
            H => 2,
            _ => 1,
        };
        let mut next = pc + 1;
        macro_rules! ld {
            ($off:expr) => {
                match load(pkt, $off, size) {
                    Some(v) => v,
                    None => return (0, steps),
                }
            };
        }
        match class(i.code) {
            LD => match i.code & 0xe0 {
                IMM => a = k,
                ABS => a = ld!(u64::from(k)),
                IND => a = ld!(u64::from(x) + u64::from(k)),
                MEM => a = mem[k as usize].expect("scratch read before write"),
                LEN => a = wire_len,
                _ => unreachable!("verified load mode"),
            },
            LDX => match i.code & 0xe0 {
                IMM => x = k,
                MEM => x = mem[k as usize].expect("scratch read before write"),
                LEN => x = wire_len,
                MSH => {
                    x = match load(pkt, u64::from(k), 1) {
                        Some(v) => (v & 0xf) * 4,
                        None => return (0, steps),
                    }
                }
                _ => unreachable!("verified ldx mode"),
            },
            ST => mem[k as usize] = Some(a),
            STX => mem[k as usize] = Some(x),
            ALU => {
                let v = if i.code & 0x08 == X { x } else { k };
                a = match i.code & 0xf0 {
                    ADD => a.wrapping_add(v),
                    SUB => a.wrapping_sub(v),
                    MUL => a.wrapping_mul(v),
                    DIV => match a.checked_div(v) {
                        Some(r) => r,
                        None => return (0, steps),
                    },
                    MOD => match a.checked_rem(v) {
                        Some(r) => r,
                        None => return (0, steps),
                    },
                    OR => a | v,
                    AND => a & v,
                    LSH => a.checked_shl(v).unwrap_or(0),
                    RSH => a.checked_shr(v).unwrap_or(0),
                    NEG => a.wrapping_neg(),
                    XOR => a ^ v,
                    _ => unreachable!("verified alu op"),
                }
            }
            JMP => {
                let v = if i.code & 0x08 == X { x } else { k };
                let taken = match i.code & 0xf0 {
                    JA => {
                        next = pc + 1 + k as usize;
                        None
                    }
                    JEQ => Some(a == v),
                    JGT => Some(a > v),
                    JGE => Some(a >= v),
                    JSET => Some(a & v != 0),
                    _ => unreachable!("verified jump op"),
                };
                if let Some(t) = taken {
                    next = pc + 1 + usize::from(if t { i.jt } else { i.jf });
                }
            }
            RET => return (if i.code & 0x18 == A { a } else { k }, steps),
            MISC => {
                if i.code & 0xf8 == TXA {
                    a = x;
                } else {
                    x = a;
                }
            }
            _ => unreachable!("verified class"),
        }
        assert!(next > pc && next < insns.len(), "verified jump in range");
        pc = next;
    }
}
