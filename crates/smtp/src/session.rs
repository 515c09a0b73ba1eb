//! The SMTP submission session (RFC 6409) as a sans-IO state machine: greeting,
//! EHLO/HELO, STARTTLS (RFC 3207), AUTH (RFC 4954), one or more mail transactions
//! (MAIL, RCPT, DATA with dot-unstuffing and a size limit), RSET, NOOP, QUIT. The socket
//! loop feeds it lines and carries out the [`Action`]s: send bytes, start TLS, check
//! credentials, classify a recipient, deliver a complete message.
//!
//! Rules: no AUTH before TLS (`538 5.7.11`), `PLAIN`/`LOGIN` only when basic
//! authentication could succeed for somebody; MAIL needs an authenticated session and a
//! sender address owned by the authenticated account (`553 5.7.1`); the message is handed
//! over only after the final dot, so a connection lost mid-DATA stores nothing.

use mailward_sasl::{BearerError, Credentials, Exchange, Mechanism, SaslError, Step};

use crate::command::{Command, MailParams, ParseError, parse_command};
use mailward_mailnet::line::Line;

/// Longest command line (RFC 5321 §4.5.3.1.4 says 512 octets; AUTH lines carry tokens).
pub const MAX_COMMAND_LINE: usize = mailward_sasl::MAX_ENCODED_LEN + 64;
/// Longest line of message content accepted (RFC 5321 says 1000 octets; real mail
/// sometimes exceeds that, so be lenient but bounded).
pub const MAX_DATA_LINE: usize = 64 * 1024;
/// Bad commands before the connection is closed.
pub const MAX_ERRORS: u32 = 20;
/// Failed authentications before the connection is closed.
pub const MAX_AUTH_FAILURES: u32 = 3;

/// Per-server settings the session needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// This server's name in the greeting and EHLO reply.
    pub hostname: String,
    /// Largest message accepted, in octets (advertised as `SIZE`).
    pub max_message_size: u64,
    /// Recipients per message.
    pub max_recipients: usize,
    /// TLS is active (implicit TLS port).
    pub tls: bool,
    /// STARTTLS can be offered.
    pub starttls_available: bool,
    /// Some authentication policy could allow basic authentication for SMTP.
    pub basic_possible: bool,
}

/// What the socket loop must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send these bytes, then read the next line.
    Send(Vec<u8>),
    /// Send these bytes (`220`), drop buffered input, run the TLS handshake, then call
    /// [`Session::tls_started`].
    StartTls(Vec<u8>),
    /// Check credentials; report with [`Session::auth_result`].
    Authenticate(Credentials),
    /// Classify a recipient; report with [`Session::rcpt_result`].
    CheckRecipient(String),
    /// Store a complete message; report with [`Session::deliver_result`].
    Deliver(Envelope),
    /// Send these bytes, then close the connection.
    Close(Vec<u8>),
}

/// A complete message ready for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub from: String,
    /// Accepted recipients, in order, with whether each is local.
    pub recipients: Vec<(String, bool)>,
    /// The message, dot-unstuffed, lines ending in CR LF.
    pub data: Vec<u8>,
    /// The `EHLO`/`HELO` name the client gave.
    pub helo: String,
}

/// The result of an authentication the session asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Authenticated; the addresses this account may use as sender.
    Success {
        senders: Vec<String>,
    },
    Denied,
    Bearer(BearerError),
    Unavailable,
}

/// Where a recipient goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcptOutcome {
    /// An account of this instance.
    Local,
    /// Another domain: relayed.
    Remote,
    /// Another domain, and this instance relays nowhere (no smarthost).
    NoRoute,
    /// A domain this instance serves, but no such account.
    Unknown,
    Unavailable,
}

/// The result of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliverOutcome {
    Stored,
    TooLarge,
    Failed,
}

#[derive(Debug)]
enum State {
    /// Before EHLO/HELO.
    Connected,
    /// After EHLO/HELO, no transaction.
    Ready,
    Sasl(Exchange),
    AuthPending(Option<Exchange>),
    /// MAIL accepted; RCPTs being collected.
    Mail,
    RcptPending,
    Data,
    DeliverPending,
    Closed,
}

#[derive(Debug, Default)]
struct Transaction {
    from: String,
    recipients: Vec<(String, bool)>,
    pending_rcpt: Option<String>,
    data: Vec<u8>,
    /// The message grew past the limit (the rest is read and dropped).
    too_large: bool,
    /// A content line exceeded [`MAX_DATA_LINE`].
    bad_line: bool,
}

/// One SMTP session.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    state: State,
    helo: Option<String>,
    esmtp: bool,
    senders: Option<Vec<String>>,
    tx: Transaction,
    errors: u32,
    auth_failures: u32,
}

