//! Property tests of the verifier and interpreter against a separately
//! written reference interpreter that checks everything at run time.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use swdemux::insn::op::*;
use swdemux::{Insn, VerifiedProgram};

/// Why the reference interpreter stopped without a result.
#[derive(Debug, PartialEq, Eq)]
enum Fault {
    BadOpcode,
    PcOutOfRange,
    DivByConstZero,
    BigShift,
    BadMemIndex,
    UninitMem,
}

/// Classic BPF with every check at run time (McCanne & Jacobson 1993;
/// libpcap's bpf_filter for the corner cases).
fn reference(prog: &[Insn], pkt: &[u8], wire_len: u32) -> Result<u32, Fault> {
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [None::<u32>; 16];
    let mut pc = 0usize;
    let byte = |o: u64| -> Option<u32> { pkt.get(usize::try_from(o).ok()?).map(|&b| u32::from(b)) };
    let load = |o: u64, n: u64| -> Option<u32> {
        let mut v = 0u32;
        for i in 0..n {
            v = (v << 8) | byte(o + i)?;
        }
        Some(v)
    };
    let size = |code: u16| match code & 0x18 {
        W => Some(4),
        H => Some(2),
        B => Some(1),
        _ => None,
    };
    loop {
        let i = *prog.get(pc).ok_or(Fault::PcOutOfRange)?;
        pc += 1;
        let k = i.k;
        let class = i.code & 0x07;
        match class {
            LD | LDX => {
                let mode = i.code & 0xe0;
                let sz = size(i.code).ok_or(Fault::BadOpcode)?;
                let v = match (class, mode, sz) {
                    (LD, ABS, n) => match load(u64::from(k), n) {
                        Some(v) => v,
                        None => return Ok(0),
                    },
                    (LD, IND, n) => match load(u64::from(x) + u64::from(k), n) {
                        Some(v) => v,
                        None => return Ok(0),
                    },
                    (_, IMM, 4) => k,
                    (_, LEN, 4) => wire_len,
                    (_, MEM, 4) => {
                        let cell = mem.get(k as usize).ok_or(Fault::BadMemIndex)?;
                        cell.ok_or(Fault::UninitMem)?
                    }
                    (LDX, MSH, 1) => match byte(u64::from(k)) {
                        Some(b) => (b & 0xf) * 4,
                        None => return Ok(0),
                    },
                    _ => return Err(Fault::BadOpcode),
                };
                if i.code & 0x07 == LD && i.code & !0xff == 0 {
                    a = v;
                } else if i.code & !0xff == 0 {
                    x = v;
                } else {
                    return Err(Fault::BadOpcode);
                }
            }
            ST | STX => {
                if i.code & !0x07 != 0 {
                    return Err(Fault::BadOpcode);
                }
                let cell = mem.get_mut(k as usize).ok_or(Fault::BadMemIndex)?;
                *cell = Some(if class == ST { a } else { x });
            }
            ALU => {
                let opn = i.code & 0xf0;
                let src = i.code & 0x08;
                if i.code & !0xff != 0 || (opn == NEG && src != 0) || opn > XOR {
                    return Err(Fault::BadOpcode);
                }
                let y = if src == X { x } else { k };
                if src == K && (opn == DIV || opn == MOD) && k == 0 {
                    return Err(Fault::DivByConstZero);
                }
                if src == K && (opn == LSH || opn == RSH) && k >= 32 {
                    return Err(Fault::BigShift);
                }
                a = match opn {
                    ADD => a.wrapping_add(y),
                    SUB => a.wrapping_sub(y),
                    MUL => a.wrapping_mul(y),
                    DIV | MOD if y == 0 => return Ok(0),
                    DIV => a / y,
                    MOD => a % y,
                    OR => a | y,
                    AND => a & y,
                    LSH => {
                        if y >= 32 {
                            0
                        } else {
                            a << y
                        }
                    }
                    RSH => {
                        if y >= 32 {
                            0
                        } else {
                            a >> y
                        }
                    }
                    NEG => a.wrapping_neg(),
                    XOR => a ^ y,
                    _ => return Err(Fault::BadOpcode),
                };
            }
            JMP => {
                let cond = i.code & 0xf0;
                let src = i.code & 0x08;
                if i.code & !0xff != 0 || cond > JSET || (cond == JA && src != 0) {
                    return Err(Fault::BadOpcode);
                }
                let y = if src == X { x } else { k };
                let off = match cond {
                    JA => k as usize,
                    _ => {
                        let c = match cond {
                            JEQ => a == y,
                            JGT => a > y,
                            JGE => a >= y,
                            _ => a & y != 0,
                        };
                        usize::from(if c { i.jt } else { i.jf })
                    }
                };
                pc = pc.checked_add(off).ok_or(Fault::PcOutOfRange)?;
            }
            RET => {
                return match i.code {
                    0x06 => Ok(k),
                    0x16 => Ok(a),
                    _ => Err(Fault::BadOpcode),
                };
            }
            _ => match i.code {
                0x07 => x = a,
                0x87 => a = x,
                _ => return Err(Fault::BadOpcode),
            },
        }
    }
}

