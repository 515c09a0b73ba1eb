//! Conformance checks for second factors and smart lockout: TOTP with replay refusal,
//! recovery codes, passkeys, MFA reset, lockout counters and familiar IP addresses.

use super::*;
use futures::future::join_all;
use mailward_types::records::{LocationClass, LockoutState, PasskeyRecord, TotpRecord};
use std::net::IpAddr;

const RACERS: usize = 16;

fn sample_totp(user: Uuid) -> TotpRecord {
    TotpRecord {
        user_id: user,
        sealed_secret: vec![0x00, 0x01, 0xfe, 0xff, 0x00],
        confirmed: false,
        last_step: None,
        created_at: t(29),
    }
}

/// TOTP: registration round trip and replacement, and step replay refusal.
pub async fn totp(store: &dyn IdentityStore) {
    let user = new_user(store, "totp").await;
    assert_eq!(store.totp(user.id).await.expect("get"), None);
    assert!(
        !store
            .accept_totp_step(user.id, 5)
            .await
            .expect("accept without registration")
    );

    let first = sample_totp(user.id);
    store.put_totp(&first).await.expect("put");
    assert_eq!(store.totp(user.id).await.expect("get"), Some(first));
    let second = TotpRecord {
        sealed_secret: vec![9, 8, 7],
        confirmed: true,
        last_step: Some(100),
        created_at: t(31),
        ..sample_totp(user.id)
    };
    store.put_totp(&second).await.expect("replace");
    assert_eq!(
        store.totp(user.id).await.expect("get"),
        Some(second.clone())
    );

    assert!(
        !store
            .accept_totp_step(user.id, 100)
            .await
            .expect("same step")
    );
    assert!(
        !store
            .accept_totp_step(user.id, 99)
            .await
            .expect("earlier step")
    );
    assert!(
        store
            .accept_totp_step(user.id, 101)
            .await
            .expect("next step")
    );
    assert!(
        !store
            .accept_totp_step(user.id, 101)
            .await
            .expect("replayed step")
    );
    assert!(
        store
            .accept_totp_step(user.id, 150)
            .await
            .expect("later step")
    );
    assert!(
        !store
            .accept_totp_step(user.id, 120)
            .await
            .expect("step in between")
    );
    let stored = store.totp(user.id).await.expect("get");
    assert_eq!(
        stored,
        Some(TotpRecord {
            last_step: Some(150),
            ..second
        })
    );

    // A fresh registration (no step yet) accepts any step once.
    let other = new_user(store, "totp2").await;
    store.put_totp(&sample_totp(other.id)).await.expect("put");
    assert!(
        store
            .accept_totp_step(other.id, 0)
            .await
            .expect("first step")
    );
    assert!(!store.accept_totp_step(other.id, 0).await.expect("replay"));

    assert_not_found(store.put_totp(&sample_totp(Uuid::new_v4())).await);
}

/// Many concurrent acceptances of one TOTP step: exactly one succeeds.
pub async fn totp_race(store: &dyn IdentityStore) {
    let user = new_user(store, "totpracer").await;
    store.put_totp(&sample_totp(user.id)).await.expect("put");
    let outcomes = join_all((0..RACERS).map(|_| store.accept_totp_step(user.id, 1_000))).await;
    let accepted = outcomes
        .into_iter()
        .map(|o| o.expect("accept"))
        .filter(|&a| a)
        .count();
    assert_eq!(accepted, 1, "exactly one acceptance of a step must win");
}

