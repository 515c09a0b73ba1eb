//! Conversions between PostgreSQL rows and the model and record types: timestamps as BIGINT
//! unix milliseconds, ids as hyphenated UUID text, booleans as BOOLEAN, lists as JSON arrays
//! (TEXT) of stable names, and the mapping of database errors to [`StoreError`].

use crate::{Result, StoreError};
use mailward_types::clock;
use mailward_types::model::{
    Amr, Application, AuthenticationMode, ClientAppType, ClientKind, Domain, GrantType, Group,
    Resource, Role, TokenAlg, User, UserSource,
};
use mailward_types::records::{
    AuthCode, DeviceCode, DeviceStatus, PasskeyRecord, RefreshToken, Session, SignInEvent,
    SigningKey, TotpRecord,
};
use mailward_types::{ClientId, RedirectUri, Upn};
use sqlx::Postgres as Db;
use sqlx::Row;
use sqlx::postgres::PgRow as DbRow;
use time::OffsetDateTime;
use uuid::Uuid;

pub(super) use crate::columns::*;

/// Booleans are stored as BOOLEAN.
pub(super) fn flag(b: bool) -> bool {
    b
}

fn get_bool(row: &DbRow, col: &str) -> Result<bool> {
    get::<bool>(row, col)
}

include!("../codec_shared.rs");
