//! Token endpoint requests (RFC 6749 §4, RFC 8628 §3.4): parsed once into a typed
//! [`TokenRequest`] so every grant shares client authentication and the common checks.

use crate::error::OAuthError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mailward_types::{ErrorCode, Secret};
use std::collections::HashMap;

/// Form parameters with duplicates refused (RFC 6749 §3.1: "Request and response
/// parameters MUST NOT be included more than once").
#[derive(Debug, Default, Clone)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parses an `application/x-www-form-urlencoded` body or query string.
    pub fn parse(body: &[u8]) -> Result<Params, OAuthError> {
        let mut map = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            if map.insert(k.to_string(), v.to_string()).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "The parameter '{k}' was included more than once."
                )));
            }
        }
        Ok(Params(map))
    }

    pub fn from_pairs<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Params {
        Params(pairs.into_iter().collect())
    }

    /// A parameter; empty values count as absent (RFC 6749 §3.1).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, key: &str) -> Result<&str, OAuthError> {
        self.get(key).ok_or_else(|| OAuthError::missing(key))
    }
}

/// The grant and its own parameters.
#[derive(Debug, Clone)]
pub enum Grant {
    AuthorizationCode {
        code: Secret<String>,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    RefreshToken {
        refresh_token: Secret<String>,
        scope: Option<String>,
    },
    DeviceCode {
        device_code: Secret<String>,
    },
    ClientCredentials {
        scope: Option<String>,
    },
    Password {
        username: String,
        password: Secret<String>,
        scope: Option<String>,
    },
}

impl Grant {
    pub fn name(&self) -> &'static str {
        match self {
            Grant::AuthorizationCode { .. } => "authorization_code",
            Grant::RefreshToken { .. } => "refresh_token",
            Grant::DeviceCode { .. } => "device_code",
            Grant::ClientCredentials { .. } => "client_credentials",
            Grant::Password { .. } => "password",
        }
    }
}

/// How the client authenticated (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    None,
    ClientSecretPost,
    ClientSecretBasic,
}

/// The client's identity as presented.
#[derive(Debug, Clone)]
pub struct ClientAuth {
    pub client_id: String,
    pub secret: Option<Secret<String>>,
    pub method: ClientAuthMethod,
}

/// A parsed token request.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub grant: Grant,
    pub client: ClientAuth,
    /// Legacy `resource` parameter.
    pub resource: Option<String>,
}

/// Parses the token endpoint body and optional `Authorization` header.
pub fn parse(params: &Params, authorization: Option<&str>) -> Result<TokenRequest, OAuthError> {
    let client = client_auth(params, authorization)?;
    let grant_type = params.require("grant_type")?;
    let scope = params.get("scope").map(str::to_string);
    let grant = match grant_type {
        "authorization_code" => Grant::AuthorizationCode {
            code: Secret::new(params.require("code")?.to_string()),
            redirect_uri: params.get("redirect_uri").map(str::to_string),
            code_verifier: params.get("code_verifier").map(str::to_string),
        },
        "refresh_token" => Grant::RefreshToken {
            refresh_token: Secret::new(params.require("refresh_token")?.to_string()),
            scope,
        },
        "urn:ietf:params:oauth:grant-type:device_code" | "device_code" => Grant::DeviceCode {
            device_code: Secret::new(params.require("device_code")?.to_string()),
        },
        "client_credentials" => Grant::ClientCredentials { scope },
        "password" => Grant::Password {
            username: params.require("username")?.to_string(),
            password: Secret::new(params.require("password")?.to_string()),
            scope,
        },
        other => return Err(OAuthError::unsupported_grant_type(other)),
    };
    Ok(TokenRequest {
        grant,
        client,
        resource: params.get("resource").map(str::to_string),
    })
}

