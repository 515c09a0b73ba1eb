//! Multi-line responses (RFC 1939 §3): every line ends in CR LF, a line that starts with
//! `.` gets another `.` in front (byte-stuffing), and the response ends with `.` CR LF.
//! Also `TOP`'s cut: the header, the blank line, and the first `n` body lines.

/// `body` as a multi-line response body, terminator included. Bare LF line ends become
/// CR LF; a missing final line end is added.
pub fn dot_stuff(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 8);
    for line in lines(body) {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Undoes [`dot_stuff`] (for tests and clients): the lines before the terminating `.`,
/// with the leading `.` of stuffed lines removed, joined with CR LF. `None` if there is
/// no terminating line.
pub fn dot_unstuff(stuffed: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(stuffed.len());
    for line in lines(stuffed) {
        if line == b"." {
            return Some(out);
        }
        let line = line.strip_prefix(b".").unwrap_or(line);
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    None
}

/// The header section, the empty line that ends it, and the first `n` lines of the body
/// (RFC 1939 §7 `TOP`). A message without a blank line is all header.
pub fn top(message: &[u8], n: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut in_body = false;
    let mut body_lines = 0u32;
    let mut rest = message;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..=i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        if in_body {
            if body_lines >= n {
                break;
            }
            body_lines += 1;
        } else if line == b"\r\n" || line == b"\n" {
            in_body = true;
        }
        out.extend_from_slice(line);
        rest = next;
    }
    out
}

/// Lines of `data` without their CR LF / LF terminators; a final unterminated line is
/// included, an empty tail is not.
fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffing() {
        assert_eq!(dot_stuff(b""), b".\r\n");
        assert_eq!(
            dot_stuff(b"a\r\n.b\r\n..\r\n.\r\nc"),
            b"a\r\n..b\r\n...\r\n..\r\nc\r\n.\r\n"
        );
        assert_eq!(dot_stuff(b"a\nb\n"), b"a\r\nb\r\n.\r\n");
        assert_eq!(
            dot_unstuff(&dot_stuff(b"a\r\n.b\r\n.\r\n")).unwrap(),
            b"a\r\n.b\r\n.\r\n"
        );
        assert_eq!(dot_unstuff(b"a\r\n"), None);
    }

    #[test]
    fn top_cuts_after_n_body_lines() {
        let m = b"Subject: x\r\nFrom: y\r\n\r\nline1\r\nline2\r\nline3\r\n";
        assert_eq!(top(m, 0), b"Subject: x\r\nFrom: y\r\n\r\n");
        assert_eq!(
            top(m, 2),
            b"Subject: x\r\nFrom: y\r\n\r\nline1\r\nline2\r\n"
        );
        assert_eq!(top(m, 9), m);
        assert_eq!(top(b"Subject: only\r\n", 3), b"Subject: only\r\n");
    }
}