/// Recovery codes: single use, per user, replacement, concurrent use.
pub async fn recovery_codes(store: &dyn IdentityStore) {
    let user = new_user(store, "recovery").await;
    let other = new_user(store, "recovery2").await;
    let codes: Vec<String> = (0..3).map(|_| hash()).collect();
    assert_eq!(
        store.unused_recovery_codes(user.id).await.expect("count"),
        0
    );
    store
        .replace_recovery_codes(user.id, &codes)
        .await
        .expect("replace");
    assert_eq!(
        store.unused_recovery_codes(user.id).await.expect("count"),
        3
    );

    assert!(
        store
            .use_recovery_code(user.id, &codes[1], t(0))
            .await
            .expect("use")
    );
    assert!(
        !store
            .use_recovery_code(user.id, &codes[1], t(SEC))
            .await
            .expect("use again")
    );
    assert!(
        !store
            .use_recovery_code(user.id, &hash(), t(0))
            .await
            .expect("use unknown")
    );
    assert!(
        !store
            .use_recovery_code(other.id, &codes[0], t(0))
            .await
            .expect("other user's")
    );
    assert_eq!(
        store.unused_recovery_codes(user.id).await.expect("count"),
        2
    );

    let fresh: Vec<String> = (0..2).map(|_| hash()).collect();
    store
        .replace_recovery_codes(user.id, &fresh)
        .await
        .expect("replace");
    assert_eq!(
        store.unused_recovery_codes(user.id).await.expect("count"),
        2
    );
    assert!(
        !store
            .use_recovery_code(user.id, &codes[0], t(0))
            .await
            .expect("replaced code")
    );
    assert!(
        store
            .use_recovery_code(user.id, &fresh[0], t(0))
            .await
            .expect("use")
    );
    assert_eq!(
        store.unused_recovery_codes(user.id).await.expect("count"),
        1
    );
    store
        .replace_recovery_codes(user.id, &[])
        .await
        .expect("clear");
    assert_eq!(
        store.unused_recovery_codes(user.id).await.expect("count"),
        0
    );
    assert_not_found(store.replace_recovery_codes(Uuid::new_v4(), &fresh).await);

    let contested = hash();
    store
        .replace_recovery_codes(other.id, std::slice::from_ref(&contested))
        .await
        .expect("replace");
    let outcomes =
        join_all((0..RACERS).map(|_| store.use_recovery_code(other.id, &contested, t(0)))).await;
    let used = outcomes
        .into_iter()
        .map(|o| o.expect("use"))
        .filter(|&u| u)
        .count();
    assert_eq!(used, 1, "exactly one use of a recovery code must win");
    assert_eq!(
        store.unused_recovery_codes(other.id).await.expect("count"),
        0
    );
}

fn sample_passkey(user: Uuid, created_at: OffsetDateTime) -> PasskeyRecord {
    PasskeyRecord {
        id: Uuid::new_v4(),
        user_id: user,
        name: unique("YubiKey"),
        credential_id: unique("cred"),
        passkey_json: r#"{"cred":{"cred_id":"AAEC","counter":0}}"#.to_owned(),
        created_at,
        last_used_at: None,
    }
}

/// Passkeys: ordering, unique credential ids, updates.
pub async fn passkeys(store: &dyn IdentityStore) {
    let user = new_user(store, "passkey").await;
    let other = new_user(store, "passkey2").await;
    let later = sample_passkey(user.id, t(SEC));
    let earlier = PasskeyRecord {
        last_used_at: Some(t(2 * SEC + 1)),
        ..sample_passkey(user.id, t(0))
    };
    store.add_passkey(&later).await.expect("add");
    store.add_passkey(&earlier).await.expect("add");
    assert_eq!(
        store.passkeys(user.id).await.expect("list"),
        vec![earlier.clone(), later.clone()]
    );
    assert!(store.passkeys(other.id).await.expect("list").is_empty());

    let same_credential = PasskeyRecord {
        credential_id: later.credential_id.clone(),
        ..sample_passkey(other.id, t(0))
    };
    assert_conflict(store.add_passkey(&same_credential).await);
    let same_id = PasskeyRecord {
        id: later.id,
        ..sample_passkey(other.id, t(0))
    };
    assert_conflict(store.add_passkey(&same_id).await);
    assert_not_found(
        store
            .add_passkey(&sample_passkey(Uuid::new_v4(), t(0)))
            .await,
    );
    assert!(store.passkeys(other.id).await.expect("list").is_empty());

    let updated = store
        .update_passkey(
            later.id,
            Box::new(|mut p| {
                p.name = "Renamed key".to_owned();
                p.last_used_at = Some(t(MIN + 7));
                p.passkey_json = r#"{"cred":{"counter":1}}"#.to_owned();
                Ok(p)
            }),
        )
        .await
        .expect("update");
    assert_eq!(
        store.passkeys(user.id).await.expect("list"),
        vec![earlier.clone(), updated.clone()]
    );
    assert_refused(store.update_passkey(later.id, refuse()).await);
    let other_id = other.id;
    assert_rejected(
        store
            .update_passkey(
                later.id,
                Box::new(move |mut p| {
                    p.user_id = other_id;
                    Ok(p)
                }),
            )
            .await,
    );
    let taken = earlier.credential_id.clone();
    assert_conflict(
        store
            .update_passkey(
                later.id,
                Box::new(move |mut p| {
                    p.credential_id = taken;
                    Ok(p)
                }),
            )
            .await,
    );
    assert_eq!(
        store.passkeys(user.id).await.expect("list"),
        vec![earlier, updated]
    );
    assert_not_found(store.update_passkey(Uuid::new_v4(), Box::new(Ok)).await);
}

