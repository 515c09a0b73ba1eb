//! `OAUTHBEARER` (RFC 7628 §3.1):
//!
//! ```text
//! client-resp = (gs2-header kvsep *kvpair kvsep) / kvsep
//! gs2-header  = gs2-cbind-flag "," [ authzid ] ","      ; RFC 5801 §4
//! authzid     = "a=" saslname                          ; "=2C" is ",", "=3D" is "="
//! ```
//!
//! The `p=` channel-binding flag is refused (RFC 7628 defines no channel binding); `n` and
//! `y` are accepted. `auth` is required; `host`, `port` and unknown keys are ignored. The
//! lone `kvsep` form is only meaningful as the answer to an error challenge.

use crate::bearer::{KVSEP, find, parse_auth, parse_pairs};
use crate::text;
use crate::{Credentials, Mechanism, SaslError};

const MECH: Mechanism = Mechanism::OAuthBearer;

/// Parses one decoded `OAUTHBEARER` message.
pub(crate) fn parse(message: &[u8]) -> Result<Credentials, SaslError> {
    let malformed = |reason| SaslError::Malformed {
        mechanism: MECH,
        reason,
    };
    let rest = match message {
        [b'n' | b'y', b',', rest @ ..] => rest,
        [b'p', b'=', ..] => return Err(SaslError::ChannelBindingNotSupported),
        [] => return Err(malformed("empty response")),
        _ => return Err(malformed("GS2 header must start with n, or y,")),
    };
    let comma = rest
        .iter()
        .position(|&b| b == b',')
        .ok_or(malformed("GS2 header not terminated by ,"))?;
    let (authzid, rest) = (&rest[..comma], &rest[comma + 1..]);
    let user = match authzid {
        [] => None,
        [b'a', b'=', name @ ..] => Some(saslname(name)?),
        _ => return Err(malformed("GS2 authzid must be a=saslname")),
    };
    let rest = match rest {
        [KVSEP, rest @ ..] => rest,
        _ => return Err(malformed("missing ^A after the GS2 header")),
    };
    let pairs = parse_pairs(MECH, rest)?;
    let auth = find(&pairs, "auth").ok_or(SaslError::MissingAuth { mechanism: MECH })?;
    let token = parse_auth(MECH, auth)?;
    Ok(Credentials::Bearer {
        user,
        token,
        mechanism: MECH,
    })
}

/// Decodes a GS2 `saslname` (RFC 5801 §4): `1*(UTF8-char-safe / "=2C" / "=3D")`.
fn saslname(raw: &[u8]) -> Result<String, SaslError> {
    let bad = SaslError::Malformed {
        mechanism: MECH,
        reason: "authzid is not a valid saslname",
    };
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some((&b, tail)) = rest.split_first() {
        match (b, tail) {
            (b'=', [b'2', b'C', tail @ ..]) => {
                out.push(b',');
                rest = tail;
            }
            (b'=', [b'3', b'D', tail @ ..]) => {
                out.push(b'=');
                rest = tail;
            }
            (b'=', _) => return Err(bad),
            _ => {
                out.push(b);
                rest = tail;
            }
        }
    }
    text::identity(&out, "authorization identity", MECH)
}
