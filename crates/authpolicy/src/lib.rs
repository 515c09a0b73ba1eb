//! Exchange authentication policies, pure: the per-protocol switches that decide whether a
//! user may use basic (legacy) or modern authentication, their JSON form as
//! `Get-AuthenticationPolicy | ConvertTo-Json` prints it, and the decision itself.
//!
//! - [`Protocol`] / [`ProtocolSet`] / [`parse_protocol_list`]: the thirteen protocols of
//!   Exchange's model (all kept so policies round-trip; see [`Protocol::served_by_mailward`]).
//! - [`Switch`]: `AllowBasicAuth<P>` (cloud), `BlockLegacyAuth<P>` and `BlockModernAuth<P>`
//!   (Exchange Server 2019, eight protocols only).
//! - [`AuthenticationPolicy`]: a name and its switches; JSON import with every problem
//!   named ([`import_policies`], [`AuthenticationPolicy::from_json`]) and lossless export.
//! - [`decide`]: the user's policy, else the organization default, never merged.
//!
//! **Architecture invariant:** no I/O, no clock, no storage; assignment of policies to users
//! and the organization default are the caller's data, passed in.

mod decide;
mod error;
mod import;
mod policy;
mod protocol;
mod switch;

pub use decide::{Assignment, Decision, Flavour, Method, Reason, decide, effective};
pub use error::{ErrorKind, FieldError, ImportError};
pub use import::import_policies;
pub use policy::{AuthenticationPolicy, MAX_NAME_CHARS, NameError, PolicyName};
pub use protocol::{
    Protocol, ProtocolListError, ProtocolSet, parse_protocol_list, valid_protocol_names,
};
pub use switch::{Switch, SwitchError, SwitchKind};
