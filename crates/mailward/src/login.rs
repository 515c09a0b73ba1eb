//! `mailward login`: signs an admin in to a remote instance with the device code flow
//! (RFC 8628), as other cloud CLIs do, and keeps the tokens in the user's config
//! directory (mode 0600), refreshing them when they expire.

use crate::cli::Cli;
use anyhow::{Context, bail};
use clap::Args;
use mailward_types::model::well_known;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The identity URL (issuer) to sign in to.
    #[arg(long, default_value = "https://localhost:8443")]
    pub url: String,
    /// A CA certificate (PEM) to trust for this instance, e.g. mailward-data/tls/ca.pem.
    #[arg(long)]
    pub ca: Option<PathBuf>,
}

/// What `login` stores.
#[derive(Serialize, Deserialize)]
pub struct Session {
    pub url: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_at: i64,
    pub ca: Option<PathBuf>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn credentials_path() -> anyhow::Result<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .context("neither XDG_CONFIG_HOME nor HOME is set")?;
    Ok(base.join("mailward").join("credentials.json"))
}

pub fn http_client(ca: Option<&Path>) -> anyhow::Result<reqwest::Client> {
    mailward_net::install_crypto_provider();
    let mut b = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).context("CA certificate")?);
    }
    Ok(b.build()?)
}

fn save(s: &Session) -> anyhow::Result<()> {
    let path = credentials_path()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, serde_json::to_vec_pretty(s)?)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// An access token for another resource (`<resource>/<scope>`, e.g. a mail instance's
/// admin API), redeemed with the saved refresh token, whose successor is saved.
pub async fn token_for(resource: &str, scope: &str) -> anyhow::Result<String> {
    let mut s = session().await?;
    let Some(rt) = s.refresh_token.clone() else {
        bail!("the sign-in keeps no refresh token; run `mailward login` again");
    };
    let client = http_client(s.ca.as_deref())?;
    let wanted = format!("{}/{scope} offline_access", resource.trim_end_matches('/'));
    let t: serde_json::Value = client
        .post(format!("{}/oauth2/v2.0/token", s.url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", well_known::CLI_CLIENT_ID),
            ("refresh_token", rt.as_str()),
            ("scope", wanted.as_str()),
        ])
        .send()
        .await?
        .json()
        .await?;
    let Some(at) = t["access_token"].as_str() else {
        bail!(
            "no token for {resource}: {}",
            t["error_description"].as_str().unwrap_or("refused")
        );
    };
    if let Some(next) = t["refresh_token"].as_str() {
        s.refresh_token = Some(next.to_string());
        save(&s)?;
    }
    Ok(at.to_string())
}

pub async fn login(_cli: &Cli, args: &LoginArgs) -> anyhow::Result<()> {
    let url = args.url.trim_end_matches('/').to_string();
    let ca = args
        .ca
        .as_ref()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()));
    let client = http_client(ca.as_deref())?;
    let scope = format!("{url}/{} offline_access openid", well_known::ADMIN_SCOPE);
    let res: serde_json::Value = client
        .post(format!("{url}/oauth2/v2.0/devicecode"))
        .form(&[
            ("client_id", well_known::CLI_CLIENT_ID),
            ("scope", scope.as_str()),
        ])
        .send()
        .await
        .with_context(|| format!("contacting {url}"))?
        .json()
        .await?;
    let Some(device_code) = res["device_code"].as_str() else {
        bail!(
            "the server refused the sign-in: {}",
            res["error_description"].as_str().unwrap_or("unknown error")
        );
    };
    println!("{}", res["message"].as_str().unwrap_or(""));
    let mut interval = res["interval"].as_u64().unwrap_or(5);
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        let t: serde_json::Value = client
            .post(format!("{url}/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", well_known::CLI_CLIENT_ID),
                ("device_code", device_code),
            ])
            .send()
            .await?
            .json()
            .await?;
        match t["error"].as_str() {
            None => {
                let s = Session {
                    url: url.clone(),
                    access_token: t["access_token"].as_str().unwrap_or_default().to_string(),
                    refresh_token: t["refresh_token"].as_str().map(str::to_string),
                    expires_at: mailward_types::clock::now().unix_timestamp()
                        + t["expires_in"].as_i64().unwrap_or(3600),
                    ca,
                };
                save(&s)?;
                println!("signed in to {url}; use --remote with admin commands");
                return Ok(());
            }
            Some("authorization_pending") => {}
            Some("slow_down") => interval += 5,
            Some(_) => bail!(
                "sign-in failed: {}",
                t["error_description"].as_str().unwrap_or("unknown error")
            ),
        }
    }
}

pub fn logout() -> anyhow::Result<()> {
    let path = credentials_path()?;
    match std::fs::remove_file(&path) {
        Ok(()) => println!("signed out"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => println!("not signed in"),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// The stored session, refreshed if its access token is about to expire.
pub async fn session() -> anyhow::Result<Session> {
    let path = credentials_path()?;
    let bytes = std::fs::read(&path).map_err(|_| {
        anyhow::anyhow!("not signed in: run `mailward login --url https://HOST:8443` first")
    })?;
    let mut s: Session = serde_json::from_slice(&bytes)
        .context("credentials file is damaged; run `mailward login` again")?;
    if s.expires_at - 60 > mailward_types::clock::now().unix_timestamp() {
        return Ok(s);
    }
    let Some(rt) = s.refresh_token.clone() else {
        bail!("the sign-in has expired; run `mailward login` again");
    };
    let client = http_client(s.ca.as_deref())?;
    let t: serde_json::Value = client
        .post(format!("{}/oauth2/v2.0/token", s.url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", well_known::CLI_CLIENT_ID),
            ("refresh_token", rt.as_str()),
        ])
        .send()
        .await?
        .json()
        .await?;
    let Some(at) = t["access_token"].as_str() else {
        bail!(
            "the sign-in has expired ({}); run `mailward login` again",
            t["error_description"].as_str().unwrap_or("refresh failed")
        );
    };
    s.access_token = at.to_string();
    s.refresh_token = t["refresh_token"].as_str().map(str::to_string);
    s.expires_at =
        mailward_types::clock::now().unix_timestamp() + t["expires_in"].as_i64().unwrap_or(3600);
    save(&s)?;
    Ok(s)
}
