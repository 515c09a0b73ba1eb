//! The POP3 session as a sans-IO state machine (RFC 1939 §3): AUTHORIZATION (with STLS,
//! RFC 2595, and SASL AUTH, RFC 5034), TRANSACTION, UPDATE. The socket loop feeds it lines
//! and carries out the [`Action`]s it returns: send bytes, start TLS, check credentials,
//! fetch a message, apply deletions. It never blocks and holds no I/O handles, so it can
//! be fuzzed.
//!
//! Rules beyond the RFCs: no credentials before TLS (`USER`, `PASS` and `AUTH` answer
//! `-ERR` until STLS or on an implicit-TLS port, and CAPA lists no mechanism there);
//! `USER`/`PASS`, `PLAIN` and `LOGIN` only when basic authentication could succeed for
//! somebody (the authentication policy); responses to failed authentication never say
//! whether the account exists. Deletions are applied only at `QUIT` from TRANSACTION.

use mailward_sasl::{BearerError, Credentials, Exchange, Mechanism, SaslError, Step};

use crate::command::{Command, parse_command};
use mailward_mailnet::line::Line;

/// Longest command line (RFC 2449 §4: 255 octets including CR LF).
pub const MAX_COMMAND_LINE: usize = 253;
/// Longest line during a SASL exchange (a base64 client response).
pub const MAX_SASL_LINE: usize = mailward_sasl::MAX_ENCODED_LEN + 2;
/// Failed authentications before the connection is closed.
pub const MAX_AUTH_FAILURES: u32 = 3;
/// Bad commands (unknown, syntax, wrong state) before the connection is closed.
pub const MAX_ERRORS: u32 = 20;

/// One message of the maildrop as the session sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropEntry {
    pub uid: u32,
    /// Size in octets, as RETR will send it (before byte-stuffing).
    pub size: u64,
}

/// The maildrop of a session: INBOX as it was when the session entered TRANSACTION.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maildrop {
    uid_validity: u32,
    entries: Vec<DropEntry>,
    deleted: Vec<bool>,
}

impl Maildrop {
    pub fn new(uid_validity: u32, entries: Vec<DropEntry>) -> Maildrop {
        let deleted = vec![false; entries.len()];
        Maildrop {
            uid_validity,
            entries,
            deleted,
        }
    }

    /// The live (not deleted) message with this 1-based number.
    fn get(&self, n: u32) -> Option<DropEntry> {
        let i = usize::try_from(n).ok()?.checked_sub(1)?;
        match (self.entries.get(i), self.deleted.get(i)) {
            (Some(e), Some(false)) => Some(*e),
            _ => None,
        }
    }

    fn live(&self) -> impl Iterator<Item = (usize, DropEntry)> + '_ {
        self.entries
            .iter()
            .zip(&self.deleted)
            .enumerate()
            .filter(|(_, (_, d))| !**d)
            .map(|(i, (e, _))| (i + 1, *e))
    }

    fn totals(&self) -> (usize, u64) {
        self.live()
            .fold((0, 0), |(n, s), (_, e)| (n + 1, s + e.size))
    }

    /// The persistent unique-id of a message (RFC 1939 §7: 1–70 printable characters).
    pub fn unique_id(&self, uid: u32) -> String {
        format!("{}.{}", self.uid_validity, uid)
    }

    /// UIDs marked for deletion.
    pub fn deleted_uids(&self) -> Vec<u32> {
        self.entries
            .iter()
            .zip(&self.deleted)
            .filter(|(_, d)| **d)
            .map(|(e, _)| e.uid)
            .collect()
    }
}

/// What the socket loop must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send these bytes, then read the next line.
    Send(Vec<u8>),
    /// Send these bytes (`+OK`), drop any buffered input, run the TLS handshake, then call
    /// [`Session::tls_started`].
    StartTls(Vec<u8>),
    /// Check these credentials and report with [`Session::auth_result`].
    Authenticate(Credentials),
    /// Send message `uid` with [`retrieve_reply`] (`top` = `TOP`'s line count).
    Retrieve {
        uid: u32,
        size: u64,
        top: Option<u32>,
    },
    /// UPDATE state: remove these UIDs (possibly none) from the maildrop, then call
    /// [`Session::update_result`].
    Update { remove: Vec<u32> },
    /// Send these bytes, then close the connection.
    Close(Vec<u8>),
}

/// The result of an authentication the session asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Authenticated; the maildrop is locked and loaded.
    Success(Maildrop),
    /// Refused (bad credentials, blocked by policy, ...).
    Denied,
    /// The bearer token was refused: SASL bearer mechanisms send the error challenge.
    Bearer(BearerError),
    /// A peer the check needs did not answer.
    Unavailable,
}