/// `reset_mfa` removes every method of one user and nothing of anyone else.
pub async fn reset_mfa(store: &dyn IdentityStore) {
    let user = new_user(store, "reset").await;
    let other = new_user(store, "keep").await;
    let key = sample_passkey(user.id, t(0));
    for u in [user.id, other.id] {
        store.put_totp(&sample_totp(u)).await.expect("put totp");
        store
            .replace_recovery_codes(u, &[hash(), hash()])
            .await
            .expect("codes");
    }
    store.add_passkey(&key).await.expect("add passkey");
    store
        .add_passkey(&sample_passkey(other.id, t(0)))
        .await
        .expect("add passkey");

    store.reset_mfa(user.id).await.expect("reset");
    assert_eq!(store.totp(user.id).await.expect("totp"), None);
    assert_eq!(
        store.unused_recovery_codes(user.id).await.expect("count"),
        0
    );
    assert!(store.passkeys(user.id).await.expect("passkeys").is_empty());
    assert!(store.totp(other.id).await.expect("totp").is_some());
    assert_eq!(
        store.unused_recovery_codes(other.id).await.expect("count"),
        2
    );
    assert_eq!(store.passkeys(other.id).await.expect("passkeys").len(), 1);

    store.reset_mfa(user.id).await.expect("reset again");
    // The credential id is free again.
    store.add_passkey(&key).await.expect("re-add passkey");
}

