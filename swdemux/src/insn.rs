//! Classic BPF instructions, their opcode values, and loading programs from
//! the text `tcpdump -ddd` / `tcpdump -dd` prints.
//!
//! Instruction set: S. McCanne and V. Jacobson, "The BSD Packet Filter: A New
//! Architecture for User-level Packet Capture", USENIX Winter 1993, §4 and
//! table 1. Opcode values: the BSD and Linux `bpf.h` headers
//! (`<net/bpf.h>`, `<linux/filter.h>`), which agree.

use crate::Error;

/// One classic-BPF instruction, as `struct bpf_insn` / `struct sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Insn {
    /// Opcode: class | size | mode, or class | op | source.
    pub code: u16,
    /// Jump offset when the condition holds (conditional jumps).
    pub jt: u8,
    /// Jump offset when it does not.
    pub jf: u8,
    /// The generic operand.
    pub k: u32,
}

impl Insn {
    /// An instruction from its four fields.
    pub const fn new(code: u16, jt: u8, jf: u8, k: u32) -> Self {
        Self { code, jt, jf, k }
    }

    /// A non-jump instruction (`BPF_STMT`).
    pub const fn stmt(code: u16, k: u32) -> Self {
        Self {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }

    /// A conditional jump (`BPF_JUMP`).
    pub const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Self {
        Self { code, jt, jf, k }
    }
}

impl From<(u16, u8, u8, u32)> for Insn {
    fn from((code, jt, jf, k): (u16, u8, u8, u32)) -> Self {
        Self { code, jt, jf, k }
    }
}

/// Opcode field values from `bpf.h`.
pub mod op {
    // Instruction classes (low 3 bits).
    /// Load into A.
    pub const LD: u16 = 0x00;
    /// Load into X.
    pub const LDX: u16 = 0x01;
    /// Store A to scratch memory.
    pub const ST: u16 = 0x02;
    /// Store X to scratch memory.
    pub const STX: u16 = 0x03;
    /// Arithmetic on A.
    pub const ALU: u16 = 0x04;
    /// Jumps.
    pub const JMP: u16 = 0x05;
    /// Return.
    pub const RET: u16 = 0x06;
    /// Register transfers.
    pub const MISC: u16 = 0x07;

    // Load sizes.
    /// 32-bit word.
    pub const W: u16 = 0x00;
    /// 16-bit half word.
    pub const H: u16 = 0x08;
    /// Byte.
    pub const B: u16 = 0x10;

    // Load modes.
    /// Immediate `k`.
    pub const IMM: u16 = 0x00;
    /// Packet at absolute offset `k`.
    pub const ABS: u16 = 0x20;
    /// Packet at offset `X + k`.
    pub const IND: u16 = 0x40;
    /// Scratch memory cell `k`.
    pub const MEM: u16 = 0x60;
    /// Packet length.
    pub const LEN: u16 = 0x80;
    /// `4 * (P[k] & 0xf)`: the IPv4 header length.
    pub const MSH: u16 = 0xa0;

    // ALU operations.
    /// A + operand.
    pub const ADD: u16 = 0x00;
    /// A - operand.
    pub const SUB: u16 = 0x10;
    /// A * operand.
    pub const MUL: u16 = 0x20;
    /// A / operand (unsigned).
    pub const DIV: u16 = 0x30;
    /// A | operand.
    pub const OR: u16 = 0x40;
    /// A & operand.
    pub const AND: u16 = 0x50;
    /// A << operand.
    pub const LSH: u16 = 0x60;
    /// A >> operand.
    pub const RSH: u16 = 0x70;
    /// -A.
    pub const NEG: u16 = 0x80;
    /// A % operand.
    pub const MOD: u16 = 0x90;
    /// A ^ operand.
    pub const XOR: u16 = 0xa0;

    // Jump conditions.
    /// Always.
    pub const JA: u16 = 0x00;
    /// A == operand.
    pub const JEQ: u16 = 0x10;
    /// A > operand.
    pub const JGT: u16 = 0x20;
    /// A >= operand.
    pub const JGE: u16 = 0x30;
    /// A & operand != 0.
    pub const JSET: u16 = 0x40;