/// Per-connection facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// TLS is active (implicit TLS port).
    pub tls: bool,
    /// STLS can be offered (a TLS configuration exists).
    pub stls_available: bool,
    /// Some authentication policy could allow basic authentication for POP3.
    pub basic_possible: bool,
}

#[derive(Debug)]
enum State {
    Authorization {
        user: Option<String>,
    },
    Sasl(Exchange),
    /// Waiting for [`Session::auth_result`]; the exchange continues after a bearer failure.
    AuthPending(Option<Exchange>),
    Transaction(Maildrop),
    /// Waiting for [`Session::update_result`].
    Update {
        remaining: usize,
    },
    Closed,
}

/// One POP3 session.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    state: State,
    auth_failures: u32,
    errors: u32,
}

fn ok(text: &str) -> Vec<u8> {
    format!("+OK {text}\r\n").into_bytes()
}

fn err(text: &str) -> Vec<u8> {
    format!("-ERR {text}\r\n").into_bytes()
}

/// `+OK <size> octets`, then the message (or its `TOP` cut), byte-stuffed and terminated.
pub fn retrieve_reply(message: &[u8], top: Option<u32>) -> Vec<u8> {
    let body = match top {
        Some(n) => crate::stuff::top(message, n),
        None => message.to_vec(),
    };
    let mut out = match top {
        Some(_) => ok("top of message follows"),
        None => ok(&format!("{} octets", message.len())),
    };
    out.extend_from_slice(&crate::stuff::dot_stuff(&body));
    out
}

impl Session {
    pub fn new(cfg: SessionConfig) -> Session {
        Session {
            cfg,
            state: State::Authorization { user: None },
            auth_failures: 0,
            errors: 0,
        }
    }

    /// The greeting (RFC 1939 §4).
    pub fn greeting(&self) -> Vec<u8> {
        ok("mailward POP3 server ready")
    }

    /// Updates whether basic authentication could succeed (checked per connection).
    pub fn set_basic_possible(&mut self, possible: bool) {
        self.cfg.basic_possible = possible;
    }

    pub fn is_tls(&self) -> bool {
        self.cfg.tls
    }

    /// The line length limit that applies to the next line.
    pub fn max_line(&self) -> usize {
        match self.state {
            // RFC 5034 §4 lets the AUTH command exceed 255 octets with an initial
            // response, which a bearer token always does.
            State::Sasl(_) | State::AuthPending(Some(_)) | State::Authorization { .. } => {
                MAX_SASL_LINE + 64
            }
            _ => MAX_COMMAND_LINE,
        }
    }

    /// Whether the session is authenticated.
    pub fn in_transaction(&self) -> bool {
        matches!(self.state, State::Transaction(_))
    }

    /// The TLS handshake after STLS succeeded.
    pub fn tls_started(&mut self) {
        self.cfg.tls = true;
        self.state = State::Authorization { user: None };
    }

    fn basic_allowed(&self) -> bool {
        self.cfg.tls && self.cfg.basic_possible
    }

    fn error(&mut self, text: &str) -> Action {
        self.errors += 1;
        if self.errors >= MAX_ERRORS {
            self.state = State::Closed;
            return Action::Close(err("Too many errors, closing connection"));
        }
        Action::Send(err(text))
    }

