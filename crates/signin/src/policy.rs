//! The policy step of a sign-in: a pure decision from the sign-in context. This is the
//! single configurable rule ("require MFA for everyone", or for some client app types);
//! conditional access replaces it with Graph-compatible policies behind the same shape.

use mailward_types::ErrorCode;
use mailward_types::model::{Amr, ClientAppType};
use mailward_types::records::PolicyOutcome;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// `[identity.policy] require_mfa`: `"everyone"`, `"none"`, or a list of client app types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MfaRule {
    Keyword(MfaKeyword),
    ClientAppTypes(Vec<ClientAppType>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MfaKeyword {
    Everyone,
    None,
}

impl Default for MfaRule {
    fn default() -> Self {
        MfaRule::Keyword(MfaKeyword::Everyone)
    }
}

impl MfaRule {
    fn applies_to(&self, cat: ClientAppType) -> bool {
        match self {
            MfaRule::Keyword(MfaKeyword::Everyone) => true,
            MfaRule::Keyword(MfaKeyword::None) => false,
            MfaRule::ClientAppTypes(list) => list.contains(&cat),
        }
    }
}

/// What the policy step knows about the sign-in.
#[derive(Debug, Clone)]
pub struct PolicyContext {
    pub user_id: Uuid,
    pub app_id: String,
    pub client_app_type: ClientAppType,
    pub ip: Option<std::net::IpAddr>,
    /// Methods used so far in this sign-in (or in the session / token being refreshed).
    pub amr: Vec<Amr>,
    /// When MFA was last completed for this session, if ever.
    pub mfa_time: Option<OffsetDateTime>,
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A second factor is required (and not yet satisfied).
    RequireMfa,
    Block(ErrorCode),
}

/// The policy step's answer with what to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyResult {
    pub decision: Decision,
    pub outcomes: Vec<PolicyOutcome>,
}

/// Id and name the single rule uses in the sign-in log.
pub const RULE_ID: &str = "mailward-default-mfa-rule";

/// Evaluates the rule. MFA already done in this session satisfies it; a client that cannot
/// do MFA at all (legacy `other`, relayed basic auth) is blocked instead of prompted.
pub fn decide(rule: &MfaRule, ctx: &PolicyContext) -> PolicyResult {
    if ctx.client_app_type == ClientAppType::ServicePrincipal
        || !rule.applies_to(ctx.client_app_type)
    {
        return PolicyResult {
            decision: Decision::Allow,
            outcomes: vec![outcome("notApplied", vec![])],
        };
    }
    let satisfied = ctx.amr.contains(&Amr::Mfa) || ctx.mfa_time.is_some();
    let decision = if satisfied {
        Decision::Allow
    } else if ctx.client_app_type == ClientAppType::Other {
        Decision::Block(ErrorCode::MfaRequired)
    } else {
        Decision::RequireMfa
    };
    let result = match decision {
        Decision::Allow => "success",
        _ => "failure",
    };
    PolicyResult {
        decision,
        outcomes: vec![outcome(result, vec!["mfa".to_string()])],
    }
}

fn outcome(result: &str, controls: Vec<String>) -> PolicyOutcome {
    PolicyOutcome {
        id: RULE_ID.to_string(),
        display_name: "Require multifactor authentication (configured rule)".to_string(),
        result: result.to_string(),
        enforced_grant_controls: controls,
        enforced_session_controls: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(cat: ClientAppType, amr: &[Amr]) -> PolicyContext {
        PolicyContext {
            user_id: Uuid::nil(),
            app_id: "app".into(),
            client_app_type: cat,
            ip: None,
            amr: amr.to_vec(),
            mfa_time: None,
        }
    }

    #[test]
    fn table() {
        use ClientAppType::*;
        let everyone = MfaRule::default();
        let none = MfaRule::Keyword(MfaKeyword::None);
        let desktop = MfaRule::ClientAppTypes(vec![MobileAppsAndDesktopClients]);
        let cases = [
            (&everyone, Browser, vec![Amr::Pwd], Decision::RequireMfa),
            (
                &everyone,
                Browser,
                vec![Amr::Pwd, Amr::Otp, Amr::Mfa],
                Decision::Allow,
            ),
            (
                &everyone,
                Other,
                vec![Amr::Pwd],
                Decision::Block(ErrorCode::MfaRequired),
            ),
            (&everyone, ServicePrincipal, vec![], Decision::Allow),
            (&none, Browser, vec![Amr::Pwd], Decision::Allow),
            (&none, Other, vec![Amr::Pwd], Decision::Allow),
            (&desktop, Browser, vec![Amr::Pwd], Decision::Allow),
            (
                &desktop,
                MobileAppsAndDesktopClients,
                vec![Amr::Pwd],
                Decision::RequireMfa,
            ),
        ];
        for (rule, cat, amr, want) in cases {
            assert_eq!(
                decide(rule, &ctx(cat, &amr)).decision,
                want,
                "{rule:?} {cat:?} {amr:?}"
            );
        }
    }

    #[test]
    fn rule_parses_from_config_values() {
        let r: MfaRule = serde_json::from_str("\"everyone\"").unwrap();
        assert_eq!(r, MfaRule::Keyword(MfaKeyword::Everyone));
        let r: MfaRule =
            serde_json::from_str("[\"browser\",\"mobileAppsAndDesktopClients\"]").unwrap();
        assert_eq!(
            r,
            MfaRule::ClientAppTypes(vec![
                ClientAppType::Browser,
                ClientAppType::MobileAppsAndDesktopClients
            ])
        );
        assert!(serde_json::from_str::<MfaRule>("\"sometimes\"").is_err());
    }
}
