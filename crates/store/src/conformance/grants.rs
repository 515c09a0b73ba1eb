//! Conformance checks for what the token endpoint consumes: authorization codes, refresh
//! tokens, device authorizations, browser sessions and in-progress sign-in flows.

use super::*;
use futures::future::join_all;
use mailward_types::model::{Amr, ClientAppType};
use mailward_types::records::{AuthCode, DeviceCode, DeviceStatus, Redeem, RefreshToken, Session};

/// How many callers race for one single-use item.
const RACERS: usize = 16;

fn sample_code(user: Uuid, expires_at: OffsetDateTime) -> AuthCode {
    AuthCode {
        code_hash: hash(),
        client_id: Uuid::new_v4().to_string(),
        user_id: user,
        redirect_uri: "http://127.0.0.1:53124/cb".to_owned(),
        scopes: vec!["openid".to_owned(), "IMAP.AccessAsUser.All".to_owned()],
        resource: Some("https://mail.conformance.example".to_owned()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned()),
        nonce: Some(unique("nonce")),
        amr: vec![Amr::Pwd, Amr::Otp, Amr::Mfa],
        auth_time: t(-2 * MIN),
        mfa_time: Some(t(-MIN + 1)),
        session_id: Some(Uuid::new_v4()),
        client_app_type: ClientAppType::MobileAppsAndDesktopClients,
        ip: Some("2001:db8::7".to_owned()),
        family_id: Uuid::new_v4(),
        created_at: t(-MIN),
        expires_at,
        redeemed_at: None,
    }
}

fn bare_code(user: Uuid, expires_at: OffsetDateTime) -> AuthCode {
    AuthCode {
        scopes: vec![],
        resource: None,
        code_challenge: None,
        nonce: None,
        amr: vec![],
        mfa_time: None,
        session_id: None,
        client_app_type: ClientAppType::Browser,
        ip: None,
        ..sample_code(user, expires_at)
    }
}

fn redeemed(code: &AuthCode, at: OffsetDateTime) -> AuthCode {
    AuthCode {
        redeemed_at: Some(at),
        ..code.clone()
    }
}

/// Authorization codes: Fresh then Reused, unknown and expired codes, conflicts.
pub async fn auth_codes(store: &dyn IdentityStore) {
    let user = new_user(store, "coder").await;
    let code = sample_code(user.id, t(10 * MIN));
    store.insert_auth_code(&code).await.expect("insert code");
    assert_conflict(store.insert_auth_code(&code).await);
    assert_not_found(
        store
            .insert_auth_code(&sample_code(Uuid::new_v4(), t(10 * MIN)))
            .await,
    );

    assert_eq!(
        store
            .redeem_auth_code(&code.code_hash, t(SEC))
            .await
            .expect("redeem"),
        Redeem::Fresh(redeemed(&code, t(SEC)))
    );
    assert_eq!(
        store
            .redeem_auth_code(&code.code_hash, t(2 * SEC))
            .await
            .expect("redeem again"),
        Redeem::Reused(redeemed(&code, t(SEC)))
    );
    assert_eq!(
        store
            .redeem_auth_code(&hash(), t(0))
            .await
            .expect("redeem unknown"),
        Redeem::NotFound
    );

    // Expired codes are NotFound, at the boundary too, and are not marked by the attempt.
    let expired = sample_code(user.id, t(-SEC));
    store.insert_auth_code(&expired).await.expect("insert code");
    assert_eq!(
        store
            .redeem_auth_code(&expired.code_hash, t(0))
            .await
            .expect("redeem expired"),
        Redeem::NotFound
    );
    let edge = bare_code(user.id, t(5 * MIN));
    store.insert_auth_code(&edge).await.expect("insert code");
    assert_eq!(
        store
            .redeem_auth_code(&edge.code_hash, t(5 * MIN))
            .await
            .expect("redeem at expiry"),
        Redeem::NotFound
    );
    assert_eq!(
        store
            .redeem_auth_code(&edge.code_hash, t(5 * MIN - 1))
            .await
            .expect("redeem"),
        Redeem::Fresh(redeemed(&edge, t(5 * MIN - 1)))
    );
    // Once expired, even a redeemed code is NotFound.
    assert_eq!(
        store
            .redeem_auth_code(&code.code_hash, t(10 * MIN))
            .await
            .expect("redeem expired"),
        Redeem::NotFound
    );
}

