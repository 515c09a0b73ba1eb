//! CAPABILITY, LOGIN, AUTHENTICATE (SASL with SASL-IR), ID and ENABLE.
//!
//! Every attempt goes through the mail role's one [`mailward_mailauth::Authenticator`];
//! this file only adapts it to IMAP: password mechanisms and LOGIN only under TLS (and only
//! advertised where an authentication policy could allow them), bearer failures answered
//! with the mechanism's JSON error challenge before the `NO`, a generic
//! `NO [AUTHENTICATIONFAILED]` that reveals nothing, and `BYE` after too many failures.

use imap_codec::imap_types::core::{IString, NString};
use imap_codec::imap_types::extensions::enable::CapabilityEnable;
use mailward_authpolicy::Protocol;
use mailward_mailauth::{AuthFailure, AuthRequest, Principal};
use mailward_sasl::{Credentials, Exchange, Mechanism, SaslError, Step};
use mailward_types::Secret;

use super::{Authed, Result, Session, State};
use crate::respond::{self, Flow, Reply};

/// Extensions offered in every state.
const BASE_CAPABILITIES: &str = "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT \
UIDPLUS MOVE SPECIAL-USE CHILDREN CONDSTORE";

const FAILED: &str = "Authentication failed";

impl Session {
    /// The capability list for the current state (RFC 3501 §7.2.1).
    pub(crate) async fn capabilities(&self) -> String {
        let mut caps = String::from(BASE_CAPABILITIES);
        if matches!(self.state, State::NotAuthenticated) {
            let tls = self.tls();
            if !tls {
                caps.push_str(" STARTTLS");
            }
            let basic = self.server.auth.basic_possible(Protocol::Imap).await;
            if !(tls && basic) {
                caps.push_str(" LOGINDISABLED");
            }
            for m in mailward_sasl::advertised(tls, basic) {
                caps.push_str(" AUTH=");
                caps.push_str(m.name());
            }
        }
        caps
    }

    pub(crate) async fn handle_login(
        &mut self,
        username: Vec<u8>,
        password: Secret<Vec<u8>>,
    ) -> Result<Reply> {
        if !self.tls() {
            return Ok(
                Reply::no("Plaintext authentication is disabled before STARTTLS")
                    .code("PRIVACYREQUIRED"),
            );
        }
        let (Ok(username), Ok(password)) = (
            String::from_utf8(username),
            String::from_utf8(password.into_exposed()),
        ) else {
            return Ok(self.failed());
        };
        let credentials = Credentials::Password {
            authzid: None,
            username,
            password: Secret::new(password),
        };
        match self.check(&credentials).await {
            Ok(p) => Ok(self.authenticated(p).await),
            Err(AuthFailure::Unavailable) => Ok(unavailable()),
            Err(AuthFailure::Denied | AuthFailure::Bearer(_)) => Ok(self.failed()),
        }
    }

    pub(crate) async fn handle_authenticate(
        &mut self,
        _tag: &str,
        mechanism: &str,
        initial_response: Option<Secret<Vec<u8>>>,
    ) -> Result<Reply> {
        let Some(mechanism) = Mechanism::parse(mechanism) else {
            return Ok(Reply::no("Unsupported authentication mechanism").code("CANNOT"));
        };
        if !self.tls() {
            return Ok(
                Reply::no("Authentication is disabled before STARTTLS").code("PRIVACYREQUIRED")
            );
        }
        let (mut exchange, mut step) = Exchange::start_decoded(
            mechanism,
            initial_response
                .as_ref()
                .map(|s| s.expose_secret().as_slice()),
        );
        drop(initial_response);
        loop {
            match step {
                Step::Challenge(challenge) => {
                    self.out.extend_from_slice(b"+ ");
                    self.out
                        .extend_from_slice(mailward_sasl::encode(&challenge).as_bytes());
                    self.out.extend_from_slice(b"\r\n");
                    self.flush().await?;
                    let Some(line) = self.read_line(mailward_sasl::MAX_ENCODED_LEN + 2).await?
                    else {
                        return Ok(Reply::bad("Authentication response too long"));
                    };
                    step = exchange.step(&line);
                }
                Step::Failed(SaslError::Cancelled) => {
                    return Ok(Reply::bad("Authentication cancelled"));
                }
                Step::Failed(e) => {
                    tracing::info!(remote = %self.remote, code = e.code(), "IMAP SASL exchange failed");
                    return Ok(self.failed());
                }
                Step::Done(credentials) => match self.check(&credentials).await {
                    Ok(p) => return Ok(self.authenticated(p).await),
                    Err(AuthFailure::Bearer(error)) => step = exchange.bearer_failure(error),
                    Err(AuthFailure::Unavailable) => return Ok(unavailable()),
                    Err(AuthFailure::Denied) => return Ok(self.failed()),
                },
            }
        }
    }

