//! IMAP load (RFC 3501) for comparing mail servers on the same workload:
//!
//! - `imap-login`: closed loop; each operation is a new connection, the TLS handshake, the
//!   greeting, `AUTHENTICATE` with an initial response (RFC 4959) and `LOGOUT`. With a
//!   bearer mechanism every login takes the next unused token from `--tokens`, or the first
//!   one every time with `--reuse-token` (what a server's token cache sees).
//! - `imap-append`: `--count` generated messages appended over `--concurrency`
//!   authenticated connections, each `APPEND` with a non-synchronizing literal (RFC 7888);
//!   the messages are the same bytes on every run (`message`).
//! - `imap-fetch`: one connection, `SELECT`, then `FETCH 1:* (FLAGS ENVELOPE)` once on its
//!   own (reported as `cold_ms`, outside the percentiles) and `--count` times more; every
//!   fetch must return one `FETCH` response per message.
//! - `imap-idle`: `--count` connections authenticated (`--concurrency` set up at a time),
//!   each `SELECT`ing `--mailbox` and entering `IDLE` (RFC 2177); after `--settle` seconds
//!   the server's memory is read: PSS summed over the process tree of `--server-pid`.
//!
//! `--server-pid` also gives the server's CPU time over the measured window, summed over
//! its process tree, so multi-process servers are measured whole.

mod conn;
mod message;

pub use conn::TlsMode;

use crate::stats::Report;
use crate::{Args, Mode, procs};
use anyhow::{Context, Result, bail};
use conn::{Conn, Credentials, Endpoint, Status};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How many failures are kept verbatim.
const ERROR_SAMPLES: usize = 5;

/// SASL mechanism used for `AUTHENTICATE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mech {
    Xoauth2,
    Oauthbearer,
    Plain,
}

/// Where each login's credentials come from.
#[derive(Debug)]
struct Auth {
    mech: Mech,
    user: String,
    password: String,
    tokens: Vec<String>,
    reuse: bool,
    next: Cell<usize>,
}

impl Auth {
    fn new(args: &Args) -> Result<Self> {
        if args.username.is_empty() {
            bail!("--username is required for IMAP");
        }
        let tokens = match (args.mech, &args.tokens) {
            (Mech::Plain, _) => vec![],
            (_, Some(path)) => std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect(),
            (_, None) => bail!("a bearer mechanism needs --tokens"),
        };
        if args.mech != Mech::Plain && tokens.is_empty() {
            bail!("no tokens in --tokens");
        }
        Ok(Auth {
            mech: args.mech,
            user: args.username.clone(),
            password: args.password.clone(),
            tokens,
            reuse: args.reuse_token,
            next: Cell::new(0),
        })
    }

    /// The token for the next login: a fresh one unless reusing; `None` when used up.
    fn token(&self, fresh: bool) -> Option<&str> {
        if !fresh || self.reuse {
            return self.tokens.first().map(String::as_str);
        }
        let i = self.next.get();
        self.next.set(i + 1);
        self.tokens.get(i).map(String::as_str)
    }

    /// Credentials for one login; `fresh` asks for an unused token.
    fn credentials(&self, fresh: bool) -> Option<Credentials<'_>> {
        Some(match self.mech {
            Mech::Plain => Credentials::Plain {
                user: &self.user,
                password: &self.password,
            },
            Mech::Xoauth2 => Credentials::XOAuth2 {
                user: &self.user,
                token: self.token(fresh)?,
            },
            Mech::Oauthbearer => Credentials::OAuthBearer {
                user: &self.user,
                token: self.token(fresh)?,
            },
        })
    }
}

#[derive(Debug, Default)]
struct Tally {
    samples: Vec<Duration>,
    errors: usize,
    error_samples: Vec<String>,
    last: Option<Instant>,
}

impl Tally {
    fn error(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        if self.error_samples.len() < ERROR_SAMPLES {
            self.error_samples.push(format!("{e:#}"));
        }
    }

    fn sample(&mut self, d: Duration, at: Instant) {
        self.samples.push(d);
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
    }
}

/// Runs the IMAP mode of `args`.
pub async fn run(args: &Args) -> Result<Report> {
    let ep = Endpoint::new(
        args.imap_addr,
        args.tls,
        &args.sni,
        args.ca.as_deref(),
        args.tls_resumption,
    )?;
    let auth = Rc::new(Auth::new(args)?);
    let local = tokio::task::LocalSet::new();
    match args.mode {
        Mode::ImapLogin => local.run_until(login(args, ep, auth)).await,
        Mode::ImapAppend => local.run_until(append(args, ep, auth)).await,
        Mode::ImapFetch => fetch(args, &ep, &auth).await,
        Mode::ImapIdle => local.run_until(idle(args, ep, auth)).await,
        other => bail!("{} is not an IMAP mode", other.name()),
    }
}

/// Opens a connection and authenticates it.
async fn open_authenticated(ep: &Endpoint, creds: &Credentials<'_>) -> Result<Conn> {
    let mut c = Conn::open(ep).await?;
    match c.authenticate(creds).await? {
        Status::Ok => Ok(c),
        s => bail!("AUTHENTICATE {s:?}: {}", c.line_text()),
    }
}

