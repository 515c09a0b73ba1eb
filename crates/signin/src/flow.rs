//! The sign-in as a typed state machine: identify → first factor → policy → second factor
//! (or registration) → issue. Each transition is a pure function of the current state and
//! the facts identity gathered; the state is serialisable so any node can continue a flow.

use crate::policy::Decision;
use mailward_types::ErrorCode;
use mailward_types::model::Amr;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Where a sign-in stands. Everything the pages need between two requests lives here, so
/// a flow continues on any node from the stored state alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum SignInState {
    /// Ask for the user name.
    Identify,
    /// Ask for the password. `user` is `None` for a name that matched nobody: the flow
    /// continues so the page does not reveal which names exist, and fails at the password.
    /// A disabled account continues too, and is told so only after its password verified.
    FirstFactor {
        username: String,
        user: Option<Uuid>,
    },
    /// Ask for a second factor.
    SecondFactor {
        user: Uuid,
        username: String,
        amr: Vec<Amr>,
        #[serde(with = "time::serde::rfc3339")]
        auth_time: OffsetDateTime,
        /// What the policy asks of the second factor.
        #[serde(default)]
        required: Strength,
        /// Step-up before registration: the user has a method, but none that meets
        /// `required`; the one they have is proven first, then they register one that does.
        #[serde(default)]
        then_register: bool,
        /// WebAuthn authentication ceremony in progress (serialised by `mailward-mfa`).
        #[serde(default)]
        ceremony: Option<String>,
        /// Wrong codes entered in this flow.
        #[serde(default)]
        failures: u32,
    },
    /// The user must register a method before continuing.
    RegisterMfa {
        user: Uuid,
        username: String,
        amr: Vec<Amr>,
        #[serde(with = "time::serde::rfc3339")]
        auth_time: OffsetDateTime,
        /// What the method being registered must be.
        #[serde(default)]
        required: Strength,
        /// The TOTP secret offered on the page, sealed (base64).
        #[serde(default)]
        pending_totp: Option<String>,
        /// WebAuthn registration ceremony in progress.
        #[serde(default)]
        ceremony: Option<String>,
    },
    /// A method was registered during this sign-in and the recovery codes were shown;
    /// `continue` finishes.
    Registered(Completed),
    /// Done: issue the code / approve the device.
    Complete(Completed),
    /// Stopped with an error code.
    Denied { code: ErrorCode },
}

/// How strong the second factor must be (conditional access authentication strength).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    /// Any registered second factor.
    #[default]
    Mfa,
    /// A passkey or security key (`amr` `hwk`).
    PhishingResistant,
}

impl Strength {
    /// Whether a method proven with `amr` meets this strength.
    pub fn met_by(self, amr: Amr) -> bool {
        match self {
            Strength::Mfa => true,
            Strength::PhishingResistant => amr == Amr::Hwk,
        }
    }
}

/// Wrong second-factor codes allowed in one flow.
pub const MAX_FLOW_FAILURES: u32 = 5;

/// A finished sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completed {
    pub user: Uuid,
    pub amr: Vec<Amr>,
    #[serde(with = "time::serde::rfc3339")]
    pub auth_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub mfa_time: Option<OffsetDateTime>,
}

/// What identity learned when looking the user name up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Found { user: Uuid, enabled: bool },
    NotFound,
}

/// Outcome of the first factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstFactor {
    Verified,
    Wrong,
    /// Refused before the password was checked (locked, or the attempts allowed are in
    /// flight).
    Locked,
    /// The password is right but the account is disabled.
    Disabled,
}

/// The error code a client is told for a denial. Until the password has been verified, an
/// attempt on a locked account is answered exactly like a wrong password (50126): the
/// password was not checked, so the answer may reveal nothing about it, and an unknown
/// name (which never locks) must look the same as a locked one. The sign-in log keeps the
/// real code (50053) for the administrator.
pub fn answered(code: ErrorCode) -> ErrorCode {
    match code {
        ErrorCode::LockedOut => ErrorCode::InvalidCredentials,
        other => other,
    }
}

/// What an interactive policy step needs to know about the user's methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enrolment {
    /// What the policy asks of the second factor.
    pub required: Strength,
    /// The user has a method that meets `required` (recovery codes alone do not).
    pub sufficient: bool,
    /// The user has any method to prove, recovery codes included.
    pub any: bool,
}

