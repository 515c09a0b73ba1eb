//! Scope strings (RFC 6749 §3.3) as identity-platform clients send them: OpenID Connect
//! scopes plus resource scopes written `<resource-uri>/<scope>` (or bare names for the
//! default resource), with `<resource-uri>/.default` meaning "everything granted".

use crate::error::OAuthError;
use std::collections::BTreeSet;

/// Scopes that belong to the OpenID Connect layer, not to a resource.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// A parsed `scope` parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestedScopes {
    /// `openid`, `profile`, `email`, `offline_access` as requested.
    pub oidc: BTreeSet<String>,
    /// The resource the access token is for; `None` means "the default resource".
    pub resource: Option<String>,
    /// Scope names on that resource (without the resource prefix), in request order.
    pub scopes: Vec<String>,
    /// `.default` was requested.
    pub default: bool,
}

impl RequestedScopes {
    pub fn wants(&self, oidc: &str) -> bool {
        self.oidc.contains(oidc)
    }
}

/// Parses a scope string. `resource_param` is the legacy `resource` request parameter.
pub fn parse(scope: &str, resource_param: Option<&str>) -> Result<RequestedScopes, OAuthError> {
    let mut out = RequestedScopes {
        resource: resource_param
            .filter(|r| !r.is_empty())
            .map(|r| r.trim_end_matches('/').to_string()),
        ..Default::default()
    };
    if scope.len() > 4096 {
        return Err(OAuthError::invalid_scope(
            "The scope parameter is too long.",
        ));
    }
    for token in scope.split_ascii_whitespace() {
        // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        if !token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
        {
            return Err(OAuthError::invalid_scope(format!(
                "The scope '{}' contains characters that are not allowed.",
                token.escape_default()
            )));
        }
        let lower = token.to_ascii_lowercase();
        if OIDC_SCOPES.contains(&lower.as_str()) {
            out.oidc.insert(lower);
            continue;
        }
        let (resource, name) = match token.rfind('/') {
            Some(i) if token.contains(':') => (Some(token[..i].to_string()), &token[i + 1..]),
            Some(_) => {
                return Err(OAuthError::invalid_scope(format!(
                    "The scope '{token}' is not a resource URI followed by a scope name."
                )));
            }
            None => (None, token),
        };
        if name.is_empty() {
            return Err(OAuthError::invalid_scope(format!(
                "The scope '{token}' has no scope name after the resource."
            )));
        }
        if let Some(r) = resource {
            match &out.resource {
                Some(existing) if !existing.eq_ignore_ascii_case(&r) => {
                    return Err(OAuthError::invalid_scope(
                        "Scopes for more than one resource were requested; request one resource per token.",
                    ));
                }
                Some(_) => {}
                None => out.resource = Some(r),
            }
        }
        if name == ".default" {
            out.default = true;
        } else if !out.scopes.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            out.scopes.push(name.to_string());
        }
    }
    Ok(out)
}

/// Canonicalises requested scope names against what a resource offers: case-insensitive
/// match to the registered spelling. Unknown names are an `invalid_scope` error naming them.
pub fn resolve(requested: &[String], offered: &[String]) -> Result<Vec<String>, OAuthError> {
    let mut out = Vec::with_capacity(requested.len());
    for r in requested {
        match offered.iter().find(|o| o.eq_ignore_ascii_case(r)) {
            Some(o) => out.push(o.clone()),
            None => {
                return Err(OAuthError::invalid_scope(format!(
                    "The scope '{r}' does not exist on the requested resource."
                )));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RequestedScopes {
        parse(s, None).unwrap()
    }

    #[test]
    fn oidc_and_resource_scopes() {
        let r = p(
            "openid profile offline_access https://localhost:8446/IMAP.AccessAsUser.All https://localhost:8446/SMTP.Send",
        );
        assert!(r.wants("openid") && r.wants("offline_access") && !r.wants("email"));
        assert_eq!(r.resource.as_deref(), Some("https://localhost:8446"));
        assert_eq!(r.scopes, vec!["IMAP.AccessAsUser.All", "SMTP.Send"]);
        assert!(!r.default);
    }

    #[test]
    fn default_and_bare() {
        let r = p("https://localhost:8446/.default");
        assert!(r.default && r.scopes.is_empty());
        let r = p("Mail.Read openid");
        assert_eq!(r.resource, None);
        assert_eq!(r.scopes, vec!["Mail.Read"]);
        let r = parse("Mail.Read", Some("https://mail.example/")).unwrap();
        assert_eq!(r.resource.as_deref(), Some("https://mail.example"));
        let r = p("api://1234/access_as_user");
        assert_eq!(r.resource.as_deref(), Some("api://1234"));
    }

    #[test]
    fn errors() {
        assert!(parse("https://a.example/x https://b.example/y", None).is_err());
        assert!(parse("https://a.example/", None).is_err());
        assert!(parse("a/b", None).is_err());
        assert!(parse("bad\"quote", None).is_err());
        assert!(parse(&"x ".repeat(3000), None).is_err());
    }

    #[test]
    fn resolve_canonicalises() {
        let offered = vec!["IMAP.AccessAsUser.All".to_string(), "SMTP.Send".to_string()];
        assert_eq!(
            resolve(&["imap.accessasuser.all".to_string()], &offered).unwrap(),
            vec!["IMAP.AccessAsUser.All"]
        );
        assert!(resolve(&["Nope".to_string()], &offered).is_err());
    }
}
