//! Conformance checks for authentication policies: exact round trip, case-insensitive
//! names, replacement, assignment to accounts, the organization default, deletion refusals
//! and the effective policy (the user's, else the default, never merged).

use super::*;
use mailward_authpolicy::{AuthenticationPolicy, PolicyName, Switch};

fn policy(label: &str, every: usize) -> AuthenticationPolicy {
    let name = format!("{label} {}", Uuid::new_v4().simple());
    let mut p = AuthenticationPolicy::new(PolicyName::try_from(name).expect("valid name"));
    for (i, switch) in Switch::all().enumerate() {
        p.set(switch, i % every == 0);
    }
    p
}

/// The whole policy contract. Restores the organization default it found.
pub async fn auth_policies(store: &dyn MailStore) {
    let previous_default = store.default_auth_policy().await.expect("default");
    let strict = policy("Strict", 2);
    let relaxed = policy("Relaxed", 3);
    store.put_auth_policy(&strict).await.expect("put strict");
    store.put_auth_policy(&relaxed).await.expect("put relaxed");

    let name = strict.name().as_str();
    assert_eq!(
        store.auth_policy(name).await.expect("get").as_ref(),
        Some(&strict),
        "exact round trip"
    );
    assert_eq!(
        store
            .auth_policy(&name.to_uppercase())
            .await
            .expect("get in another case")
            .as_ref(),
        Some(&strict)
    );
    assert_eq!(
        store.auth_policy("No such policy").await.expect("get"),
        None
    );
    let all = store.auth_policies().await.expect("list");
    assert!(all.contains(&strict) && all.contains(&relaxed));

    // Replace by name (any case): the new switches and spelling win.
    let mut replaced = AuthenticationPolicy::block_all_basic(
        PolicyName::try_from(name.to_lowercase()).expect("name"),
    );
    if let Some(first) = Switch::all().next() {
        replaced.set(first, true);
    }
    store.put_auth_policy(&replaced).await.expect("replace");
    assert_eq!(
        store.auth_policy(name).await.expect("get").as_ref(),
        Some(&replaced)
    );
    let listed = store.auth_policies().await.expect("list");
    assert_eq!(
        listed
            .iter()
            .filter(|p| p.name().key() == strict.name().key())
            .count(),
        1
    );
    let strict = replaced;
    let strict_name = strict.name().as_str().to_owned();

    // Assignment.
    let account = new_account(store, "policy").await;
    let plain = new_account(store, "nopolicy").await;
    expect_err(
        store
            .set_account_policy(account.id, Some("No such policy"))
            .await,
        |e| matches!(e, StoreError::NotFound("authentication policy")),
        "unknown policy",
    );
    expect_err(
        store.set_account_policy(Uuid::new_v4(), None).await,
        |e| matches!(e, StoreError::NotFound(_)),
        "unknown account",
    );
    store
        .set_account_policy(account.id, Some(&strict_name.to_uppercase()))
        .await
        .expect("assign");
    assert_eq!(
        store
            .account(account.id)
            .await
            .expect("get")
            .expect("account")
            .auth_policy
            .as_deref(),
        Some(strict_name.as_str()),
        "the policy's own spelling"
    );

    // Default.
    expect_err(
        store.set_default_auth_policy(Some("No such policy")).await,
        |e| matches!(e, StoreError::NotFound("authentication policy")),
        "unknown default",
    );
    store
        .set_default_auth_policy(Some(relaxed.name().as_str()))
        .await
        .expect("set default");
    assert_eq!(
        store
            .default_auth_policy()
            .await
            .expect("default")
            .as_deref(),
        Some(relaxed.name().as_str())
    );

    let own = store
        .effective_auth_policy(account.id)
        .await
        .expect("effective");
    assert_eq!(own.user.as_ref(), Some(&strict));
    assert_eq!(own.default.as_ref(), Some(&relaxed));
    let inherited = store
        .effective_auth_policy(plain.id)
        .await
        .expect("effective");
    assert_eq!(inherited.user, None);
    assert_eq!(inherited.default.as_ref(), Some(&relaxed));
    expect_err(
        store.effective_auth_policy(Uuid::new_v4()).await,
        |e| matches!(e, StoreError::NotFound(_)),
        "unknown account",
    );

    // Deletion refusals, then success once unused.
    expect_err(
        store.delete_auth_policy(&strict_name).await,
        |e| matches!(e, StoreError::Invalid(_)),
        "assigned policy",
    );
    expect_err(
        store.delete_auth_policy(relaxed.name().as_str()).await,
        |e| matches!(e, StoreError::Invalid(_)),
        "default policy",
    );
    expect_err(
        store.delete_auth_policy("No such policy").await,
        |e| matches!(e, StoreError::NotFound(_)),
        "unknown policy",
    );
    store
        .set_account_policy(account.id, None)
        .await
        .expect("unassign");
    assert_eq!(
        store
            .effective_auth_policy(account.id)
            .await
            .expect("effective")
            .user,
        None
    );
    store
        .delete_auth_policy(&strict_name.to_lowercase())
        .await
        .expect("delete unused policy, any case");
    assert_eq!(store.auth_policy(&strict_name).await.expect("get"), None);

    store
        .set_default_auth_policy(None)
        .await
        .expect("clear default");
    assert_eq!(store.default_auth_policy().await.expect("default"), None);
    assert_eq!(
        store
            .effective_auth_policy(plain.id)
            .await
            .expect("effective")
            .default,
        None
    );
    store
        .delete_auth_policy(relaxed.name().as_str())
        .await
        .expect("delete former default");
    if let Some(name) = previous_default {
        store
            .set_default_auth_policy(Some(&name))
            .await
            .expect("restore default");
    }
}
