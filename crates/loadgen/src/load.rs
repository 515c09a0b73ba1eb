//! The token-endpoint load: request bodies built once per worker, closed-loop workers on one
//! current-thread runtime, and the setup step that hands each refresh worker its own chain.

use crate::stats::Report;
use crate::{Args, AuthMethod, Mode, Seed};
use anyhow::{Context, Result, bail};
use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How many failures are kept verbatim.
const ERROR_SAMPLES: usize = 5;

/// The fields of a token response (RFC 6749 §5.1) the loop looks at.
#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    refresh_token: Option<String>,
}

/// The endpoint and the client's credentials, shared by all workers.
#[derive(Debug)]
struct Target {
    http: reqwest::Client,
    /// The token endpoint of each node, used round-robin.
    urls: Vec<String>,
    next: std::cell::Cell<usize>,
    /// `Authorization: Basic ...` for `client_secret_basic`.
    basic: Option<HeaderValue>,
    /// `client_id=...&client_secret=...&` for `client_secret_post`, else empty.
    post_prefix: String,
}

impl Target {
    fn new(args: &Args) -> Result<Self> {
        if args.token_url.is_empty() {
            bail!("--token-url is required");
        }
        let url = url::Url::parse(&args.token_url).context("--token-url")?;
        let mut b = reqwest::Client::builder()
            .pool_max_idle_per_host(args.concurrency.max(1) * 2)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none());
        if !args.http2 {
            b = b.http1_only();
        }
        if let Some(path) = &args.ca {
            let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            b = b.add_root_certificate(
                reqwest::Certificate::from_pem(&pem).context("CA certificate")?,
            );
        }
        // `localhost` may resolve to ::1 first; the servers listen on 127.0.0.1.
        if url.host_str() == Some("localhost") {
            let port = url.port_or_known_default().unwrap_or(443);
            b = b.resolve("localhost", SocketAddr::from(([127, 0, 0, 1], port)));
        }
        let (basic, post_prefix) = match args.auth {
            AuthMethod::Basic => {
                let pair = format!("{}:{}", form(&args.client_id), form(&args.client_secret));
                let value = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                );
                (
                    Some(HeaderValue::from_str(&value).context("client credentials")?),
                    String::new(),
                )
            }
            AuthMethod::Post => (
                None,
                format!(
                    "client_id={}&client_secret={}&",
                    form(&args.client_id),
                    form(&args.client_secret)
                ),
            ),
        };
        Ok(Target {
            http: b.build().context("HTTP client")?,
            urls: std::iter::once(&args.token_url)
                .chain(&args.also_token_url)
                .cloned()
                .collect(),
            next: std::cell::Cell::new(0),
            basic,
            post_prefix,
        })
    }

    /// Posts one form and returns the parsed answer, or a one-line reason.
    async fn post(&self, body: String) -> Result<TokenResponse, String> {
        let i = self.next.get();
        self.next.set(i.wrapping_add(1));
        let url = &self.urls[i % self.urls.len()];
        let mut req = self.http.post(url).header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        if let Some(h) = &self.basic {
            req = req.header(AUTHORIZATION, h.clone());
        }
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| format!("send: {e:#}"))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| format!("body: {e:#}"))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            return Err(format!(
                "HTTP {status}: {}",
                text.chars().take(300).collect::<String>()
            ));
        }
        let parsed: TokenResponse =
            serde_json::from_slice(&bytes).map_err(|e| format!("JSON: {e}"))?;
        if parsed.access_token.as_deref().is_none_or(str::is_empty) {
            return Err("no access_token in a 200 answer".into());
        }
        Ok(parsed)
    }
}

/// What a worker sends: a fixed body, or the next link of its refresh chain.
#[derive(Debug)]
enum Work {
    Fixed(String),
    Chain(String),
}

#[derive(Debug, Default)]
struct Tally {
    samples: Vec<Duration>,
    errors: usize,
    error_samples: Vec<String>,
    last: Option<Instant>,
}

impl Tally {
    fn error(&mut self, e: String) {
        self.errors += 1;
        if self.error_samples.len() < ERROR_SAMPLES {
            self.error_samples.push(e);
        }
    }
}

