//! The verifier and the interpreter.
//!
//! [`VerifiedProgram::new`] checks a classic-BPF program once — length, known
//! opcodes, forward in-range jumps, no constant division by zero, constant
//! shifts below 32, scratch indexes in range and written before read on every
//! path, a return at the end of every path — and pre-decodes it into a compact
//! form with absolute jump targets and fused load-and-compare instructions.
//! Running it then needs no per-instruction validity check: only packet
//! bounds, which BPF defines as "the program returns 0" (McCanne & Jacobson
//! 1993, §4: "a load past the end of the packet ... returns 0").
//!
//! Three interpreters share that form; the verifier picks one per program by
//! the ops reachable from the entry. Programs made only of self-contained
//! tests (each loads what it compares: tcpdump's EtherType, protocol,
//! fragment, address and port tests) run in a loop that carries nothing but
//! the op index; those made only of single tests at constant offsets in a
//! smaller one still; every other program
//! in the general interpreter. All three give the same result on every
//! packet, including truncated ones.

use crate::Error;
use crate::insn::{Insn, MAX_INSNS, MEMWORDS, op};

/// A pre-decoded instruction. Jump targets are absolute indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Op {
    RetK(u32),
    RetA,
    Tax,
    Txa,
    /// A load whose offset can never be in a packet: returns 0.
    Fail,
    // Fused pairs (the second instruction stays in place for other jumps).
    /// `ld{b,h,w} [off]; jeq #k`.
    JeqAbsB {
        off: u32,
        k: u32,
        t: u16,
        f: u16,
    },
    JeqAbsH {
        off: u32,
        k: u32,
        t: u16,
        f: u16,
    },
    JeqAbsW {
        off: u32,
        k: u32,
        t: u16,
        f: u16,
    },
    /// `ldh [off]; jset #k`.
    JsetAbsH {
        off: u32,
        k: u32,
        t: u16,
        f: u16,
    },
    /// `ldxb 4*([msh]&0xf); ldh [x + off]`.
    MshIndH {
        msh: u32,
        off: u32,
    },
    /// `jeq #k1 jt t1 jf L; L: jeq #k2 jt t2 jf f`.
    Jeq2K {
        k1: u32,
        k2: u32,
        t1: u16,
        t2: u16,
        f: u16,
    },
    /// `ldh [off]` then a [`Op::Jeq2K`] on the value.
    JeqAbsH2 {
        off: u32,
        k1: u16,
        k2: u16,
        t1: u16,
        t2: u16,
        f: u16,
    },
    /// `ldb [off]` then a [`Op::Jeq2K`] on the value.
    JeqAbsB2 {
        off: u32,
        k1: u16,
        k2: u16,
        t1: u16,
        t2: u16,
        f: u16,
    },
    /// `ldh [o1]; jeq #k1` whose true branch is `ldb [o2]; jeq #k2`: the
    /// "EtherType, then IP protocol" test.
    JeqHJeqB {
        o1: u16,
        o2: u16,
        k1: u16,
        k2: u16,
        f1: u16,
        t2: u16,
        f2: u16,
    },
    /// `ldb [o1]; jeq #k1` whose true branch is `ldh [o2]; jset #k2`: the
    /// IPv4 "protocol, and not a later fragment" test.
    JeqBJsetH {
        o1: u16,
        o2: u16,
        k1: u16,
        k2: u16,
        f1: u16,
        t2: u16,
        f2: u16,
    },
    /// [`Op::MshJeqIndH`] whose false branch is `ldh [x + o2]; jeq #k2`:
    /// "source or destination port".
    MshJeqIndH2 {
        msh: u16,
        o1: u16,
        k1: u16,
        t1: u16,
        o2: u16,
        k2: u16,
        t2: u16,
        f2: u16,
    },
    /// `ld [o1]; jeq #k1` whose false branch is `ld [o2]; jeq #k2`:
    /// "source or destination address".
    JeqAbsW2 {
        o1: u16,
        o2: u16,
        k1: u32,
        k2: u32,
        t1: u16,
        t2: u16,
        f2: u16,
    },
    /// `ldh [x + off]; jeq #k`.
    JeqIndH {
        off: u32,
        k: u32,
        t: u16,
        f: u16,
    },
    /// `ldxb 4*([msh]&0xf); ldh [x + off]; jeq #k` (all three fit 16 bits).
    MshJeqIndH {
        msh: u16,
        off: u16,
        k: u16,
        t: u16,
        f: u16,
    },
    // Plain ops.
    LdAbsW(u32),
    LdAbsH(u32),
    LdAbsB(u32),
    LdIndW(u32),
    LdIndH(u32),
    LdIndB(u32),
    LdImm(u32),
    LdLen,
    LdMem(u8),
    LdxImm(u32),
    LdxLen,
    LdxMem(u8),
    LdxMsh(u32),
    St(u8),
    Stx(u8),
    AddK(u32),
    SubK(u32),
    MulK(u32),
    DivK(u32),
    ModK(u32),
    AndK(u32),
    OrK(u32),
    XorK(u32),
    LshK(u32),
    RshK(u32),
    Neg,
    AddX,
    SubX,
    MulX,
    DivX,
    ModX,
    AndX,
    OrX,
    XorX,
    LshX,
    RshX,
    Ja(u16),
    JeqK {
        k: u32,
        t: u16,
        f: u16,
    },
    JgtK {
        k: u32,
        t: u16,
        f: u16,
    },
    JgeK {
        k: u32,
        t: u16,
        f: u16,
    },
    JsetK {
        k: u32,
        t: u16,
        f: u16,
    },
    JeqX {
        t: u16,
        f: u16,
    },
    JgtX {
        t: u16,
        f: u16,
    },
    JgeX {
        t: u16,
        f: u16,
    },
    JsetX {
        t: u16,
        f: u16,
    },
}

/// A program the verifier accepted, pre-decoded, in storage for `N`
/// instructions. Only a `VerifiedProgram` can run.
///
/// # Examples
///
/// ```
/// use swdemux::{Program, VerifiedProgram};
/// // tcpdump -ddd ip
/// let p = Program::<8>::parse("4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n").unwrap();
/// let v = VerifiedProgram::<8>::new(p.insns()).unwrap();
/// let mut frame = [0u8; 60];
/// frame[12] = 0x08; // EtherType 0x0800
/// assert_eq!(v.run(&frame), 262144);
/// assert_eq!(v.run(&frame[..13]), 0); // the load runs past the end: reject
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedProgram<const N: usize> {
    ops: heapless::Vec<Op, N>,
    uses_mem: bool,
    /// Which interpreter runs the program, chosen by what it can reach.
    path: Path,
    /// The entry of that interpreter (one indirect jump per call).
    entry: fn(&Self, &[u8], u32) -> u32,
    /// Return values that jumps reach directly (see `encode_returns`).
    rets: [u32; RETS],
}

// By hand: `entry` follows from `path` and `uses_mem`, and function
// addresses are not meaningful to compare.
impl<const N: usize> PartialEq for VerifiedProgram<N> {
    fn eq(&self, other: &Self) -> bool {
        self.ops == other.ops
            && self.uses_mem == other.uses_mem
            && self.path == other.path
            && self.rets == other.rets
    }
}

impl<const N: usize> Eq for VerifiedProgram<N> {}

/// The interpreters, from the most general to the fastest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Path {
    /// [`exec`]: every op.
    General,
    /// [`exec_tests`]: every reachable op is a self-contained test.
    Tests,
    /// [`exec_light`]: every reachable op is a single test at a constant
    /// offset.
    Light,
}

/// Distinct return values a program's jumps can reach without a dispatch.
const RETS: usize = 64;
/// Encoded jump targets at or above this index return `rets[t % RETS]`;
/// it is past every program (at most `MAX_INSNS` long).
const RET_BASE: u16 = 0x8000;

/// Reads that stay below this never overflow `u32` offset arithmetic.
const MAX_ABS: u32 = u32::MAX - 4;

