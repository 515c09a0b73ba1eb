//! The IMAP4rev1 server of mailward's mail role (RFC 3501 with IDLE, UIDPLUS, MOVE,
//! NAMESPACE, ID, ENABLE, LITERAL+, SPECIAL-USE, UNSELECT, CHILDREN, SASL-IR and CONDSTORE).
//!
//! - [`server`]: [`ImapServer`] and [`Limits`]; the accept loop with a connection limit,
//!   implicit TLS and STARTTLS.
//! - [`framing`]: sans-IO command framing (lines, literals, limits) and decoding with
//!   imap-codec; the fuzz target drives it.
//! - `session`: the per-connection state machine and one file per group of verbs.
//! - [`mime`], [`search`], [`seqset`], [`utf7`], [`wire`]: pure parts (ENVELOPE and
//!   BODYSTRUCTURE, SEARCH evaluation, sequence sets, mailbox names, response syntax).
//! - `cache`: the shared, bounded cache of parsed message summaries.
//!
//! **Architecture invariants**
//! - Authentication goes through [`mailward_mailauth::Authenticator`] only; this crate
//!   never sees a password hash or validates a token itself.
//! - Nothing sent before STARTTLS completes is executed after it.
//! - A session keeps only the UID list of its selected mailbox between commands; message
//!   data lives in the store and the shared cache.
//! - No clock reads below the edge: APPEND without a date takes `clock::now()` once.

mod cache;
pub mod framing;
pub mod mime;
mod respond;
pub mod search;
pub mod seqset;
mod server;
mod session;
pub mod utf7;
pub mod wire;

/// The imap-types crate this server decodes commands into (for the fuzz target and tests).
pub use imap_codec::imap_types;

pub use server::{ImapServer, LOGIN_MAX_LINE, LOGIN_MAX_LITERAL, Limits};