/// Runs the load described by `args` and summarises it.
pub async fn run(args: &Args) -> Result<Report> {
    let target = Rc::new(Target::new(args)?);
    let n = args.concurrency.max(1);
    let work: Vec<Work> = match args.mode {
        Mode::ClientCredentials => {
            let body = format!(
                "{}grant_type=client_credentials{}",
                target.post_prefix,
                extra(args)
            );
            (0..n).map(|_| Work::Fixed(body.clone())).collect()
        }
        Mode::Password => {
            let body = password_body(&target, args, args.scope.as_deref());
            (0..n).map(|_| Work::Fixed(body.clone())).collect()
        }
        Mode::Refresh => seed(&target, args, n)
            .await?
            .into_iter()
            .map(Work::Chain)
            .collect(),
        other => bail!("{} is not a token-endpoint mode", other.name()),
    };

    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let tally = Rc::new(RefCell::new(Tally::default()));
    let local = tokio::task::LocalSet::new();
    let pids: Vec<u32> = args
        .server_pid
        .into_iter()
        .chain(args.also_server_pid.iter().copied())
        .collect();
    let cpu = (!pids.is_empty()).then(|| {
        local.spawn_local(async move {
            let total =
                |pids: &[u32]| -> Option<f64> { pids.iter().map(|&p| cpu_seconds(p)).sum() };
            tokio::time::sleep_until(measure_from.into()).await;
            let before = total(&pids);
            tokio::time::sleep_until(end.into()).await;
            Some(total(&pids)? - before?)
        })
    });
    for w in work {
        let target = target.clone();
        let tally = tally.clone();
        local.spawn_local(async move { worker(&target, w, measure_from, end, &tally).await });
    }
    local.await;
    let server_cpu = match cpu {
        Some(h) => h.await.ok().flatten(),
        None => None,
    };
    let t = tally.take();
    let elapsed = t
        .last
        .map(|l| l.saturating_duration_since(measure_from))
        .unwrap_or_default();
    Ok(Report::new(
        &args.label,
        args.mode.name(),
        n,
        t.samples,
        elapsed,
        t.errors,
        t.error_samples,
    )
    .with_server_cpu(server_cpu))
}

async fn worker(
    target: &Target,
    mut work: Work,
    measure_from: Instant,
    end: Instant,
    tally: &RefCell<Tally>,
) {
    let prefix = format!(
        "{}grant_type=refresh_token&refresh_token=",
        target.post_prefix
    );
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            return;
        }
        let body = match &work {
            Work::Fixed(b) => b.clone(),
            Work::Chain(token) => format!("{prefix}{}", form(token)),
        };
        let result = target.post(body).await;
        let t1 = Instant::now();
        let result = match (result, &mut work) {
            (Ok(resp), Work::Chain(token)) => match resp.refresh_token {
                // Each token is used once: the next request carries the rotated one.
                Some(next) if next != *token => {
                    *token = next;
                    Ok(())
                }
                Some(_) => Err("refresh token was not rotated".to_string()),
                None => Err("no refresh_token in a refresh answer".to_string()),
            },
            (Ok(_), Work::Fixed(_)) => Ok(()),
            (Err(e), _) => Err(e),
        };
        let mut t = tally.borrow_mut();
        match result {
            Ok(()) if t0 >= measure_from => {
                t.samples.push(t1 - t0);
                t.last = Some(t.last.map_or(t1, |l| l.max(t1)));
            }
            Ok(()) => {}
            Err(e) => {
                t.error(e);
                // A broken chain cannot continue: its token is spent or its family revoked.
                if matches!(work, Work::Chain(_)) {
                    return;
                }
            }
        }
    }
}

