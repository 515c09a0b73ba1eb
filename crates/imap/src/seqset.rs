//! Sequence sets against a session's view of the selected mailbox: message sequence
//! numbers are positions in the session's UID list (RFC 3501 §2.3.1.2), `*` is the last
//! message (or the highest UID).

use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

/// A sequence number beyond the mailbox (RFC 9051 §6.4: answered with `BAD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfRange;

/// Positions (0-based, ascending, unique) in `uids` that a sequence-number set selects.
/// Explicit numbers past the end are an error; ranges ending in `*` are clipped.
pub fn by_seq(set: &SequenceSet, count: usize) -> Result<Vec<usize>, OutOfRange> {
    let mut out = Vec::new();
    for seq in set.0.as_ref() {
        let (a, b) = bounds(seq, count as u32);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        if hi as usize > count {
            let uses_star = matches!(seq, Sequence::Single(SeqOrUid::Asterisk))
                || matches!(seq, Sequence::Range(x, y) if *x == SeqOrUid::Asterisk || *y == SeqOrUid::Asterisk);
            if !uses_star {
                return Err(OutOfRange);
            }
        }
        if count == 0 {
            continue;
        }
        let lo = lo.max(1) as usize;
        let hi = (hi as usize).min(count);
        if lo <= hi {
            out.extend(lo - 1..hi);
        }
    }
    normalize(&mut out);
    Ok(out)
}

/// Positions in `uids` (ascending) whose UID a UID set selects; unknown UIDs are ignored
/// (RFC 3501 §6.4.8).
pub fn by_uid(set: &SequenceSet, uids: &[u32]) -> Vec<usize> {
    let Some(&max) = uids.last() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for seq in set.0.as_ref() {
        let (a, b) = bounds(seq, max);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let start = uids.partition_point(|&u| u < lo);
        let end = uids.partition_point(|&u| u <= hi);
        if start < end {
            out.extend(start..end);
        }
    }
    normalize(&mut out);
    out
}

fn bounds(seq: &Sequence, star: u32) -> (u32, u32) {
    let v = |s: &SeqOrUid| match s {
        SeqOrUid::Value(n) => n.get(),
        SeqOrUid::Asterisk => star,
    };
    match seq {
        Sequence::Single(s) => (v(s), v(s)),
        Sequence::Range(a, b) => (v(a), v(b)),
    }
}

fn normalize(v: &mut Vec<usize>) {
    if !v.is_sorted() {
        v.sort_unstable();
    }
    v.dedup();
}

/// Whether `n` is in the set, `*` standing for `star` (SEARCH's sequence-set and UID keys).
pub fn contains(set: &SequenceSet, n: u32, star: u32) -> bool {
    set.0.as_ref().iter().any(|seq| {
        let (a, b) = bounds(seq, star);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        (lo..=hi).contains(&n)
    })
}

/// Compact `a:b,c` text of ascending numbers (UIDPLUS codes, SEARCH is not compacted).
pub fn compact(nums: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < nums.len() {
        let start = nums[i];
        let mut end = start;
        while i + 1 < nums.len() && nums[i + 1] == end + 1 {
            end += 1;
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> SequenceSet {
        SequenceSet::try_from(s).expect("valid set")
    }

    #[test]
    fn sequence_numbers() {
        assert_eq!(by_seq(&set("1:*"), 3), Ok(vec![0, 1, 2]));
        assert_eq!(by_seq(&set("*"), 3), Ok(vec![2]));
        assert_eq!(by_seq(&set("3:1"), 3), Ok(vec![0, 1, 2]));
        assert_eq!(by_seq(&set("2,1,2"), 3), Ok(vec![0, 1]));
        assert_eq!(by_seq(&set("4"), 3), Err(OutOfRange));
        assert_eq!(by_seq(&set("2:4"), 3), Err(OutOfRange));
        assert_eq!(by_seq(&set("1:*"), 0), Ok(vec![]));
        assert_eq!(by_seq(&set("5:*"), 3), Ok(vec![2]));
    }

    #[test]
    fn uids() {
        let uids = [3, 7, 8, 20];
        assert_eq!(by_uid(&set("1:*"), &uids), vec![0, 1, 2, 3]);
        assert_eq!(by_uid(&set("7:8"), &uids), vec![1, 2]);
        assert_eq!(by_uid(&set("4:6"), &uids), Vec::<usize>::new());
        // 559:* always includes the highest UID.
        assert_eq!(by_uid(&set("559:*"), &uids), vec![3]);
        assert_eq!(by_uid(&set("*"), &[]), Vec::<usize>::new());
        assert_eq!(by_uid(&set("20,3,100"), &uids), vec![0, 3]);
    }

    #[test]
    fn membership_and_compaction() {
        assert!(contains(&set("1:3,9"), 9, 10));
        assert!(contains(&set("5:*"), 10, 10));
        assert!(!contains(&set("5:*"), 4, 10));
        assert_eq!(compact(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(compact(&[4]), "4");
        assert_eq!(compact(&[]), "");
    }
}
