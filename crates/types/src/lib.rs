//! Shared vocabulary of mailward: validated newtypes, the directory model, the numeric
//! sign-in error codes and the [`Secret`] wrapper. No I/O and no knowledge of any role.

pub mod clock;
pub mod codes;
pub mod ids;
pub mod model;
pub mod records;
pub mod secret;

pub use codes::ErrorCode;
pub use ids::{ClientId, IdError, RedirectUri, Upn};
pub use secret::Secret;
