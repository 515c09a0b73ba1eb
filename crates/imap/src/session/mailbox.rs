//! Mailbox management: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST and LSUB
//! (with RFC 6154 special-use attributes and RFC 3348 children attributes) and STATUS.
//! Names are modified UTF-7 on the wire and UTF-8 in the store; `/` is the hierarchy
//! delimiter.

use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::status::StatusDataItemName;
use mailward_mailstore::Folder;

use super::{Session, store_error};
use crate::respond::Reply;
use crate::{utf7, wire};

/// The store name of a mailbox argument (`INBOX` in any case is INBOX; a trailing
/// delimiter is dropped). `None` for names that are not valid modified UTF-7.
pub(crate) fn mailbox_name(m: &Mailbox<'_>) -> Option<String> {
    match m {
        Mailbox::Inbox => Some("INBOX".to_owned()),
        Mailbox::Other(o) => {
            let name = utf7::decode(o.as_ref())?;
            let name = name.trim_end_matches('/');
            if name.is_empty()
                || name.contains("//")
                || name.starts_with('/')
                || name.chars().any(char::is_control)
            {
                return None;
            }
            if name.eq_ignore_ascii_case("INBOX") {
                return Some("INBOX".to_owned());
            }
            Some(name.to_owned())
        }
    }
}

/// `*` matches anything, `%` anything but the delimiter (RFC 3501 §6.3.8). Dynamic
/// programming over (pattern, name) positions: O(|pattern|·|name|).
fn wildcard_match(pattern: &[char], name: &[char]) -> bool {
    // ok[j]: pattern[..i] matches name[..j].
    let mut ok = vec![false; name.len() + 1];
    ok[0] = true;
    for &p in pattern {
        let mut next = vec![false; name.len() + 1];
        match p {
            '*' => {
                let mut any = false;
                for j in 0..=name.len() {
                    any |= ok[j];
                    next[j] = any;
                }
            }
            '%' => {
                let mut any = false;
                for j in 0..=name.len() {
                    any |= ok[j];
                    next[j] = any;
                    if j < name.len() && name[j] == '/' {
                        any = false;
                    }
                }
            }
            c => {
                for j in 1..=name.len() {
                    next[j] = ok[j - 1] && name[j - 1] == c;
                }
            }
        }
        ok = next;
    }
    ok[name.len()]
}

/// Whether `name` matches the LIST pattern (INBOX compared case-insensitively).
pub(crate) fn list_matches(pattern: &str, name: &str) -> bool {
    let normalize = |s: &str| -> Vec<char> {
        if s.len() >= 5
            && s[..5].eq_ignore_ascii_case("INBOX")
            && (s.len() == 5 || s.as_bytes()[5] == b'/')
        {
            let mut v: Vec<char> = "INBOX".chars().collect();
            v.extend(s[5..].chars());
            v
        } else {
            s.chars().collect()
        }
    };
    wildcard_match(&normalize(pattern), &normalize(name))
}

fn list_pattern(m: &ListMailbox<'_>) -> Option<String> {
    let bytes: &[u8] = match m {
        ListMailbox::Token(t) => t.as_ref(),
        ListMailbox::String(s) => s.as_ref(),
    };
    utf7::decode(bytes)
}

impl Session {
    fn account(&mut self) -> Option<uuid::Uuid> {
        self.authed().map(|a| a.account.id)
    }

    pub(crate) async fn handle_create(&mut self, mailbox: Mailbox<'_>) -> Reply {
        let Some(account) = self.account() else {
            return Reply::bad(super::NOT_AUTHENTICATED);
        };
        let Some(name) = mailbox_name(&mailbox) else {
            return Reply::no("Invalid mailbox name").code("CANNOT");
        };
        if name == "INBOX" {
            return Reply::no("INBOX always exists").code("ALREADYEXISTS");
        }
        match self.server.store.create_folder(account, &name, None).await {
            Ok(_) => Reply::ok("CREATE completed"),
            Err(e) => store_error(e),
        }
    }

    pub(crate) async fn handle_delete(&mut self, mailbox: Mailbox<'_>) -> Reply {
        let Some(account) = self.account() else {
            return Reply::bad(super::NOT_AUTHENTICATED);
        };
        let Some(name) = mailbox_name(&mailbox) else {
            return Reply::no("Invalid mailbox name").code("CANNOT");
        };
        if name == "INBOX" {
            return Reply::no("INBOX cannot be deleted").code("CANNOT");
        }
        match self.server.store.delete_folder(account, &name).await {
            Ok(()) => Reply::ok("DELETE completed"),
            Err(e) => store_error(e),
        }
    }

    pub(crate) async fn handle_rename(&mut self, from: Mailbox<'_>, to: Mailbox<'_>) -> Reply {
        let Some(account) = self.account() else {
            return Reply::bad(super::NOT_AUTHENTICATED);
        };
        let (Some(from), Some(to)) = (mailbox_name(&from), mailbox_name(&to)) else {
            return Reply::no("Invalid mailbox name").code("CANNOT");
        };
        if to == "INBOX" {
            return Reply::no("INBOX already exists").code("ALREADYEXISTS");
        }
        match self.server.store.rename_folder(account, &from, &to).await {
            Ok(()) => Reply::ok("RENAME completed"),
            Err(e) => store_error(e),
        }
    }

    pub(crate) async fn handle_subscribe(
        &mut self,
        mailbox: Mailbox<'_>,
        subscribe: bool,
    ) -> Reply {
        let Some(account) = self.account() else {
            return Reply::bad(super::NOT_AUTHENTICATED);
        };
        let Some(name) = mailbox_name(&mailbox) else {
            return Reply::no("Invalid mailbox name").code("CANNOT");
        };
        match self
            .server
            .store
            .set_subscribed(account, &name, subscribe)
            .await
        {
            Ok(()) => Reply::ok(if subscribe {
                "SUBSCRIBE completed"
            } else {
                "UNSUBSCRIBE completed"
            }),
            Err(e) => store_error(e),
        }
    }

