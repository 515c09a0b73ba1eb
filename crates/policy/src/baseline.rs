//! Security defaults: the baseline that applies until an admin turns it off, in addition
//! to the conditional access policies (microsoft.md §3; Entra's security defaults).
//!
//! While on, for every user sign-in:
//! - users must do MFA on the client app types the configured rule names
//!   (`[identity.policy] require_mfa`, every type by default);
//! - administrators (any directory role) must do MFA on every sign-in, whatever the rule;
//! - legacy clients (`exchangeActiveSync`, `other`) cannot do MFA, so where MFA is required
//!   of them they are blocked (50076): with the default rule for everyone, and for
//!   administrators always;
//! - service principals are not concerned.
//!
//! Entra allows either security defaults or conditional access; mailward evaluates both
//! and the stricter wins ([`combine`]), so importing one narrow policy never silently ends
//! MFA for everyone else. The result is logged as a pseudo-policy, [`ID`] / [`NAME`].

use crate::context::SignInContext;
use crate::evaluate::{Decision, RequiredControls};
use mailward_types::ErrorCode;
use mailward_types::model::{Amr, ClientAppType};
use mailward_types::records::PolicyOutcome;

/// Id of the pseudo-policy in the sign-in log and What-If.
pub const ID: &str = "securityDefaults";
/// Its display name, as Entra shows it.
pub const NAME: &str = "Security defaults";

/// Security defaults, when on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityDefaults {
    /// Client app types on which every user must do MFA.
    pub mfa_client_app_types: Vec<ClientAppType>,
}

impl SecurityDefaults {
    /// MFA for everyone on every client app type (the default rule).
    pub fn everyone() -> Self {
        SecurityDefaults {
            mfa_client_app_types: vec![
                ClientAppType::Browser,
                ClientAppType::MobileAppsAndDesktopClients,
                ClientAppType::ExchangeActiveSync,
                ClientAppType::Other,
            ],
        }
    }

    /// Whether a sign-in of this kind must do MFA.
    pub fn requires_mfa(&self, admin: bool, client_app_type: ClientAppType) -> bool {
        client_app_type != ClientAppType::ServicePrincipal
            && (admin || self.mfa_client_app_types.contains(&client_app_type))
    }

    /// The baseline's decision for a sign-in, and its sign-in log entry.
    pub fn evaluate(&self, ctx: &SignInContext) -> (Decision, PolicyOutcome) {
        let user = match ctx.client_app_type {
            ClientAppType::ServicePrincipal => None,
            _ => ctx.user.as_ref(),
        };
        let Some(user) = user else {
            return (Decision::Allow, outcome("notApplied", vec![]));
        };
        if !self.requires_mfa(!user.roles.is_empty(), ctx.client_app_type) {
            return (Decision::Allow, outcome("notApplied", vec![]));
        }
        let done = ctx.amr.contains(&Amr::Mfa) || ctx.mfa_time.is_some();
        let controls = vec!["mfa".to_string()];
        if done {
            return (Decision::Allow, outcome("success", controls));
        }
        let decision = match ctx.client_app_type {
            ClientAppType::ExchangeActiveSync | ClientAppType::Other => Decision::Block {
                policies: vec![ID.to_string()],
                code: ErrorCode::MfaRequired,
            },
            _ => Decision::RequireControls(RequiredControls {
                mfa: true,
                ..RequiredControls::default()
            }),
        };
        (decision, outcome("failure", controls))
    }
}

fn outcome(result: &str, controls: Vec<String>) -> PolicyOutcome {
    PolicyOutcome {
        id: ID.to_string(),
        display_name: NAME.to_string(),
        result: result.to_string(),
        enforced_grant_controls: controls,
        enforced_session_controls: vec![],
    }
}

