//! Fuzzes token endpoint parsing: form body plus an optional Authorization header.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mailward_oauth::token_request::{Params, parse};

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (std::str::from_utf8(&data[..i]).ok(), &data[i + 1..]),
        None => (None, data),
    };
    if let Ok(p) = Params::parse(body) {
        let _ = parse(&p, header);
    }
});
