//! Arbitrary classic-BPF programs into `swdemux::VerifiedProgram`: the
//! verifier accepts exactly what the reference verifier accepts; an
//! accepted program never panics (so never reads out of bounds: the crate
//! forbids `unsafe`), terminates (libFuzzer's timeout catches a loop), and
//! returns what the reference interpreter returns on every packet.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use nic_family_fuzz::bpf_ref;
use swdemux::{Insn, VerifiedProgram, insn::op::*};

/// Every opcode the instruction set defines, so most generated instructions
/// are valid and programs get past the verifier.
const VALID: [u16; 49] = [
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
    LDX | B | MSH,
    ST,
    STX,
    ALU | ADD | K,
    ALU | SUB | K,
    ALU | MUL | K,
    ALU | DIV | K,
    ALU | MOD | K,
    ALU | AND | K,
    ALU | OR | K,
    ALU | XOR | K,
    ALU | LSH | K,
    ALU | RSH | K,
    ALU | NEG,
    ALU | ADD | X,
    ALU | SUB | X,
    ALU | MUL | X,
    ALU | DIV | X,
    ALU | MOD | X,
    ALU | AND | X,
    ALU | OR | X,
    ALU | XOR | X,
    ALU | LSH | X,
    ALU | RSH | X,
    JMP | JA,
    JMP | JEQ | K,
    JMP | JGT | K,
    JMP | JGE | K,
    JMP | JSET | K,
    JMP | JEQ | X,
    JMP | JGT | X,
    JMP | JGE | X,
    JMP | JSET | X,
    RET | K,
    RET | A,
    MISC | TAX,
    MISC | TXA,
];

/// Storage of the programs under test; longer inputs test the length check.
const N: usize = 64;

#[derive(Debug, Arbitrary)]
struct RawInsn {
    /// Low 6 bits pick a valid opcode (or, past the table, take `code`
    /// raw); bit 6 keeps `k` small (offsets, scratch cells, shifts).
    sel: u8,
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

impl RawInsn {
    fn insn(&self, pc: usize, len: usize) -> Insn {
        let code = VALID
            .get(usize::from(self.sel & 0x3f))
            .copied()
            .unwrap_or(self.code);
        let mut k = self.k;
        if self.sel & 0x40 == 0 {
            k &= 0x3f;
        }
        // Jumps: keep most targets inside the program.
        let (mut jt, mut jf) = (self.jt, self.jf);
        if self.sel & 0x80 == 0 {
            let room = len.saturating_sub(pc + 1).max(1);
            jt = (usize::from(jt) % room) as u8;
            jf = (usize::from(jf) % room) as u8;
            if code == JMP | JA {
                k = (k as usize % room) as u32;
            }
        }
        Insn::new(code, jt, jf, k)
    }
}

#[derive(Debug, Arbitrary)]
struct Input {
    program: Vec<RawInsn>,
    packets: Vec<(Vec<u8>, Option<u32>)>,
}

fuzz_target!(|input: Input| {
    let len = input.program.len();
    let insns: Vec<Insn> = input
        .program
        .iter()
        .enumerate()
        .map(|(pc, r)| r.insn(pc, len))
        .collect();
    let got = VerifiedProgram::<N>::new(&insns);
    let want = bpf_ref::verify(&insns, N);
    match (&got, &want) {
        (Ok(_), Ok(())) | (Err(_), Err(_)) => {}
        _ => panic!("verifier disagrees: swdemux {got:?}, reference {want:?} on {insns:?}"),
    }
    let Ok(program) = got else { return };
    assert_eq!(program.len(), insns.len());
    for (pkt, wire) in input.packets.iter().take(8) {
        let wire_len = wire.unwrap_or(pkt.len() as u32);
        let (expect, steps) = bpf_ref::run(&insns, pkt, wire_len);
        assert!(steps <= insns.len());
        assert_eq!(
            program.run_with_len(pkt, wire_len),
            expect,
            "result differs on packet {pkt:02x?} (wire length {wire_len})"
        );
        if wire.is_none() {
            assert_eq!(program.run(pkt), expect);
        }
    }
});
