//! Validated identifiers. Each newtype can only hold a valid value (`TryFrom<&str>`), so a
//! function that takes one never re-checks it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("invalid user principal name {0:?}: expected name@domain")]
    Upn(String),
    #[error("invalid client id {0:?}: 1-128 characters of [A-Za-z0-9._:-]")]
    ClientId(String),
    #[error("invalid redirect URI {value:?}: {reason}")]
    RedirectUri { value: String, reason: &'static str },
}

/// A user principal name, `local@domain`, stored lower-case (UPNs compare
/// case-insensitively). Domain labels follow RFC 1035 letters-digits-hyphens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Upn(String);

impl Upn {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain part.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

impl TryFrom<&str> for Upn {
    type Error = IdError;
    fn try_from(value: &str) -> Result<Self, IdError> {
        let v = value.trim().to_ascii_lowercase();
        let bad = || IdError::Upn(value.to_string());
        if v.len() > 256 {
            return Err(bad());
        }
        let (local, domain) = v.rsplit_once('@').ok_or_else(bad)?;
        let local_ok = !local.is_empty()
            && local.len() <= 113
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-+'!#$%&*/=?^`{|}~".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.');
        let domain_ok = domain.contains('.') || domain == "localhost";
        let labels_ok = domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
        if local_ok && domain_ok && labels_ok {
            Ok(Upn(v))
        } else {
            Err(bad())
        }
    }
}

impl TryFrom<String> for Upn {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        Upn::try_from(value.as_str())
    }
}

impl From<Upn> for String {
    fn from(u: Upn) -> String {
        u.0
    }
}

impl fmt::Display for Upn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An OAuth `client_id` (RFC 6749 §2.2). mailward generates UUIDs, but imported
/// registrations may use other printable ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for ClientId {
    type Error = IdError;
    fn try_from(value: &str) -> Result<Self, IdError> {
        let ok = !value.is_empty()
            && value.len() <= 128
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c));
        if ok {
            Ok(ClientId(value.to_string()))
        } else {
            Err(IdError::ClientId(value.to_string()))
        }
    }
}

impl TryFrom<String> for ClientId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        ClientId::try_from(value.as_str())
    }
}

impl From<ClientId> for String {
    fn from(c: ClientId) -> String {
        c.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A registered redirect URI (RFC 6749 §3.1.2): absolute, no fragment. `http` only for
/// loopback hosts (RFC 8252 §7.3); private-use schemes allowed for native apps (§7.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri(String);

impl RedirectUri {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Does the redirect URI sent in a request match this registered one?
    ///
    /// Exact string comparison, except that for an `http` loopback IP literal
    /// (`127.0.0.1`, `[::1]`) or `localhost` the port is ignored, as RFC 8252 §7.3 requires
    /// for native apps that listen on an ephemeral port.
    pub fn matches(&self, requested: &str) -> bool {
        if self.0 == requested {
            return true;
        }
        let (Ok(reg), Ok(req)) = (url::Url::parse(&self.0), url::Url::parse(requested)) else {
            return false;
        };
        if reg.scheme() != "http" || req.scheme() != "http" || !is_loopback(&reg) {
            return false;
        }
        reg.host_str() == req.host_str()
            && reg.path() == req.path()
            && reg.query() == req.query()
            && req.fragment().is_none()
            && req.username().is_empty()
            && req.password().is_none()
    }
}

fn is_loopback(u: &url::Url) -> bool {
    matches!(
        u.host_str(),
        Some("127.0.0.1") | Some("[::1]") | Some("localhost")
    )
}

impl TryFrom<&str> for RedirectUri {
    type Error = IdError;
    fn try_from(value: &str) -> Result<Self, IdError> {
        let err = |reason| IdError::RedirectUri {
            value: value.to_string(),
            reason,
        };
        if value.len() > 2048 {
            return Err(err("longer than 2048 characters"));
        }
        let u = url::Url::parse(value).map_err(|_| err("not an absolute URI"))?;
        if u.fragment().is_some() {
            return Err(err("must not contain a fragment"));
        }
        match u.scheme() {
            "https" => {}
            "http" if is_loopback(&u) => {}
            "http" => return Err(err("http is only allowed for loopback addresses")),
            "javascript" | "data" | "file" | "vbscript" => return Err(err("scheme not allowed")),
            _ => {}
        }
        Ok(RedirectUri(value.to_string()))
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        RedirectUri::try_from(value.as_str())
    }
}

impl From<RedirectUri> for String {
    fn from(r: RedirectUri) -> String {
        r.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upn_cases() {
        for ok in [
            "alice@contoso.com",
            "Alice.B@Contoso.COM",
            "a+b@x.example.org",
            "admin@localhost",
        ] {
            assert!(Upn::try_from(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "alice",
            "@contoso.com",
            "alice@",
            "a@-x.com",
            "a b@x.com",
            ".a@x.com",
            "a@x..com",
        ] {
            assert!(Upn::try_from(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Upn::try_from("Alice@Contoso.com").unwrap().as_str(),
            "alice@contoso.com"
        );
        assert_eq!(
            Upn::try_from("alice@contoso.com").unwrap().domain(),
            "contoso.com"
        );
    }

    #[test]
    fn redirect_uri_rules() {
        for ok in [
            "https://app.example/cb",
            "http://localhost",
            "http://127.0.0.1:8400/cb",
            "msal1234://auth",
            "com.example.app:/oauth",
        ] {
            assert!(RedirectUri::try_from(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://evil.example/cb",
            "https://app.example/cb#frag",
            "/relative",
            "javascript:alert(1)",
            "data:text/html,x",
        ] {
            assert!(RedirectUri::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirect_uri_matching() {
        let check = |reg: &str, req: &str, want: bool| {
            assert_eq!(
                RedirectUri::try_from(reg).unwrap().matches(req),
                want,
                "{reg} vs {req}"
            );
        };
        check("https://app.example/cb", "https://app.example/cb", true);
        check("https://app.example/cb", "https://app.example/cb/", false);
        check(
            "https://app.example/cb",
            "https://app.example:8443/cb",
            false,
        );
        check(
            "https://app.example/cb",
            "https://app.example/cb?x=1",
            false,
        );
        check("http://127.0.0.1/cb", "http://127.0.0.1:53124/cb", true);
        check("http://localhost", "http://localhost:40111", true);
        check("http://localhost", "http://localhost:40111/", true);
        check("http://127.0.0.1/cb", "http://127.0.0.1:53124/other", false);
        check("http://127.0.0.1/cb", "http://localhost:53124/cb", false);
        check("http://127.0.0.1/cb", "http://127.0.0.1:53124/cb#x", false);
        check(
            "http://127.0.0.1/cb",
            "http://user@127.0.0.1:53124/cb",
            false,
        );
    }
}