/// Client authentication from the body or an HTTP Basic header, never both.
pub fn client_auth(params: &Params, authorization: Option<&str>) -> Result<ClientAuth, OAuthError> {
    // `get` rather than slicing: the header may hold non-ASCII bytes that a byte index
    // would split.
    let basic = match authorization.and_then(|h| Some((h.get(..6)?, h.get(6..)?))) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("basic ") && !rest.is_empty() => {
            Some(parse_basic(rest)?)
        }
        _ => None,
    };
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    if params.get("client_assertion").is_some() {
        return Err(OAuthError::invalid_client(ErrorCode::InvalidClientSecret)
            .with_detail("client_assertion is not supported; use client_secret."));
    }
    match basic {
        Some((id, secret)) => {
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "The client used more than one authentication method.",
                ));
            }
            if body_id.is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the Authorization header.",
                ));
            }
            Ok(ClientAuth {
                client_id: id,
                secret: Some(Secret::new(secret)),
                method: ClientAuthMethod::ClientSecretBasic,
            })
        }
        None => {
            let id = body_id.ok_or_else(|| OAuthError::missing("client_id"))?;
            Ok(ClientAuth {
                client_id: id.to_string(),
                secret: body_secret.map(|s| Secret::new(s.to_string())),
                method: if body_secret.is_some() {
                    ClientAuthMethod::ClientSecretPost
                } else {
                    ClientAuthMethod::None
                },
            })
        }
    }
}

fn parse_basic(b64: &str) -> Result<(String, String), OAuthError> {
    let bad = || {
        OAuthError::invalid_client(ErrorCode::InvalidClientSecret)
            .with_detail("The Authorization header is not valid HTTP Basic.")
    };
    let raw = STANDARD.decode(b64.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    let dec = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let id = dec(id);
    if id.is_empty() {
        return Err(bad());
    }
    Ok((id, dec(secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s: &str) -> Params {
        Params::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn duplicate_parameters_refused() {
        assert!(Params::parse(b"a=1&a=2").is_err());
    }

    #[test]
    fn grants_parse() {
        let r = parse(&params("grant_type=authorization_code&code=c&client_id=x&code_verifier=v&redirect_uri=http%3A%2F%2Flocalhost"), None).unwrap();
        assert!(matches!(r.grant, Grant::AuthorizationCode { .. }));
        assert_eq!(r.client.method, ClientAuthMethod::None);
        let r = parse(&params("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=d&client_id=x"), None).unwrap();
        assert!(matches!(r.grant, Grant::DeviceCode { .. }));
        let e = parse(&params("grant_type=implicit&client_id=x"), None).unwrap_err();
        assert_eq!(e.error, "unsupported_grant_type");
        let e = parse(&params("grant_type=refresh_token&client_id=x"), None).unwrap_err();
        assert_eq!(e.code, ErrorCode::MissingParameter);
        let e = parse(&params("grant_type=refresh_token"), None).unwrap_err();
        assert!(e.description().contains("client_id"));
    }

    #[test]
    fn non_ascii_authorization_header_does_not_panic() {
        // Found by the token_request fuzz target: a multi-byte character across byte 6.
        for h in [
            "Basic\u{e9}xyz",
            "bas\u{1F600}",
            "\u{e9}\u{e9}\u{e9}\u{e9}",
            "Basic \u{e9}",
        ] {
            let _ = parse(
                &params("grant_type=client_credentials&client_id=x"),
                Some(h),
            );
        }
        assert!(
            parse(
                &params("grant_type=client_credentials"),
                Some("Basic \u{e9}")
            )
            .is_err()
        );
    }

    #[test]
    fn basic_auth() {
        let h = format!("Basic {}", STANDARD.encode("my%3Aapp:s%26cret"));
        let r = parse(&params("grant_type=client_credentials"), Some(&h)).unwrap();
        assert_eq!(r.client.client_id, "my:app");
        assert_eq!(r.client.secret.unwrap().expose_secret(), "s&cret");
        assert_eq!(r.client.method, ClientAuthMethod::ClientSecretBasic);
        assert!(
            parse(
                &params("grant_type=client_credentials&client_secret=x"),
                Some(&h)
            )
            .is_err()
        );
        assert!(parse(&params("grant_type=client_credentials"), Some("Basic !!!")).is_err());
    }
}
