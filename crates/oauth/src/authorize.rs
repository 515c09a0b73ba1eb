//! Authorization requests (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1). Validation is
//! split in two: [`client_and_redirect`] decides whether errors may be sent back to the
//! client at all (RFC 6749 §4.1.2.1); [`AuthorizeRequest::parse`] checks the rest, and its
//! errors are redirected.

use crate::error::OAuthError;
use crate::pkce;
use crate::token_request::Params;
use mailward_types::ErrorCode;
use serde::{Deserialize, Serialize};

/// How the response reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    FormPost,
}

/// OIDC `prompt` values we act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    /// No UI: fail with `interaction_required`/`login_required` if a page would be needed.
    None,
    /// Re-authenticate even with a session.
    Login,
    /// Accepted and treated like the default (consent is implicit for the tenant's apps).
    Consent,
    SelectAccount,
}

/// A syntactically valid authorization request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Option<Prompt>,
    pub login_hint: Option<String>,
    pub max_age: Option<i64>,
    pub resource: Option<String>,
}

/// The two values that must be checked before any error can be redirected.
pub fn client_and_redirect(params: &Params) -> Result<(&str, &str), OAuthError> {
    let client_id = params.require("client_id")?;
    let redirect_uri = params.require("redirect_uri")?;
    Ok((client_id, redirect_uri))
}

impl AuthorizeRequest {
    /// Validates everything but the client and redirect URI (already checked).
    pub fn parse(params: &Params) -> Result<AuthorizeRequest, OAuthError> {
        let (client_id, redirect_uri) = client_and_redirect(params)?;
        match params.get("response_type") {
            Some("code") => {}
            Some(other) => {
                return Err(OAuthError::new(
                    "unsupported_response_type",
                    ErrorCode::InvalidRequest,
                )
                .with_detail(format!(
                    "The response type '{other}' is not supported; use 'code'."
                )));
            }
            None => return Err(OAuthError::missing("response_type")),
        }
        let response_mode = match params.get("response_mode") {
            None | Some("query") => ResponseMode::Query,
            Some("form_post") => ResponseMode::FormPost,
            Some(other) => {
                return Err(OAuthError::invalid_request(format!(
                    "The response mode '{other}' is not supported; use 'query' or 'form_post'."
                )));
            }
        };
        let code_challenge = match (
            params.get("code_challenge"),
            params.get("code_challenge_method"),
        ) {
            (None, None) => None,
            (Some(c), Some("S256")) if pkce::valid_challenge(c) => Some(c.to_string()),
            (Some(_), Some("S256")) => {
                return Err(OAuthError::invalid_request(
                    "code_challenge must be 43 base64url characters (S256).",
                ));
            }
            (Some(_), None) | (Some(_), Some("plain")) => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method must be 'S256'; 'plain' is not accepted.",
                ));
            }
            (_, Some(m)) => {
                return Err(OAuthError::invalid_request(format!(
                    "code_challenge_method '{m}' is not supported (or code_challenge is missing)."
                )));
            }
        };
        let prompt = match params.get("prompt") {
            None => None,
            Some("none") => Some(Prompt::None),
            Some("login") => Some(Prompt::Login),
            Some("consent") => Some(Prompt::Consent),
            Some("select_account") => Some(Prompt::SelectAccount),
            Some(other) => {
                return Err(OAuthError::invalid_request(format!(
                    "The prompt value '{other}' is not supported."
                )));
            }
        };
        let max_age = match params.get("max_age") {
            None => None,
            Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                OAuthError::invalid_request("max_age must be a non-negative integer.")
            })?),
        };
        let bounded = |name: &str, max: usize| -> Result<Option<String>, OAuthError> {
            match params.get(name) {
                Some(v) if v.len() > max => Err(OAuthError::invalid_request(format!(
                    "The parameter '{name}' is longer than {max} characters."
                ))),
                v => Ok(v.map(str::to_string)),
            }
        };
        Ok(AuthorizeRequest {
            client_id: client_id.to_string(),
            redirect_uri: redirect_uri.to_string(),
            response_mode,
            scope: params.get("scope").unwrap_or("openid").to_string(),
            state: bounded("state", 2048)?,
            nonce: bounded("nonce", 1024)?,
            code_challenge,
            prompt,
            login_hint: bounded("login_hint", 256)?,
            max_age,
            resource: bounded("resource", 1024)?,
        })
    }
}

/// Builds the redirect back to the client with either a code or an error (RFC 6749
/// §4.1.2 / §4.1.2.1), as `(url, params)`; form_post renders `params` as a form instead.
pub fn response_params(
    state: Option<&str>,
    result: Result<&str, &OAuthError>,
    issuer: &str,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match result {
        Ok(code) => out.push(("code".to_string(), code.to_string())),
        Err(e) => {
            out.push(("error".to_string(), e.error.to_string()));
            out.push(("error_description".to_string(), e.description()));
            out.push(("error_codes".to_string(), e.code.number().to_string()));
        }
    }
    if let Some(s) = state {
        out.push(("state".to_string(), s.to_string()));
    }
    // RFC 9207: the issuer identifier in the authorization response.
    out.push(("iss".to_string(), issuer.to_string()));
    out
}

/// Appends parameters to a redirect URI's query.
pub fn redirect_url(redirect_uri: &str, params: &[(String, String)]) -> String {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return redirect_uri.to_string(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(q: &str) -> Result<AuthorizeRequest, OAuthError> {
        AuthorizeRequest::parse(&Params::parse(q.as_bytes()).unwrap())
    }

    const BASE: &str = "client_id=c&redirect_uri=http%3A%2F%2Flocalhost&response_type=code";

    #[test]
    fn minimal_and_full() {
        let r = p(BASE).unwrap();
        assert_eq!(r.response_mode, ResponseMode::Query);
        assert_eq!(r.scope, "openid");
        let r = p(&format!("{BASE}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&prompt=login&max_age=0&response_mode=form_post&state=s")).unwrap();
        assert_eq!(r.prompt, Some(Prompt::Login));
        assert_eq!(r.max_age, Some(0));
        assert_eq!(r.response_mode, ResponseMode::FormPost);
        assert!(r.code_challenge.is_some());
    }

    #[test]
    fn rejections() {
        assert_eq!(
            p("client_id=c&redirect_uri=x&response_type=token")
                .unwrap_err()
                .error,
            "unsupported_response_type"
        );
        assert!(
            p(&format!(
                "{BASE}&code_challenge=abc&code_challenge_method=plain"
            ))
            .is_err()
        );
        assert!(
            p(&format!(
                "{BASE}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
            ))
            .is_err()
        );
        assert!(p(&format!("{BASE}&prompt=bogus")).is_err());
        assert!(p(&format!("{BASE}&max_age=-1")).is_err());
        assert!(p(&format!("{BASE}&state={}", "x".repeat(3000))).is_err());
    }

    #[test]
    fn redirect_building() {
        let params = response_params(Some("st"), Ok("abc"), "https://id.example");
        let u = redirect_url("http://localhost:1234/cb?keep=1", &params);
        assert_eq!(
            u,
            "http://localhost:1234/cb?keep=1&code=abc&state=st&iss=https%3A%2F%2Fid.example"
        );
    }
}
