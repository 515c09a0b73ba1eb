//! Conformance checks for the sign-in log (filters, limits, order), `purge_expired` and
//! the cascade of `delete_user`.

use super::*;
use futures::future::join_all;
use mailward_types::model::{Amr, ClientAppType, Group};
use mailward_types::records::{
    AuthCode, AuthStep, DeviceCode, DeviceStatus, LocationClass, LockoutState, PasskeyRecord,
    PolicyOutcome, Redeem, RefreshToken, Session, SignInEvent, SignInFilter, SignInResult,
    TotpRecord,
};

fn sample_event(created: OffsetDateTime, upn: &str, app: &str) -> SignInEvent {
    SignInEvent {
        id: Uuid::new_v4(),
        created_date_time: created,
        user_id: Some(Uuid::new_v4()),
        user_principal_name: Some(upn.to_owned()),
        app_id: Some(app.to_owned()),
        app_display_name: Some("Conformance Mail".to_owned()),
        resource: Some("https://mail.conformance.example".to_owned()),
        client_app_used: ClientAppType::Browser,
        ip_address: Some("192.0.2.1".to_owned()),
        user_agent: Some("conformance/1.0".to_owned()),
        protocol: None,
        flow: "authorization_code".to_owned(),
        steps: vec![AuthStep {
            method: "password".to_owned(),
            succeeded: true,
            detail: None,
        }],
        result: SignInResult::Success,
        error_code: None,
        failure_reason: None,
        policies: vec![],
        amr: vec![Amr::Pwd],
        location_class: Some(LocationClass::Familiar),
        correlation_id: Uuid::new_v4(),
    }
}

/// Sign-in log batches: all events of a batch land (77 = chunks of 64, 8, 4 and 1); a
/// batch with a duplicate id writes nothing.
pub async fn signin_log_batch(store: &dyn IdentityStore) {
    let upn = format!("{}@conformance.example", unique("batcher"));
    let base = t(5_000);
    let events: Vec<SignInEvent> = (0..77)
        .map(|i| sample_event(base + time::Duration::milliseconds(i), &upn, "batch-app"))
        .collect();
    store.append_signins(&events).await.expect("batch append");
    store.append_signins(&[]).await.expect("empty batch");
    let got = store
        .signins(&SignInFilter {
            user: Some(upn.clone()),
            ..Default::default()
        })
        .await
        .expect("read batch");
    assert_eq!(got.len(), 77, "every event of the batch is stored");
    assert_eq!(got[0].id, events[76].id, "newest first");
    let mut want: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    let mut have: Vec<Uuid> = got.iter().map(|e| e.id).collect();
    want.sort();
    have.sort();
    assert_eq!(have, want, "each event once");

    let upn2 = format!("{}@conformance.example", unique("batcher"));
    let fresh = sample_event(base, &upn2, "batch-app");
    let mut dup = sample_event(base, &upn2, "batch-app");
    dup.id = events[0].id;
    assert!(
        store.append_signins(&[fresh, dup]).await.is_err(),
        "a duplicate id fails the batch"
    );
    let got = store
        .signins(&SignInFilter {
            user: Some(upn2),
            ..Default::default()
        })
        .await
        .expect("read after failed batch");
    assert!(
        got.is_empty(),
        "a failed batch leaves nothing half-written: {got:?}"
    );
}