fn decode(pc: usize, i: Insn, len: usize) -> Result<Op, Error> {
    let k = i.k;
    let target = |off: u32| -> Result<u16, Error> {
        let t = (pc as u64) + 1 + u64::from(off);
        if t < len as u64 {
            Ok(t as u16)
        } else {
            Err(Error::JumpOutOfRange { pc })
        }
    };
    let mem = || -> Result<u8, Error> {
        if (k as usize) < MEMWORDS {
            Ok(k as u8)
        } else {
            Err(Error::MemoryIndex { pc })
        }
    };
    let abs = |f: fn(u32) -> Op| if k > MAX_ABS { Op::Fail } else { f(k) };
    let ind = |f: fn(u32) -> Op| if k > MAX_ABS { Op::Fail } else { f(k) };
    let cond = |f: fn(u32, u16, u16) -> Op| -> Result<Op, Error> {
        Ok(f(k, target(u32::from(i.jt))?, target(u32::from(i.jf))?))
    };
    let condx = |f: fn(u16, u16) -> Op| -> Result<Op, Error> {
        Ok(f(target(u32::from(i.jt))?, target(u32::from(i.jf))?))
    };
    let nonzero = |f: fn(u32) -> Op| {
        if k == 0 {
            Err(Error::DivisionByZero { pc })
        } else {
            Ok(f(k))
        }
    };
    let shift = |f: fn(u32) -> Op| {
        if k >= 32 {
            Err(Error::ShiftTooLarge { pc })
        } else {
            Ok(f(k))
        }
    };
    use op::*;
    Ok(match i.code {
        c if c == LD | W | ABS => abs(Op::LdAbsW),
        c if c == LD | H | ABS => abs(Op::LdAbsH),
        c if c == LD | B | ABS => abs(Op::LdAbsB),
        c if c == LD | W | IND => ind(Op::LdIndW),
        c if c == LD | H | IND => ind(Op::LdIndH),
        c if c == LD | B | IND => ind(Op::LdIndB),
        c if c == LD | W | IMM => Op::LdImm(k),
        c if c == LD | W | LEN => Op::LdLen,
        c if c == LD | W | MEM => Op::LdMem(mem()?),
        c if c == LDX | W | IMM => Op::LdxImm(k),
        c if c == LDX | W | LEN => Op::LdxLen,
        c if c == LDX | W | MEM => Op::LdxMem(mem()?),
        c if c == LDX | B | MSH => abs(Op::LdxMsh),
        ST => Op::St(mem()?),
        STX => Op::Stx(mem()?),
        c if c == ALU | ADD | K => Op::AddK(k),
        c if c == ALU | SUB | K => Op::SubK(k),
        c if c == ALU | MUL | K => Op::MulK(k),
        c if c == ALU | DIV | K => nonzero(Op::DivK)?,
        c if c == ALU | MOD | K => nonzero(Op::ModK)?,
        c if c == ALU | AND | K => Op::AndK(k),
        c if c == ALU | OR | K => Op::OrK(k),
        c if c == ALU | XOR | K => Op::XorK(k),
        c if c == ALU | LSH | K => shift(Op::LshK)?,
        c if c == ALU | RSH | K => shift(Op::RshK)?,
        c if c == ALU | NEG => Op::Neg,
        c if c == ALU | ADD | X => Op::AddX,
        c if c == ALU | SUB | X => Op::SubX,
        c if c == ALU | MUL | X => Op::MulX,
        c if c == ALU | DIV | X => Op::DivX,
        c if c == ALU | MOD | X => Op::ModX,
        c if c == ALU | AND | X => Op::AndX,
        c if c == ALU | OR | X => Op::OrX,
        c if c == ALU | XOR | X => Op::XorX,
        c if c == ALU | LSH | X => Op::LshX,
        c if c == ALU | RSH | X => Op::RshX,
        c if c == JMP | JA => Op::Ja(target(k)?),
        c if c == JMP | JEQ | K => cond(|k, t, f| Op::JeqK { k, t, f })?,
        c if c == JMP | JGT | K => cond(|k, t, f| Op::JgtK { k, t, f })?,
        c if c == JMP | JGE | K => cond(|k, t, f| Op::JgeK { k, t, f })?,
        c if c == JMP | JSET | K => cond(|k, t, f| Op::JsetK { k, t, f })?,
        c if c == JMP | JEQ | X => condx(|t, f| Op::JeqX { t, f })?,
        c if c == JMP | JGT | X => condx(|t, f| Op::JgtX { t, f })?,
        c if c == JMP | JGE | X => condx(|t, f| Op::JgeX { t, f })?,
        c if c == JMP | JSET | X => condx(|t, f| Op::JsetX { t, f })?,
        c if c == RET | K => Op::RetK(k),
        c if c == RET | A => Op::RetA,
        c if c == MISC | TAX => Op::Tax,
        c if c == MISC | TXA => Op::Txa,
        code => return Err(Error::UnknownOpcode { pc, code }),
    })
}

/// Scratch cells an op reads and writes, as bit masks.
fn mem_use(o: &Op) -> (u16, u16) {
    match *o {
        Op::LdMem(m) | Op::LdxMem(m) => (1 << m, 0),
        Op::St(m) | Op::Stx(m) => (0, 1 << m),
        _ => (0, 0),
    }
}

/// Successors of an op: fall-through and jump targets (`None` for returns).
fn successors(pc: usize, o: &Op) -> [Option<usize>; 2] {
    match *o {
        Op::RetK(_) | Op::RetA | Op::Fail => [None, None],
        Op::Ja(t) => [Some(t as usize), None],
        Op::JeqK { t, f, .. }
        | Op::JgtK { t, f, .. }
        | Op::JgeK { t, f, .. }
        | Op::JsetK { t, f, .. }
        | Op::JeqX { t, f }
        | Op::JgtX { t, f }
        | Op::JgeX { t, f }
        | Op::JsetX { t, f } => [Some(t as usize), Some(f as usize)],
        _ => [Some(pc + 1), None],
    }
}

impl<const N: usize> VerifiedProgram<N> {
    /// Verifies `insns` and pre-decodes them.
    ///
    /// # Errors
    ///
    /// The first rule the program breaks, with the instruction index.
    pub fn new(insns: &[Insn]) -> Result<Self, Error> {
        let len = insns.len();
        if len == 0 || len > MAX_INSNS || len > N {
            return Err(Error::ProgramLength { len });
        }
        let mut ops = heapless::Vec::<Op, N>::new();
        for (pc, &i) in insns.iter().enumerate() {
            let o = decode(pc, i, len)?;
            let falls_through = !matches!(
                o,
                Op::RetK(_)
                    | Op::RetA
                    | Op::Ja(_)
                    | Op::JeqK { .. }
                    | Op::JgtK { .. }
                    | Op::JgeK { .. }
                    | Op::JsetK { .. }
                    | Op::JeqX { .. }
                    | Op::JgtX { .. }
                    | Op::JgeX { .. }
                    | Op::JsetX { .. }
            );
            if falls_through && pc + 1 == len {
                return Err(Error::FallsOffEnd { pc });
            }
            ops.push(o).map_err(|_| Error::ProgramLength { len })?;
        }
        // Scratch memory: a cell is readable only if written on every path
        // to the read. Jumps go forward, so one pass in order is a fixpoint:
        // `written[pc]` is the intersection over all predecessors.
        const UNREACHED: u32 = 1 << 16;
        let mut written = [UNREACHED; N];
        if let Some(w) = written.first_mut() {
            *w = 0;
        }
        for (pc, o) in ops.iter().enumerate() {
            let here = written.get(pc).copied().unwrap_or(UNREACHED);
            if here & UNREACHED != 0 {
                continue;
            }
            let (reads, writes) = mem_use(o);
            if u32::from(reads) & !here != 0 {
                return Err(Error::UninitializedMemory { pc });
            }
            let out = here | u32::from(writes);
            for s in successors(pc, o).into_iter().flatten() {
                if let Some(w) = written.get_mut(s) {
                    *w = if *w & UNREACHED != 0 { out } else { *w & out };
                }
            }
        }
        let uses_mem = ops.iter().any(|o| mem_use(o) != (0, 0));
        fuse(&mut ops);
        fuse_tests(&mut ops);
        let rets = encode_returns(&mut ops);
        let path = if only_reachable::<N>(&ops, light_successors) {
            Path::Light
        } else if only_reachable::<N>(&ops, test_successors) {
            Path::Tests
        } else {
            Path::General
        };
        let entry = match path {
            Path::Light => Self::run_light,
            Path::Tests => Self::run_tests,
            Path::General => Self::run_general,
        };
        Ok(Self {
            ops,
            uses_mem,
            path,
            entry,
            rets,
        })
    }

    /// Number of instructions.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Always false: a verified program has at least one instruction.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Runs the program on a frame whose wire length is its captured length.
    /// Returns the program's return value; 0 means "no match".
    #[inline]
    pub fn run(&self, pkt: &[u8]) -> u32 {
        self.run_with_len(pkt, pkt.len() as u32)
    }

    /// Runs the program on a captured frame `pkt` whose length on the wire
    /// was `wire_len` (what `BPF_LEN` loads; packet loads see only `pkt`).
    pub fn run_with_len(&self, pkt: &[u8], wire_len: u32) -> u32 {
        (self.entry)(self, pkt, wire_len)
    }

    /// The fast path for programs made only of self-contained tests
    /// (`BPF_LEN` is never loaded, so the wire length is not needed).
    #[inline(never)]
    fn run_tests(&self, pkt: &[u8], _wire_len: u32) -> u32 {
        exec_tests(&self.ops, &self.rets, pkt)
    }

    /// The fast path for programs made only of tests at constant offsets.
    #[inline(never)]
    fn run_light(&self, pkt: &[u8], _wire_len: u32) -> u32 {
        exec_light(&self.ops, &self.rets, pkt)
    }

    /// The general interpreter, for every program.
    #[inline(never)]
    fn run_general(&self, pkt: &[u8], wire_len: u32) -> u32 {
        if self.uses_mem {
            exec::<true>(&self.ops, &self.rets, pkt, wire_len)
        } else {
            exec::<false>(&self.ops, &self.rets, pkt, wire_len)
        }
    }
}

