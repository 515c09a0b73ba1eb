//! Fuzzes authentication policy JSON import; whatever imports must export and re-import
//! unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mailward_authpolicy::{AuthenticationPolicy, import_policies};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(policy) = AuthenticationPolicy::from_json(s) {
        let again = AuthenticationPolicy::from_json(&policy.to_json());
        assert_eq!(again.ok(), Some(policy));
    }
    if let Ok(policies) = import_policies(s) {
        for p in policies {
            assert_eq!(AuthenticationPolicy::from_json(&p.to_json()).ok(), Some(p));
        }
    }
});