/// Sign-in log: round trip, every filter field, newest first, limits, conflicts.
pub async fn signin_log(store: &dyn IdentityStore) {
    let upn = format!("{}@Conformance.Example", unique("Logger"));
    let (app_a, app_b) = (unique("app-a"), unique("app-b"));
    let user_id = Uuid::new_v4();
    let mine = |offset: i64, app: &str| SignInEvent {
        user_id: Some(user_id),
        ..sample_event(t(offset), &upn, app)
    };
    let e1 = mine(SEC, &app_a);
    let e2 = SignInEvent {
        result: SignInResult::Failure,
        error_code: Some(50126),
        failure_reason: Some("Invalid username or password.".to_owned()),
        client_app_used: ClientAppType::Other,
        ip_address: Some("192.0.2.2".to_owned()),
        protocol: Some("IMAP4".to_owned()),
        flow: "basic".to_owned(),
        amr: vec![],
        steps: vec![AuthStep {
            method: "password".to_owned(),
            succeeded: false,
            detail: Some("wrong password".to_owned()),
        }],
        ..mine(2 * SEC, &app_a)
    };
    let e3 = SignInEvent {
        result: SignInResult::Interrupted,
        error_code: Some(50076),
        client_app_used: ClientAppType::MobileAppsAndDesktopClients,
        location_class: None,
        ..mine(3 * SEC, &app_b)
    };
    let e4 = SignInEvent {
        ip_address: Some("192.0.2.3".to_owned()),
        amr: vec![Amr::Pwd, Amr::Otp, Amr::Mfa],
        policies: vec![PolicyOutcome {
            id: Uuid::new_v4().to_string(),
            display_name: "Require MFA".to_owned(),
            result: "success".to_owned(),
            enforced_grant_controls: vec!["mfa".to_owned()],
            enforced_session_controls: vec![],
        }],
        ..mine(4 * SEC + 1, &app_b)
    };
    let e5 = SignInEvent {
        result: SignInResult::Failure,
        error_code: Some(50053),
        location_class: Some(LocationClass::Unfamiliar),
        ..mine(5 * SEC, &app_a)
    };
    let ghost = SignInEvent {
        user_id: None,
        result: SignInResult::Failure,
        error_code: Some(50034),
        ip_address: None,
        user_agent: None,
        ..sample_event(
            t(6 * SEC),
            &format!("{}@conformance.example", unique("ghost")),
            &app_a,
        )
    };
    // Appended out of order: the log orders by time.
    for event in [&e3, &e1, &ghost, &e5, &e2, &e4] {
        store.append_signin(event).await.expect("append");
    }
    assert_conflict(store.append_signin(&e1).await);

    let by_user = |f: SignInFilter| SignInFilter {
        user: Some(upn.clone()),
        ..f
    };
    let check = |filter: SignInFilter, want: Vec<&SignInEvent>| {
        let want: Vec<SignInEvent> = want.into_iter().cloned().collect();
        async move {
            let got = store.signins(&filter).await.expect("signins");
            assert_eq!(got, want, "filter {filter:?}");
        }
    };
    let all_mine = vec![&e5, &e4, &e3, &e2, &e1];
    check(by_user(SignInFilter::default()), all_mine.clone()).await;
    check(
        SignInFilter {
            user: Some(upn.to_lowercase()),
            ..SignInFilter::default()
        },
        all_mine.clone(),
    )
    .await;
    check(
        SignInFilter {
            user: Some(upn.to_uppercase()),
            ..SignInFilter::default()
        },
        all_mine,
    )
    .await;
    check(
        SignInFilter {
            app_id: Some(app_a.clone()),
            ..SignInFilter::default()
        },
        vec![&ghost, &e5, &e2, &e1],
    )
    .await;
    check(
        SignInFilter {
            app_id: Some(app_a.clone()),
            result: Some(SignInResult::Failure),
            ..SignInFilter::default()
        },
        vec![&ghost, &e5, &e2],
    )
    .await;
    check(
        by_user(SignInFilter {
            result: Some(SignInResult::Interrupted),
            ..SignInFilter::default()
        }),
        vec![&e3],
    )
    .await;
    check(
        by_user(SignInFilter {
            error_code: Some(50126),
            ..SignInFilter::default()
        }),
        vec![&e2],
    )
    .await;
    check(
        by_user(SignInFilter {
            client_app_type: Some(ClientAppType::Browser),
            ..SignInFilter::default()
        }),
        vec![&e5, &e4, &e1],
    )
    .await;
    check(
        by_user(SignInFilter {
            ip: Some("192.0.2.1".to_owned()),
            ..SignInFilter::default()
        }),
        vec![&e5, &e3, &e1],
    )
    .await;
    check(
        by_user(SignInFilter {
            since: Some(t(2 * SEC)),
            ..SignInFilter::default()
        }),
        vec![&e5, &e4, &e3, &e2],
    )
    .await;
    check(
        by_user(SignInFilter {
            until: Some(t(4 * SEC + 1)),
            ..SignInFilter::default()
        }),
        vec![&e3, &e2, &e1],
    )
    .await;
    check(
        by_user(SignInFilter {
            since: Some(t(2 * SEC)),
            until: Some(t(5 * SEC)),
            ..SignInFilter::default()
        }),
        vec![&e4, &e3, &e2],
    )
    .await;
    check(
        by_user(SignInFilter {
            limit: Some(2),
            ..SignInFilter::default()
        }),
        vec![&e5, &e4],
    )
    .await;
    check(
        by_user(SignInFilter {
            limit: Some(0),
            ..SignInFilter::default()
        }),
        vec![],
    )
    .await;
    check(
        SignInFilter {
            app_id: Some(app_b.clone()),
            user: Some(upn.clone()),
            result: Some(SignInResult::Success),
            client_app_type: Some(ClientAppType::Browser),
            ip: Some("192.0.2.3".to_owned()),
            since: Some(t(0)),
            until: Some(t(DAY)),
            error_code: None,
            limit: Some(10),
        },
        vec![&e4],
    )
    .await;
    check(
        SignInFilter {
            user: Some(format!("{}@conformance.example", unique("nobody"))),
            ..SignInFilter::default()
        },
        vec![],
    )
    .await;
}

