//! The PostgreSQL schema of the identity store, as an ordered list of migrations.
//!
//! It mirrors the SQLite schema: timestamps are BIGINT unix milliseconds, ids TEXT
//! (hyphenated UUIDs), lists and enums TEXT (JSON arrays or stable names), and
//! case-insensitive keys are stored pre-normalised in a `*_key` column; booleans are
//! BOOLEAN. Refresh-token rotation needs no trigger here (it is one statement with a
//! data-modifying CTE). Released migrations are never edited; a change is a new entry at the
//! end of [`MIGRATIONS`].

/// `(version, sql)`, applied in order, each in its own transaction.
pub(crate) const MIGRATIONS: &[(i64, &str)] = &[(1, V1), (2, V2), (3, V3), (4, SECOND_FACTOR)];

/// Guards against guessing and flooding: password attempts in flight on each lockout
/// counter (reserved before the hash, given back when settled; `pending_at` lets a
/// reservation of a process that died expire), submissions per device user code, and
/// fixed-window rate-limit counters.
const V3: &str = r#"
ALTER TABLE lockout ADD COLUMN pending BIGINT NOT NULL DEFAULT 0;
ALTER TABLE lockout ADD COLUMN pending_at BIGINT;
ALTER TABLE device_codes ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    taken BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX rate_limits_by_expiry ON rate_limits (expires_at);
"#;

/// Per-user second-factor failures across flows: the count since the last correct code or
/// lock, the current lock window and when the lock ends (unix ms, 0 for none).
const SECOND_FACTOR: &str = r#"
CREATE TABLE second_factor_failures (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    failures BIGINT NOT NULL,
    lock_ms BIGINT NOT NULL,
    locked_until BIGINT NOT NULL
);
"#;

/// Documents: JSON objects kept verbatim (conditional access policies, named locations).
const V2: &str = r#"
CREATE TABLE documents (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);
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
    enabled BOOLEAN NOT NULL,
    immutable_id TEXT,
    source TEXT NOT NULL,
    roles TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    tokens_valid_from BIGINT NOT NULL,
    password_hash TEXT
);

CREATE TABLE security_groups (
    id TEXT PRIMARY KEY,
    name_key TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    description TEXT,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL
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
    verified BOOLEAN NOT NULL,
    authentication TEXT NOT NULL,
    is_default BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE applications (
    client_id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    secret_hash TEXT,
    redirect_uris TEXT NOT NULL,
    grants TEXT NOT NULL,
    first_party BOOLEAN NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    app_roles TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE resources (
    id TEXT PRIMARY KEY,
    uri TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    app_roles TEXT NOT NULL,
    token_alg TEXT NOT NULL,
    access_token_lifetime BIGINT NOT NULL,
    first_party BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    sealed_private_key BYTEA NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    active_from BIGINT NOT NULL,
    retired_at BIGINT,
    expires_at BIGINT
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
    auth_time BIGINT NOT NULL,
    mfa_time BIGINT,
    session_id TEXT,
    client_app_type TEXT NOT NULL,
    ip TEXT,
    family_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    redeemed_at BIGINT
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
    auth_time BIGINT NOT NULL,
    mfa_time BIGINT,
    session_id TEXT,
    client_app_type TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
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
    approved_auth_time BIGINT,
    approved_mfa_time BIGINT,
    approved_session_id TEXT,
    interval_secs BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_poll_at BIGINT,
    ip TEXT
);
CREATE INDEX device_codes_by_expiry ON device_codes (expires_at);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amr TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    mfa_time BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE flows (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX flows_by_expiry ON flows (expires_at);

CREATE TABLE totp (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret BYTEA NOT NULL,
    confirmed BOOLEAN NOT NULL,
    last_step BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE passkeys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    credential_id TEXT NOT NULL UNIQUE,
    passkey_json TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_by_user ON passkeys (user_id);

CREATE TABLE lockout (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    location_class TEXT NOT NULL,
    failures BIGINT NOT NULL,
    locked_until BIGINT,
    lockouts BIGINT NOT NULL,
    recent_bad TEXT NOT NULL,
    last_failure_at BIGINT,
    PRIMARY KEY (user_id, location_class)
);

CREATE TABLE familiar_ips (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ip TEXT NOT NULL,
    last_seen BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (user_id, ip)
);

CREATE TABLE signins (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    user_id TEXT,
    upn_key TEXT,
    app_id TEXT,
    result TEXT NOT NULL,
    error_code BIGINT,
    client_app_type TEXT NOT NULL,
    ip TEXT,
    event TEXT NOT NULL
);
CREATE INDEX signins_by_time ON signins (created_at);
CREATE INDEX signins_by_user_time ON signins (upn_key, created_at);
"#;
