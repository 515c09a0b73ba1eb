//! Plumbing shared by the POP3 and SMTP fronts of the mail role.
//!
//! [`line`] is pure and always built: it frames CR LF lines with a length limit and is what
//! the fuzz targets drive. The `server` feature (default) adds [`conn`]: the accept loop
//! with a connection limit, the TLS handshake with a timeout, the implicit-TLS / STARTTLS
//! sequence, and the read loop with an idle timeout that feeds framed lines to a
//! protocol's [`conn::Conversation`].

pub mod line;

#[cfg(feature = "server")]
pub mod conn;