/// Many concurrent redemptions of one code: exactly one is Fresh.
pub async fn auth_code_race(store: &dyn IdentityStore) {
    let user = new_user(store, "racer").await;
    let code = sample_code(user.id, t(10 * MIN));
    store.insert_auth_code(&code).await.expect("insert code");
    let outcomes =
        join_all((0..RACERS).map(|_| store.redeem_auth_code(&code.code_hash, t(SEC)))).await;
    let mut fresh = 0;
    for outcome in outcomes {
        match outcome.expect("redeem") {
            Redeem::Fresh(c) => {
                fresh += 1;
                assert_eq!(c, redeemed(&code, t(SEC)));
            }
            Redeem::Reused(c) => assert_eq!(c, redeemed(&code, t(SEC))),
            Redeem::NotFound => panic!("a racing redemption saw NotFound"),
        }
    }
    assert_eq!(fresh, 1, "exactly one redemption must win");
}

fn sample_token(user: Uuid, family: Uuid, expires_at: OffsetDateTime) -> RefreshToken {
    RefreshToken {
        token_hash: hash(),
        family_id: family,
        client_id: Uuid::new_v4().to_string(),
        user_id: user,
        scopes: vec!["offline_access".to_owned(), "SMTP.Send".to_owned()],
        resource: Some("https://mail.conformance.example".to_owned()),
        amr: vec![Amr::Pwd, Amr::Hwk, Amr::Mfa],
        auth_time: t(-3 * MIN),
        mfa_time: Some(t(-3 * MIN + 9)),
        session_id: Some(Uuid::new_v4()),
        client_app_type: ClientAppType::MobileAppsAndDesktopClients,
        created_at: t(-MIN),
        expires_at,
        used_at: None,
        revoked_at: None,
    }
}

fn used(token: &RefreshToken, at: OffsetDateTime) -> RefreshToken {
    RefreshToken {
        used_at: Some(at),
        ..token.clone()
    }
}

