//! The raw Argon2id hash rate (RFC 9106) for given parameters: what a password sign-in
//! cannot beat, since each one verifies one hash. Each hash allocates its own memory, as a
//! server verifying a stored hash does.

use crate::stats::Report;
use crate::{Args, Mode};
use anyhow::{Context, Result, anyhow};
use argon2::{Algorithm, Argon2, Params, Version};
use std::time::{Duration, Instant};

/// Hashes on `--concurrency` threads for `--warmup` plus `--duration` seconds.
pub fn run(args: &Args) -> Result<Report> {
    let params = Params::new(args.memory_kib, args.iterations, args.parallelism, Some(32))
        .map_err(|e| anyhow!("argon2 parameters: {e}"))?;
    let threads = args.concurrency.max(1);
    let cpu_before = crate::load::cpu_seconds(std::process::id());
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let params = params.clone();
            std::thread::spawn(move || worker(params, i, measure_from, end))
        })
        .collect();
    let mut samples = Vec::new();
    let mut last = measure_from;
    let mut total = 0;
    for h in handles {
        let (s, l, n) = h
            .join()
            .map_err(|_| anyhow!("hash thread panicked"))?
            .context("argon2")?;
        samples.extend(s);
        last = last.max(l);
        total += n;
    }
    let cpu = crate::load::cpu_seconds(std::process::id())
        .zip(cpu_before)
        .map(|(a, b)| a - b);
    let label = format!(
        "{}{}m={} KiB t={} p={}",
        args.label,
        if args.label.is_empty() { "" } else { " " },
        args.memory_kib,
        args.iterations,
        args.parallelism
    );
    let mut report = Report::new(
        &label,
        Mode::Argon2.name(),
        threads,
        samples,
        last - measure_from,
        0,
        vec![],
    );
    // CPU time covers the warm-up too, so the per-CPU rate counts every hash.
    if let Some(c) = cpu.filter(|c| *c > 0.0) {
        report.server_cpu_s = Some(c);
        report.per_server_cpu_s = Some(total as f64 / c);
    }
    Ok(report)
}

fn worker(
    params: Params,
    id: usize,
    measure_from: Instant,
    end: Instant,
) -> Result<(Vec<Duration>, Instant, usize)> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = [0x5a_u8; 16];
    let password = format!("a long benchmark password {id}");
    let mut out = [0u8; 32];
    let mut samples = Vec::new();
    let mut last = measure_from;
    let mut total = 0;
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        argon
            .hash_password_into(password.as_bytes(), &salt, &mut out)
            .map_err(|e| anyhow!("{e}"))?;
        let t1 = Instant::now();
        total += 1;
        if t0 >= measure_from {
            samples.push(t1 - t0);
            last = t1;
        }
    }
    Ok((samples, last, total))
}

/// The Argon2id PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`) of `--password`
/// at the configured parameters, with a fixed salt: a benchmark fixture, not a credential
/// store.
pub fn phc(args: &Args) -> Result<String> {
    use base64::Engine as _;
    let params = Params::new(args.memory_kib, args.iterations, args.parallelism, Some(32))
        .map_err(|e| anyhow!("argon2 parameters: {e}"))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = *b"mailward-bench-1";
    let mut out = [0u8; 32];
    argon
        .hash_password_into(args.password.as_bytes(), &salt, &mut out)
        .map_err(|e| anyhow!("{e}"))?;
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        args.memory_kib,
        args.iterations,
        args.parallelism,
        b64.encode(salt),
        b64.encode(out)
    ))
}
