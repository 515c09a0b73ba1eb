//! [`Exchange`]: the server's half of one SASL authentication exchange, as a state machine.
//!
//! Client input is given exactly as it arrives in the protocol (without the line
//! terminator; a trailing CR LF is tolerated):
//! - an initial response (RFC 4959 SASL-IR, RFC 4954 §4 `AUTH mech ir`, RFC 5034 §4) is
//!   base64 text, or `=` for an empty one;
//! - an answer to a challenge is base64 text (possibly empty), or `*` to cancel.
//!
//! `=` is only meaningful as an initial response; as an answer it is invalid base64.
//! Callers that already hold decoded bytes use [`Exchange::start_decoded`] and
//! [`Exchange::step_decoded`].

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::bearer::{BearerError, error_challenge};
use crate::{Credentials, MAX_DECODED_LEN, MAX_ENCODED_LEN, Mechanism, SaslError, Step};
use crate::{login, oauthbearer, plain, xoauth2};

/// Standard alphabet; padding optional, since some clients omit it and it carries no
/// information.
const DECODER: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `LOGIN`'s first challenge (draft-murchison-sasl-login §2.1).
pub(crate) const USERNAME_CHALLENGE: &[u8] = b"Username:";
/// `LOGIN`'s second challenge.
pub(crate) const PASSWORD_CHALLENGE: &[u8] = b"Password:";

/// One authentication exchange. Create it with [`Exchange::start`], feed each client
/// answer to [`Exchange::step`] until a [`Step::Done`] or [`Step::Failed`].
#[derive(Debug)]
pub struct Exchange {
    mechanism: Mechanism,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Sent the empty challenge; the `PLAIN` message comes next.
    AwaitPlain,
    /// Sent `Username:`.
    AwaitLoginUsername,
    /// Sent `Password:`.
    AwaitLoginPassword { username: String },
    /// Sent the empty challenge; the bearer message comes next.
    AwaitBearer,
    /// Returned bearer credentials; the caller may still reject them.
    BearerPending,
    /// Sent the bearer error challenge; the client's dummy answer comes next.
    BearerFailing,
    /// Over (success or failure).
    Finished,
}

/// A decoded client line.
enum Input {
    Cancel,
    Data(Vec<u8>),
}

impl Exchange {
    /// Starts an exchange for `mechanism` with the client's initial response as it
    /// appeared on the command line (`None` when the client sent none).
    pub fn start(mechanism: Mechanism, initial_response: Option<&[u8]>) -> (Exchange, Step) {
        let mut exchange = Exchange {
            mechanism,
            state: State::Finished,
        };
        let step = match initial_response.map(|line| decode_line(line, true)) {
            None => exchange.begin(None),
            Some(Ok(Input::Data(data))) => exchange.begin(Some(&data)),
            // `decode_line` never yields Cancel for an initial response.
            Some(Ok(Input::Cancel)) => Step::Failed(SaslError::Cancelled),
            Some(Err(e)) => Step::Failed(e),
        };
        (exchange, step)
    }

    /// Like [`Exchange::start`], with an initial response that is already decoded.
    pub fn start_decoded(
        mechanism: Mechanism,
        initial_response: Option<&[u8]>,
    ) -> (Exchange, Step) {
        let mut exchange = Exchange {
            mechanism,
            state: State::Finished,
        };
        let step = match initial_response {
            Some(data) if data.len() > MAX_DECODED_LEN => Step::Failed(SaslError::TooLong {
                limit: MAX_DECODED_LEN,
            }),
            other => exchange.begin(other),
        };
        (exchange, step)
    }