/// Lockout: default state, per-class counters, closures see the previous state.
pub async fn lockout(store: &dyn IdentityStore) {
    let user = new_user(store, "lockout").await;
    for class in [LocationClass::Familiar, LocationClass::Unfamiliar] {
        assert_eq!(
            store.lockout(user.id, class).await.expect("get"),
            LockoutState::default()
        );
    }
    assert_eq!(
        store
            .lockout(Uuid::new_v4(), LocationClass::Familiar)
            .await
            .expect("unknown user"),
        LockoutState::default()
    );

    let first = store
        .update_lockout(
            user.id,
            LocationClass::Unfamiliar,
            Box::new(|mut s| {
                s.failures += 1;
                s.recent_bad.push("fp-1".to_owned());
                s.last_failure_at = Some(t(SEC));
                Ok(s)
            }),
        )
        .await
        .expect("update");
    assert_eq!(first.failures, 1);
    assert_eq!(
        store
            .lockout(user.id, LocationClass::Unfamiliar)
            .await
            .expect("get"),
        first
    );
    assert_eq!(
        store
            .lockout(user.id, LocationClass::Familiar)
            .await
            .expect("get"),
        LockoutState::default()
    );

    let second = store
        .update_lockout(
            user.id,
            LocationClass::Unfamiliar,
            Box::new(|mut s| {
                if s.failures != 1 || s.recent_bad != ["fp-1"] {
                    return Err(StoreError::Rejected("stale lockout state".to_owned()));
                }
                s.failures += 1;
                s.recent_bad.push("fp-2".to_owned());
                s.locked_until = Some(t(10 * MIN + 1));
                s.lockouts = 3;
                s.last_failure_at = Some(t(2 * SEC));
                Ok(s)
            }),
        )
        .await
        .expect("update again");
    assert_eq!(
        second,
        LockoutState {
            failures: 2,
            locked_until: Some(t(10 * MIN + 1)),
            lockouts: 3,
            recent_bad: vec!["fp-1".to_owned(), "fp-2".to_owned()],
            last_failure_at: Some(t(2 * SEC)),
        }
    );
    assert_refused(
        store
            .update_lockout(user.id, LocationClass::Unfamiliar, refuse())
            .await,
    );
    assert_refused(
        store
            .update_lockout(user.id, LocationClass::Familiar, refuse())
            .await,
    );
    assert_eq!(
        store
            .lockout(user.id, LocationClass::Unfamiliar)
            .await
            .expect("get"),
        second
    );
    assert_eq!(
        store
            .lockout(user.id, LocationClass::Familiar)
            .await
            .expect("get"),
        LockoutState::default()
    );

    // Resetting to the default is an ordinary update.
    store
        .update_lockout(
            user.id,
            LocationClass::Unfamiliar,
            Box::new(|_| Ok(LockoutState::default())),
        )
        .await
        .expect("reset");
    assert_eq!(
        store
            .lockout(user.id, LocationClass::Unfamiliar)
            .await
            .expect("get"),
        LockoutState::default()
    );
    assert_not_found(
        store
            .update_lockout(Uuid::new_v4(), LocationClass::Familiar, Box::new(Ok))
            .await,
    );
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("valid IP")
}

/// Familiar IPs: most recent first, bounded by `keep`, re-recording moves to the front.
pub async fn familiar_ips(store: &dyn IdentityStore) {
    let user = new_user(store, "roamer").await;
    let (a, b, c, d, e) = (
        ip("192.0.2.1"),
        ip("2001:db8::1"),
        ip("198.51.100.7"),
        ip("203.0.113.9"),
        ip("::ffff:192.0.2.200"),
    );
    assert!(store.familiar_ips(user.id).await.expect("list").is_empty());
    for (i, addr) in [a, b, c].into_iter().enumerate() {
        let when = t(i64::try_from(i).expect("small") * SEC);
        store
            .record_familiar_ip(user.id, addr, when, 3)
            .await
            .expect("record");
    }
    assert_eq!(
        store.familiar_ips(user.id).await.expect("list"),
        vec![c, b, a]
    );
    store
        .record_familiar_ip(user.id, d, t(3 * SEC), 3)
        .await
        .expect("record");
    assert_eq!(
        store.familiar_ips(user.id).await.expect("list"),
        vec![d, c, b]
    );
    store
        .record_familiar_ip(user.id, b, t(4 * SEC), 3)
        .await
        .expect("record again");
    assert_eq!(
        store.familiar_ips(user.id).await.expect("list"),
        vec![b, d, c]
    );
    store
        .record_familiar_ip(user.id, b, t(4 * SEC), 3)
        .await
        .expect("record same");
    assert_eq!(
        store.familiar_ips(user.id).await.expect("list"),
        vec![b, d, c]
    );
    store
        .record_familiar_ip(user.id, e, t(5 * SEC), 2)
        .await
        .expect("record, keep 2");
    assert_eq!(store.familiar_ips(user.id).await.expect("list"), vec![e, b]);
    // Recency follows the order of calls even within one millisecond.
    store
        .record_familiar_ip(user.id, c, t(5 * SEC), 2)
        .await
        .expect("record");
    assert_eq!(store.familiar_ips(user.id).await.expect("list"), vec![c, e]);

    let other = new_user(store, "homebody").await;
    assert!(store.familiar_ips(other.id).await.expect("list").is_empty());
    assert_not_found(store.record_familiar_ip(Uuid::new_v4(), a, t(0), 3).await);
}