/// The interpreter loop. `MEM` is false for programs that never touch
/// scratch memory, which then need no scratch array at all.
#[inline(always)]
fn exec<const MEM: bool>(ops: &[Op], rets: &[u32; RETS], pkt: &[u8], wire_len: u32) -> u32 {
    {
        let mut a: u32 = 0;
        let mut x: u32 = 0;
        let mut mem = [0u32; MEMWORDS];
        let mut pc = 0usize;
        macro_rules! load {
            ($e:expr) => {
                match $e {
                    Some(v) => v,
                    None => return 0,
                }
            };
        }
        loop {
            let Some(o) = ops.get(pc) else {
                // An encoded jump to `ret #k` (see `encode_returns`).
                return rets[pc % RETS];
            };
            match *o {
                Op::LdAbsW(k) => a = load!(ld_w(pkt, k as usize)),
                Op::LdAbsH(k) => a = load!(ld_h(pkt, k as usize)),
                Op::LdAbsB(k) => a = load!(ld_b(pkt, k as usize)),
                Op::LdIndW(k) => a = load!(ld_w(pkt, ind(x, k))),
                Op::LdIndH(k) => a = load!(ld_h(pkt, ind(x, k))),
                Op::LdIndB(k) => a = load!(ld_b(pkt, ind(x, k))),
                Op::LdImm(k) => a = k,
                Op::LdLen => a = wire_len,
                Op::LdMem(m) => {
                    a = if MEM {
                        mem[(m & 15) as usize]
                    } else {
                        return 0;
                    }
                }
                Op::LdxImm(k) => x = k,
                Op::LdxLen => x = wire_len,
                Op::LdxMem(m) => {
                    x = if MEM {
                        mem[(m & 15) as usize]
                    } else {
                        return 0;
                    }
                }
                Op::LdxMsh(k) => x = (load!(ld_b(pkt, k as usize)) & 0xf) << 2,
                Op::St(m) => {
                    if !MEM {
                        return 0;
                    }
                    mem[(m & 15) as usize] = a;
                }
                Op::Stx(m) => {
                    if !MEM {
                        return 0;
                    }
                    mem[(m & 15) as usize] = x;
                }
                Op::AddK(k) => a = a.wrapping_add(k),
                Op::SubK(k) => a = a.wrapping_sub(k),
                Op::MulK(k) => a = a.wrapping_mul(k),
                Op::DivK(k) => a = a.checked_div(k).unwrap_or(0),
                Op::ModK(k) => a = a.checked_rem(k).unwrap_or(0),
                Op::AndK(k) => a &= k,
                Op::OrK(k) => a |= k,
                Op::XorK(k) => a ^= k,
                Op::LshK(k) => a = a.wrapping_shl(k),
                Op::RshK(k) => a = a.wrapping_shr(k),
                Op::Neg => a = a.wrapping_neg(),
                Op::AddX => a = a.wrapping_add(x),
                Op::SubX => a = a.wrapping_sub(x),
                Op::MulX => a = a.wrapping_mul(x),
                // BPF: division or modulo by X = 0 ends the program with 0.
                Op::DivX => match a.checked_div(x) {
                    Some(v) => a = v,
                    None => return 0,
                },
                Op::ModX => match a.checked_rem(x) {
                    Some(v) => a = v,
                    None => return 0,
                },
                Op::AndX => a &= x,
                Op::OrX => a |= x,
                Op::XorX => a ^= x,
                // libpcap's bpf_filter: a shift by X of 32 or more gives 0.
                Op::LshX => a = a.checked_shl(x).unwrap_or(0),
                Op::RshX => a = a.checked_shr(x).unwrap_or(0),
                Op::Ja(t) => {
                    pc = t as usize;
                    continue;
                }
                Op::JeqK { k, t, f } => {
                    pc = if a == k { t } else { f } as usize;
                    continue;
                }
                Op::JgtK { k, t, f } => {
                    pc = if a > k { t } else { f } as usize;
                    continue;
                }
                Op::JgeK { k, t, f } => {
                    pc = if a >= k { t } else { f } as usize;
                    continue;
                }
                Op::JsetK { k, t, f } => {
                    pc = if a & k != 0 { t } else { f } as usize;
                    continue;
                }
                Op::JeqX { t, f } => {
                    pc = if a == x { t } else { f } as usize;
                    continue;
                }
                Op::JgtX { t, f } => {
                    pc = if a > x { t } else { f } as usize;
                    continue;
                }
                Op::JgeX { t, f } => {
                    pc = if a >= x { t } else { f } as usize;
                    continue;
                }
                Op::JsetX { t, f } => {
                    pc = if a & x != 0 { t } else { f } as usize;
                    continue;
                }
                Op::RetK(k) => return k,
                Op::RetA => return a,
                Op::Tax => x = a,
                Op::Txa => a = x,
                Op::Fail => return 0,
                Op::JeqAbsB { off, k, t, f } => {
                    a = load!(ld_b(pkt, off as usize));
                    pc = if a == k { t } else { f } as usize;
                    continue;
                }
                Op::JeqAbsH { off, k, t, f } => {
                    a = load!(ld_h(pkt, off as usize));
                    pc = if a == k { t } else { f } as usize;
                    continue;
                }
                Op::JeqAbsW { off, k, t, f } => {
                    a = load!(ld_w(pkt, off as usize));
                    pc = if a == k { t } else { f } as usize;
                    continue;
                }
                Op::JsetAbsH { off, k, t, f } => {
                    a = load!(ld_h(pkt, off as usize));
                    pc = if a & k != 0 { t } else { f } as usize;
                    continue;
                }
                Op::MshIndH { msh, off } => {
                    x = (load!(ld_b(pkt, msh as usize)) & 0xf) << 2;
                    a = load!(ld_h(pkt, ind(x, off)));
                    // Skip the indirect load, already done.
                    pc += 2;
                    continue;
                }
                Op::Jeq2K { k1, k2, t1, t2, f } => {
                    pc = if a == k1 {
                        t1
                    } else if a == k2 {
                        t2
                    } else {
                        f
                    } as usize;
                    continue;
                }
                Op::JeqAbsH2 {
                    off,
                    k1,
                    k2,
                    t1,
                    t2,
                    f,
                } => {
                    a = load!(ld_h(pkt, off as usize));
                    pc = if a == u32::from(k1) {
                        t1
                    } else if a == u32::from(k2) {
                        t2
                    } else {
                        f
                    } as usize;
                    continue;
                }
                Op::JeqAbsB2 {
                    off,
                    k1,
                    k2,
                    t1,
                    t2,
                    f,
                } => {
                    a = load!(ld_b(pkt, off as usize));
                    pc = if a == u32::from(k1) {
                        t1
                    } else if a == u32::from(k2) {
                        t2
                    } else {
                        f
                    } as usize;
                    continue;
                }
                Op::JeqHJeqB {
                    o1,
                    o2,
                    k1,
                    k2,
                    f1,
                    t2,
                    f2,
                } => {
                    a = load!(ld_h(pkt, o1 as usize));
                    if a != u32::from(k1) {
                        pc = f1 as usize;
                        continue;
                    }
                    a = load!(ld_b(pkt, o2 as usize));
                    pc = if a == u32::from(k2) { t2 } else { f2 } as usize;
                    continue;
                }
                Op::JeqBJsetH {
                    o1,
                    o2,
                    k1,
                    k2,
                    f1,
                    t2,
                    f2,
                } => {
                    a = load!(ld_b(pkt, o1 as usize));
                    if a != u32::from(k1) {
                        pc = f1 as usize;
                        continue;
                    }
                    a = load!(ld_h(pkt, o2 as usize));
                    pc = if a & u32::from(k2) != 0 { t2 } else { f2 } as usize;
                    continue;
                }
                Op::MshJeqIndH2 {
                    msh,
                    o1,
                    k1,
                    t1,
                    o2,
                    k2,
                    t2,
                    f2,
                } => {
                    x = (load!(ld_b(pkt, msh as usize)) & 0xf) << 2;
                    a = load!(ld_h(pkt, x as usize + o1 as usize));
                    if a == u32::from(k1) {
                        pc = t1 as usize;
                        continue;
                    }
                    a = load!(ld_h(pkt, x as usize + o2 as usize));
                    pc = if a == u32::from(k2) { t2 } else { f2 } as usize;
                    continue;
                }
                Op::JeqAbsW2 {
                    o1,
                    o2,
                    k1,
                    k2,
                    t1,
                    t2,
                    f2,
                } => {
                    a = load!(ld_w(pkt, o1 as usize));
                    if a == k1 {
                        pc = t1 as usize;
                        continue;
                    }
                    a = load!(ld_w(pkt, o2 as usize));
                    pc = if a == k2 { t2 } else { f2 } as usize;
                    continue;
                }
                Op::JeqIndH { off, k, t, f } => {
                    a = load!(ld_h(pkt, ind(x, off)));
                    pc = if a == k { t } else { f } as usize;
                    continue;
                }
                Op::MshJeqIndH { msh, off, k, t, f } => {
                    x = (load!(ld_b(pkt, msh as usize)) & 0xf) << 2;
                    a = load!(ld_h(pkt, x as usize + off as usize));
                    pc = if a == u32::from(k) { t } else { f } as usize;
                    continue;
                }
            }
            pc += 1;
        }
    }
}

