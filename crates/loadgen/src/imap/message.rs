//! The benchmark's messages: deterministic RFC 5322 text messages, the same bytes for a
//! given index on every run and for every server, with varied senders, recipients,
//! subjects, threading headers and body sizes (about 0.5 to 8 KiB).

/// A small deterministic generator (SplitMix64), so message `i` never changes.
#[derive(Debug)]
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "quarterly",
    "report",
    "meeting",
    "agenda",
    "budget",
    "review",
    "project",
    "deadline",
    "invoice",
    "schedule",
    "update",
    "release",
    "customer",
    "proposal",
    "contract",
    "team",
    "offsite",
    "planning",
    "draft",
    "notes",
    "summary",
    "question",
    "follow-up",
    "approval",
    "travel",
    "expenses",
    "roadmap",
    "security",
    "incident",
    "migration",
    "server",
    "backup",
    "holiday",
    "training",
    "workshop",
    "feedback",
    "design",
    "launch",
    "metrics",
    "hiring",
];

const NAMES: &[(&str, &str)] = &[
    ("Alice Martin", "alice.martin"),
    ("Bob Nguyen", "bob.nguyen"),
    ("Carla Rossi", "carla.rossi"),
    ("Deepak Rao", "deepak.rao"),
    ("Eva Novak", "eva.novak"),
    ("Farid Haddad", "farid.haddad"),
    ("Grace Kim", "grace.kim"),
    ("Hugo Dubois", "hugo.dubois"),
    ("Ines Garcia", "ines.garcia"),
    ("Jonas Berg", "jonas.berg"),
];

const DOMAINS: &[&str] = &[
    "example.org",
    "example.com",
    "example.net",
    "mailward.localhost",
];

const MONTHS: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Message number `i` (0-based) addressed to `to`, with CRLF line endings.
pub fn message(i: usize, to: &str) -> Vec<u8> {
    let mut r = Mix(0x6d61_696c_7761_7264 ^ (i as u64).wrapping_mul(0x1000_0000_01b3));
    let (from_name, from_local) = NAMES[r.below(NAMES.len())];
    let from_domain = DOMAINS[r.below(DOMAINS.len())];
    // One message a minute from 1 January 2024, 28-day months keep the arithmetic simple.
    let minute = i;
    let (day, hour, min) = ((minute / 1440) % 28 + 1, (minute / 60) % 24, minute % 60);
    let month = MONTHS[(minute / (1440 * 28)) % 12];
    let year = 2024 + minute / (1440 * 28 * 12);
    let subject_words = 3 + r.below(6);
    let subject: Vec<&str> = (0..subject_words)
        .map(|_| WORDS[r.below(WORDS.len())])
        .collect();
    let reply = i > 0 && r.below(4) == 0;

    let mut m = String::with_capacity(4096);
    m.push_str(&format!(
        "Return-Path: <{from_local}@{from_domain}>\r\n\
         Message-ID: <bench-{i}@mailward.localhost>\r\n\
         Date: {day:02} {month} {year} {hour:02}:{min:02}:00 +0000\r\n\
         From: {from_name} <{from_local}@{from_domain}>\r\n\
         To: Bench User <{to}>\r\n"
    ));
    if r.below(3) == 0 {
        let (cc_name, cc_local) = NAMES[r.below(NAMES.len())];
        m.push_str(&format!("Cc: {cc_name} <{cc_local}@example.com>\r\n"));
    }
    if reply {
        let parent = r.below(i);
        m.push_str(&format!(
            "Subject: Re: {}\r\nIn-Reply-To: <bench-{parent}@mailward.localhost>\r\n\
             References: <bench-{parent}@mailward.localhost>\r\n",
            subject.join(" ")
        ));
    } else {
        m.push_str(&format!("Subject: {} (#{i})\r\n", subject.join(" ")));
    }
    m.push_str(
        "MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\
         Content-Transfer-Encoding: 7bit\r\n\r\n",
    );
    let body_len = 400 + r.below(8 * 1024);
    let mut line_len = 0;
    let start = m.len();
    while m.len() - start < body_len {
        let w = WORDS[r.below(WORDS.len())];
        if line_len + w.len() + 1 > 72 {
            m.push_str("\r\n");
            line_len = 0;
        } else if line_len > 0 {
            m.push(' ');
            line_len += 1;
        }
        m.push_str(w);
        line_len += w.len();
    }
    m.push_str("\r\n");
    m.into_bytes()
}

/// The flags message `i` is appended with: every other one `\Seen`, some `\Flagged`.
pub fn flags(i: usize) -> &'static str {
    match i % 6 {
        0 | 2 => "\\Seen",
        4 => "\\Seen \\Flagged",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_deterministic_crlf_and_ascii() {
        for i in [0, 1, 2, 999, 9999] {
            let a = message(i, "bench@mailward.localhost");
            assert_eq!(a, message(i, "bench@mailward.localhost"));
            assert!(a.is_ascii());
            let text = std::str::from_utf8(&a).unwrap();
            assert!(text.contains("\r\n\r\n"));
            assert!(!text.replace("\r\n", "").contains('\n'));
            assert!(!text.contains('"'));
            assert!(a.len() > 400 && a.len() < 10 * 1024, "{}", a.len());
            assert!(text.contains(&format!("Message-ID: <bench-{i}@")));
        }
        assert_ne!(message(1, "x@y"), message(2, "x@y"));
    }
}
