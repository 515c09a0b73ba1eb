//! Property tests: no input makes an exchange panic or run past its end, and what the
//! client encoders build, the server parses back unchanged.

use mailward_sasl::{Credentials, Exchange, Mechanism, SaslError, Step, client, encode};
use mailward_types::Secret;
use proptest::prelude::*;

fn mechanism() -> impl Strategy<Value = Mechanism> {
    prop::sample::select(Mechanism::ALL.to_vec())
}

/// Identities as the server accepts them: non-empty, no control characters.
fn identity() -> impl Strategy<Value = String> {
    "[^\\p{Cc}]{1,40}"
}

/// Passwords: non-empty, no NUL (other controls allowed).
fn password() -> impl Strategy<Value = String> {
    "[^\\x00]{1,40}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_lines_never_panic(
        mech in mechanism(),
        initial in prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
        lines in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..5),
    ) {
        let (mut ex, mut step) = Exchange::start(mech, initial.as_deref());
        for line in &lines {
            if ex.is_finished() {
                prop_assert_eq!(ex.step(line), Step::Failed(SaslError::OutOfSequence));
            } else {
                step = ex.step(line);
            }
        }
        let _ = step;
    }

    #[test]
    fn arbitrary_decoded_messages_never_panic(
        mech in mechanism(),
        messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 1..4),
    ) {
        let (mut ex, _) = Exchange::start_decoded(mech, Some(&messages[0]));
        for m in &messages[1..] {
            let _ = ex.step_decoded(m);
        }
        // Base64 of the same bytes behaves like the decoded path.
        let (_, a) = Exchange::start_decoded(mech, Some(&messages[0]));
        let wire = if messages[0].is_empty() { "=".to_owned() } else { encode(&messages[0]) };
        let (_, b) = Exchange::start(mech, Some(wire.as_bytes()));
        prop_assert_eq!(a, b);
    }

    #[test]
    fn plain_round_trip(user in identity(), pw in password(), with_authzid in any::<bool>()) {
        let authzid = if with_authzid { user.clone() } else { String::new() };
        let wire = encode(&client::plain(&authzid, &user, &pw));
        let (ex, step) = Exchange::start(Mechanism::Plain, Some(wire.as_bytes()));
        prop_assert!(ex.is_finished());
        prop_assert_eq!(step, Step::Done(Credentials::Password {
            authzid: with_authzid.then(|| user.clone()),
            username: user,
            password: Secret::new(pw),
        }));
    }

    #[test]
    fn login_round_trip(user in identity(), pw in password()) {
        let (mut ex, _) = Exchange::start(Mechanism::Login, None);
        ex.step(encode(user.as_bytes()).as_bytes());
        let step = ex.step(encode(pw.as_bytes()).as_bytes());
        prop_assert_eq!(step, Step::Done(Credentials::Password {
            authzid: None,
            username: user,
            password: Secret::new(pw),
        }));
    }

    #[test]
    fn bearer_round_trip(
        user in identity(),
        token in "[A-Za-z0-9._~+/-]{1,300}={0,2}",
        host in "[a-z0-9.-]{1,30}",
        port in any::<u16>(),
    ) {
        let xo = encode(&client::xoauth2(&user, &token));
        let (_, step) = Exchange::start(Mechanism::XOAuth2, Some(xo.as_bytes()));
        // `user=` values are raw in XOAUTH2: only those free of ^A survive.
        if !user.contains('\x01') {
            prop_assert_eq!(step, Step::Done(Credentials::Bearer {
                user: Some(user.clone()),
                token: Secret::new(token.clone()),
                mechanism: Mechanism::XOAuth2,
            }));
        }
        let ob = encode(&client::oauthbearer(Some(&user), Some(&host), Some(port), &token));
        let (_, step) = Exchange::start(Mechanism::OAuthBearer, Some(ob.as_bytes()));
        prop_assert_eq!(step, Step::Done(Credentials::Bearer {
            user: Some(user),
            token: Secret::new(token),
            mechanism: Mechanism::OAuthBearer,
        }));
    }
}
