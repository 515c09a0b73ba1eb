//! Starting roles: `mailward up` (everything on localhost, embedded defaults) and
//! `mailward serve` (from a configuration file). Also opens identity's state for local
//! administration, and registers the mail role's relay application in an identity that
//! runs in the same process.

use crate::cli::{Cli, ServeArgs, UpArgs};
use crate::config::{Config, Loaded};
use anyhow::{Context, bail};
use mailward_identity::Ctx;
use mailward_mail::{IdentityLink, Listener, MailDeps};
use mailward_store::{DynStore, PgStore, SqliteStore};
use mailward_tokens::seal::Sealer;
use mailward_types::Secret;
use mailward_types::model::well_known;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The data directory without `--data`, `MAILWARD_DATA` or a `data_dir` in the file.
pub const DEFAULT_DATA_DIR: &str = "./mailward-data";

/// The effective configuration: `--config`, else `<data>/mailward.toml`, else defaults.
/// The data directory is `--data` unless the file sets `data_dir`; when both name one
/// and they differ, the command refuses rather than guess (state written into the wrong
/// directory may be another instance's).
pub fn load(cli: &Cli) -> anyhow::Result<Loaded> {
    let data_dir = cli
        .data
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let path = match &cli.config {
        Some(p) => Some(p.clone()),
        None => Some(data_dir.join("mailward.toml")).filter(|p| p.exists()),
    };
    let Some(path) = path else {
        return Ok(Loaded {
            config: Config {
                data_dir,
                ..Config::default()
            },
            keys: Default::default(),
        });
    };
    let mut loaded = Config::load(&path).map_err(|errs| {
        anyhow::anyhow!(
            "{} has {} problem(s):\n  {}",
            path.display(),
            errs.len(),
            errs.join("\n  ")
        )
    })?;
    if !loaded.sets("data_dir") {
        loaded.config.data_dir = data_dir;
    } else if let Some(given) = &cli.data
        && !same_dir(given, &loaded.config.data_dir)
    {
        bail!(
            "--data {} and data_dir = \"{}\" in {} name different directories; remove one of them or make them agree",
            given.display(),
            loaded.config.data_dir.display(),
            path.display()
        );
    }
    Ok(loaded)
}

/// The effective configuration (see [`load`]).
pub fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    Ok(load(cli)?.config)
}

/// Whether two paths name the same directory (resolved when they exist).
fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => match (std::path::absolute(a), std::path::absolute(b)) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        },
    }
}

/// Opens identity's state (creating it on first use).
pub async fn open_identity(cfg: &Config, default_domain: Option<&str>) -> anyhow::Result<Ctx> {
    let dir = &cfg.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    restrict_dir(dir);
    let sealer = Sealer::load_or_create(&dir.join("master.key")).context("master key")?;
    let store: DynStore = if cfg.storage.url.is_empty() {
        Arc::new(
            SqliteStore::open(&dir.join("identity.db"))
                .await
                .with_context(|| format!("opening {}", dir.join("identity.db").display()))?,
        )
    } else {
        Arc::new(
            PgStore::connect(&cfg.storage.url)
                .await
                .context("connecting to PostgreSQL (storage.url)")?,
        )
    };
    let now = mailward_types::clock::now();
    let ctx =
        mailward_identity::open(cfg.identity.clone(), store, sealer, default_domain, now).await?;
    Ok(ctx)
}

fn restrict_dir(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
}

