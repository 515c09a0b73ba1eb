//! SMTP commands (RFC 5321 §4.1, RFC 3207 STARTTLS, RFC 4954 AUTH, RFC 1870 SIZE,
//! RFC 6152 8BITMIME) parsed from one line. Verbs are case-insensitive. Paths are
//! `<local@domain>` (a source route is accepted and ignored, RFC 5321 §4.1.2); the null
//! reverse-path `<>` is recognised so the caller can refuse it.

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    StartTls,
    Auth {
        mechanism: String,
        initial_response: Option<Vec<u8>>,
    },
    Mail {
        /// `None` for the null reverse-path `<>`.
        from: Option<String>,
        params: MailParams,
    },
    Rcpt {
        to: String,
    },
    Data,
    Bdat,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
}

/// `MAIL FROM` parameters mailward understands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    /// RFC 1870 `SIZE=`.
    pub size: Option<u64>,
    /// RFC 6152 `BODY=8BITMIME` (or `7BIT`).
    pub body_8bit: bool,
}

/// Why a line is not a command (each maps to one reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// `500 5.5.2`: unknown verb or not text.
    Unknown,
    /// `501 5.5.4` / `501 5.1.7`: bad arguments; the text says which.
    Syntax(&'static str),
    /// `555 5.5.4`: a `MAIL`/`RCPT` parameter we do not know.
    UnknownParameter,
}

const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 255;

/// Parses one command line (terminator removed).
pub fn parse_command(line: &[u8]) -> Result<Command, ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::Unknown)?;
    if line.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return Err(ParseError::Syntax("Control characters are not allowed"));
    }
    let (verb, rest) = match line.find(' ') {
        Some(i) => (&line[..i], line[i + 1..].trim_start()),
        None => (line, ""),
    };
    let verb = verb.to_ascii_uppercase();
    let no_args = |c: Command| {
        if rest.trim().is_empty() {
            Ok(c)
        } else {
            Err(ParseError::Syntax("This command takes no arguments"))
        }
    };
    match verb.as_str() {
        "EHLO" | "HELO" => {
            let domain = rest.trim();
            if domain.is_empty() || domain.len() > MAX_DOMAIN || domain.contains(' ') {
                return Err(ParseError::Syntax("Expected a domain or address literal"));
            }
            Ok(if verb == "EHLO" {
                Command::Ehlo(domain.to_string())
            } else {
                Command::Helo(domain.to_string())
            })
        }
        "STARTTLS" => no_args(Command::StartTls),
        "AUTH" => {
            let args: Vec<&str> = rest.split(' ').filter(|a| !a.is_empty()).collect();
            match args.as_slice() {
                [mech] => Ok(Command::Auth {
                    mechanism: (*mech).to_string(),
                    initial_response: None,
                }),
                [mech, ir] => Ok(Command::Auth {
                    mechanism: (*mech).to_string(),
                    initial_response: Some(ir.as_bytes().to_vec()),
                }),
                _ => Err(ParseError::Syntax(
                    "Expected a mechanism and an optional initial response",
                )),
            }
        }
        "MAIL" => {
            let rest = strip_keyword(rest, "FROM:")
                .ok_or(ParseError::Syntax("Expected MAIL FROM:<address>"))?;
            let (path, params) = split_path(rest)?;
            let from = if path.is_empty() {
                None
            } else {
                Some(mailbox(path)?)
            };
            Ok(Command::Mail {
                from,
                params: mail_params(params)?,
            })
        }
        "RCPT" => {
            let rest = strip_keyword(rest, "TO:")
                .ok_or(ParseError::Syntax("Expected RCPT TO:<address>"))?;
            let (path, params) = split_path(rest)?;
            if !params.trim().is_empty() {
                return Err(ParseError::UnknownParameter);
            }
            if path.is_empty() {
                return Err(ParseError::Syntax("Expected a recipient address"));
            }
            Ok(Command::Rcpt { to: mailbox(path)? })
        }
        "DATA" => no_args(Command::Data),
        "BDAT" => Ok(Command::Bdat),
        "RSET" => no_args(Command::Rset),
        // RFC 5321 §4.1.1.9: NOOP may have a string argument.
        "NOOP" => Ok(Command::Noop),
        "QUIT" => no_args(Command::Quit),
        "VRFY" => Ok(Command::Vrfy),
        "EXPN" => Ok(Command::Expn),
        "HELP" => Ok(Command::Help),
        _ => Err(ParseError::Unknown),
    }
}

/// `FROM:` / `TO:` case-insensitively, with optional spaces after the colon (common
/// client behaviour, tolerated).
fn strip_keyword<'a>(s: &'a str, keyword: &str) -> Option<&'a str> {
    let head = s.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword)
        .then(|| s[keyword.len()..].trim_start())
}

/// `<path>` and the parameters after it.
fn split_path(s: &str) -> Result<(&str, &str), ParseError> {
    let s = s
        .strip_prefix('<')
        .ok_or(ParseError::Syntax("Expected <address>"))?;
    let end = s
        .find('>')
        .ok_or(ParseError::Syntax("Expected <address>"))?;
    let (path, rest) = (&s[..end], &s[end + 1..]);
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return Err(ParseError::Syntax("Expected a space after the address"));
    }
    // A source route (`@a,@b:user@c`) is accepted and ignored (RFC 5321 §4.1.2, §C).
    let path = match (path.starts_with('@'), path.find(':')) {
        (true, Some(i)) => &path[i + 1..],
        _ => path,
    };
    Ok((path, rest))
}