/// What the policy step needs besides its decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MfaFacts {
    /// The user has at least one usable second factor.
    pub registered: bool,
    /// Pages can be shown (browser flows); false for ROPC and relayed basic auth.
    pub interactive: bool,
}

impl SignInState {
    /// After the user name is entered. Every name continues to the password, so the
    /// answer does not tell which names exist or are disabled.
    pub fn identify(username: &str, lookup: Lookup) -> SignInState {
        match lookup {
            Lookup::Found { user, .. } => SignInState::FirstFactor {
                username: username.to_string(),
                user: Some(user),
            },
            Lookup::NotFound => SignInState::FirstFactor {
                username: username.to_string(),
                user: None,
            },
        }
    }

    /// After the password check. Returns the intermediate state the policy step runs on;
    /// call [`SignInState::policy`] next when this is `SecondFactor` (pre-policy).
    pub fn first_factor(self, result: FirstFactor, now: OffsetDateTime) -> SignInState {
        match (self, result) {
            (SignInState::FirstFactor { .. }, FirstFactor::Locked) => SignInState::Denied {
                code: ErrorCode::LockedOut,
            },
            (SignInState::FirstFactor { user: Some(_), .. }, FirstFactor::Disabled) => {
                SignInState::Denied {
                    code: ErrorCode::UserDisabled,
                }
            }
            (SignInState::FirstFactor { user: None, .. }, _)
            | (SignInState::FirstFactor { .. }, FirstFactor::Wrong) => SignInState::Denied {
                code: ErrorCode::InvalidCredentials,
            },
            (
                SignInState::FirstFactor {
                    user: Some(user),
                    username,
                },
                FirstFactor::Verified,
            ) => SignInState::SecondFactor {
                user,
                username,
                amr: vec![Amr::Pwd],
                auth_time: now,
                required: Strength::Mfa,
                then_register: false,
                ceremony: None,
                failures: 0,
            },
            (other, _) => other.out_of_order(),
        }
    }

    /// The policy step for sign-ins that cannot show pages (ROPC, relayed basic auth), run
    /// right after the first factor.
    pub fn policy(self, decision: &Decision, mfa: MfaFacts) -> SignInState {
        if mfa.interactive {
            return self.prompt(
                decision,
                Enrolment {
                    required: Strength::Mfa,
                    sufficient: mfa.registered,
                    any: mfa.registered,
                },
            );
        }
        match decision {
            Decision::RequireMfa if matches!(self, SignInState::SecondFactor { .. }) => {
                SignInState::Denied {
                    code: if mfa.registered {
                        ErrorCode::MfaRequired
                    } else {
                        ErrorCode::MfaRegistrationRequired
                    },
                }
            }
            _ => self.prompt(
                decision,
                Enrolment {
                    required: Strength::Mfa,
                    sufficient: mfa.registered,
                    any: mfa.registered,
                },
            ),
        }
    }

    /// The policy step of an interactive sign-in, run right after the first factor (state
    /// `SecondFactor` with only `pwd`) or on an existing session.
    ///
    /// Registration on first need is only for users with nothing to prove: a user who has
    /// a method proves it first (step-up) and only then registers the one the policy asks
    /// for, so the password alone never enrols a method.
    pub fn prompt(self, decision: &Decision, methods: Enrolment) -> SignInState {
        let SignInState::SecondFactor {
            user,
            username,
            amr,
            auth_time,
            ..
        } = self
        else {
            return self.out_of_order();
        };
        match decision {
            Decision::Block(code) => SignInState::Denied { code: *code },
            Decision::Allow => SignInState::Complete(Completed {
                user,
                amr,
                auth_time,
                mfa_time: None,
            }),
            Decision::RequireMfa if !methods.sufficient && methods.any => {
                SignInState::SecondFactor {
                    user,
                    username,
                    amr,
                    auth_time,
                    required: methods.required,
                    then_register: true,
                    ceremony: None,
                    failures: 0,
                }
            }
            Decision::RequireMfa if !methods.sufficient => SignInState::RegisterMfa {
                user,
                username,
                amr,
                auth_time,
                required: methods.required,
                pending_totp: None,
                ceremony: None,
            },
            Decision::RequireMfa => SignInState::SecondFactor {
                user,
                username,
                amr,
                auth_time,
                required: methods.required,
                then_register: false,
                ceremony: None,
                failures: 0,
            },
        }
    }

