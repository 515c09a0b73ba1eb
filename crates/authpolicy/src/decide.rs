//! [`decide`]: may this user authenticate to this protocol with this method?
//!
//! Exchange's semantics:
//! - The policy assigned to the user applies; without one, the organization default; a
//!   user's policy replaces the default entirely, switches are never merged.
//! - No policy at all: allowed, as in Exchange (Exchange Online without a policy lets basic
//!   authentication through unless security defaults are on). `mailward up` therefore
//!   creates an organization default with [`AuthenticationPolicy::block_all_basic`], so the
//!   secure setting is the default one.
//! - Cloud flavour: basic only where `AllowBasicAuth<Protocol>` is on; modern
//!   authentication is never refused by an authentication policy (conditional access
//!   governs it).
//! - On-premises flavour: basic is refused where `BlockLegacyAuth<Protocol>` is on, modern
//!   where `BlockModernAuth<Protocol>` is on. Protocols without on-premises switches
//!   (SMTP, REST, Outlook Service, PowerShell, Reporting Web Services) cannot be refused by
//!   an on-premises policy: Exchange 2019 governs them elsewhere (receive connectors,
//!   virtual directories), and so must the caller ([`Protocol::has_on_premises_switches`]).
//!
//! The [`Reason`] names the policy, how it was assigned and the deciding switch, for logs.
//! It is not for clients: they get the protocol's generic failure.

use std::fmt;

use crate::Protocol;
use crate::policy::{AuthenticationPolicy, PolicyName};
use crate::switch::{Switch, SwitchKind};

/// Which set of switches applies: Exchange Online's or Exchange Server 2019's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavour {
    /// `AllowBasicAuth<Protocol>`.
    Cloud,
    /// `BlockLegacyAuth<Protocol>` and `BlockModernAuth<Protocol>`.
    OnPremises,
}

/// How the client authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Any legacy method: a password in `PLAIN`, `LOGIN`, `USER`/`PASS`, IMAP `LOGIN`,
    /// HTTP Basic (Exchange's on-premises switches also cover Digest and Windows
    /// authentication).
    Basic,
    /// OAuth bearer tokens (`XOAUTH2`, `OAUTHBEARER`, `Authorization: Bearer`).
    Modern,
}

/// How the deciding policy reached the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Assignment {
    /// `Set-User -AuthenticationPolicy`.
    User,
    /// `Set-OrganizationConfig -DefaultAuthenticationPolicy`.
    OrganizationDefault,
}

impl fmt::Display for Assignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Assignment::User => "assigned to the user",
            Assignment::OrganizationDefault => "organization default",
        })
    }
}

/// The outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(Reason),
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }
}

/// Which policy and which switch refused, for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub policy: PolicyName,
    pub assignment: Assignment,
    /// `AllowBasicAuth<P>` (off), `BlockLegacyAuth<P>` or `BlockModernAuth<P>` (on).
    pub switch: Switch,
}

impl Reason {
    /// A stable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self.switch.kind() {
            SwitchKind::AllowBasicAuth => "AUTHPOLICY_BASIC_NOT_ALLOWED",
            SwitchKind::BlockLegacyAuth => "AUTHPOLICY_LEGACY_BLOCKED",
            SwitchKind::BlockModernAuth => "AUTHPOLICY_MODERN_BLOCKED",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.switch.kind() {
            SwitchKind::AllowBasicAuth => "is off",
            SwitchKind::BlockLegacyAuth | SwitchKind::BlockModernAuth => "is on",
        };
        write!(
            f,
            "{}: authentication policy {:?} ({}): {} {}",
            self.code(),
            self.policy.as_str(),
            self.assignment,
            self.switch,
            state
        )
    }
}

/// The policy that applies to a user: theirs, else the organization default.
pub fn effective<'a>(
    user_policy: Option<&'a AuthenticationPolicy>,
    org_default: Option<&'a AuthenticationPolicy>,
) -> Option<(&'a AuthenticationPolicy, Assignment)> {
    match (user_policy, org_default) {
        (Some(p), _) => Some((p, Assignment::User)),
        (None, Some(p)) => Some((p, Assignment::OrganizationDefault)),
        (None, None) => None,
    }
}

/// Decides one authentication attempt (see the module documentation for the rules).
pub fn decide(
    user_policy: Option<&AuthenticationPolicy>,
    org_default: Option<&AuthenticationPolicy>,
    flavour: Flavour,
    protocol: Protocol,
    method: Method,
) -> Decision {
    let Some((policy, assignment)) = effective(user_policy, org_default) else {
        return Decision::Allow;
    };
    let (kind, denied_when_on) = match (flavour, method) {
        (Flavour::Cloud, Method::Modern) => return Decision::Allow,
        (Flavour::Cloud, Method::Basic) => (SwitchKind::AllowBasicAuth, false),
        (Flavour::OnPremises, Method::Basic) => (SwitchKind::BlockLegacyAuth, true),
        (Flavour::OnPremises, Method::Modern) => (SwitchKind::BlockModernAuth, true),
    };
    // No switch of this kind for the protocol: nothing in the policy can refuse it.
    let Some(switch) = Switch::new(kind, protocol) else {
        return Decision::Allow;
    };
    if policy.get(switch) == denied_when_on {
        Decision::Deny(Reason {
            policy: policy.name().clone(),
            assignment,
            switch,
        })
    } else {
        Decision::Allow
    }
}
