//! Conformance checks for the guards against guessing and flooding: password-attempt
//! reservations on lockout counters (threshold, lock, failure window, settling, stale
//! reservations, parallel bursts on one or several handles), device user-code submission
//! counts and fixed-window rate limits.

use super::*;
use crate::AttemptLimit;
use futures::future::join_all;
use mailward_types::records::{DeviceCode, DeviceStatus, LocationClass, LockoutState};

/// How many callers burst at one counter.
const BURST: usize = 30;

fn limit(threshold: u32) -> AttemptLimit {
    AttemptLimit {
        threshold,
        failure_window: time::Duration::minutes(60),
        reservation_ttl: time::Duration::minutes(1),
    }
}

/// Settles a reservation as a counted failure at `now`.
fn failure(now: OffsetDateTime) -> UpdateFn<LockoutState> {
    Box::new(move |mut s| {
        s.failures += 1;
        s.last_failure_at = Some(now);
        Ok(s)
    })
}

async fn reserve(
    store: &dyn IdentityStore,
    user: Uuid,
    threshold: u32,
    now: OffsetDateTime,
) -> bool {
    store
        .reserve_password_attempt(user, LocationClass::Unfamiliar, &limit(threshold), now)
        .await
        .expect("reserve")
}

async fn settle(store: &dyn IdentityStore, user: Uuid, f: UpdateFn<LockoutState>) -> LockoutState {
    store
        .settle_password_attempt(user, LocationClass::Unfamiliar, f)
        .await
        .expect("settle")
}

/// Password attempts: failures plus attempts in flight never pass the threshold; settling
/// gives the slot back; a lock refuses until it ends; old failures and stale reservations
/// no longer count; counters are per user and class; an unknown user is NotFound.
pub async fn password_attempts(store: &dyn IdentityStore) {
    let user = new_user(store, "attempts").await;
    let u = user.id;
    // Three in flight at threshold 3: the fourth is refused.
    for _ in 0..3 {
        assert!(reserve(store, u, 3, t(0)).await);
    }
    assert!(!reserve(store, u, 3, t(0)).await);
    // The other class and another user have counters of their own.
    assert!(
        store
            .reserve_password_attempt(u, LocationClass::Familiar, &limit(3), t(0))
            .await
            .expect("reserve familiar")
    );
    let other = new_user(store, "attempts2").await;
    assert!(reserve(store, other.id, 3, t(0)).await);
    // Settling without counting gives a slot back; settled state is returned and kept.
    let s = settle(store, u, Box::new(Ok)).await;
    assert_eq!(s, LockoutState::default());
    assert!(reserve(store, u, 3, t(SEC)).await);
    assert!(!reserve(store, u, 3, t(SEC)).await);
    // Two settle as failures: one slot in flight plus two failures still fill threshold 3.
    settle(store, u, failure(t(SEC))).await;
    let s = settle(store, u, failure(t(SEC))).await;
    assert_eq!(s.failures, 2);
    assert_eq!(
        store
            .lockout(u, LocationClass::Unfamiliar)
            .await
            .expect("read")
            .failures,
        2
    );
    assert!(!reserve(store, u, 3, t(2 * SEC)).await);
    // The last one in flight settles as a failure that locks.
    let s = settle(
        store,
        u,
        Box::new(|mut s| {
            s.failures = 0;
            s.lockouts += 1;
            s.locked_until = Some(t(MIN));
            Ok(s)
        }),
    )
    .await;
    assert_eq!(s.locked_until, Some(t(MIN)));
    // Locked: refused even with no failure counted; the lock ends at `locked_until`.
    assert!(!reserve(store, u, 3, t(MIN - 1)).await);
    assert!(reserve(store, u, 3, t(MIN)).await);
    settle(store, u, failure(t(MIN))).await;
    // Failures older than the window are forgotten by the reservation too.
    for _ in 0..2 {
        assert!(reserve(store, u, 3, t(MIN)).await);
        settle(store, u, failure(t(MIN))).await;
    }
    assert!(!reserve(store, u, 3, t(MIN + SEC)).await);
    assert!(reserve(store, u, 3, t(MIN + 61 * MIN)).await);
    // A reservation never settled (its process died) stops counting after its lifetime.
    let fresh = new_user(store, "attempts3").await;
    for _ in 0..3 {
        assert!(reserve(store, fresh.id, 3, t(0)).await);
    }
    assert!(!reserve(store, fresh.id, 3, t(MIN - 1)).await);
    assert!(reserve(store, fresh.id, 3, t(MIN)).await);
    // Settling more often than reserved never goes below zero.
    for _ in 0..3 {
        settle(store, fresh.id, Box::new(Ok)).await;
    }
    for _ in 0..3 {
        assert!(reserve(store, fresh.id, 3, t(MIN + SEC)).await);
    }
    assert!(!reserve(store, fresh.id, 3, t(MIN + SEC)).await);
    // A closure's refusal writes nothing and keeps the slot.
    assert_refused(
        store
            .settle_password_attempt(fresh.id, LocationClass::Unfamiliar, refuse())
            .await,
    );
    assert!(!reserve(store, fresh.id, 3, t(MIN + SEC)).await);
    assert_not_found(
        store
            .reserve_password_attempt(Uuid::new_v4(), LocationClass::Familiar, &limit(3), t(0))
            .await,
    );
}

