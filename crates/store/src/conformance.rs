//! The conformance suite every [`IdentityStore`] implementation must pass.
//!
//! Each check is a `pub async fn(&dyn IdentityStore)` that panics on the first difference
//! from the contract; [`run_all`] runs them in order. A backend's test file calls them
//! against a fresh store (one test per check) and [`run_all`] twice against one store.
//!
//! The checks never assume an empty database: every name, id and hash carries a random
//! suffix, lists are checked for what the check itself created, and counts that other data
//! could inflate are lower bounds. So the suite may run against a shared PostgreSQL
//! database, even by several processes at once.
//!
//! Time: every instant derives from one fixed base [`t`] with a non-zero millisecond part,
//! so timestamps must round-trip exactly to the millisecond. Records meant to be live expire
//! after the base and records meant to be expired before it, and `purge_expired` is only
//! called with the base itself; that keeps concurrent runs from disturbing each other.
//!
//! Contract details pinned here beyond the trait's doc comments: a record has expired when
//! `now >= expires_at`; an update closure may not change the record's key (id, client id,
//! kid, device code hash, domain name other than by case, owner of a session or passkey),
//! and trying is `Rejected`; domain and group names compare case-insensitively; writing
//! a record that points at a missing user is `NotFound`; the sign-in log's `since` is
//! inclusive and `until` exclusive, and events outlive their user.

mod directory;
mod grants;
mod guards;
mod housekeeping;
mod mfa;
mod second_factor;

pub use directory::{
    applications, documents, domains, groups, memberships, resources, settings, signing_keys,
    users, users_revoked_since,
};
pub use grants::{
    auth_code_race, auth_codes, device_codes, flows, refresh_token_race, refresh_token_rotation,
    refresh_tokens, revoke_user_tokens, sessions,
};
pub use guards::{
    device_code_attempts, password_attempt_race, password_attempt_race_on, password_attempts,
    rate_limits,
};
pub use housekeeping::{
    delete_user_cascades, purge_expired, signin_log, signin_log_batch, signin_log_limits,
};
pub use mfa::{familiar_ips, lockout, passkeys, recovery_codes, reset_mfa, totp, totp_race};
pub use second_factor::{second_factor_failures, second_factor_race};

use crate::{IdentityStore, StoreError, UpdateFn};
use mailward_types::Upn;
use mailward_types::clock::from_millis;
use mailward_types::model::{Role, User, UserSource};
use std::fmt::Debug;
use time::OffsetDateTime;
use uuid::Uuid;

/// Runs every check, in order.
pub async fn run_all(store: &dyn IdentityStore) {
    settings(store).await;
    documents(store).await;
    users(store).await;
    users_revoked_since(store).await;
    groups(store).await;
    memberships(store).await;
    domains(store).await;
    applications(store).await;
    resources(store).await;
    signing_keys(store).await;
    auth_codes(store).await;
    auth_code_race(store).await;
    refresh_tokens(store).await;
    refresh_token_race(store).await;
    refresh_token_rotation(store).await;
    revoke_user_tokens(store).await;
    device_codes(store).await;
    sessions(store).await;
    flows(store).await;
    totp(store).await;
    totp_race(store).await;
    second_factor_failures(store).await;
    second_factor_race(store).await;
    recovery_codes(store).await;
    passkeys(store).await;
    reset_mfa(store).await;
    lockout(store).await;
    familiar_ips(store).await;
    signin_log(store).await;
    signin_log_limits(store).await;
    signin_log_batch(store).await;
    purge_expired(store).await;
    delete_user_cascades(store).await;
    password_attempts(store).await;
    password_attempt_race(store).await;
    device_code_attempts(store).await;
    rate_limits(store).await;
}

// ---- shared helpers of the checks ----

/// The base instant of the suite (2030-03-17, with 123 ms).
const T0_MS: i64 = 1_900_000_000_123;
const SEC: i64 = 1_000;
const MIN: i64 = 60 * SEC;
const DAY: i64 = 24 * 60 * MIN;

/// The base instant plus `offset_ms`.
fn t(offset_ms: i64) -> OffsetDateTime {
    from_millis(T0_MS + offset_ms)
}

/// `prefix-<random>`.
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4().simple())
}

/// A random 64-hex-digit value shaped like the SHA-256 hashes callers store.
fn hash() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

fn upn(local: &str) -> Upn {
    Upn::try_from(format!("{}@conformance.example", unique(local)).as_str())
        .expect("generated UPN is valid")
}

fn sample_user(tag: &str) -> User {
    let upn = upn(tag);
    User {
        id: Uuid::new_v4(),
        mail: Some(upn.as_str().to_owned()),
        upn,
        display_name: format!("Conformance {tag}"),
        enabled: true,
        immutable_id: None,
        source: UserSource::Cloud,
        roles: vec![],
        created_at: t(-DAY),
        tokens_valid_from: t(-DAY),
    }
}

/// Creates and returns a fresh user.
async fn new_user(store: &dyn IdentityStore, tag: &str) -> User {
    let user = sample_user(tag);
    store
        .create_user(&user, None)
        .await
        .expect("create a user for the check");
    user
}

fn with_roles(mut user: User, roles: &[Role]) -> User {
    user.roles = roles.to_vec();
    user
}

/// The message of the refusing closure [`refuse`].
const REFUSAL: &str = "refused by the conformance suite";

/// An update closure that refuses the change.
fn refuse<T>() -> UpdateFn<T> {
    Box::new(|_| Err(StoreError::Rejected(REFUSAL.to_owned())))
}

/// The closure's own error must come back unchanged.
#[track_caller]
fn assert_refused<T: Debug>(result: Result<T, StoreError>) {
    match result {
        Err(StoreError::Rejected(msg)) if msg == REFUSAL => {}
        other => panic!("expected the closure's own error back, got {other:?}"),
    }
}

#[track_caller]
fn assert_rejected<T: Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::Rejected(_))),
        "expected Rejected, got {result:?}"
    );
}

#[track_caller]
fn assert_conflict<T: Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::Conflict { .. })),
        "expected Conflict, got {result:?}"
    );
}

#[track_caller]
fn assert_not_found<T: Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::NotFound { .. })),
        "expected NotFound, got {result:?}"
    );
}

/// Is `items` sorted by `key`?
fn sorted_by<T, K: PartialOrd>(items: &[T], key: impl Fn(&T) -> K) -> bool {
    items.windows(2).all(|w| key(&w[0]) <= key(&w[1]))
}