/// Validates `local@domain` (ASCII; SMTPUTF8 is not offered) and returns it unchanged.
fn mailbox(path: &str) -> Result<String, ParseError> {
    let bad = ParseError::Syntax("Invalid address");
    let at = path.rfind('@').ok_or(bad.clone())?;
    let (local, domain) = (&path[..at], &path[at + 1..]);
    if local.is_empty()
        || local.len() > MAX_LOCAL
        || domain.is_empty()
        || domain.len() > MAX_DOMAIN
        || !path.is_ascii()
        || domain.contains(' ')
    {
        return Err(bad);
    }
    let quoted = local.starts_with('"') && local.ends_with('"') && local.len() >= 2;
    if !quoted && (local.contains('@') || local.contains('"') || local.contains(' ')) {
        return Err(bad);
    }
    let domain_ok = if domain.starts_with('[') {
        domain.ends_with(']')
    } else {
        domain
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    if !domain_ok {
        return Err(bad);
    }
    Ok(path.to_string())
}

fn mail_params(s: &str) -> Result<MailParams, ParseError> {
    let mut params = MailParams::default();
    for p in s.split(' ').filter(|p| !p.is_empty()) {
        let (key, value) = match p.find('=') {
            Some(i) => (&p[..i], Some(&p[i + 1..])),
            None => (p, None),
        };
        match (key.to_ascii_uppercase().as_str(), value) {
            ("SIZE", Some(v)) => {
                if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ParseError::Syntax("Invalid SIZE value"));
                }
                params.size = Some(
                    v.parse()
                        .map_err(|_| ParseError::Syntax("Invalid SIZE value"))?,
                );
            }
            ("BODY", Some(v)) if v.eq_ignore_ascii_case("8BITMIME") => params.body_8bit = true,
            ("BODY", Some(v)) if v.eq_ignore_ascii_case("7BIT") => params.body_8bit = false,
            // RFC 4954 §5: the submitter's authorization identity; we use the session's.
            ("AUTH", Some(_)) => {}
            _ => return Err(ParseError::UnknownParameter),
        }
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        parse_command(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e:?}"))
    }

    #[test]
    fn commands() {
        assert_eq!(
            ok("EHLO client.example"),
            Command::Ehlo("client.example".into())
        );
        assert_eq!(ok("helo [127.0.0.1]"), Command::Helo("[127.0.0.1]".into()));
        assert_eq!(
            ok("MAIL FROM:<a@b.example> SIZE=100 BODY=8BITMIME AUTH=<>"),
            Command::Mail {
                from: Some("a@b.example".into()),
                params: MailParams {
                    size: Some(100),
                    body_8bit: true
                }
            }
        );
        assert_eq!(
            ok("mail from: <>"),
            Command::Mail {
                from: None,
                params: MailParams::default()
            }
        );
        assert_eq!(
            ok("RCPT TO:<@relay.example:c@d.example>"),
            Command::Rcpt {
                to: "c@d.example".into()
            }
        );
        assert_eq!(
            ok("RCPT TO:<\"odd user\"@d.example>"),
            Command::Rcpt {
                to: "\"odd user\"@d.example".into()
            }
        );
        assert_eq!(
            ok("AUTH PLAIN ="),
            Command::Auth {
                mechanism: "PLAIN".into(),
                initial_response: Some(b"=".to_vec())
            }
        );
        assert_eq!(ok("NOOP anything"), Command::Noop);
        assert_eq!(ok("data"), Command::Data);
    }

    #[test]
    fn errors() {
        let e = |l: &str| parse_command(l.as_bytes()).unwrap_err();
        assert_eq!(e("FOO"), ParseError::Unknown);
        assert_eq!(e(""), ParseError::Unknown);
        assert!(matches!(e("EHLO"), ParseError::Syntax(_)));
        assert!(matches!(e("MAIL FROM:a@b"), ParseError::Syntax(_)));
        assert!(matches!(e("MAIL FROM:<a@b"), ParseError::Syntax(_)));
        assert!(matches!(e("MAIL FROM:<ab>"), ParseError::Syntax(_)));
        assert!(matches!(e("MAIL FROM:<@b>"), ParseError::Syntax(_)));
        assert!(matches!(e("MAIL FROM:<a@b..c>"), ParseError::Syntax(_)));
        assert!(matches!(e("MAIL FROM:<a@b> SIZE=x"), ParseError::Syntax(_)));
        assert!(matches!(
            e("MAIL FROM:<a@b> SIZE=99999999999999999999"),
            ParseError::Syntax(_)
        ));
        assert_eq!(e("MAIL FROM:<a@b> FOO=1"), ParseError::UnknownParameter);
        assert_eq!(
            e("RCPT TO:<a@b> NOTIFY=NEVER"),
            ParseError::UnknownParameter
        );
        assert!(matches!(e("RCPT TO:<>"), ParseError::Syntax(_)));
        assert!(matches!(e("DATA now"), ParseError::Syntax(_)));
        assert!(matches!(e("AUTH"), ParseError::Syntax(_)));
        assert!(matches!(e("MAIL FROM:<a\u{0}@b>"), ParseError::Syntax(_)));
        assert!(matches!(
            e(&format!("RCPT TO:<{}@b>", "x".repeat(65))),
            ParseError::Syntax(_)
        ));
        assert_eq!(parse_command(b"\xff\xfe"), Err(ParseError::Unknown));
    }
}
