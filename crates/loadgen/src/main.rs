//! `mailward-loadgen`: a closed-loop load generator for OAuth 2.0 token endpoints, IMAP
//! servers (RFC 3501) and a raw Argon2id hash-rate probe.
//!
//! Closed loop: `--concurrency` workers each send one request, wait for the answer, and send
//! the next, for `--warmup` plus `--duration` seconds; only requests started after the warm-up
//! are timed. Modes:
//!
//! - `refresh`: each worker holds a refresh-token chain and redeems every token exactly once,
//!   sending the rotated token from each answer with the next request (RFC 9700 §4.14.2).
//!   The chains come from a setup step: `--seed password` (one password grant per worker with
//!   `--seed-scope`) or `--seed-url` (a JSON `{"refresh_tokens": [...]}` endpoint).
//! - `client-credentials`: the client credentials grant (RFC 6749 §4.4).
//! - `password`: the resource owner password credentials grant (RFC 6749 §4.3), which makes
//!   the server verify an Argon2id hash on every request.
//! - `argon2`: no network; hashes with Argon2id (RFC 9106) at the given parameters on
//!   `--concurrency` threads, to give the raw hash rate the password mode is compared with.
//! - `mint-tokens`: setup for the IMAP modes; `--count` access tokens written to `--out`,
//!   one per line, from refresh-token chains seeded like the refresh mode's.
//! - `resign-tokens`: copies of `--tokens` with the JWT header `typ: JWT`, signed by a
//!   key made for the run (for servers that refuse RFC 9068's `at+jwt`; see `resign`).
//! - `hash-password`: prints the Argon2id PHC string of `--password` at the given
//!   parameters (to give another server the same password hash cost).
//! - `imap-login`, `imap-fetch`, `imap-append`, `imap-idle`: IMAP (RFC 3501) against
//!   `--imap-addr`; see the `imap` module.
//!
//! The result is printed as one JSON object on stdout and one human line on stderr.

mod hash;
mod imap;
mod load;
mod procs;
mod resign;
mod stats;

use anyhow::Result;
use clap::{Parser, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// What to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Refresh,
    ClientCredentials,
    Password,
    Argon2,
    MintTokens,
    ResignTokens,
    HashPassword,
    ImapLogin,
    ImapFetch,
    ImapAppend,
    ImapIdle,
}

impl Mode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Refresh => "refresh",
            Mode::ClientCredentials => "client-credentials",
            Mode::Password => "password",
            Mode::Argon2 => "argon2",
            Mode::MintTokens => "mint-tokens",
            Mode::ResignTokens => "resign-tokens",
            Mode::HashPassword => "hash-password",
            Mode::ImapLogin => "imap-login",
            Mode::ImapFetch => "imap-fetch",
            Mode::ImapAppend => "imap-append",
            Mode::ImapIdle => "imap-idle",
        }
    }
}

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMethod {
    /// HTTP Basic with the form-encoded client id and secret (`client_secret_basic`).
    Basic,
    /// `client_id` and `client_secret` in the request body (`client_secret_post`).
    Post,
}

/// Where refresh-token chains come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Seed {
    /// One password grant per worker with `--username`, `--password` and `--seed-scope`.
    Password,
    /// `GET --seed-url?n=N`, answering `{"refresh_tokens": [...]}`.
    Url,
}