    async fn check(
        &self,
        credentials: &Credentials,
    ) -> std::result::Result<Principal, AuthFailure> {
        self.server
            .auth
            .authenticate(AuthRequest {
                protocol: Protocol::Imap,
                credentials,
                remote_ip: self.remote.ip(),
                tls: self.tls(),
                user_agent: self.client_id.as_deref(),
            })
            .await
    }

    /// A failed attempt: generic `NO`, or `BYE` once the connection used up its attempts.
    fn failed(&mut self) -> Reply {
        self.auth_failures += 1;
        let reply = Reply::no(FAILED).code("AUTHENTICATIONFAILED");
        if self.auth_failures >= self.server.limits.max_auth_failures {
            respond::bye(&mut self.out, "Too many failed authentication attempts");
            self.state = State::Logout;
            return reply.flow(Flow::Close);
        }
        reply
    }

    async fn authenticated(&mut self, principal: Principal) -> Reply {
        let watch = self.server.store.watch(principal.account.id);
        tracing::info!(
            remote = %self.remote,
            account = %principal.account.id,
            method = ?principal.method,
            "IMAP authenticated"
        );
        self.lift_login_limits();
        self.state = State::Authenticated(Box::new(Authed {
            account: principal.account,
            watch,
            revocation: principal.revocation,
            selected: None,
        }));
        let caps = self.capabilities().await;
        Reply::ok("Logged in").code(format!("CAPABILITY {caps}"))
    }

    pub(crate) fn handle_id(
        &mut self,
        parameters: Option<Vec<(IString<'_>, NString<'_>)>>,
    ) -> Reply {
        if let Some(params) = parameters {
            let get = |key: &str| {
                params.iter().find_map(|(k, v)| {
                    (k.as_ref().eq_ignore_ascii_case(key.as_bytes()))
                        .then(|| {
                            v.0.as_ref()
                                .map(|s| String::from_utf8_lossy(s.as_ref()).into_owned())
                        })
                        .flatten()
                })
            };
            let id = match (get("name"), get("version")) {
                (Some(n), Some(v)) => Some(format!("{n}/{v}")),
                (Some(n), None) => Some(n),
                _ => None,
            };
            if let Some(mut id) = id {
                id.truncate(128);
                self.client_id = Some(id);
            }
        }
        self.out
            .extend_from_slice(b"* ID (\"name\" \"mailward\" \"version\" \"");
        self.out
            .extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
        self.out.extend_from_slice(b"\")\r\n");
        Reply::ok("ID completed")
    }

    pub(crate) fn handle_enable(&mut self, capabilities: &[CapabilityEnable<'_>]) -> Reply {
        let mut enabled = Vec::new();
        for c in capabilities {
            if matches!(c, CapabilityEnable::CondStore) && !enabled.contains(&"CONDSTORE") {
                self.condstore = true;
                enabled.push("CONDSTORE");
            }
        }
        self.out.extend_from_slice(b"* ENABLED");
        for e in enabled {
            self.out.push(b' ');
            self.out.extend_from_slice(e.as_bytes());
        }
        self.out.extend_from_slice(b"\r\n");
        Reply::ok("ENABLE completed")
    }
}

fn unavailable() -> Reply {
    Reply::no("Authentication is temporarily unavailable").code("UNAVAILABLE")
}
