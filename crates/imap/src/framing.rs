//! Command framing: splits the client's byte stream into complete command messages (a
//! command line plus the literals it announces and the line parts that follow them),
//! enforcing the size limits before anything is buffered, and tells the connection loop
//! when a synchronizing literal needs a `+` continuation.
//!
//! Sans-IO and fuzzable: bytes go in with [`CommandReader::push`], events come out of
//! [`CommandReader::next_event`]. A finished message is decoded with [`decode_command`]
//! (imap-codec) while the caller still owns the bytes, so a large `APPEND` literal is never
//! copied.
//!
//! Limits (RFC 7888 §4 and RFC 3501 §7.5):
//! - a line longer than `max_line` is discarded up to its end (and so is a literal it
//!   announces at its end, so literal data can never be read as commands), then answered
//!   with `BAD`;
//! - a synchronizing literal larger than the limit is refused before any of it is sent
//!   (`NO [TOOBIG]` for `APPEND`, `BAD` otherwise);
//! - a non-synchronizing (`LITERAL+`) literal larger than the limit is read and thrown away
//!   without buffering, then answered with `BAD`;
//! - a whole message larger than `max_message` is discarded likewise;
//! - with [`CommandReader::set_abort_oversized`] (before authentication), a
//!   non-synchronizing literal beyond the limit, or any literal announced by an over-long
//!   line, ends the connection instead ([`Event::Overflow`]): nothing of it is read.

use imap_codec::CommandCodec;
use imap_codec::decode::{CommandDecodeError, Decoder};
use imap_codec::imap_types::command::Command;

/// Size limits of the framing layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Longest command line (without literal data), CR LF included.
    pub max_line: usize,
    /// Largest literal in any command but `APPEND`.
    pub max_literal: u32,
    /// Largest literal in an `APPEND` command (the message size limit).
    pub max_append_literal: u32,
    /// Largest command message (lines and literals) other than `APPEND`.
    pub max_message: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits {
            max_line: 64 * 1024,
            max_literal: 64 * 1024,
            max_append_literal: 50 * 1024 * 1024,
            max_message: 256 * 1024,
        }
    }
}

/// Why a command was thrown away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    /// A line exceeded [`FrameLimits::max_line`].
    LineTooLong,
    /// A non-synchronizing literal exceeded the limit.
    LiteralTooBig,
    /// The message as a whole exceeded the limit.
    MessageTooBig,
}

/// What the reader has to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete command message is ready: take it with [`CommandReader::take_message`].
    Command,
    /// The client announced a synchronizing literal within the limits and waits for a
    /// command continuation request (`+ ...`) before sending it.
    Continue,
    /// The client announced a synchronizing literal beyond the limit. Nothing of it will
    /// come; the command is over and must be refused.
    LiteralRefused {
        tag: Option<String>,
        length: u32,
        append: bool,
    },
    /// The command broke a limit and was discarded up to its end.
    Discarded { tag: Option<String>, why: Discard },
    /// In abort mode: the client sends a literal beyond the limit without waiting for a
    /// continuation. None of it was read; the connection must be closed.
    Overflow { tag: Option<String>, length: u32 },
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Reading a line; `scanned` bytes after `pos` are known to hold no LF.
    Line { scanned: usize },
    /// Reading literal data; `keep` is false when it is being thrown away.
    Literal { remaining: u64, keep: bool },
    /// Throwing away an over-long line; the last bytes are kept to spot a literal
    /// announcement at its end.
    DiscardLine,
}

/// Longest tail of a discarded line kept to recognise `{4294967295+}` CR LF.
const TAIL: usize = 16;

/// The framing state of one connection.
#[derive(Debug)]
pub struct CommandReader {
    limits: FrameLimits,
    /// Received bytes; `input[pos..]` is not consumed yet.
    input: Vec<u8>,
    pos: usize,
    /// The message being assembled (lines with CR LF, literal data).
    msg: Vec<u8>,
    state: State,
    /// Set once the current message broke a limit: it is parsed to its end but not kept.
    poisoned: Option<Discard>,
    /// Tag and command name of the current message (from its first line).
    tag: Option<String>,
    append: bool,
    first_line: bool,
    tail: Vec<u8>,
    /// A complete message waits in `msg`.
    ready: bool,
    /// Report oversized non-synchronizing literals as [`Event::Overflow`].
    abort_oversized: bool,
}

