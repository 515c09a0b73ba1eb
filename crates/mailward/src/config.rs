//! `mailward.toml`: the deployment configuration. Loading is strict and reports every
//! problem at once, each with its key path: unknown keys, values of the wrong type, and
//! values out of range.

use mailward_identity::IdentityConfig;
use mailward_mail::MailConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Format version of this file; currently 1.
    pub version: u32,
    /// Where state lives (database, keys, master key).
    pub data_dir: PathBuf,
    pub tls: TlsConfig,
    pub log: LogConfig,
    pub storage: StorageConfig,
    pub identity: IdentityConfig,
    /// The mail role (IMAP, POP3, SMTP submission, autodiscover, REST and admin API).
    pub mail: MailConfig,
    /// Limits of every HTTPS listener (identity's and the mail role's).
    pub https: HttpsConfig,
}

/// `[storage]`: where identity keeps its state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Empty: SQLite at `data_dir/identity.db`. `postgres://user@host/db`: PostgreSQL
    /// (several nodes can share it).
    pub url: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            version: 1,
            data_dir: PathBuf::from("./mailward-data"),
            tls: TlsConfig::default(),
            log: LogConfig::default(),
            storage: StorageConfig::default(),
            identity: IdentityConfig::default(),
            mail: MailConfig::default(),
            https: HttpsConfig::default(),
        }
    }
}

/// `[https]`: limits of every HTTPS listener, so one client cannot hold every descriptor
/// (slowloris: connections that never finish their headers, or never say anything).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpsConfig {
    /// Connections at once per listener; further ones are closed at once.
    pub max_connections: usize,
    /// Connections at once per listener from one client address (an IPv6 /64); 0: no
    /// cap. Behind a reverse proxy every connection comes from the proxy: raise it there.
    pub max_connections_per_address: usize,
    /// Seconds allowed for a request's headers (also bounds an idle HTTP/1.1 keep-alive).
    pub header_read_timeout_secs: u64,
    /// Seconds without any traffic after which a connection is closed.
    pub idle_timeout_secs: u64,
    /// Seconds allowed for the TLS handshake.
    pub tls_handshake_timeout_secs: u64,
    /// Concurrent streams on one HTTP/2 connection.
    pub max_concurrent_streams: u32,
}

impl Default for HttpsConfig {
    fn default() -> Self {
        let d = mailward_net::HttpLimits::default();
        HttpsConfig {
            max_connections: d.max_connections,
            max_connections_per_address: d.max_connections_per_address,
            header_read_timeout_secs: d.header_read_timeout.as_secs(),
            idle_timeout_secs: d.idle_timeout.as_secs(),
            tls_handshake_timeout_secs: d.tls_handshake_timeout.as_secs(),
            max_concurrent_streams: d.max_concurrent_streams,
        }
    }
}

impl HttpsConfig {
    /// The limits the HTTPS listeners are served with.
    pub fn limits(&self) -> mailward_net::HttpLimits {
        mailward_net::HttpLimits {
            max_connections: self.max_connections,
            max_connections_per_address: self.max_connections_per_address,
            tls_handshake_timeout: std::time::Duration::from_secs(self.tls_handshake_timeout_secs),
            header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout_secs),
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout_secs),
            max_concurrent_streams: self.max_concurrent_streams,
        }
    }

    fn validate(&self, out: &mut Vec<String>) {
        if self.max_connections == 0 {
            out.push("https.max_connections: at least 1".into());
        }
        for (key, v) in [
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            (
                "tls_handshake_timeout_secs",
                self.tls_handshake_timeout_secs,
            ),
        ] {
            if !(1..=3600).contains(&v) {
                out.push(format!("https.{key}: between 1 and 3600"));
            }
        }
        if self.max_concurrent_streams == 0 {
            out.push("https.max_concurrent_streams: at least 1".into());
        }
    }
}

