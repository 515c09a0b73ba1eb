//! Runs the conformance suite against [`PgStore`] on the PostgreSQL server at
//! `postgres://postgres@127.0.0.1:5432/test` (`MAILWARD_TEST_POSTGRES_URL` overrides):
//! every check on a fresh schema, then the whole suite twice on one schema (as it would run
//! on a shared database), plus the PostgreSQL-specific behaviour of connecting and
//! migrating.
//!
//! Each test works in a schema of its own (`mw_test_<random>`, selected through the
//! connection's `search_path`) and drops it afterwards, even when the check fails, so runs
//! never see each other's data. An unreachable server fails the tests: it is never a skip.

use mailward_store::{IdentityStore, PgStore, conformance};
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use std::future::Future;
use std::sync::Arc;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn server_url() -> String {
    std::env::var("MAILWARD_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// A scratch schema on the test server, dropped by [`Scratch::drop_schema`].
struct Scratch {
    name: String,
    /// The server URL with the schema selected.
    url: String,
}

async fn admin() -> PgConnection {
    let url = server_url();
    match PgConnection::connect(&url).await {
        Ok(conn) => conn,
        Err(e) => panic!(
            "PostgreSQL is unreachable at {url} ({e}); the PostgreSQL conformance tests need a \
             server (set MAILWARD_TEST_POSTGRES_URL to use another one)"
        ),
    }
}

impl Scratch {
    async fn create() -> Scratch {
        let name = format!("mw_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = admin().await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await
            .expect("create the test schema");
        conn.close().await.expect("close the admin connection");
        let base = server_url();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options[search_path]={name}");
        Scratch { name, url }
    }

    async fn drop_schema(self) {
        let mut conn = admin().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            self.name
        )))
        .execute(&mut conn)
        .await
        .expect("drop the test schema");
        conn.close().await.expect("close the admin connection");
    }

    async fn store(&self) -> PgStore {
        match PgStore::connect(&self.url).await {
            Ok(store) => store,
            Err(e) => panic!("cannot open the PostgreSQL store at {}: {e}", self.url),
        }
    }
}

/// Runs `test` on a fresh scratch schema, drops the schema whatever happens, then passes a
/// failure of the test on.
async fn with_schema<F, Fut>(test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let scratch = Scratch::create().await;
    let outcome = tokio::spawn(test(scratch.url.clone())).await;
    scratch.drop_schema().await;
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("test task failed: {e}"),
        }
    }
}

async fn open(url: &str) -> PgStore {
    match PgStore::connect(url).await {
        Ok(store) => store,
        Err(e) => panic!("cannot open the PostgreSQL store at {url}: {e}"),
    }
}

macro_rules! conformance_tests {
    ($($check:ident),* $(,)?) => {
        mod fresh_schema {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::with_schema(|url| async move {
                        let store = super::open(&url).await;
                        mailward_store::conformance::$check(&store).await;
                        store.close().await;
                    })
                    .await;
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
    with_schema(|url| async move {
        let store = open(&url).await;
        conformance::run_all(&store).await;
        conformance::run_all(&store).await;
        store.close().await;
    })
    .await;
}

/// Two suites at once on one schema, through two pools, as two nodes sharing a database
/// would run them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_suites_on_one_database() {
    with_schema(|url| async move {
        let mut runs = Vec::new();
        for _ in 0..2 {
            let store: Arc<dyn IdentityStore> = Arc::new(open(&url).await);
            runs.push(tokio::spawn(async move {
                conformance::run_all(store.as_ref()).await
            }));
        }
        for run in runs {
            run.await.expect("suite run");
        }
    })
    .await;
}

#[tokio::test]
async fn reconnecting_keeps_data_and_schema() {
    let scratch = Scratch::create().await;
    let store = scratch.store().await;
    let put = store.put_setting("tenant_id", "t-1").await;
    store.close().await;
    let store = scratch.store().await;
    let got = store.get_setting("tenant_id").await;
    store.close().await;
    scratch.drop_schema().await;
    put.expect("put");
    assert_eq!(got.expect("get").as_deref(), Some("t-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_connects_migrate_once() {
    with_schema(|url| async move {
        let (a, b, c) = tokio::join!(PgStore::connect(&url), PgStore::connect(&url), {
            PgStore::connect(&url)
        });
        let (a, b, c) = (a.expect("open a"), b.expect("open b"), c.expect("open c"));
        a.put_setting("k", "from a").await.expect("put");
        assert_eq!(
            b.get_setting("k").await.expect("get").as_deref(),
            Some("from a")
        );
        let mut conn = PgConnection::connect(&url).await.expect("connect");
        let (versions,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM schema_migrations")
            .fetch_one(&mut conn)
            .await
            .expect("count migrations");
        let (distinct,): (i64,) =
            sqlx::query_as("SELECT COUNT(DISTINCT version) FROM schema_migrations")
                .fetch_one(&mut conn)
                .await
                .expect("count migrations");
        assert_eq!(versions, distinct, "a migration was recorded twice");
        conn.close().await.expect("close");
        for store in [a, b, c] {
            store.close().await;
        }
    })
    .await;
}

/// A burst of password attempts through two pools on one schema (two nodes): together
/// they reserve no more than the threshold.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn password_attempt_race_across_pools() {
    with_schema(|url| async move {
        let a = open(&url).await;
        let b = open(&url).await;
        conformance::password_attempt_race_on(&[&a, &b]).await;
        a.close().await;
        b.close().await;
    })
    .await;
}