/// Successors of a self-contained test: an op that loads everything it
/// compares (it reads neither A nor X on entry), writes no scratch memory and
/// ends in a jump or a return. `None` for every other op. Encoded returns
/// (at or above [`RET_BASE`]) are left out: they end the program.
fn test_successors(o: &Op) -> Option<[u16; 3]> {
    const NONE: u16 = RET_BASE;
    Some(match *o {
        Op::RetK(_) => [NONE; 3],
        Op::JeqAbsB { t, f, .. }
        | Op::JeqAbsH { t, f, .. }
        | Op::JeqAbsW { t, f, .. }
        | Op::JsetAbsH { t, f, .. }
        | Op::MshJeqIndH { t, f, .. } => [t, f, NONE],
        Op::JeqAbsH2 { t1, t2, f, .. } | Op::JeqAbsB2 { t1, t2, f, .. } => [t1, t2, f],
        Op::JeqHJeqB { f1, t2, f2, .. } | Op::JeqBJsetH { f1, t2, f2, .. } => [f1, t2, f2],
        Op::MshJeqIndH2 { t1, t2, f2, .. } | Op::JeqAbsW2 { t1, t2, f2, .. } => [t1, t2, f2],
        _ => return None,
    })
}

/// [`test_successors`] for the single tests on constant offsets that
/// [`exec_light`] runs; `None` for every other op.
fn light_successors(o: &Op) -> Option<[u16; 3]> {
    match o {
        Op::RetK(_)
        | Op::JeqAbsB { .. }
        | Op::JeqAbsH { .. }
        | Op::JeqAbsW { .. }
        | Op::JsetAbsH { .. } => test_successors(o),
        _ => None,
    }
}

/// True when `succ` accepts every op reachable from the entry. Jumps go
/// forward only, so one pass in order sees every op after all its
/// predecessors.
fn only_reachable<const N: usize>(ops: &[Op], succ: fn(&Op) -> Option<[u16; 3]>) -> bool {
    let mut reached = [false; N];
    if let Some(r) = reached.first_mut() {
        *r = true;
    }
    for (pc, o) in ops.iter().enumerate() {
        if !reached.get(pc).copied().unwrap_or(false) {
            continue;
        }
        let Some(next) = succ(o) else {
            return false;
        };
        for t in next {
            if let Some(r) = reached.get_mut(usize::from(t)) {
                *r = true;
            }
        }
    }
    true
}

/// The interpreter for programs of single tests at constant offsets only
/// (see [`light_successors`]): the subset of [`exec_tests`] whose code needs
/// the fewest registers (x86-64: one saved on entry, against three for
/// [`exec_tests`] and five for [`exec`]). Any other op would end
/// the program with 0 (not reachable, as for [`exec_tests`]).
#[inline(always)]
fn exec_light(ops: &[Op], rets: &[u32; RETS], pkt: &[u8]) -> u32 {
    let mut pc = 0usize;
    macro_rules! load {
        ($l:lifetime, $e:expr) => {
            match $e {
                Some(v) => v,
                // `rets[0]` is 0 (see `encode_returns`).
                None => break $l RET_BASE,
            }
        };
    }
    loop {
        let Some(o) = ops.get(pc) else {
            return rets[pc % RETS];
        };
        pc = 'op: {
            match *o {
                Op::RetK(k) => return k,
                Op::JeqAbsB { off, k, t, f } => {
                    if load!('op, ld_b(pkt, off as usize)) == k {
                        t
                    } else {
                        f
                    }
                }
                Op::JeqAbsH { off, k, t, f } => {
                    if load!('op, ld_h(pkt, off as usize)) == k {
                        t
                    } else {
                        f
                    }
                }
                Op::JeqAbsW { off, k, t, f } => {
                    if load!('op, ld_w(pkt, off as usize)) == k {
                        t
                    } else {
                        f
                    }
                }
                Op::JsetAbsH { off, k, t, f } => {
                    if load!('op, ld_h(pkt, off as usize)) & k != 0 {
                        t
                    } else {
                        f
                    }
                }
                // Not reachable: see the function's notes.
                Op::RetA
                | Op::Tax
                | Op::Txa
                | Op::Fail
                | Op::MshIndH { .. }
                | Op::Jeq2K { .. }
                | Op::JeqAbsH2 { .. }
                | Op::JeqAbsB2 { .. }
                | Op::JeqHJeqB { .. }
                | Op::JeqBJsetH { .. }
                | Op::MshJeqIndH2 { .. }
                | Op::JeqAbsW2 { .. }
                | Op::JeqIndH { .. }
                | Op::MshJeqIndH { .. }
                | Op::LdAbsW(..)
                | Op::LdAbsH(..)
                | Op::LdAbsB(..)
                | Op::LdIndW(..)
                | Op::LdIndH(..)
                | Op::LdIndB(..)
                | Op::LdImm(..)
                | Op::LdLen
                | Op::LdMem(..)
                | Op::LdxImm(..)
                | Op::LdxLen
                | Op::LdxMem(..)
                | Op::LdxMsh(..)
                | Op::St(..)
                | Op::Stx(..)
                | Op::AddK(..)
                | Op::SubK(..)
                | Op::MulK(..)
                | Op::DivK(..)
                | Op::ModK(..)
                | Op::AndK(..)
                | Op::OrK(..)
                | Op::XorK(..)
                | Op::LshK(..)
                | Op::RshK(..)
                | Op::Neg
                | Op::AddX
                | Op::SubX
                | Op::MulX
                | Op::DivX
                | Op::ModX
                | Op::AndX
                | Op::OrX
                | Op::XorX
                | Op::LshX
                | Op::RshX
                | Op::Ja(..)
                | Op::JeqK { .. }
                | Op::JgtK { .. }
                | Op::JgeK { .. }
                | Op::JsetK { .. }
                | Op::JeqX { .. }
                | Op::JgtX { .. }
                | Op::JgeX { .. }
                | Op::JsetX { .. } => return 0,
            }
        } as usize;
    }
}

/// The interpreter for programs of self-contained tests only: no A, X or
/// scratch memory survive from one op to the next, so the loop carries only
/// the op index, and needs fewer registers than [`exec`]. Same semantics as
/// [`exec`] for these ops (a load past the end returns 0).
///
/// Only for programs where [`only_reachable`] holds with [`test_successors`]: any other op
/// would end the program with 0 here (a safe answer, never a panic), which
/// the unit tests check cannot happen on tcpdump's programs.
#[inline(always)]
fn exec_tests(ops: &[Op], rets: &[u32; RETS], pkt: &[u8]) -> u32 {
    let mut pc = 0usize;
    macro_rules! load {
        ($e:expr) => {
            match $e {
                Some(v) => v,
                None => return 0,
            }
        };
    }
    loop {
        let Some(o) = ops.get(pc) else {
            return rets[pc % RETS];
        };
        pc = match *o {
            Op::RetK(k) => return k,
            Op::JeqAbsB { off, k, t, f } => {
                if load!(ld_b(pkt, off as usize)) == k {
                    t
                } else {
                    f
                }
            }
            Op::JeqAbsH { off, k, t, f } => {
                if load!(ld_h(pkt, off as usize)) == k {
                    t
                } else {
                    f
                }
            }
            Op::JeqAbsW { off, k, t, f } => {
                if load!(ld_w(pkt, off as usize)) == k {
                    t
                } else {
                    f
                }
            }
            Op::JsetAbsH { off, k, t, f } => {
                if load!(ld_h(pkt, off as usize)) & k != 0 {
                    t
                } else {
                    f
                }
            }
            Op::JeqAbsH2 {
                off,
                k1,
                k2,
                t1,
                t2,
                f,
            } => {
                let a = load!(ld_h(pkt, off as usize));
                if a == u32::from(k1) {
                    t1
                } else if a == u32::from(k2) {
                    t2
                } else {
                    f
                }
            }
            Op::JeqAbsB2 {
                off,
                k1,
                k2,
                t1,
                t2,
                f,
            } => {
                let a = load!(ld_b(pkt, off as usize));
                if a == u32::from(k1) {
                    t1
                } else if a == u32::from(k2) {
                    t2
                } else {
                    f
                }
            }
            Op::JeqHJeqB {
                o1,
                o2,
                k1,
                k2,
                f1,
                t2,
                f2,
            } => {
                if load!(ld_h(pkt, o1 as usize)) != u32::from(k1) {
                    f1
                } else if load!(ld_b(pkt, o2 as usize)) == u32::from(k2) {
                    t2
                } else {
                    f2
                }
            }
            Op::JeqBJsetH {
                o1,
                o2,
                k1,
                k2,
                f1,
                t2,
                f2,
            } => {
                if load!(ld_b(pkt, o1 as usize)) != u32::from(k1) {
                    f1
                } else if load!(ld_h(pkt, o2 as usize)) & u32::from(k2) != 0 {
                    t2
                } else {
                    f2
                }
            }
            Op::MshJeqIndH { msh, off, k, t, f } => {
                let x = (load!(ld_b(pkt, msh as usize)) & 0xf) << 2;
                if load!(ld_h(pkt, x as usize + off as usize)) == u32::from(k) {
                    t
                } else {
                    f
                }
            }
            Op::MshJeqIndH2 {
                msh,
                o1,
                k1,
                t1,
                o2,
                k2,
                t2,
                f2,
            } => {
                let x = (load!(ld_b(pkt, msh as usize)) & 0xf) << 2;
                if load!(ld_h(pkt, x as usize + o1 as usize)) == u32::from(k1) {
                    t1
                } else if load!(ld_h(pkt, x as usize + o2 as usize)) == u32::from(k2) {
                    t2
                } else {
                    f2
                }
            }
            Op::JeqAbsW2 {
                o1,
                o2,
                k1,
                k2,
                t1,
                t2,
                f2,
            } => {
                if load!(ld_w(pkt, o1 as usize)) == k1 {
                    t1
                } else if load!(ld_w(pkt, o2 as usize)) == k2 {
                    t2
                } else {
                    f2
                }
            }
            // Not reachable: see the function's notes.
            Op::RetA
            | Op::Tax
            | Op::Txa
            | Op::Fail
            | Op::MshIndH { .. }
            | Op::Jeq2K { .. }
            | Op::JeqIndH { .. }
            | Op::LdAbsW(..)
            | Op::LdAbsH(..)
            | Op::LdAbsB(..)
            | Op::LdIndW(..)
            | Op::LdIndH(..)
            | Op::LdIndB(..)
            | Op::LdImm(..)
            | Op::LdLen
            | Op::LdMem(..)
            | Op::LdxImm(..)
            | Op::LdxLen
            | Op::LdxMem(..)
            | Op::LdxMsh(..)
            | Op::St(..)
            | Op::Stx(..)
            | Op::AddK(..)
            | Op::SubK(..)
            | Op::MulK(..)
            | Op::DivK(..)
            | Op::ModK(..)
            | Op::AndK(..)
            | Op::OrK(..)
            | Op::XorK(..)
            | Op::LshK(..)
            | Op::RshK(..)
            | Op::Neg
            | Op::AddX
            | Op::SubX
            | Op::MulX
            | Op::DivX
            | Op::ModX
            | Op::AndX
            | Op::OrX
            | Op::XorX
            | Op::LshX
            | Op::RshX
            | Op::Ja(..)
            | Op::JeqK { .. }
            | Op::JgtK { .. }
            | Op::JgeK { .. }
            | Op::JsetK { .. }
            | Op::JeqX { .. }
            | Op::JgtX { .. }
            | Op::JgeX { .. }
            | Op::JsetX { .. } => return 0,
        } as usize;
    }
}

