//! [`SqliteStore`]: identity's store on the embedded SQLite file.
//!
//! One file in WAL mode, `synchronous=NORMAL`, foreign keys on; writes through one writer
//! connection, reads through a pool of readers ([`mailward_sql::sqlite::open`]). Refresh
//! rotation is an `INSERT … SELECT` of the successor plus the `refresh_tokens_rotate`
//! trigger that spends the parent (SQLite has no data-modifying CTEs).

mod schema;

use crate::columns::*;
use crate::sql::{IdentityDb, IdentityDialect};
use crate::{Result, StoreError};
use mailward_sql::Sqlite;
use mailward_sql::sqlite::SqliteSettings;
use mailward_types::clock;
use std::path::Path;

/// The SQLite identity store.
pub type SqliteStore = IdentityDb<Sqlite>;

impl IdentityDialect for Sqlite {
    const MIGRATIONS: &'static [(i64, &'static str)] = schema::MIGRATIONS;

    const ROTATE_REFRESH: &'static str = concat!(
        "INSERT INTO refresh_tokens (token_hash, family_id, client_id, user_id, scopes, resource,
                                     amr, auth_time, mfa_time, session_id, client_app_type,
                                     created_at, expires_at, used_at, revoked_at, parent_hash)
         SELECT $1, family_id, client_id, user_id, scopes, resource, amr, auth_time, mfa_time,
                session_id, client_app_type, $3, $4, NULL, NULL, token_hash
         FROM refresh_tokens
         WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $3
         RETURNING ",
        refresh_token_cols!(),
        ", (SELECT id FROM users WHERE users.id = refresh_tokens.user_id) AS u_id,
           (SELECT upn FROM users WHERE users.id = refresh_tokens.user_id) AS u_upn,
           (SELECT display_name FROM users WHERE users.id = refresh_tokens.user_id) AS u_display_name,
           (SELECT mail FROM users WHERE users.id = refresh_tokens.user_id) AS u_mail,
           (SELECT enabled FROM users WHERE users.id = refresh_tokens.user_id) AS u_enabled,
           (SELECT immutable_id FROM users WHERE users.id = refresh_tokens.user_id) AS u_immutable_id,
           (SELECT source FROM users WHERE users.id = refresh_tokens.user_id) AS u_source,
           (SELECT roles FROM users WHERE users.id = refresh_tokens.user_id) AS u_roles,
           (SELECT created_at FROM users WHERE users.id = refresh_tokens.user_id) AS u_created_at,
           (SELECT tokens_valid_from FROM users WHERE users.id = refresh_tokens.user_id) AS u_tokens_valid_from"
    );

    /// Large chunks: each statement is a round trip to SQLite's worker thread.
    const SIGNIN_INSERT_CHUNK: usize = 64;

    const GROUP_COMMIT: bool = true;
}

impl IdentityDb<Sqlite> {
    /// Opens (creating if missing) the database file at `path` and brings its schema up to
    /// date.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        let settings = SqliteSettings {
            migrations: schema::MIGRATIONS,
            full_sync: false,
            what: "identity",
        };
        mailward_sql::sqlite::open(path, settings, clock::millis(clock::now()))
            .await
            .map(IdentityDb::new)
            .map_err(|e| StoreError::Backend(e.to_string()))
    }

    /// A private in-memory database (for tests): one connection that lives as long as the
    /// store.
    pub async fn open_memory() -> Result<SqliteStore> {
        mailward_sql::sqlite::open_memory(schema::MIGRATIONS, clock::millis(clock::now()))
            .await
            .map(IdentityDb::new)
            .map_err(|e| StoreError::Backend(e.to_string()))
    }
}
