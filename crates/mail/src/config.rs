//! The mail role's configuration (`[mail]` in `mailward.toml`). Strict like identity's:
//! unknown keys are errors (`deny_unknown_fields`), and [`MailConfig::validate`] reports
//! every bad value with its key path. Optional values are empty strings rather than
//! absent keys, so the serialised defaults name every valid key.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// `[mail]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// The URL clients reach the HTTP front at (autodiscover, REST API), no trailing
    /// slash. Empty: `https://<hostname>:<bound HTTP port>`.
    pub public_url: String,
    /// This instance's resource URI: the `aud` its tokens carry. Empty: identity's
    /// `mail_resource_uri` when identity runs in the same process, else `public_url`.
    pub resource_uri: String,
    /// The host name clients use for IMAP, POP3 and SMTP (autoconfig, autodiscover) and
    /// the name SMTP greets with. Must match the TLS certificate.
    pub hostname: String,
    /// Domains this instance receives mail for: a recipient there without a mailbox is
    /// refused instead of relayed. `mailward up` adds its `--domain`.
    pub local_domains: Vec<String>,
    /// Largest message accepted (SMTP `SIZE`, IMAP `APPEND`, REST `sendMail`), in octets.
    pub max_message_size: u32,
    /// Which authentication-policy switches apply: `cloud` (`AllowBasicAuth*`) or
    /// `onpremises` (`BlockLegacyAuth*` / `BlockModernAuth*`).
    pub flavour: String,
    pub listen: ListenConfig,
    pub identity: IdentityLinkConfig,
    pub smarthost: SmarthostConfig,
    pub limits: LimitsConfig,
    pub storage: MailStorageConfig,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            public_url: String::new(),
            resource_uri: String::new(),
            hostname: "localhost".into(),
            local_domains: vec![],
            max_message_size: 35 * 1024 * 1024,
            flavour: "cloud".into(),
            listen: ListenConfig::default(),
            identity: IdentityLinkConfig::default(),
            smarthost: SmarthostConfig::default(),
            limits: LimitsConfig::default(),
            storage: MailStorageConfig::default(),
        }
    }
}

/// `[mail.storage]`: where the mail role keeps mailboxes, messages and its queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailStorageConfig {
    /// Empty: SQLite and body files under `<data_dir>/mail`. `postgres://user@host/db`
    /// (`?options[search_path]=schema` picks a schema): PostgreSQL, bodies included, so
    /// several mail nodes can serve the same mailboxes.
    pub url: String,
}

impl MailStorageConfig {
    /// The PostgreSQL URL, if one is configured.
    pub fn postgres_url(&self) -> Option<&str> {
        Some(self.url.as_str()).filter(|u| !u.is_empty())
    }
}

/// `[mail.limits]`: how much the IMAP, POP3 and SMTP listeners let clients hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Seconds a connection may stay unauthenticated (from its start) before it is
    /// closed, on every IMAP, POP3 and SMTP listener.
    pub login_timeout_secs: u64,
    /// Seconds an authenticated IMAP connection may be silent (RFC 3501: at least 30
    /// minutes).
    pub imap_idle_timeout_secs: u64,
    /// IMAP connections at once, both IMAP listeners together (`* BYE` beyond).
    pub imap_max_connections: usize,
    /// IMAP connections at once from one client address (an IPv6 /64); 0: no cap.
    pub imap_max_connections_per_address: usize,
    /// POP3 connections at once per listener (`-ERR [SYS/TEMP]` beyond).
    pub pop3_max_connections: usize,
    /// POP3 connections at once per listener from one client address; 0: no cap.
    pub pop3_max_connections_per_address: usize,
    /// SMTP submission connections at once per listener (`421 4.7.0` beyond).
    pub smtp_max_connections: usize,
    /// SMTP submission connections at once per listener from one client address; 0: no
    /// cap.
    pub smtp_max_connections_per_address: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            login_timeout_secs: 60,
            imap_idle_timeout_secs: 30 * 60,
            imap_max_connections: 20_000,
            imap_max_connections_per_address: 500,
            pop3_max_connections: 1000,
            pop3_max_connections_per_address: 100,
            smtp_max_connections: 1000,
            smtp_max_connections_per_address: 100,
        }
    }
}