/// `mint-tokens`: `--count` access tokens from `--concurrency` refresh-token chains
/// (seeded like the refresh mode), written to `--out` one per line. Every refresh answer
/// carries a new access token, so this is far cheaper than one password grant per token.
pub async fn mint(args: &Args) -> Result<Report> {
    let out = args.out.as_ref().context("mint-tokens needs --out")?;
    let want = args.count.max(1);
    let target = Rc::new(Target::new(args)?);
    let n = args.concurrency.clamp(1, want);
    let chains = seed(&target, args, n).await?;
    let minted = Rc::new(RefCell::new(Vec::<String>::with_capacity(want)));
    let tally = Rc::new(RefCell::new(Tally::default()));
    let start = Instant::now();
    let local = tokio::task::LocalSet::new();
    for chain in chains {
        let (target, minted, tally) = (target.clone(), minted.clone(), tally.clone());
        local.spawn_local(async move {
            let mut token = chain;
            while minted.borrow().len() < want {
                let body = format!(
                    "{}grant_type=refresh_token&refresh_token={}",
                    target.post_prefix,
                    form(&token)
                );
                let t0 = Instant::now();
                match target.post(body).await {
                    Ok(TokenResponse {
                        access_token: Some(access),
                        refresh_token: Some(next),
                    }) => {
                        token = next;
                        let mut t = tally.borrow_mut();
                        t.samples.push(t0.elapsed());
                        t.last = Some(Instant::now());
                        minted.borrow_mut().push(access);
                    }
                    Ok(_) => {
                        tally
                            .borrow_mut()
                            .error("refresh answer without tokens".into());
                        return;
                    }
                    Err(e) => {
                        tally.borrow_mut().error(e);
                        return;
                    }
                }
            }
        });
    }
    local.await;
    let mut tokens = minted.take();
    tokens.truncate(want);
    let t = tally.take();
    if tokens.len() < want {
        bail!(
            "minted {} of {want} tokens; first errors: {:?}",
            tokens.len(),
            t.error_samples
        );
    }
    let mut text = tokens.join("\n");
    text.push('\n');
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    let elapsed = t.last.map(|l| l - start).unwrap_or_default();
    Ok(Report::new(
        &args.label,
        args.mode.name(),
        n,
        t.samples,
        elapsed,
        t.errors,
        t.error_samples,
    ))
}

/// User plus system CPU seconds of process `pid` so far, from `/proc/PID/stat` (fields 14
/// and 15, in clock ticks; 100 per second on Linux).
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields are counted after its closing paren.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// One refresh token per worker, from the configured setup step.
async fn seed(target: &Target, args: &Args, n: usize) -> Result<Vec<String>> {
    let tokens = match args.seed {
        Seed::Password => {
            let body = password_body(
                target,
                args,
                args.seed_scope.as_deref().or(args.scope.as_deref()),
            );
            let mut tokens = Vec::with_capacity(n);
            for _ in 0..n {
                let resp = target
                    .post(body.clone())
                    .await
                    .map_err(|e| anyhow::anyhow!("seeding with the password grant: {e}"))?;
                tokens.push(resp.refresh_token.context("the password grant returned no refresh_token (is offline_access in --seed-scope, and MFA not required?)")?);
            }
            tokens
        }
        Seed::Url => {
            #[derive(Deserialize)]
            struct Seeded {
                refresh_tokens: Vec<String>,
            }
            let url = args
                .seed_url
                .as_deref()
                .context("--seed url needs --seed-url")?;
            let sep = if url.contains('?') { '&' } else { '?' };
            let resp = target
                .http
                .get(format!("{url}{sep}n={n}"))
                .send()
                .await
                .context("seed request")?
                .error_for_status()
                .context("seed request")?;
            resp.json::<Seeded>()
                .await
                .context("seed answer")?
                .refresh_tokens
        }
    };
    if tokens.len() < n {
        bail!(
            "seeding produced {} refresh tokens for {n} workers",
            tokens.len()
        );
    }
    Ok(tokens)
}

fn password_body(target: &Target, args: &Args, scope: Option<&str>) -> String {
    let mut body = format!(
        "{}grant_type=password&username={}&password={}",
        target.post_prefix,
        form(&args.username),
        form(&args.password)
    );
    if let Some(s) = scope {
        body.push_str(&format!("&scope={}", form(s)));
    }
    if let Some(r) = &args.resource {
        body.push_str(&format!("&resource={}", form(r)));
    }
    body
}

/// `&scope=...&resource=...` for the client credentials grant.
fn extra(args: &Args) -> String {
    let mut s = String::new();
    if let Some(scope) = &args.scope {
        s.push_str(&format!("&scope={}", form(scope)));
    }
    if let Some(r) = &args.resource {
        s.push_str(&format!("&resource={}", form(r)));
    }
    s
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::form;

    #[test]
    fn form_encodes_reserved_characters() {
        assert_eq!(form("a b&c=d/e:f"), "a+b%26c%3Dd%2Fe%3Af");
        assert_eq!(
            form("https://localhost:8446/.default"),
            "https%3A%2F%2Flocalhost%3A8446%2F.default"
        );
    }
}
