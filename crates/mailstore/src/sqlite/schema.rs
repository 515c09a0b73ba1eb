//! The SQLite schema of the mail store, as an ordered list of migrations (applied by
//! `mailward_sql::migrate`: one `BEGIN IMMEDIATE` transaction per migration that re-reads the
//! version first, so two processes opening one file apply each migration once).
//!
//! Conventions: timestamps are INTEGER unix milliseconds, ids of accounts and queue entries
//! TEXT (hyphenated UUIDs), folder ids INTEGER `AUTOINCREMENT` (never reused, so a stale id
//! can never reach a newer folder), case-insensitive keys stored pre-normalised. Released
//! migrations are never edited; a change is a new entry at the end of [`MIGRATIONS`].
//!
//! Derived values are kept by triggers in the same statement that changes a message, so
//! they cannot drift from the rows: the per-folder counters `STATUS` needs (`messages`,
//! `unseen`, `size`) and each blob's reference count (messages plus queue entries).

/// `(version, sql)`, applied in order, each in its own transaction.
pub(super) const MIGRATIONS: &[(i64, &str)] = &[(1, V1), (2, V2), (3, V3)];

const V1: &str = r#"
-- Authentication policies, by case-folded name; `policy` is the policy's JSON export
-- (`AuthenticationPolicy::to_json`), read back with `from_json`.
CREATE TABLE auth_policies (
    name_key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    policy TEXT NOT NULL
) WITHOUT ROWID;

-- One row: organization-wide settings and the UIDVALIDITY counter.
CREATE TABLE organization (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    default_auth_policy TEXT REFERENCES auth_policies(name_key),
    -- The next UIDVALIDITY to hand out. Raised to the wall-clock seconds when the store
    -- opens and when an account is created, and incremented by every folder creation, so
    -- values are unique across the store's life and unlikely to repeat if it is rebuilt.
    next_uid_validity INTEGER NOT NULL
);
INSERT INTO organization (id, default_auth_policy, next_uid_validity) VALUES (1, NULL, 1);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    user_oid TEXT NOT NULL UNIQUE,
    upn TEXT NOT NULL,
    address TEXT NOT NULL,
    display_name TEXT NOT NULL,
    auth_policy TEXT REFERENCES auth_policies(name_key),
    created INTEGER NOT NULL
);
CREATE INDEX accounts_auth_policy ON accounts(auth_policy) WHERE auth_policy IS NOT NULL;

-- Every address of an account (the primary one today), lowercase.
CREATE TABLE addresses (
    address TEXT PRIMARY KEY,
    account TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX addresses_account ON addresses(account);

CREATE TABLE folders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    -- Canonical full name (`INBOX` upper case), `/`-delimited.
    name TEXT NOT NULL,
    role TEXT,
    uid_validity INTEGER NOT NULL,
    uid_next INTEGER NOT NULL DEFAULT 1,
    highest_modseq INTEGER NOT NULL DEFAULT 1,
    subscribed INTEGER NOT NULL DEFAULT 0,
    -- Kept by the triggers on `messages`.
    messages INTEGER NOT NULL DEFAULT 0,
    unseen INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account, name)
);
CREATE UNIQUE INDEX folders_role ON folders(account, role) WHERE role IS NOT NULL;

-- Bodies on disk (`blobs/ab/abcdef…`), by SHA-256 hex. A row exists only while its file
-- does: the file is made durable before the row is inserted, and the row is deleted
-- before the file. `refs` counts messages and queue entries; `orphaned_at` is when blob
-- garbage collection first saw `refs = 0` (cleared when the blob is used again).
CREATE TABLE blobs (
    hash TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    refs INTEGER NOT NULL DEFAULT 0,
    orphaned_at INTEGER
) WITHOUT ROWID;
CREATE INDEX blobs_unreferenced ON blobs(orphaned_at) WHERE refs = 0;

-- Clustered by (folder, uid): listing a folder is one range scan in UID order.
-- `flags` is the system-flag bitmask (1 \Seen, 2 \Answered, 4 \Flagged, 8 \Deleted,
-- 16 \Draft); `keywords` the sorted keywords separated by spaces, NULL when none.
-- Rows are inserted and deleted, and only `flags`, `keywords` and `modseq` are updated
-- (a move is an insert plus a delete), which is what the triggers rely on.
CREATE TABLE messages (
    folder INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    uid INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    internal_date INTEGER NOT NULL,
    flags INTEGER NOT NULL,
    keywords TEXT,
    modseq INTEGER NOT NULL,
    PRIMARY KEY (folder, uid)
) WITHOUT ROWID;

CREATE TRIGGER messages_insert AFTER INSERT ON messages
BEGIN
    SELECT RAISE(ABORT, 'message body is not stored')
        WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE hash = NEW.blob);
    UPDATE blobs SET refs = refs + 1, orphaned_at = NULL WHERE hash = NEW.blob;
    UPDATE folders SET messages = messages + 1,
                       unseen = unseen + ((NEW.flags & 1) = 0),
                       size = size + NEW.size
        WHERE id = NEW.folder;
END;

CREATE TRIGGER messages_delete AFTER DELETE ON messages
BEGIN
    UPDATE blobs SET refs = refs - 1 WHERE hash = OLD.blob;
    UPDATE folders SET messages = messages - 1,
                       unseen = unseen - ((OLD.flags & 1) = 0),
                       size = size - OLD.size
        WHERE id = OLD.folder;
END;

CREATE TRIGGER messages_seen AFTER UPDATE OF flags ON messages
WHEN (OLD.flags & 1) != (NEW.flags & 1)
BEGIN
    UPDATE folders SET unseen = unseen + ((NEW.flags & 1) = 0) - ((OLD.flags & 1) = 0)
        WHERE id = NEW.folder;
END;

-- The outbound relay queue. `state` is 'queued' (with `next_attempt`) or 'failed'.
CREATE TABLE outbound (
    id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    queued INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER,
    last_error TEXT,
    state TEXT NOT NULL CHECK (state IN ('queued', 'failed'))
);
CREATE INDEX outbound_due ON outbound(next_attempt) WHERE state = 'queued';

CREATE TRIGGER outbound_insert AFTER INSERT ON outbound
BEGIN
    SELECT RAISE(ABORT, 'message body is not stored')
        WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE hash = NEW.blob);
    UPDATE blobs SET refs = refs + 1, orphaned_at = NULL WHERE hash = NEW.blob;
END;

CREATE TRIGGER outbound_delete AFTER DELETE ON outbound
BEGIN
    UPDATE blobs SET refs = refs - 1 WHERE hash = OLD.blob;
END;
"#;

/// Accounts by UPN, for the authentication policy of basic authentication.
const V2: &str = r#"
CREATE INDEX accounts_upn ON accounts(upn COLLATE NOCASE);
"#;

/// The claim of an outbound entry handed out by `due` (unix ms; NULL: unclaimed).
const V3: &str = r#"
ALTER TABLE outbound ADD COLUMN claimed_until INTEGER;
"#;
