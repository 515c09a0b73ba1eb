//! Modified UTF-7 mailbox names (RFC 3501 §5.1.3): how IMAP4rev1 clients spell non-ASCII
//! folder names on the wire. The store keeps names in UTF-8.

use base64::Engine as _;
use base64::alphabet::Alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

fn engine() -> GeneralPurpose {
    // RFC 3501: base64 with "," instead of "/", no padding.
    let alphabet =
        Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")
            .expect("the modified base64 alphabet is valid");
    GeneralPurpose::new(
        &alphabet,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(false),
    )
}

/// UTF-8 to modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |out: &mut String, pending: &mut Vec<u16>| {
        if !pending.is_empty() {
            let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
            out.push('&');
            out.push_str(&engine().encode(bytes));
            out.push('-');
            pending.clear();
        }
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut out, &mut pending);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut out, &mut pending);
    out
}

/// Modified UTF-7 to UTF-8. Names that are not valid modified UTF-7 but are valid UTF-8
/// without `&` (clients that send raw UTF-8) are taken as they are.
pub fn decode(wire: &[u8]) -> Option<String> {
    if !wire.contains(&b'&') {
        return String::from_utf8(wire.to_vec()).ok();
    }
    if !wire.is_ascii() {
        return None;
    }
    let mut out = String::with_capacity(wire.len());
    let mut i = 0;
    while i < wire.len() {
        let b = wire[i];
        if b != b'&' {
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let end = i + 1 + wire[i + 1..].iter().position(|&c| c == b'-')?;
        let chunk = &wire[i + 1..end];
        if chunk.is_empty() {
            out.push('&');
        } else {
            let bytes = engine().decode(chunk).ok()?;
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            let s = String::from_utf16(&units).ok()?;
            // Printable ASCII must not be encoded (RFC 3501 §5.1.3).
            if s.chars().any(|c| (' '..='~').contains(&c)) {
                return None;
            }
            out.push_str(&s);
        }
        i = end + 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for (utf8, wire) in [
            ("INBOX", "INBOX"),
            ("Entwürfe", "Entw&APw-rfe"),
            ("R&D", "R&-D"),
            ("日本語", "&ZeVnLIqe-"),
            ("Sent/Über 😀", "Sent/&ANw-ber &2D3eAA-"),
        ] {
            assert_eq!(encode(utf8), wire);
            assert_eq!(decode(wire.as_bytes()).as_deref(), Some(utf8));
        }
    }

    #[test]
    fn rejects_bad_encodings() {
        assert_eq!(decode(b"&Jjo"), None);
        assert_eq!(decode(b"&AGE-"), None); // encodes "a"
        assert_eq!(decode(b"&ZeVnLIq-"), None);
        assert_eq!(decode("Über&-".as_bytes()), None);
        assert_eq!(decode("Über".as_bytes()).as_deref(), Some("Über"));
    }
}
