//! The sign-in as a typed state machine: identify → first factor → policy → second factor
//! (or registration) → issue. Each transition is a pure function of the current state and
//! the facts identity gathered; the state is serialisable so any node can continue a flow.

use crate::policy::Decision;
use mailward_types::ErrorCode;
use mailward_types::model::Amr;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Where a sign-in stands.
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
    },
    /// The user must register a method before continuing.
    RegisterMfa {
        user: Uuid,
        username: String,
        amr: Vec<Amr>,
        #[serde(with = "time::serde::rfc3339")]
        auth_time: OffsetDateTime,
    },
    /// Done: issue the code / approve the device.
    Complete(Completed),
    /// Stopped with an error code.
    Denied { code: ErrorCode },
}

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
            },
            (other, _) => other.out_of_order(),
        }
    }

    /// The policy step, run right after the first factor (state `SecondFactor` with only
    /// `pwd`) or on an existing session.
    pub fn policy(self, decision: &Decision, mfa: MfaFacts) -> SignInState {
        let SignInState::SecondFactor {
            user,
            username,
            amr,
            auth_time,
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
            Decision::RequireMfa if !mfa.interactive => SignInState::Denied {
                code: if mfa.registered {
                    ErrorCode::MfaRequired
                } else {
                    ErrorCode::MfaRegistrationRequired
                },
            },
            Decision::RequireMfa if !mfa.registered => SignInState::RegisterMfa {
                user,
                username,
                amr,
                auth_time,
            },
            Decision::RequireMfa => SignInState::SecondFactor {
                user,
                username,
                amr,
                auth_time,
            },
        }
    }

    /// After a second factor (or a method registered and proven during the flow).
    /// A failed attempt leaves the state as it is; the caller counts attempts.
    pub fn second_factor(self, method: Option<Amr>, now: OffsetDateTime) -> SignInState {
        match (self, method) {
            (
                SignInState::SecondFactor {
                    user,
                    mut amr,
                    auth_time,
                    ..
                }
                | SignInState::RegisterMfa {
                    user,
                    mut amr,
                    auth_time,
                    ..
                },
                Some(m),
            ) => {
                if !amr.contains(&m) {
                    amr.push(m);
                }
                if !amr.contains(&Amr::Mfa) {
                    amr.push(Amr::Mfa);
                }
                SignInState::Complete(Completed {
                    user,
                    amr,
                    auth_time,
                    mfa_time: Some(now),
                })
            }
            (state, None) => state,
            (other, Some(_)) => other.out_of_order(),
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
            SignInState::Complete(_)
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
        // A failed second factor keeps the state.
        let s = after_password().policy(&Decision::RequireMfa, INTERACTIVE);
        assert_eq!(s.clone().second_factor(None, now()), s);
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
