//! Settings and the directory: users, groups and memberships, domains,
//! applications, resources and signing keys.

use super::codec::*;
use super::{IdentityDb, IdentityDialect, apply, commit, exists, user_missing};
use crate::{Document, Result, UpdateFn};
use mailward_sql::{Conn, Lock, query, query_locked};
use mailward_types::Upn;
use mailward_types::model::{Application, Domain, Group, Resource, User};
use mailward_types::records::SigningKey;
use time::OffsetDateTime;
use uuid::Uuid;

// ---- settings ----

pub(super) async fn get_setting<D: IdentityDialect>(
    s: &IdentityDb<D>,
    key: &str,
) -> Result<Option<String>> {
    query::<D>("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_optional(&s.reader)
        .await
        .map_err(backend)?
        .map(|r| get(&r, "value"))
        .transpose()
}

pub(super) async fn put_setting<D: IdentityDialect>(
    s: &IdentityDb<D>,
    key: &str,
    value: &str,
) -> Result<()> {
    query::<D>(
        "INSERT INTO settings (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(&s.writer)
    .await
    .map_err(backend)?;
    Ok(())
}

// ---- documents ----

pub(super) async fn documents<D: IdentityDialect>(
    s: &IdentityDb<D>,
    kind: &str,
) -> Result<Vec<Document>> {
    query::<D>(
        "SELECT kind, id, body, created_at, modified_at FROM documents
         WHERE kind = $1 ORDER BY id",
    )
    .bind(kind)
    .fetch_all(&s.reader)
    .await
    .map_err(backend)?
    .iter()
    .map(document_from_row)
    .collect()
}

pub(super) async fn document<D: IdentityDialect>(
    s: &IdentityDb<D>,
    kind: &str,
    id: &str,
) -> Result<Option<Document>> {
    query::<D>(
        "SELECT kind, id, body, created_at, modified_at FROM documents
         WHERE kind = $1 AND id = $2",
    )
    .bind(kind)
    .bind(id)
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?
    .as_ref()
    .map(document_from_row)
    .transpose()
}

pub(super) async fn put_document<D: IdentityDialect>(
    s: &IdentityDb<D>,
    doc: &Document,
) -> Result<()> {
    query::<D>(
        "INSERT INTO documents (kind, id, body, created_at, modified_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (kind, id) DO UPDATE
         SET body = excluded.body, modified_at = excluded.modified_at",
    )
    .bind(&doc.kind)
    .bind(&doc.id)
    .bind(&doc.body)
    .bind(ms(doc.created))
    .bind(ms(doc.modified))
    .execute(&s.writer)
    .await
    .map_err(backend)?;
    Ok(())
}

pub(super) async fn delete_document<D: IdentityDialect>(
    s: &IdentityDb<D>,
    kind: &str,
    id: &str,
) -> Result<bool> {
    let done = query::<D>("DELETE FROM documents WHERE kind = $1 AND id = $2")
        .bind(kind)
        .bind(id)
        .execute(&s.writer)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() > 0)
}

// ---- users ----

pub(super) async fn create_user<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user: &User,
    password_hash: Option<&str>,
) -> Result<()> {
    query::<D>(
        "INSERT INTO users (id, upn, display_name, mail, enabled, immutable_id, source, roles,
                            created_at, tokens_valid_from, password_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id(user.id))
    .bind(user.upn.as_str())
    .bind(&user.display_name)
    .bind(&user.mail)
    .bind(flag(user.enabled))
    .bind(&user.immutable_id)
    .bind(user.source.as_str())
    .bind(list(user.roles.iter().map(|r| r.as_str()))?)
    .bind(ms(user.created_at))
    .bind(ms(user.tokens_valid_from))
    .bind(password_hash)
    .execute(&s.writer)
    .await
    .map_err(|e| write_err(e, user_conflict(user), user_missing(user.id)))?;
    Ok(())
}

