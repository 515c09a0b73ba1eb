//! What `XOAUTH2` and `OAUTHBEARER` share: the `^A`-separated key/value list, the
//! `auth=Bearer <token>` value, and the JSON error challenge sent when the caller rejects
//! the token.

use mailward_types::Secret;
use serde::Serialize;

use crate::{Mechanism, SaslError};

/// `kvsep = %x01` (RFC 7628 §3.1).
pub(crate) const KVSEP: u8 = 0x01;

/// Why the caller rejected a bearer token (RFC 6750 §3.1 error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BearerStatus {
    /// `invalid_request` / HTTP 400.
    InvalidRequest,
    /// `invalid_token` / HTTP 401: expired, revoked, malformed, wrong issuer or audience.
    InvalidToken,
    /// `insufficient_scope` / HTTP 403: the token lacks the protocol's scope.
    InsufficientScope,
}

impl BearerStatus {
    /// The RFC 6750 §3.1 error code, used as `OAUTHBEARER`'s `status` (RFC 7628 §3.2.2).
    pub fn error_code(self) -> &'static str {
        match self {
            BearerStatus::InvalidRequest => "invalid_request",
            BearerStatus::InvalidToken => "invalid_token",
            BearerStatus::InsufficientScope => "insufficient_scope",
        }
    }

    /// The HTTP status RFC 6750 §3.1 pairs with the code, used as `XOAUTH2`'s `status`
    /// (Google's XOAUTH2 error JSON carries an HTTP status such as `"401"`).
    pub fn http_status(self) -> &'static str {
        match self {
            BearerStatus::InvalidRequest => "400",
            BearerStatus::InvalidToken => "401",
            BearerStatus::InsufficientScope => "403",
        }
    }
}

/// What the error challenge tells the client (RFC 7628 §3.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerError {
    pub status: BearerStatus,
    /// The scope(s) a token for this protocol needs, space-separated (OPTIONAL).
    pub scope: Option<String>,
    /// The URL of the issuer's OpenID discovery document (OPTIONAL; `OAUTHBEARER` only).
    pub openid_configuration: Option<String>,
}

#[derive(Serialize)]
struct OAuthBearerJson<'a> {
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(
        rename = "openid-configuration",
        skip_serializing_if = "Option::is_none"
    )]
    openid_configuration: Option<&'a str>,
}

#[derive(Serialize)]
struct XOAuth2Json<'a> {
    status: &'a str,
    schemes: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
}

/// The raw (not yet base64-encoded) error challenge for `mechanism`.
pub(crate) fn error_challenge(mechanism: Mechanism, error: &BearerError) -> Vec<u8> {
    let json = match mechanism {
        Mechanism::XOAuth2 => serde_json::to_vec(&XOAuth2Json {
            status: error.status.http_status(),
            schemes: "Bearer",
            scope: error.scope.as_deref(),
        }),
        _ => serde_json::to_vec(&OAuthBearerJson {
            status: error.status.error_code(),
            scope: error.scope.as_deref(),
            openid_configuration: error.openid_configuration.as_deref(),
        }),
    };
    // Serializing plain strings into JSON cannot fail.
    json.unwrap_or_default()
}

/// One `key=value` pair, the value still raw.
pub(crate) struct Pair<'a> {
    pub key: &'a str,
    pub value: &'a [u8],
}

/// Parses `*kvpair kvsep` (RFC 7628 §3.1): pairs each ending in `^A`, then a final `^A`
/// and nothing after it. `key = 1*ALPHA`; a key may appear only once.
pub(crate) fn parse_pairs(
    mechanism: Mechanism,
    mut rest: &[u8],
) -> Result<Vec<Pair<'_>>, SaslError> {
    let malformed = |reason| SaslError::Malformed { mechanism, reason };
    let mut pairs: Vec<Pair<'_>> = Vec::new();
    loop {
        match rest {
            [] => return Err(malformed("missing the final ^A separator")),
            [KVSEP] => return Ok(pairs),
            [KVSEP, ..] => return Err(malformed("data after the final ^A separator")),
            _ => {}
        }
        let end = rest
            .iter()
            .position(|&b| b == KVSEP)
            .ok_or(malformed("key/value pair not terminated by ^A"))?;
        let (pair, tail) = rest.split_at(end);
        rest = &tail[1..];
        let eq = pair
            .iter()
            .position(|&b| b == b'=')
            .ok_or(malformed("key/value pair without ="))?;
        let (key, value) = (&pair[..eq], &pair[eq + 1..]);
        if key.is_empty() || !key.iter().all(u8::is_ascii_alphabetic) {
            return Err(malformed("key is not 1*ALPHA"));
        }
        // All ASCII letters, hence UTF-8.
        let key = std::str::from_utf8(key).map_err(|_| malformed("key is not 1*ALPHA"))?;
        if pairs.iter().any(|p| p.key == key) {
            return Err(malformed("duplicate key"));
        }
        pairs.push(Pair { key, value });
    }
}

/// The value of key `key`, if present.
pub(crate) fn find<'a>(pairs: &[Pair<'a>], key: &str) -> Option<&'a [u8]> {
    pairs.iter().find(|p| p.key == key).map(|p| p.value)
}

/// Parses an `auth=` value: `"Bearer" 1*SP b64token` (RFC 6750 §2.1; the scheme is
/// case-insensitive, RFC 7235 §2.1), where
/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub(crate) fn parse_auth(mechanism: Mechanism, value: &[u8]) -> Result<Secret<String>, SaslError> {
    let bad = SaslError::UnsupportedScheme { mechanism };
    let space = value.iter().position(|&b| b == b' ').ok_or(bad.clone())?;
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"Bearer") {
        return Err(bad);
    }
    let token = trim_leading_spaces(rest);
    if !is_b64token(token) {
        return Err(bad);
    }
    let token = std::str::from_utf8(token).map_err(|_| bad)?;
    Ok(Secret::new(token.to_owned()))
}

fn trim_leading_spaces(mut s: &[u8]) -> &[u8] {
    while let [b' ', tail @ ..] = s {
        s = tail;
    }
    s
}

fn is_b64token(token: &[u8]) -> bool {
    let body_len = token.iter().position(|&b| b == b'=').unwrap_or(token.len());
    let (body, padding) = token.split_at(body_len);
    !body.is_empty()
        && body
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
        && padding.iter().all(|&b| b == b'=')
}