/// A parallel burst at a fresh counter: exactly the threshold is reserved.
pub async fn password_attempt_race(store: &dyn IdentityStore) {
    password_attempt_race_on(&[store]).await;
}

/// The same burst spread over several handles to one database (as several nodes would
/// send it): still exactly the threshold.
pub async fn password_attempt_race_on(stores: &[&dyn IdentityStore]) {
    let user = new_user(stores[0], "attemptrace").await;
    let outcomes =
        join_all((0..BURST).map(|i| reserve(stores[i % stores.len()], user.id, 10, t(0)))).await;
    assert_eq!(outcomes.iter().filter(|&&r| r).count(), 10, "{outcomes:?}");
}

/// Device user codes: each submission is counted in the lookup itself, for any status and
/// expiry; an unknown code is `None` and counts nothing; a parallel burst gets distinct
/// attempt numbers.
pub async fn device_code_attempts(store: &dyn IdentityStore) {
    let code = DeviceCode {
        device_code_hash: hash(),
        user_code_hash: hash(),
        client_id: Uuid::new_v4().to_string(),
        scopes: vec!["openid".to_owned()],
        resource: None,
        status: DeviceStatus::Pending,
        interval_secs: 5,
        created_at: t(0),
        expires_at: t(15 * MIN),
        last_poll_at: None,
        ip: None,
    };
    store.insert_device_code(&code).await.expect("insert");
    assert_eq!(
        store
            .device_code_attempt(&code.user_code_hash)
            .await
            .expect("attempt"),
        Some((code.clone(), 1))
    );
    assert_eq!(
        store.device_code_attempt(&hash()).await.expect("unknown"),
        None
    );
    let outcomes =
        join_all((0..BURST).map(|_| store.device_code_attempt(&code.user_code_hash))).await;
    let mut numbers: Vec<u32> = outcomes
        .into_iter()
        .map(|o| o.expect("attempt").expect("found").1)
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (2..=BURST as u32 + 1).collect::<Vec<_>>());
    store
        .update_device_code(
            &code.device_code_hash,
            Box::new(|mut c| {
                c.status = DeviceStatus::Denied;
                Ok(c)
            }),
        )
        .await
        .expect("deny");
    let (after, n) = store
        .device_code_attempt(&code.user_code_hash)
        .await
        .expect("attempt")
        .expect("found");
    assert_eq!(after.status, DeviceStatus::Denied);
    assert_eq!(n, BURST as u32 + 2);
}

/// Rate limits: `limit` units per window per key, nothing written once refused, a new
/// window after the old one ends, keys independent, parallel bursts exact, expired
/// counters purged.
pub async fn rate_limits(store: &dyn IdentityStore) {
    let key = unique("rate");
    let other = unique("rate");
    let w = time::Duration::minutes(1);
    for _ in 0..3 {
        assert!(store.take_rate_limit(&key, 3, w, t(0)).await.expect("take"));
    }
    assert!(!store.take_rate_limit(&key, 3, w, t(0)).await.expect("take"));
    assert!(
        !store
            .take_rate_limit(&key, 3, w, t(MIN - 1))
            .await
            .expect("take")
    );
    assert!(
        store
            .take_rate_limit(&other, 3, w, t(0))
            .await
            .expect("take")
    );
    // The window that began at t(0) ends at t(MIN): a new one starts.
    assert!(
        store
            .take_rate_limit(&key, 3, w, t(MIN))
            .await
            .expect("take")
    );
    assert!(
        store
            .take_rate_limit(&key, 3, w, t(MIN))
            .await
            .expect("take")
    );
    assert!(
        store
            .take_rate_limit(&key, 3, w, t(2 * MIN - 1))
            .await
            .expect("take")
    );
    assert!(
        !store
            .take_rate_limit(&key, 3, w, t(2 * MIN - 1))
            .await
            .expect("take")
    );

    let burst = unique("rate");
    let outcomes = join_all((0..BURST).map(|_| store.take_rate_limit(&burst, 10, w, t(0)))).await;
    let taken = outcomes
        .into_iter()
        .filter(|o| *o.as_ref().expect("take"))
        .count();
    assert_eq!(taken, 10);

    // Purging at the base removes counters whose window ended by then, not live ones.
    let old = unique("rate");
    assert!(
        store
            .take_rate_limit(&old, 1, w, t(-2 * MIN))
            .await
            .expect("take")
    );
    assert!(
        !store
            .take_rate_limit(&old, 1, w, t(-MIN - 1))
            .await
            .expect("take")
    );
    // (Another suite on the same database may purge it first, so the count is not checked;
    // the counter being gone is.)
    store.purge_expired(t(0)).await.expect("purge");
    assert!(
        store
            .take_rate_limit(&old, 1, w, t(-MIN - 1))
            .await
            .expect("take again")
    );
    assert!(
        !store
            .take_rate_limit(&burst, 10, w, t(0))
            .await
            .expect("still limited")
    );
}