impl CommandReader {
    pub fn new(limits: FrameLimits) -> CommandReader {
        CommandReader {
            limits,
            input: Vec::new(),
            pos: 0,
            msg: Vec::new(),
            state: State::Line { scanned: 0 },
            poisoned: None,
            tag: None,
            append: false,
            first_line: true,
            tail: Vec::new(),
            ready: false,
            abort_oversized: false,
        }
    }

    pub fn limits(&self) -> FrameLimits {
        self.limits
    }

    /// Changes the limits for the next command (after authentication).
    pub fn set_limits(&mut self, limits: FrameLimits) {
        self.limits = limits;
    }

    /// Whether an oversized non-synchronizing literal ends the connection
    /// ([`Event::Overflow`]) rather than being read and thrown away.
    pub fn set_abort_oversized(&mut self, on: bool) {
        self.abort_oversized = on;
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.compact();
        self.input.extend_from_slice(bytes);
    }

    /// The buffer to read into directly: call [`CommandReader::compact`] first, read into
    /// the spare capacity (e.g. `read_buf`), and the bytes are queued.
    pub fn input_mut(&mut self) -> &mut Vec<u8> {
        self.compact();
        &mut self.input
    }

    /// Drops consumed input so the buffer does not grow without bound.
    pub fn compact(&mut self) {
        if self.pos == self.input.len() {
            self.input.clear();
            self.pos = 0;
        } else if self.pos > 0 {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
    }

    /// Bytes received but not consumed yet.
    pub fn buffered(&self) -> usize {
        self.input.len() - self.pos
    }

    /// True while a command is partly received (mid-line or mid-literal).
    pub fn in_command(&self) -> bool {
        !self.first_line || !matches!(self.state, State::Line { scanned: 0 })
    }

    /// Forgets every byte received and not yet consumed, and any partial command (after
    /// `STARTTLS`: plaintext sent before the handshake must never be executed, RFC 3207's
    /// command injection).
    pub fn discard_buffered(&mut self) {
        self.input = Vec::new();
        self.pos = 0;
        self.reset_message();
        self.msg = Vec::new();
    }

    /// Releases memory held after a large command (called when the connection goes idle).
    pub fn shrink(&mut self) {
        self.compact();
        const KEEP: usize = 4 * 1024;
        if self.input.capacity() > KEEP {
            self.input.shrink_to(KEEP.max(self.input.len()));
        }
        if !self.ready && self.msg.is_empty() && self.msg.capacity() > 0 {
            self.msg = Vec::new();
        }
    }

    /// Bytes held by this reader (for tests of memory behaviour).
    pub fn capacity(&self) -> usize {
        self.input.capacity() + self.msg.capacity() + self.tail.capacity()
    }

    /// The complete message after [`Event::Command`]. The reader starts the next one.
    pub fn take_message(&mut self) -> Vec<u8> {
        self.ready = false;
        let cap = self.msg.capacity();
        let msg = std::mem::take(&mut self.msg);
        if cap <= 1024 {
            self.msg = Vec::with_capacity(0);
        }
        msg
    }

    /// A raw line (SASL responses, `DONE` after `IDLE`), without its CR LF. `None` when
    /// no complete line is buffered yet; `Some(Err(()))` when the line is longer than
    /// `max` (it is consumed).
    pub fn next_line(&mut self, max: usize) -> Option<Result<Vec<u8>, ()>> {
        let rest = &self.input[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let mut line = &rest[..i];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                let out = if line.len() > max {
                    Err(())
                } else {
                    Ok(line.to_vec())
                };
                self.pos += i + 1;
                if let State::Line { .. } = self.state {
                    self.state = State::Line { scanned: 0 };
                }
                Some(out)
            }
            None if rest.len() > max + 2 => {
                // Swallow the over-long line up to its end on the next calls.
                self.pos = self.input.len();
                self.state = State::DiscardLine;
                self.tail.clear();
                self.first_line = false;
                self.poisoned = Some(Discard::LineTooLong);
                Some(Err(()))
            }
            None => None,
        }
    }

