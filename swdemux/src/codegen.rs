//! A back-to-front code emitter for forward-only classic BPF: code for the
//! continuation is emitted first, so every jump target is already placed and
//! its distance known. Conditional jumps reach 255 instructions; farther
//! targets go through a `ja` trampoline (32-bit offset).

use crate::Error;
use crate::insn::{Insn, Program, op::*};

/// Identifies an emitted instruction: its index counted from the end.
pub(crate) type Label = usize;

pub(crate) struct Emitter<const N: usize> {
    /// Instructions in reverse order.
    rev: heapless::Vec<Insn, N>,
}

impl<const N: usize> Emitter<N> {
    pub(crate) const fn new() -> Self {
        Self {
            rev: heapless::Vec::new(),
        }
    }

    fn dist(&self, to: Label) -> usize {
        self.rev.len() - to - 1
    }

    /// The instruction emitted last (the first one of the code so far).
    pub(crate) fn last(&self) -> Label {
        self.rev.len().saturating_sub(1)
    }

    pub(crate) fn emit(&mut self, i: Insn) -> Result<Label, Error> {
        self.rev
            .push(i)
            .map_err(|_| Error::ProgramLength { len: N + 1 })?;
        Ok(self.rev.len() - 1)
    }

    pub(crate) fn stmt(&mut self, code: u16, k: u32) -> Result<Label, Error> {
        self.emit(Insn::stmt(code, k))
    }

    pub(crate) fn ja(&mut self, to: Label) -> Result<Label, Error> {
        let d = self.dist(to) as u32;
        self.stmt(JMP | JA, d)
    }

    pub(crate) fn ret(&mut self, k: u32) -> Result<Label, Error> {
        self.stmt(RET | K, k)
    }

    /// `if A <cond> k goto t else goto f`.
    pub(crate) fn jump(&mut self, cond: u16, k: u32, t: Label, f: Label) -> Result<Label, Error> {
        let (mut t, mut f) = (t, f);
        if self.dist(t) > 255 || self.dist(f) > 255 {
            t = self.ja(t)?;
            f = self.ja(f)?;
        }
        let (dt, df) = (self.dist(t) as u8, self.dist(f) as u8);
        self.emit(Insn::jump(JMP | cond | K, k, dt, df))
    }

    /// Loads `size` at `off` and jumps on `A == k`.
    pub(crate) fn ld_jeq(
        &mut self,
        size: u16,
        off: u32,
        k: u32,
        t: Label,
        f: Label,
    ) -> Result<Label, Error> {
        self.jump(JEQ, k, t, f)?;
        self.stmt(LD | size | ABS, off)
    }

    /// The program, front to back.
    pub(crate) fn finish(self) -> Result<Program<N>, Error> {
        let mut p = Program::new();
        for &i in self.rev.iter().rev() {
            p.push(i)?;
        }
        Ok(p)
    }
}
