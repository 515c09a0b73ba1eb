//! The per-user second-factor failure counter: reservation before the check, growing lock
//! windows, clearing on a correct code, and a parallel burst that never gets more than the
//! threshold checked.

use super::*;
use crate::{SecondFactorLimits, SecondFactorReservation};
use futures::future::join_all;
use std::sync::Arc;
use tokio::sync::Barrier;

const LIMITS: SecondFactorLimits = SecondFactorLimits {
    threshold: 4,
    first_lock_ms: 60 * SEC,
    max_lock_ms: 150 * SEC,
};

async fn reserve(store: &dyn IdentityStore, user: Uuid, at: i64) -> SecondFactorReservation {
    store
        .reserve_second_factor(user, t(at), LIMITS)
        .await
        .expect("reserve")
}

/// Threshold attempts, then a lock that doubles up to the longest window, then a lock until
/// an administrator resets the user's methods; a correct code clears the count.
pub async fn second_factor_failures(store: &dyn IdentityStore) {
    use SecondFactorReservation::*;
    let user = new_user(store, "sfcount").await;
    let other = new_user(store, "sfother").await;
    for _ in 0..LIMITS.threshold {
        assert_eq!(reserve(store, user.id, 0).await, Allowed);
    }
    assert_eq!(
        reserve(store, user.id, SEC).await,
        Locked { until: t(60 * SEC) }
    );
    // Another user is not affected.
    assert_eq!(reserve(store, other.id, SEC).await, Allowed);
    // When the lock ends: threshold more, then a lock twice as long, then capped.
    for _ in 0..LIMITS.threshold {
        assert_eq!(reserve(store, user.id, 60 * SEC).await, Allowed);
    }
    assert_eq!(
        reserve(store, user.id, 61 * SEC).await,
        Locked {
            until: t(180 * SEC)
        }
    );
    for _ in 0..LIMITS.threshold {
        assert_eq!(reserve(store, user.id, 180 * SEC).await, Allowed);
    }
    // The next window (240 s) would pass the longest (150 s): locked until a reset, however
    // long one waits, so the consecutive failures of an account are bounded.
    assert_eq!(reserve(store, user.id, 181 * SEC).await, LockedUntilReset);
    assert_eq!(
        reserve(store, user.id, 1_000_000 * SEC).await,
        LockedUntilReset
    );
    // An administrator's reset of the user's methods ends it.
    store.reset_mfa(user.id).await.expect("reset mfa");
    assert_eq!(reserve(store, user.id, 190 * SEC).await, Allowed);
    // A correct code starts everything over (the lock only blocks new reservations).
    store
        .clear_second_factor_failures(user.id)
        .await
        .expect("clear");
    for _ in 0..LIMITS.threshold {
        assert_eq!(reserve(store, user.id, 200 * SEC).await, Allowed);
    }
    assert_eq!(
        reserve(store, user.id, 200 * SEC).await,
        Locked {
            until: t(260 * SEC)
        }
    );
    // Clearing a user with no failures is fine.
    store
        .clear_second_factor_failures(other.id)
        .await
        .expect("clear");
    store
        .clear_second_factor_failures(other.id)
        .await
        .expect("clear again");
}

/// A burst of reservations released together: exactly the threshold is allowed.
pub async fn second_factor_race(store: &dyn IdentityStore) {
    let user = new_user(store, "sfracer").await;
    let racers = 40;
    let barrier = Arc::new(Barrier::new(racers));
    let outcomes = join_all((0..racers).map(|_| {
        let barrier = barrier.clone();
        async move {
            barrier.wait().await;
            store.reserve_second_factor(user.id, t(0), LIMITS).await
        }
    }))
    .await;
    let allowed = outcomes
        .into_iter()
        .map(|o| o.expect("reserve"))
        .filter(|o| *o == SecondFactorReservation::Allowed)
        .count();
    assert_eq!(allowed, LIMITS.threshold as usize);
}