/// Refresh tokens: rotation Fresh then Reused, family revocation, expiry, conflicts.
pub async fn refresh_tokens(store: &dyn IdentityStore) {
    let user = new_user(store, "rotator").await;
    let family = Uuid::new_v4();
    let t1 = sample_token(user.id, family, t(DAY));
    store.insert_refresh_token(&t1).await.expect("insert token");
    assert_eq!(
        store.refresh_token(&t1.token_hash).await.expect("lookup"),
        Some(t1.clone())
    );
    assert_eq!(store.refresh_token(&hash()).await.expect("lookup"), None);
    assert_conflict(store.insert_refresh_token(&t1).await);
    assert_not_found(
        store
            .insert_refresh_token(&sample_token(Uuid::new_v4(), family, t(DAY)))
            .await,
    );

    // Rotation: t1 -> t2 -> t3.
    assert_eq!(
        store
            .use_refresh_token(&t1.token_hash, t(SEC))
            .await
            .expect("use t1"),
        Redeem::Fresh(used(&t1, t(SEC)))
    );
    let t2 = RefreshToken {
        scopes: vec![],
        resource: None,
        amr: vec![],
        mfa_time: None,
        session_id: None,
        client_app_type: ClientAppType::Browser,
        ..sample_token(user.id, family, t(DAY))
    };
    store.insert_refresh_token(&t2).await.expect("insert t2");
    assert_eq!(
        store
            .use_refresh_token(&t1.token_hash, t(2 * SEC))
            .await
            .expect("reuse t1"),
        Redeem::Reused(used(&t1, t(SEC)))
    );
    assert_eq!(
        store
            .use_refresh_token(&t2.token_hash, t(3 * SEC))
            .await
            .expect("use t2"),
        Redeem::Fresh(used(&t2, t(3 * SEC)))
    );
    let t3 = sample_token(user.id, family, t(DAY));
    store.insert_refresh_token(&t3).await.expect("insert t3");

    // Revoking the family counts the one live token, then nothing.
    assert_eq!(
        store
            .revoke_family(family, t(10 * SEC))
            .await
            .expect("revoke"),
        1
    );
    assert_eq!(
        store
            .revoke_family(family, t(11 * SEC))
            .await
            .expect("revoke again"),
        0
    );
    for token in [&t1, &t2, &t3] {
        let stored = store
            .refresh_token(&token.token_hash)
            .await
            .expect("lookup");
        let stored = stored.expect("revoked tokens are kept");
        assert_eq!(
            stored.revoked_at,
            Some(t(10 * SEC)),
            "every family member is revoked"
        );
    }
    let revoked_t3 = RefreshToken {
        revoked_at: Some(t(10 * SEC)),
        ..t3.clone()
    };
    assert_eq!(
        store
            .use_refresh_token(&t3.token_hash, t(12 * SEC))
            .await
            .expect("use revoked"),
        Redeem::Reused(revoked_t3)
    );
    assert_eq!(
        store
            .revoke_family(Uuid::new_v4(), t(0))
            .await
            .expect("revoke none"),
        0
    );

    // Unknown and expired tokens are NotFound, at the boundary too.
    assert_eq!(
        store
            .use_refresh_token(&hash(), t(0))
            .await
            .expect("use unknown"),
        Redeem::NotFound
    );
    let expired = sample_token(user.id, Uuid::new_v4(), t(-1));
    store.insert_refresh_token(&expired).await.expect("insert");
    assert_eq!(
        store
            .use_refresh_token(&expired.token_hash, t(0))
            .await
            .expect("use expired"),
        Redeem::NotFound
    );
    let edge = sample_token(user.id, Uuid::new_v4(), t(MIN));
    store.insert_refresh_token(&edge).await.expect("insert");
    assert_eq!(
        store
            .use_refresh_token(&edge.token_hash, t(MIN))
            .await
            .expect("use at expiry"),
        Redeem::NotFound
    );
    assert_eq!(
        store
            .use_refresh_token(&edge.token_hash, t(MIN - 1))
            .await
            .expect("use"),
        Redeem::Fresh(used(&edge, t(MIN - 1)))
    );
    // Past expiry, a used token is NotFound as well.
    assert_eq!(
        store
            .use_refresh_token(&edge.token_hash, t(MIN))
            .await
            .expect("use expired"),
        Redeem::NotFound
    );
}

/// Many concurrent uses of one refresh token: exactly one is Fresh.
pub async fn refresh_token_race(store: &dyn IdentityStore) {
    let user = new_user(store, "tokenracer").await;
    let token = sample_token(user.id, Uuid::new_v4(), t(DAY));
    store.insert_refresh_token(&token).await.expect("insert");
    let outcomes =
        join_all((0..RACERS).map(|_| store.use_refresh_token(&token.token_hash, t(SEC)))).await;
    let mut fresh = 0;
    for outcome in outcomes {
        match outcome.expect("use") {
            Redeem::Fresh(_) => fresh += 1,
            Redeem::Reused(tok) => assert_eq!(tok, used(&token, t(SEC))),
            Redeem::NotFound => panic!("a racing use saw NotFound"),
        }
    }
    assert_eq!(fresh, 1, "exactly one use must win");
}

