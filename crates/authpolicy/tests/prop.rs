//! Property tests: allowing one protocol never changes the decision for another, allowing
//! is monotonic, and export → import is the identity.

use mailward_authpolicy::*;
use proptest::prelude::*;

fn protocol() -> impl Strategy<Value = Protocol> {
    prop::sample::select(Protocol::ALL.to_vec())
}

fn protocol_set() -> impl Strategy<Value = ProtocolSet> {
    prop::collection::vec(protocol(), 0..13).prop_map(|v| v.into_iter().collect())
}

fn policy() -> impl Strategy<Value = AuthenticationPolicy> {
    (
        "[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}[A-Za-z0-9]",
        protocol_set(),
        protocol_set(),
        protocol_set(),
    )
        .prop_map(|(name, allow, legacy, modern)| {
            let mut p =
                AuthenticationPolicy::new(PolicyName::try_from(name).expect("a valid name"));
            let on_prem = ProtocolSet::on_premises();
            for (kind, set) in [
                (SwitchKind::AllowBasicAuth, allow),
                (SwitchKind::BlockLegacyAuth, legacy.intersection(on_prem)),
                (SwitchKind::BlockModernAuth, modern.intersection(on_prem)),
            ] {
                p.set_protocols(kind, set).expect("switches that exist");
            }
            p
        })
}

fn flavour() -> impl Strategy<Value = Flavour> {
    prop_oneof![Just(Flavour::Cloud), Just(Flavour::OnPremises)]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![Just(Method::Basic), Just(Method::Modern)]
}

/// Makes the policy allow `protocol` for `method` in `flavour`.
fn allow(p: &mut AuthenticationPolicy, flavour: Flavour, method: Method, protocol: Protocol) {
    let kind = match (flavour, method) {
        (Flavour::Cloud, Method::Basic) => SwitchKind::AllowBasicAuth,
        (Flavour::Cloud, Method::Modern) => return,
        (Flavour::OnPremises, Method::Basic) => SwitchKind::BlockLegacyAuth,
        (Flavour::OnPremises, Method::Modern) => SwitchKind::BlockModernAuth,
    };
    if let Some(s) = Switch::new(kind, protocol) {
        p.set(s, kind == SwitchKind::AllowBasicAuth);
    }
}

proptest! {
    #[test]
    fn allowing_a_protocol_never_changes_another(
        mut p in policy(),
        default in prop::option::of(policy()),
        a in protocol(),
        b in protocol(),
        flavour in flavour(),
        method in method(),
    ) {
        prop_assume!(a != b);
        for m in [Method::Basic, Method::Modern] {
            let before = decide(Some(&p), default.as_ref(), flavour, b, m);
            let mut q = p.clone();
            allow(&mut q, flavour, method, a);
            let after = decide(Some(&q), default.as_ref(), flavour, b, m);
            prop_assert_eq!(before, after);
        }
        // And the allowed protocol is now allowed.
        allow(&mut p, flavour, method, a);
        prop_assert!(decide(Some(&p), default.as_ref(), flavour, a, method).is_allowed());
    }

    #[test]
    fn user_policy_alone_decides(
        user in policy(),
        d1 in policy(),
        d2 in policy(),
        pr in protocol(),
        flavour in flavour(),
        method in method(),
    ) {
        prop_assert_eq!(
            decide(Some(&user), Some(&d1), flavour, pr, method),
            decide(Some(&user), Some(&d2), flavour, pr, method)
        );
        prop_assert_eq!(
            decide(Some(&user), Some(&d1), flavour, pr, method),
            decide(Some(&user), None, flavour, pr, method)
        );
    }

    #[test]
    fn json_round_trip(p in policy()) {
        let back = AuthenticationPolicy::from_json(&p.to_json()).unwrap();
        prop_assert_eq!(back, p);
    }

    #[test]
    fn arbitrary_json_never_panics(s in "\\PC{0,200}") {
        let _ = AuthenticationPolicy::from_json(&s);
        let _ = import_policies(&s);
    }

    #[test]
    fn list_display_round_trips(set in protocol_set()) {
        prop_assert_eq!(parse_protocol_list(&set.to_string()).unwrap(), set);
    }
}