    /// After a second factor (or a method registered and proven during the flow).
    /// `None` is a failed attempt: counted, and the flow ends after [`MAX_FLOW_FAILURES`].
    /// A proven method that does not meet the requirement (step-up) leads to registration.
    pub fn second_factor(self, method: Option<Amr>, now: OffsetDateTime) -> SignInState {
        match (self, method) {
            (
                SignInState::SecondFactor {
                    user,
                    username,
                    mut amr,
                    auth_time,
                    required,
                    then_register,
                    ..
                },
                Some(m),
            ) if then_register || !required.met_by(m) => {
                add_method(&mut amr, m);
                SignInState::RegisterMfa {
                    user,
                    username,
                    amr,
                    auth_time,
                    required,
                    pending_totp: None,
                    ceremony: None,
                }
            }
            (
                SignInState::SecondFactor {
                    user,
                    mut amr,
                    auth_time,
                    ..
                },
                Some(m),
            ) => {
                add_method(&mut amr, m);
                SignInState::Complete(Completed {
                    user,
                    amr,
                    auth_time,
                    mfa_time: Some(now),
                })
            }
            (
                SignInState::RegisterMfa {
                    user,
                    mut amr,
                    auth_time,
                    ..
                },
                Some(m),
            ) => {
                add_method(&mut amr, m);
                SignInState::Registered(Completed {
                    user,
                    amr,
                    auth_time,
                    mfa_time: Some(now),
                })
            }
            (
                SignInState::SecondFactor {
                    user,
                    username,
                    amr,
                    auth_time,
                    required,
                    then_register,
                    failures,
                    ..
                },
                None,
            ) => {
                if failures + 1 >= MAX_FLOW_FAILURES {
                    return SignInState::Denied {
                        code: ErrorCode::MfaRequired,
                    };
                }
                SignInState::SecondFactor {
                    user,
                    username,
                    amr,
                    auth_time,
                    required,
                    then_register,
                    ceremony: None,
                    failures: failures + 1,
                }
            }
            (state, None) => state,
            (other, Some(_)) => other.out_of_order(),
        }
    }

    /// The WebAuthn ceremony in progress, if any.
    pub fn ceremony(&self) -> Option<&str> {
        match self {
            SignInState::SecondFactor { ceremony, .. }
            | SignInState::RegisterMfa { ceremony, .. } => ceremony.as_deref(),
            _ => None,
        }
    }

    /// Starts (or replaces) the WebAuthn ceremony of a second-factor or registration step.
    pub fn set_ceremony(&mut self, state: String) {
        if let SignInState::SecondFactor { ceremony, .. }
        | SignInState::RegisterMfa { ceremony, .. } = self
        {
            *ceremony = Some(state);
        }
    }

    /// Ends the WebAuthn ceremony: a ceremony state is used at most once.
    pub fn take_ceremony(&mut self) -> Option<String> {
        match self {
            SignInState::SecondFactor { ceremony, .. }
            | SignInState::RegisterMfa { ceremony, .. } => ceremony.take(),
            _ => None,
        }
    }

    /// Only a passkey is accepted at this step (a step-up before registration accepts the
    /// weaker method the user has).
    pub fn passkey_only(&self) -> bool {
        match self {
            SignInState::SecondFactor {
                required,
                then_register,
                ..
            } => *required == Strength::PhishingResistant && !*then_register,
            SignInState::RegisterMfa { required, .. } => *required == Strength::PhishingResistant,
            _ => false,
        }
    }

    /// The second factor the policy asks for (`Mfa` outside the second-factor steps).
    pub fn required(&self) -> Strength {
        match self {
            SignInState::SecondFactor { required, .. }
            | SignInState::RegisterMfa { required, .. } => *required,
            _ => Strength::Mfa,
        }
    }

    /// A step arrived that does not fit the current state (replayed or forged form).
    fn out_of_order(self) -> SignInState {
        match self {
            SignInState::Denied { code } => SignInState::Denied { code },
            _ => SignInState::Denied {
                code: ErrorCode::InvalidRequest,
            },
        }
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self, SignInState::Complete(_) | SignInState::Denied { .. })
    }
}

