//! Conformance checks for settings and the directory: users, groups and memberships,
//! domains, applications, resources and signing keys.

use super::*;
use mailward_types::model::{
    Application, AuthenticationMode, ClientKind, Domain, GrantType, Group, Resource, TokenAlg,
};
use mailward_types::records::SigningKey;
use mailward_types::{ClientId, RedirectUri};

/// Documents: absent, created, listed by kind in id order, replaced, deleted once.
pub async fn documents(store: &dyn IdentityStore) {
    let kind = unique("conformance.kind");
    let other = unique("conformance.other");
    assert!(store.documents(&kind).await.expect("documents").is_empty());
    assert_eq!(store.document(&kind, "a").await.expect("document"), None);
    let doc = |k: &str, id: &str, body: &str, m: i64| crate::Document {
        kind: k.to_string(),
        id: id.to_string(),
        body: body.to_string(),
        created: t(0),
        modified: t(m * SEC),
    };
    store
        .put_document(&doc(&kind, "b", "{\"n\":2}", 0))
        .await
        .expect("put b");
    store
        .put_document(&doc(&kind, "a", "{\"n\":1}", 0))
        .await
        .expect("put a");
    store
        .put_document(&doc(&other, "a", "{}", 0))
        .await
        .expect("put other");
    let listed = store.documents(&kind).await.expect("documents");
    assert_eq!(
        listed.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(listed[0], doc(&kind, "a", "{\"n\":1}", 0));
    store
        .put_document(&doc(&kind, "a", "{\"n\":3}", 5))
        .await
        .expect("replace a");
    assert_eq!(
        store.document(&kind, "a").await.expect("document"),
        Some(doc(&kind, "a", "{\"n\":3}", 5))
    );
    assert!(store.delete_document(&kind, "a").await.expect("delete"));
    assert!(
        !store
            .delete_document(&kind, "a")
            .await
            .expect("delete again")
    );
    assert_eq!(store.documents(&kind).await.expect("documents").len(), 1);
    assert_eq!(store.documents(&other).await.expect("documents").len(), 1);
    store.delete_document(&other, "a").await.expect("cleanup");
}

/// Settings: absent, written, overwritten.
pub async fn settings(store: &dyn IdentityStore) {
    let key = unique("conformance.setting");
    assert_eq!(store.get_setting(&key).await.expect("get_setting"), None);
    store.put_setting(&key, "one").await.expect("put_setting");
    assert_eq!(
        store
            .get_setting(&key)
            .await
            .expect("get_setting")
            .as_deref(),
        Some("one")
    );
    store
        .put_setting(&key, "two")
        .await
        .expect("put_setting again");
    assert_eq!(
        store
            .get_setting(&key)
            .await
            .expect("get_setting")
            .as_deref(),
        Some("two")
    );
    store
        .put_setting(&key, "")
        .await
        .expect("put_setting empty");
    assert_eq!(
        store
            .get_setting(&key)
            .await
            .expect("get_setting")
            .as_deref(),
        Some("")
    );
}

/// Users: round trip, lookups, conflicts, updates, password hashes, deletion.
pub async fn users(store: &dyn IdentityStore) {
    let mut alice = with_roles(
        sample_user("alice"),
        &[Role::UserAdministrator, Role::GlobalReader],
    );
    alice.immutable_id = Some("AAECAwQFBgcICQoLDA0ODw==".to_owned());
    alice.created_at = from_millis(0);
    alice.tokens_valid_from = from_millis(-1_234);
    let mut bob = sample_user("bob");
    bob.mail = None;
    bob.enabled = false;
    bob.source = UserSource::Synced;
    bob.created_at = t(7);

    store
        .create_user(&alice, Some("hash-alice"))
        .await
        .expect("create alice");
    store.create_user(&bob, None).await.expect("create bob");
    assert_eq!(
        store.user_by_id(alice.id).await.expect("by id"),
        Some(alice.clone())
    );
    assert_eq!(
        store.user_by_id(bob.id).await.expect("by id"),
        Some(bob.clone())
    );
    let shouted = Upn::try_from(alice.upn.as_str().to_uppercase().as_str()).expect("upn");
    assert_eq!(
        store.user_by_upn(&shouted).await.expect("by upn"),
        Some(alice.clone())
    );
    assert_eq!(store.user_by_id(Uuid::new_v4()).await.expect("by id"), None);
    assert_eq!(
        store.user_by_upn(&upn("nobody")).await.expect("by upn"),
        None
    );

    // Conflicts on the UPN and on the id.
    let same_upn = User {
        id: Uuid::new_v4(),
        ..alice.clone()
    };
    assert_conflict(store.create_user(&same_upn, None).await);
    let same_id = User {
        upn: upn("alice2"),
        ..alice.clone()
    };
    assert_conflict(store.create_user(&same_id, None).await);

    let all = store.list_users().await.expect("list_users");
    assert!(
        all.contains(&alice) && all.contains(&bob),
        "list_users misses users"
    );
    assert!(
        sorted_by(&all, |u| u.upn.as_str().to_owned()),
        "list_users is not ordered by UPN"
    );

    // Updates see the current value and write everything.
    let new_upn = upn("alice-renamed");
    let want_upn = new_upn.clone();
    let updated = store
        .update_user(
            alice.id,
            Box::new(move |mut u| {
                if u.display_name != "Conformance alice" {
                    return Err(StoreError::Rejected("stale value".to_owned()));
                }
                u.upn = new_upn;
                u.display_name = "Alice Renamed".to_owned();
                u.mail = None;
                u.enabled = false;
                u.roles = vec![Role::GlobalAdministrator];
                u.tokens_valid_from = t(5);
                Ok(u)
            }),
        )
        .await
        .expect("update_user");
    assert_eq!(updated.upn, want_upn);
    assert_eq!(
        store.user_by_id(alice.id).await.expect("by id"),
        Some(updated.clone())
    );
    assert_eq!(
        store.user_by_upn(&alice.upn).await.expect("by old upn"),
        None
    );
    assert_eq!(
        store.user_by_upn(&want_upn).await.expect("by new upn"),
        Some(updated.clone())
    );

    // A UPN taken by someone else, a refusing closure and a changed id write nothing.
    let bob_upn = bob.upn.clone();
    assert_conflict(
        store
            .update_user(
                alice.id,
                Box::new(move |mut u| {
                    u.upn = bob_upn;
                    Ok(u)
                }),
            )
            .await,
    );
    assert_refused(store.update_user(alice.id, refuse()).await);
    assert_rejected(
        store
            .update_user(
                alice.id,
                Box::new(|mut u| {
                    u.id = Uuid::new_v4();
                    Ok(u)
                }),
            )
            .await,
    );
    assert_eq!(
        store.user_by_id(alice.id).await.expect("by id"),
        Some(updated.clone())
    );
    assert_not_found(store.update_user(Uuid::new_v4(), Box::new(Ok)).await);

    // Password hashes.
    assert_eq!(
        store
            .password_hash(alice.id)
            .await
            .expect("hash")
            .as_deref(),
        Some("hash-alice")
    );
    assert_eq!(store.password_hash(bob.id).await.expect("hash"), None);
    store
        .set_password_hash(bob.id, Some("hash-bob"))
        .await
        .expect("set hash");
    assert_eq!(
        store.password_hash(bob.id).await.expect("hash").as_deref(),
        Some("hash-bob")
    );
    store
        .set_password_hash(alice.id, None)
        .await
        .expect("clear hash");
    assert_eq!(store.password_hash(alice.id).await.expect("hash"), None);
    assert_not_found(store.set_password_hash(Uuid::new_v4(), Some("x")).await);
    assert_eq!(
        store.password_hash(Uuid::new_v4()).await.expect("hash"),
        None
    );
    // The update did not touch the hash, and setting it did not touch the user.
    assert_eq!(
        store.user_by_id(bob.id).await.expect("by id"),
        Some(bob.clone())
    );

    assert!(store.delete_user(bob.id).await.expect("delete"));
    assert!(!store.delete_user(bob.id).await.expect("delete again"));
    assert_eq!(store.user_by_id(bob.id).await.expect("by id"), None);
    assert_eq!(store.user_by_upn(&bob.upn).await.expect("by upn"), None);
    // The UPN is free again.
    store.create_user(&bob, None).await.expect("re-create bob");
}

fn sample_group(tag: &str) -> Group {
    Group {
        id: Uuid::new_v4(),
        display_name: unique(&format!("Conformance {tag}")),
        description: Some(format!("{tag} of the conformance suite")),
        source: UserSource::Cloud,
        created_at: t(11),
    }
}

/// Groups: round trip, case-insensitive names, conflicts, updates, deletion.
pub async fn groups(store: &dyn IdentityStore) {
    let admins = sample_group("Admins");
    let mut readers = sample_group("Readers");
    readers.description = None;
    readers.source = UserSource::Synced;
    store.create_group(&admins).await.expect("create group");
    store.create_group(&readers).await.expect("create group");

    assert_eq!(
        store.group_by_id(admins.id).await.expect("by id"),
        Some(admins.clone())
    );
    assert_eq!(
        store.group_by_id(readers.id).await.expect("by id"),
        Some(readers.clone())
    );
    for name in [
        admins.display_name.clone(),
        admins.display_name.to_lowercase(),
        admins.display_name.to_uppercase(),
    ] {
        assert_eq!(
            store.group_by_name(&name).await.expect("by name"),
            Some(admins.clone())
        );
    }
    assert_eq!(
        store.group_by_name(&unique("none")).await.expect("by name"),
        None
    );
    assert_eq!(
        store.group_by_id(Uuid::new_v4()).await.expect("by id"),
        None
    );

    let same_name = Group {
        id: Uuid::new_v4(),
        display_name: admins.display_name.to_uppercase(),
        ..admins.clone()
    };
    assert_conflict(store.create_group(&same_name).await);
    let same_id = Group {
        display_name: unique("other"),
        ..admins.clone()
    };
    assert_conflict(store.create_group(&same_id).await);

    let all = store.list_groups().await.expect("list_groups");
    assert!(
        all.contains(&admins) && all.contains(&readers),
        "list_groups misses groups"
    );

    // Renaming onto another group's name (in another case) conflicts.
    let taken = admins.display_name.to_lowercase();
    assert_conflict(
        store
            .update_group(
                readers.id,
                Box::new(move |mut g| {
                    g.display_name = taken;
                    Ok(g)
                }),
            )
            .await,
    );
    assert_refused(store.update_group(readers.id, refuse()).await);
    assert_rejected(
        store
            .update_group(
                readers.id,
                Box::new(|mut g| {
                    g.id = Uuid::new_v4();
                    Ok(g)
                }),
            )
            .await,
    );
    assert_eq!(
        store.group_by_id(readers.id).await.expect("by id"),
        Some(readers.clone())
    );
    assert_not_found(store.update_group(Uuid::new_v4(), Box::new(Ok)).await);

    // Changing only the case of its own name is fine; so is a new name.
    let recased = readers.display_name.to_uppercase();
    let updated = store
        .update_group(
            readers.id,
            Box::new(move |mut g| {
                g.display_name = recased;
                g.description = Some("now described".to_owned());
                Ok(g)
            }),
        )
        .await
        .expect("recase group");
    assert_eq!(
        store.group_by_id(readers.id).await.expect("by id"),
        Some(updated)
    );
    let renamed = unique("Conformance Renamed");
    let name = renamed.clone();
    store
        .update_group(
            readers.id,
            Box::new(move |mut g| {
                g.display_name = name;
                Ok(g)
            }),
        )
        .await
        .expect("rename group");
    assert_eq!(
        store
            .group_by_name(&readers.display_name)
            .await
            .expect("by old name"),
        None
    );
    let found = store.group_by_name(&renamed).await.expect("by new name");
    assert_eq!(found.map(|g| g.id), Some(readers.id));

    assert!(store.delete_group(readers.id).await.expect("delete"));
    assert!(!store.delete_group(readers.id).await.expect("delete again"));
    assert_eq!(store.group_by_id(readers.id).await.expect("by id"), None);
    assert_eq!(store.group_by_name(&renamed).await.expect("by name"), None);
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

/// Memberships: idempotent adds, both directions, missing sides, removal, group deletion.
pub async fn memberships(store: &dyn IdentityStore) {
    let u1 = new_user(store, "member1").await;
    let u2 = new_user(store, "member2").await;
    let g1 = sample_group("Team1");
    let g2 = sample_group("Team2");
    store.create_group(&g1).await.expect("create group");
    store.create_group(&g2).await.expect("create group");

    assert!(
        store
            .group_members(g1.id)
            .await
            .expect("members")
            .is_empty()
    );
    assert!(
        store
            .groups_of_user(u1.id)
            .await
            .expect("groups")
            .is_empty()
    );
    store.add_member(g1.id, u1.id).await.expect("add");
    store
        .add_member(g1.id, u1.id)
        .await
        .expect("add again is a no-op");
    store.add_member(g1.id, u2.id).await.expect("add");
    store.add_member(g2.id, u1.id).await.expect("add");

    let members = store.group_members(g1.id).await.expect("members");
    assert_eq!(sorted(members), sorted(vec![u1.id, u2.id]));
    let groups = store.groups_of_user(u1.id).await.expect("groups");
    assert_eq!(sorted(groups), sorted(vec![g1.id, g2.id]));

    assert_not_found(store.add_member(Uuid::new_v4(), u1.id).await);
    assert_not_found(store.add_member(g1.id, Uuid::new_v4()).await);

    assert!(store.remove_member(g1.id, u2.id).await.expect("remove"));
    assert!(
        !store
            .remove_member(g1.id, u2.id)
            .await
            .expect("remove again")
    );
    assert_eq!(
        store.group_members(g1.id).await.expect("members"),
        vec![u1.id]
    );
    assert!(
        store
            .groups_of_user(u2.id)
            .await
            .expect("groups")
            .is_empty()
    );

    assert!(store.delete_group(g2.id).await.expect("delete group"));
    assert_eq!(
        store.groups_of_user(u1.id).await.expect("groups"),
        vec![g1.id]
    );
    assert!(
        store
            .group_members(g2.id)
            .await
            .expect("members")
            .is_empty()
    );
}

fn sample_domain() -> Domain {
    Domain {
        name: format!("{}.conformance.example", unique("dom")),
        verified: false,
        authentication: AuthenticationMode::Managed,
        is_default: false,
        created_at: t(13),
    }
}

/// Domains: round trip, case-insensitive names, conflicts, updates, deletion.
pub async fn domains(store: &dyn IdentityStore) {
    let domain = sample_domain();
    store.create_domain(&domain).await.expect("create domain");
    assert_eq!(
        store.domain(&domain.name).await.expect("domain"),
        Some(domain.clone())
    );
    assert_eq!(
        store
            .domain(&domain.name.to_uppercase())
            .await
            .expect("domain"),
        Some(domain.clone())
    );
    assert_eq!(
        store.domain(&sample_domain().name).await.expect("domain"),
        None
    );
    let shouted = Domain {
        name: domain.name.to_uppercase(),
        ..domain.clone()
    };
    assert_conflict(store.create_domain(&domain).await);
    assert_conflict(store.create_domain(&shouted).await);
    assert!(store.list_domains().await.expect("list").contains(&domain));

    let updated = store
        .update_domain(
            &domain.name,
            Box::new(|mut d| {
                d.verified = true;
                d.is_default = true;
                Ok(d)
            }),
        )
        .await
        .expect("update domain");
    assert!(updated.verified && updated.is_default);
    assert_eq!(
        store.domain(&domain.name).await.expect("domain"),
        Some(updated.clone())
    );
    assert_refused(store.update_domain(&domain.name, refuse()).await);
    let other = sample_domain().name;
    assert_rejected(
        store
            .update_domain(
                &domain.name,
                Box::new(move |mut d| {
                    d.name = other;
                    Ok(d)
                }),
            )
            .await,
    );
    assert_eq!(
        store.domain(&domain.name).await.expect("domain"),
        Some(updated)
    );
    assert_not_found(
        store
            .update_domain(&sample_domain().name, Box::new(Ok))
            .await,
    );

    assert!(
        store
            .delete_domain(&domain.name.to_uppercase())
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_domain(&domain.name)
            .await
            .expect("delete again")
    );
    assert_eq!(store.domain(&domain.name).await.expect("domain"), None);
}

fn redirect(uri: &str) -> RedirectUri {
    RedirectUri::try_from(uri).expect("valid redirect URI")
}

fn sample_app() -> Application {
    Application {
        client_id: ClientId::try_from(Uuid::new_v4().to_string().as_str()).expect("client id"),
        display_name: unique("Conformance App"),
        kind: ClientKind::Confidential,
        secret_hash: None,
        redirect_uris: vec![
            redirect("https://app.conformance.example/cb"),
            redirect("http://127.0.0.1/cb"),
        ],
        grants: vec![
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
        ],
        first_party: false,
        post_logout_redirect_uris: vec![redirect("https://app.conformance.example/bye")],
        app_roles: vec!["LegacyAuth.Relay".to_owned()],
        created_at: t(17),
    }
}

/// Applications: round trip including the secret hash, conflicts, updates, deletion.
pub async fn applications(store: &dyn IdentityStore) {
    let app = sample_app();
    store
        .create_app(&app, Some("secret-hash-1"))
        .await
        .expect("create app");
    let stored = Application {
        secret_hash: Some("secret-hash-1".to_owned()),
        ..app.clone()
    };
    assert_eq!(
        store.app(app.client_id.as_str()).await.expect("app"),
        Some(stored.clone())
    );

    let public = Application {
        kind: ClientKind::Public,
        redirect_uris: vec![],
        grants: vec![GrantType::DeviceCode],
        first_party: true,
        post_logout_redirect_uris: vec![],
        app_roles: vec![],
        ..sample_app()
    };
    store
        .create_app(&public, None)
        .await
        .expect("create public app");
    assert_eq!(
        store.app(public.client_id.as_str()).await.expect("app"),
        Some(public.clone())
    );
    assert_eq!(
        store.app(&Uuid::new_v4().to_string()).await.expect("app"),
        None
    );

    assert_conflict(store.create_app(&app, None).await);
    let all = store.list_apps().await.expect("list_apps");
    assert!(
        all.contains(&stored) && all.contains(&public),
        "list_apps misses apps"
    );

    // The closure sees the secret hash and may change it.
    let updated = store
        .update_app(
            app.client_id.as_str(),
            Box::new(|mut a| {
                if a.secret_hash.as_deref() != Some("secret-hash-1") {
                    return Err(StoreError::Rejected("secret hash not visible".to_owned()));
                }
                a.secret_hash = Some("secret-hash-2".to_owned());
                a.grants.push(GrantType::Password);
                a.redirect_uris.pop();
                Ok(a)
            }),
        )
        .await
        .expect("update app");
    assert_eq!(
        store.app(app.client_id.as_str()).await.expect("app"),
        Some(updated)
    );
    store
        .update_app(
            app.client_id.as_str(),
            Box::new(|mut a| {
                a.secret_hash = None;
                Ok(a)
            }),
        )
        .await
        .expect("clear secret");
    let cleared = store
        .app(app.client_id.as_str())
        .await
        .expect("app")
        .expect("present");
    assert_eq!(cleared.secret_hash, None);

    assert_refused(store.update_app(app.client_id.as_str(), refuse()).await);
    assert_rejected(
        store
            .update_app(
                app.client_id.as_str(),
                Box::new(|mut a| {
                    a.client_id = sample_app().client_id;
                    Ok(a)
                }),
            )
            .await,
    );
    assert_eq!(
        store.app(app.client_id.as_str()).await.expect("app"),
        Some(cleared)
    );
    assert_not_found(
        store
            .update_app(&Uuid::new_v4().to_string(), Box::new(Ok))
            .await,
    );

    assert!(
        store
            .delete_app(app.client_id.as_str())
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_app(app.client_id.as_str())
            .await
            .expect("delete again")
    );
    assert_eq!(store.app(app.client_id.as_str()).await.expect("app"), None);
}

fn sample_resource() -> Resource {
    Resource {
        id: Uuid::new_v4(),
        uri: format!("https://{}.conformance.example", unique("api")),
        display_name: unique("Conformance API"),
        scopes: vec!["IMAP.AccessAsUser.All".to_owned(), "SMTP.Send".to_owned()],
        app_roles: vec!["LegacyAuth.Relay".to_owned()],
        token_alg: TokenAlg::ES256,
        access_token_lifetime: 3600,
        first_party: true,
        created_at: t(19),
    }
}

/// Resources: lookups by URI and id, conflicts on both, updates, deletion.
pub async fn resources(store: &dyn IdentityStore) {
    let r1 = sample_resource();
    let r2 = Resource {
        scopes: vec![],
        app_roles: vec![],
        token_alg: TokenAlg::RS256,
        access_token_lifetime: 600,
        first_party: false,
        ..sample_resource()
    };
    store.create_resource(&r1).await.expect("create resource");
    store.create_resource(&r2).await.expect("create resource");
    assert_eq!(
        store.resource_by_uri(&r1.uri).await.expect("by uri"),
        Some(r1.clone())
    );
    assert_eq!(
        store.resource_by_id(r2.id).await.expect("by id"),
        Some(r2.clone())
    );
    assert_eq!(
        store
            .resource_by_uri(&sample_resource().uri)
            .await
            .expect("by uri"),
        None
    );
    assert_eq!(
        store.resource_by_id(Uuid::new_v4()).await.expect("by id"),
        None
    );

    assert_conflict(
        store
            .create_resource(&Resource {
                id: Uuid::new_v4(),
                ..r1.clone()
            })
            .await,
    );
    assert_conflict(
        store
            .create_resource(&Resource {
                uri: sample_resource().uri,
                ..r1.clone()
            })
            .await,
    );
    let all = store.list_resources().await.expect("list");
    assert!(
        all.contains(&r1) && all.contains(&r2),
        "list_resources misses resources"
    );

    let taken = r1.uri.clone();
    assert_conflict(
        store
            .update_resource(
                r2.id,
                Box::new(move |mut r| {
                    r.uri = taken;
                    Ok(r)
                }),
            )
            .await,
    );
    assert_refused(store.update_resource(r2.id, refuse()).await);
    assert_rejected(
        store
            .update_resource(
                r2.id,
                Box::new(|mut r| {
                    r.id = Uuid::new_v4();
                    Ok(r)
                }),
            )
            .await,
    );
    assert_eq!(
        store.resource_by_id(r2.id).await.expect("by id"),
        Some(r2.clone())
    );
    assert_not_found(store.update_resource(Uuid::new_v4(), Box::new(Ok)).await);

    let new_uri = sample_resource().uri;
    let uri = new_uri.clone();
    let updated = store
        .update_resource(
            r2.id,
            Box::new(move |mut r| {
                r.uri = uri;
                r.scopes = vec!["Mail.Send".to_owned()];
                r.access_token_lifetime = 4200;
                Ok(r)
            }),
        )
        .await
        .expect("update resource");
    assert_eq!(
        store.resource_by_uri(&new_uri).await.expect("by uri"),
        Some(updated)
    );
    assert_eq!(
        store.resource_by_uri(&r2.uri).await.expect("by old uri"),
        None
    );

    assert!(store.delete_resource(r2.id).await.expect("delete"));
    assert!(!store.delete_resource(r2.id).await.expect("delete again"));
    assert_eq!(store.resource_by_uri(&new_uri).await.expect("by uri"), None);
}

fn sample_key(active_from: OffsetDateTime) -> SigningKey {
    SigningKey {
        kid: unique("kid"),
        alg: TokenAlg::ES256,
        sealed_private_key: vec![0x00, 0xff, 0x10, 0x00, 0x7f, 0x80],
        public_jwk: r#"{"kty":"EC","crv":"P-256","x":"AA","y":"BB"}"#.to_owned(),
        created_at: t(23),
        active_from,
        retired_at: None,
        expires_at: None,
    }
}

/// Signing keys: ordering by `active_from`, conflicts, updates, deletion.
pub async fn signing_keys(store: &dyn IdentityStore) {
    let middle = sample_key(t(2 * MIN));
    let first = SigningKey {
        alg: TokenAlg::RS256,
        ..sample_key(t(MIN))
    };
    let last = SigningKey {
        retired_at: Some(t(4 * MIN)),
        expires_at: Some(t(5 * MIN)),
        ..sample_key(t(3 * MIN))
    };
    for key in [&middle, &last, &first] {
        store.insert_signing_key(key).await.expect("insert key");
    }
    assert_conflict(store.insert_signing_key(&middle).await);

    let all = store.list_signing_keys().await.expect("list keys");
    assert!(
        sorted_by(&all, |k| k.active_from),
        "keys not ordered by active_from"
    );
    let mine: Vec<SigningKey> = all
        .into_iter()
        .filter(|k| [&first.kid, &middle.kid, &last.kid].contains(&&k.kid))
        .collect();
    assert_eq!(mine, vec![first.clone(), middle.clone(), last.clone()]);

    let updated = store
        .update_signing_key(
            &middle.kid,
            Box::new(|mut k| {
                k.retired_at = Some(t(6 * MIN));
                k.expires_at = Some(t(7 * MIN));
                Ok(k)
            }),
        )
        .await
        .expect("update key");
    assert_refused(store.update_signing_key(&middle.kid, refuse()).await);
    assert_rejected(
        store
            .update_signing_key(
                &middle.kid,
                Box::new(|mut k| {
                    k.kid = unique("kid");
                    Ok(k)
                }),
            )
            .await,
    );
    let listed = store.list_signing_keys().await.expect("list keys");
    assert!(listed.contains(&updated), "the update did not stick");
    assert_not_found(store.update_signing_key(&unique("kid"), Box::new(Ok)).await);

    assert!(store.delete_signing_key(&middle.kid).await.expect("delete"));
    assert!(
        !store
            .delete_signing_key(&middle.kid)
            .await
            .expect("delete again")
    );
    let listed = store.list_signing_keys().await.expect("list keys");
    assert!(!listed.iter().any(|k| k.kid == middle.kid));
    assert!(listed.contains(&first) && listed.contains(&last));
}

/// The revocation feed: users whose `tokens_valid_from` moved past a cursor (and past
/// their creation), earliest first; the cursor itself is exclusive.
pub async fn users_revoked_since(store: &dyn IdentityStore) {
    // Far from the instants the other checks use.
    let base = 400 * DAY;
    // Created within the window, never revoked: not listed.
    let mut quiet = sample_user("quiet");
    quiet.created_at = t(base + SEC);
    quiet.tokens_valid_from = t(base + SEC);
    store.create_user(&quiet, None).await.expect("create quiet");
    let first = new_user(store, "revoked-first").await;
    let second = new_user(store, "revoked-second").await;
    for (user, at) in [(&second, base + 2 * SEC), (&first, base + SEC)] {
        store
            .update_user(
                user.id,
                Box::new(move |mut u| {
                    u.tokens_valid_from = t(at);
                    Ok(u)
                }),
            )
            .await
            .expect("move tokens_valid_from");
    }
    let ids = |users: Vec<User>| -> Vec<Uuid> {
        users
            .into_iter()
            .map(|u| u.id)
            .filter(|id| [quiet.id, first.id, second.id].contains(id))
            .collect()
    };
    let feed = store
        .users_revoked_since(t(base))
        .await
        .expect("users_revoked_since");
    assert!(
        feed.windows(2)
            .all(|w| w[0].tokens_valid_from <= w[1].tokens_valid_from),
        "the feed is not ordered by tokens_valid_from"
    );
    assert_eq!(ids(feed), vec![first.id, second.id]);
    let feed = store
        .users_revoked_since(t(base + SEC))
        .await
        .expect("users_revoked_since");
    assert_eq!(ids(feed), vec![second.id], "the cursor is exclusive");
    let feed = store
        .users_revoked_since(t(base + 2 * SEC))
        .await
        .expect("users_revoked_since");
    assert_eq!(ids(feed), Vec::<Uuid>::new());
}
