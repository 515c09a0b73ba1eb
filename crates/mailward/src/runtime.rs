//! Starting roles: `mailward up` (everything on localhost, embedded defaults) and
//! `mailward serve` (from a configuration file). Also opens identity's state for local
//! administration.

use crate::cli::{Cli, ServeArgs, UpArgs};
use crate::config::Config;
use anyhow::{Context, bail};
use mailward_identity::Ctx;
use mailward_store::{DynStore, PgStore, SqliteStore};
use mailward_tokens::seal::Sealer;
use mailward_types::model::Role;
use mailward_types::model::UserSource;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The effective configuration: `--config`, else `<data>/mailward.toml`, else defaults
/// with `data_dir` = `--data`.
pub fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let path = match &cli.config {
        Some(p) => Some(p.clone()),
        None => Some(cli.data.join("mailward.toml")).filter(|p| p.exists()),
    };
    match path {
        Some(p) => Config::load(&p).map_err(|errs| {
            anyhow::anyhow!(
                "{} has {} problem(s):\n  {}",
                p.display(),
                errs.len(),
                errs.join("\n  ")
            )
        }),
        None => Ok(Config {
            data_dir: cli.data.clone(),
            ..Config::default()
        }),
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
    let mut cfg = load_config(cli)?;
    init_tracing(&cfg);
    let first_run = !cfg.data_dir.join("identity.db").exists();
    let listener = TcpListener::bind(args.identity_listen)
        .await
        .with_context(|| {
            format!(
                "identity cannot listen on {} (is another mailward running?)",
                args.identity_listen
            )
        })?;
    let port = listener.local_addr()?.port();
    cfg.identity.listen = listener.local_addr()?;
    if cli.config.is_none() {
        cfg.identity.public_url = format!("https://{}:{port}", args.host);
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let now = mailward_types::clock::now();
    let ca = mailward_net::ca::ensure(&cfg.data_dir, std::slice::from_ref(&args.host), now)
        .context("local certificate authority")?;
    let ctx = open_identity(&cfg, Some(&args.domain)).await?;
    let admin = bootstrap_admin(&ctx, &args.domain).await?;
    let seeded = if args.demo {
        let t = crate::admin::Transport::Local(mailward_identity::router(ctx.clone()));
        crate::demo::seed(&t).await?
    } else {
        vec![]
    };
    let tls = mailward_net::server_config(&ca.server_cert, &ca.server_key)?;

    let base = cfg.identity.public_url.clone();
    let issuer = ctx.issuer().to_string();
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
    println!("    discovery   {issuer}/.well-known/openid-configuration");
    println!("  data          {}", cfg.data_dir.display());
    println!("  CA            {}", ca.ca_cert.display());
    println!(
        "                (trust it: curl --cacert, REQUESTS_CA_BUNDLE=..., or your OS trust store)"
    );
    println!();
    match admin {
        Some((upn, password)) => {
            println!("  bootstrap admin  {upn}");
            println!("  password         {password}");
            println!("                   (shown once; you will set up MFA at first sign-in)");
        }
        None => println!(
            "  bootstrap admin  created on first run (reset with `mailward user set ADMIN --generate-password`)"
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
        "Administer with `mailward user|group|app|domain|ca|signins --help`. Stop with Ctrl-C."
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();

    run_identity(ctx, listener, tls).await
}

pub async fn serve(cli: &Cli, args: &ServeArgs) -> anyhow::Result<()> {
    let cfg = load_config(cli)?;
    init_tracing(&cfg);
    for r in &args.role {
        if r != "identity" {
            bail!("role '{r}' is not available in this version (available: identity)");
        }
    }
    let (cert, key) = if cfg.tls.cert.is_empty() {
        let ca = mailward_net::ca::ensure(&cfg.data_dir, &[], mailward_types::clock::now())?;
        (ca.server_cert, ca.server_key)
    } else {
        (cfg.tls.cert.clone().into(), cfg.tls.key.clone().into())
    };
    let tls = mailward_net::server_config(&cert, &key)?;
    let listener = TcpListener::bind(cfg.identity.listen)
        .await
        .with_context(|| format!("identity cannot listen on {}", cfg.identity.listen))?;
    let ctx = open_identity(&cfg, None).await?;
    tracing::info!(issuer = %ctx.issuer(), listen = %cfg.identity.listen, "identity started");
    run_identity(ctx, listener, tls).await
}

async fn run_identity(
    ctx: Ctx,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
) -> anyhow::Result<()> {
    let maint = ctx.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(e) = mailward_identity::maintain(&maint, mailward_types::clock::now()).await
            {
                tracing::error!(error = %e, "maintenance failed");
            }
        }
    });
    let router = mailward_identity::router(ctx);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    };
    mailward_net::serve_https(listener, tls, router, shutdown).await?;
    Ok(())
}

/// Creates the first admin on the first run; returns its UPN and generated password.
async fn bootstrap_admin(ctx: &Ctx, domain: &str) -> anyhow::Result<Option<(String, String)>> {
    if ctx.store().get_setting("bootstrap_admin").await?.is_some() {
        return Ok(None);
    }
    let upn = format!("admin@{domain}");
    let password = generate_password();
    let dir = mailward_identity::directory_for(ctx);
    let now = mailward_types::clock::now();
    let user = dir
        .add_user(
            mailward_identity::directory::NewUser {
                user_principal_name: upn.clone(),
                display_name: Some("Administrator".into()),
                mail: None,
                password: Some(password.clone().into()),
                roles: vec![Role::GlobalAdministrator.as_str().to_string()],
                account_enabled: Some(true),
                on_premises_immutable_id: None,
            },
            UserSource::Cloud,
            now,
        )
        .await
        .map_err(|e| anyhow::anyhow!("creating the bootstrap admin: {e}"))?;
    ctx.store()
        .put_setting("bootstrap_admin", &user.id.to_string())
        .await?;
    Ok(Some((upn, password)))
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