fn add_method(amr: &mut Vec<Amr>, m: Amr) {
    if !amr.contains(&m) {
        amr.push(m);
    }
    if !amr.contains(&Amr::Mfa) {
        amr.push(Amr::Mfa);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }
    const U: Uuid = Uuid::from_u128(7);
    const INTERACTIVE: MfaFacts = MfaFacts {
        registered: true,
        interactive: true,
    };

    fn after_password() -> SignInState {
        SignInState::identify(
            "a@b.c",
            Lookup::Found {
                user: U,
                enabled: true,
            },
        )
        .first_factor(FirstFactor::Verified, now())
    }

    #[test]
    fn happy_path_with_mfa() {
        let s = after_password().policy(&Decision::RequireMfa, INTERACTIVE);
        assert!(matches!(s, SignInState::SecondFactor { .. }));
        let s = s.second_factor(Some(Amr::Otp), now());
        let SignInState::Complete(c) = s else {
            panic!("{s:?}")
        };
        assert_eq!(c.amr, vec![Amr::Pwd, Amr::Otp, Amr::Mfa]);
        assert_eq!(c.mfa_time, Some(now()));
    }

    #[test]
    fn allow_without_mfa() {
        let s = after_password().policy(&Decision::Allow, INTERACTIVE);
        let SignInState::Complete(c) = s else {
            panic!()
        };
        assert_eq!(c.amr, vec![Amr::Pwd]);
    }

    #[test]
    fn denials() {
        let disabled = SignInState::identify(
            "a@b.c",
            Lookup::Found {
                user: U,
                enabled: false,
            },
        );
        // A disabled account is told so only once its password verified.
        assert!(matches!(
            disabled,
            SignInState::FirstFactor { user: Some(U), .. }
        ));
        assert_eq!(
            disabled.clone().first_factor(FirstFactor::Wrong, now()),
            SignInState::Denied {
                code: ErrorCode::InvalidCredentials
            }
        );
        assert_eq!(
            disabled.first_factor(FirstFactor::Disabled, now()),
            SignInState::Denied {
                code: ErrorCode::UserDisabled
            }
        );
        let unknown = SignInState::identify("x@b.c", Lookup::NotFound);
        assert!(matches!(
            unknown,
            SignInState::FirstFactor { user: None, .. }
        ));
        assert_eq!(
            unknown.first_factor(FirstFactor::Verified, now()),
            SignInState::Denied {
                code: ErrorCode::InvalidCredentials
            }
        );
        let s = SignInState::identify(
            "a@b.c",
            Lookup::Found {
                user: U,
                enabled: true,
            },
        );
        assert_eq!(
            s.clone().first_factor(FirstFactor::Wrong, now()),
            SignInState::Denied {
                code: ErrorCode::InvalidCredentials
            }
        );
        assert_eq!(
            s.first_factor(FirstFactor::Locked, now()),
            SignInState::Denied {
                code: ErrorCode::LockedOut
            }
        );
        // Told like a wrong password; logged as what it is.
        assert_eq!(
            answered(ErrorCode::LockedOut),
            ErrorCode::InvalidCredentials
        );
        assert_eq!(answered(ErrorCode::UserDisabled), ErrorCode::UserDisabled);
        assert_eq!(
            after_password().policy(&Decision::Block(ErrorCode::BlockedByPolicy), INTERACTIVE),
            SignInState::Denied {
                code: ErrorCode::BlockedByPolicy
            }
        );
    }

    #[test]
    fn registration_and_non_interactive() {
        let s = after_password().policy(
            &Decision::RequireMfa,
            MfaFacts {
                registered: false,
                interactive: true,
            },
        );
        assert!(matches!(s, SignInState::RegisterMfa { .. }));
        assert!(matches!(
            s.second_factor(Some(Amr::Otp), now()),
            SignInState::Registered(_)
        ));
        assert_eq!(
            after_password().policy(
                &Decision::RequireMfa,
                MfaFacts {
                    registered: false,
                    interactive: false
                }
            ),
            SignInState::Denied {
                code: ErrorCode::MfaRegistrationRequired
            }
        );
        assert_eq!(
            after_password().policy(
                &Decision::RequireMfa,
                MfaFacts {
                    registered: true,
                    interactive: false
                }
            ),
            SignInState::Denied {
                code: ErrorCode::MfaRequired
            }
        );
    }

    #[test]
    fn out_of_order_steps_are_denied() {
        let s = SignInState::Identify.second_factor(Some(Amr::Otp), now());
        assert_eq!(
            s,
            SignInState::Denied {
                code: ErrorCode::InvalidRequest
            }
        );
        let s = SignInState::Identify.policy(&Decision::Allow, INTERACTIVE);
        assert_eq!(
            s,
            SignInState::Denied {
                code: ErrorCode::InvalidRequest
            }
        );
    }

    fn enrolment(required: Strength, sufficient: bool, any: bool) -> Enrolment {
        Enrolment {
            required,
            sufficient,
            any,
        }
    }

    #[test]
    fn registration_on_first_need_only_without_any_method() {
        use Strength::*;
        let step = |e| after_password().prompt(&Decision::RequireMfa, e);
        // Nothing to prove: register now.
        assert!(matches!(
            step(enrolment(Mfa, false, false)),
            SignInState::RegisterMfa { required: Mfa, .. }
        ));
        assert!(matches!(
            step(enrolment(PhishingResistant, false, false)),
            SignInState::RegisterMfa {
                required: PhishingResistant,
                ..
            }
        ));
        // A method that meets the requirement: just prove it.
        let s = step(enrolment(PhishingResistant, true, true));
        assert!(
            matches!(
                s,
                SignInState::SecondFactor {
                    then_register: false,
                    ..
                }
            ),
            "{s:?}"
        );
        assert!(s.passkey_only());
        // A weaker method (TOTP under phishing-resistant MFA, or recovery codes only):
        // prove it first, then register.
        for e in [
            enrolment(PhishingResistant, false, true),
            enrolment(Mfa, false, true),
        ] {
            let s = step(e);
            assert!(
                matches!(
                    s,
                    SignInState::SecondFactor {
                        then_register: true,
                        ..
                    }
                ),
                "{s:?}"
            );
            assert!(!s.passkey_only());
            // A wrong code keeps the user at the step-up.
            let s = s.second_factor(None, now());
            assert!(matches!(
                s,
                SignInState::SecondFactor {
                    then_register: true,
                    ..
                }
            ));
            let s = s.second_factor(Some(Amr::Otp), now());
            let SignInState::RegisterMfa { amr, required, .. } = &s else {
                panic!("{s:?}")
            };
            assert_eq!(*required, e.required);
            assert_eq!(*amr, vec![Amr::Pwd, Amr::Otp, Amr::Mfa]);
            assert_eq!(s.passkey_only(), e.required == PhishingResistant);
            let SignInState::Registered(done) = s.second_factor(Some(Amr::Hwk), now()) else {
                panic!()
            };
            assert_eq!(done.amr, vec![Amr::Pwd, Amr::Otp, Amr::Mfa, Amr::Hwk]);
        }
        // A passkey proven where a passkey is required completes.
        let s = step(enrolment(PhishingResistant, true, true));
        assert!(matches!(
            s.second_factor(Some(Amr::Hwk), now()),
            SignInState::Complete(_)
        ));
    }

    #[test]
    fn wrong_codes_are_counted_and_end_the_flow() {
        let mut s = after_password().policy(&Decision::RequireMfa, INTERACTIVE);
        for n in 1..MAX_FLOW_FAILURES {
            s = s.second_factor(None, now());
            assert!(
                matches!(s, SignInState::SecondFactor { failures, .. } if failures == n),
                "{s:?}"
            );
        }
        assert_eq!(
            s.second_factor(None, now()),
            SignInState::Denied {
                code: ErrorCode::MfaRequired
            }
        );
    }

    #[test]
    fn sub_second_times_survive_storage() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_800_000_000_123_000_000).unwrap();
        let s = SignInState::identify(
            "a@b.c",
            Lookup::Found {
                user: U,
                enabled: true,
            },
        )
        .first_factor(FirstFactor::Verified, t);
        let back: SignInState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        let done = back.second_factor(Some(Amr::Otp), t);
        let back: SignInState =
            serde_json::from_str(&serde_json::to_string(&done).unwrap()).unwrap();
        assert_eq!(back, done);
    }

    #[test]
    fn state_round_trips_through_json() {
        let s = after_password().policy(&Decision::RequireMfa, INTERACTIVE);
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<SignInState>(&j).unwrap(), s);
    }
}
