//! OAuth 2.0 / OpenID Connect protocol logic with no I/O: request parsing and validation,
//! PKCE, scope resolution, device user codes, opaque token generation and the error shape.
//! The identity role drives these from its HTTP handlers.
//!
//! **Architecture invariant:** nothing here touches storage, the network or the clock.

pub mod authorize;
pub mod error;
pub mod pkce;
pub mod random;
pub mod scope;
pub mod token_request;
pub mod user_code;

pub use error::OAuthError;
