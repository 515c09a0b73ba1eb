//! The one place below the edges that may read the wall clock.
//!
//! Every decision that depends on time takes `now` as a parameter (DESIGN.md §6). Edges
//! (HTTP handlers, CLI commands, protocol loops) call [`now`] once per request and pass the
//! value down; `clippy.toml` forbids other clock reads.

use time::OffsetDateTime;

/// Current time, truncated to whole milliseconds so that values round-trip through storage.
#[allow(clippy::disallowed_methods)]
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).unwrap_or(t)
}

/// Unix seconds of a timestamp.
pub fn secs(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

/// Unix milliseconds of a timestamp.
pub fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Timestamp from unix milliseconds (clamped into the representable range).
pub fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Timestamp from unix seconds (clamped into the representable range).
pub fn from_secs(s: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(s).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