    /// Advances as far as the buffered bytes allow.
    pub fn next_event(&mut self) -> Option<Event> {
        if self.ready {
            return Some(Event::Command);
        }
        loop {
            match self.state {
                State::Literal { remaining, keep } => {
                    let avail = self.input.len() - self.pos;
                    if avail == 0 {
                        return None;
                    }
                    let n = usize::try_from(remaining).unwrap_or(usize::MAX).min(avail);
                    if keep {
                        self.msg
                            .extend_from_slice(&self.input[self.pos..self.pos + n]);
                    }
                    self.pos += n;
                    let remaining = remaining - n as u64;
                    self.state = if remaining == 0 {
                        State::Line { scanned: 0 }
                    } else {
                        State::Literal { remaining, keep }
                    };
                }
                State::DiscardLine => {
                    let rest = &self.input[self.pos..];
                    match rest.iter().position(|&b| b == b'\n') {
                        Some(i) => {
                            push_tail(&mut self.tail, &rest[..i]);
                            self.pos += i + 1;
                            let tail = std::mem::take(&mut self.tail);
                            match literal_announcement(&tail) {
                                Some((length, _)) if self.abort_oversized => {
                                    let tag = self.tag.take();
                                    self.reset_message();
                                    return Some(Event::Overflow { tag, length });
                                }
                                Some((length, _)) => {
                                    // Whatever the mode, a client that announced a
                                    // literal may send it; throw it away too.
                                    self.state = State::Literal {
                                        remaining: u64::from(length),
                                        keep: false,
                                    };
                                }
                                None => {
                                    self.state = State::Line { scanned: 0 };
                                    return Some(self.finish());
                                }
                            }
                        }
                        None => {
                            push_tail(&mut self.tail, rest);
                            self.pos = self.input.len();
                            return None;
                        }
                    }
                }
                State::Line { scanned } => {
                    let rest = &self.input[self.pos..];
                    let scanned = scanned.min(rest.len());
                    let Some(i) = rest[scanned..].iter().position(|&b| b == b'\n') else {
                        if rest.len() > self.limits.max_line {
                            if self.first_line && self.tag.is_none() {
                                self.tag = parse_tag(rest).map(str::to_owned);
                            }
                            self.poisoned.get_or_insert(Discard::LineTooLong);
                            self.tail.clear();
                            push_tail(&mut self.tail, rest);
                            self.pos = self.input.len();
                            self.first_line = false;
                            self.state = State::DiscardLine;
                            continue;
                        }
                        self.state = State::Line {
                            scanned: rest.len(),
                        };
                        return None;
                    };
                    let end = scanned + i; // index of LF in rest
                    let mut line = &rest[..end];
                    if line.last() == Some(&b'\r') {
                        line = &line[..line.len() - 1];
                    }
                    let consumed = end + 1;
                    if self.first_line && line.is_empty() {
                        // Blank lines between commands are ignored.
                        self.pos += consumed;
                        self.state = State::Line { scanned: 0 };
                        continue;
                    }
                    if line.len() + 2 > self.limits.max_line {
                        self.poisoned.get_or_insert(Discard::LineTooLong);
                    }
                    if self.first_line {
                        self.tag = parse_tag(line).map(str::to_owned);
                        self.append = is_append(line);
                        self.first_line = false;
                    }
                    let announced = literal_announcement(line);
                    if self.poisoned.is_none() {
                        self.msg.extend_from_slice(line);
                        self.msg.extend_from_slice(b"\r\n");
                    }
                    self.pos += consumed;
                    let Some((length, sync)) = announced else {
                        self.state = State::Line { scanned: 0 };
                        return Some(self.finish());
                    };
                    let limit = if self.append {
                        self.limits.max_append_literal
                    } else {
                        self.limits.max_literal
                    };
                    let max_message = if self.append {
                        self.limits.max_append_literal as usize + self.limits.max_message
                    } else {
                        self.limits.max_message
                    };
                    if self.poisoned.is_none() && length > limit {
                        if sync {
                            let event = Event::LiteralRefused {
                                tag: self.tag.take(),
                                length,
                                append: self.append,
                            };
                            self.reset_message();
                            return Some(event);
                        }
                        if self.abort_oversized {
                            let tag = self.tag.take();
                            self.reset_message();
                            return Some(Event::Overflow { tag, length });
                        }
                        self.poisoned = Some(Discard::LiteralTooBig);
                    }
                    if self.poisoned.is_none() && self.msg.len() + length as usize > max_message {
                        if sync {
                            let event = Event::LiteralRefused {
                                tag: self.tag.take(),
                                length,
                                append: self.append,
                            };
                            self.reset_message();
                            return Some(event);
                        }
                        if self.abort_oversized {
                            let tag = self.tag.take();
                            self.reset_message();
                            return Some(Event::Overflow { tag, length });
                        }
                        self.poisoned = Some(Discard::MessageTooBig);
                    }
                    let keep = self.poisoned.is_none();
                    if !keep && !sync && self.abort_oversized {
                        let tag = self.tag.take();
                        self.reset_message();
                        return Some(Event::Overflow { tag, length });
                    }
                    self.state = State::Literal {
                        remaining: u64::from(length),
                        keep,
                    };
                    if keep && sync {
                        return Some(Event::Continue);
                    }
                    if !keep && sync {
                        // A poisoned command (its line was too long) announcing a
                        // synchronizing literal: the client waits for `+`, which never
                        // comes; refuse now so it does not hang.
                        let tag = self.tag.take();
                        self.reset_message();
                        return Some(Event::Discarded {
                            tag,
                            why: Discard::LineTooLong,
                        });
                    }
                }
            }
        }
    }

