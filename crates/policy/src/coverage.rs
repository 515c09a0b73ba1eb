//! The coverage check: What-If over every user × application × client app type, asking
//! where a password alone is enough. It answers which users and applications no enabled
//! policy (nor the security defaults) requires MFA for, whether legacy clients
//! (`exchangeActiveSync`, `other`) are blocked, and whether an administrator can sign in
//! with a password alone.
//!
//! Each sign-in is evaluated as an attacker holding only the password would make it: first
//! factor only, no MFA on record, from an unknown IP (no named location, so not trusted),
//! an unknown country and an unknown platform, with no risk signal. A policy scoped to a
//! location or platform therefore counts only where it also covers the unknown ones.
//! Report-only and disabled policies never count.

use crate::baseline::{self, SecurityDefaults};
use crate::compile::PolicySet;
use crate::context::{SignInContext, UserFacts};
use crate::evaluate::Decision;
use mailward_types::model::{Amr, ClientAppType};
use time::OffsetDateTime;

/// The client app types a user signs in with, modern first.
pub const CLIENT_APP_TYPES: [ClientAppType; 4] = [
    ClientAppType::Browser,
    ClientAppType::MobileAppsAndDesktopClients,
    ClientAppType::ExchangeActiveSync,
    ClientAppType::Other,
];

/// What a password alone gets for one user, application and client app type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// A second factor is required.
    Mfa,
    Blocked,
    /// The password alone signs in.
    PasswordOnly,
}

/// A sign-in a password alone completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hole {
    /// Index into the users given to [`check`].
    pub user: usize,
    /// Index into the application ids given to [`check`].
    pub app: usize,
    pub client_app_type: ClientAppType,
}

/// The result of [`check`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Every sign-in a password alone completes, by user, then application, then client
    /// app type.
    pub holes: Vec<Hole>,
}

impl Coverage {
    /// Users with a modern-client sign-in (browser, mobile/desktop) that needs no MFA.
    pub fn users_without_mfa(&self) -> Vec<usize> {
        dedup(
            self.holes
                .iter()
                .filter(|h| !legacy(h.client_app_type))
                .map(|h| h.user),
        )
    }

    /// Applications some user reaches from a modern client without MFA.
    pub fn apps_without_mfa(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .holes
            .iter()
            .filter(|h| !legacy(h.client_app_type))
            .map(|h| h.app)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Users a legacy client of this type signs in for.
    pub fn legacy_open(&self, client_app_type: ClientAppType) -> Vec<usize> {
        dedup(
            self.holes
                .iter()
                .filter(|h| h.client_app_type == client_app_type)
                .map(|h| h.user),
        )
    }

    /// Holes of the users for whom `is_admin` holds.
    pub fn admin_holes<'a>(&'a self, is_admin: impl Fn(usize) -> bool + 'a) -> Vec<Hole> {
        self.holes
            .iter()
            .filter(|h| is_admin(h.user))
            .copied()
            .collect()
    }
}

fn legacy(c: ClientAppType) -> bool {
    matches!(c, ClientAppType::ExchangeActiveSync | ClientAppType::Other)
}

