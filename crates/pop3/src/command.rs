//! POP3 commands (RFC 1939 §3–§7, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH) parsed from
//! one line. Keywords are case-insensitive; arguments are separated by single spaces
//! (runs of spaces are tolerated). Message numbers are `1*DIGIT` without sign and fit in
//! a `u32`; `0` is never a valid message number.

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Capa,
    Stls,
    User(String),
    /// The rest of the line after `PASS ` (passwords may contain spaces, RFC 1939 §7).
    Pass(String),
    /// `AUTH` without arguments lists the mechanisms; otherwise the mechanism name and the
    /// optional initial response (RFC 5034 §4).
    Auth {
        mechanism: Option<String>,
        initial_response: Option<Vec<u8>>,
    },
    Apop,
    Stat,
    List(Option<u32>),
    Uidl(Option<u32>),
    Retr(u32),
    Top(u32, u32),
    Dele(u32),
    Rset,
    Noop,
    Quit,
}

/// Why a line is not a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not a known keyword.
    Unknown,
    /// Known keyword, wrong arguments; the text says what was expected.
    Syntax(&'static str),
}

impl ParseError {
    /// The text after `-ERR `.
    pub fn message(&self) -> &'static str {
        match self {
            ParseError::Unknown => "Unknown command",
            ParseError::Syntax(s) => s,
        }
    }
}

fn number(arg: &str) -> Option<u32> {
    if arg.is_empty() || arg.len() > 10 || !arg.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    arg.parse::<u32>().ok()
}

/// Parses one command line (terminator already removed).
pub fn parse_command(line: &[u8]) -> Result<Command, ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::Syntax("Command is not UTF-8"))?;
    let (keyword, rest) = match line.find(' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, ""),
    };
    if keyword.is_empty() || keyword.len() > 4 {
        return Err(ParseError::Unknown);
    }
    let args: Vec<&str> = rest.split(' ').filter(|a| !a.is_empty()).collect();
    let keyword = keyword.to_ascii_uppercase();
    let no_args = |cmd: Command| {
        if args.is_empty() {
            Ok(cmd)
        } else {
            Err(ParseError::Syntax("This command takes no arguments"))
        }
    };
    let one_msg = |f: fn(u32) -> Command| match args.as_slice() {
        [n] => number(n)
            .map(f)
            .ok_or(ParseError::Syntax("Invalid message number")),
        _ => Err(ParseError::Syntax("Expected one message number")),
    };
    let opt_msg = |f: fn(Option<u32>) -> Command| match args.as_slice() {
        [] => Ok(f(None)),
        [n] => number(n)
            .map(|n| f(Some(n)))
            .ok_or(ParseError::Syntax("Invalid message number")),
        _ => Err(ParseError::Syntax("Expected at most one message number")),
    };
    match keyword.as_str() {
        "CAPA" => no_args(Command::Capa),
        "STLS" => no_args(Command::Stls),
        "STAT" => no_args(Command::Stat),
        "RSET" => no_args(Command::Rset),
        "NOOP" => no_args(Command::Noop),
        "QUIT" => no_args(Command::Quit),
        "APOP" => Ok(Command::Apop),
        "USER" => match args.as_slice() {
            [name] if name.len() <= 255 => Ok(Command::User((*name).to_string())),
            _ => Err(ParseError::Syntax("Expected a user name")),
        },
        "PASS" => {
            if rest.is_empty() {
                Err(ParseError::Syntax("Expected a password"))
            } else {
                Ok(Command::Pass(rest.to_string()))
            }
        }
        "AUTH" => match args.as_slice() {
            [] => Ok(Command::Auth {
                mechanism: None,
                initial_response: None,
            }),
            [mech] => Ok(Command::Auth {
                mechanism: Some((*mech).to_string()),
                initial_response: None,
            }),
            [mech, ir] => Ok(Command::Auth {
                mechanism: Some((*mech).to_string()),
                initial_response: Some(ir.as_bytes().to_vec()),
            }),
            _ => Err(ParseError::Syntax(
                "Expected a mechanism and an optional initial response",
            )),
        },
        "LIST" => opt_msg(Command::List),
        "UIDL" => opt_msg(Command::Uidl),
        "RETR" => one_msg(Command::Retr),
        "DELE" => one_msg(Command::Dele),
        "TOP" => match args.as_slice() {
            [n, lines] => match (number(n), number(lines)) {
                (Some(n), Some(lines)) => Ok(Command::Top(n, lines)),
                _ => Err(ParseError::Syntax("Invalid message number or line count")),
            },
            _ => Err(ParseError::Syntax(
                "Expected a message number and a line count",
            )),
        },
        _ => Err(ParseError::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str, cmd: Command) {
        assert_eq!(parse_command(line.as_bytes()), Ok(cmd), "{line}");
    }

    fn syntax(line: &str) {
        assert!(
            matches!(parse_command(line.as_bytes()), Err(ParseError::Syntax(_))),
            "{line}: {:?}",
            parse_command(line.as_bytes())
        );
    }

    #[test]
    fn commands() {
        ok("CAPA", Command::Capa);
        ok("capa", Command::Capa);
        ok("StLs", Command::Stls);
        ok(
            "USER alice@contoso.test",
            Command::User("alice@contoso.test".into()),
        );
        ok("PASS two words ", Command::Pass("two words ".into()));
        ok("LIST", Command::List(None));
        ok("LIST 2", Command::List(Some(2)));
        ok("UIDL 007", Command::Uidl(Some(7)));
        ok("RETR 1", Command::Retr(1));
        ok("TOP 1 0", Command::Top(1, 0));
        ok("DELE  3", Command::Dele(3));
        ok(
            "AUTH PLAIN AGEAYg==",
            Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial_response: Some(b"AGEAYg==".to_vec()),
            },
        );
        ok(
            "AUTH",
            Command::Auth {
                mechanism: None,
                initial_response: None,
            },
        );
        ok("RETR 0", Command::Retr(0));
    }

    #[test]
    fn errors() {
        assert_eq!(parse_command(b"HELO"), Err(ParseError::Unknown));
        assert_eq!(parse_command(b""), Err(ParseError::Unknown));
        assert_eq!(parse_command(b"RETRIEVE 1"), Err(ParseError::Unknown));
        syntax("RETR");
        syntax("RETR -1");
        syntax("RETR +1");
        syntax("RETR 1 2");
        syntax("RETR 99999999999");
        syntax("LIST x");
        syntax("TOP 1");
        syntax("STAT 1");
        syntax("USER");
        syntax("USER a b");
        syntax("PASS");
        syntax("AUTH A B C");
        syntax("NOOP \u{e9}");
        assert!(parse_command(b"USER \xff").is_err());
    }
}