    // Operand source.
    /// The constant `k`.
    pub const K: u16 = 0x00;
    /// The X register.
    pub const X: u16 = 0x08;
    /// Return the A register (`BPF_RVAL`).
    pub const A: u16 = 0x10;

    // MISC operations.
    /// X = A.
    pub const TAX: u16 = 0x00;
    /// A = X.
    pub const TXA: u16 = 0x80;
}

/// The longest program accepted (the BSD and Linux limit, `BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

/// Scratch memory cells (`BPF_MEMWORDS`).
pub const MEMWORDS: usize = 16;

/// A program as raw instructions in caller-provided storage of `N` slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program<const N: usize> {
    insns: heapless::Vec<Insn, N>,
}

impl<const N: usize> Default for Program<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Program<N> {
    /// An empty program.
    pub const fn new() -> Self {
        Self {
            insns: heapless::Vec::new(),
        }
    }

    /// A program from raw instructions, e.g. `(code, jt, jf, k)` tuples.
    ///
    /// # Errors
    ///
    /// [`Error::ProgramLength`] when `insns` does not fit in `N`.
    pub fn from_insns<I: Into<Insn> + Copy>(insns: &[I]) -> Result<Self, Error> {
        let mut p = Self::new();
        for &i in insns {
            p.push(i.into())
                .map_err(|_| Error::ProgramLength { len: insns.len() })?;
        }
        Ok(p)
    }

    /// Appends one instruction.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] when the storage is full.
    pub fn push(&mut self, insn: Insn) -> Result<(), Error> {
        self.insns.push(insn).map_err(|_| Error::Full)
    }

    /// The instructions.
    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }

    /// Parses the text `tcpdump -ddd` prints: a line with the instruction
    /// count, then one `code jt jf k` line (decimal) per instruction. Also
    /// accepts the `tcpdump -dd` C-array form (`{ 0x28, 0, 0, 0x0000000c },`
    /// per line) and the comma-separated one-line form
    /// (`4,40 0 0 12,21 0 1 2048,...`).
    ///
    /// # Errors
    ///
    /// [`Error::Syntax`] with the byte offset of the first bad token, or
    /// [`Error::ProgramLength`] when the count does not match or does not fit.
    ///
    /// # Examples
    ///
    /// ```
    /// use swdemux::Program;
    /// let p = Program::<16>::parse("4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n").unwrap();
    /// assert_eq!(p.insns().len(), 4);
    /// let dd = Program::<16>::parse("{ 0x28, 0, 0, 0x0000000c },\n{ 0x6, 0, 0, 0x00000000 },\n").unwrap();
    /// assert_eq!(dd.insns()[0].k, 12);
    /// ```
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut nums = Numbers { s: text, pos: 0 };
        let c_array = text.trim_start().starts_with('{');
        let mut p = Self::new();
        if c_array {
            while let Some((code_at, code)) = nums.next()? {
                let (_, jt) = nums.need()?;
                let (_, jf) = nums.need()?;
                let (_, k) = nums.need()?;
                p.push_checked(code_at, code, jt, jf, k)?;
            }
            if p.insns.is_empty() {
                return Err(Error::ProgramLength { len: 0 });
            }
            return Ok(p);
        }
        let (count_at, count) = nums.need()?;
        let count = usize::try_from(count).map_err(|_| Error::Syntax { offset: count_at })?;
        for _ in 0..count {
            let (code_at, code) = nums.need()?;
            let (_, jt) = nums.need()?;
            let (_, jf) = nums.need()?;
            let (_, k) = nums.need()?;
            p.push_checked(code_at, code, jt, jf, k)?;
        }
        if let Some((at, _)) = nums.next()? {
            return Err(Error::Syntax { offset: at });
        }
        if count == 0 {
            return Err(Error::ProgramLength { len: 0 });
        }
        Ok(p)
    }

    fn push_checked(
        &mut self,
        at: usize,
        code: u64,
        jt: u64,
        jf: u64,
        k: u64,
    ) -> Result<(), Error> {
        let bad = Error::Syntax { offset: at };
        let insn = Insn {
            code: u16::try_from(code).map_err(|_| bad)?,
            jt: u8::try_from(jt).map_err(|_| bad)?,
            jf: u8::try_from(jf).map_err(|_| bad)?,
            // `k` is printed signed by some tools: accept -2^31..2^32.
            k: u32::try_from(k).map_err(|_| bad)?,
        };
        self.insns.push(insn).map_err(|_| Error::ProgramLength {
            len: self.insns.len() + 1,
        })
    }
}