    /// The end of the current message.
    fn finish(&mut self) -> Event {
        match self.poisoned {
            Some(why) => {
                let tag = self.tag.take();
                self.reset_message();
                Event::Discarded { tag, why }
            }
            None => {
                self.ready = true;
                self.first_line = true;
                self.tag = None;
                self.append = false;
                Event::Command
            }
        }
    }

    fn reset_message(&mut self) {
        self.msg.clear();
        if self.msg.capacity() > 64 * 1024 {
            self.msg = Vec::new();
        }
        self.poisoned = None;
        self.tag = None;
        self.append = false;
        self.first_line = true;
        self.tail = Vec::new();
        self.ready = false;
        self.state = State::Line { scanned: 0 };
    }
}

fn push_tail(tail: &mut Vec<u8>, bytes: &[u8]) {
    let bytes = &bytes[bytes.len().saturating_sub(TAIL)..];
    tail.extend_from_slice(bytes);
    if tail.len() > TAIL {
        let cut = tail.len() - TAIL;
        tail.drain(..cut);
    }
}

/// `{n}` or `{n+}` at the end of a line (without CR LF).
fn literal_announcement(line: &[u8]) -> Option<(u32, bool)> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let mut digits = &inner[open + 1..];
    let sync = match digits.strip_suffix(b"+") {
        Some(d) => {
            digits = d;
            false
        }
        None => true,
    };
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((u32::try_from(n).ok()?, sync))
}

/// The tag at the start of a command line, if it is a valid one (RFC 3501 `tag`).
pub fn parse_tag(line: &[u8]) -> Option<&str> {
    let end = line
        .iter()
        .position(|&b| b == b' ' || b == b'\r' || b == b'\n')
        .unwrap_or(line.len());
    let tag = &line[..end];
    if tag.is_empty() || tag.len() > 64 || !tag.iter().all(|&b| is_tag_char(b)) {
        return None;
    }
    std::str::from_utf8(tag).ok()
}

fn is_tag_char(b: u8) -> bool {
    // ASTRING-CHAR except "+": ATOM-CHAR plus "]".
    b.is_ascii_graphic() && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b'+')
}

/// Whether the line's command is `APPEND` (second word, any case).
fn is_append(line: &[u8]) -> bool {
    let mut words = line.split(|&b| b == b' ');
    let _tag = words.next();
    words
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case(b"APPEND"))
}

/// Why a complete message did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeFailure {
    /// The tag, when the line starts with a valid one.
    pub tag: Option<String>,
    /// The command word, upper-cased, when one could be read.
    pub command: Option<String>,
}

/// Decodes a complete message from [`CommandReader::take_message`].
pub fn decode_command(msg: &[u8]) -> Result<Command<'_>, DecodeFailure> {
    match CommandCodec::default().decode(msg) {
        Ok((b"", cmd)) => Ok(cmd),
        // Trailing bytes, a literal the framing did not see, or a syntax error.
        Ok(_)
        | Err(
            CommandDecodeError::Failed
            | CommandDecodeError::Incomplete
            | CommandDecodeError::LiteralFound { .. },
        ) => Err(failure(msg)),
    }
}

fn failure(msg: &[u8]) -> DecodeFailure {
    let tag = parse_tag(msg).map(str::to_owned);
    let command = tag.as_ref().and_then(|t| {
        let rest = msg.get(t.len() + 1..)?;
        let end = rest
            .iter()
            .position(|&b| !b.is_ascii_alphanumeric() && b != b'-' && b != b'.')
            .unwrap_or(rest.len());
        (end > 0).then(|| String::from_utf8_lossy(&rest[..end]).to_ascii_uppercase())
    });
    DecodeFailure { tag, command }
}

#[cfg(test)]
mod tests;