/// Sign-in log limits: 100 by default, at most 1000, always the newest.
pub async fn signin_log_limits(store: &dyn IdentityStore) {
    let upn = format!("{}@conformance.example", unique("busy"));
    let app = unique("busy-app");
    let total: i64 = 1_010;
    let events: Vec<SignInEvent> = (0..total)
        .map(|i| sample_event(t(i * 7), &upn, &app))
        .collect();
    for chunk in events.chunks(64) {
        for outcome in join_all(chunk.iter().map(|e| store.append_signin(e))).await {
            outcome.expect("append");
        }
    }
    let newest_first: Vec<SignInEvent> = events.iter().rev().cloned().collect();
    let filter = SignInFilter {
        app_id: Some(app.clone()),
        ..SignInFilter::default()
    };
    let got = store.signins(&filter).await.expect("signins");
    assert_eq!(got.len(), 100, "the default limit is 100");
    assert_eq!(got[..], newest_first[..100]);
    let got = store
        .signins(&SignInFilter {
            limit: Some(5_000),
            ..filter.clone()
        })
        .await
        .expect("signins");
    assert_eq!(got.len(), 1000, "limits are capped at 1000");
    assert_eq!(got[..], newest_first[..1000]);
    let got = store
        .signins(&SignInFilter {
            limit: Some(3),
            since: Some(t(10 * 7)),
            until: Some(t(20 * 7)),
            ..filter
        })
        .await
        .expect("signins");
    assert_eq!(got[..], newest_first[990..993]);
}

fn code(user: Uuid, expires_at: OffsetDateTime) -> AuthCode {
    AuthCode {
        code_hash: hash(),
        client_id: Uuid::new_v4().to_string(),
        user_id: user,
        redirect_uri: "https://app.conformance.example/cb".to_owned(),
        scopes: vec!["openid".to_owned()],
        resource: None,
        code_challenge: None,
        nonce: None,
        amr: vec![Amr::Pwd],
        auth_time: t(-30 * MIN),
        mfa_time: None,
        session_id: None,
        client_app_type: ClientAppType::Browser,
        ip: None,
        family_id: Uuid::new_v4(),
        created_at: expires_at - time::Duration::minutes(10),
        expires_at,
        redeemed_at: None,
    }
}

fn token(user: Uuid, expires_at: OffsetDateTime) -> RefreshToken {
    RefreshToken {
        token_hash: hash(),
        family_id: Uuid::new_v4(),
        client_id: Uuid::new_v4().to_string(),
        user_id: user,
        scopes: vec!["offline_access".to_owned()],
        resource: None,
        amr: vec![Amr::Pwd],
        auth_time: expires_at - time::Duration::days(90),
        mfa_time: None,
        session_id: None,
        client_app_type: ClientAppType::MobileAppsAndDesktopClients,
        created_at: expires_at - time::Duration::days(90),
        expires_at,
        used_at: None,
        revoked_at: None,
    }
}

fn session(user: Uuid, expires_at: OffsetDateTime) -> Session {
    Session {
        id: Uuid::new_v4(),
        secret_hash: hash(),
        user_id: user,
        amr: vec![Amr::Pwd],
        auth_time: expires_at - time::Duration::hours(8),
        mfa_time: None,
        created_at: expires_at - time::Duration::hours(8),
        expires_at,
    }
}

