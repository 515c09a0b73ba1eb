//! The mail store's data types.

use mailward_authpolicy::AuthenticationPolicy;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// A mail account (mailbox in Exchange's words) of one identity user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub id: Uuid,
    /// The identity user's object id (`oid` claim).
    pub user_oid: Uuid,
    /// The user principal name at creation (for display and policy lookups).
    pub upn: String,
    /// Primary SMTP address, lowercase.
    pub address: String,
    pub display_name: String,
    /// The authentication policy assigned to this account, if any.
    pub auth_policy: Option<String>,
    pub created: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub user_oid: Uuid,
    pub upn: String,
    pub address: String,
    pub display_name: String,
    pub now: OffsetDateTime,
}

pub type FolderId = i64;

/// RFC 6154 special-use roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SpecialUse {
    Inbox,
    Sent,
    Drafts,
    Trash,
    Junk,
    Archive,
}

impl SpecialUse {
    pub const ALL: [SpecialUse; 6] = [
        SpecialUse::Inbox,
        SpecialUse::Sent,
        SpecialUse::Drafts,
        SpecialUse::Trash,
        SpecialUse::Junk,
        SpecialUse::Archive,
    ];

    /// The folder name a new account gets.
    pub fn default_name(self) -> &'static str {
        match self {
            SpecialUse::Inbox => "INBOX",
            SpecialUse::Sent => "Sent",
            SpecialUse::Drafts => "Drafts",
            SpecialUse::Trash => "Trash",
            SpecialUse::Junk => "Junk",
            SpecialUse::Archive => "Archive",
        }
    }

    /// The RFC 6154 attribute (`None` for INBOX, which has no attribute).
    pub fn attribute(self) -> Option<&'static str> {
        match self {
            SpecialUse::Inbox => None,
            SpecialUse::Sent => Some("\\Sent"),
            SpecialUse::Drafts => Some("\\Drafts"),
            SpecialUse::Trash => Some("\\Trash"),
            SpecialUse::Junk => Some("\\Junk"),
            SpecialUse::Archive => Some("\\Archive"),
        }
    }

    /// Graph's well-known folder name (`inbox`, `sentitems`, ...).
    pub fn graph_name(self) -> &'static str {
        match self {
            SpecialUse::Inbox => "inbox",
            SpecialUse::Sent => "sentitems",
            SpecialUse::Drafts => "drafts",
            SpecialUse::Trash => "deleteditems",
            SpecialUse::Junk => "junkemail",
            SpecialUse::Archive => "archive",
        }
    }
}

/// A folder. Names are full paths with `/` as the hierarchy delimiter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Folder {
    pub id: FolderId,
    pub account: Uuid,
    pub name: String,
    pub role: Option<SpecialUse>,
    pub uid_validity: u32,
    pub subscribed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FolderStatus {
    pub messages: u32,
    pub unseen: u32,
    /// Messages whose `\Recent` flag this store still carries (RFC 3501; kept simple:
    /// appended since the folder was last selected read-write is the protocol's job).
    pub recent: u32,
    pub uid_next: u32,
    pub uid_validity: u32,
    pub highest_modseq: u64,
    /// Sum of message sizes in octets.
    pub size: u64,
}

/// Message flags: the system flags and keywords (RFC 3501 §2.3.2). `\Recent` is session
/// state, not stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flags {
    pub seen: bool,
    pub answered: bool,
    pub flagged: bool,
    pub deleted: bool,
    pub draft: bool,
    /// Keywords, as given (compared case-insensitively), sorted and deduplicated.
    pub keywords: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    Add,
    Remove,
    Replace,
}

/// SHA-256 of the body, lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlobId(pub String);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageMeta {
    pub uid: u32,
    pub blob: BlobId,
    pub size: u32,
    pub internal_date: OffsetDateTime,
    pub flags: Flags,
    pub modseq: u64,
}

#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub raw: &'a [u8],
    pub flags: Flags,
    pub internal_date: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub folder: FolderId,
    pub uid_validity: u32,
    pub uid: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagUpdate {
    /// (UID, new flags, new modseq) of every message changed or matched.
    pub updated: Vec<(u32, Flags, u64)>,
    /// UIDs left alone because their modseq exceeded `unchanged_since`.
    pub conflicts: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub uid_validity: u32,
    /// (source UID, destination UID), source ascending.
    pub pairs: Vec<(u32, u32)>,
}

#[derive(Debug, Clone)]
pub struct NewOutbound<'a> {
    pub from: &'a str,
    pub recipients: &'a [String],
    pub raw: &'a [u8],
    pub now: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outbound {
    pub id: Uuid,
    pub from: String,
    pub recipients: Vec<String>,
    pub blob: BlobId,
    pub size: u32,
    pub queued: OffsetDateTime,
    pub attempts: u32,
    pub next_attempt: Option<OffsetDateTime>,
    pub last_error: Option<String>,
    /// `queued` or `failed`.
    pub state: String,
}

/// Which authentication policy decides for an account, as `authpolicy::decide` wants it.
#[derive(Debug, Clone, Default)]
pub struct EffectivePolicy {
    pub user: Option<AuthenticationPolicy>,
    pub default: Option<AuthenticationPolicy>,
}