/// `rotate_refresh_token`: the successor copies the grant, the parent is spent, a second
/// rotation of the parent is `Reused`, unknown/expired tokens are `NotFound`, revoked ones
/// `Reused`, and concurrent rotations of one token have exactly one winner.
pub async fn refresh_token_rotation(store: &dyn IdentityStore) {
    let user = new_user(store, "rotator").await;
    let family = Uuid::new_v4();
    let a = sample_token(user.id, family, t(DAY));
    store.insert_refresh_token(&a).await.expect("insert");
    let (b_hash, c_hash) = (hash(), hash());
    let b = match store
        .rotate_refresh_token(&a.token_hash, &b_hash, t(SEC), t(2 * DAY))
        .await
        .expect("rotate")
    {
        Redeem::Fresh(rotation) => {
            let u = rotation
                .user
                .as_ref()
                .expect("the user comes with the successor");
            assert_eq!(u, &user, "the user is read in the rotation");
            rotation.token
        }
        other => panic!("first rotation must win: {other:?}"),
    };
    assert_eq!(b.token_hash, b_hash);
    assert_eq!(
        (b.family_id, b.user_id, &b.client_id, &b.scopes, &b.resource),
        (a.family_id, a.user_id, &a.client_id, &a.scopes, &a.resource)
    );
    assert_eq!(
        (
            &b.amr,
            b.auth_time,
            b.mfa_time,
            b.session_id,
            b.client_app_type
        ),
        (
            &a.amr,
            a.auth_time,
            a.mfa_time,
            a.session_id,
            a.client_app_type
        )
    );
    assert_eq!(
        (b.created_at, b.expires_at, b.used_at, b.revoked_at),
        (t(SEC), t(2 * DAY), None, None)
    );
    assert_eq!(
        store
            .refresh_token(&a.token_hash)
            .await
            .expect("read")
            .map(|x| x.used_at),
        Some(Some(t(SEC))),
        "the parent is spent"
    );
    match store
        .rotate_refresh_token(&a.token_hash, &c_hash, t(2 * SEC), t(2 * DAY))
        .await
        .expect("replay")
    {
        Redeem::Reused(old) => assert_eq!(old.token.token_hash, a.token_hash),
        other => panic!("rotating a spent token must be Reused: {other:?}"),
    }
    assert!(
        store.refresh_token(&c_hash).await.expect("read").is_none(),
        "a refused rotation stores nothing"
    );
    assert_eq!(
        store
            .rotate_refresh_token(&hash(), &hash(), t(0), t(DAY))
            .await
            .expect("unknown"),
        Redeem::NotFound
    );
    let expired = sample_token(user.id, Uuid::new_v4(), t(-MIN));
    store
        .insert_refresh_token(&expired)
        .await
        .expect("insert expired");
    assert_eq!(
        store
            .rotate_refresh_token(&expired.token_hash, &hash(), t(0), t(DAY))
            .await
            .expect("expired"),
        Redeem::NotFound
    );
    assert_eq!(
        store
            .revoke_family(family, t(3 * SEC))
            .await
            .expect("revoke"),
        1,
        "only the successor was live"
    );
    assert!(matches!(
        store
            .rotate_refresh_token(&b_hash, &hash(), t(4 * SEC), t(DAY))
            .await
            .expect("revoked"),
        Redeem::Reused(_)
    ));

    let racer = sample_token(user.id, Uuid::new_v4(), t(DAY));
    store
        .insert_refresh_token(&racer)
        .await
        .expect("insert racer");
    let outcomes = join_all((0..RACERS).map(|_| {
        let h = hash();
        let racer_hash = racer.token_hash.clone();
        async move {
            store
                .rotate_refresh_token(&racer_hash, &h, t(SEC), t(DAY))
                .await
        }
    }))
    .await;
    let fresh = outcomes
        .into_iter()
        .filter(|o| matches!(o, Ok(Redeem::Fresh(_))))
        .count();
    assert_eq!(fresh, 1, "exactly one rotation must win");
}

