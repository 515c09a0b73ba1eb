//! Conversions between SQLite rows and the model and record types: timestamps as unix
//! milliseconds, ids as hyphenated UUID text, booleans as 0/1, lists as JSON arrays of
//! stable names, and the mapping of database errors to [`StoreError`].

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
use sqlx::Row;
use sqlx::Sqlite as Db;
use sqlx::sqlite::SqliteRow as DbRow;
use time::OffsetDateTime;
use uuid::Uuid;

pub(super) use crate::columns::*;

/// Booleans are stored as 0/1.
pub(super) fn flag(b: bool) -> i64 {
    i64::from(b)
}

fn get_bool(row: &DbRow, col: &str) -> Result<bool> {
    Ok(get::<i64>(row, col)? != 0)
}

include!("../codec_shared.rs");
