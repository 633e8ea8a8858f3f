//! The crate's error type.

use core::fmt;

/// Everything that can go wrong in this crate: a program the verifier
/// rejects, text that does not parse, an expression that does not compile, a
/// full table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The program is empty or longer than [`MAX_INSNS`](crate::MAX_INSNS)
    /// (or than the caller's storage).
    ProgramLength {
        /// The length offered.
        len: usize,
    },
    /// An instruction's opcode is not a classic-BPF opcode.
    UnknownOpcode {
        /// Index of the instruction.
        pc: usize,
        /// The opcode.
        code: u16,
    },
    /// A jump leaves the program (every jump must go forward and stay inside,
    /// so every program terminates).
    JumpOutOfRange {
        /// Index of the instruction.
        pc: usize,
    },
    /// The last instruction is not a return, so execution could fall off the end.
    FallsOffEnd {
        /// Index of the instruction.
        pc: usize,
    },
    /// Division or modulo by the constant zero.
    DivisionByZero {
        /// Index of the instruction.
        pc: usize,
    },
    /// A shift by a constant of 32 or more.
    ShiftTooLarge {
        /// Index of the instruction.
        pc: usize,
    },
    /// A scratch memory index outside 0..16.
    MemoryIndex {
        /// Index of the instruction.
        pc: usize,
    },
    /// A scratch memory cell may be read before any write on some path.
    UninitializedMemory {
        /// Index of the instruction.
        pc: usize,
    },
    /// Program text (`tcpdump -ddd` / `-dd`) does not parse.
    Syntax {
        /// Byte offset of the offending text.
        offset: usize,
    },
    /// An expression does not compile: byte offset of the offending token and why.
    Expression {
        /// Byte offset of the offending token.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A caller-provided table or buffer is full.
    Full,
    /// A flow rule is not self-consistent (see `FlowRule::validate`).
    InvalidRule,
    /// No entry has this handle.
    NotFound,
    /// An argument is outside the range the call accepts (e.g. an ARP
    /// subscriber past endpoint 63).
    OutOfRange,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ProgramLength { len } => {
                write!(f, "program length {len} outside 1..=4096 or the storage")
            }
            Self::UnknownOpcode { pc, code } => {
                write!(f, "instruction {pc}: unknown opcode {code:#06x}")
            }
            Self::JumpOutOfRange { pc } => write!(f, "instruction {pc}: jump leaves the program"),
            Self::FallsOffEnd { pc } => {
                write!(f, "instruction {pc}: execution falls off the end")
            }
            Self::DivisionByZero { pc } => write!(f, "instruction {pc}: division by zero"),
            Self::ShiftTooLarge { pc } => write!(f, "instruction {pc}: shift by 32 or more"),
            Self::MemoryIndex { pc } => {
                write!(f, "instruction {pc}: scratch memory index out of range")
            }
            Self::UninitializedMemory { pc } => {
                write!(f, "instruction {pc}: scratch memory read before written")
            }
            Self::Syntax { offset } => write!(f, "program text: syntax error at byte {offset}"),
            Self::Expression { offset, reason } => {
                write!(f, "expression: {reason} at byte {offset}")
            }
            Self::Full => f.write_str("table full"),
            Self::InvalidRule => f.write_str("flow rule is not self-consistent"),
            Self::NotFound => f.write_str("no such entry"),
            Self::OutOfRange => f.write_str("argument out of range"),
        }
    }
}

impl core::error::Error for Error {}