pub(super) async fn user_by_id<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user: Uuid,
) -> Result<Option<User>> {
    query::<D>(concat!(
        "SELECT ",
        user_cols!(),
        " FROM users WHERE id = $1"
    ))
    .bind(id(user))
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?
    .map(|r| user_from_row(&r))
    .transpose()
}

pub(super) async fn user_by_upn<D: IdentityDialect>(
    s: &IdentityDb<D>,
    upn: &Upn,
) -> Result<Option<User>> {
    query::<D>(concat!(
        "SELECT ",
        user_cols!(),
        " FROM users WHERE upn = $1"
    ))
    .bind(upn.as_str())
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?
    .map(|r| user_from_row(&r))
    .transpose()
}

pub(super) async fn list_users<D: IdentityDialect>(s: &IdentityDb<D>) -> Result<Vec<User>> {
    query::<D>(concat!("SELECT ", user_cols!(), " FROM users ORDER BY upn"))
        .fetch_all(&s.reader)
        .await
        .map_err(backend)?
        .iter()
        .map(user_from_row)
        .collect()
}

pub(super) async fn users_revoked_since<D: IdentityDialect>(
    s: &IdentityDb<D>,
    since: OffsetDateTime,
) -> Result<Vec<User>> {
    query::<D>(concat!(
        "SELECT ",
        user_cols!(),
        " FROM users WHERE tokens_valid_from > $1 AND tokens_valid_from > created_at",
        " ORDER BY tokens_valid_from, id"
    ))
    .bind(ms(since))
    .fetch_all(&s.reader)
    .await
    .map_err(backend)?
    .iter()
    .map(user_from_row)
    .collect()
}

pub(super) async fn update_user<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user: Uuid,
    f: UpdateFn<User>,
) -> Result<User> {
    let mut tx = s.begin().await?;
    let old = user_where_id::<D>(&mut tx, user)
        .await?
        .ok_or_else(|| not_found(format!("user {user}")))?;
    let new = apply(old, f, |u| u.id, "id of a user")?;
    query::<D>(
        "UPDATE users SET upn = $2, display_name = $3, mail = $4, enabled = $5,
                          immutable_id = $6, source = $7, roles = $8, created_at = $9,
                          tokens_valid_from = $10
         WHERE id = $1",
    )
    .bind(id(new.id))
    .bind(new.upn.as_str())
    .bind(&new.display_name)
    .bind(&new.mail)
    .bind(flag(new.enabled))
    .bind(&new.immutable_id)
    .bind(new.source.as_str())
    .bind(list(new.roles.iter().map(|r| r.as_str()))?)
    .bind(ms(new.created_at))
    .bind(ms(new.tokens_valid_from))
    .execute(&mut *tx)
    .await
    .map_err(|e| write_err(e, user_conflict(&new), user_missing(user)))?;
    commit(tx).await?;
    Ok(new)
}

pub(super) async fn delete_user<D: IdentityDialect>(s: &IdentityDb<D>, user: Uuid) -> Result<bool> {
    let done = query::<D>("DELETE FROM users WHERE id = $1")
        .bind(id(user))
        .execute(&s.writer)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn password_hash<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user: Uuid,
) -> Result<Option<String>> {
    let row = query::<D>("SELECT password_hash FROM users WHERE id = $1")
        .bind(id(user))
        .fetch_optional(&s.reader)
        .await
        .map_err(backend)?;
    match row {
        Some(r) => get(&r, "password_hash"),
        None => Ok(None),
    }
}

pub(super) async fn set_password_hash<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user: Uuid,
    hash: Option<&str>,
) -> Result<()> {
    let done = query::<D>("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(id(user))
        .bind(hash)
        .execute(&s.writer)
        .await
        .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(not_found(format!("user {user}")));
    }
    Ok(())
}

// ---- groups ----

pub(super) async fn create_group<D: IdentityDialect>(
    s: &IdentityDb<D>,
    group: &Group,
) -> Result<()> {
    query::<D>(
        "INSERT INTO security_groups (id, name_key, display_name, description, source,
                                      created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id(group.id))
    .bind(name_key(&group.display_name))
    .bind(&group.display_name)
    .bind(&group.description)
    .bind(group.source.as_str())
    .bind(ms(group.created_at))
    .execute(&s.writer)
    .await
    .map_err(|e| write_err(e, group_conflict(group), || format!("group {}", group.id)))?;
    Ok(())
}

