//! POP3 for the mail role: RFC 1939 with CAPA (RFC 2449), STLS (RFC 2595) and SASL AUTH
//! (RFC 5034), serving each account's INBOX as the maildrop.
//!
//! The protocol layer is sans-IO and always built: [`line`] (re-exported from
//! `mailward-mailnet`) frames input, [`command`] parses it, [`session`] is the state
//! machine, [`stuff`] formats multi-line responses. The `server` feature (default) adds
//! [`Pop3Server`], the socket loop that drives a session over TCP and TLS with the mail
//! store and the authentication pipeline.
//!
//! **Architecture invariant:** the session never touches sockets, storage or the clock;
//! deletions reach the store only from the UPDATE state (`QUIT` after TRANSACTION).

pub mod command;
pub use mailward_mailnet::line;
pub mod session;
pub mod stuff;

#[cfg(feature = "server")]
mod server;

#[cfg(feature = "server")]
pub use server::{Limits, Pop3Server};
