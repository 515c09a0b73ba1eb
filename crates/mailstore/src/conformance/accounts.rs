//! Conformance checks for accounts: idempotent and race-safe creation, lookups by id, user
//! and address (case-insensitive), the six default folders, and deletion.

use super::*;
use crate::SpecialUse;
use futures::future::join_all;

/// `ensure_account` returns the existing account on the second call, unchanged, and
/// stores the address lowercase.
pub async fn accounts_idempotent(store: &dyn MailStore) {
    let user = Uuid::new_v4();
    let suffix = Uuid::new_v4().simple().to_string();
    let new = NewAccount {
        user_oid: user,
        upn: format!("Ada.{suffix}@Example.com"),
        address: format!("Ada.{suffix}@Example.COM"),
        display_name: "Ada".to_owned(),
        now: t(1),
    };
    let first = store.ensure_account(new.clone()).await.expect("create");
    assert_eq!(first.user_oid, user);
    assert_eq!(first.address, format!("ada.{suffix}@example.com"));
    assert_eq!(first.upn, new.upn);
    assert_eq!(first.created, t(1));
    assert_eq!(first.auth_policy, None);
    let again = store
        .ensure_account(NewAccount {
            display_name: "Someone else".to_owned(),
            now: t(2),
            ..new.clone()
        })
        .await
        .expect("second call");
    assert_eq!(again, first);
    assert_eq!(store.folders(first.id).await.expect("folders").len(), 6);

    // Another user cannot take the address, in any case.
    let clash = store
        .ensure_account(NewAccount {
            user_oid: Uuid::new_v4(),
            address: new.address.to_uppercase(),
            ..new
        })
        .await;
    expect_err(
        clash,
        |e| matches!(e, StoreError::Exists(_)),
        "address taken",
    );
}

/// Concurrent first logins of one user create one account.
pub async fn accounts_concurrent(store: &dyn MailStore) {
    let user = Uuid::new_v4();
    let address = format!("race.{}@example.com", Uuid::new_v4().simple());
    let calls = (0..8).map(|i| {
        store.ensure_account(NewAccount {
            user_oid: user,
            upn: address.clone(),
            address: address.clone(),
            display_name: format!("racer {i}"),
            now: t(i),
        })
    });
    let results: Vec<Account> = join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("concurrent ensure_account"))
        .collect();
    assert!(results.iter().all(|a| a == &results[0]), "{results:?}");
    let all = store.list_accounts().await.expect("list");
    assert_eq!(all.iter().filter(|a| a.user_oid == user).count(), 1);
    assert_eq!(
        store.folders(results[0].id).await.expect("folders").len(),
        6,
        "one set of default folders"
    );
}

/// Lookups by id, user and address (any case); unknown keys give `None`.
pub async fn account_lookup(store: &dyn MailStore) {
    let account = new_account(store, "Lookup").await;
    assert_eq!(
        store.account(account.id).await.expect("by id").as_ref(),
        Some(&account)
    );
    assert_eq!(
        store
            .account_by_user(account.user_oid)
            .await
            .expect("by user")
            .as_ref(),
        Some(&account)
    );
    assert_eq!(
        store
            .account_by_address(&account.address.to_uppercase())
            .await
            .expect("by address")
            .as_ref(),
        Some(&account)
    );
    assert_eq!(
        store.account(Uuid::new_v4()).await.expect("unknown id"),
        None
    );
    assert_eq!(
        store
            .account_by_user(Uuid::new_v4())
            .await
            .expect("unknown user"),
        None
    );
    assert_eq!(
        store
            .account_by_upn(&account.upn.to_uppercase())
            .await
            .expect("by UPN")
            .as_ref(),
        Some(&account)
    );
    // A UPN that differs from the mail address: found by the UPN only.
    let id = Uuid::new_v4().simple().to_string();
    let split = store
        .ensure_account(NewAccount {
            user_oid: Uuid::new_v4(),
            upn: format!("upn.{id}@corp.example"),
            address: format!("mail.{id}@mail.example"),
            display_name: "Split".into(),
            now: t(0),
        })
        .await
        .expect("create account");
    assert_eq!(
        store
            .account_by_upn(&format!("UPN.{id}@corp.example"))
            .await
            .expect("by UPN")
            .as_ref(),
        Some(&split)
    );
    assert_eq!(
        store.account_by_upn(&split.address).await.expect("by UPN"),
        None,
        "the mail address is not the UPN"
    );
    assert_eq!(
        store
            .account_by_address("nobody-at-all@example.com")
            .await
            .expect("unknown address"),
        None
    );
    let listed = store.list_accounts().await.expect("list");
    assert!(listed.contains(&account));
}