fn dedup(it: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut v: Vec<usize> = it.collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// What a password alone gets for one sign-in.
pub fn exposure(
    set: &PolicySet,
    security_defaults: Option<&SecurityDefaults>,
    ctx: &SignInContext,
    now: OffsetDateTime,
) -> Exposure {
    let mut decision = set.evaluate(ctx, now).decision;
    if let Some(sd) = security_defaults {
        decision = baseline::combine(decision, sd.evaluate(ctx).0);
    }
    match decision {
        Decision::Block { .. } => Exposure::Blocked,
        // Legacy clients cannot prompt: anything short of a block lets them in.
        _ if legacy(ctx.client_app_type) => Exposure::PasswordOnly,
        Decision::RequireControls(c) if c.mfa || c.phishing_resistant => Exposure::Mfa,
        Decision::RequireControls(_) | Decision::Allow => Exposure::PasswordOnly,
    }
}

/// Evaluates every user × application × client app type (see the module doc).
pub fn check(
    set: &PolicySet,
    security_defaults: Option<&SecurityDefaults>,
    users: &[UserFacts],
    app_ids: &[String],
    now: OffsetDateTime,
) -> Coverage {
    let mut holes = Vec::new();
    for (u, user) in users.iter().enumerate() {
        for (a, app) in app_ids.iter().enumerate() {
            for cat in CLIENT_APP_TYPES {
                let mut ctx = SignInContext::new(user.clone(), app.clone(), cat);
                ctx.amr = vec![Amr::Pwd];
                if exposure(set, security_defaults, &ctx, now) == Exposure::PasswordOnly {
                    holes.push(Hole {
                        user: u,
                        app: a,
                        client_app_type: cat,
                    });
                }
            }
        }
    }
    Coverage { holes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Config;
    use crate::import::import_policy;
    use mailward_types::model::Role;
    use serde_json::{Value, json};
    use uuid::Uuid;

    const MAIL: &str = "00000002-0000-0ff1-ce00-000000000000";
    const OTHER_APP: &str = "11111111-2222-3333-4444-555555555555";

    fn policy(id: u8, users: Value, apps: Value, clients: Value, grant: &str) -> Value {
        json!({
            "id": format!("00000000-0000-0000-0000-0000000000{id:02}"),
            "displayName": format!("p{id}"),
            "state": "enabled",
            "conditions": {
                "users": users,
                "applications": { "includeApplications": apps },
                "clientAppTypes": clients,
            },
            "grantControls": { "operator": "OR", "builtInControls": [grant] },
        })
    }

    fn set(policies: &[Value]) -> PolicySet {
        let ps: Vec<_> = policies
            .iter()
            .map(|p| import_policy(p.to_string().as_bytes()).expect("valid policy"))
            .collect();
        PolicySet::compile(&ps, &[], &Config::default()).expect("compiles")
    }

    fn user(n: u128, roles: &[Role], groups: &[Uuid]) -> UserFacts {
        let mut u = UserFacts::member(Uuid::from_u128(n));
        u.roles = roles.to_vec();
        u.groups = groups.to_vec();
        u
    }

    /// Holes as `(user, app, client app type)` strings, for one-line comparisons.
    fn holes(policies: &[Value], sd: Option<SecurityDefaults>, users: &[UserFacts]) -> Vec<String> {
        let apps = vec![MAIL.to_string(), OTHER_APP.to_string()];
        let c = check(
            &set(policies),
            sd.as_ref(),
            users,
            &apps,
            OffsetDateTime::UNIX_EPOCH,
        );
        c.holes
            .iter()
            .map(|h| format!("u{} a{} {}", h.user, h.app, h.client_app_type.as_str()))
            .collect()
    }

    fn all_holes(users: usize) -> Vec<String> {
        let mut v = vec![];
        for u in 0..users {
            for a in 0..2 {
                for c in CLIENT_APP_TYPES {
                    v.push(format!("u{u} a{a} {}", c.as_str()));
                }
            }
        }
        v
    }

    #[test]
    fn nothing_at_all_leaves_everything_open() {
        assert_eq!(holes(&[], None, &[user(1, &[], &[])]), all_holes(1));
    }

    #[test]
    fn security_defaults_alone_cover_everyone() {
        let users = [
            user(1, &[], &[]),
            user(2, &[Role::GlobalAdministrator], &[]),
        ];
        assert!(holes(&[], Some(SecurityDefaults::everyone()), &users).is_empty());
    }

    #[test]
    fn a_narrow_rule_leaves_legacy_open_for_users_but_not_admins() {
        let modern = SecurityDefaults {
            mfa_client_app_types: vec![
                ClientAppType::Browser,
                ClientAppType::MobileAppsAndDesktopClients,
            ],
        };
        let users = [user(1, &[], &[]), user(2, &[Role::UserAdministrator], &[])];
        assert_eq!(
            holes(&[], Some(modern), &users),
            vec![
                "u0 a0 exchangeActiveSync",
                "u0 a0 other",
                "u0 a1 exchangeActiveSync",
                "u0 a1 other",
            ]
        );
    }

    #[test]
    fn one_narrow_policy_without_security_defaults() {
        let sales = Uuid::from_u128(99);
        let p = policy(
            1,
            json!({ "includeGroups": [sales.to_string()] }),
            json!(["All"]),
            json!(["all"]),
            "mfa",
        );
        let users = [
            user(1, &[], &[sales]),
            user(2, &[Role::GlobalAdministrator], &[]),
        ];
        let h = holes(std::slice::from_ref(&p), None, &users);
        // Sales: MFA on modern clients, and legacy blocked (it cannot do MFA); the admin
        // is wide open.
        assert_eq!(h, all_holes(2)[8..].to_vec());
        let c = check(
            &set(&[p]),
            None,
            &users,
            &[MAIL.to_string(), OTHER_APP.to_string()],
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(c.users_without_mfa(), vec![1]);
        assert_eq!(c.apps_without_mfa(), vec![0, 1]);
        assert_eq!(c.legacy_open(ClientAppType::Other), vec![1]);
        assert_eq!(c.admin_holes(|u| u == 1).len(), 8);
        // The same policy with security defaults on: nothing open.
        assert!(
            holes(
                &[policy(
                    1,
                    json!({ "includeGroups": [sales.to_string()] }),
                    json!(["All"]),
                    json!(["all"]),
                    "mfa"
                )],
                Some(SecurityDefaults::everyone()),
                &users
            )
            .is_empty()
        );
    }

    #[test]
    fn policies_covering_everything_without_security_defaults() {
        let mfa = policy(
            1,
            json!({ "includeUsers": ["All"] }),
            json!(["All"]),
            json!(["browser", "mobileAppsAndDesktopClients"]),
            "mfa",
        );
        let block = policy(
            2,
            json!({ "includeUsers": ["All"] }),
            json!(["All"]),
            json!(["exchangeActiveSync", "other"]),
            "block",
        );
        let users = [
            user(1, &[], &[]),
            user(2, &[Role::GlobalAdministrator], &[]),
        ];
        assert!(holes(&[mfa.clone(), block], None, &users).is_empty());
        // Without the block policy legacy clients get in on a password.
        assert_eq!(
            holes(&[mfa], None, &users[..1]),
            vec![
                "u0 a0 exchangeActiveSync",
                "u0 a0 other",
                "u0 a1 exchangeActiveSync",
                "u0 a1 other",
            ]
        );
    }

    #[test]
    fn one_app_and_excluded_users_are_holes() {
        let p = policy(
            1,
            json!({ "includeUsers": ["All"], "excludeUsers": [Uuid::from_u128(2).to_string()] }),
            json!([MAIL]),
            json!(["all"]),
            "mfa",
        );
        let users = [user(1, &[], &[]), user(2, &[], &[])];
        let mut want: Vec<String> = all_holes(1)[4..].to_vec();
        want.extend(all_holes(2)[8..].to_vec());
        assert_eq!(holes(&[p], None, &users), want);
    }

    #[test]
    fn report_only_does_not_count() {
        let mut p = policy(
            1,
            json!({ "includeUsers": ["All"] }),
            json!(["All"]),
            json!(["all"]),
            "mfa",
        );
        p["state"] = json!("enabledForReportingButNotEnforced");
        assert_eq!(holes(&[p], None, &[user(1, &[], &[])]), all_holes(1));
    }
}
