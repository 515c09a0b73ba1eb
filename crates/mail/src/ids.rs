//! The opaque ids the REST API hands out: base64url (no padding) of a version byte and
//! big-endian integers.
//!
//! - message: `1 | folder (i64) | UIDVALIDITY (u32) | UID (u32)` — stable while the
//!   message stays in its folder; a moved message gets a new id, as in Graph.
//! - folder: `2 | folder (i64)` — stable across renames.
//!
//! An id is only a locator: every lookup also checks that the folder belongs to the
//! caller's account, so a guessed or foreign id finds nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mailward_mailstore::FolderId;

const MESSAGE: u8 = 1;
const FOLDER: u8 = 2;

/// Where a message lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MessageKey {
    pub folder: FolderId,
    pub uid_validity: u32,
    pub uid: u32,
}

impl MessageKey {
    pub fn encode(&self) -> String {
        let mut b = Vec::with_capacity(17);
        b.push(MESSAGE);
        b.extend_from_slice(&self.folder.to_be_bytes());
        b.extend_from_slice(&self.uid_validity.to_be_bytes());
        b.extend_from_slice(&self.uid.to_be_bytes());
        URL_SAFE_NO_PAD.encode(b)
    }

    pub fn decode(id: &str) -> Option<MessageKey> {
        if id.len() > 64 {
            return None;
        }
        let b = URL_SAFE_NO_PAD.decode(id).ok()?;
        if b.len() != 17 || b[0] != MESSAGE {
            return None;
        }
        Some(MessageKey {
            folder: FolderId::from_be_bytes(b[1..9].try_into().ok()?),
            uid_validity: u32::from_be_bytes(b[9..13].try_into().ok()?),
            uid: u32::from_be_bytes(b[13..17].try_into().ok()?),
        })
    }
}

pub(crate) fn encode_folder(folder: FolderId) -> String {
    let mut b = Vec::with_capacity(9);
    b.push(FOLDER);
    b.extend_from_slice(&folder.to_be_bytes());
    URL_SAFE_NO_PAD.encode(b)
}

pub(crate) fn decode_folder(id: &str) -> Option<FolderId> {
    if id.len() > 64 {
        return None;
    }
    let b = URL_SAFE_NO_PAD.decode(id).ok()?;
    if b.len() != 9 || b[0] != FOLDER {
        return None;
    }
    Some(FolderId::from_be_bytes(b[1..9].try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let k = MessageKey {
            folder: 42,
            uid_validity: 1_800_000_000,
            uid: 7,
        };
        let id = k.encode();
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(MessageKey::decode(&id), Some(k));
        let f = encode_folder(-3);
        assert_eq!(decode_folder(&f), Some(-3));
    }

    #[test]
    fn kinds_and_garbage_are_refused() {
        let k = MessageKey {
            folder: 1,
            uid_validity: 1,
            uid: 1,
        };
        assert_eq!(decode_folder(&k.encode()), None);
        assert_eq!(MessageKey::decode(&encode_folder(1)), None);
        for bad in ["", "inbox", "!!!!", "AQ", &"A".repeat(100)] {
            assert_eq!(MessageKey::decode(bad), None, "{bad}");
            assert_eq!(decode_folder(bad), None, "{bad}");
        }
    }
}
