//! Identity's configuration (`[identity]` in `mailward.toml`). Strict: unknown keys are
//! errors, and [`IdentityConfig::validate`] reports every bad value with its key path.

use mailward_signin::lockout::LockoutConfig;
use mailward_signin::policy::MfaRule;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// `[identity]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// The URL clients reach identity at (no trailing slash). The OIDC issuer is
    /// `<public_url>/<tenant id>/v2.0`, with discovery under it (and at the root).
    pub public_url: String,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Display name of the organization on sign-in pages.
    pub organization: String,
    /// Resource URI of the mail service (audience of mail tokens).
    pub mail_resource_uri: String,
    /// Peers allowed to set `X-Forwarded-For` (CIDR list). Behind them the client is the
    /// right-most entry that is not one of these; an entry that is not an address (or
    /// `address:port`) ends the walk and the client's address is unknown.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub tokens: TokenConfig,
    pub lockout: LockoutConfig,
    pub policy: PolicyConfig,
    pub passwords: PasswordConfig,
    pub keys: KeyConfig,
    pub webauthn: WebauthnConfig,
    pub limits: LimitsConfig,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            public_url: "https://localhost:8443".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            organization: "mailward".into(),
            mail_resource_uri: "https://localhost:8446".into(),
            trusted_proxies: vec![],
            tokens: TokenConfig::default(),
            lockout: LockoutConfig::default(),
            policy: PolicyConfig::default(),
            passwords: PasswordConfig::default(),
            keys: KeyConfig::default(),
            webauthn: WebauthnConfig::default(),
            limits: LimitsConfig::default(),
        }
    }
}

/// `[identity.limits]`: how much an anonymous client can make identity write or try, per
/// client address (IPv6 addresses per /64) and window. Beyond a limit the answer is HTTP 429
/// (with the OAuth error body on OAuth endpoints). Counters are kept in the store, so nodes
/// sharing a database share them; the sign-in log limit is counted per node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Length of every limit's window, in seconds.
    pub window_secs: i64,
    /// Sign-in flows started (authorization requests that show the sign-in page, user
    /// codes entered on the device page) per address and window.
    pub signin_flows: u32,
    /// Device authorization requests per address and window.
    pub device_codes: u32,
    /// User codes entered on the device page per address and window (RFC 8628 §5.1), right
    /// or wrong: counted before the code is looked up.
    pub user_code_attempts: u32,
    /// Submissions of one user code, from anywhere, after which it stops working.
    pub user_code_submissions: u32,
    /// Failed sign-ins written to the sign-in log per address and window; further failures
    /// in the window are only counted (one log line when the window ends).
    pub signin_log_failures: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            window_secs: 60,
            signin_flows: 60,
            device_codes: 20,
            user_code_attempts: 10,
            user_code_submissions: 5,
            signin_log_failures: 120,
        }
    }
}

/// `[identity.tokens]`: lifetimes in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    pub access_token_secs: i64,
    pub id_token_secs: i64,
    pub refresh_token_secs: i64,
    pub authorization_code_secs: i64,
    pub device_code_secs: i64,
    pub device_poll_interval_secs: i64,
    pub session_secs: i64,
    /// How long an unfinished sign-in page flow stays valid.
    pub flow_secs: i64,
    /// The `typ` header of access tokens: `"at+jwt"` (RFC 9068) or `"JWT"` (what Entra
    /// issues, and what some relying parties such as Dovecot 2.3's oauth2 passdb require).
    pub access_token_typ: AccessTokenTyp,
}

/// `[identity.tokens] access_token_typ`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessTokenTyp {
    #[default]
    #[serde(rename = "at+jwt")]
    AtJwt,
    #[serde(rename = "JWT")]
    Jwt,
}

impl AccessTokenTyp {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessTokenTyp::AtJwt => "at+jwt",
            AccessTokenTyp::Jwt => "JWT",
        }
    }
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            access_token_secs: 3600,
            id_token_secs: 3600,
            refresh_token_secs: 90 * 86400,
            authorization_code_secs: 300,
            device_code_secs: 900,
            device_poll_interval_secs: 5,
            session_secs: 86400,
            flow_secs: 1800,
            access_token_typ: AccessTokenTyp::default(),
        }
    }
}

/// `[identity.policy]`: the baseline rule and conditional access settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// `"everyone"`, `"none"`, or a list of client app types such as
    /// `["mobileAppsAndDesktopClients", "browser"]`. Part of security defaults, which
    /// apply beside conditional access until an admin turns them off (administrators must
    /// use MFA whatever the rule says).
    pub require_mfa: MfaRule,
    /// A MaxMind-format country database (GeoLite2-Country, DB-IP Lite) used to resolve
    /// client IPs for country named locations. Without it every country is unknown.
    pub geoip_database: Option<std::path::PathBuf>,
}

/// `[identity.passwords]`: Argon2id parameters and the bounded worker pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    /// Memory cost in KiB (OWASP: 19456).
    pub memory_kib: u32,
    /// Iterations (OWASP: 2).
    pub iterations: u32,
    pub parallelism: u32,
    /// Hashing threads; 0 = one per CPU core.
    pub workers: usize,
    /// Verifications allowed to wait for a worker before new ones are refused (503).
    pub queue: usize,
    /// Minimum length of new passwords.
    pub min_length: usize,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
            workers: 0,
            queue: 256,
            min_length: 12,
        }
    }
}