fn device(expires_at: OffsetDateTime) -> DeviceCode {
    DeviceCode {
        device_code_hash: hash(),
        user_code_hash: hash(),
        client_id: Uuid::new_v4().to_string(),
        scopes: vec![],
        resource: None,
        status: DeviceStatus::Pending,
        interval_secs: 5,
        created_at: expires_at - time::Duration::minutes(15),
        expires_at,
        last_poll_at: None,
        ip: None,
    }
}

/// `purge_expired` removes expired codes, device codes, flows, sessions and long-expired
/// refresh tokens, and keeps everything live.
pub async fn purge_expired(store: &dyn IdentityStore) {
    let user = new_user(store, "purge").await;
    let (old_code, live_code) = (code(user.id, t(-MIN)), code(user.id, t(10 * MIN)));
    let (old_device, live_device) = (device(t(-MIN)), device(t(15 * MIN)));
    let (old_session, live_session) =
        (session(user.id, t(-MIN)), session(user.id, t(8 * 60 * MIN)));
    let (old_token, live_token) = (token(user.id, t(-400 * DAY)), token(user.id, t(DAY)));
    let (old_flow, live_flow) = (Uuid::new_v4(), Uuid::new_v4());
    for c in [&old_code, &live_code] {
        store.insert_auth_code(c).await.expect("insert code");
    }
    for d in [&old_device, &live_device] {
        store
            .insert_device_code(d)
            .await
            .expect("insert device code");
    }
    for s in [&old_session, &live_session] {
        store.insert_session(s).await.expect("insert session");
    }
    for r in [&old_token, &live_token] {
        store.insert_refresh_token(r).await.expect("insert token");
    }
    store
        .put_flow(old_flow, "{}", t(-MIN))
        .await
        .expect("put flow");
    store
        .put_flow(live_flow, "{}", t(10 * MIN))
        .await
        .expect("put flow");

    // The count is not checked: another suite sharing the database may purge these rows
    // first. What matters is that they are gone afterwards and the live ones are not,
    // which the checks below establish.
    store.purge_expired(t(0)).await.expect("purge");

    // Asking as of an earlier instant shows whether the rows still exist.
    assert_eq!(
        store
            .redeem_auth_code(&old_code.code_hash, t(-2 * MIN))
            .await
            .expect("redeem"),
        Redeem::NotFound
    );
    assert!(matches!(
        store
            .redeem_auth_code(&live_code.code_hash, t(0))
            .await
            .expect("redeem"),
        Redeem::Fresh(_)
    ));
    assert_eq!(
        store
            .device_code_by_user_code(&old_device.user_code_hash)
            .await
            .expect("lookup"),
        None
    );
    assert_eq!(
        store
            .device_code_by_user_code(&live_device.user_code_hash)
            .await
            .expect("lookup"),
        Some(live_device)
    );
    assert_eq!(store.session(old_session.id).await.expect("session"), None);
    assert_eq!(
        store.session(live_session.id).await.expect("session"),
        Some(live_session)
    );
    assert_eq!(
        store
            .refresh_token(&old_token.token_hash)
            .await
            .expect("token"),
        None
    );
    assert_eq!(
        store
            .refresh_token(&live_token.token_hash)
            .await
            .expect("token"),
        Some(live_token)
    );
    assert_eq!(store.flow(old_flow, t(-2 * MIN)).await.expect("flow"), None);
    assert_eq!(
        store.flow(live_flow, t(0)).await.expect("flow").as_deref(),
        Some("{}")
    );
}

