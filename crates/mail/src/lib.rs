//! The **mail** role: mailboxes served over IMAP, POP3 and SMTP submission, and an HTTPS
//! front with autodiscover, Thunderbird autoconfig, a REST mail API in Microsoft Graph's
//! shape, the mail admin API (authentication policies, mailboxes, the organization
//! default) and Prometheus metrics of the authentication pipeline.
//!
//! [`start`] opens the mail store (under the data directory, or on PostgreSQL when
//! `[mail.storage] url` is set), creates the secure
//! organization default on first start ("Block Basic Auth": basic authentication allowed
//! on no protocol), builds the one authentication [`Pipeline`] every front shares and binds
//! every listener; [`Mail::run`] serves them, with the SMTP relay worker, until shutdown.
//!
//! - `role.rs`: [`start`], [`Mail`] and the listeners.
//! - `http/`: the HTTPS front — the 401 challenge and the caller of a REST request
//!   (`auth.rs`), autodiscover and autoconfig (`discover.rs`), the REST API (`rest.rs`,
//!   `send.rs`), the admin API (`admin.rs`).
//! - `graph.rs`: stored RFC 5322 messages as Graph JSON (mail-parser) and Graph JSON as
//!   RFC 5322 (mail-builder); `ids.rs`: the opaque message and folder ids; `deliver.rs`:
//!   local delivery or the relay queue for a submitted message.
//!
//! **Architecture invariants**
//! - Every authentication, on every protocol, goes through the [`Pipeline`]; this crate
//!   never checks a password or a token signature itself (the admin API's token check is
//!   the pipeline's validator with identity's audience, and the caller's role is asked of
//!   identity's admin API live).
//! - The mail role reaches identity only over HTTPS (JWKS, relayed sign-in, admin API).
//! - The admin CLI has no second code path: it sends the admin API's requests to this
//!   router in-process, marked [`LocalAdmin`].

mod config;
mod deliver;
mod graph;
mod http;
mod ids;
mod role;

pub use config::{
    IdentityLinkConfig, LimitsConfig, ListenConfig, Listener, MailConfig, MailStorageConfig,
    SmarthostConfig,
};
pub use http::admin::{LocalAdmin, local_admin_router};
pub use role::{
    DEFAULT_POLICY_NAME, IdentityLink, Mail, MailDeps, MailError, OpenedStore, discover_issuer,
    open_store, start,
};

pub use mailward_mailauth::Pipeline;