fn report(args: &Args, n: usize, t: Tally, elapsed: Duration) -> Report {
    Report::new(
        &args.label,
        args.mode.name(),
        n,
        t.samples,
        elapsed,
        t.errors,
        t.error_samples,
    )
}

/// Server CPU seconds between two readings, if both exist.
fn cpu_delta(before: Option<f64>, pid: Option<u32>) -> Option<f64> {
    Some(procs::cpu_seconds(pid?)? - before?)
}

async fn login(args: &Args, ep: Endpoint, auth: Rc<Auth>) -> Result<Report> {
    let n = args.concurrency.max(1);
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let tally = Rc::new(RefCell::new(Tally::default()));
    let exhausted = Rc::new(Cell::new(false));
    let pid = args.server_pid;
    let cpu = tokio::task::spawn_local(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let before = pid.and_then(procs::cpu_seconds);
        tokio::time::sleep_until(end.into()).await;
        cpu_delta(before, pid)
    });
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (ep, auth, tally, exhausted) =
            (ep.clone(), auth.clone(), tally.clone(), exhausted.clone());
        workers.spawn_local(async move {
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    return;
                }
                let Some(creds) = auth.credentials(true) else {
                    exhausted.set(true);
                    return;
                };
                let result = async {
                    let c = open_authenticated(&ep, &creds).await?;
                    c.logout().await
                }
                .await;
                let t1 = Instant::now();
                let mut t = tally.borrow_mut();
                match result {
                    Ok(()) if t0 >= measure_from => t.sample(t1 - t0, t1),
                    Ok(()) => {}
                    Err(e) => t.error(e),
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let server_cpu = cpu.await.ok().flatten();
    let t = tally.take();
    let elapsed = t
        .last
        .map(|l| l.saturating_duration_since(measure_from))
        .unwrap_or_default();
    let mech = match auth.mech {
        Mech::Xoauth2 => "xoauth2",
        Mech::Oauthbearer => "oauthbearer",
        Mech::Plain => "plain",
    };
    let mut r = report(args, n, t, elapsed)
        .with_server_cpu(server_cpu)
        .with("mech", mech);
    if auth.mech != Mech::Plain {
        r = r
            .with("token", if auth.reuse { "reused" } else { "fresh" })
            .with("tokens_used", auth.next.get().min(auth.tokens.len()));
    }
    if exhausted.get() {
        // The window ended early: the rate is still over the time actually measured.
        r = r.with("tokens_exhausted", true);
    }
    Ok(r)
}

async fn append(args: &Args, ep: Endpoint, auth: Rc<Auth>) -> Result<Report> {
    let n = args.concurrency.clamp(1, args.count.max(1));
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let creds = auth.credentials(false).context("no credentials")?;
        conns.push(open_authenticated(&ep, &creds).await?);
    }
    let next = Rc::new(Cell::new(args.first_message));
    let last = args.first_message + args.count;
    let tally = Rc::new(RefCell::new(Tally::default()));
    let to = Rc::new(args.username.clone());
    let mailbox = Rc::new(args.mailbox.clone());
    let cpu_before = args.server_pid.and_then(procs::cpu_seconds);
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for mut c in conns {
        let (next, tally, to, mailbox) = (next.clone(), tally.clone(), to.clone(), mailbox.clone());
        workers.spawn_local(async move {
            loop {
                let i = next.get();
                if i >= last {
                    break;
                }
                next.set(i + 1);
                let msg = message::message(i, &to);
                let t0 = Instant::now();
                let result = c.append(&mailbox, message::flags(i), &msg).await;
                let t1 = Instant::now();
                let mut t = tally.borrow_mut();
                match result {
                    Ok(Status::Ok) => t.sample(t1 - t0, t1),
                    Ok(s) => t.error(format!("APPEND {s:?}: {}", c.line_text())),
                    Err(e) => {
                        t.error(e);
                        return;
                    }
                }
            }
            let _ = c.logout().await;
        });
    }
    while workers.join_next().await.is_some() {}
    let server_cpu = cpu_delta(cpu_before, args.server_pid);
    let t = tally.take();
    let elapsed = t
        .last
        .map(|l| l.saturating_duration_since(start))
        .unwrap_or_default();
    let bytes: usize = (args.first_message..last)
        .map(|i| message::message(i, &args.username).len())
        .sum();
    Ok(report(args, n, t, elapsed)
        .with_server_cpu(server_cpu)
        .with("messages", args.count)
        .with("message_bytes", bytes))
}