#[derive(Debug, Parser)]
#[command(
    name = "mailward-loadgen",
    version,
    about = "Closed-loop load generator for OAuth 2.0 token endpoints and IMAP servers"
)]
pub struct Args {
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// A name for this run, copied into the JSON (e.g. "mailward").
    #[arg(long, default_value = "")]
    pub label: String,
    /// The token endpoint, e.g. https://localhost:8443/oauth2/v2.0/token.
    #[arg(long, default_value = "")]
    pub token_url: String,
    /// Further nodes of the same server (repeatable): requests go round-robin over
    /// `--token-url` and these, so consecutive links of one refresh chain land on
    /// different nodes, as behind a load balancer without affinity.
    #[arg(long)]
    pub also_token_url: Vec<String>,
    /// A PEM file of extra trusted roots (the server's CA).
    #[arg(long)]
    pub ca: Option<PathBuf>,
    #[arg(long, default_value = "")]
    pub client_id: String,
    #[arg(
        long,
        default_value = "",
        env = "LOADGEN_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub client_secret: String,
    #[arg(long, value_enum, default_value = "basic")]
    pub auth: AuthMethod,
    /// `scope` for client-credentials and password requests.
    #[arg(long)]
    pub scope: Option<String>,
    /// `resource` (RFC 8707) for client-credentials and password requests.
    #[arg(long)]
    pub resource: Option<String>,
    /// Concurrent workers (threads in argon2 mode).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds run before measuring (connections open, caches warm).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// User for the password mode and the password seed.
    #[arg(long, default_value = "")]
    pub username: String,
    #[arg(
        long,
        default_value = "",
        env = "LOADGEN_PASSWORD",
        hide_env_values = true
    )]
    pub password: String,
    /// Where refresh-token chains come from (refresh mode).
    #[arg(long, value_enum, default_value = "password")]
    pub seed: Seed,
    /// `scope` of the password grant that seeds refresh chains.
    #[arg(long)]
    pub seed_scope: Option<String>,
    /// The seeding endpoint for `--seed url`.
    #[arg(long)]
    pub seed_url: Option<String>,
    /// The server's process id: its CPU time over the measured window is reported, so
    /// results stay comparable when other work shares the server's core (Linux only).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Further server processes (repeatable; the other nodes): their CPU time is added to
    /// `--server-pid`'s.
    #[arg(long)]
    pub also_server_pid: Vec<u32>,
    /// Use HTTP/2 where the server offers it (default: HTTP/1.1, one connection per worker).
    #[arg(long)]
    pub http2: bool,
    /// Argon2 memory in KiB (argon2 mode).
    #[arg(long, default_value_t = 19456)]
    pub memory_kib: u32,
    /// Argon2 iterations (argon2 mode).
    #[arg(long, default_value_t = 2)]
    pub iterations: u32,
    /// Argon2 lanes (argon2 mode).
    #[arg(long, default_value_t = 1)]
    pub parallelism: u32,
    /// The IMAP server (imap-* modes).
    #[arg(long, default_value = "127.0.0.1:1993")]
    pub imap_addr: SocketAddr,
    /// How IMAP connections are secured.
    #[arg(long, value_enum, default_value = "implicit")]
    pub tls: imap::TlsMode,
    /// The TLS server name (SNI) and the name the certificate must carry.
    #[arg(long, default_value = "localhost")]
    pub sni: String,
    /// Let TLS resume sessions (default: a full handshake on every connection).
    #[arg(long)]
    pub tls_resumption: bool,
    /// SASL mechanism for IMAP `AUTHENTICATE`.
    #[arg(long, value_enum, default_value = "xoauth2")]
    pub mech: imap::Mech,
    /// Access tokens, one per line (imap-* modes with a bearer mechanism; mint-tokens
    /// writes it with --out).
    #[arg(long)]
    pub tokens: Option<PathBuf>,
    /// imap-login: authenticate every connection with the same (first) token instead of a
    /// fresh one per login.
    #[arg(long)]
    pub reuse_token: bool,
    /// The mailbox to append to, fetch from, or idle in.
    #[arg(long, default_value = "INBOX")]
    pub mailbox: String,
    /// imap-fetch: timed full fetches after the first (cold) one; imap-append: messages;
    /// imap-idle: connections; mint-tokens: tokens.
    #[arg(long, default_value_t = 10)]
    pub count: usize,
    /// imap-append: index of the first generated message.
    #[arg(long, default_value_t = 0)]
    pub first_message: usize,
    /// imap-idle: seconds to wait with every connection idle before reading memory.
    #[arg(long, default_value_t = 15.0)]
    pub settle: f64,
    /// imap-idle: `CREATE` the mailbox first (an existing one is fine).
    #[arg(long)]
    pub create_mailbox: bool,
    /// imap-idle: only authenticate, no SELECT and no IDLE.
    #[arg(long)]
    pub no_idle: bool,
    /// Where mint-tokens and resign-tokens write their tokens.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// resign-tokens: where the public key goes, as `<azp>/ES256/<kid>` PEM files.
    #[arg(long)]
    pub key_dir: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    match args.mode {
        Mode::HashPassword => {
            println!("{}", hash::phc(&args)?);
            return Ok(());
        }
        Mode::ResignTokens => {
            let n = resign::run(&args)?;
            eprintln!("re-signed {n} tokens");
            return Ok(());
        }
        _ => {}
    }
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let report = match args.mode {
        Mode::Argon2 => hash::run(&args)?,
        Mode::MintTokens => runtime()?.block_on(load::mint(&args))?,
        Mode::ImapLogin | Mode::ImapFetch | Mode::ImapAppend | Mode::ImapIdle => {
            runtime()?.block_on(imap::run(&args))?
        }
        _ => runtime()?.block_on(load::run(&args))?,
    };
    eprintln!("{}", report.human());
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
