//! Line framing for the text protocols: bytes in, complete lines out (without the CR LF;
//! a bare LF also ends a line, as real clients sometimes send it), with a hard length limit.
//! An over-long line is reported once and its remainder is skipped up to the next LF, so a
//! hostile client cannot make the server buffer without bound.

/// One framed input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A complete line, terminator removed.
    Complete(Vec<u8>),
    /// A line longer than the limit (its bytes were dropped).
    TooLong,
}

/// Accumulates bytes and yields [`Line`]s.
#[derive(Debug, Clone)]
pub struct LineBuffer {
    buf: Vec<u8>,
    /// Start of the unread part of `buf`.
    pos: usize,
    max: usize,
    /// Inside an over-long line: drop bytes up to the next LF.
    skipping: bool,
}

impl LineBuffer {
    /// A buffer accepting lines of at most `max` bytes (terminator excluded).
    pub fn new(max: usize) -> LineBuffer {
        LineBuffer {
            buf: Vec::new(),
            pos: 0,
            max,
            skipping: false,
        }
    }

    /// Changes the limit (e.g. while a SASL exchange expects long base64 lines).
    pub fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    /// Appends received bytes.
    pub fn feed(&mut self, data: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes received but not yet returned as lines.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Drops everything buffered (after STARTTLS / STLS: plaintext sent before the TLS
    /// handshake must not be executed inside the TLS session).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.skipping = false;
    }

    /// The next complete line, if any.
    pub fn next_line(&mut self) -> Option<Line> {
        loop {
            let rest = &self.buf[self.pos..];
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let start = self.pos;
                    self.pos += i + 1;
                    if self.skipping {
                        self.skipping = false;
                        self.compact();
                        return Some(Line::TooLong);
                    }
                    let mut end = start + i;
                    if end > start && self.buf[end - 1] == b'\r' {
                        end -= 1;
                    }
                    if end - start > self.max {
                        self.compact();
                        return Some(Line::TooLong);
                    }
                    let line = self.buf[start..end].to_vec();
                    self.compact();
                    return Some(Line::Complete(line));
                }
                None => {
                    // Allow for the CR of a CR LF split across reads.
                    if rest.len() > self.max + 1 {
                        self.skipping = true;
                        self.buf.clear();
                        self.pos = 0;
                        continue;
                    }
                    if self.skipping {
                        self.buf.clear();
                        self.pos = 0;
                    }
                    return None;
                }
            }
        }
    }

    fn compact(&mut self) {
        if self.pos > 4096 && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(max: usize, chunks: &[&[u8]]) -> Vec<Line> {
        let mut b = LineBuffer::new(max);
        let mut out = vec![];
        for c in chunks {
            b.feed(c);
            while let Some(l) = b.next_line() {
                out.push(l);
            }
        }
        out
    }

    fn c(s: &str) -> Line {
        Line::Complete(s.as_bytes().to_vec())
    }

    #[test]
    fn framing() {
        assert_eq!(lines(10, &[b"AB\r\nCD\nE"]), vec![c("AB"), c("CD")]);
        assert_eq!(lines(10, &[b"A", b"B\r", b"\n"]), vec![c("AB")]);
        assert_eq!(lines(10, &[b"\r\n\n"]), vec![c(""), c("")]);
        assert_eq!(lines(3, &[b"ABC\r\n"]), vec![c("ABC")]);
        assert_eq!(lines(3, &[b"ABCD\r\nOK\r\n"]), vec![Line::TooLong, c("OK")]);
        assert_eq!(
            lines(3, &[b"ABCDEFGH", b"IJKLMNOP", b"QR\nOK\n"]),
            vec![Line::TooLong, c("OK")]
        );
        // An over-long line never completed: reported when it ends, nothing buffered.
        let mut b = LineBuffer::new(4);
        for _ in 0..1000 {
            b.feed(&[b'x'; 100]);
            assert_eq!(b.next_line(), None);
        }
        assert!(b.pending().len() <= 100);
        b.feed(b"\nNOOP\n");
        assert_eq!(b.next_line(), Some(Line::TooLong));
        assert_eq!(b.next_line(), Some(c("NOOP")));
    }

    #[test]
    fn clear_drops_pipelined_plaintext() {
        let mut b = LineBuffer::new(100);
        b.feed(b"STLS\r\nUSER evil\r\n");
        assert_eq!(b.next_line(), Some(c("STLS")));
        assert_eq!(b.pending(), b"USER evil\r\n");
        b.clear();
        assert_eq!(b.next_line(), None);
    }
}
