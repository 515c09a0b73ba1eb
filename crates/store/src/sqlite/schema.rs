//! The SQLite schema of the identity store, as an ordered list of migrations.
//!
//! The SQL is written to port to PostgreSQL with few changes: timestamps are INTEGER unix
//! milliseconds, booleans INTEGER 0/1, ids TEXT (hyphenated UUIDs), lists and enums TEXT
//! (JSON arrays or stable names), and case-insensitive keys are stored pre-normalised in a
//! `*_key` column instead of relying on a collation. Released migrations are never edited;
//! a change is a new entry at the end of [`MIGRATIONS`].

/// `(version, sql)`, applied in order, each in its own transaction.
pub(crate) const MIGRATIONS: &[(i64, &str)] =
    &[(1, V1), (2, V2), (3, V3), (4, V4), (5, SECOND_FACTOR)];

/// Guards against guessing and flooding: password attempts in flight on each lockout
/// counter (reserved before the hash, given back when settled; `pending_at` lets a
/// reservation of a process that died expire), submissions per device user code, and
/// fixed-window rate-limit counters.
const V4: &str = r#"
ALTER TABLE lockout ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lockout ADD COLUMN pending_at INTEGER;
ALTER TABLE device_codes ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    taken INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX rate_limits_by_expiry ON rate_limits (expires_at);
"#;

/// Per-user second-factor failures across flows: the count since the last correct code or
/// lock, the current lock window and when the lock ends (unix ms, 0 for none).
const SECOND_FACTOR: &str = r#"
CREATE TABLE second_factor_failures (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    failures INTEGER NOT NULL,
    lock_ms INTEGER NOT NULL,
    locked_until INTEGER NOT NULL
) WITHOUT ROWID;
"#;

/// Documents: JSON objects kept verbatim (conditional access policies, named locations).
const V3: &str = r#"
CREATE TABLE documents (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
"#;

/// Refresh-token rotation in one statement: a successor row names its parent, and this
/// trigger marks the parent used in the same statement that inserts the successor.
const V2: &str = r#"
ALTER TABLE refresh_tokens ADD COLUMN parent_hash TEXT;
CREATE TRIGGER refresh_tokens_rotate AFTER INSERT ON refresh_tokens
WHEN NEW.parent_hash IS NOT NULL
BEGIN
    UPDATE refresh_tokens SET used_at = NEW.created_at WHERE token_hash = NEW.parent_hash;
END;
"#;

const V1: &str = r#"
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    upn TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    mail TEXT,
    enabled INTEGER NOT NULL,
    immutable_id TEXT,
    source TEXT NOT NULL,
    roles TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    tokens_valid_from INTEGER NOT NULL,
    password_hash TEXT
);

CREATE TABLE security_groups (
    id TEXT PRIMARY KEY,
    name_key TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    description TEXT,
    source TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES security_groups (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_by_user ON group_members (user_id);

CREATE TABLE domains (
    name_key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    verified INTEGER NOT NULL,
    authentication TEXT NOT NULL,
    is_default INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE applications (
    client_id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    secret_hash TEXT,
    redirect_uris TEXT NOT NULL,
    grants TEXT NOT NULL,
    first_party INTEGER NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    app_roles TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE resources (
    id TEXT PRIMARY KEY,
    uri TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    app_roles TEXT NOT NULL,
    token_alg TEXT NOT NULL,
    access_token_lifetime INTEGER NOT NULL,
    first_party INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    sealed_private_key BLOB NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    active_from INTEGER NOT NULL,
    retired_at INTEGER,
    expires_at INTEGER
);

CREATE TABLE auth_codes (
    code_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    scopes TEXT NOT NULL,
    resource TEXT,
    code_challenge TEXT,
    nonce TEXT,
    amr TEXT NOT NULL,
    auth_time INTEGER NOT NULL,
    mfa_time INTEGER,
    session_id TEXT,
    client_app_type TEXT NOT NULL,
    ip TEXT,
    family_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    redeemed_at INTEGER
);
CREATE INDEX auth_codes_by_user ON auth_codes (user_id);
CREATE INDEX auth_codes_by_expiry ON auth_codes (expires_at);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes TEXT NOT NULL,
    resource TEXT,
    amr TEXT NOT NULL,
    auth_time INTEGER NOT NULL,
    mfa_time INTEGER,
    session_id TEXT,
    client_app_type TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);

CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY,
    user_code_hash TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    resource TEXT,
    status TEXT NOT NULL,
    approved_user_id TEXT,
    approved_amr TEXT,
    approved_auth_time INTEGER,
    approved_mfa_time INTEGER,
    approved_session_id TEXT,
    interval_secs INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    last_poll_at INTEGER,
    ip TEXT
);
CREATE INDEX device_codes_by_expiry ON device_codes (expires_at);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amr TEXT NOT NULL,
    auth_time INTEGER NOT NULL,
    mfa_time INTEGER,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE flows (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX flows_by_expiry ON flows (expires_at);

CREATE TABLE totp (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret BLOB NOT NULL,
    confirmed INTEGER NOT NULL,
    last_step INTEGER,
    created_at INTEGER NOT NULL
);

CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at INTEGER,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE passkeys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    credential_id TEXT NOT NULL UNIQUE,
    passkey_json TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX passkeys_by_user ON passkeys (user_id);

CREATE TABLE lockout (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    location_class TEXT NOT NULL,
    failures INTEGER NOT NULL,
    locked_until INTEGER,
    lockouts INTEGER NOT NULL,
    recent_bad TEXT NOT NULL,
    last_failure_at INTEGER,
    PRIMARY KEY (user_id, location_class)
);

CREATE TABLE familiar_ips (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ip TEXT NOT NULL,
    last_seen INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (user_id, ip)
);

CREATE TABLE signins (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    user_id TEXT,
    upn_key TEXT,
    app_id TEXT,
    result TEXT NOT NULL,
    error_code INTEGER,
    client_app_type TEXT NOT NULL,
    ip TEXT,
    event TEXT NOT NULL
);
CREATE INDEX signins_by_time ON signins (created_at);
CREATE INDEX signins_by_user_time ON signins (upn_key, created_at);
"#;
