//! `mailward up --demo`: seeds the conditional access policies the scenarios of DESIGN.md
//! need, through the same admin API an administrator would use (so they are validated like
//! any import). Idempotent: each policy has a fixed id and is created only when missing, so
//! an admin's later edits survive restarts.

use crate::admin::Transport;
use reqwest::Method;
use serde_json::{Value, json};

/// Global Administrator's role template id, as Graph policies name roles.
const GLOBAL_ADMIN_TEMPLATE: &str = "62e90394-69f5-4237-9190-012177145e10";

fn policy(id: &str, name: &str, conditions: Value, grant: Value) -> Value {
    json!({
        "id": id,
        "displayName": name,
        "state": "enabled",
        "conditions": conditions,
        "grantControls": grant,
    })
}

/// The demo policies.
pub fn policies() -> Vec<Value> {
    let mfa = json!({ "operator": "OR", "builtInControls": ["mfa"] });
    vec![
        policy(
            "6f3c1a52-0d1e-4b7a-9c3e-5a8d2e7f1b01",
            "Require MFA for mail from desktop and mobile apps",
            json!({
                "users": { "includeUsers": ["All"] },
                "applications": { "includeApplications": ["Office365"] },
                "clientAppTypes": ["mobileAppsAndDesktopClients"],
            }),
            mfa.clone(),
        ),
        policy(
            "6f3c1a52-0d1e-4b7a-9c3e-5a8d2e7f1b02",
            "Require MFA for browsers",
            json!({
                "users": { "includeUsers": ["All"] },
                "applications": { "includeApplications": ["All"] },
                "clientAppTypes": ["browser"],
            }),
            mfa.clone(),
        ),
        policy(
            "6f3c1a52-0d1e-4b7a-9c3e-5a8d2e7f1b03",
            "Block legacy authentication",
            json!({
                "users": { "includeUsers": ["All"] },
                "applications": { "includeApplications": ["All"] },
                "clientAppTypes": ["exchangeActiveSync", "other"],
            }),
            json!({ "operator": "OR", "builtInControls": ["block"] }),
        ),
        policy(
            "6f3c1a52-0d1e-4b7a-9c3e-5a8d2e7f1b04",
            "Require MFA for administrators",
            json!({
                "users": { "includeRoles": [GLOBAL_ADMIN_TEMPLATE] },
                "applications": { "includeApplications": ["All"] },
                "clientAppTypes": ["all"],
            }),
            mfa,
        ),
    ]
}

/// Creates the demo policies that do not exist yet; returns the names created.
pub async fn seed(t: &Transport) -> anyhow::Result<Vec<String>> {
    let mut created = Vec::new();
    for p in policies() {
        let id = p["id"].as_str().unwrap_or_default();
        let path = format!("/v1.0/identity/conditionalAccess/policies/{id}");
        match t.call(Method::GET, &path, None).await {
            Ok(_) => continue,
            Err(e)
                if e.downcast_ref::<crate::admin::ApiError>()
                    .is_some_and(|a| a.status == 404) => {}
            Err(e) => return Err(e),
        }
        t.call(
            Method::POST,
            "/v1.0/identity/conditionalAccess/policies",
            Some(p.clone()),
        )
        .await?;
        created.push(p["displayName"].as_str().unwrap_or_default().to_string());
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_policies_import_cleanly() {
        for p in super::policies() {
            let text = p.to_string();
            if let Err(e) = mailward_policy::import_policy(text.as_bytes()) {
                panic!("{}: {e}", p["displayName"]);
            }
        }
    }
}