impl LimitsConfig {
    fn validate(&self, out: &mut Vec<String>) {
        if !(1..=3600).contains(&self.login_timeout_secs) {
            out.push("mail.limits.login_timeout_secs: between 1 and 3600".into());
        }
        if self.imap_idle_timeout_secs < 30 * 60 {
            out.push("mail.limits.imap_idle_timeout_secs: at least 1800 (RFC 3501 §5.4)".into());
        }
        for (key, v) in [
            ("imap_max_connections", self.imap_max_connections),
            ("pop3_max_connections", self.pop3_max_connections),
            ("smtp_max_connections", self.smtp_max_connections),
        ] {
            if v == 0 {
                out.push(format!("mail.limits.{key}: at least 1"));
            }
        }
    }
}

/// `[mail.listen]`: one address per listener; an empty string switches that listener off.
/// Port 0 picks a free port (the bound address is reported).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenConfig {
    /// HTTPS: autodiscover, autoconfig, REST API, admin API, metrics.
    pub http: String,
    /// IMAP with STARTTLS.
    pub imap: String,
    /// IMAP over implicit TLS.
    pub imaps: String,
    /// POP3 with STLS.
    pub pop3: String,
    /// POP3 over implicit TLS.
    pub pop3s: String,
    /// SMTP submission with STARTTLS (RFC 6409).
    pub submission: String,
    /// SMTP submission over implicit TLS (RFC 8314).
    pub submissions: String,
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            http: "127.0.0.1:8446".into(),
            imap: "127.0.0.1:1143".into(),
            imaps: "127.0.0.1:1993".into(),
            pop3: "127.0.0.1:1110".into(),
            pop3s: "127.0.0.1:1995".into(),
            submission: "127.0.0.1:1587".into(),
            submissions: "127.0.0.1:1465".into(),
        }
    }
}

/// The listeners by name, in the order they are reported.
pub(crate) const LISTENERS: [Listener; 7] = [
    Listener::Http,
    Listener::Imap,
    Listener::Imaps,
    Listener::Pop3,
    Listener::Pop3s,
    Listener::Submission,
    Listener::Submissions,
];

/// One of the mail role's listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Listener {
    Http,
    Imap,
    Imaps,
    Pop3,
    Pop3s,
    Submission,
    Submissions,
}

impl Listener {
    /// The key under `[mail.listen]`.
    pub fn key(self) -> &'static str {
        match self {
            Listener::Http => "http",
            Listener::Imap => "imap",
            Listener::Imaps => "imaps",
            Listener::Pop3 => "pop3",
            Listener::Pop3s => "pop3s",
            Listener::Submission => "submission",
            Listener::Submissions => "submissions",
        }
    }

    /// Whether the listener starts with a TLS handshake (else plaintext with STARTTLS).
    pub fn implicit_tls(self) -> bool {
        matches!(
            self,
            Listener::Http | Listener::Imaps | Listener::Pop3s | Listener::Submissions
        )
    }
}

impl ListenConfig {
    /// The configured address of a listener (`""` = off).
    pub fn get(&self, l: Listener) -> &str {
        match l {
            Listener::Http => &self.http,
            Listener::Imap => &self.imap,
            Listener::Imaps => &self.imaps,
            Listener::Pop3 => &self.pop3,
            Listener::Pop3s => &self.pop3s,
            Listener::Submission => &self.submission,
            Listener::Submissions => &self.submissions,
        }
    }

    /// Sets every listener's port to 0 on its configured IP (tests, parallel instances).
    pub fn all_random(&mut self) {
        for l in LISTENERS {
            let slot = match l {
                Listener::Http => &mut self.http,
                Listener::Imap => &mut self.imap,
                Listener::Imaps => &mut self.imaps,
                Listener::Pop3 => &mut self.pop3,
                Listener::Pop3s => &mut self.pop3s,
                Listener::Submission => &mut self.submission,
                Listener::Submissions => &mut self.submissions,
            };
            if let Ok(mut addr) = slot.parse::<SocketAddr>() {
                addr.set_port(0);
                *slot = addr.to_string();
            }
        }
    }
}

impl ListenConfig {
    /// Adds `offset` to every listener's port (`mailward up --port-offset`, a second
    /// instance beside the first). Listeners that are off or on port 0 stay as they are.
    pub fn shift_ports(&mut self, offset: u16) -> Result<(), String> {
        for l in LISTENERS {
            let slot = match l {
                Listener::Http => &mut self.http,
                Listener::Imap => &mut self.imap,
                Listener::Imaps => &mut self.imaps,
                Listener::Pop3 => &mut self.pop3,
                Listener::Pop3s => &mut self.pop3s,
                Listener::Submission => &mut self.submission,
                Listener::Submissions => &mut self.submissions,
            };
            let Ok(mut addr) = slot.parse::<SocketAddr>() else {
                continue;
            };
            if addr.port() == 0 {
                continue;
            }
            let port = addr.port().checked_add(offset).ok_or_else(|| {
                format!(
                    "mail.listen.{}: port {} + {offset} is beyond 65535",
                    l.key(),
                    addr.port()
                )
            })?;
            addr.set_port(port);
            *slot = addr.to_string();
        }
        Ok(())
    }
}

