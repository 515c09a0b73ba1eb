//! Fuzzes scope parsing and resolution.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(r) = mailward_oauth::scope::parse(s, None) {
            let offered = vec!["IMAP.AccessAsUser.All".to_string(), "SMTP.Send".to_string()];
            let _ = mailward_oauth::scope::resolve(&r.scopes, &offered);
        }
    }
});