/// `revoke_user_tokens` counts the user's live tokens and leaves other users alone.
pub async fn revoke_user_tokens(store: &dyn IdentityStore) {
    let user = new_user(store, "revokee").await;
    let other = new_user(store, "bystander").await;
    let live_a = sample_token(user.id, Uuid::new_v4(), t(DAY));
    let family_b = Uuid::new_v4();
    let spent_b = sample_token(user.id, family_b, t(DAY));
    let live_b = sample_token(user.id, family_b, t(DAY));
    let expired = sample_token(user.id, Uuid::new_v4(), t(-MIN));
    let others = sample_token(other.id, Uuid::new_v4(), t(DAY));
    for token in [&live_a, &spent_b, &live_b, &expired, &others] {
        store.insert_refresh_token(token).await.expect("insert");
    }
    assert!(matches!(
        store
            .use_refresh_token(&spent_b.token_hash, t(0))
            .await
            .expect("use"),
        Redeem::Fresh(_)
    ));

    assert_eq!(
        store
            .revoke_user_tokens(user.id, t(SEC))
            .await
            .expect("revoke"),
        2
    );
    assert_eq!(
        store
            .revoke_user_tokens(user.id, t(2 * SEC))
            .await
            .expect("revoke again"),
        0
    );
    for token in [&live_a, &live_b] {
        assert!(matches!(
            store
                .use_refresh_token(&token.token_hash, t(3 * SEC))
                .await
                .expect("use"),
            Redeem::Reused(_)
        ));
        let stored = store
            .refresh_token(&token.token_hash)
            .await
            .expect("lookup");
        assert_eq!(stored.and_then(|s| s.revoked_at), Some(t(SEC)));
    }
    assert_eq!(
        store
            .use_refresh_token(&others.token_hash, t(3 * SEC))
            .await
            .expect("use"),
        Redeem::Fresh(used(&others, t(3 * SEC)))
    );
    assert_eq!(
        store
            .revoke_user_tokens(Uuid::new_v4(), t(0))
            .await
            .expect("revoke none"),
        0
    );
}

fn sample_device(created_at: OffsetDateTime, expires_at: OffsetDateTime) -> DeviceCode {
    DeviceCode {
        device_code_hash: hash(),
        user_code_hash: hash(),
        client_id: Uuid::new_v4().to_string(),
        scopes: vec!["openid".to_owned(), "offline_access".to_owned()],
        resource: Some("https://admin.conformance.example".to_owned()),
        status: DeviceStatus::Pending,
        interval_secs: 5,
        created_at,
        expires_at,
        last_poll_at: None,
        ip: Some("198.51.100.4".to_owned()),
    }
}

