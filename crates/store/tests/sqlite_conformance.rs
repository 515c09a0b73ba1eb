//! Runs the conformance suite against [`SqliteStore`]: every check on a fresh file database
//! and on a fresh in-memory one, then the whole suite twice on one file (as it would run on a
//! shared database), plus the SQLite-specific behaviour of opening and migrating.

use mailward_store::{IdentityStore, SqliteStore, conformance};
use std::sync::Arc;
use tempfile::TempDir;

async fn file_store() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("identity.db"))
        .await
        .expect("open store");
    (dir, store)
}

macro_rules! conformance_tests {
    ($($check:ident),* $(,)?) => {
        mod file {
            $(
                #[tokio::test]
                async fn $check() {
                    let (_dir, store) = super::file_store().await;
                    mailward_store::conformance::$check(&store).await;
                    store.close().await;
                }
            )*
        }
        mod memory {
            $(
                #[tokio::test]
                async fn $check() {
                    let store = mailward_store::SqliteStore::open_memory()
                        .await
                        .expect("open in-memory store");
                    mailward_store::conformance::$check(&store).await;
                }
            )*
        }
    };
}

conformance_tests!(
    settings,
    documents,
    users,
    users_revoked_since,
    groups,
    memberships,
    domains,
    applications,
    resources,
    signing_keys,
    auth_codes,
    auth_code_race,
    refresh_tokens,
    refresh_token_race,
    refresh_token_rotation,
    revoke_user_tokens,
    device_codes,
    sessions,
    flows,
    totp,
    totp_race,
    second_factor_failures,
    second_factor_race,
    recovery_codes,
    passkeys,
    reset_mfa,
    lockout,
    familiar_ips,
    signin_log,
    signin_log_limits,
    signin_log_batch,
    purge_expired,
    delete_user_cascades,
    password_attempts,
    password_attempt_race,
    device_code_attempts,
    rate_limits,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whole_suite_twice_on_one_database() {
    let (_dir, store) = file_store().await;
    conformance::run_all(&store).await;
    conformance::run_all(&store).await;
    store.close().await;
}

/// Two suites at once on one file, as two nodes sharing a database would run them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_suites_on_one_database() {
    let (_dir, store) = file_store().await;
    let store: Arc<dyn IdentityStore> = Arc::new(store);
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { conformance::run_all(store.as_ref()).await })
        })
        .collect();
    for run in runs {
        run.await.expect("suite run");
    }
}

#[tokio::test]
async fn reopening_keeps_data_and_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested").join("identity.db");
    let store = SqliteStore::open(&path).await.expect("open");
    store.put_setting("tenant_id", "t-1").await.expect("put");
    store.close().await;

    let store = SqliteStore::open(&path).await.expect("reopen");
    assert_eq!(
        store
            .get_setting("tenant_id")
            .await
            .expect("get")
            .as_deref(),
        Some("t-1")
    );
    store.close().await;
}

#[tokio::test]
async fn two_handles_on_one_file_migrate_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("identity.db");
    let (a, b) = tokio::join!(SqliteStore::open(&path), SqliteStore::open(&path));
    let (a, b) = (a.expect("open a"), b.expect("open b"));
    a.put_setting("k", "from a").await.expect("put");
    assert_eq!(
        b.get_setting("k").await.expect("get").as_deref(),
        Some("from a")
    );
    a.close().await;
    b.close().await;
}

/// A burst of password attempts through two handles on one file (two nodes): together
/// they reserve no more than the threshold.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn password_attempt_race_across_handles() {
    let (dir, a) = file_store().await;
    let b = SqliteStore::open(&dir.path().join("identity.db"))
        .await
        .expect("open a second handle");
    conformance::password_attempt_race_on(&[&a, &b]).await;
    a.close().await;
    b.close().await;
}