/// A new account has INBOX, Sent, Drafts, Trash, Junk and Archive with their roles, all
/// subscribed, empty, with distinct UIDVALIDITY values.
pub async fn default_folders(store: &dyn MailStore) {
    let account = new_account(store, "defaults").await;
    let folders = store.folders(account.id).await.expect("folders");
    let mut names: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        vec!["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]
    );
    let listed: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(listed, names, "folders come in name order");
    for role in SpecialUse::ALL {
        let folder = store
            .folder_by_role(account.id, role)
            .await
            .expect("by role")
            .unwrap_or_else(|| panic!("{role:?} folder"));
        assert_eq!(folder.name, role.default_name());
        assert_eq!(folder.role, Some(role));
        assert_eq!(folder.account, account.id);
        assert!(folder.subscribed, "{role:?} subscribed");
        assert_ne!(folder.uid_validity, 0);
        let status = store.status(folder.id).await.expect("status");
        assert_eq!(status.messages, 0);
        assert_eq!(status.unseen, 0);
        assert_eq!(status.recent, 0);
        assert_eq!(status.size, 0);
        assert_eq!(status.uid_next, 1);
        assert_eq!(status.highest_modseq, 1);
        assert_eq!(status.uid_validity, folder.uid_validity);
    }
    let mut validities: Vec<u32> = folders.iter().map(|f| f.uid_validity).collect();
    validities.sort_unstable();
    validities.dedup();
    assert_eq!(validities.len(), 6, "distinct UIDVALIDITY per folder");
    for spelling in ["inbox", "Inbox", "INBOX"] {
        let inbox = store
            .folder(account.id, spelling)
            .await
            .expect("inbox lookup")
            .expect("INBOX in any case");
        assert_eq!(inbox.name, "INBOX");
    }
    assert_eq!(
        store.folder(account.id, "sent").await.expect("lookup"),
        None,
        "other names are case-sensitive"
    );
}

/// Deleting an account removes it, its folders and messages; a second delete is
/// `NotFound`; the address becomes free again.
pub async fn delete_account(store: &dyn MailStore) {
    let account = new_account(store, "doomed").await;
    let inbox = folder_id(store, account.id, "INBOX").await;
    put(store, inbox, &message("doomed"), Flags::default()).await;
    store.delete_account(account.id).await.expect("delete");
    assert_eq!(store.account(account.id).await.expect("get"), None);
    assert_eq!(
        store
            .account_by_address(&account.address)
            .await
            .expect("by address"),
        None
    );
    assert!(store.folders(account.id).await.expect("folders").is_empty());
    expect_err(
        store.status(inbox).await,
        |e| matches!(e, StoreError::NotFound(_)),
        "status of a deleted account's folder",
    );
    expect_err(
        store.delete_account(account.id).await,
        |e| matches!(e, StoreError::NotFound(_)),
        "second delete",
    );
    let reborn = store
        .ensure_account(NewAccount {
            user_oid: Uuid::new_v4(),
            upn: account.upn.clone(),
            address: account.address.clone(),
            display_name: account.display_name.clone(),
            now: t(5),
        })
        .await
        .expect("address reusable after delete");
    assert_ne!(reborn.id, account.id);
}