pub(super) async fn group_by_id<D: IdentityDialect>(
    s: &IdentityDb<D>,
    group: Uuid,
) -> Result<Option<Group>> {
    query::<D>(concat!(
        "SELECT ",
        group_cols!(),
        " FROM security_groups WHERE id = $1"
    ))
    .bind(id(group))
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?
    .map(|r| group_from_row(&r))
    .transpose()
}

pub(super) async fn group_by_name<D: IdentityDialect>(
    s: &IdentityDb<D>,
    name: &str,
) -> Result<Option<Group>> {
    query::<D>(concat!(
        "SELECT ",
        group_cols!(),
        " FROM security_groups WHERE name_key = $1"
    ))
    .bind(name_key(name))
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?
    .map(|r| group_from_row(&r))
    .transpose()
}

pub(super) async fn list_groups<D: IdentityDialect>(s: &IdentityDb<D>) -> Result<Vec<Group>> {
    query::<D>(concat!(
        "SELECT ",
        group_cols!(),
        " FROM security_groups ORDER BY name_key, id"
    ))
    .fetch_all(&s.reader)
    .await
    .map_err(backend)?
    .iter()
    .map(group_from_row)
    .collect()
}

pub(super) async fn update_group<D: IdentityDialect>(
    s: &IdentityDb<D>,
    group: Uuid,
    f: UpdateFn<Group>,
) -> Result<Group> {
    let mut tx = s.begin().await?;
    let old = query_locked::<D>(
        concat!(
            "SELECT ",
            group_cols!(),
            " FROM security_groups WHERE id = $1"
        ),
        Lock::Update,
    )
    .bind(id(group))
    .fetch_optional(&mut *tx)
    .await
    .map_err(backend)?
    .map(|r| group_from_row(&r))
    .transpose()?
    .ok_or_else(|| not_found(format!("group {group}")))?;
    let new = apply(old, f, |g| g.id, "id of a group")?;
    query::<D>(
        "UPDATE security_groups SET name_key = $2, display_name = $3, description = $4,
                                    source = $5, created_at = $6
         WHERE id = $1",
    )
    .bind(id(new.id))
    .bind(name_key(&new.display_name))
    .bind(&new.display_name)
    .bind(&new.description)
    .bind(new.source.as_str())
    .bind(ms(new.created_at))
    .execute(&mut *tx)
    .await
    .map_err(|e| write_err(e, group_conflict(&new), || format!("group {group}")))?;
    commit(tx).await?;
    Ok(new)
}

