//! SMTP submission for the mail role (RFC 6409) with AUTH (RFC 4954), STARTTLS (RFC 3207),
//! SIZE (RFC 1870), 8BITMIME (RFC 6152), PIPELINING (RFC 2920) and ENHANCEDSTATUSCODES
//! (RFC 2034); local delivery into mailboxes and relay of everything else through a
//! smarthost.
//!
//! The protocol layer is sans-IO and always built: [`line`] (re-exported from
//! `mailward-mailnet`) frames input, [`command`] parses it, [`session`] is the state
//! machine. The `server` feature (default) adds [`SmtpServer`] (the socket loop with the
//! mail store and the authentication pipeline), [`Relay`] (the queue worker) and [`client`]
//! (the small SMTP client the relay uses).
//!
//! **Architecture invariant:** a message reaches the store only after the client's final
//! dot and a complete, size-checked transaction; the session never touches sockets,
//! storage or the clock.

pub mod command;
pub use mailward_mailnet::line;
pub mod session;

#[cfg(feature = "server")]
pub mod client;
#[cfg(feature = "server")]
mod relay;
#[cfg(feature = "server")]
mod server;

#[cfg(feature = "server")]
pub use relay::{Relay, RelayConfig, RelayError, RelayReport, backoff};
#[cfg(feature = "server")]
pub use server::{SmtpConfig, SmtpServer};
