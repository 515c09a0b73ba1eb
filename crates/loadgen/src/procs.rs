//! A server as a process tree (Linux `/proc`): its CPU time and its proportional set size.
//! Multi-process servers (Dovecot's master, login, auth and imap processes) are measured as
//! the root process and every descendant alive at the time of reading.

use std::collections::HashMap;

/// Clock ticks per second in `/proc/PID/stat` (`USER_HZ`, 100 on Linux).
const TICKS: f64 = 100.0;

/// One process's fields from `/proc/PID/stat` that matter here.
#[derive(Debug, Clone, Copy)]
struct Stat {
    ppid: u32,
    /// utime + stime + cutime + cstime, in ticks: own CPU plus that of reaped children.
    ticks: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<Stat> {
    // The command name may contain spaces; fields are counted after its closing paren.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    let ppid = f.get(1)?.parse().ok()?;
    let mut ticks = 0u64;
    for i in 11..=14 {
        ticks += f.get(i)?.parse::<i64>().ok()?.max(0) as u64;
    }
    Some(Stat { ppid, ticks })
}

/// `root` and all its live descendants.
pub fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(s) = stat(pid) {
                children.entry(s.ppid).or_default().push(pid);
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = children.get(&out[i]) {
            out.extend_from_slice(c);
        }
        i += 1;
    }
    out
}

/// CPU seconds used so far by the tree under `root`: every live process's own time plus
/// the time of the children it has reaped. `None` if `root` is gone.
pub fn cpu_seconds(root: u32) -> Option<f64> {
    stat(root)?;
    let ticks: u64 = tree(root)
        .into_iter()
        .filter_map(stat)
        .map(|s| s.ticks)
        .sum();
    Some(ticks as f64 / TICKS)
}

/// Memory of the tree under `root`, from each process's `/proc/PID/smaps_rollup`.
#[derive(Debug, Clone, Default)]
pub struct Pss {
    /// Sum of `Pss` over the tree, KiB.
    pub total_kib: u64,
    /// Processes read.
    pub processes: usize,
    /// KiB and process count per command name (`/proc/PID/comm`).
    pub by_command: std::collections::BTreeMap<String, (u64, usize)>,
}

/// Reads the memory of the tree under `root`; `None` if `root` is gone.
pub fn pss(root: u32) -> Option<Pss> {
    stat(root)?;
    let mut out = Pss::default();
    for pid in tree(root) {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
            continue;
        };
        let Some(kib) = parse_pss(&text) else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim().to_string())
            .unwrap_or_default();
        out.total_kib += kib;
        out.processes += 1;
        let e = out.by_command.entry(comm).or_default();
        e.0 += kib;
        e.1 += 1;
    }
    Some(out)
}

fn parse_pss(rollup: &str) -> Option<u64> {
    rollup.lines().find_map(|l| {
        let rest = l.strip_prefix("Pss:")?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_the_name() {
        let line = "42 (dovecot/imap login) S 7 42 42 0 -1 4194560 1 0 0 0 30 12 5 3 20 0 1 0";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.ppid, 7);
        assert_eq!(s.ticks, 30 + 12 + 5 + 3);
    }

    #[test]
    fn parses_pss() {
        let text = "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss: 9000 kB\nPss: 1234 kB\n";
        assert_eq!(parse_pss(text), Some(1234));
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(tree(me).contains(&me));
        assert!(cpu_seconds(me).is_some());
        let p = pss(me).unwrap();
        assert!(p.total_kib > 0);
        assert!(p.processes >= 1);
        assert_eq!(
            p.by_command.values().map(|(k, _)| k).sum::<u64>(),
            p.total_kib
        );
    }
}