/// `[mail.identity]`: how the mail role reaches identity when identity does not run in
/// the same process. The strings are empty under `mailward up` and `serve --role
/// identity,mail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityLinkConfig {
    /// Identity's base URL, e.g. `https://login.example.com`.
    pub url: String,
    /// The exact issuer of tokens; empty: read from `<url>/.well-known/openid-configuration`.
    pub issuer: String,
    /// Extra trusted CA certificates (PEM) for identity's TLS.
    pub ca_file: String,
    /// Client id of this instance's confidential application holding the
    /// `LegacyAuth.Relay` role (relayed basic authentication). Empty: basic
    /// authentication cannot succeed (it is refused by default policy anyway).
    pub relay_client_id: String,
    /// A file (mode 0600) holding that application's secret.
    pub relay_client_secret_file: String,
    /// Seconds between polls of identity's revocation feed (with the relay application's
    /// credentials): a disabled user, a sign-out everywhere or a password reset reaches
    /// this instance within about this long.
    pub revocation_poll_secs: u64,
    /// Seconds without a successful poll after which bearer tokens are refused as
    /// temporarily unavailable (fail closed).
    pub revocation_max_staleness_secs: u64,
}

impl Default for IdentityLinkConfig {
    fn default() -> Self {
        IdentityLinkConfig {
            url: String::new(),
            issuer: String::new(),
            ca_file: String::new(),
            relay_client_id: String::new(),
            relay_client_secret_file: String::new(),
            revocation_poll_secs: 5,
            revocation_max_staleness_secs: 60,
        }
    }
}

/// `[mail.smarthost]`: where mail for other domains goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmarthostConfig {
    /// Host name (also the TLS server name). Empty: no relay; such mail stays queued.
    pub host: String,
    pub port: u16,
    /// Require STARTTLS with the smarthost.
    pub starttls: bool,
    /// Trusted CA certificates (PEM) for the smarthost; empty: the public web PKI.
    pub ca_file: String,
}

impl Default for SmarthostConfig {
    fn default() -> Self {
        SmarthostConfig {
            host: String::new(),
            port: 25,
            starttls: true,
            ca_file: String::new(),
        }
    }
}