async fn fetch(args: &Args, ep: &Endpoint, auth: &Auth) -> Result<Report> {
    let creds = auth.credentials(false).context("no credentials")?;
    let mut c = open_authenticated(ep, &creds).await?;
    let exists = c.select(&args.mailbox).await?;
    if exists == 0 {
        bail!("{} is empty", args.mailbox);
    }
    let once = async |c: &mut Conn| -> Result<(Duration, usize)> {
        let mut fetched = 0u32;
        let t0 = Instant::now();
        let (status, bytes) = c
            .command("FETCH 1:* (FLAGS ENVELOPE)", |line| {
                if conn::untagged_number(line, b"FETCH").is_some() {
                    fetched += 1;
                }
            })
            .await?;
        let d = t0.elapsed();
        if status != Status::Ok {
            bail!("FETCH {status:?}: {}", c.line_text());
        }
        if fetched != exists {
            bail!("FETCH returned {fetched} messages of {exists}");
        }
        Ok((d, bytes))
    };
    let (cold, bytes) = once(&mut c).await?;
    let mut tally = Tally::default();
    let cpu_before = args.server_pid.and_then(procs::cpu_seconds);
    let start = Instant::now();
    for _ in 0..args.count.max(1) {
        match once(&mut c).await {
            Ok((d, _)) => tally.sample(d, Instant::now()),
            Err(e) => tally.error(e),
        }
    }
    let elapsed = start.elapsed();
    let server_cpu = cpu_delta(cpu_before, args.server_pid);
    c.logout().await?;
    Ok(report(args, 1, tally, elapsed)
        .with_server_cpu(server_cpu)
        .with("messages", exists)
        .with("cold_ms", cold.as_secs_f64() * 1e3)
        .with("response_bytes", bytes))
}

async fn idle(args: &Args, ep: Endpoint, auth: Rc<Auth>) -> Result<Report> {
    let want = args.count.max(1);
    let setup = args.concurrency.clamp(1, want);
    let baseline = args.server_pid.and_then(procs::pss);
    let creds_check = auth.credentials(false).context("no credentials")?;
    if args.create_mailbox && !args.no_idle {
        let mut c = open_authenticated(&ep, &creds_check).await?;
        // An existing mailbox answers NO, which is fine.
        c.command(&format!("CREATE \"{}\"", args.mailbox), |_| {})
            .await?;
        c.logout().await?;
    }
    let tally = Rc::new(RefCell::new(Tally::default()));
    let alive = Rc::new(Cell::new(0usize));
    let lost = Rc::new(Cell::new(0usize));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let permits = Rc::new(tokio::sync::Semaphore::new(setup));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let start = Instant::now();
    let mut holders = tokio::task::JoinSet::new();
    for _ in 0..want {
        let (ep, auth, tally, alive, lost, permits, ready_tx) = (
            ep.clone(),
            auth.clone(),
            tally.clone(),
            alive.clone(),
            lost.clone(),
            permits.clone(),
            ready_tx.clone(),
        );
        let mut stop = stop_rx.clone();
        let mailbox = args.mailbox.clone();
        let no_idle = args.no_idle;
        holders.spawn_local(async move {
            let permit = permits.acquire().await;
            let t0 = Instant::now();
            let opened = async {
                let creds = auth.credentials(false).context("no credentials")?;
                let mut c = open_authenticated(&ep, &creds).await?;
                if !no_idle {
                    c.select(&mailbox).await?;
                    c.idle().await?;
                }
                anyhow::Ok(c)
            }
            .await;
            drop(permit);
            let mut c = match opened {
                Ok(c) => {
                    let t1 = Instant::now();
                    tally.borrow_mut().sample(t1 - t0, t1);
                    alive.set(alive.get() + 1);
                    c
                }
                Err(e) => {
                    tally.borrow_mut().error(e);
                    let _ = ready_tx.send(());
                    return;
                }
            };
            let _ = ready_tx.send(());
            // Hold the connection; untagged updates are read and ignored, a close counts.
            loop {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    r = c.read_response() => if r.is_err() {
                        alive.set(alive.get() - 1);
                        lost.set(lost.get() + 1);
                        return;
                    }
                }
            }
        });
    }
    drop(ready_tx);
    for _ in 0..want {
        if ready_rx.recv().await.is_none() {
            break;
        }
    }
    let setup_s = start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    let pss = args.server_pid.and_then(procs::pss);
    let held = alive.get();
    let _ = stop_tx.send(true);
    while holders.join_next().await.is_some() {}
    let t = tally.take();
    let elapsed = Duration::from_secs_f64(setup_s);
    let errors_lost = lost.get();
    let mut r = report(args, setup, t, elapsed)
        .with("connections", held)
        .with("lost", errors_lost)
        .with("setup_s", setup_s);
    if let Some(p) = pss {
        let by: serde_json::Map<String, serde_json::Value> = p
            .by_command
            .iter()
            .map(|(comm, (kib, n))| {
                let v = serde_json::json!({"pss_mib": *kib as f64 / 1024.0, "processes": n});
                (comm.clone(), v)
            })
            .collect();
        r = r
            .with("server_pss_mib", p.total_kib as f64 / 1024.0)
            .with("server_processes", p.processes)
            .with("pss_by_command", by);
        if let Some(base) = baseline {
            r = r.with("baseline_pss_mib", base.total_kib as f64 / 1024.0);
            if held > 0 {
                r = r.with(
                    "kib_per_connection",
                    p.total_kib.saturating_sub(base.total_kib) as f64 / held as f64,
                );
            }
        }
    }
    Ok(r)
}