fn reply(text: &str) -> Action {
    Action::Send(format!("{text}\r\n").into_bytes())
}

impl Session {
    pub fn new(cfg: SessionConfig) -> Session {
        Session {
            cfg,
            state: State::Connected,
            helo: None,
            esmtp: false,
            senders: None,
            tx: Transaction::default(),
            errors: 0,
            auth_failures: 0,
        }
    }

    /// The greeting (RFC 5321 §4.3.1).
    pub fn greeting(&self) -> Vec<u8> {
        format!("220 {} ESMTP mailward ready\r\n", self.cfg.hostname).into_bytes()
    }

    pub fn is_tls(&self) -> bool {
        self.cfg.tls
    }

    pub fn set_basic_possible(&mut self, possible: bool) {
        self.cfg.basic_possible = possible;
    }

    /// Whether the session is authenticated.
    pub fn is_authenticated(&self) -> bool {
        self.senders.is_some()
    }

    /// The line length limit for the next line.
    pub fn max_line(&self) -> usize {
        match self.state {
            State::Data => MAX_DATA_LINE,
            _ => MAX_COMMAND_LINE,
        }
    }

    /// Whether the client is sending message content.
    pub fn in_data(&self) -> bool {
        matches!(self.state, State::Data)
    }

    /// TLS is up after STARTTLS: the session starts over (RFC 3207 §4.2).
    pub fn tls_started(&mut self) {
        self.cfg.tls = true;
        self.state = State::Connected;
        self.helo = None;
        self.esmtp = false;
        self.senders = None;
        self.tx = Transaction::default();
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    fn error(&mut self, text: &str) -> Action {
        self.errors += 1;
        if self.errors >= MAX_ERRORS {
            self.state = State::Closed;
            return Action::Close(b"421 4.7.0 Too many errors, closing connection\r\n".to_vec());
        }
        reply(text)
    }

    fn mechanisms(&self) -> Vec<Mechanism> {
        mailward_sasl::advertised(self.cfg.tls, self.cfg.basic_possible)
    }

    /// Handles one framed input line.
    pub fn handle(&mut self, line: Line) -> Action {
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Data => {
                self.state = State::Data;
                self.data_line(line)
            }
            State::Sasl(mut exchange) => match line {
                Line::Complete(l) => {
                    let step = exchange.step(&l);
                    self.sasl_step(exchange, step)
                }
                Line::TooLong => {
                    self.state = self.idle_state();
                    self.auth_failed("500 5.5.6 Authentication exchange line too long")
                }
            },
            State::Closed => Action::Close(Vec::new()),
            pending @ (State::AuthPending(_) | State::RcptPending | State::DeliverPending) => {
                // The loop never feeds lines while an action is outstanding.
                self.state = pending;
                reply("451 4.3.0 Busy")
            }
            other => {
                self.state = other;
                match line {
                    Line::TooLong => self.error("500 5.5.6 Line too long"),
                    Line::Complete(l) => self.command(&l),
                }
            }
        }
    }

    fn idle_state(&self) -> State {
        if self.helo.is_some() {
            State::Ready
        } else {
            State::Connected
        }
    }

