//! Fuzzes conditional access import: arbitrary bytes as a policy and as a named location
//! must never panic; whatever imports must export, re-import equal, and compile.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mailward_policy::{
    Config, PolicySet, export_named_location, export_policy, import_named_location, import_policy,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(policy) = import_policy(data) {
        let exported = export_policy(&policy);
        let again = import_policy(exported.as_bytes()).expect("export re-imports");
        assert_eq!(again, policy, "export -> import round-trips");
        assert_eq!(export_policy(&again), exported);
        let original: serde_json::Value = serde_json::from_slice(data).expect("imported JSON");
        let back: serde_json::Value = serde_json::from_str(&exported).expect("exported JSON");
        assert_eq!(original, back, "import -> export is unchanged");
        // Compiling needs an id and may refuse unknown named locations, never panic.
        let _ = PolicySet::compile(&[policy], &[], &Config::default());
    }
    if let Ok(loc) = import_named_location(data) {
        let exported = export_named_location(&loc);
        let again = import_named_location(exported.as_bytes()).expect("export re-imports");
        assert_eq!(again, loc);
        let _ = PolicySet::compile(&[], &[loc], &Config::default());
    }
});
