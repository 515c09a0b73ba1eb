//! The compact form of [`Flags`]: system flags as a bitmask, keywords as one sorted,
//! space-separated string (keywords are IMAP atoms, which cannot contain a space), and the
//! `STORE` arithmetic (add / remove / replace) on that form.
//!
//! Keywords compare case-insensitively (RFC 3501 §2.3.2); the first spelling seen is kept.

use crate::{FlagOp, Flags, Result, StoreError};

pub(crate) const SEEN: i64 = 1;
pub(crate) const ANSWERED: i64 = 1 << 1;
pub(crate) const FLAGGED: i64 = 1 << 2;
pub(crate) const DELETED: i64 = 1 << 3;
pub(crate) const DRAFT: i64 = 1 << 4;

/// Longest keyword, in bytes.
pub(crate) const MAX_KEYWORD_BYTES: usize = 128;
/// Most keywords on one message.
pub(crate) const MAX_KEYWORDS: usize = 64;

/// The system flags as a bitmask.
pub(crate) fn bits(flags: &Flags) -> i64 {
    [
        (flags.seen, SEEN),
        (flags.answered, ANSWERED),
        (flags.flagged, FLAGGED),
        (flags.deleted, DELETED),
        (flags.draft, DRAFT),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .fold(0, |acc, (_, bit)| acc | bit)
}

/// Flags from their stored form.
pub(crate) fn decode(bits: i64, keywords: Option<&str>) -> Flags {
    Flags {
        seen: bits & SEEN != 0,
        answered: bits & ANSWERED != 0,
        flagged: bits & FLAGGED != 0,
        deleted: bits & DELETED != 0,
        draft: bits & DRAFT != 0,
        keywords: keywords
            .map(|k| k.split(' ').map(str::to_owned).collect())
            .unwrap_or_default(),
    }
}

/// The stored keyword string (`None` when there are none) of already normalised keywords.
pub(crate) fn join_keywords(keywords: &[String]) -> Option<String> {
    (!keywords.is_empty()).then(|| keywords.join(" "))
}

/// Checks every keyword is an IMAP atom that is not a system flag, then sorts and
/// deduplicates them ignoring ASCII case.
pub(crate) fn normalize(flags: &Flags) -> Result<Flags> {
    for k in &flags.keywords {
        check_keyword(k)?;
    }
    let mut keywords = flags.keywords.clone();
    sort_dedup(&mut keywords);
    if keywords.len() > MAX_KEYWORDS {
        return Err(StoreError::Invalid(format!(
            "a message can carry at most {MAX_KEYWORDS} keywords"
        )));
    }
    Ok(Flags {
        keywords,
        ..flags.clone()
    })
}

/// `old` changed by `op` with `given` (both normalised).
pub(crate) fn apply(op: FlagOp, old: &Flags, given: &Flags) -> Result<Flags> {
    let new = match op {
        FlagOp::Replace => given.clone(),
        FlagOp::Add => {
            let mut keywords = old.keywords.clone();
            keywords.extend(given.keywords.iter().cloned());
            sort_dedup(&mut keywords);
            Flags {
                seen: old.seen || given.seen,
                answered: old.answered || given.answered,
                flagged: old.flagged || given.flagged,
                deleted: old.deleted || given.deleted,
                draft: old.draft || given.draft,
                keywords,
            }
        }
        FlagOp::Remove => Flags {
            seen: old.seen && !given.seen,
            answered: old.answered && !given.answered,
            flagged: old.flagged && !given.flagged,
            deleted: old.deleted && !given.deleted,
            draft: old.draft && !given.draft,
            keywords: old
                .keywords
                .iter()
                .filter(|k| !given.keywords.iter().any(|g| g.eq_ignore_ascii_case(k)))
                .cloned()
                .collect(),
        },
    };
    if new.keywords.len() > MAX_KEYWORDS {
        return Err(StoreError::Invalid(format!(
            "a message can carry at most {MAX_KEYWORDS} keywords"
        )));
    }
    Ok(new)
}

fn sort_dedup(keywords: &mut Vec<String>) {
    // Stable sort: of spellings differing only in case, the first given stays first and
    // survives the dedup.
    keywords.sort_by_cached_key(|k| k.to_ascii_lowercase());
    keywords.dedup_by(|later, earlier| later.eq_ignore_ascii_case(earlier));
}

/// RFC 3501 `flag-keyword = atom`: printable ASCII without `(){ %*"\]` and space; a
/// leading backslash would make it a system flag.
fn check_keyword(k: &str) -> Result<()> {
    let bad = |why: &str| Err(StoreError::Invalid(format!("keyword {k:?} {why}")));
    if k.is_empty() {
        return Err(StoreError::Invalid("empty keyword".to_owned()));
    }
    if k.len() > MAX_KEYWORD_BYTES {
        return bad(&format!("is longer than {MAX_KEYWORD_BYTES} bytes"));
    }
    if let Some(c) = k
        .chars()
        .find(|c| !c.is_ascii_graphic() || "(){%*\"\\]".contains(*c))
    {
        return bad(&format!("contains {c:?}, which an IMAP atom cannot"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(list: &[&str]) -> Flags {
        Flags {
            keywords: list.iter().map(|s| s.to_string()).collect(),
            ..Flags::default()
        }
    }

    #[test]
    fn bits_round_trip() {
        let all = Flags {
            seen: true,
            answered: true,
            flagged: true,
            deleted: true,
            draft: true,
            keywords: vec!["$Forwarded".into(), "Work".into()],
        };
        let stored = join_keywords(&all.keywords);
        assert_eq!(decode(bits(&all), stored.as_deref()), all);
        assert_eq!(bits(&all), 31);
        assert_eq!(decode(0, None), Flags::default());
    }

    #[test]
    fn keywords_sorted_and_deduplicated_ignoring_case() {
        let n = normalize(&kw(&["b", "A", "a", "$Junk", "B"])).unwrap();
        assert_eq!(n.keywords, vec!["$Junk", "A", "b"]);
    }

    #[test]
    fn bad_keywords_refused() {
        for bad in ["", "two words", "\\Seen", "par(en", "x]", "é", "a\u{7f}"] {
            assert!(normalize(&kw(&[bad])).is_err(), "{bad:?}");
        }
        let many: Vec<String> = (0..=MAX_KEYWORDS).map(|i| format!("k{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(normalize(&kw(&refs)).is_err());
    }

    #[test]
    fn store_arithmetic() {
        let old = Flags {
            seen: true,
            keywords: vec!["Work".into()],
            ..Flags::default()
        };
        let given = Flags {
            flagged: true,
            keywords: vec!["work".into(), "Zed".into()],
            ..Flags::default()
        };
        let added = apply(FlagOp::Add, &old, &given).unwrap();
        assert!(added.seen && added.flagged);
        assert_eq!(added.keywords, vec!["Work", "Zed"]);
        let removed = apply(FlagOp::Remove, &added, &given).unwrap();
        assert!(removed.seen && !removed.flagged);
        assert!(removed.keywords.is_empty());
        assert_eq!(apply(FlagOp::Replace, &old, &given).unwrap(), given);
    }
}