    /// Handles one framed input line.
    pub fn handle(&mut self, line: Line) -> Action {
        let line = match line {
            Line::Complete(l) => l,
            Line::TooLong => {
                if let State::Sasl(_) = self.state {
                    self.state = State::Authorization { user: None };
                    return self.auth_failed("-ERR [AUTH] Authentication response too long\r\n");
                }
                return self.error("Line too long");
            }
        };
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Sasl(mut exchange) => {
                let step = exchange.step(&line);
                self.sasl_step(exchange, step)
            }
            State::AuthPending(x) => {
                self.state = State::AuthPending(x);
                Action::Send(err("Authentication in progress"))
            }
            State::Update { remaining } => {
                self.state = State::Update { remaining };
                Action::Send(err("Closing"))
            }
            State::Closed => Action::Close(Vec::new()),
            State::Authorization { user } => self.authorization(user, &line),
            State::Transaction(drop) => self.transaction(drop, &line),
        }
    }

    fn capa(&self) -> Vec<u8> {
        let mut out = ok("Capability list follows");
        let mut add = |s: &str| {
            out.extend_from_slice(s.as_bytes());
            out.extend_from_slice(b"\r\n");
        };
        add("TOP");
        add("UIDL");
        add("RESP-CODES");
        add("AUTH-RESP-CODE");
        add("PIPELINING");
        if matches!(self.state, State::Authorization { .. }) {
            if self.cfg.tls {
                if self.basic_allowed() {
                    add("USER");
                }
                let mechs: Vec<&str> = mailward_sasl::advertised(true, self.cfg.basic_possible)
                    .into_iter()
                    .map(Mechanism::name)
                    .collect();
                add(&format!("SASL {}", mechs.join(" ")));
            } else if self.cfg.stls_available {
                add("STLS");
            }
        }
        add("IMPLEMENTATION mailward");
        out.extend_from_slice(b".\r\n");
        out
    }

    fn authorization(&mut self, user: Option<String>, line: &[u8]) -> Action {
        self.state = State::Authorization { user: None };
        let cmd = match parse_command(line) {
            Ok(c) => c,
            Err(e) => {
                self.state = State::Authorization { user };
                return self.error(e.message());
            }
        };
        let needs_tls = "[AUTH] Authentication requires TLS: use STLS first";
        match cmd {
            Command::Capa => {
                self.state = State::Authorization { user };
                Action::Send(self.capa())
            }
            Command::Stls if self.cfg.tls => self.error("TLS is already active"),
            Command::Stls if !self.cfg.stls_available => self.error("STLS is not available"),
            Command::Stls => Action::StartTls(ok("Begin TLS negotiation")),
            Command::Quit => {
                self.state = State::Closed;
                Action::Close(ok("mailward POP3 server signing off"))
            }
            Command::User(_) | Command::Pass(_) if !self.cfg.tls => self.error(needs_tls),
            Command::User(_) | Command::Pass(_) if !self.basic_allowed() => {
                self.error("[AUTH] Basic authentication is not available")
            }
            Command::User(name) => {
                self.state = State::Authorization { user: Some(name) };
                Action::Send(ok("send PASS"))
            }
            Command::Pass(password) => match user {
                None => self.error("USER first"),
                Some(username) => {
                    self.state = State::AuthPending(None);
                    Action::Authenticate(Credentials::Password {
                        authzid: None,
                        username,
                        password: password.into(),
                    })
                }
            },
            Command::Auth {
                mechanism: None, ..
            } => {
                let mut out = ok("Supported mechanisms follow");
                if self.cfg.tls {
                    for m in mailward_sasl::advertised(true, self.cfg.basic_possible) {
                        out.extend_from_slice(m.name().as_bytes());
                        out.extend_from_slice(b"\r\n");
                    }
                }
                out.extend_from_slice(b".\r\n");
                Action::Send(out)
            }
            Command::Auth {
                mechanism: Some(name),
                initial_response,
            } => {
                if !self.cfg.tls {
                    return self.error(needs_tls);
                }
                let allowed = mailward_sasl::advertised(true, self.cfg.basic_possible);
                let Some(mech) = Mechanism::parse(&name).filter(|m| allowed.contains(m)) else {
                    return self.error("Unsupported authentication mechanism");
                };
                let (exchange, step) = Exchange::start(mech, initial_response.as_deref());
                self.sasl_step(exchange, step)
            }
            Command::Apop => self.error("APOP is not supported"),
            _ => self.error("Command not valid in the AUTHORIZATION state"),
        }
    }

    fn sasl_step(&mut self, exchange: Exchange, step: Step) -> Action {
        match step {
            Step::Challenge(c) => {
                self.state = State::Sasl(exchange);
                Action::Send(format!("+ {}\r\n", mailward_sasl::encode(&c)).into_bytes())
            }
            Step::Done(credentials) => {
                self.state = State::AuthPending(Some(exchange));
                Action::Authenticate(credentials)
            }
            Step::Failed(SaslError::Cancelled) => {
                self.state = State::Authorization { user: None };
                Action::Send(err("Authentication cancelled"))
            }
            Step::Failed(SaslError::TokenRejected) => {
                self.state = State::Authorization { user: None };
                self.auth_failed("-ERR [AUTH] Authentication failed\r\n")
            }
            Step::Failed(_) => {
                self.state = State::Authorization { user: None };
                self.auth_failed("-ERR [AUTH] Invalid authentication exchange\r\n")
            }
        }
    }

    fn auth_failed(&mut self, reply: &str) -> Action {
        self.auth_failures += 1;
        if self.auth_failures >= MAX_AUTH_FAILURES {
            self.state = State::Closed;
            return Action::Close(err("[AUTH] Too many failed authentications"));
        }
        Action::Send(reply.as_bytes().to_vec())
    }

    /// Reports the result of [`Action::Authenticate`].
    pub fn auth_result(&mut self, outcome: AuthOutcome) -> Action {
        let exchange = match std::mem::replace(&mut self.state, State::Closed) {
            State::AuthPending(x) => x,
            other => {
                self.state = other;
                return Action::Send(err("No authentication in progress"));
            }
        };
        self.state = State::Authorization { user: None };
        match outcome {
            AuthOutcome::Success(drop) => {
                let (n, size) = drop.totals();
                self.state = State::Transaction(drop);
                Action::Send(ok(&format!("maildrop has {n} messages ({size} octets)")))
            }
            AuthOutcome::Unavailable => Action::Send(err(
                "[SYS/TEMP] Authentication is temporarily unavailable, try again later",
            )),
            AuthOutcome::Bearer(e) => match exchange {
                Some(mut x) => {
                    let step = x.bearer_failure(e);
                    self.sasl_step(x, step)
                }
                None => self.auth_failed("-ERR [AUTH] Authentication failed\r\n"),
            },
            AuthOutcome::Denied => self.auth_failed("-ERR [AUTH] Authentication failed\r\n"),
        }
    }

    fn transaction(&mut self, mut drop: Maildrop, line: &[u8]) -> Action {
        let cmd = parse_command(line);
        let action = match &cmd {
            Err(e) => Err(e.message()),
            Ok(Command::Capa) => Ok(Action::Send(self.capa())),
            Ok(Command::Stat) => {
                let (n, size) = drop.totals();
                Ok(Action::Send(ok(&format!("{n} {size}"))))
            }
            Ok(Command::List(None)) => {
                let (n, size) = drop.totals();
                let mut out = ok(&format!("{n} messages ({size} octets)"));
                for (i, e) in drop.live() {
                    out.extend_from_slice(format!("{i} {}\r\n", e.size).as_bytes());
                }
                out.extend_from_slice(b".\r\n");
                Ok(Action::Send(out))
            }
            Ok(Command::List(Some(n))) => match drop.get(*n) {
                Some(e) => Ok(Action::Send(ok(&format!("{n} {}", e.size)))),
                None => Err("No such message"),
            },
            Ok(Command::Uidl(None)) => {
                let mut out = ok("unique-id listing follows");
                for (i, e) in drop.live() {
                    out.extend_from_slice(format!("{i} {}\r\n", drop.unique_id(e.uid)).as_bytes());
                }
                out.extend_from_slice(b".\r\n");
                Ok(Action::Send(out))
            }
            Ok(Command::Uidl(Some(n))) => match drop.get(*n) {
                Some(e) => Ok(Action::Send(ok(&format!("{n} {}", drop.unique_id(e.uid))))),
                None => Err("No such message"),
            },
            Ok(Command::Retr(n)) => match drop.get(*n) {
                Some(e) => Ok(Action::Retrieve {
                    uid: e.uid,
                    size: e.size,
                    top: None,
                }),
                None => Err("No such message"),
            },
            Ok(Command::Top(n, lines)) => match drop.get(*n) {
                Some(e) => Ok(Action::Retrieve {
                    uid: e.uid,
                    size: e.size,
                    top: Some(*lines),
                }),
                None => Err("No such message"),
            },
            Ok(Command::Dele(n)) => match drop.get(*n) {
                Some(_) => {
                    if let Some(d) = usize::try_from(*n)
                        .ok()
                        .and_then(|n| n.checked_sub(1))
                        .and_then(|i| drop.deleted.get_mut(i))
                    {
                        *d = true;
                    }
                    Ok(Action::Send(ok(&format!("message {n} deleted"))))
                }
                None => Err("No such message"),
            },
            Ok(Command::Rset) => {
                drop.deleted.iter_mut().for_each(|d| *d = false);
                let (n, size) = drop.totals();
                Ok(Action::Send(ok(&format!(
                    "maildrop has {n} messages ({size} octets)"
                ))))
            }
            Ok(Command::Noop) => Ok(Action::Send(b"+OK\r\n".to_vec())),
            Ok(Command::Quit) => {
                let remove = drop.deleted_uids();
                let remaining = drop.totals().0;
                self.state = State::Update { remaining };
                return Action::Update { remove };
            }
            Ok(_) => Err("Command not valid in the TRANSACTION state"),
        };
        self.state = State::Transaction(drop);
        match action {
            Ok(a) => a,
            Err(text) => self.error(text),
        }
    }

    /// Reports the result of [`Action::Update`]; returns the final reply.
    pub fn update_result(&mut self, removed_ok: bool) -> Action {
        let remaining = match self.state {
            State::Update { remaining } => remaining,
            _ => 0,
        };
        self.state = State::Closed;
        if removed_ok {
            Action::Close(ok(&format!(
                "mailward POP3 server signing off ({remaining} messages left)"
            )))
        } else {
            Action::Close(err("[SYS/TEMP] Some deleted messages were not removed"))
        }
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }
}
