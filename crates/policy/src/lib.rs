//! Conditional access for mailward: Microsoft Graph `conditionalAccessPolicy` and
//! `namedLocation` JSON, imported strictly and exported unchanged, compiled into a
//! [`PolicySet`] and evaluated against a [`SignInContext`] with Entra's semantics
//! (microsoft.md §3).
//!
//! **Architecture invariant:** this crate is pure. It does no I/O, reads no clock (`now`
//! is a parameter), and knows nothing about HTTP, storage or how a sign-in arrives; the
//! caller resolves the user's groups and roles, the client app type, the country and the
//! platform, and turns the [`Decision`] into a prompt or an error.
//!
//! ```text
//! import_policy(json) ─┐
//!                      ├─ PolicySet::compile(policies, locations, &Config) ─ evaluate(ctx, now)
//! import_named_location┘                                                  └ what_if(ctx, now)
//! ```
//!
//! - [`import`]: strict parse, validation, export (errors name the JSON path).
//! - [`model`], [`location`]: the Graph resources, member for member.
//! - [`compile`]: the precomputed form evaluation runs on.
//! - [`evaluate`]: the rules (see its module doc) and the result types.
//! - [`context`]: the sign-in facts, and [`platform_from_user_agent`].
//! - [`baseline`]: security defaults, evaluated beside the policies (the stricter wins).
//! - [`coverage`]: What-If over every user × application × client app type: where does a
//!   password alone sign in?

pub mod baseline;
pub mod compile;
pub mod context;
pub mod coverage;
pub mod error;
pub mod evaluate;
pub mod import;
pub mod location;
pub mod model;
pub mod prop;

pub use baseline::{SecurityDefaults, combine};
pub use compile::{Frequency, PolicySet};
pub use context::{
    Config, CountryCode, Platform, SignInContext, UserFacts, platform_from_user_agent,
};
pub use coverage::{Coverage, Exposure, Hole};
pub use error::{ErrorKind, FieldError, ImportError};
pub use evaluate::{
    Condition, ControlSet, Decision, Evaluation, GrantControl, Outcome, PolicyResult,
    RequiredControls, SessionEffect, WhatIf, evaluate, what_if,
};
pub use import::{
    export_named_location, export_policy, export_policy_pretty, import_named_location,
    import_named_location_list, import_policy, import_policy_list, role_from_graph,
    role_template_id, validate_named_location, validate_policy,
};
pub use location::NamedLocation;
pub use model::{ConditionalAccessPolicy, PolicyState, RiskLevel};
pub use prop::Prop;