/// `[tls]`: certificate and key (PEM). Empty means the local CA under `data_dir/tls`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    pub cert: String,
    pub key: String,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `mailward_identity=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// Keys that are valid but absent from the serialised defaults (optional values).
const OPTIONAL_KEYS: &[&str] = &["identity.webauthn.rp_id"];

/// A configuration file as loaded: the configuration, and which keys the file itself
/// names (the others are defaults), so command-line options know what they may override.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// Dotted key paths of the values the file sets, e.g. `data_dir`, `identity.listen`.
    pub keys: BTreeSet<String>,
}

impl Loaded {
    /// Whether the file sets this key (a dotted path).
    pub fn sets(&self, key: &str) -> bool {
        self.keys.contains(key)
    }
}

impl Config {
    /// Loads and checks a file; `Err` lists every problem, one per line.
    pub fn load(path: &Path) -> Result<Loaded, Vec<String>> {
        let text =
            std::fs::read_to_string(path).map_err(|e| vec![format!("{}: {e}", path.display())])?;
        let config = Config::parse(&text)?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| vec![e.message().into()])?;
        let mut leaves = vec![];
        collect_leaves(&table, "", &mut leaves);
        Ok(Loaded {
            config,
            keys: leaves.into_iter().map(|(k, _)| k).collect(),
        })
    }

    pub fn parse(text: &str) -> Result<Config, Vec<String>> {
        let user: toml::Table =
            toml::from_str(text).map_err(|e| vec![format!("syntax: {}", e.message())])?;
        let defaults =
            toml::Table::try_from(Config::default()).map_err(|e| vec![format!("internal: {e}")])?;
        let mut problems = vec![];
        // 1. Unknown keys, all of them.
        unknown_keys(&user, &defaults, "", &mut problems);
        // 2. Each value on its own against the defaults, so every bad value is reported.
        let mut leaves = vec![];
        collect_leaves(&user, "", &mut leaves);
        for (path, value) in &leaves {
            if problems
                .iter()
                .any(|p: &String| p.starts_with(&format!("{path}:")))
            {
                continue;
            }
            let mut probe = defaults.clone();
            set_path(&mut probe, path, value.clone());
            if let Err(e) = probe.try_into::<Config>() {
                problems.push(format!("{path}: {}", e.message().trim()));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let cfg: Config = toml::Value::Table(user)
            .try_into()
            .map_err(|e: toml::de::Error| vec![e.message().to_string()])?;
        // 3. Ranges and relations.
        let mut problems = cfg.identity.validate();
        problems.extend(cfg.mail.validate());
        cfg.https.validate(&mut problems);
        if cfg.version != 1 {
            problems.push(format!(
                "version: {} is not supported (this mailward reads version 1)",
                cfg.version
            ));
        }
        if !matches!(cfg.log.format.as_str(), "text" | "json") {
            problems.push("log.format: must be \"text\" or \"json\"".into());
        }
        if !cfg.storage.url.is_empty()
            && !cfg.storage.url.starts_with("postgres://")
            && !cfg.storage.url.starts_with("postgresql://")
        {
            problems.push(
                "storage.url: must be empty (SQLite in data_dir) or a postgres:// URL".into(),
            );
        }
        if cfg.tls.cert.is_empty() != cfg.tls.key.is_empty() {
            problems.push("tls: set both cert and key, or neither (to use the local CA)".into());
        }
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(problems)
        }
    }
}

fn unknown_keys(user: &toml::Table, schema: &toml::Table, prefix: &str, out: &mut Vec<String>) {
    for (k, v) in user {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match schema.get(k) {
            None if OPTIONAL_KEYS.contains(&path.as_str()) => {}
            None => {
                let known: Vec<&str> = schema.keys().map(String::as_str).collect();
                out.push(format!(
                    "{path}: unknown key (known here: {})",
                    known.join(", ")
                ));
            }
            Some(toml::Value::Table(s)) => {
                if let toml::Value::Table(u) = v {
                    unknown_keys(u, s, &path, out);
                }
            }
            Some(_) => {}
        }
    }
}

fn collect_leaves(t: &toml::Table, prefix: &str, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in t {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(inner) if !inner.is_empty() => collect_leaves(inner, &path, out),
            other => out.push((path, other.clone())),
        }
    }
}

fn set_path(t: &mut toml::Table, path: &str, value: toml::Value) {
    let mut parts = path.split('.').peekable();
    let mut cur = t;
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(p.to_string(), value);
            return;
        }
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        match entry {
            toml::Value::Table(next) => cur = next,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_parses() {
        let text = include_str!("../../../mailward.toml");
        let cfg = Config::parse(text).unwrap();
        assert_eq!(cfg.version, 1);
    }

    #[test]
    fn load_names_the_keys_the_file_sets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mailward.toml");
        std::fs::write(&path, "[identity]\nlisten = \"127.0.0.1:9443\"\n").unwrap();
        let loaded = Config::load(&path).unwrap();
        assert!(loaded.sets("identity.listen"));
        assert!(!loaded.sets("data_dir"));
        assert!(!loaded.sets("identity.public_url"));
    }

    #[test]
    fn empty_file_is_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn all_problems_reported_with_paths() {
        let text = r#"
            version = 1
            bogus = true
            [identity]
            public_url = 5
            colour = "red"
            [identity.tokens]
            access_token_secs = "long"
            [identity.lockout]
            threshold = 0
        "#;
        let errs = Config::parse(text).unwrap_err();
        let joined = errs.join("\n");
        assert!(joined.contains("bogus: unknown key"), "{joined}");
        assert!(joined.contains("identity.colour: unknown key"), "{joined}");
        assert!(joined.contains("identity.public_url:"), "{joined}");
        assert!(
            joined.contains("identity.tokens.access_token_secs:"),
            "{joined}"
        );
        assert!(errs.len() >= 4, "{joined}");
    }

    #[test]
    fn mail_section_is_strict_too() {
        let text = r#"
            [mail]
            hostname = "bad host"
            colour = "red"
            [mail.listen]
            imap = "nowhere"
            [mail.smarthost]
            port = "twenty-five"
        "#;
        let errs = Config::parse(text).unwrap_err().join("\n");
        assert!(errs.contains("mail.colour: unknown key"), "{errs}");
        assert!(errs.contains("mail.smarthost.port:"), "{errs}");
        let errs = Config::parse(
            "[https]\nidle_timeout_secs = 0\nmax_connections = 0\n[mail.limits]\nimap_idle_timeout_secs = 60\n",
        )
        .unwrap_err()
        .join("\n");
        assert!(errs.contains("https.idle_timeout_secs:"), "{errs}");
        assert!(errs.contains("https.max_connections:"), "{errs}");
        assert!(
            errs.contains("mail.limits.imap_idle_timeout_secs:"),
            "{errs}"
        );
        let errs =
            Config::parse("[mail]\nhostname = \"bad host\"\n[mail.listen]\nimap = \"nowhere\"\n")
                .unwrap_err()
                .join("\n");
        assert!(errs.contains("mail.hostname:"), "{errs}");
        assert!(errs.contains("mail.listen.imap:"), "{errs}");
        let cfg = Config::parse("[mail.listen]\npop3 = \"\"\nimap = \"127.0.0.1:0\"\n").unwrap();
        assert_eq!(cfg.mail.listen.pop3, "");
    }

    #[test]
    fn range_errors_reported_together() {
        let text = "[identity.lockout]\nthreshold = 0\n[identity.tokens]\naccess_token_secs = 1\n";
        let errs = Config::parse(text).unwrap_err();
        assert!(
            errs.iter()
                .any(|e| e.starts_with("identity.lockout.threshold")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("identity.tokens.access_token_secs")),
            "{errs:?}"
        );
    }
}