/// Device codes: lookups, user-code conflicts, reuse of expired user codes, status updates.
pub async fn device_codes(store: &dyn IdentityStore) {
    let user = new_user(store, "device").await;
    let code = sample_device(t(0), t(15 * MIN));
    store.insert_device_code(&code).await.expect("insert");
    assert_eq!(
        store
            .device_code_by_user_code(&code.user_code_hash)
            .await
            .expect("lookup"),
        Some(code.clone())
    );
    assert_eq!(
        store
            .device_code_by_user_code(&hash())
            .await
            .expect("lookup"),
        None
    );

    // The user code is in use while the request lives; the device code is unique.
    let same_user_code = DeviceCode {
        user_code_hash: code.user_code_hash.clone(),
        ..sample_device(t(MIN), t(16 * MIN))
    };
    assert_conflict(store.insert_device_code(&same_user_code).await);
    let same_device_code = DeviceCode {
        device_code_hash: code.device_code_hash.clone(),
        ..sample_device(t(0), t(15 * MIN))
    };
    assert_conflict(store.insert_device_code(&same_device_code).await);

    // Polling, approval, redemption.
    let polled = store
        .update_device_code(
            &code.device_code_hash,
            Box::new(|mut c| {
                c.last_poll_at = Some(t(5 * SEC + 1));
                c.interval_secs = 10;
                Ok(c)
            }),
        )
        .await
        .expect("poll");
    assert_eq!(
        store
            .device_code_by_user_code(&code.user_code_hash)
            .await
            .expect("lookup"),
        Some(polled)
    );
    let approval = DeviceStatus::Approved {
        user_id: user.id,
        amr: vec![Amr::Pwd, Amr::Mfa],
        auth_time: t(30 * SEC),
        mfa_time: Some(t(31 * SEC)),
        session_id: Some(Uuid::new_v4()),
    };
    let status = approval.clone();
    let approved = store
        .update_device_code(
            &code.device_code_hash,
            Box::new(move |mut c| {
                c.status = status;
                Ok(c)
            }),
        )
        .await
        .expect("approve");
    assert_eq!(approved.status, approval);
    assert_eq!(
        store
            .device_code_by_user_code(&code.user_code_hash)
            .await
            .expect("lookup"),
        Some(approved.clone())
    );
    let bare_approval = DeviceStatus::Approved {
        user_id: user.id,
        amr: vec![],
        auth_time: t(32 * SEC),
        mfa_time: None,
        session_id: None,
    };
    for status in [bare_approval, DeviceStatus::Denied, DeviceStatus::Redeemed] {
        let next = status.clone();
        store
            .update_device_code(
                &code.device_code_hash,
                Box::new(move |mut c| {
                    c.status = next;
                    Ok(c)
                }),
            )
            .await
            .expect("set status");
        let stored = store
            .device_code_by_user_code(&code.user_code_hash)
            .await
            .expect("lookup");
        assert_eq!(stored.map(|c| c.status), Some(status));
    }
    let current = store
        .device_code_by_user_code(&code.user_code_hash)
        .await
        .expect("lookup");
    assert_refused(
        store
            .update_device_code(&code.device_code_hash, refuse())
            .await,
    );
    assert_rejected(
        store
            .update_device_code(
                &code.device_code_hash,
                Box::new(|mut c| {
                    c.device_code_hash = hash();
                    Ok(c)
                }),
            )
            .await,
    );
    assert_eq!(
        store
            .device_code_by_user_code(&code.user_code_hash)
            .await
            .expect("lookup"),
        current
    );
    assert_not_found(store.update_device_code(&hash(), Box::new(Ok)).await);

    // An expired request gives its user code up to a new one.
    let old = sample_device(t(-20 * MIN), t(-5 * MIN));
    store
        .insert_device_code(&old)
        .await
        .expect("insert expired");
    let new = DeviceCode {
        user_code_hash: old.user_code_hash.clone(),
        ..sample_device(t(0), t(15 * MIN))
    };
    store
        .insert_device_code(&new)
        .await
        .expect("reuse an expired user code");
    assert_eq!(
        store
            .device_code_by_user_code(&old.user_code_hash)
            .await
            .expect("lookup"),
        Some(new.clone())
    );
    // Moving a request onto a live user code conflicts.
    let taken = code.user_code_hash.clone();
    assert_conflict(
        store
            .update_device_code(
                &new.device_code_hash,
                Box::new(move |mut c| {
                    c.user_code_hash = taken;
                    Ok(c)
                }),
            )
            .await,
    );
}

fn sample_session(user: Uuid) -> Session {
    Session {
        id: Uuid::new_v4(),
        secret_hash: hash(),
        user_id: user,
        amr: vec![Amr::Pwd, Amr::Otp, Amr::Mfa],
        auth_time: t(-MIN),
        mfa_time: Some(t(-MIN + 3)),
        created_at: t(-MIN),
        expires_at: t(8 * 60 * MIN),
    }
}

