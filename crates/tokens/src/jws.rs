//! JWS compact serialization (RFC 7515 §7.1) for signed JWTs: assembling
//! `header.payload.signature` and taking a token apart again, with the input checks that
//! must happen before any key or signature is looked at.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::verify::VerifyError;

/// Longest token accepted for verification, in bytes. Longer input is refused as
/// [`VerifyError::Malformed`] before it is decoded.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The protected header we write.
#[derive(Serialize)]
pub(crate) struct OutHeader<'a> {
    pub alg: &'static str,
    pub kid: &'a str,
    pub typ: &'a str,
}

/// The protected header as read from a token. Members we do not understand are ignored,
/// except `crit`, which by RFC 7515 §4.1.11 must make the token fail. Duplicate members
/// make deserialization fail.
#[derive(Deserialize)]
pub(crate) struct InHeader {
    pub alg: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub crit: Option<serde::de::IgnoredAny>,
}

/// A token split into its parts, header decoded, nothing verified yet.
pub(crate) struct Compact<'a> {
    pub header: InHeader,
    /// `base64url(header) || '.' || base64url(payload)`: the bytes that were signed.
    pub signing_input: &'a [u8],
    pub payload_b64: &'a str,
    pub signature_b64: &'a str,
}

impl<'a> Compact<'a> {
    /// Splits `token` and decodes the header. Refuses oversized input, anything but exactly
    /// three parts, an empty header or payload, invalid base64url and a header that is not a
    /// JSON object with a string `alg`. An empty signature (as in `alg: none` tokens) passes
    /// here so that the algorithm check reports it.
    pub fn parse(token: &'a str) -> Result<Self, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed);
        };
        if header_b64.is_empty() || payload_b64.is_empty() {
            return Err(VerifyError::Malformed);
        }
        let header: InHeader =
            serde_json::from_slice(&decode_b64(header_b64)?).map_err(|_| VerifyError::Malformed)?;
        if header.crit.is_some() {
            return Err(VerifyError::Malformed);
        }
        let signing_input = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        Ok(Compact {
            header,
            signing_input,
            payload_b64,
            signature_b64,
        })
    }
}

/// Builds `base64url(header).base64url(payload).base64url(sign(signing input))`.
pub(crate) fn encode<E>(
    header_json: &[u8],
    payload_json: &[u8],
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<String, E> {
    let b64_len = |n: usize| n.div_ceil(3) * 4;
    let mut token =
        String::with_capacity(b64_len(header_json.len()) + b64_len(payload_json.len()) + 350);
    URL_SAFE_NO_PAD.encode_string(header_json, &mut token);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload_json, &mut token);
    let signature = sign(token.as_bytes())?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Ok(token)
}

/// Strict unpadded base64url: no padding, no whitespace, no non-zero trailing bits.
pub(crate) fn decode_b64(part: &str) -> Result<Vec<u8>, VerifyError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| VerifyError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn parse(token: &str) -> Result<Compact<'_>, VerifyError> {
        Compact::parse(token)
    }

    #[test]
    fn splits_and_keeps_signing_input() {
        let h = b64(r#"{"alg":"ES256","kid":"k1","typ":"JWT","x5u":"ignored"}"#);
        let token = format!("{h}.eyJhIjoxfQ.c2ln");
        let c = parse(&token).unwrap();
        assert_eq!(c.header.alg, "ES256");
        assert_eq!(c.header.kid.as_deref(), Some("k1"));
        assert_eq!(c.signing_input, format!("{h}.eyJhIjoxfQ").as_bytes());
        assert_eq!(c.payload_b64, "eyJhIjoxfQ");
        assert_eq!(c.signature_b64, "c2ln");
    }

    #[test]
    fn malformed_inputs() {
        let h = b64(r#"{"alg":"ES256","kid":"k"}"#);
        let cases = [
            String::new(),
            "abc".to_string(),
            format!("{h}.e30"),
            format!("{h}.e30.c2ln.extra"),
            format!("{h}..c2ln"),
            ".e30.c2ln".to_string(),
            format!("{h}=.e30.c2ln"),
            format!("{h} .e30.c2ln"),
            format!("{}.e30.c2ln", b64("not json")),
            format!("{}.e30.c2ln", b64("[]")),
            format!("{}.e30.c2ln", b64(r#"{"kid":"k"}"#)),
            format!("{}.e30.c2ln", b64(r#"{"alg":5}"#)),
            format!("{}.e30.c2ln", b64(r#"{"alg":"ES256","alg":"none"}"#)),
            format!("{}.e30.c2ln", b64(r#"{"alg":"ES256","crit":["exp"]}"#)),
            format!("{h}.e30.{}", "A".repeat(MAX_TOKEN_LEN)),
        ];
        for token in cases {
            assert!(
                matches!(parse(&token), Err(VerifyError::Malformed)),
                "accepted {token:.80}"
            );
        }
    }

    #[test]
    fn empty_signature_is_left_to_the_algorithm_check() {
        let h = b64(r#"{"alg":"none"}"#);
        let token = format!("{h}.e30.");
        let c = parse(&token).unwrap();
        assert_eq!(c.header.alg, "none");
        assert_eq!(c.signature_b64, "");
    }

    #[test]
    fn encode_produces_three_parts() {
        let token = encode::<()>(b"{}", b"{\"a\":1}", |input| {
            assert_eq!(input, b"e30.eyJhIjoxfQ");
            Ok(vec![1, 2, 3])
        })
        .unwrap();
        assert_eq!(token, "e30.eyJhIjoxfQ.AQID");
    }
}