/// A scanner over the numbers in program text; separators are whitespace,
/// commas and braces.
struct Numbers<'a> {
    s: &'a str,
    pos: usize,
}

impl Numbers<'_> {
    fn next(&mut self) -> Result<Option<(usize, u64)>, Error> {
        let bytes = self.s.as_bytes();
        while let Some(&b) = bytes.get(self.pos) {
            if b.is_ascii_whitespace() || matches!(b, b',' | b'{' | b'}') {
                self.pos += 1;
            } else {
                break;
            }
        }
        let start = self.pos;
        if start >= bytes.len() {
            return Ok(None);
        }
        while let Some(&b) = bytes.get(self.pos) {
            if b.is_ascii_whitespace() || matches!(b, b',' | b'{' | b'}') {
                break;
            }
            self.pos += 1;
        }
        let tok = self.s.get(start..self.pos).unwrap_or("");
        let bad = Error::Syntax { offset: start };
        let value = if let Some(hex) = tok.strip_prefix("0x").or_else(|| tok.strip_prefix("0X")) {
            u64::from_str_radix(hex, 16).map_err(|_| bad)?
        } else if let Some(neg) = tok.strip_prefix('-') {
            let v: u64 = neg.parse().map_err(|_| bad)?;
            if v > 1 << 31 {
                return Err(bad);
            }
            // Two's complement of a negative 32-bit `k` (`-0` is 0).
            ((1u64 << 32) - v) & 0xffff_ffff
        } else {
            tok.parse().map_err(|_| bad)?
        };
        Ok(Some((start, value)))
    }

    fn need(&mut self) -> Result<(usize, u64), Error> {
        let end = self.s.len();
        self.next()?.ok_or(Error::Syntax { offset: end })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ddd_and_reports_offsets() {
        let p = Program::<8>::parse("2\n6 0 0 1\n6 0 0 0\n").unwrap();
        assert_eq!(p.insns(), &[Insn::stmt(6, 1), Insn::stmt(6, 0)]);
        assert_eq!(
            Program::<8>::parse("2\n6 0 0 1\n6 0 x 0\n"),
            Err(Error::Syntax { offset: 14 })
        );
        assert_eq!(
            Program::<8>::parse("1\n6 0 0 1\n6 0 0 0\n"),
            Err(Error::Syntax { offset: 10 })
        );
        assert_eq!(
            Program::<8>::parse("2\n6 0 0 1\n"),
            Err(Error::Syntax { offset: 10 })
        );
        assert_eq!(
            Program::<1>::parse("2\n6 0 0 1\n6 0 0 0"),
            Err(Error::ProgramLength { len: 2 })
        );
        assert_eq!(
            Program::<8>::parse("0\n"),
            Err(Error::ProgramLength { len: 0 })
        );
        assert_eq!(
            Program::<8>::parse("1\n6 0 300 0"),
            Err(Error::Syntax { offset: 2 })
        );
        let neg = Program::<8>::parse("1,6 0 0 -1").unwrap();
        assert_eq!(neg.insns()[0].k, u32::MAX);
        let zero = Program::<8>::parse("1,6 0 0 -0").unwrap();
        assert_eq!(zero.insns()[0].k, 0);
        let min = Program::<8>::parse("1,6 0 0 -2147483648").unwrap();
        assert_eq!(min.insns()[0].k, 1 << 31);
        assert_eq!(
            Program::<8>::parse("1,6 0 0 -2147483649"),
            Err(Error::Syntax { offset: 8 })
        );
    }
}