pub(super) async fn delete_group<D: IdentityDialect>(
    s: &IdentityDb<D>,
    group: Uuid,
) -> Result<bool> {
    let done = query::<D>("DELETE FROM security_groups WHERE id = $1")
        .bind(id(group))
        .execute(&s.writer)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn add_member<D: IdentityDialect>(
    s: &IdentityDb<D>,
    group: Uuid,
    user: Uuid,
) -> Result<()> {
    let mut tx = s.begin().await?;
    let group_row = query_locked::<D>(
        "SELECT 1 FROM security_groups WHERE id = $1",
        Lock::KeyShare,
    );
    if !exists::<D>(&mut tx, group_row, id(group)).await? {
        return Err(not_found(format!("group {group}")));
    }
    let user_row = query_locked::<D>("SELECT 1 FROM users WHERE id = $1", Lock::KeyShare);
    if !exists::<D>(&mut tx, user_row, id(user)).await? {
        return Err(not_found(format!("user {user}")));
    }
    query::<D>(
        "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)
         ON CONFLICT (group_id, user_id) DO NOTHING",
    )
    .bind(id(group))
    .bind(id(user))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    commit(tx).await
}

pub(super) async fn remove_member<D: IdentityDialect>(
    s: &IdentityDb<D>,
    group: Uuid,
    user: Uuid,
) -> Result<bool> {
    let done = query::<D>("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
        .bind(id(group))
        .bind(id(user))
        .execute(&s.writer)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn group_members<D: IdentityDialect>(
    s: &IdentityDb<D>,
    group: Uuid,
) -> Result<Vec<Uuid>> {
    query::<D>("SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY user_id")
        .bind(id(group))
        .fetch_all(&s.reader)
        .await
        .map_err(backend)?
        .iter()
        .map(|r| get_uuid(r, "user_id"))
        .collect()
}

pub(super) async fn groups_of_user<D: IdentityDialect>(
    s: &IdentityDb<D>,
    user: Uuid,
) -> Result<Vec<Uuid>> {
    query::<D>("SELECT group_id FROM group_members WHERE user_id = $1 ORDER BY group_id")
        .bind(id(user))
        .fetch_all(&s.reader)
        .await
        .map_err(backend)?
        .iter()
        .map(|r| get_uuid(r, "group_id"))
        .collect()
}

// ---- domains ----

pub(super) async fn create_domain<D: IdentityDialect>(
    s: &IdentityDb<D>,
    domain: &Domain,
) -> Result<()> {
    query::<D>(
        "INSERT INTO domains (name_key, name, verified, authentication, is_default, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(name_key(&domain.name))
    .bind(&domain.name)
    .bind(flag(domain.verified))
    .bind(domain.authentication.as_str())
    .bind(flag(domain.is_default))
    .bind(ms(domain.created_at))
    .execute(&s.writer)
    .await
    .map_err(|e| {
        write_err(
            e,
            |_| format!("domain {}", domain.name),
            || format!("domain {}", domain.name),
        )
    })?;
    Ok(())
}

pub(super) async fn domain<D: IdentityDialect>(
    s: &IdentityDb<D>,
    name: &str,
) -> Result<Option<Domain>> {
    query::<D>(concat!(
        "SELECT ",
        domain_cols!(),
        " FROM domains WHERE name_key = $1"
    ))
    .bind(name_key(name))
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?
    .map(|r| domain_from_row(&r))
    .transpose()
}

pub(super) async fn list_domains<D: IdentityDialect>(s: &IdentityDb<D>) -> Result<Vec<Domain>> {
    query::<D>(concat!(
        "SELECT ",
        domain_cols!(),
        " FROM domains ORDER BY name_key"
    ))
    .fetch_all(&s.reader)
    .await
    .map_err(backend)?
    .iter()
    .map(domain_from_row)
    .collect()
}

pub(super) async fn update_domain<D: IdentityDialect>(
    s: &IdentityDb<D>,
    name: &str,
    f: UpdateFn<Domain>,
) -> Result<Domain> {
    let key = name_key(name);
    let mut tx = s.begin().await?;
    let old = query_locked::<D>(
        concat!(
            "SELECT ",
            domain_cols!(),
            " FROM domains WHERE name_key = $1"
        ),
        Lock::Update,
    )
    .bind(&key)
    .fetch_optional(&mut *tx)
    .await
    .map_err(backend)?
    .map(|r| domain_from_row(&r))
    .transpose()?
    .ok_or_else(|| not_found(format!("domain {name}")))?;
    let new = apply(old, f, |d| name_key(&d.name), "name of a domain")?;
    query::<D>(
        "UPDATE domains SET name = $2, verified = $3, authentication = $4, is_default = $5,
                            created_at = $6
         WHERE name_key = $1",
    )
    .bind(&key)
    .bind(&new.name)
    .bind(flag(new.verified))
    .bind(new.authentication.as_str())
    .bind(flag(new.is_default))
    .bind(ms(new.created_at))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    commit(tx).await?;
    Ok(new)
}

pub(super) async fn delete_domain<D: IdentityDialect>(
    s: &IdentityDb<D>,
    name: &str,
) -> Result<bool> {
    let done = query::<D>("DELETE FROM domains WHERE name_key = $1")
        .bind(name_key(name))
        .execute(&s.writer)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() > 0)
}

// ---- applications ----

/// `secret_hash` wins over `app.secret_hash` when both are given.
pub(super) async fn create_app<D: IdentityDialect>(
    s: &IdentityDb<D>,
    app: &Application,
    secret_hash: Option<&str>,
) -> Result<()> {
    query::<D>(
        "INSERT INTO applications (client_id, display_name, kind, secret_hash, redirect_uris,
                                   grants, first_party, post_logout_redirect_uris,
                                   app_roles, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(app.client_id.as_str())
    .bind(&app.display_name)
    .bind(app.kind.as_str())
    .bind(secret_hash.or(app.secret_hash.as_deref()))
    .bind(list(app.redirect_uris.iter().map(|u| u.as_str()))?)
    .bind(list(app.grants.iter().map(|g| g.as_str()))?)
    .bind(flag(app.first_party))
    .bind(list(
        app.post_logout_redirect_uris.iter().map(|u| u.as_str()),
    )?)
    .bind(list(&app.app_roles)?)
    .bind(ms(app.created_at))
    .execute(&s.writer)
    .await
    .map_err(|e| {
        write_err(
            e,
            |_| format!("application {}", app.client_id),
            || format!("application {}", app.client_id),
        )
    })?;
    Ok(())
}

pub(super) async fn app<D: IdentityDialect>(
    s: &IdentityDb<D>,
    client_id: &str,
) -> Result<Option<Application>> {
    query::<D>(concat!(
        "SELECT ",
        app_cols!(),
        " FROM applications WHERE client_id = $1"
    ))
    .bind(client_id)
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?
    .map(|r| app_from_row(&r))
    .transpose()
}

pub(super) async fn list_apps<D: IdentityDialect>(s: &IdentityDb<D>) -> Result<Vec<Application>> {
    query::<D>(concat!(
        "SELECT ",
        app_cols!(),
        " FROM applications ORDER BY client_id"
    ))
    .fetch_all(&s.reader)
    .await
    .map_err(backend)?
    .iter()
    .map(app_from_row)
    .collect()
}

pub(super) async fn update_app<D: IdentityDialect>(
    s: &IdentityDb<D>,
    client_id: &str,
    f: UpdateFn<Application>,
) -> Result<Application> {
    let mut tx = s.begin().await?;
    let old = query_locked::<D>(
        concat!(
            "SELECT ",
            app_cols!(),
            " FROM applications WHERE client_id = $1"
        ),
        Lock::Update,
    )
    .bind(client_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(backend)?
    .map(|r| app_from_row(&r))
    .transpose()?
    .ok_or_else(|| not_found(format!("application {client_id}")))?;
    let new = apply(
        old,
        f,
        |a| a.client_id.clone(),
        "client id of an application",
    )?;
    query::<D>(
        "UPDATE applications SET display_name = $2, kind = $3, secret_hash = $4,
                                 redirect_uris = $5, grants = $6, first_party = $7,
                                 post_logout_redirect_uris = $8, app_roles = $9,
                                 created_at = $10
         WHERE client_id = $1",
    )
    .bind(client_id)
    .bind(&new.display_name)
    .bind(new.kind.as_str())
    .bind(&new.secret_hash)
    .bind(list(new.redirect_uris.iter().map(|u| u.as_str()))?)
    .bind(list(new.grants.iter().map(|g| g.as_str()))?)
    .bind(flag(new.first_party))
    .bind(list(
        new.post_logout_redirect_uris.iter().map(|u| u.as_str()),
    )?)
    .bind(list(&new.app_roles)?)
    .bind(ms(new.created_at))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    commit(tx).await?;
    Ok(new)
}

pub(super) async fn delete_app<D: IdentityDialect>(
    s: &IdentityDb<D>,
    client_id: &str,
) -> Result<bool> {
    let done = query::<D>("DELETE FROM applications WHERE client_id = $1")
        .bind(client_id)
        .execute(&s.writer)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() > 0)
}

// ---- resources ----

pub(super) async fn create_resource<D: IdentityDialect>(
    s: &IdentityDb<D>,
    resource: &Resource,
) -> Result<()> {
    query::<D>(
        "INSERT INTO resources (id, uri, display_name, scopes, app_roles, token_alg,
                                access_token_lifetime, first_party, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id(resource.id))
    .bind(&resource.uri)
    .bind(&resource.display_name)
    .bind(list(&resource.scopes)?)
    .bind(list(&resource.app_roles)?)
    .bind(resource.token_alg.as_str())
    .bind(resource.access_token_lifetime)
    .bind(flag(resource.first_party))
    .bind(ms(resource.created_at))
    .execute(&s.writer)
    .await
    .map_err(|e| {
        write_err(e, resource_conflict(resource), || {
            format!("resource {}", resource.id)
        })
    })?;
    Ok(())
}

pub(super) async fn resource_by_uri<D: IdentityDialect>(
    s: &IdentityDb<D>,
    uri: &str,
) -> Result<Option<Resource>> {
    query::<D>(concat!(
        "SELECT ",
        resource_cols!(),
        " FROM resources WHERE uri = $1"
    ))
    .bind(uri)
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?
    .map(|r| resource_from_row(&r))
    .transpose()
}

pub(super) async fn resource_by_id<D: IdentityDialect>(
    s: &IdentityDb<D>,
    resource: Uuid,
) -> Result<Option<Resource>> {
    query::<D>(concat!(
        "SELECT ",
        resource_cols!(),
        " FROM resources WHERE id = $1"
    ))
    .bind(id(resource))
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?
    .map(|r| resource_from_row(&r))
    .transpose()
}

pub(super) async fn list_resources<D: IdentityDialect>(s: &IdentityDb<D>) -> Result<Vec<Resource>> {
    query::<D>(concat!(
        "SELECT ",
        resource_cols!(),
        " FROM resources ORDER BY uri"
    ))
    .fetch_all(&s.reader)
    .await
    .map_err(backend)?
    .iter()
    .map(resource_from_row)
    .collect()
}

pub(super) async fn update_resource<D: IdentityDialect>(
    s: &IdentityDb<D>,
    resource: Uuid,
    f: UpdateFn<Resource>,
) -> Result<Resource> {
    let mut tx = s.begin().await?;
    let old = query_locked::<D>(
        concat!("SELECT ", resource_cols!(), " FROM resources WHERE id = $1"),
        Lock::Update,
    )
    .bind(id(resource))
    .fetch_optional(&mut *tx)
    .await
    .map_err(backend)?
    .map(|r| resource_from_row(&r))
    .transpose()?
    .ok_or_else(|| not_found(format!("resource {resource}")))?;
    let new = apply(old, f, |r| r.id, "id of a resource")?;
    query::<D>(
        "UPDATE resources SET uri = $2, display_name = $3, scopes = $4, app_roles = $5,
                              token_alg = $6, access_token_lifetime = $7, first_party = $8,
                              created_at = $9
         WHERE id = $1",
    )
    .bind(id(resource))
    .bind(&new.uri)
    .bind(&new.display_name)
    .bind(list(&new.scopes)?)
    .bind(list(&new.app_roles)?)
    .bind(new.token_alg.as_str())
    .bind(new.access_token_lifetime)
    .bind(flag(new.first_party))
    .bind(ms(new.created_at))
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        write_err(e, resource_conflict(&new), || {
            format!("resource {resource}")
        })
    })?;
    commit(tx).await?;
    Ok(new)
}

pub(super) async fn delete_resource<D: IdentityDialect>(
    s: &IdentityDb<D>,
    resource: Uuid,
) -> Result<bool> {
    let done = query::<D>("DELETE FROM resources WHERE id = $1")
        .bind(id(resource))
        .execute(&s.writer)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() > 0)
}

// ---- signing keys ----

pub(super) async fn list_signing_keys<D: IdentityDialect>(
    s: &IdentityDb<D>,
) -> Result<Vec<SigningKey>> {
    query::<D>(concat!(
        "SELECT ",
        signing_key_cols!(),
        " FROM signing_keys ORDER BY active_from, kid"
    ))
    .fetch_all(&s.reader)
    .await
    .map_err(backend)?
    .iter()
    .map(signing_key_from_row)
    .collect()
}

pub(super) async fn insert_signing_key<D: IdentityDialect>(
    s: &IdentityDb<D>,
    key: &SigningKey,
) -> Result<()> {
    query::<D>(
        "INSERT INTO signing_keys (kid, alg, sealed_private_key, public_jwk, created_at,
                                   active_from, retired_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&key.kid)
    .bind(key.alg.as_str())
    .bind(&key.sealed_private_key)
    .bind(&key.public_jwk)
    .bind(ms(key.created_at))
    .bind(ms(key.active_from))
    .bind(opt_ms(key.retired_at))
    .bind(opt_ms(key.expires_at))
    .execute(&s.writer)
    .await
    .map_err(|e| {
        write_err(
            e,
            |_| format!("signing key {}", key.kid),
            || format!("signing key {}", key.kid),
        )
    })?;
    Ok(())
}

pub(super) async fn update_signing_key<D: IdentityDialect>(
    s: &IdentityDb<D>,
    kid: &str,
    f: UpdateFn<SigningKey>,
) -> Result<SigningKey> {
    let mut tx = s.begin().await?;
    let old = query_locked::<D>(
        concat!(
            "SELECT ",
            signing_key_cols!(),
            " FROM signing_keys WHERE kid = $1"
        ),
        Lock::Update,
    )
    .bind(kid)
    .fetch_optional(&mut *tx)
    .await
    .map_err(backend)?
    .map(|r| signing_key_from_row(&r))
    .transpose()?
    .ok_or_else(|| not_found(format!("signing key {kid}")))?;
    let new = apply(old, f, |k| k.kid.clone(), "kid of a signing key")?;
    query::<D>(
        "UPDATE signing_keys SET alg = $2, sealed_private_key = $3, public_jwk = $4,
                                 created_at = $5, active_from = $6, retired_at = $7,
                                 expires_at = $8
         WHERE kid = $1",
    )
    .bind(kid)
    .bind(new.alg.as_str())
    .bind(&new.sealed_private_key)
    .bind(&new.public_jwk)
    .bind(ms(new.created_at))
    .bind(ms(new.active_from))
    .bind(opt_ms(new.retired_at))
    .bind(opt_ms(new.expires_at))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    commit(tx).await?;
    Ok(new)
}

pub(super) async fn delete_signing_key<D: IdentityDialect>(
    s: &IdentityDb<D>,
    kid: &str,
) -> Result<bool> {
    let done = query::<D>("DELETE FROM signing_keys WHERE kid = $1")
        .bind(kid)
        .execute(&s.writer)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() > 0)
}

fn user_conflict(user: &User) -> impl FnOnce(&str) -> String + '_ {
    move |msg| {
        if msg.contains("upn") {
            format!("user principal name {}", user.upn)
        } else {
            format!("user {}", user.id)
        }
    }
}

fn group_conflict(group: &Group) -> impl FnOnce(&str) -> String + '_ {
    move |msg| {
        if msg.contains("name_key") {
            format!("group named {:?}", group.display_name)
        } else {
            format!("group {}", group.id)
        }
    }
}

fn resource_conflict(resource: &Resource) -> impl FnOnce(&str) -> String + '_ {
    move |msg| {
        if msg.contains("uri") {
            format!("resource URI {}", resource.uri)
        } else {
            format!("resource {}", resource.id)
        }
    }
}

async fn user_where_id<D: IdentityDialect>(conn: &mut Conn<D>, user: Uuid) -> Result<Option<User>> {
    query_locked::<D>(
        concat!("SELECT ", user_cols!(), " FROM users WHERE id = $1"),
        Lock::Update,
    )
    .bind(id(user))
    .fetch_optional(conn)
    .await
    .map_err(backend)?
    .map(|r| user_from_row(&r))
    .transpose()
}
