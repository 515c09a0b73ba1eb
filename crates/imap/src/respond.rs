//! Status responses and the tagged result of a command handler.
//!
//! Response lines are written directly (see [`crate::wire`] for strings and lists); the
//! integration tests parse every line the server sends with imap-codec's response decoder.

use std::borrow::Cow;

/// `OK`, `NO` or `BAD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ok,
    No,
    Bad,
}

impl Kind {
    fn word(self) -> &'static [u8] {
        match self {
            Kind::Ok => b"OK",
            Kind::No => b"NO",
            Kind::Bad => b"BAD",
        }
    }
}

/// What the connection does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Upgrade to TLS after sending the reply.
    StartTls,
    /// Close after sending the reply.
    Close,
}

/// The tagged completion of a command.
#[derive(Debug, Clone)]
pub struct Reply {
    pub kind: Kind,
    /// The response code without brackets, e.g. `APPENDUID 3 7`.
    pub code: Option<Cow<'static, str>>,
    pub text: Cow<'static, str>,
    pub flow: Flow,
}

impl Reply {
    pub fn ok(text: impl Into<Cow<'static, str>>) -> Reply {
        Reply {
            kind: Kind::Ok,
            code: None,
            text: text.into(),
            flow: Flow::Continue,
        }
    }

    pub fn no(text: impl Into<Cow<'static, str>>) -> Reply {
        Reply {
            kind: Kind::No,
            ..Reply::ok(text)
        }
    }

    pub fn bad(text: impl Into<Cow<'static, str>>) -> Reply {
        Reply {
            kind: Kind::Bad,
            ..Reply::ok(text)
        }
    }

    pub fn code(mut self, code: impl Into<Cow<'static, str>>) -> Reply {
        self.code = Some(code.into());
        self
    }

    pub fn flow(mut self, flow: Flow) -> Reply {
        self.flow = flow;
        self
    }
}

/// Writes `tag OK [code] text` (or `*` for untagged).
pub fn status(out: &mut Vec<u8>, tag: Option<&str>, kind: Kind, code: Option<&str>, text: &str) {
    out.extend_from_slice(tag.unwrap_or("*").as_bytes());
    out.push(b' ');
    out.extend_from_slice(kind.word());
    out.push(b' ');
    if let Some(code) = code {
        out.push(b'[');
        out.extend_from_slice(code.as_bytes());
        out.extend_from_slice(b"] ");
    }
    text_safe(out, text);
    out.extend_from_slice(b"\r\n");
}

/// Writes `* BYE text`.
pub fn bye(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"* BYE ");
    text_safe(out, text);
    out.extend_from_slice(b"\r\n");
}

/// Human-readable text: never empty, never a line break, never starting with `[`.
fn text_safe(out: &mut Vec<u8>, text: &str) {
    let start = out.len();
    out.extend(text.bytes().map(|b| {
        if b == b'\r' || b == b'\n' || b == 0 {
            b' '
        } else {
            b
        }
    }));
    if out.len() == start {
        out.extend_from_slice(b"Done");
    } else if out[start] == b'[' {
        out.insert(start, b' ');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let mut out = Vec::new();
        status(
            &mut out,
            Some("a1"),
            Kind::No,
            Some("TRYCREATE"),
            "No such mailbox",
        );
        assert_eq!(out, b"a1 NO [TRYCREATE] No such mailbox\r\n");
        out.clear();
        status(&mut out, None, Kind::Ok, None, "");
        assert_eq!(out, b"* OK Done\r\n");
        out.clear();
        bye(&mut out, "bye\r\nnow");
        assert_eq!(out, b"* BYE bye  now\r\n");
    }
}