    /// The mechanism of this exchange.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// True once the exchange has nothing more to say (after [`Step::Failed`], after
    /// password credentials, or after a bearer failure completed).
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished)
    }

    /// Feeds the client's answer to the last challenge, as it arrived (base64 or `*`).
    pub fn step(&mut self, client_line: &[u8]) -> Step {
        if matches!(self.state, State::BearerFailing) {
            // RFC 7628 §3.2.3: whatever the client answers, the exchange fails.
            self.state = State::Finished;
            return Step::Failed(if strip_eol(client_line) == b"*" {
                SaslError::Cancelled
            } else {
                SaslError::TokenRejected
            });
        }
        if matches!(self.state, State::Finished | State::BearerPending) {
            self.state = State::Finished;
            return Step::Failed(SaslError::OutOfSequence);
        }
        match decode_line(client_line, false) {
            Ok(Input::Cancel) => self.fail(SaslError::Cancelled),
            Ok(Input::Data(data)) => self.advance(&data),
            Err(e) => self.fail(e),
        }
    }

    /// Like [`Exchange::step`], with an answer that is already decoded (no cancellation
    /// through this path: the caller handles `*` itself).
    pub fn step_decoded(&mut self, data: &[u8]) -> Step {
        match self.state {
            State::BearerFailing => {
                self.state = State::Finished;
                Step::Failed(SaslError::TokenRejected)
            }
            State::Finished | State::BearerPending => self.fail(SaslError::OutOfSequence),
            _ if data.len() > MAX_DECODED_LEN => self.fail(SaslError::TooLong {
                limit: MAX_DECODED_LEN,
            }),
            _ => self.advance(data),
        }
    }

    /// The caller rejected the bearer token of the last [`Step::Done`]: returns the
    /// mechanism's error challenge (RFC 7628 §3.2.2 for `OAUTHBEARER`, Google's JSON for
    /// `XOAUTH2`). The client's next line, fed to [`Exchange::step`], yields
    /// [`Step::Failed`] with [`SaslError::TokenRejected`].
    ///
    /// Called at any other time it returns [`Step::Failed`] with
    /// [`SaslError::OutOfSequence`].
    pub fn bearer_failure(&mut self, error: BearerError) -> Step {
        if !matches!(self.state, State::BearerPending) {
            return self.fail(SaslError::OutOfSequence);
        }
        self.state = State::BearerFailing;
        Step::Challenge(error_challenge(self.mechanism, &error))
    }

    fn begin(&mut self, initial: Option<&[u8]>) -> Step {
        match (self.mechanism, initial) {
            (Mechanism::Plain, None) => self.challenge(State::AwaitPlain, Vec::new()),
            (Mechanism::Login, None) => {
                self.challenge(State::AwaitLoginUsername, USERNAME_CHALLENGE.to_vec())
            }
            // Some clients send `AUTH LOGIN =`; an empty username is no username.
            (Mechanism::Login, Some([])) => {
                self.challenge(State::AwaitLoginUsername, USERNAME_CHALLENGE.to_vec())
            }
            (Mechanism::XOAuth2 | Mechanism::OAuthBearer, None) => {
                self.challenge(State::AwaitBearer, Vec::new())
            }
            (_, Some(data)) => {
                self.state = match self.mechanism {
                    Mechanism::Plain => State::AwaitPlain,
                    Mechanism::Login => State::AwaitLoginUsername,
                    Mechanism::XOAuth2 | Mechanism::OAuthBearer => State::AwaitBearer,
                };
                self.advance(data)
            }
        }
    }

    fn advance(&mut self, data: &[u8]) -> Step {
        let state = std::mem::replace(&mut self.state, State::Finished);
        let result = match state {
            State::AwaitPlain => plain::parse(data).map(Step::Done),
            State::AwaitLoginUsername => login::parse_username(data).map(|username| {
                self.state = State::AwaitLoginPassword { username };
                Step::Challenge(PASSWORD_CHALLENGE.to_vec())
            }),
            State::AwaitLoginPassword { username } => login::parse_password(data).map(|password| {
                Step::Done(Credentials::Password {
                    authzid: None,
                    username,
                    password,
                })
            }),
            State::AwaitBearer => {
                let parsed = match self.mechanism {
                    Mechanism::XOAuth2 => xoauth2::parse(data),
                    _ => oauthbearer::parse(data),
                };
                parsed.map(|credentials| {
                    self.state = State::BearerPending;
                    Step::Done(credentials)
                })
            }
            State::BearerPending | State::BearerFailing | State::Finished => {
                Err(SaslError::OutOfSequence)
            }
        };
        match result {
            Ok(step) => step,
            Err(e) => self.fail(e),
        }
    }

    fn challenge(&mut self, next: State, challenge: Vec<u8>) -> Step {
        self.state = next;
        Step::Challenge(challenge)
    }

    fn fail(&mut self, error: SaslError) -> Step {
        self.state = State::Finished;
        Step::Failed(error)
    }
}

/// Drops one trailing `\r\n` or `\n`.
fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Decodes one client line: `*` cancels (answers only), `=` is empty (initial responses
/// only, RFC 4954 §4 / RFC 4959 §3), anything else is base64.
fn decode_line(line: &[u8], initial: bool) -> Result<Input, SaslError> {
    let line = strip_eol(line);
    if !initial && line == b"*" {
        return Ok(Input::Cancel);
    }
    if initial && line == b"=" {
        return Ok(Input::Data(Vec::new()));
    }
    if line.len() > MAX_ENCODED_LEN {
        return Err(SaslError::TooLong {
            limit: MAX_DECODED_LEN,
        });
    }
    let data = DECODER.decode(line).map_err(|_| SaslError::InvalidBase64)?;
    if data.len() > MAX_DECODED_LEN {
        return Err(SaslError::TooLong {
            limit: MAX_DECODED_LEN,
        });
    }
    Ok(Input::Data(data))
}