/// Browser sessions: round trip, conflicts, updates, deletion one by one and per user.
pub async fn sessions(store: &dyn IdentityStore) {
    let user = new_user(store, "browser").await;
    let other = new_user(store, "otherbrowser").await;
    let s1 = sample_session(user.id);
    let s2 = Session {
        amr: vec![Amr::Pwd],
        mfa_time: None,
        ..sample_session(user.id)
    };
    store.insert_session(&s1).await.expect("insert");
    store.insert_session(&s2).await.expect("insert");
    assert_eq!(store.session(s1.id).await.expect("get"), Some(s1.clone()));
    assert_eq!(store.session(s2.id).await.expect("get"), Some(s2.clone()));
    assert_eq!(store.session(Uuid::new_v4()).await.expect("get"), None);
    assert_conflict(store.insert_session(&s1).await);
    assert_not_found(store.insert_session(&sample_session(Uuid::new_v4())).await);

    let updated = store
        .update_session(
            s2.id,
            Box::new(|mut s| {
                s.amr = vec![Amr::Pwd, Amr::Hwk, Amr::Mfa];
                s.mfa_time = Some(t(MIN + 1));
                s.expires_at = t(16 * 60 * MIN);
                Ok(s)
            }),
        )
        .await
        .expect("update");
    assert_eq!(
        store.session(s2.id).await.expect("get"),
        Some(updated.clone())
    );
    assert_refused(store.update_session(s2.id, refuse()).await);
    let other_id = other.id;
    assert_rejected(
        store
            .update_session(
                s2.id,
                Box::new(move |mut s| {
                    s.user_id = other_id;
                    Ok(s)
                }),
            )
            .await,
    );
    assert_eq!(store.session(s2.id).await.expect("get"), Some(updated));
    assert_not_found(store.update_session(Uuid::new_v4(), Box::new(Ok)).await);

    assert!(store.delete_session(s2.id).await.expect("delete"));
    assert!(!store.delete_session(s2.id).await.expect("delete again"));
    assert_eq!(store.session(s2.id).await.expect("get"), None);

    let s3 = sample_session(user.id);
    let theirs = sample_session(other.id);
    store.insert_session(&s3).await.expect("insert");
    store.insert_session(&theirs).await.expect("insert");
    assert_eq!(
        store
            .delete_user_sessions(user.id)
            .await
            .expect("delete all"),
        2
    );
    assert_eq!(
        store
            .delete_user_sessions(user.id)
            .await
            .expect("delete all again"),
        0
    );
    assert_eq!(store.session(s1.id).await.expect("get"), None);
    assert_eq!(store.session(s3.id).await.expect("get"), None);
    assert_eq!(store.session(theirs.id).await.expect("get"), Some(theirs));
}

/// Sign-in flows: expiry, overwrite, deletion.
pub async fn flows(store: &dyn IdentityStore) {
    let id = Uuid::new_v4();
    let state = r#"{"step":"password","upn":"a@b.example","n":[1,2]}"#;
    store.put_flow(id, state, t(10 * MIN)).await.expect("put");
    assert_eq!(
        store.flow(id, t(0)).await.expect("get").as_deref(),
        Some(state)
    );
    assert_eq!(
        store
            .flow(id, t(10 * MIN - 1))
            .await
            .expect("get")
            .as_deref(),
        Some(state)
    );
    assert_eq!(
        store.flow(id, t(10 * MIN)).await.expect("get at expiry"),
        None
    );
    store
        .put_flow(id, "{}", t(20 * MIN))
        .await
        .expect("overwrite");
    assert_eq!(
        store.flow(id, t(15 * MIN)).await.expect("get").as_deref(),
        Some("{}")
    );
    store.delete_flow(id).await.expect("delete");
    assert_eq!(store.flow(id, t(0)).await.expect("get"), None);
    store.delete_flow(id).await.expect("delete again");
    assert_eq!(
        store.flow(Uuid::new_v4(), t(0)).await.expect("get unknown"),
        None
    );
}