/// Every opcode classic BPF defines.
const CODES: &[u16] = &[
    0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x00, 0x80, 0x60, 0x01, 0x81, 0x61, 0xb1, 0x02, 0x03, 0x04,
    0x14, 0x24, 0x34, 0x44, 0x54, 0x64, 0x74, 0x84, 0x94, 0xa4, 0x0c, 0x1c, 0x2c, 0x3c, 0x4c, 0x5c,
    0x6c, 0x7c, 0x9c, 0xac, 0x05, 0x15, 0x25, 0x35, 0x45, 0x1d, 0x2d, 0x3d, 0x4d, 0x06, 0x16, 0x07,
    0x87,
];

fn insn() -> impl Strategy<Value = Insn> {
    let code = prop_oneof![
        20 => proptest::sample::select(CODES),
        1 => any::<u16>(),
    ];
    let k = prop_oneof![
        0u32..20,
        Just(12u32),
        Just(14),
        Just(23),
        Just(31),
        Just(32),
        Just(u32::MAX),
        Just(u32::MAX - 3),
        any::<u32>(),
    ];
    (code, 0u8..4, 0u8..4, k).prop_map(|(code, jt, jf, k)| Insn { code, jt, jf, k })
}

fn program() -> impl Strategy<Value = Vec<Insn>> {
    // Often end with a return so more programs pass the verifier.
    (
        proptest::collection::vec(insn(), 1..14),
        any::<bool>(),
        any::<u32>(),
    )
        .prop_map(|(mut p, ret, k)| {
            if ret {
                p.push(Insn::stmt(RET | K, k % 3));
            }
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    /// Accepted programs run without panic and agree with the reference on
    /// every packet; a program the reference finds faulty on some packet
    /// was rejected.
    #[test]
    fn verified_programs_agree_with_reference(
        prog in program(),
        pkts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..48), 1..6),
    ) {
        let verdict = VerifiedProgram::<32>::new(&prog);
        for pkt in &pkts {
            let want = reference(&prog, pkt, pkt.len() as u32);
            match (&verdict, want) {
                (Ok(v), Ok(r)) => prop_assert_eq!(v.run(pkt), r),
                (Ok(_), Err(fault)) => prop_assert!(false, "accepted but faults: {:?} {:?}", fault, prog),
                (Err(_), _) => {}
            }
        }
    }
}

#[test]
fn the_generator_produces_accepted_programs() {
    // Guard against a generator whose programs the verifier always rejects.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut accepted = 0;
    for _ in 0..2000 {
        let p = program().new_tree(&mut runner).unwrap().current();
        accepted += usize::from(VerifiedProgram::<32>::new(&p).is_ok());
    }
    assert!(accepted > 200, "only {accepted} of 2000 accepted");
}
