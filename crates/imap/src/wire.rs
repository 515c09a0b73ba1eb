//! Low-level response writing for the hot paths (FETCH data, cached ENVELOPE and
//! BODYSTRUCTURE): IMAP strings, numbers and flag lists written straight into the
//! connection's output buffer. Everything else is encoded by imap-codec (see
//! [`crate::respond`]); tests decode this module's output with imap-codec's response
//! parser to keep both in agreement.

use mailward_mailstore::Flags;

/// Appends `n` in decimal.
pub fn number(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Whether `bytes` can be sent as a quoted string (RFC 3501 `quoted`: 7-bit text without
/// CR, LF or NUL; `"` and `\` are escaped).
fn quotable(bytes: &[u8]) -> bool {
    bytes.len() <= 1024
        && bytes
            .iter()
            .all(|&b| b != 0 && b != b'\r' && b != b'\n' && b < 0x80)
}

/// Appends an IMAP `string`: quoted when possible, else a literal. NUL bytes (never valid
/// in a literal) are replaced by spaces.
pub fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    if quotable(bytes) {
        out.push(b'"');
        for &b in bytes {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(out, bytes);
    }
}

/// Appends an IMAP literal `{n}` CR LF data.
pub fn literal(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'{');
    number(out, bytes.len() as u64);
    out.extend_from_slice(b"}\r\n");
    if bytes.contains(&0) {
        out.extend(bytes.iter().map(|&b| if b == 0 { b' ' } else { b }));
    } else {
        out.extend_from_slice(bytes);
    }
}

/// Appends an `nstring`: `NIL` for `None`.
pub fn nstring(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => string(out, b),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// Appends a parenthesised flag list; `recent` adds `\Recent`.
pub fn flag_list(out: &mut Vec<u8>, flags: &Flags, recent: bool) {
    out.push(b'(');
    let start = out.len();
    let put = |out: &mut Vec<u8>, f: &[u8]| {
        if out.len() > start {
            out.push(b' ');
        }
        out.extend_from_slice(f);
    };
    if flags.seen {
        put(out, b"\\Seen");
    }
    if flags.answered {
        put(out, b"\\Answered");
    }
    if flags.flagged {
        put(out, b"\\Flagged");
    }
    if flags.deleted {
        put(out, b"\\Deleted");
    }
    if flags.draft {
        put(out, b"\\Draft");
    }
    if recent {
        put(out, b"\\Recent");
    }
    for k in &flags.keywords {
        // Keywords are stored only after validation as atoms (see `flags::from_imap`).
        put(out, k.as_bytes());
    }
    out.push(b')');
}

/// An IMAP `date-time` (`"02-Jan-2006 15:04:05 +0000"`) for INTERNALDATE.
pub fn date_time(out: &mut Vec<u8>, t: time::OffsetDateTime) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let off = t.offset().whole_minutes();
    let sign = if off < 0 { '-' } else { '+' };
    let off = off.unsigned_abs();
    let s = format!(
        "\"{:02}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}\"",
        t.day(),
        MONTHS[usize::from(u8::from(t.month())) - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second(),
        sign,
        off / 60,
        off % 60
    );
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let mut out = Vec::new();
        for n in [0u64, 7, 10, 4_294_967_295, u64::MAX] {
            out.clear();
            number(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn strings_quote_or_literal() {
        let mut out = Vec::new();
        string(&mut out, b"a \"b\" \\c");
        assert_eq!(out, b"\"a \\\"b\\\" \\\\c\"");
        out.clear();
        string(&mut out, "Grüße".as_bytes());
        assert_eq!(out, "{7}\r\nGrüße".as_bytes());
        out.clear();
        string(&mut out, b"a\r\nb");
        assert_eq!(out, b"{4}\r\na\r\nb");
        out.clear();
        nstring(&mut out, None);
        assert_eq!(out, b"NIL");
    }

    #[test]
    fn flags() {
        let mut out = Vec::new();
        let f = Flags {
            seen: true,
            deleted: true,
            keywords: vec!["$Forwarded".into()],
            ..Flags::default()
        };
        flag_list(&mut out, &f, true);
        assert_eq!(out, b"(\\Seen \\Deleted \\Recent $Forwarded)");
        out.clear();
        flag_list(&mut out, &Flags::default(), false);
        assert_eq!(out, b"()");
    }

    #[test]
    fn internal_date() {
        let mut out = Vec::new();
        let t = time::macros::datetime!(2024-03-05 07:08:09 -02:30);
        date_time(&mut out, t);
        assert_eq!(out, b"\"05-Mar-2024 07:08:09 -0230\"");
    }
}