/// Joins two fused tests where the second is the first's fall-on branch
/// (same rule as [`fuse`]: the second stays in place for other jumps).
fn fuse_tests<const N: usize>(ops: &mut heapless::Vec<Op, N>) {
    let w = |v: u32| u16::try_from(v).ok();
    for pc in 0..ops.len() {
        let Some(&first) = ops.get(pc) else { continue };
        let at = |i: u16| ops.get(i as usize).copied();
        let fused = match first {
            Op::JeqAbsB { off, k, t, f } => match at(t) {
                Some(Op::JsetAbsH {
                    off: o2,
                    k: k2,
                    t: t2,
                    f: f2,
                }) => match (w(off), w(o2), w(k), w(k2)) {
                    (Some(o1), Some(o2), Some(k1), Some(k2)) => Some(Op::JeqBJsetH {
                        o1,
                        o2,
                        k1,
                        k2,
                        f1: f,
                        t2,
                        f2,
                    }),
                    _ => None,
                },
                _ => None,
            },
            Op::JeqAbsH { off, k, t, f } => match at(t) {
                Some(Op::JeqAbsB {
                    off: o2,
                    k: k2,
                    t: t2,
                    f: f2,
                }) => match (w(off), w(o2), w(k), w(k2)) {
                    (Some(o1), Some(o2), Some(k1), Some(k2)) => Some(Op::JeqHJeqB {
                        o1,
                        o2,
                        k1,
                        k2,
                        f1: f,
                        t2,
                        f2,
                    }),
                    _ => None,
                },
                _ => None,
            },
            Op::MshJeqIndH { msh, off, k, t, f } => match at(f) {
                Some(Op::JeqIndH {
                    off: o2,
                    k: k2,
                    t: t2,
                    f: f2,
                }) => match (w(o2), w(k2)) {
                    (Some(o2), Some(k2)) => Some(Op::MshJeqIndH2 {
                        msh,
                        o1: off,
                        k1: k,
                        t1: t,
                        o2,
                        k2,
                        t2,
                        f2,
                    }),
                    _ => None,
                },
                _ => None,
            },
            Op::JeqAbsW { off, k, t, f } => match at(f) {
                Some(Op::JeqAbsW {
                    off: o2,
                    k: k2,
                    t: t2,
                    f: f2,
                }) => match (w(off), w(o2)) {
                    (Some(o1), Some(o2)) => Some(Op::JeqAbsW2 {
                        o1,
                        o2,
                        k1: k,
                        k2,
                        t1: t,
                        t2,
                        f2,
                    }),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        };
        if let (Some(o), Some(slot)) = (fused, ops.get_mut(pc)) {
            *slot = o;
        }
    }
}

/// Replaces `load; compare` pairs by one op. The second op stays where it is
/// (another jump may land on it); the fused op jumps straight past it.
fn fuse<const N: usize>(ops: &mut heapless::Vec<Op, N>) {
    for pc in 0..ops.len().saturating_sub(1) {
        let (Some(&first), Some(&second)) = (ops.get(pc), ops.get(pc + 1)) else {
            continue;
        };
        // A second `jeq` on the false branch of a `jeq` (A unchanged).
        let chained = |f1: u16| match ops.get(f1 as usize) {
            Some(&Op::JeqK { k, t, f }) => Some((k, t, f)),
            _ => None,
        };
        let small = |k1: u32, k2: u32| Some((u16::try_from(k1).ok()?, u16::try_from(k2).ok()?));
        let fused = match (first, second) {
            (
                Op::JeqK {
                    k: k1,
                    t: t1,
                    f: f1,
                },
                _,
            ) => chained(f1).map(|(k2, t2, f)| Op::Jeq2K { k1, k2, t1, t2, f }),
            (
                Op::LdAbsH(off),
                Op::JeqK {
                    k: k1,
                    t: t1,
                    f: f1,
                },
            ) => match chained(f1).and_then(|(k2, t2, f)| Some((small(k1, k2)?, t2, f))) {
                Some(((k1, k2), t2, f)) => Some(Op::JeqAbsH2 {
                    off,
                    k1,
                    k2,
                    t1,
                    t2,
                    f,
                }),
                None => Some(Op::JeqAbsH {
                    off,
                    k: k1,
                    t: t1,
                    f: f1,
                }),
            },
            (
                Op::LdAbsB(off),
                Op::JeqK {
                    k: k1,
                    t: t1,
                    f: f1,
                },
            ) => match chained(f1).and_then(|(k2, t2, f)| Some((small(k1, k2)?, t2, f))) {
                Some(((k1, k2), t2, f)) => Some(Op::JeqAbsB2 {
                    off,
                    k1,
                    k2,
                    t1,
                    t2,
                    f,
                }),
                None => Some(Op::JeqAbsB {
                    off,
                    k: k1,
                    t: t1,
                    f: f1,
                }),
            },
            (Op::LdAbsW(off), Op::JeqK { k, t, f }) => Some(Op::JeqAbsW { off, k, t, f }),
            (Op::LdAbsH(off), Op::JsetK { k, t, f }) => Some(Op::JsetAbsH { off, k, t, f }),
            (Op::LdIndH(off), Op::JeqK { k, t, f }) => Some(Op::JeqIndH { off, k, t, f }),
            (Op::LdxMsh(msh), Op::LdIndH(off)) => match ops.get(pc + 2) {
                Some(&Op::JeqK { k, t, f }) => {
                    match (u16::try_from(msh), u16::try_from(off), u16::try_from(k)) {
                        (Ok(msh), Ok(off), Ok(k)) => Some(Op::MshJeqIndH { msh, off, k, t, f }),
                        _ => Some(Op::MshIndH { msh, off }),
                    }
                }
                _ => Some(Op::MshIndH { msh, off }),
            },
            _ => None,
        };
        if let (Some(o), Some(slot)) = (fused, ops.get_mut(pc)) {
            *slot = o;
        }
    }
}

/// Rewrites every jump to a `ret #k` as a target `len + t`: the interpreter's
/// bounds check on the next index then doubles as the return test, so a
/// jump to a return costs no dispatch.
fn encode_returns(ops: &mut [Op]) -> [u32; RETS] {
    // `rets[0]` is always 0: the test interpreters end a program on a load
    // past the end by jumping there.
    let mut rets = [0u32; RETS];
    let mut n = 1usize;
    for o in ops.iter() {
        if let &Op::RetK(k) = o {
            if !rets[..n].contains(&k) && n < RETS {
                rets[n] = k;
                n += 1;
            }
        }
    }
    let table = rets;
    for pc in 0..ops.len() {
        let Some(&o) = ops.get(pc) else { continue };
        let enc = |t: u16| match ops.get(t as usize) {
            Some(&Op::RetK(k)) => match table[..n].iter().position(|&r| r == k) {
                Some(i) => RET_BASE + i as u16,
                None => t,
            },
            _ => t,
        };
        let new = match o {
            Op::Ja(t) => Op::Ja(enc(t)),
            Op::JeqK { k, t, f } => Op::JeqK {
                k,
                t: enc(t),
                f: enc(f),
            },
            Op::JgtK { k, t, f } => Op::JgtK {
                k,
                t: enc(t),
                f: enc(f),
            },
            Op::JgeK { k, t, f } => Op::JgeK {
                k,
                t: enc(t),
                f: enc(f),
            },
            Op::JsetK { k, t, f } => Op::JsetK {
                k,
                t: enc(t),
                f: enc(f),
            },
            Op::JeqX { t, f } => Op::JeqX {
                t: enc(t),
                f: enc(f),
            },
            Op::JgtX { t, f } => Op::JgtX {
                t: enc(t),
                f: enc(f),
            },
            Op::JgeX { t, f } => Op::JgeX {
                t: enc(t),
                f: enc(f),
            },
            Op::JsetX { t, f } => Op::JsetX {
                t: enc(t),
                f: enc(f),
            },
            Op::JeqAbsB { off, k, t, f } => Op::JeqAbsB {
                off,
                k,
                t: enc(t),
                f: enc(f),
            },
            Op::JeqAbsH { off, k, t, f } => Op::JeqAbsH {
                off,
                k,
                t: enc(t),
                f: enc(f),
            },
            Op::JeqAbsW { off, k, t, f } => Op::JeqAbsW {
                off,
                k,
                t: enc(t),
                f: enc(f),
            },
            Op::JsetAbsH { off, k, t, f } => Op::JsetAbsH {
                off,
                k,
                t: enc(t),
                f: enc(f),
            },
            Op::JeqIndH { off, k, t, f } => Op::JeqIndH {
                off,
                k,
                t: enc(t),
                f: enc(f),
            },
            Op::MshJeqIndH { msh, off, k, t, f } => Op::MshJeqIndH {
                msh,
                off,
                k,
                t: enc(t),
                f: enc(f),
            },
            Op::JeqHJeqB {
                o1,
                o2,
                k1,
                k2,
                f1,
                t2,
                f2,
            } => Op::JeqHJeqB {
                o1,
                o2,
                k1,
                k2,
                f1: enc(f1),
                t2: enc(t2),
                f2: enc(f2),
            },
            Op::JeqBJsetH {
                o1,
                o2,
                k1,
                k2,
                f1,
                t2,
                f2,
            } => Op::JeqBJsetH {
                o1,
                o2,
                k1,
                k2,
                f1: enc(f1),
                t2: enc(t2),
                f2: enc(f2),
            },
            Op::MshJeqIndH2 {
                msh,
                o1,
                k1,
                t1,
                o2,
                k2,
                t2,
                f2,
            } => Op::MshJeqIndH2 {
                msh,
                o1,
                k1,
                t1: enc(t1),
                o2,
                k2,
                t2: enc(t2),
                f2: enc(f2),
            },
            Op::JeqAbsW2 {
                o1,
                o2,
                k1,
                k2,
                t1,
                t2,
                f2,
            } => Op::JeqAbsW2 {
                o1,
                o2,
                k1,
                k2,
                t1: enc(t1),
                t2: enc(t2),
                f2: enc(f2),
            },
            Op::Jeq2K { k1, k2, t1, t2, f } => Op::Jeq2K {
                k1,
                k2,
                t1: enc(t1),
                t2: enc(t2),
                f: enc(f),
            },
            Op::JeqAbsH2 {
                off,
                k1,
                k2,
                t1,
                t2,
                f,
            } => Op::JeqAbsH2 {
                off,
                k1,
                k2,
                t1: enc(t1),
                t2: enc(t2),
                f: enc(f),
            },
            Op::JeqAbsB2 {
                off,
                k1,
                k2,
                t1,
                t2,
                f,
            } => Op::JeqAbsB2 {
                off,
                k1,
                k2,
                t1: enc(t1),
                t2: enc(t2),
                f: enc(f),
            },
            other => other,
        };
        if let Some(slot) = ops.get_mut(pc) {
            *slot = new;
        }
    }
    rets
}

#[inline(always)]
fn ind(x: u32, k: u32) -> usize {
    // Both are at most u32::MAX - 4 or u32::MAX: the sum fits u64; on 32-bit
    // targets saturate (no packet is that long, so the load fails).
    usize::try_from(u64::from(x) + u64::from(k)).unwrap_or(usize::MAX - 4)
}

#[inline(always)]
fn ld_b(pkt: &[u8], off: usize) -> Option<u32> {
    pkt.get(off).map(|&b| u32::from(b))
}

#[inline(always)]
fn ld_h(pkt: &[u8], off: usize) -> Option<u32> {
    match pkt.get(off..off.checked_add(2)?) {
        Some(&[b0, b1]) => Some(u32::from(u16::from_be_bytes([b0, b1]))),
        _ => None,
    }
}

#[inline(always)]
fn ld_w(pkt: &[u8], off: usize) -> Option<u32> {
    match pkt.get(off..off.checked_add(4)?) {
        Some(&[b0, b1, b2, b3]) => Some(u32::from_be_bytes([b0, b1, b2, b3])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insn::op::*;

    fn verify(p: &[(u16, u8, u8, u32)]) -> Result<VerifiedProgram<64>, Error> {
        let insns: heapless::Vec<Insn, 64> = p.iter().map(|&i| Insn::from(i)).collect();
        VerifiedProgram::new(&insns)
    }

    #[test]
    fn rejects_each_rule() {
        assert_eq!(verify(&[]), Err(Error::ProgramLength { len: 0 }));
        let long = [Insn::stmt(RET | K, 0); MAX_INSNS + 1];
        assert_eq!(
            VerifiedProgram::<{ MAX_INSNS + 1 }>::new(&long),
            Err(Error::ProgramLength { len: 4097 })
        );
        assert!(VerifiedProgram::<{ MAX_INSNS }>::new(&long[..MAX_INSNS]).is_ok());
        assert_eq!(
            verify(&[(0xff, 0, 0, 0)]),
            Err(Error::UnknownOpcode { pc: 0, code: 0xff })
        );
        // RET X does not exist; LD H IMM does not exist.
        assert!(matches!(
            verify(&[(RET | X, 0, 0, 0)]),
            Err(Error::UnknownOpcode { .. })
        ));
        assert!(matches!(
            verify(&[(LD | H | IMM, 0, 0, 0), (RET | K, 0, 0, 0)]),
            Err(Error::UnknownOpcode { .. })
        ));
        // Jumps past the end, and a jump at the very end.
        assert_eq!(
            verify(&[(JMP | JA, 0, 0, 1), (RET | K, 0, 0, 0)]),
            Err(Error::JumpOutOfRange { pc: 0 })
        );
        assert_eq!(
            verify(&[(JMP | JA, 0, 0, u32::MAX), (RET | K, 0, 0, 0)]),
            Err(Error::JumpOutOfRange { pc: 0 })
        );
        assert_eq!(
            verify(&[(JMP | JEQ | K, 0, 1, 0), (RET | K, 0, 0, 0)]),
            Err(Error::JumpOutOfRange { pc: 0 })
        );
        assert_eq!(
            verify(&[(RET | K, 0, 0, 0), (JMP | JEQ | X, 0, 0, 0)]),
            Err(Error::JumpOutOfRange { pc: 1 })
        );
        assert_eq!(
            verify(&[(LD | IMM, 0, 0, 0)]),
            Err(Error::FallsOffEnd { pc: 0 })
        );
        assert_eq!(
            verify(&[(ALU | DIV | K, 0, 0, 0), (RET | A, 0, 0, 0)]),
            Err(Error::DivisionByZero { pc: 0 })
        );
        assert_eq!(
            verify(&[(ALU | MOD | K, 0, 0, 0), (RET | A, 0, 0, 0)]),
            Err(Error::DivisionByZero { pc: 0 })
        );
        assert_eq!(
            verify(&[(ALU | LSH | K, 0, 0, 32), (RET | A, 0, 0, 0)]),
            Err(Error::ShiftTooLarge { pc: 0 })
        );
        assert_eq!(
            verify(&[(ST, 0, 0, 16), (RET | A, 0, 0, 0)]),
            Err(Error::MemoryIndex { pc: 0 })
        );
        assert_eq!(
            verify(&[(LD | MEM, 0, 0, 3), (RET | A, 0, 0, 0)]),
            Err(Error::UninitializedMemory { pc: 0 })
        );
        // Written on one path only.
        assert_eq!(
            verify(&[
                (JMP | JEQ | K, 0, 1, 7),
                (ST, 0, 0, 2),
                (LDX | MEM, 0, 0, 2),
                (RET | A, 0, 0, 0)
            ]),
            Err(Error::UninitializedMemory { pc: 2 })
        );
        // Written on both paths.
        let both = verify(&[
            (JMP | JEQ | K, 0, 2, 7),
            (ST, 0, 0, 2),
            (JMP | JA, 0, 0, 1),
            (STX, 0, 0, 2),
            (LD | MEM, 0, 0, 2),
            (RET | A, 0, 0, 0),
        ])
        .unwrap();
        assert_eq!(both.run(&[]), 0);
    }

    #[test]
    fn runtime_semantics() {
        // A = len; X = 0; A / X -> program returns 0.
        let p = verify(&[
            (LD | W | LEN, 0, 0, 0),
            (LDX | W | IMM, 0, 0, 0),
            (ALU | DIV | X, 0, 0, 0),
            (RET | K, 0, 0, 9),
        ])
        .unwrap();
        assert_eq!(p.run(&[1, 2, 3]), 0);
        // Indirect load: X = 4 * (P[0] & 0xf), A = P[X + 1] (halfword).
        let p = verify(&[
            (LDX | B | MSH, 0, 0, 0),
            (LD | H | IND, 0, 0, 1),
            (RET | A, 0, 0, 0),
        ])
        .unwrap();
        assert_eq!(p.run(&[0x41, 0, 0, 0, 0, 0xab, 0xcd]), 0xabcd);
        assert_eq!(p.run(&[0x41, 0, 0, 0, 0, 0xab]), 0);
        // Huge offsets never wrap.
        let p = verify(&[(LD | W | ABS, 0, 0, u32::MAX), (RET | K, 0, 0, 1)]).unwrap();
        assert_eq!(p.run(&[0; 8]), 0);
        let p = verify(&[
            (LDX | W | IMM, 0, 0, u32::MAX),
            (LD | B | IND, 0, 0, 1),
            (RET | K, 0, 0, 1),
        ])
        .unwrap();
        assert_eq!(p.run(&[0; 8]), 0);
        // A jump target landing on the second half of a fused pair.
        let p = verify(&[
            (LD | W | LEN, 0, 0, 0),
            (JMP | JEQ | K, 1, 0, 3),
            (LD | H | ABS, 0, 0, 0),
            (JMP | JEQ | K, 0, 1, 0x0102),
            (RET | K, 0, 0, 1),
            (RET | K, 0, 0, 2),
        ])
        .unwrap();
        assert_eq!(p.run(&[1, 2, 0]), 2);
        assert_eq!(p.run(&[1, 2, 0, 0]), 1);
        assert_eq!(p.run(&[1, 3, 0, 0]), 2);
    }
    /// tcpdump's own bytecode (`tcpdump -dd EXPR`, tcpdump 4.99 / libpcap
    /// 1.10) for the expressions named in the comments.
    const TCPDUMP: &[&[(u16, u8, u8, u32)]] = &[
        // tcpdump -dd 'ip'
        &[
            (0x28, 0, 0, 0x0000000c),
            (0x15, 0, 1, 0x00000800),
            (0x6, 0, 0, 0x00040000),
            (0x6, 0, 0, 0x00000000),
        ],
        // tcpdump -dd 'tcp dst port 80'
        &[
            (0x28, 0, 0, 0x0000000c),
            (0x15, 0, 4, 0x000086dd),
            (0x30, 0, 0, 0x00000014),
            (0x15, 0, 11, 0x00000006),
            (0x28, 0, 0, 0x00000038),
            (0x15, 8, 9, 0x00000050),
            (0x15, 0, 8, 0x00000800),
            (0x30, 0, 0, 0x00000017),
            (0x15, 0, 6, 0x00000006),
            (0x28, 0, 0, 0x00000014),
            (0x45, 4, 0, 0x00001fff),
            (0xb1, 0, 0, 0x0000000e),
            (0x48, 0, 0, 0x00000010),
            (0x15, 0, 1, 0x00000050),
            (0x6, 0, 0, 0x00040000),
            (0x6, 0, 0, 0x00000000),
        ],
        // tcpdump -dd 'tcp port 80'
        &[
            (0x28, 0, 0, 0x0000000c),
            (0x15, 0, 6, 0x000086dd),
            (0x30, 0, 0, 0x00000014),
            (0x15, 0, 15, 0x00000006),
            (0x28, 0, 0, 0x00000036),
            (0x15, 12, 0, 0x00000050),
            (0x28, 0, 0, 0x00000038),
            (0x15, 10, 11, 0x00000050),
            (0x15, 0, 10, 0x00000800),
            (0x30, 0, 0, 0x00000017),
            (0x15, 0, 8, 0x00000006),
            (0x28, 0, 0, 0x00000014),
            (0x45, 6, 0, 0x00001fff),
            (0xb1, 0, 0, 0x0000000e),
            (0x48, 0, 0, 0x0000000e),
            (0x15, 2, 0, 0x00000050),
            (0x48, 0, 0, 0x00000010),
            (0x15, 0, 1, 0x00000050),
            (0x6, 0, 0, 0x00040000),
            (0x6, 0, 0, 0x00000000),
        ],
        // tcpdump -dd 'udp and host 10.0.0.1'
        &[
            (0x28, 0, 0, 0x0000000c),
            (0x15, 0, 7, 0x00000800),
            (0x30, 0, 0, 0x00000017),
            (0x15, 0, 5, 0x00000011),
            (0x20, 0, 0, 0x0000001a),
            (0x15, 2, 0, 0x0a000001),
            (0x20, 0, 0, 0x0000001e),
            (0x15, 0, 1, 0x0a000001),
            (0x6, 0, 0, 0x00040000),
            (0x6, 0, 0, 0x00000000),
        ],
        // tcpdump -dd 'ip6 and tcp'
        &[
            (0x28, 0, 0, 0x0000000c),
            (0x15, 0, 6, 0x000086dd),
            (0x30, 0, 0, 0x00000014),
            (0x15, 3, 0, 0x00000006),
            (0x15, 0, 3, 0x0000002c),
            (0x30, 0, 0, 0x00000036),
            (0x15, 0, 1, 0x00000006),
            (0x6, 0, 0, 0x00040000),
            (0x6, 0, 0, 0x00000000),
        ],
        // tcpdump -dd 'udp port 53'
        &[
            (0x28, 0, 0, 0x0000000c),
            (0x15, 0, 6, 0x000086dd),
            (0x30, 0, 0, 0x00000014),
            (0x15, 0, 15, 0x00000011),
            (0x28, 0, 0, 0x00000036),
            (0x15, 12, 0, 0x00000035),
            (0x28, 0, 0, 0x00000038),
            (0x15, 10, 11, 0x00000035),
            (0x15, 0, 10, 0x00000800),
            (0x30, 0, 0, 0x00000017),
            (0x15, 0, 8, 0x00000011),
            (0x28, 0, 0, 0x00000014),
            (0x45, 6, 0, 0x00001fff),
            (0xb1, 0, 0, 0x0000000e),
            (0x48, 0, 0, 0x0000000e),
            (0x15, 2, 0, 0x00000035),
            (0x48, 0, 0, 0x00000010),
            (0x15, 0, 1, 0x00000035),
            (0x6, 0, 0, 0x00040000),
            (0x6, 0, 0, 0x00000000),
        ],
        // tcpdump -dd 'icmp'
        &[
            (0x28, 0, 0, 0x0000000c),
            (0x15, 0, 3, 0x00000800),
            (0x30, 0, 0, 0x00000017),
            (0x15, 0, 1, 0x00000001),
            (0x6, 0, 0, 0x00040000),
            (0x6, 0, 0, 0x00000000),
        ],
        // tcpdump -dd 'host 10.0.0.1'
        &[
            (0x28, 0, 0, 0x0000000c),
            (0x15, 0, 4, 0x00000800),
            (0x20, 0, 0, 0x0000001a),
            (0x15, 8, 0, 0x0a000001),
            (0x20, 0, 0, 0x0000001e),
            (0x15, 6, 7, 0x0a000001),
            (0x15, 1, 0, 0x00000806),
            (0x15, 0, 5, 0x00008035),
            (0x20, 0, 0, 0x0000001c),
            (0x15, 2, 0, 0x0a000001),
            (0x20, 0, 0, 0x00000026),
            (0x15, 0, 1, 0x0a000001),
            (0x6, 0, 0, 0x00040000),
            (0x6, 0, 0, 0x00000000),
        ],
        // tcpdump -dd 'tcp[13] & 2 != 0'
        &[
            (0x28, 0, 0, 0x0000000c),
            (0x15, 0, 8, 0x00000800),
            (0x30, 0, 0, 0x00000017),
            (0x15, 0, 6, 0x00000006),
            (0x28, 0, 0, 0x00000014),
            (0x45, 4, 0, 0x00001fff),
            (0xb1, 0, 0, 0x0000000e),
            (0x50, 0, 0, 0x0000001b),
            (0x45, 0, 1, 0x00000002),
            (0x6, 0, 0, 0x00040000),
            (0x6, 0, 0, 0x00000000),
        ],
        // tcpdump -dd 'portrange 1000-2000'
        &[
            (0x28, 0, 0, 0x0000000c),
            (0x15, 0, 9, 0x000086dd),
            (0x30, 0, 0, 0x00000014),
            (0x15, 2, 0, 0x00000084),
            (0x15, 1, 0, 0x00000006),
            (0x15, 0, 20, 0x00000011),
            (0x28, 0, 0, 0x00000036),
            (0x35, 0, 1, 0x000003e8),
            (0x25, 0, 16, 0x000007d0),
            (0x28, 0, 0, 0x00000038),
            (0x35, 13, 15, 0x000003e8),
            (0x15, 0, 14, 0x00000800),
            (0x30, 0, 0, 0x00000017),
            (0x15, 2, 0, 0x00000084),
            (0x15, 1, 0, 0x00000006),
            (0x15, 0, 10, 0x00000011),
            (0x28, 0, 0, 0x00000014),
            (0x45, 8, 0, 0x00001fff),
            (0xb1, 0, 0, 0x0000000e),
            (0x48, 0, 0, 0x0000000e),
            (0x35, 0, 1, 0x000003e8),
            (0x25, 0, 3, 0x000007d0),
            (0x48, 0, 0, 0x00000010),
            (0x35, 0, 2, 0x000003e8),
            (0x25, 1, 0, 0x000007d0),
            (0x6, 0, 0, 0x00040000),
            (0x6, 0, 0, 0x00000000),
        ],
    ];

    /// A program of single tests at constant offsets of each kind (word,
    /// half-word `jset`, byte), chained on their false branches so that no
    /// pair is fused: `ip src 10.0.0.2 and not a later fragment and tcp`.
    const LIGHT: &[(u16, u8, u8, u32)] = &[
        (LD | W | ABS, 0, 0, 26),
        (JMP | JEQ | K, 0, 5, 0x0a00_0002),
        (LD | H | ABS, 0, 0, 20),
        (JMP | JSET | K, 3, 0, 0x1fff),
        (LD | B | ABS, 0, 0, 23),
        (JMP | JEQ | K, 0, 1, 6),
        (RET | K, 0, 0, 1),
        (RET | K, 0, 0, 0),
    ];

    /// Frames the programs above look at: IPv4 TCP to port 80 (header
    /// length 20 and 24), IPv4 UDP, an IPv4 later fragment, IPv6 TCP, ARP.
    fn frames() -> [[u8; 80]; 6] {
        let mut f = [[0u8; 80]; 6];
        for (i, fr) in f.iter_mut().enumerate() {
            fr[12..14].copy_from_slice(&[0x08, 0x00]);
            fr[14] = if i == 1 { 0x46 } else { 0x45 };
            fr[23] = if i == 2 { 17 } else { 6 };
            fr[26..30].copy_from_slice(&[10, 0, 0, 2]);
            fr[30..34].copy_from_slice(&[10, 0, 0, 1]);
            let l4 = 14 + usize::from(fr[14] & 0xf) * 4;
            fr[l4..l4 + 4].copy_from_slice(&[0x9c, 0x40, 0, 80]);
            fr[l4 + 13] = 0x02;
        }
        f[3][20] = 0x00;
        f[3][21] = 0xb9; // fragment offset 185
        f[4][12..14].copy_from_slice(&[0x86, 0xdd]);
        f[4][20] = 6;
        f[4][54..58].copy_from_slice(&[0x04, 0x00, 0, 80]);
        f[5][12..14].copy_from_slice(&[0x08, 0x06]);
        f[5][28..32].copy_from_slice(&[10, 0, 0, 1]);
        f
    }

    /// The test-only interpreters agree with the general one on tcpdump's
    /// programs, on every truncation of every frame (so each load's bound is
    /// met exactly, missed by one and exceeded) and on byte-mutated frames.
    #[test]
    fn fast_paths_agree_with_general_path() {
        let mut fast = 0;
        for (n, prog) in TCPDUMP.iter().chain([&LIGHT]).enumerate() {
            let p = verify(prog).unwrap();
            if n == TCPDUMP.len() {
                assert_eq!(p.path, Path::Light);
            }
            if n < 7 {
                assert_ne!(p.path, Path::General, "program {n} should take a fast path");
            }
            if n == 0 {
                assert_eq!(p.path, Path::Light, "program {n}");
            }
            if p.path == Path::General {
                continue;
            }
            fast += 1;
            let check = |pkt: &[u8]| {
                let general = p.run_general(pkt, pkt.len() as u32);
                if p.path == Path::Light {
                    assert_eq!(
                        exec_light(&p.ops, &p.rets, pkt),
                        general,
                        "program {n}, {pkt:?}"
                    );
                }
                assert_eq!(
                    exec_tests(&p.ops, &p.rets, pkt),
                    general,
                    "program {n}, {pkt:?}"
                );
                assert_eq!(p.run(pkt), general);
            };
            let mut seed = 0x9e37_79b9_u32;
            for mut fr in frames() {
                for len in 0..=fr.len() {
                    check(&fr[..len]);
                }
                for _ in 0..2000 {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    let at = (seed % 80) as usize;
                    fr[at] = (seed >> 8) as u8;
                    check(&fr[..(seed >> 16) as usize % 81]);
                }
            }
        }
        assert!(fast >= 8);
    }

    /// A program with an op outside the test set is not marked fast, even
    /// when the op is only reachable through a jump.
    #[test]
    fn fast_paths_need_every_reachable_op_in_their_set() {
        // ldh [12]; jeq #0x800 jt 2 jf 3; ret #1; ld len ... ret a
        let p = verify(&[
            (LD | H | ABS, 0, 0, 12),
            (JMP | JEQ | K, 0, 1, 0x800),
            (RET | K, 0, 0, 1),
            (LD | W | LEN, 0, 0, 0),
            (RET | A, 0, 0, 0),
        ])
        .unwrap();
        assert_eq!(p.path, Path::General);
        assert_eq!(p.run(&[0; 20]), 20);
        // An op that reads A set by an earlier test (`jeq` without a load).
        let p = verify(TCPDUMP[7]).unwrap();
        assert_eq!(p.path, Path::General);
        // A header-relative test is not light.
        let p = verify(TCPDUMP[1]).unwrap();
        assert_eq!(p.path, Path::Tests);
        // Unreachable non-test ops do not matter.
        let p = verify(&[
            (LD | H | ABS, 0, 0, 12),
            (JMP | JEQ | K, 0, 1, 0x800),
            (RET | K, 0, 0, 1),
            (RET | K, 0, 0, 0),
            (RET | A, 0, 0, 0),
        ])
        .unwrap();
        assert_eq!(p.path, Path::Light);
    }
    /// Random programs in tcpdump's shape — blocks of `ld{,h,b} [k]` or
    /// `ldxb 4*([k]&0xf); ldh [x + k]`, then `jeq`/`jset`/`jgt` to later
    /// blocks or to two returns — run on random frames cut to every length
    /// around the loads' bounds: the fast paths agree with the general one.
    #[test]
    fn fast_paths_agree_on_random_test_programs() {
        let mut seed = 0x1234_5678_u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let (mut light, mut tests) = (0, 0);
        for _ in 0..3000 {
            let blocks = 1 + next() as usize % 6;
            // Each block: (msh offset or none, load code, offset, jump code, k).
            let mut spec = heapless::Vec::<_, 8>::new();
            for _ in 0..blocks {
                let msh = (next() % 4 == 0).then(|| next() % 24);
                let size = [W, H, B][next() as usize % 3];
                let off = next() % 72;
                let jmp = [JEQ, JEQ, JSET, JGT][next() as usize % 4];
                // Small constants so that `jeq` sometimes holds.
                let k = if next() % 2 == 0 { next() % 4 } else { next() };
                spec.push((msh, size, off, jmp, k)).unwrap();
            }
            let starts: heapless::Vec<usize, 8> = spec
                .iter()
                .scan(0, |at, b| {
                    let s = *at;
                    *at += if b.0.is_some() { 3 } else { 2 };
                    Some(s)
                })
                .collect();
            let ret = starts.last().unwrap()
                + if spec.last().unwrap().0.is_some() {
                    3
                } else {
                    2
                };
            let mut insns = heapless::Vec::<(u16, u8, u8, u32), 32>::new();
            for (n, &(msh, size, off, jmp, k)) in spec.iter().enumerate() {
                let here = insns.len() + if msh.is_some() { 3 } else { 2 };
                // A later block or one of the two returns, as an offset.
                let mut target = || {
                    let choices = blocks - n - 1 + 2;
                    let c = next() as usize % choices;
                    let t = if c < blocks - n - 1 {
                        starts[n + 1 + c]
                    } else {
                        ret + c - (blocks - n - 1)
                    };
                    (t - here) as u8
                };
                let (jt, jf) = (target(), target());
                if let Some(m) = msh {
                    insns.push((LDX | B | MSH, 0, 0, m)).unwrap();
                    insns.push((LD | H | IND, 0, 0, off)).unwrap();
                } else {
                    insns.push((LD | size | ABS, 0, 0, off)).unwrap();
                }
                insns.push((JMP | jmp | K, jt, jf, k)).unwrap();
            }
            insns.push((RET | K, 0, 0, 1 + next() % 3)).unwrap();
            insns.push((RET | K, 0, 0, 0)).unwrap();
            let p = verify(&insns).unwrap();
            match p.path {
                Path::Light => light += 1,
                Path::Tests => tests += 1,
                Path::General => continue,
            }
            let mut frame = [0u8; 96];
            for _ in 0..8 {
                for b in frame.iter_mut() {
                    *b = if next() % 3 == 0 {
                        next() as u8
                    } else {
                        (next() % 4) as u8
                    };
                }
                frame[14] = 0x40 | (next() % 16) as u8;
                for len in 0..=frame.len() {
                    let pkt = &frame[..len];
                    let general = p.run_general(pkt, len as u32);
                    assert_eq!(p.run(pkt), general, "{insns:?} on {pkt:?}");
                    assert_eq!(exec_tests(&p.ops, &p.rets, pkt), general);
                    if p.path == Path::Light {
                        assert_eq!(exec_light(&p.ops, &p.rets, pkt), general);
                    }
                }
            }
        }
        // Both fast paths were exercised.
        assert!(light > 300 && tests > 100, "light {light}, tests {tests}");
    }
}
