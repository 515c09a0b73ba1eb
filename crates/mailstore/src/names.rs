//! Folder names: the canonical spelling (`INBOX` is case-insensitive, RFC 3501 §5.1), the
//! rules a new name must follow, and the hierarchy helpers (`/` is the delimiter).
//!
//! Backend-independent, so every backend canonicalises and validates the same way.

use crate::{Result, StoreError};

/// The hierarchy delimiter.
pub(crate) const DELIMITER: char = '/';
/// The one name that is case-insensitive.
pub(crate) const INBOX: &str = "INBOX";
/// Longest folder name, in bytes (Dovecot allows about the same).
pub(crate) const MAX_NAME_BYTES: usize = 1000;

/// The stored spelling of a name: a first level spelled `inbox` in any case becomes
/// `INBOX`, so `Inbox/Work` and `INBOX/Work` are one folder. Everything else is kept as
/// given (names are otherwise case-sensitive).
pub(crate) fn canonical(name: &str) -> String {
    match name.split_once(DELIMITER) {
        Some((first, rest)) if first.eq_ignore_ascii_case(INBOX) => format!("{INBOX}/{rest}"),
        None if name.eq_ignore_ascii_case(INBOX) => INBOX.to_owned(),
        _ => name.to_owned(),
    }
}

/// Checks a name about to be created (or renamed to): not empty, no empty level (leading,
/// doubled or trailing `/`), no control characters, none of the LIST wildcards `*` and `%`,
/// at most [`MAX_NAME_BYTES`].
pub(crate) fn validate(name: &str) -> Result<()> {
    let invalid = |why: &str| Err(StoreError::Invalid(format!("folder name {name:?} {why}")));
    if name.is_empty() {
        return Err(StoreError::Invalid("folder name is empty".to_owned()));
    }
    if name.len() > MAX_NAME_BYTES {
        return invalid(&format!("is longer than {MAX_NAME_BYTES} bytes"));
    }
    if name.split(DELIMITER).any(str::is_empty) {
        return invalid("has an empty hierarchy level");
    }
    if name.chars().any(char::is_control) {
        return invalid("contains a control character");
    }
    if name.contains(['*', '%']) {
        return invalid("contains a wildcard (* or %)");
    }
    Ok(())
}

/// The names of every level above `name`, outermost first: `a/b/c` → `a`, `a/b`.
pub(crate) fn ancestors(name: &str) -> Vec<&str> {
    name.match_indices(DELIMITER)
        .map(|(i, _)| &name[..i])
        .collect()
}

/// Whether `name` is `parent` itself or one of its descendants.
pub(crate) fn is_within(name: &str, parent: &str) -> bool {
    name == parent
        || name
            .strip_prefix(parent)
            .is_some_and(|rest| rest.starts_with(DELIMITER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_is_case_insensitive_at_the_first_level_only() {
        assert_eq!(canonical("inbox"), "INBOX");
        assert_eq!(canonical("InBoX/Work"), "INBOX/Work");
        assert_eq!(canonical("Work/inbox"), "Work/inbox");
        assert_eq!(canonical("Inboxes"), "Inboxes");
        assert_eq!(canonical("Sent"), "Sent");
    }

    #[test]
    fn validation() {
        for ok in ["a", "a/b", "Ünïcode/名前", "with space"] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/a", "a/", "a//b", "a\u{0}b", "a\nb", "a*", "50%"] {
            assert!(
                matches!(validate(bad), Err(StoreError::Invalid(_))),
                "{bad:?}"
            );
        }
        assert!(validate(&"x".repeat(MAX_NAME_BYTES + 1)).is_err());
    }

    #[test]
    fn hierarchy() {
        assert_eq!(ancestors("a/b/c"), vec!["a", "a/b"]);
        assert!(ancestors("a").is_empty());
        assert!(is_within("a/b", "a"));
        assert!(is_within("a", "a"));
        assert!(!is_within("ab", "a"));
    }
}
