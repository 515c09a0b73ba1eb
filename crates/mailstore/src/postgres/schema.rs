//! The PostgreSQL schema of the mail store, as an ordered list of migrations.
//!
//! It mirrors the SQLite schema (`sqlite/schema.rs`): timestamps are BIGINT unix
//! milliseconds, ids of accounts and queue entries TEXT (hyphenated UUIDs), folder ids
//! `BIGINT GENERATED ALWAYS AS IDENTITY` (never reused), case-insensitive keys stored
//! pre-normalised, booleans BOOLEAN. What differs:
//! - bodies are rows: `blobs.body` (BYTEA) next to the hash, size, reference count and
//!   `orphaned_at`, so any node serves any message;
//! - messages and queue entries reference their body with a foreign key (SQLite's triggers
//!   refuse a missing body instead);
//! - the derived values (folder counters, blob reference counts) are kept by statement-level
//!   triggers over transition tables, which lock the blob rows they change in hash order
//!   (several transactions releasing and taking references to the same bodies then never
//!   wait for each other in a cycle);
//! - accounts by UPN through an index on `lower(upn)`.
//!
//! Released migrations are never edited; a change is a new entry at the end of
//! [`MIGRATIONS`].

/// `(version, sql)`, applied in order, each in its own transaction.
pub(super) const MIGRATIONS: &[(i64, &str)] = &[(1, V1)];

const V1: &str = r#"
CREATE TABLE auth_policies (
    name_key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    policy TEXT NOT NULL
);

CREATE TABLE organization (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    default_auth_policy TEXT REFERENCES auth_policies(name_key),
    next_uid_validity BIGINT NOT NULL
);
INSERT INTO organization (id, default_auth_policy, next_uid_validity) VALUES (1, NULL, 1);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    user_oid TEXT NOT NULL UNIQUE,
    upn TEXT NOT NULL,
    address TEXT NOT NULL,
    display_name TEXT NOT NULL,
    auth_policy TEXT REFERENCES auth_policies(name_key),
    created BIGINT NOT NULL
);
CREATE INDEX accounts_auth_policy ON accounts(auth_policy) WHERE auth_policy IS NOT NULL;
CREATE INDEX accounts_upn ON accounts(lower(upn));

CREATE TABLE addresses (
    address TEXT PRIMARY KEY,
    account TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE
);
CREATE INDEX addresses_account ON addresses(account);

CREATE TABLE folders (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    role TEXT,
    uid_validity BIGINT NOT NULL,
    uid_next BIGINT NOT NULL DEFAULT 1,
    highest_modseq BIGINT NOT NULL DEFAULT 1,
    subscribed BOOLEAN NOT NULL DEFAULT FALSE,
    -- Kept by the triggers on `messages`.
    messages BIGINT NOT NULL DEFAULT 0,
    unseen BIGINT NOT NULL DEFAULT 0,
    size BIGINT NOT NULL DEFAULT 0,
    UNIQUE (account, name)
);
CREATE UNIQUE INDEX folders_role ON folders(account, role) WHERE role IS NOT NULL;

-- Bodies by SHA-256 hex. `refs` counts messages and queue entries; `orphaned_at` is when
-- blob garbage collection first saw `refs = 0` (cleared when the blob is used again).
CREATE TABLE blobs (
    hash TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    body BYTEA NOT NULL,
    refs BIGINT NOT NULL DEFAULT 0,
    orphaned_at BIGINT
);
CREATE INDEX blobs_unreferenced ON blobs(orphaned_at) WHERE refs = 0;

CREATE TABLE messages (
    folder BIGINT NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    uid BIGINT NOT NULL,
    blob TEXT NOT NULL REFERENCES blobs(hash),
    size BIGINT NOT NULL,
    internal_date BIGINT NOT NULL,
    flags BIGINT NOT NULL,
    keywords TEXT,
    modseq BIGINT NOT NULL,
    PRIMARY KEY (folder, uid)
);
CREATE INDEX messages_blob ON messages(blob);

-- The body rows a statement references are locked in hash order before their counts change.
CREATE FUNCTION messages_inserted() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM blobs WHERE hash IN (SELECT blob FROM new_rows)
        ORDER BY hash FOR NO KEY UPDATE;
    UPDATE blobs b SET refs = b.refs + d.n, orphaned_at = NULL
        FROM (SELECT blob, COUNT(*) AS n FROM new_rows GROUP BY blob) d
        WHERE b.hash = d.blob;
    UPDATE folders f
        SET messages = f.messages + d.n, unseen = f.unseen + d.unseen, size = f.size + d.size
        FROM (SELECT folder, COUNT(*) AS n,
                     COUNT(*) FILTER (WHERE flags & 1 = 0) AS unseen, SUM(size) AS size
              FROM new_rows GROUP BY folder) d
        WHERE f.id = d.folder;
    RETURN NULL;
END
$$;
CREATE TRIGGER messages_insert AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION messages_inserted();

CREATE FUNCTION messages_deleted() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM blobs WHERE hash IN (SELECT blob FROM old_rows)
        ORDER BY hash FOR NO KEY UPDATE;
    UPDATE blobs b SET refs = b.refs - d.n
        FROM (SELECT blob, COUNT(*) AS n FROM old_rows GROUP BY blob) d
        WHERE b.hash = d.blob;
    UPDATE folders f
        SET messages = f.messages - d.n, unseen = f.unseen - d.unseen, size = f.size - d.size
        FROM (SELECT folder, COUNT(*) AS n,
                     COUNT(*) FILTER (WHERE flags & 1 = 0) AS unseen, SUM(size) AS size
              FROM old_rows GROUP BY folder) d
        WHERE f.id = d.folder;
    RETURN NULL;
END
$$;
CREATE TRIGGER messages_delete AFTER DELETE ON messages
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION messages_deleted();

-- Only `flags`, `keywords` and `modseq` are ever updated: the unseen count follows \Seen.
CREATE FUNCTION messages_updated() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE folders f
        SET unseen = f.unseen + d.delta
        FROM (SELECT n.folder,
                     SUM(CASE WHEN n.flags & 1 = 0 THEN 1 ELSE 0 END
                         - CASE WHEN o.flags & 1 = 0 THEN 1 ELSE 0 END) AS delta
              FROM new_rows n JOIN old_rows o ON o.folder = n.folder AND o.uid = n.uid
              GROUP BY n.folder) d
        WHERE f.id = d.folder AND d.delta <> 0;
    RETURN NULL;
END
$$;
CREATE TRIGGER messages_update AFTER UPDATE ON messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION messages_updated();

-- The outbound relay queue. `state` is 'queued' (with `next_attempt`) or 'failed';
-- `claimed_until` is the lease of the node that `due` handed the entry to.
CREATE TABLE outbound (
    id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    blob TEXT NOT NULL REFERENCES blobs(hash),
    size BIGINT NOT NULL,
    queued BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt BIGINT,
    last_error TEXT,
    state TEXT NOT NULL CHECK (state IN ('queued', 'failed')),
    claimed_until BIGINT
);
CREATE INDEX outbound_due ON outbound(next_attempt) WHERE state = 'queued';
CREATE INDEX outbound_blob ON outbound(blob);

CREATE FUNCTION outbound_changed() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE blobs SET refs = refs + 1, orphaned_at = NULL WHERE hash = NEW.blob;
    ELSE
        UPDATE blobs SET refs = refs - 1 WHERE hash = OLD.blob;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER outbound_refs AFTER INSERT OR DELETE ON outbound
    FOR EACH ROW EXECUTE FUNCTION outbound_changed();
"#;