    fn ehlo_reply(&self, domain: &str) -> Vec<u8> {
        let mut lines = vec![format!("{} greets {domain}", self.cfg.hostname)];
        lines.push(format!("SIZE {}", self.cfg.max_message_size));
        lines.push("8BITMIME".into());
        lines.push("PIPELINING".into());
        lines.push("ENHANCEDSTATUSCODES".into());
        if self.cfg.tls {
            let mechs: Vec<&str> = self.mechanisms().into_iter().map(Mechanism::name).collect();
            if !mechs.is_empty() && !self.is_authenticated() {
                lines.push(format!("AUTH {}", mechs.join(" ")));
            }
        } else if self.cfg.starttls_available {
            lines.push("STARTTLS".into());
        }
        let mut out = Vec::new();
        let last = lines.len() - 1;
        for (i, l) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            out.extend_from_slice(format!("250{sep}{l}\r\n").as_bytes());
        }
        out
    }

    fn command(&mut self, line: &[u8]) -> Action {
        let cmd = match parse_command(line) {
            Ok(c) => c,
            Err(ParseError::Unknown) => return self.error("500 5.5.2 Command not recognized"),
            Err(ParseError::Syntax(s)) => return self.error(&format!("501 5.5.4 {s}")),
            Err(ParseError::UnknownParameter) => {
                return self.error("555 5.5.4 Unsupported parameter");
            }
        };
        let in_tx = matches!(self.state, State::Mail);
        if in_tx && matches!(cmd, Command::Ehlo(_) | Command::Helo(_)) {
            // A new EHLO/HELO resets the transaction (RFC 5321 §4.1.4).
            self.tx = Transaction::default();
        }
        match cmd {
            Command::Ehlo(domain) => {
                let out = self.ehlo_reply(&domain);
                self.helo = Some(domain);
                self.esmtp = true;
                self.state = State::Ready;
                Action::Send(out)
            }
            Command::Helo(domain) => {
                let out = format!("250 {}\r\n", self.cfg.hostname).into_bytes();
                self.helo = Some(domain);
                self.esmtp = false;
                self.state = State::Ready;
                Action::Send(out)
            }
            Command::Quit => {
                self.state = State::Closed;
                Action::Close(b"221 2.0.0 Bye\r\n".to_vec())
            }
            Command::Noop => reply("250 2.0.0 OK"),
            Command::Rset => {
                self.tx = Transaction::default();
                self.state = self.idle_state();
                reply("250 2.0.0 OK")
            }
            Command::Vrfy | Command::Expn => self.error("502 5.5.1 Command disabled"),
            Command::Help => reply("214 2.0.0 See RFC 6409"),
            Command::Bdat => self.error("502 5.5.1 CHUNKING is not offered"),
            Command::StartTls => {
                if self.cfg.tls {
                    self.error("503 5.5.1 TLS already active")
                } else if !self.cfg.starttls_available {
                    self.error("502 5.5.1 STARTTLS not available")
                } else if in_tx {
                    self.error("503 5.5.1 STARTTLS not allowed during a mail transaction")
                } else {
                    Action::StartTls(b"220 2.0.0 Ready to start TLS\r\n".to_vec())
                }
            }
            Command::Auth {
                mechanism,
                initial_response,
            } => {
                if self.helo.is_none() || !self.esmtp {
                    return self.error("503 5.5.1 Send EHLO first");
                }
                if self.is_authenticated() {
                    return self.error("503 5.5.1 Already authenticated");
                }
                if in_tx {
                    return self.error("503 5.5.1 AUTH not allowed during a mail transaction");
                }
                if !self.cfg.tls {
                    return self.error(
                        "538 5.7.11 Encryption required for requested authentication mechanism",
                    );
                }
                let Some(mech) =
                    Mechanism::parse(&mechanism).filter(|m| self.mechanisms().contains(m))
                else {
                    return self.error("504 5.5.4 Unrecognized authentication type");
                };
                let (exchange, step) = Exchange::start(mech, initial_response.as_deref());
                self.sasl_step(exchange, step)
            }
            Command::Mail { from, params } => self.mail(from, params),
            Command::Rcpt { to } => {
                if !in_tx {
                    return self.error("503 5.5.1 Need MAIL command");
                }
                if self.tx.recipients.len() >= self.cfg.max_recipients {
                    return reply("452 4.5.3 Too many recipients");
                }
                self.tx.pending_rcpt = Some(to.clone());
                self.state = State::RcptPending;
                Action::CheckRecipient(to)
            }
            Command::Data => {
                if !in_tx {
                    return self.error("503 5.5.1 Need MAIL command");
                }
                if self.tx.recipients.is_empty() {
                    return self.error("554 5.5.1 No valid recipients");
                }
                self.state = State::Data;
                reply("354 Start mail input; end with <CRLF>.<CRLF>")
            }
        }
    }

    fn mail(&mut self, from: Option<String>, params: MailParams) -> Action {
        match self.state {
            State::Connected => return self.error("503 5.5.1 Send EHLO first"),
            State::Mail => return self.error("503 5.5.1 Nested MAIL command"),
            _ => {}
        }
        let Some(senders) = &self.senders else {
            return self.error("530 5.7.0 Authentication required");
        };
        let Some(from) = from else {
            return self
                .error("553 5.7.1 Sender address rejected: not owned by the authenticated user");
        };
        if !senders.iter().any(|s| s.eq_ignore_ascii_case(&from)) {
            return self
                .error("553 5.7.1 Sender address rejected: not owned by the authenticated user");
        }
        if params.size.is_some_and(|s| s > self.cfg.max_message_size) {
            return reply("552 5.3.4 Message size exceeds fixed maximum message size");
        }
        self.tx = Transaction {
            from,
            ..Transaction::default()
        };
        self.state = State::Mail;
        reply("250 2.1.0 Sender OK")
    }

    /// Reports the result of [`Action::CheckRecipient`].
    pub fn rcpt_result(&mut self, outcome: RcptOutcome) -> Action {
        if !matches!(self.state, State::RcptPending) {
            return reply("451 4.3.0 No recipient check pending");
        }
        self.state = State::Mail;
        let Some(to) = self.tx.pending_rcpt.take() else {
            return reply("451 4.3.0 No recipient check pending");
        };
        match outcome {
            RcptOutcome::Local | RcptOutcome::Remote => {
                self.tx.recipients.push((to, outcome == RcptOutcome::Local));
                reply("250 2.1.5 Recipient OK")
            }
            RcptOutcome::Unknown => {
                self.error("550 5.1.1 Recipient address rejected: no such user here")
            }
            // RFC 3463 X.4.4 "unable to route": refused now rather than accepted into a
            // queue nothing will ever send.
            RcptOutcome::NoRoute => reply(
                "550 5.4.4 Recipient address rejected: no route to other domains (no smarthost is configured)",
            ),
            RcptOutcome::Unavailable => reply("451 4.3.0 Temporary failure, try again later"),
        }
    }

    fn data_line(&mut self, line: Line) -> Action {
        let line = match line {
            Line::Complete(l) => l,
            Line::TooLong => {
                self.tx.bad_line = true;
                return Action::Send(Vec::new());
            }
        };
        if line == b"." {
            let tx = std::mem::take(&mut self.tx);
            if tx.too_large {
                self.state = State::Ready;
                return reply("552 5.3.4 Message size exceeds fixed maximum message size");
            }
            if tx.bad_line {
                self.state = State::Ready;
                return reply("500 5.5.6 Message line too long");
            }
            self.state = State::DeliverPending;
            return Action::Deliver(Envelope {
                from: tx.from,
                recipients: tx.recipients,
                data: tx.data,
                helo: self.helo.clone().unwrap_or_default(),
            });
        }
        if self.tx.too_large || self.tx.bad_line {
            return Action::Send(Vec::new());
        }
        let content = line.strip_prefix(b".").unwrap_or(&line);
        let new_len = (self.tx.data.len() + content.len() + 2) as u64;
        if new_len > self.cfg.max_message_size {
            self.tx.too_large = true;
            self.tx.data = Vec::new();
            return Action::Send(Vec::new());
        }
        self.tx.data.extend_from_slice(content);
        self.tx.data.extend_from_slice(b"\r\n");
        Action::Send(Vec::new())
    }

    /// Reports the result of [`Action::Deliver`].
    pub fn deliver_result(&mut self, outcome: DeliverOutcome) -> Action {
        if !matches!(self.state, State::DeliverPending) {
            return reply("451 4.3.0 No delivery pending");
        }
        self.state = State::Ready;
        match outcome {
            DeliverOutcome::Stored => reply("250 2.0.0 Message accepted for delivery"),
            DeliverOutcome::TooLarge => {
                reply("552 5.3.4 Message size exceeds fixed maximum message size")
            }
            DeliverOutcome::Failed => reply("451 4.3.0 Local error in processing, try again later"),
        }
    }

    fn sasl_step(&mut self, exchange: Exchange, step: Step) -> Action {
        match step {
            Step::Challenge(c) => {
                self.state = State::Sasl(exchange);
                Action::Send(format!("334 {}\r\n", mailward_sasl::encode(&c)).into_bytes())
            }
            Step::Done(credentials) => {
                self.state = State::AuthPending(Some(exchange));
                Action::Authenticate(credentials)
            }
            Step::Failed(SaslError::Cancelled) => {
                self.state = self.idle_state();
                reply("501 5.0.0 Authentication cancelled")
            }
            Step::Failed(SaslError::TokenRejected) => {
                self.state = self.idle_state();
                self.auth_failed("535 5.7.8 Authentication credentials invalid")
            }
            Step::Failed(_) => {
                self.state = self.idle_state();
                self.auth_failed("501 5.5.2 Invalid authentication exchange")
            }
        }
    }

    fn auth_failed(&mut self, text: &str) -> Action {
        self.auth_failures += 1;
        if self.auth_failures >= MAX_AUTH_FAILURES {
            self.state = State::Closed;
            return Action::Close(
                format!("{text}\r\n421 4.7.0 Too many failed authentications\r\n").into_bytes(),
            );
        }
        reply(text)
    }

    /// Reports the result of [`Action::Authenticate`].
    pub fn auth_result(&mut self, outcome: AuthOutcome) -> Action {
        let exchange = match std::mem::replace(&mut self.state, State::Closed) {
            State::AuthPending(x) => x,
            other => {
                self.state = other;
                return reply("451 4.3.0 No authentication pending");
            }
        };
        self.state = self.idle_state();
        match outcome {
            AuthOutcome::Success { senders } => {
                self.senders = Some(senders);
                reply("235 2.7.0 Authentication successful")
            }
            AuthOutcome::Unavailable => reply("454 4.7.0 Temporary authentication failure"),
            AuthOutcome::Bearer(e) => match exchange {
                Some(mut x) => {
                    let step = x.bearer_failure(e);
                    self.sasl_step(x, step)
                }
                None => self.auth_failed("535 5.7.8 Authentication credentials invalid"),
            },
            AuthOutcome::Denied => self.auth_failed("535 5.7.8 Authentication credentials invalid"),
        }
    }
}