/// The stricter of two decisions: a block wins (the first one's code, both lists of
/// blocking policies); otherwise every required control of either is required.
pub fn combine(first: Decision, second: Decision) -> Decision {
    match (first, second) {
        (Decision::Block { mut policies, code }, Decision::Block { policies: more, .. }) => {
            policies.extend(more);
            Decision::Block { policies, code }
        }
        (b @ Decision::Block { .. }, _) | (_, b @ Decision::Block { .. }) => b,
        (Decision::RequireControls(a), Decision::RequireControls(b)) => {
            Decision::RequireControls(RequiredControls {
                mfa: a.mfa || b.mfa,
                phishing_resistant: a.phishing_resistant || b.phishing_resistant,
                password_change: a.password_change || b.password_change,
                reauthentication: a.reauthentication || b.reauthentication,
            })
        }
        (r @ Decision::RequireControls(_), Decision::Allow)
        | (Decision::Allow, r @ Decision::RequireControls(_)) => r,
        (Decision::Allow, Decision::Allow) => Decision::Allow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::UserFacts;
    use mailward_types::model::Role;
    use uuid::Uuid;

    fn check(sd: &SecurityDefaults, roles: &[Role], cat: ClientAppType, mfa: bool, want: &str) {
        let mut user = UserFacts::member(Uuid::nil());
        user.roles = roles.to_vec();
        let mut ctx = SignInContext::new(user, "app", cat);
        ctx.amr = if mfa {
            vec![Amr::Pwd, Amr::Otp, Amr::Mfa]
        } else {
            vec![Amr::Pwd]
        };
        let (d, o) = sd.evaluate(&ctx);
        let got = match d {
            Decision::Allow => "allow",
            Decision::RequireControls(c) if c.mfa => "mfa",
            Decision::RequireControls(_) => "controls",
            Decision::Block {
                code: ErrorCode::MfaRequired,
                ..
            } => "block50076",
            Decision::Block { .. } => "block",
        };
        assert_eq!(got, want, "{roles:?} {cat:?} mfa={mfa} ({})", o.result);
        assert_eq!(o.id, ID);
    }

    #[test]
    fn table() {
        use ClientAppType::*;
        let everyone = SecurityDefaults::everyone();
        let none = SecurityDefaults {
            mfa_client_app_types: vec![],
        };
        let modern = SecurityDefaults {
            mfa_client_app_types: vec![Browser, MobileAppsAndDesktopClients],
        };
        let ga = [Role::GlobalAdministrator];
        let reader = [Role::GlobalReader];
        check(&everyone, &[], Browser, false, "mfa");
        check(&everyone, &[], Browser, true, "allow");
        check(&everyone, &[], MobileAppsAndDesktopClients, false, "mfa");
        check(&everyone, &[], Other, false, "block50076");
        check(&everyone, &[], ExchangeActiveSync, false, "block50076");
        check(&everyone, &[], ServicePrincipal, false, "allow");
        check(&none, &[], Browser, false, "allow");
        check(&none, &[], Other, false, "allow");
        check(&none, &ga, Browser, false, "mfa");
        check(&none, &ga, Browser, true, "allow");
        check(&none, &ga, Other, false, "block50076");
        check(&none, &reader, MobileAppsAndDesktopClients, false, "mfa");
        check(&modern, &[], Browser, false, "mfa");
        check(&modern, &[], Other, false, "allow");
        check(&modern, &[], ExchangeActiveSync, false, "allow");
        check(&modern, &ga, ExchangeActiveSync, false, "block50076");
    }

    #[test]
    fn combine_keeps_the_stricter() {
        let mfa = Decision::RequireControls(RequiredControls {
            mfa: true,
            ..Default::default()
        });
        let phish = Decision::RequireControls(RequiredControls {
            phishing_resistant: true,
            ..Default::default()
        });
        let block = |id: &str, code| Decision::Block {
            policies: vec![id.into()],
            code,
        };
        assert_eq!(combine(Decision::Allow, Decision::Allow), Decision::Allow);
        assert_eq!(combine(Decision::Allow, mfa.clone()), mfa);
        assert_eq!(combine(mfa.clone(), Decision::Allow), mfa);
        assert_eq!(
            combine(phish.clone(), mfa.clone()),
            Decision::RequireControls(RequiredControls {
                mfa: true,
                phishing_resistant: true,
                ..Default::default()
            })
        );
        assert_eq!(
            combine(mfa.clone(), block("p", ErrorCode::BlockedByPolicy)),
            block("p", ErrorCode::BlockedByPolicy)
        );
        assert_eq!(
            combine(
                block("p", ErrorCode::BlockedByPolicy),
                block(ID, ErrorCode::MfaRequired)
            ),
            Decision::Block {
                policies: vec!["p".into(), ID.into()],
                code: ErrorCode::BlockedByPolicy
            }
        );
    }
}