    pub(crate) async fn handle_list(
        &mut self,
        reference: Mailbox<'_>,
        pattern: ListMailbox<'_>,
        lsub: bool,
    ) -> Reply {
        let verb = if lsub { "LSUB" } else { "LIST" };
        let Some(account) = self.account() else {
            return Reply::bad(super::NOT_AUTHENTICATED);
        };
        let reference = match &reference {
            Mailbox::Inbox => Some("INBOX".to_owned()),
            Mailbox::Other(o) => utf7::decode(o.as_ref()),
        };
        let (Some(reference), Some(pattern)) = (reference, list_pattern(&pattern)) else {
            return Reply::no("Invalid mailbox name").code("CANNOT");
        };
        if pattern.is_empty() {
            // RFC 3501 §6.3.8: the delimiter and root.
            self.out.extend_from_slice(b"* ");
            self.out.extend_from_slice(verb.as_bytes());
            self.out.extend_from_slice(b" (\\Noselect) \"/\" \"\"\r\n");
            return Reply::ok(format!("{verb} completed"));
        }
        let full = format!("{reference}{pattern}");
        let folders = match self.server.store.folders(account).await {
            Ok(f) => f,
            Err(e) => return store_error(e),
        };
        for f in &folders {
            if lsub && !f.subscribed {
                continue;
            }
            if !list_matches(&full, &f.name) {
                continue;
            }
            write_list(&mut self.out, verb, f, &folders);
        }
        Reply::ok(format!("{verb} completed"))
    }

    pub(crate) async fn handle_status(
        &mut self,
        mailbox: Mailbox<'_>,
        items: Vec<StatusDataItemName>,
    ) -> Reply {
        let Some(account) = self.account() else {
            return Reply::bad(super::NOT_AUTHENTICATED);
        };
        let Some(name) = mailbox_name(&mailbox) else {
            return Reply::no("Invalid mailbox name").code("CANNOT");
        };
        let store = self.server.store.clone();
        let folder = match store.folder(account, &name).await {
            Ok(Some(f)) => f,
            Ok(None) => return Reply::no("No such mailbox").code("NONEXISTENT"),
            Err(e) => return store_error(e),
        };
        let st = match store.status(folder.id).await {
            Ok(s) => s,
            Err(e) => return store_error(e),
        };
        let out = &mut self.out;
        out.extend_from_slice(b"* STATUS ");
        wire::string(out, utf7::encode(&folder.name).as_bytes());
        out.extend_from_slice(b" (");
        let mut first = true;
        for item in &items {
            let (label, value): (&[u8], u64) = match item {
                StatusDataItemName::Messages => (b"MESSAGES", u64::from(st.messages)),
                StatusDataItemName::Recent => (b"RECENT", u64::from(st.recent)),
                StatusDataItemName::UidNext => (b"UIDNEXT", u64::from(st.uid_next)),
                StatusDataItemName::UidValidity => (b"UIDVALIDITY", u64::from(st.uid_validity)),
                StatusDataItemName::Unseen => (b"UNSEEN", u64::from(st.unseen)),
                StatusDataItemName::HighestModSeq => (b"HIGHESTMODSEQ", st.highest_modseq),
                // RFC 9051 items, not advertised; skip rather than fail.
                _ => continue,
            };
            if !first {
                out.push(b' ');
            }
            first = false;
            out.extend_from_slice(label);
            out.push(b' ');
            wire::number(out, value);
        }
        out.extend_from_slice(b")\r\n");
        Reply::ok("STATUS completed")
    }
}

fn write_list(out: &mut Vec<u8>, verb: &str, f: &Folder, all: &[Folder]) {
    let prefix = format!("{}/", f.name);
    let children = all.iter().any(|o| o.name.starts_with(&prefix));
    out.extend_from_slice(b"* ");
    out.extend_from_slice(verb.as_bytes());
    out.extend_from_slice(if children {
        b" (\\HasChildren"
    } else {
        b" (\\HasNoChildren"
    });
    if let Some(attr) = f.role.and_then(|r| r.attribute()) {
        out.push(b' ');
        out.extend_from_slice(attr.as_bytes());
    }
    out.extend_from_slice(b") \"/\" ");
    wire::string(out, utf7::encode(&f.name).as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_patterns() {
        assert!(list_matches("*", "INBOX"));
        assert!(list_matches("*", "a/b/c"));
        assert!(list_matches("%", "Sent"));
        assert!(!list_matches("%", "a/b"));
        assert!(list_matches("a/%", "a/b"));
        assert!(!list_matches("a/%", "a/b/c"));
        assert!(list_matches("inbox", "INBOX"));
        assert!(list_matches("Inbox/*", "INBOX/x"));
        assert!(!list_matches("sent", "Sent"));
        assert!(list_matches("S%t", "Sent"));
        assert!(!list_matches(&"*a".repeat(40), &"a".repeat(39)));
        assert!(list_matches("a%%%b", "ab"));
    }

    #[test]
    fn mailbox_names() {
        fn m(s: &str) -> Mailbox<'_> {
            Mailbox::try_from(s).expect("mailbox")
        }
        assert_eq!(mailbox_name(&m("inbox")).as_deref(), Some("INBOX"));
        assert_eq!(
            mailbox_name(&m("Entw&APw-rfe/")).as_deref(),
            Some("Entwürfe")
        );
        assert_eq!(mailbox_name(&m("&Jjo")), None);
        assert_eq!(mailbox_name(&m("a//b")), None);
    }
}
