use mailward_store::{IdentityStore, SqliteStore};
use mailward_types::clock::from_millis;
use mailward_types::model::{Amr, ClientAppType, User, UserSource};
use mailward_types::records::{RefreshToken, Redeem};
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

async fn run(n_tasks: usize, per: usize, memory: bool) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(if memory { SqliteStore::open_memory().await.unwrap() } else { SqliteStore::open(&dir.path().join("x.db")).await.unwrap() });
    let user = User { id: Uuid::new_v4(), upn: "a@b.example".try_into().unwrap(), display_name: "a".into(), mail: None, enabled: true, immutable_id: None, source: UserSource::Cloud, roles: vec![], created_at: from_millis(0), tokens_valid_from: from_millis(0) };
    store.create_user(&user, None).await.unwrap();
    let uid = user.id;
    let tok = move |h: String| RefreshToken { token_hash: h, family_id: Uuid::new_v4(), client_id: "c".into(), user_id: uid, scopes: vec!["offline_access".into()], resource: None, amr: vec![Amr::Pwd], auth_time: from_millis(1), mfa_time: None, session_id: None, client_app_type: ClientAppType::Browser, created_at: from_millis(1), expires_at: from_millis(4_000_000_000_000), used_at: None, revoked_at: None };
    let mut first = vec![];
    for _ in 0..n_tasks { let h = format!("{}", Uuid::new_v4().simple()); store.insert_refresh_token(&tok(h.clone())).await.unwrap(); first.push(h); }
    let start = Instant::now();
    let mut handles = vec![];
    for h0 in first { let s = store.clone();
        handles.push(tokio::spawn(async move { let mut h = h0; for _ in 0..per { match s.use_refresh_token(&h, from_millis(5)).await.unwrap() { Redeem::Fresh(_) => {}, o => panic!("{o:?}") } h = format!("{}", Uuid::new_v4().simple()); s.insert_refresh_token(&tok(h.clone())).await.unwrap(); } })); }
    for h in handles { h.await.unwrap(); }
    let el = start.elapsed(); let n = n_tasks * per;
    println!("tasks {n_tasks} memory {memory}: rotations: {n} in {el:?} = {:.0}/s", n as f64 / el.as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn throughput() {
    run(1, 3000, false).await;
    run(32, 200, false).await;
    run(1, 3000, true).await;
}