/// `delete_user` removes memberships, codes, tokens, sessions, MFA, lockout and familiar
/// IPs of that user only; the sign-in log keeps the user's events.
pub async fn delete_user_cascades(store: &dyn IdentityStore) {
    let user = new_user(store, "leaver").await;
    let other = new_user(store, "stayer").await;
    store
        .set_password_hash(user.id, Some("hash"))
        .await
        .expect("password");
    let group = Group {
        id: Uuid::new_v4(),
        display_name: unique("Conformance Leavers"),
        description: None,
        source: mailward_types::model::UserSource::Cloud,
        created_at: t(0),
    };
    store.create_group(&group).await.expect("group");
    let passkey = PasskeyRecord {
        id: Uuid::new_v4(),
        user_id: user.id,
        name: "key".to_owned(),
        credential_id: unique("cred"),
        passkey_json: "{}".to_owned(),
        created_at: t(0),
        last_used_at: None,
    };
    let auth_code = code(user.id, t(10 * MIN));
    let refresh = token(user.id, t(DAY));
    let web = session(user.id, t(DAY));
    let theirs = token(other.id, t(DAY));
    let event = SignInEvent {
        user_id: Some(user.id),
        ..sample_event(t(0), user.upn.as_str(), &unique("app"))
    };

    for u in [user.id, other.id] {
        store.add_member(group.id, u).await.expect("member");
        store
            .put_totp(&TotpRecord {
                user_id: u,
                sealed_secret: vec![1],
                confirmed: true,
                last_step: None,
                created_at: t(0),
            })
            .await
            .expect("totp");
        store
            .replace_recovery_codes(u, &[hash()])
            .await
            .expect("codes");
        store
            .record_familiar_ip(u, "192.0.2.1".parse().expect("ip"), t(0), 5)
            .await
            .expect("ip");
        store
            .update_lockout(
                u,
                LocationClass::Unfamiliar,
                Box::new(|mut s| {
                    s.failures = 4;
                    Ok(s)
                }),
            )
            .await
            .expect("lockout");
    }
    store.add_passkey(&passkey).await.expect("passkey");
    store.insert_auth_code(&auth_code).await.expect("code");
    store.insert_refresh_token(&refresh).await.expect("token");
    store.insert_refresh_token(&theirs).await.expect("token");
    store.insert_session(&web).await.expect("session");
    store.append_signin(&event).await.expect("sign-in");

    assert!(store.delete_user(user.id).await.expect("delete"));
    assert!(!store.delete_user(user.id).await.expect("delete again"));

    assert_eq!(store.user_by_id(user.id).await.expect("user"), None);
    assert_eq!(store.password_hash(user.id).await.expect("hash"), None);
    assert_eq!(
        store.group_members(group.id).await.expect("members"),
        vec![other.id]
    );
    assert!(
        store
            .groups_of_user(user.id)
            .await
            .expect("groups")
            .is_empty()
    );
    assert_eq!(
        store
            .redeem_auth_code(&auth_code.code_hash, t(0))
            .await
            .expect("redeem"),
        Redeem::NotFound
    );
    assert_eq!(
        store
            .refresh_token(&refresh.token_hash)
            .await
            .expect("token"),
        None
    );
    assert_eq!(store.session(web.id).await.expect("session"), None);
    assert_eq!(store.totp(user.id).await.expect("totp"), None);
    assert_eq!(
        store.unused_recovery_codes(user.id).await.expect("codes"),
        0
    );
    assert!(store.passkeys(user.id).await.expect("passkeys").is_empty());
    assert!(store.familiar_ips(user.id).await.expect("ips").is_empty());
    assert_eq!(
        store
            .lockout(user.id, LocationClass::Unfamiliar)
            .await
            .expect("lockout"),
        LockoutState::default()
    );

    // The other user keeps everything.
    assert!(store.totp(other.id).await.expect("totp").is_some());
    assert_eq!(
        store.unused_recovery_codes(other.id).await.expect("codes"),
        1
    );
    assert_eq!(store.familiar_ips(other.id).await.expect("ips").len(), 1);
    assert_eq!(
        store
            .lockout(other.id, LocationClass::Unfamiliar)
            .await
            .expect("lockout")
            .failures,
        4
    );
    assert_eq!(
        store
            .refresh_token(&theirs.token_hash)
            .await
            .expect("token"),
        Some(theirs)
    );

    // The passkey's credential id is free again, and the log remembers the sign-in.
    store
        .add_passkey(&PasskeyRecord {
            id: Uuid::new_v4(),
            user_id: other.id,
            ..passkey
        })
        .await
        .expect("re-register the credential");
    let log = store
        .signins(&SignInFilter {
            user: Some(user.upn.as_str().to_owned()),
            ..SignInFilter::default()
        })
        .await
        .expect("signins");
    assert_eq!(log, vec![event]);
}