/// `[identity.keys]`: signing key rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyConfig {
    pub rotate_after_days: i64,
    /// How long a retired key stays in JWKS; longer than any token it signed lives.
    pub publish_after_retire_hours: i64,
}

impl Default for KeyConfig {
    fn default() -> Self {
        Self {
            rotate_after_days: 90,
            publish_after_retire_hours: 48,
        }
    }
}

/// `[identity.webauthn]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebauthnConfig {
    /// Relying party id; defaults to the issuer's host.
    pub rp_id: Option<String>,
}

impl IdentityConfig {
    /// Every problem, each as `identity.<key>: <what is wrong>`.
    pub fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        match url::Url::parse(&self.public_url) {
            Ok(u)
                if u.scheme() == "https"
                    || u.host_str() == Some("127.0.0.1")
                    || u.host_str() == Some("localhost") =>
            {
                if self.public_url.ends_with('/') {
                    out.push("identity.public_url: must not end with '/'".into());
                }
                if u.query().is_some() || u.fragment().is_some() {
                    out.push("identity.public_url: must not have a query or fragment".into());
                }
            }
            Ok(_) => out.push("identity.public_url: must be an https URL".into()),
            Err(e) => out.push(format!("identity.public_url: not a URL ({e})")),
        }
        if url::Url::parse(&self.mail_resource_uri).is_err() {
            out.push("identity.mail_resource_uri: not a URL".into());
        }
        let t = &self.tokens;
        for (k, v, min, max) in [
            ("access_token_secs", t.access_token_secs, 60, 86400),
            ("id_token_secs", t.id_token_secs, 60, 86400),
            (
                "refresh_token_secs",
                t.refresh_token_secs,
                3600,
                365 * 86400,
            ),
            (
                "authorization_code_secs",
                t.authorization_code_secs,
                10,
                600,
            ),
            ("device_code_secs", t.device_code_secs, 60, 3600),
            (
                "device_poll_interval_secs",
                t.device_poll_interval_secs,
                1,
                60,
            ),
            ("session_secs", t.session_secs, 60, 365 * 86400),
            ("flow_secs", t.flow_secs, 60, 86400),
        ] {
            if !(min..=max).contains(&v) {
                out.push(format!("identity.tokens.{k}: {v} is outside {min}..={max}"));
            }
        }
        out.extend(
            self.lockout
                .validate()
                .into_iter()
                .map(|e| format!("identity.lockout.{e}")),
        );
        let l = &self.limits;
        if !(1..=86400).contains(&l.window_secs) {
            out.push(format!(
                "identity.limits.window_secs: {} is outside 1..=86400",
                l.window_secs
            ));
        }
        for (k, v) in [
            ("signin_flows", l.signin_flows),
            ("device_codes", l.device_codes),
            ("user_code_attempts", l.user_code_attempts),
            ("user_code_submissions", l.user_code_submissions),
            ("signin_log_failures", l.signin_log_failures),
        ] {
            if v == 0 {
                out.push(format!("identity.limits.{k}: must be at least 1"));
            }
        }
        let p = &self.passwords;
        if p.memory_kib < 8 * 1024 {
            out.push("identity.passwords.memory_kib: below 8192 is too weak".into());
        }
        if p.iterations == 0 || p.parallelism == 0 {
            out.push("identity.passwords: iterations and parallelism must be at least 1".into());
        }
        if p.queue == 0 {
            out.push("identity.passwords.queue: must be at least 1".into());
        }
        if self.keys.rotate_after_days < 1 {
            out.push("identity.keys.rotate_after_days: must be at least 1".into());
        }
        if self.keys.publish_after_retire_hours * 3600
            < self.tokens.access_token_secs.max(self.tokens.id_token_secs)
        {
            out.push(
                "identity.keys.publish_after_retire_hours: must outlast the longest token lifetime"
                    .into(),
            );
        }
        out
    }

    /// The WebAuthn relying party id.
    pub fn rp_id(&self) -> String {
        self.webauthn.rp_id.clone().unwrap_or_else(|| {
            url::Url::parse(&self.public_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| "localhost".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(IdentityConfig::default().validate(), Vec::<String>::new());
    }

    #[test]
    fn all_problems_reported() {
        let mut c = IdentityConfig {
            public_url: "http://example.com/".into(),
            ..IdentityConfig::default()
        };
        c.tokens.access_token_secs = 5;
        c.lockout.threshold = 0;
        let errs = c.validate();
        assert!(errs.iter().any(|e| e.starts_with("identity.public_url")));
        assert!(
            errs.iter()
                .any(|e| e.starts_with("identity.tokens.access_token_secs"))
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("identity.lockout.threshold"))
        );
    }

    #[test]
    fn unknown_keys_rejected() {
        let e = toml_like("{\"public_url\":\"https://x\",\"bogus\":1}");
        assert!(e.is_err());
    }

    fn toml_like(json: &str) -> Result<IdentityConfig, serde_json::Error> {
        serde_json::from_str(json)
    }
}
