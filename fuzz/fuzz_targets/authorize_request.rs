//! Fuzzes authorization request validation and redirect URI handling.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mailward_oauth::authorize::{AuthorizeRequest, redirect_url, response_params};
use mailward_oauth::token_request::Params;
use mailward_types::RedirectUri;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Params::parse(data) {
        if let Ok(r) = AuthorizeRequest::parse(&p) {
            if let Ok(reg) = RedirectUri::try_from(r.redirect_uri.as_str()) {
                assert!(reg.matches(&r.redirect_uri));
            }
            let params = response_params(r.state.as_deref(), Ok("code"), "https://id.example");
            let _ = redirect_url(&r.redirect_uri, &params);
        }
    }
});
