//! Latency samples in, one [`Report`] out: throughput, percentiles, maximum and errors.

use serde::Serialize;
use std::time::Duration;

/// The outcome of one run, printed as JSON and as a human line.
#[derive(Debug, Serialize)]
pub struct Report {
    pub label: String,
    pub mode: &'static str,
    pub concurrency: usize,
    /// Seconds between the end of the warm-up and the last timed answer.
    pub elapsed_s: f64,
    /// Successful operations timed.
    pub ok: usize,
    /// Failed operations over the whole run, warm-up included.
    pub errors: usize,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    /// CPU seconds the server used during the measured window (`--server-pid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_s: Option<f64>,
    /// Operations per server CPU second: throughput with contention factored out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_server_cpu_s: Option<f64>,
    /// The first few failures, for diagnosis.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error_samples: Vec<String>,
    /// Mode-specific figures (memory, cold first run, bytes), printed after the rest.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Report {
    /// Summarises `samples` (latencies of timed successes) over `elapsed`.
    pub fn new(
        label: &str,
        mode: &'static str,
        concurrency: usize,
        mut samples: Vec<Duration>,
        elapsed: Duration,
        errors: usize,
        error_samples: Vec<String>,
    ) -> Self {
        samples.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let pct = |p: f64| -> f64 {
            if samples.is_empty() {
                return 0.0;
            }
            // Nearest-rank percentile.
            let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
            ms(samples[rank.clamp(1, samples.len()) - 1])
        };
        let total: Duration = samples.iter().sum();
        let secs = elapsed.as_secs_f64();
        Report {
            label: label.to_string(),
            mode,
            concurrency,
            elapsed_s: secs,
            ok: samples.len(),
            errors,
            per_sec: if secs > 0.0 {
                samples.len() as f64 / secs
            } else {
                0.0
            },
            p50_ms: pct(50.0),
            p99_ms: pct(99.0),
            max_ms: samples.last().copied().map(ms).unwrap_or(0.0),
            mean_ms: if samples.is_empty() {
                0.0
            } else {
                ms(total) / samples.len() as f64
            },
            server_cpu_s: None,
            per_server_cpu_s: None,
            error_samples,
            extra: serde_json::Map::new(),
        }
    }

    /// Records the server's CPU time over the window.
    pub fn with_server_cpu(mut self, secs: Option<f64>) -> Self {
        if let Some(s) = secs {
            self.server_cpu_s = Some(s);
            self.per_server_cpu_s = (s > 0.0).then(|| self.ok as f64 / s);
        }
        self
    }

    /// Adds a mode-specific figure.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    /// One line for people.
    pub fn human(&self) -> String {
        let cpu = match (self.server_cpu_s, self.per_server_cpu_s) {
            (Some(s), Some(per)) => format!("  server cpu {s:.2} s ({per:.1}/cpu-s)"),
            _ => String::new(),
        };
        let extra: String = self
            .extra
            .iter()
            .map(|(k, v)| match v.as_f64() {
                Some(f) if v.is_f64() => format!("  {k} {f:.2}"),
                _ => format!("  {k} {v}"),
            })
            .collect();
        format!(
            "{label}{sep}{mode}: {rate:.1}/s  p50 {p50:.2} ms  p99 {p99:.2} ms  max {max:.2} ms  ok {ok}  errors {errors}  (c={c}, {secs:.1} s){cpu}{extra}",
            label = self.label,
            sep = if self.label.is_empty() { "" } else { " " },
            mode = self.mode,
            rate = self.per_sec,
            p50 = self.p50_ms,
            p99 = self.p99_ms,
            max = self.max_ms,
            ok = self.ok,
            errors = self.errors,
            c = self.concurrency,
            secs = self.elapsed_s,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(ms: &[u64]) -> Report {
        let samples = ms.iter().map(|&m| Duration::from_millis(m)).collect();
        Report::new(
            "t",
            "refresh",
            1,
            samples,
            Duration::from_secs(2),
            0,
            vec![],
        )
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let r = report(&(1..=100).collect::<Vec<_>>());
        assert_eq!(r.p50_ms, 50.0);
        assert_eq!(r.p99_ms, 99.0);
        assert_eq!(r.max_ms, 100.0);
        assert_eq!(r.per_sec, 50.0);
    }

    #[test]
    fn empty_run_is_all_zero() {
        let r = report(&[]);
        assert_eq!((r.ok, r.p50_ms, r.p99_ms, r.per_sec), (0, 0.0, 0.0, 0.0));
    }
}
