//! [`PgStore`]: identity's store on PostgreSQL, for several nodes on one database.
//!
//! One pool serves every operation; read-modify-writes lock the row they read
//! (`SELECT … FOR UPDATE`). Refresh rotation is one statement with a data-modifying CTE
//! (claim the parent, insert the successor, join the user as it is now). The schema lives
//! in whatever schema the connection's `search_path` selects first, so several stores can
//! share one database in separate schemas.

mod schema;

use crate::columns::*;
use crate::sql::{IdentityDb, IdentityDialect};
use crate::{Result, StoreError};
use mailward_sql::Postgres;
use mailward_types::clock;

/// Connections of the pool.
const MAX_CONNECTIONS: u32 = 16;

/// The PostgreSQL identity store.
pub type PgStore = IdentityDb<Postgres>;

impl IdentityDialect for Postgres {
    const MIGRATIONS: &'static [(i64, &'static str)] = schema::MIGRATIONS;

    const ROTATE_REFRESH: &'static str = concat!(
        "WITH parent AS (
             UPDATE refresh_tokens SET used_at = $3
             WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL
               AND expires_at > $3
             RETURNING family_id, client_id, user_id, scopes, resource, amr, auth_time,
                       mfa_time, session_id, client_app_type
         ), successor AS (
             INSERT INTO refresh_tokens (token_hash, family_id, client_id, user_id, scopes,
                                         resource, amr, auth_time, mfa_time, session_id,
                                         client_app_type, created_at, expires_at, used_at,
                                         revoked_at)
             SELECT $1, family_id, client_id, user_id, scopes, resource, amr, auth_time,
                    mfa_time, session_id, client_app_type, $3, $4, NULL, NULL
             FROM parent
             RETURNING ",
        refresh_token_cols!(),
        "
         )
         SELECT successor.*,
                u.id AS u_id, u.upn AS u_upn, u.display_name AS u_display_name,
                u.mail AS u_mail, u.enabled AS u_enabled, u.immutable_id AS u_immutable_id,
                u.source AS u_source, u.roles AS u_roles, u.created_at AS u_created_at,
                u.tokens_valid_from AS u_tokens_valid_from
         FROM successor LEFT JOIN users u ON u.id = successor.user_id"
    );

    /// Small chunks: sqlx does not set `TCP_NODELAY`, so a statement message larger than
    /// one TCP segment (64 KiB on loopback) waits for the server's delayed ACK, 40 ms per
    /// statement; eight events stay well under it.
    const SIGNIN_INSERT_CHUNK: usize = 8;

    const GROUP_COMMIT: bool = false;
}

impl IdentityDb<Postgres> {
    /// Connects to the database at `url` (a `postgres://` URL; `options[search_path]=...`
    /// selects the schema) and brings its schema up to date.
    pub async fn connect(url: &str) -> Result<PgStore> {
        mailward_sql::postgres::connect(
            url,
            MAX_CONNECTIONS,
            "schema_migrations",
            schema::MIGRATIONS,
            clock::millis(clock::now()),
        )
        .await
        .map(IdentityDb::new)
        .map_err(|e| StoreError::Backend(e.to_string()))
    }
}