impl MailConfig {
    /// Every problem, each with its key path under `mail.`.
    pub fn validate(&self) -> Vec<String> {
        let mut out = vec![];
        if !self.public_url.is_empty() {
            match url::Url::parse(&self.public_url) {
                Ok(u) if u.scheme() == "https" && u.host_str().is_some() => {
                    if self.public_url.ends_with('/') {
                        out.push("mail.public_url: no trailing slash".into());
                    }
                }
                _ => out.push("mail.public_url: must be an https:// URL".into()),
            }
        }
        if !self.resource_uri.is_empty() && url::Url::parse(&self.resource_uri).is_err() {
            out.push("mail.resource_uri: not a URI".into());
        }
        if self.hostname.is_empty()
            || self
                .hostname
                .chars()
                .any(|c| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        {
            out.push("mail.hostname: must be a DNS name such as mail.example.com".into());
        }
        for (i, d) in self.local_domains.iter().enumerate() {
            if d.is_empty() || d.contains('@') || d.chars().any(|c| c.is_whitespace()) {
                out.push(format!("mail.local_domains[{i}]: {d:?} is not a domain"));
            }
        }
        if self.max_message_size < 1024 {
            out.push("mail.max_message_size: at least 1024 octets".into());
        }
        if self.flavour_value().is_none() {
            out.push("mail.flavour: must be \"cloud\" or \"onpremises\"".into());
        }
        self.limits.validate(&mut out);
        for l in LISTENERS {
            let v = self.listen.get(l);
            if !v.is_empty() && v.parse::<SocketAddr>().is_err() {
                out.push(format!(
                    "mail.listen.{}: {v:?} is not an address such as 127.0.0.1:{} (or \"\" for off)",
                    l.key(),
                    match l {
                        Listener::Http => 8446,
                        Listener::Imap => 1143,
                        Listener::Imaps => 1993,
                        Listener::Pop3 => 1110,
                        Listener::Pop3s => 1995,
                        Listener::Submission => 1587,
                        Listener::Submissions => 1465,
                    }
                ));
            }
        }
        if self.listen.http.is_empty() {
            out.push("mail.listen.http: the HTTP front cannot be switched off".into());
        }
        let id = &self.identity;
        if !id.url.is_empty() && !id.url.starts_with("https://") {
            out.push("mail.identity.url: must be an https:// URL".into());
        }
        if id.relay_client_id.is_empty() != id.relay_client_secret_file.is_empty() {
            out.push(
                "mail.identity: set both relay_client_id and relay_client_secret_file, or neither"
                    .into(),
            );
        }
        if !(1..=60).contains(&id.revocation_poll_secs) {
            out.push("mail.identity.revocation_poll_secs: must be 1 to 60".into());
        }
        if id.revocation_max_staleness_secs < 2 * id.revocation_poll_secs
            || id.revocation_max_staleness_secs > 3600
        {
            out.push(
                "mail.identity.revocation_max_staleness_secs: must be at least twice revocation_poll_secs and at most 3600"
                    .into(),
            );
        }
        if !self.smarthost.host.is_empty() && self.smarthost.port == 0 {
            out.push("mail.smarthost.port: must not be 0".into());
        }
        if !self.storage.url.is_empty()
            && !self.storage.url.starts_with("postgres://")
            && !self.storage.url.starts_with("postgresql://")
        {
            out.push(
                "mail.storage.url: must be empty (SQLite in data_dir/mail) or a postgres:// URL"
                    .into(),
            );
        }
        out
    }

    /// The configured flavour, if valid.
    pub fn flavour_value(&self) -> Option<mailward_authpolicy::Flavour> {
        match self.flavour.as_str() {
            "cloud" => Some(mailward_authpolicy::Flavour::Cloud),
            "onpremises" => Some(mailward_authpolicy::Flavour::OnPremises),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(MailConfig::default().validate(), Vec::<String>::new());
    }

    #[test]
    fn every_problem_is_named() {
        let cfg = MailConfig {
            public_url: "http://x/".into(),
            hostname: "bad host".into(),
            local_domains: vec!["a@b".into()],
            max_message_size: 1,
            flavour: "hybrid".into(),
            listen: ListenConfig {
                imap: "nowhere".into(),
                http: String::new(),
                ..ListenConfig::default()
            },
            identity: IdentityLinkConfig {
                url: "http://id".into(),
                relay_client_id: "x".into(),
                revocation_poll_secs: 0,
                ..IdentityLinkConfig::default()
            },
            limits: LimitsConfig {
                login_timeout_secs: 0,
                imap_idle_timeout_secs: 60,
                pop3_max_connections: 0,
                ..LimitsConfig::default()
            },
            storage: MailStorageConfig {
                url: "mysql://db/mail".into(),
            },
            ..MailConfig::default()
        };
        let errs = cfg.validate().join("\n");
        for key in [
            "mail.public_url",
            "mail.hostname",
            "mail.local_domains[0]",
            "mail.max_message_size",
            "mail.flavour",
            "mail.listen.imap",
            "mail.listen.http",
            "mail.identity.url",
            "mail.identity:",
            "mail.limits.login_timeout_secs",
            "mail.limits.imap_idle_timeout_secs",
            "mail.limits.pop3_max_connections",
            "mail.identity.revocation_poll_secs",
            "mail.storage.url",
        ] {
            assert!(errs.contains(key), "{key} missing in\n{errs}");
        }
    }

    #[test]
    fn all_random_keeps_ips_and_off_switches() {
        let mut l = ListenConfig {
            pop3: String::new(),
            imap: "0.0.0.0:143".into(),
            ..ListenConfig::default()
        };
        l.all_random();
        assert_eq!(l.imap, "0.0.0.0:0");
        assert_eq!(l.http, "127.0.0.1:0");
        assert_eq!(l.pop3, "");
    }

    #[test]
    fn shift_ports_moves_every_listener_but_off_and_random_ones() {
        let mut l = ListenConfig {
            pop3: String::new(),
            imap: "0.0.0.0:0".into(),
            ..ListenConfig::default()
        };
        l.shift_ports(10).expect("shift");
        assert_eq!(l.http, "127.0.0.1:8456");
        assert_eq!(l.imaps, "127.0.0.1:2003");
        assert_eq!(l.submissions, "127.0.0.1:1475");
        assert_eq!(l.imap, "0.0.0.0:0");
        assert_eq!(l.pop3, "");
        let err = ListenConfig::default().shift_ports(65000).unwrap_err();
        assert!(err.starts_with("mail.listen.http:"), "{err}");
    }
}
