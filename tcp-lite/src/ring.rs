//! A byte ring over caller-supplied storage, with writes beyond the filled part (for
//! out-of-order segments) and reads at an offset (for retransmission).

/// A ring buffer of bytes in a borrowed slice.
#[derive(Debug, Default)]
pub struct Ring<'a> {
    buf: &'a mut [u8],
    head: u32,
    len: u32,
}

impl<'a> Ring<'a> {
    /// A ring over `buf` (at most 2³¹ bytes are used).
    pub fn new(buf: &'a mut [u8]) -> Self {
        let cap = buf.len().min(1 << 31);
        let buf = &mut buf[..cap];
        Ring {
            buf,
            head: 0,
            len: 0,
        }
    }
    /// Capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }
    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len as usize
    }
    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Free bytes.
    pub fn window(&self) -> usize {
        self.capacity() - self.len()
    }
    /// Drops all content.
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
    fn idx(&self, off: usize) -> usize {
        let c = self.capacity();
        let i = self.head as usize + off;
        if i >= c { i - c } else { i }
    }
    /// Contiguous free space after the held bytes.
    pub fn free_contig(&mut self) -> &mut [u8] {
        if self.capacity() == 0 {
            return &mut [];
        }
        let start = self.idx(self.len());
        let end = if start >= self.head as usize && !(start == self.head as usize && self.len > 0) {
            self.capacity()
        } else {
            self.head as usize
        };
        let n = (end - start).min(self.window());
        &mut self.buf[start..start + n]
    }
    /// Marks `n` bytes after the held ones as held (after writing them via `free_contig` or
    /// `write_at`).
    pub fn commit(&mut self, n: usize) {
        let n = n.min(self.window());
        self.len += n as u32;
    }
    /// Copies from `data` into free space; returns how many bytes were taken.
    pub fn enqueue(&mut self, data: &[u8]) -> usize {
        let n = self.write_at(0, data);
        self.commit(n);
        n
    }
    /// Writes `data` into free space at `off` bytes past the held ones without holding it;
    /// returns how many bytes fit.
    pub fn write_at(&mut self, off: usize, data: &[u8]) -> usize {
        let win = self.window();
        if off >= win {
            return 0;
        }
        let n = data.len().min(win - off);
        let mut done = 0;
        while done < n {
            let i = self.idx(self.len() + off + done);
            let k = (n - done).min(self.capacity() - i);
            self.buf[i..i + k].copy_from_slice(&data[done..done + k]);
            done += k;
        }
        n
    }
    /// Contiguous held bytes at the front.
    pub fn data_contig(&self) -> &[u8] {
        let h = self.head as usize;
        let n = self.len().min(self.capacity() - h);
        &self.buf[h..h + n]
    }
    /// Copies held bytes starting `off` bytes from the front into `out`; returns the count.
    pub fn read_at(&self, off: usize, out: &mut [u8]) -> usize {
        if off >= self.len() {
            return 0;
        }
        let n = out.len().min(self.len() - off);
        let mut done = 0;
        while done < n {
            let i = self.idx(off + done);
            let k = (n - done).min(self.capacity() - i);
            out[done..done + k].copy_from_slice(&self.buf[i..i + k]);
            done += k;
        }
        n
    }
    /// Drops `n` bytes from the front.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len());
        self.head = self.idx(n) as u32;
        // The head is not rewound when the ring empties: bytes written ahead with
        // `write_at` must stay where they are.
        self.len -= n as u32;
    }
    /// Copies up to `out.len()` bytes from the front and drops them.
    pub fn dequeue(&mut self, out: &mut [u8]) -> usize {
        let n = self.read_at(0, out);
        self.consume(n);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_writes_ahead() {
        let mut s = [0u8; 8];
        let mut r = Ring::new(&mut s);
        assert_eq!(r.enqueue(b"abcdef"), 6);
        let mut o = [0u8; 4];
        assert_eq!(r.dequeue(&mut o), 4);
        assert_eq!(&o, b"abcd");
        // Out-of-order write of "ij" two bytes past the end, then fill "gh".
        assert_eq!(r.write_at(2, b"ij"), 2);
        assert_eq!(r.write_at(0, b"gh"), 2);
        r.commit(4);
        assert_eq!(r.len(), 6);
        let mut o = [0u8; 8];
        assert_eq!(r.read_at(0, &mut o), 6);
        assert_eq!(&o[..6], b"efghij");
        assert_eq!(r.write_at(2, b"xyz"), 0);
        assert_eq!(r.enqueue(b"xyz"), 2);
        assert_eq!(r.free_contig().len(), 0);
    }

    #[test]
    fn free_contig_after_wrap() {
        let mut s = [0u8; 8];
        let mut r = Ring::new(&mut s);
        r.enqueue(b"12345");
        r.consume(5);
        // Free space runs from index 5 to the end, then wraps.
        assert_eq!(r.free_contig().len(), 3);
        r.enqueue(b"123456");
        r.consume(4);
        // Held: indices 1..3 (wrapped); free: 3..8 contiguous.
        assert_eq!(r.free_contig().len(), 5);
        r.commit(5);
        assert_eq!(r.free_contig().len(), 1);
    }
}