fn init_tracing(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MAILWARD_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&cfg.log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if cfg.log.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

pub async fn up(cli: &Cli, args: &UpArgs) -> anyhow::Result<()> {
    let loaded = load(cli)?;
    let mut cfg = loaded.config.clone();
    init_tracing(&cfg);
    let first_run = !cfg.data_dir.join("identity.db").exists();
    // Listeners: the configuration's (or the defaults), moved by --port-offset.
    if args.port_offset != 0 {
        let port = cfg.identity.listen.port();
        if port != 0 {
            let moved = port.checked_add(args.port_offset).with_context(|| {
                format!(
                    "identity.listen: port {port} + {} is beyond 65535",
                    args.port_offset
                )
            })?;
            cfg.identity.listen.set_port(moved);
        }
        cfg.mail
            .listen
            .shift_ports(args.port_offset)
            .map_err(|e| anyhow::anyhow!(e))?;
    }
    if let Some(addr) = args.identity_listen {
        cfg.identity.listen = addr;
    }
    let listener = TcpListener::bind(cfg.identity.listen)
        .await
        .with_context(|| {
            format!(
                "identity cannot listen on {} (is another mailward running? Move this one with --port-offset N or the listeners in mailward.toml)",
                cfg.identity.listen
            )
        })?;
    let port = listener.local_addr()?.port();
    cfg.identity.listen = listener.local_addr()?;
    if !loaded.sets("identity.public_url") {
        cfg.identity.public_url = format!("https://{}:{port}", args.host);
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let now = mailward_types::clock::now();
    let ca = mailward_net::ca::ensure(&cfg.data_dir, std::slice::from_ref(&args.host), now)
        .context("local certificate authority")?;
    let ctx = open_identity(&cfg, Some(&args.domain)).await?;
    let admin = mailward_identity::bootstrap::bootstrap_admin(
        &ctx,
        &args.domain,
        Secret::new(generate_password()),
        now,
    )
    .await?;
    let seeded = if args.demo {
        let t = crate::admin::Transport::identity(mailward_identity::router(ctx.clone()));
        crate::demo::seed(&t).await?
    } else {
        vec![]
    };
    let tls = mailward_net::server_config(&ca.server_cert, &ca.server_key)?;

    let base = cfg.identity.public_url.clone();
    let issuer = ctx.issuer().to_string();
    let mail_dir = cfg.data_dir.join("mail");
    let relay = ensure_relay_client(&ctx, &mail_dir).await?;
    let mut mail_cfg = cfg.mail.clone();
    if mail_cfg.resource_uri.is_empty() {
        mail_cfg.resource_uri = cfg.identity.mail_resource_uri.clone();
    }
    if mail_cfg.local_domains.is_empty() {
        mail_cfg.local_domains = vec![args.domain.to_ascii_lowercase()];
    }
    if !loaded.sets("mail.hostname") {
        mail_cfg.hostname = args.host.clone();
    }
    let mail = mailward_mail::start(
        mail_cfg,
        MailDeps {
            data_dir: mail_dir,
            tls: tls.clone(),
            identity: IdentityLink {
                url: base.clone(),
                issuer: issuer.clone(),
                ca_file: Some(ca.ca_cert.clone()),
                relay: Some(relay),
            },
        },
    )
    .await
    .context("mail role")?;
    println!(
        "mailward is running{}",
        if first_run {
            " (first run: state created)"
        } else {
            ""
        }
    );
    println!();
    println!("  identity      {base}");
    println!("    issuer      {issuer}");
    println!("                (the OIDC authority to give client libraries)");
    println!("    sign-in     {base}/devicelogin");
    println!("    admin       {base}/admin");
    println!("    discovery   {issuer}/.well-known/openid-configuration");
    print_mail(&mail, &args.host);
    println!("  data          {}", cfg.data_dir.display());
    println!("  CA            {}", ca.ca_cert.display());
    println!(
        "                (trust it: curl --cacert, REQUESTS_CA_BUNDLE=..., or your OS trust store)"
    );
    println!();
    println!("  bootstrap admin  {}", admin.upn);
    match &admin.password {
        Some(password) => {
            println!("  password         {}", password.expose_secret());
            println!(
                "                   (shown until the first sign-in; you will set up MFA then)"
            );
        }
        None => println!(
            "                   (signed in already; a new password: `mailward user set {} --generate-password`)",
            admin.upn
        ),
    }
    if args.demo {
        println!();
        println!("  demo policies    (mailward ca list)");
        for name in &seeded {
            println!("    created        {name}");
        }
    }
    println!();
    println!(
        "Administer with `mailward user|group|app|domain|ca|signins|mailbox|authpolicy|org --help`. Stop with Ctrl-C."
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();

    run_roles(Some((ctx, listener, tls)), Some(mail), cfg.https.limits()).await
}

/// The mail lines of the banner.
fn print_mail(mail: &mailward_mail::Mail, host: &str) {
    println!("  mail          {}", mail.public_url());
    println!("    resource    {}", mail.resource_uri());
    for (l, name, how) in [
        (Listener::Imap, "imap", "STARTTLS"),
        (Listener::Imaps, "imaps", "TLS"),
        (Listener::Pop3, "pop3", "STLS"),
        (Listener::Pop3s, "pop3s", "TLS"),
        (Listener::Submission, "submission", "STARTTLS"),
        (Listener::Submissions, "submissions", "TLS"),
    ] {
        if let Some(a) = mail.addr(l) {
            println!("    {name:<11} {host}:{:<6} ({how})", a.port());
        }
    }
    println!(
        "    basic auth  blocked by default (`{}`; see `mailward authpolicy --help`)",
        mailward_mail::DEFAULT_POLICY_NAME
    );
}

pub async fn serve(cli: &Cli, args: &ServeArgs) -> anyhow::Result<()> {
    let cfg = load_config(cli)?;
    init_tracing(&cfg);
    let mut identity_role = false;
    let mut mail_role = false;
    for r in &args.role {
        match r.as_str() {
            "identity" => identity_role = true,
            "mail" => mail_role = true,
            other => {
                bail!("role '{other}' is not available in this version (available: identity, mail)")
            }
        }
    }
    let (cert, key) = if cfg.tls.cert.is_empty() {
        let names: Vec<String> = if mail_role {
            vec![cfg.mail.hostname.clone()]
        } else {
            vec![]
        };
        let ca = mailward_net::ca::ensure(&cfg.data_dir, &names, mailward_types::clock::now())?;
        (ca.server_cert, ca.server_key)
    } else {
        (cfg.tls.cert.clone().into(), cfg.tls.key.clone().into())
    };
    let tls = mailward_net::server_config(&cert, &key)?;
    let identity = if identity_role {
        let listener = TcpListener::bind(cfg.identity.listen)
            .await
            .with_context(|| format!("identity cannot listen on {}", cfg.identity.listen))?;
        let ctx = open_identity(&cfg, None).await?;
        tracing::info!(issuer = %ctx.issuer(), listen = %cfg.identity.listen, "identity started");
        Some((ctx, listener, tls.clone()))
    } else {
        None
    };
    let mail = if mail_role {
        let mut mail_cfg = cfg.mail.clone();
        let mail_dir = cfg.data_dir.join("mail");
        let link = match &identity {
            Some((ctx, _, _)) => {
                if mail_cfg.resource_uri.is_empty() {
                    mail_cfg.resource_uri = cfg.identity.mail_resource_uri.clone();
                }
                let ca_file = if !cfg.mail.identity.ca_file.is_empty() {
                    Some(PathBuf::from(&cfg.mail.identity.ca_file))
                } else if cfg.tls.cert.is_empty() {
                    Some(cfg.data_dir.join("tls").join("ca.pem"))
                } else {
                    None
                };
                IdentityLink {
                    url: cfg.identity.public_url.clone(),
                    issuer: ctx.issuer().to_string(),
                    ca_file,
                    relay: Some(ensure_relay_client(ctx, &mail_dir).await?),
                }
            }
            None => remote_identity(&cfg.mail.identity).await?,
        };
        let mail = mailward_mail::start(
            mail_cfg,
            MailDeps {
                data_dir: mail_dir,
                tls: tls.clone(),
                identity: link,
            },
        )
        .await
        .context("mail role")?;
        tracing::info!(url = %mail.public_url(), resource = %mail.resource_uri(), "mail started");
        Some(mail)
    } else {
        None
    };
    run_roles(identity, mail, cfg.https.limits()).await
}

/// How a mail role without identity in its process reaches identity (`[mail.identity]`).
async fn remote_identity(c: &mailward_mail::IdentityLinkConfig) -> anyhow::Result<IdentityLink> {
    if c.url.is_empty() {
        bail!("mail.identity.url: the mail role without the identity role needs identity's URL");
    }
    let ca_file = (!c.ca_file.is_empty()).then(|| PathBuf::from(&c.ca_file));
    let issuer = if c.issuer.is_empty() {
        mailward_mail::discover_issuer(&c.url, ca_file.as_deref()).await?
    } else {
        c.issuer.clone()
    };
    let relay = if c.relay_client_id.is_empty() {
        tracing::warn!(
            "mail.identity.relay_client_id is not set: basic authentication that a policy allows cannot be verified"
        );
        None
    } else {
        let secret = std::fs::read_to_string(&c.relay_client_secret_file).with_context(|| {
            format!(
                "mail.identity.relay_client_secret_file: reading {}",
                c.relay_client_secret_file
            )
        })?;
        Some((
            c.relay_client_id.clone(),
            Secret::new(secret.trim().to_string()),
        ))
    };
    Ok(IdentityLink {
        url: c.url.trim_end_matches('/').to_string(),
        issuer,
        ca_file,
        relay,
    })
}

/// Resolves on Ctrl-C or (Unix) SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs the started roles until a shutdown signal, then stops them all.
async fn run_roles(
    identity: Option<(Ctx, TcpListener, Arc<rustls::ServerConfig>)>,
    mail: Option<mailward_mail::Mail>,
    https: mailward_net::HttpLimits,
) -> anyhow::Result<()> {
    let (stop, stopped) = watch::channel(false);
    let wait = move || {
        let mut rx = stopped.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    if let Some((ctx, listener, tls)) = identity {
        let w = wait();
        let https = https.clone();
        tasks.spawn(async move { run_identity(ctx, listener, tls, https, w).await });
    }
    if let Some(mut mail) = mail {
        mail.set_https_limits(https);
        let w = wait();
        tasks.spawn(async move { mail.run(w).await.map_err(anyhow::Error::from) });
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop.send(true);
    let mut result = Ok(());
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Err(e)) => result = Err(e),
            Err(e) => result = Err(anyhow::anyhow!("a role task failed: {e}")),
            Ok(Ok(())) => {}
        }
    }
    result
}

/// What `up` and `serve` keep of the mail role's relay application (mode 0600).
#[derive(Serialize, Deserialize)]
struct RelayClient {
    client_id: String,
    client_secret: String,
}

/// The confidential application the mail role uses for relayed basic authentication
/// (`LegacyAuth.Relay`), registered in identity on first start and kept in
/// `<mail dir>/relay-client.json`; registered again if identity no longer has it.
async fn ensure_relay_client(ctx: &Ctx, dir: &Path) -> anyhow::Result<(String, Secret<String>)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    restrict_dir(dir);
    let path = dir.join("relay-client.json");
    let directory = mailward_identity::directory_for(ctx);
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(saved) = serde_json::from_str::<RelayClient>(&text)
    {
        match directory.find_app(&saved.client_id).await {
            Ok(app)
                if app
                    .app_roles
                    .iter()
                    .any(|r| r == well_known::LEGACY_RELAY_ROLE) =>
            {
                return Ok((saved.client_id, Secret::new(saved.client_secret)));
            }
            _ => {
                tracing::warn!(client_id = %saved.client_id, "the mail relay application is gone or lost its role; registering a new one")
            }
        }
    }
    let created = directory
        .add_app(
            mailward_identity::directory::NewApp {
                display_name: "mailward mail (relayed basic authentication)".into(),
                kind: "confidential".into(),
                redirect_uris: vec![],
                grants: Some(vec!["client_credentials".into()]),
                app_roles: vec![well_known::LEGACY_RELAY_ROLE.into()],
                post_logout_redirect_uris: vec![],
            },
            mailward_types::clock::now(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("registering the mail relay application: {e}"))?;
    let secret = created
        .client_secret
        .context("a confidential application gets a secret")?;
    let saved = RelayClient {
        client_id: created.application.app_id.clone(),
        client_secret: secret.clone(),
    };
    write_private(&path, &serde_json::to_vec_pretty(&saved)?)?;
    Ok((created.application.app_id, Secret::new(secret)))
}

/// Writes a file readable by the owner only (created with mode 0600, never wider).
fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

async fn run_identity(
    ctx: Ctx,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    https: mailward_net::HttpLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let maint = ctx.clone();
    let maintenance = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(e) = mailward_identity::maintain(&maint, mailward_types::clock::now()).await
            {
                tracing::error!(error = %e, "maintenance failed");
            }
        }
    });
    let log = ctx.clone();
    let router = mailward_identity::router(ctx);
    let served = mailward_net::serve_https_with(listener, tls, router, https, shutdown).await;
    maintenance.abort();
    // The sign-in log writer waits briefly to fill a batch: write what it holds before the
    // process ends.
    log.log().flush().await;
    served?;
    Ok(())
}

/// A 20-character password from an unambiguous alphabet (~115 bits).
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
