//! `mailward ca …`: conditional access from the command line, over the same Graph-shaped
//! admin API the web pages and remote tools use (in-process on a local data directory, or
//! over HTTPS with `--remote`).

use crate::admin::{ApiError, Transport, enc, print_json, s, since_param, table};
use crate::cli::{CaCmd, WhatIfArgs};
use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Value, json};

const POLICIES: &str = "/v1.0/identity/conditionalAccess/policies";
const LOCATIONS: &str = "/v1.0/identity/conditionalAccess/namedLocations";
const SECURITY_DEFAULTS: &str = "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy";
const COVERAGE: &str = "/v1.0/identity/conditionalAccess/coverage";

pub async fn run(t: &Transport, cmd: CaCmd, json_out: bool) -> anyhow::Result<()> {
    match cmd {
        CaCmd::List => list(t, json_out).await,
        CaCmd::Locations => locations(t, json_out).await,
        CaCmd::Show { id } => {
            let v = match t
                .call(Method::GET, &format!("{POLICIES}/{}", enc(&id)), None)
                .await
            {
                Ok(v) => v,
                Err(e) if is_not_found(&e) => t
                    .call(Method::GET, &format!("{LOCATIONS}/{}", enc(&id)), None)
                    .await
                    .with_context(|| format!("no policy or named location '{id}'"))?,
                Err(e) => return Err(e),
            };
            print_json(&v);
            Ok(())
        }
        CaCmd::Import { file, replace } => import(t, &file, replace).await,
        CaCmd::Export => {
            let locations = t.call(Method::GET, LOCATIONS, None).await?;
            let policies = t.call(Method::GET, POLICIES, None).await?;
            print_json(&json!({
                "namedLocations": locations["value"],
                "policies": policies["value"],
            }));
            Ok(())
        }
        CaCmd::SetState { id, state } => {
            let graph = match state.as_str() {
                "enabled" | "on" => "enabled",
                "disabled" | "off" => "disabled",
                "report-only" | "reportOnly" | "enabledForReportingButNotEnforced" => {
                    "enabledForReportingButNotEnforced"
                }
                other => bail!("unknown state '{other}': use enabled, disabled or report-only"),
            };
            t.call(
                Method::PATCH,
                &format!("{POLICIES}/{}", enc(&id)),
                Some(json!({ "state": graph })),
            )
            .await?;
            println!("policy {id} is now {graph}");
            Ok(())
        }
        CaCmd::Delete { id } => {
            match t
                .call(Method::DELETE, &format!("{POLICIES}/{}", enc(&id)), None)
                .await
            {
                Ok(_) => println!("deleted policy {id}"),
                Err(e) if is_not_found(&e) => {
                    // A location still in use answers 409 with the policies' names.
                    t.call(Method::DELETE, &format!("{LOCATIONS}/{}", enc(&id)), None)
                        .await?;
                    println!("deleted named location {id}");
                }
                Err(e) => return Err(e),
            }
            Ok(())
        }
        CaCmd::Whatif(args) => what_if(t, args, json_out).await,
        CaCmd::Backtest { policy, since } => backtest(t, &policy, &since, json_out).await,
        CaCmd::SecurityDefaults { action } => security_defaults(t, &action, json_out).await,
        CaCmd::Coverage => coverage(t, json_out).await,
    }
}

async fn security_defaults(t: &Transport, action: &str, json_out: bool) -> anyhow::Result<()> {
    let v = match action {
        "on" | "off" => {
            let on = action == "on";
            if !on {
                eprintln!(
                    "warning: {}",
                    mailward_identity::conditional_access::SECURITY_DEFAULTS_OFF_WARNING
                );
            }
            t.call(
                Method::PATCH,
                SECURITY_DEFAULTS,
                Some(json!({ "isEnabled": on })),
            )
            .await?
        }
        _ => t.call(Method::GET, SECURITY_DEFAULTS, None).await?,
    };
    if json_out {
        print_json(&v);
        return Ok(());
    }
    if v["isEnabled"] == json!(true) {
        println!(
            "Security defaults are on: MFA for everyone on the client app types \
             [identity.policy] require_mfa names, MFA for administrators always, legacy \
             clients blocked wherever MFA is required of them; in addition to the \
             conditional access policies."
        );
    } else {
        println!(
            "Security defaults are off: only the conditional access policies protect \
             sign-ins. `mailward ca coverage` shows where a password alone signs in."
        );
    }
    Ok(())
}

fn hole_list(u: &Value) -> String {
    let mut by_app: Vec<(String, Vec<String>)> = Vec::new();
    for h in u["signIns"].as_array().into_iter().flatten() {
        let app = s(&h["displayName"]);
        let cat = s(&h["clientAppType"]);
        match by_app.iter_mut().find(|(a, _)| *a == app) {
            Some((_, cats)) => cats.push(cat),
            None => by_app.push((app, vec![cat])),
        }
    }
    by_app
        .into_iter()
        .map(|(a, c)| format!("{a} ({})", c.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn coverage(t: &Transport, json_out: bool) -> anyhow::Result<()> {
    let v = t.call(Method::GET, COVERAGE, None).await?;
    if json_out {
        print_json(&v);
        return Ok(());
    }
    println!(
        "Security defaults: {}; enabled policies: {}; {} users × {} applications checked \
         (a password-only sign-in from an unknown location and platform).",
        if v["securityDefaultsEnabled"] == json!(true) {
            "on"
        } else {
            "off"
        },
        s(&v["enabledPolicies"]),
        s(&v["usersChecked"]),
        v["applicationsChecked"].as_array().map_or(0, Vec::len),
    );
    println!();
    let users = v["usersWithoutMfa"].as_array().cloned().unwrap_or_default();
    if users.is_empty() {
        println!(
            "MFA: required for every user and application (browser, mobile and desktop apps)."
        );
    } else {
        println!("Users no enabled policy requires MFA for:");
        let mut rows = vec![vec!["USER".into(), "WITHOUT MFA".into()]];
        for u in &users {
            rows.push(vec![s(&u["userPrincipalName"]), hole_list(u)]);
        }
        table(rows);
        let apps: Vec<String> = v["applicationsWithoutMfa"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| format!("{} ({})", s(&a["displayName"]), s(&a["appId"])))
            .collect();
        println!("Applications reachable without MFA: {}", apps.join(", "));
    }
    println!();
    for l in v["legacyClients"].as_array().into_iter().flatten() {
        let open: Vec<String> = l["openFor"]
            .as_array()
            .into_iter()
            .flatten()
            .map(s)
            .collect();
        if open.is_empty() {
            println!(
                "Legacy clients ({}): blocked for everyone.",
                s(&l["clientAppType"])
            );
        } else {
            println!(
                "Legacy clients ({}): NOT blocked for {}.",
                s(&l["clientAppType"]),
                open.join(", ")
            );
        }
    }
    println!();
    let admins = v["adminsWithPasswordOnly"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if admins.is_empty() {
        println!("Administrators: none can sign in with a password alone.");
    } else {
        println!("Administrators who can sign in with a password alone:");
        let mut rows = vec![vec!["ADMIN".into(), "ROLES".into(), "WITHOUT MFA".into()]];
        for u in &admins {
            rows.push(vec![
                s(&u["userPrincipalName"]),
                s(&u["roles"]),
                hole_list(u),
            ]);
        }
        table(rows);
    }
    Ok(())
}

/// The API answered 404.
fn is_not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ApiError>()
        .is_some_and(|a| a.status == 404)
}

fn grant_summary(p: &Value) -> String {
    let g = &p["grantControls"];
    let controls: Vec<String> = g["builtInControls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_string))
        .chain(
            g["authenticationStrength"]["displayName"]
                .as_str()
                .map(|n| format!("strength:{n}")),
        )
        .collect();
    if controls.is_empty() {
        "-".into()
    } else {
        controls.join(&format!(" {} ", s(&g["operator"])))
    }
}

fn state_label(state: &Value) -> String {
    match state.as_str() {
        Some("enabledForReportingButNotEnforced") => "report-only".into(),
        _ => s(state),
    }
}

async fn list(t: &Transport, json_out: bool) -> anyhow::Result<()> {
    let v = t.call(Method::GET, POLICIES, None).await?;
    if json_out {
        print_json(&v);
        return Ok(());
    }
    let mut rows = vec![vec![
        "ID".into(),
        "NAME".into(),
        "STATE".into(),
        "GRANT".into(),
        "MODIFIED".into(),
    ]];
    for p in v["value"].as_array().into_iter().flatten() {
        rows.push(vec![
            s(&p["id"]),
            s(&p["displayName"]),
            state_label(&p["state"]),
            grant_summary(p),
            s(&p["modifiedDateTime"]),
        ]);
    }
    table(rows);
    Ok(())
}

async fn locations(t: &Transport, json_out: bool) -> anyhow::Result<()> {
    let v = t.call(Method::GET, LOCATIONS, None).await?;
    if json_out {
        print_json(&v);
        return Ok(());
    }
    let mut rows = vec![vec![
        "ID".into(),
        "NAME".into(),
        "KIND".into(),
        "TRUSTED".into(),
        "RANGES / COUNTRIES".into(),
    ]];
    for l in v["value"].as_array().into_iter().flatten() {
        let kind = s(&l["@odata.type"]).replace("#microsoft.graph.", "");
        let what: Vec<String> = l["ipRanges"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| s(&r["cidrAddress"]))
            .chain(
                l["countriesAndRegions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(s),
            )
            .collect();
        rows.push(vec![
            s(&l["id"]),
            s(&l["displayName"]),
            kind,
            s(&l["isTrusted"]),
            what.join(","),
        ]);
    }
    table(rows);
    Ok(())
}

/// Splits an import document into named locations and policies.
fn documents(v: Value) -> anyhow::Result<(Vec<Value>, Vec<Value>)> {
    let mut locations = Vec::new();
    let mut policies = Vec::new();
    let mut items = Vec::new();
    match v {
        Value::Array(a) => items = a,
        Value::Object(mut o) => {
            if o.contains_key("policies") || o.contains_key("namedLocations") {
                for key in ["namedLocations", "policies"] {
                    if let Some(Value::Array(a)) = o.remove(key) {
                        items.extend(a);
                    }
                }
            } else if let Some(Value::Array(a)) = o.remove("value") {
                items = a;
            } else {
                items.push(Value::Object(o));
            }
        }
        _ => bail!("expected a JSON object or array"),
    }
    for item in items {
        let is_location = item["@odata.type"]
            .as_str()
            .is_some_and(|t| t.ends_with("NamedLocation"));
        if is_location {
            locations.push(item);
        } else {
            policies.push(item);
        }
    }
    Ok((locations, policies))
}

async fn import(t: &Transport, file: &std::path::Path, replace: bool) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let v: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let (locations, policies) = documents(v)?;
    if locations.is_empty() && policies.is_empty() {
        bail!("{} holds no policies or named locations", file.display());
    }
    for (base, docs, what) in [
        (LOCATIONS, &locations, "named location"),
        (POLICIES, &policies, "policy"),
    ] {
        for doc in docs {
            let name = s(&doc["displayName"]);
            let id = doc["id"].as_str().map(str::to_string);
            let exists = match &id {
                Some(id) => match t
                    .call(Method::GET, &format!("{base}/{}", enc(id)), None)
                    .await
                {
                    Ok(_) => true,
                    Err(e) if is_not_found(&e) => false,
                    Err(e) => return Err(e),
                },
                None => false,
            };
            match (&id, exists) {
                (Some(id), true) if replace => {
                    t.call(
                        Method::PATCH,
                        &format!("{base}/{}", enc(id)),
                        Some(doc.clone()),
                    )
                    .await
                    .with_context(|| format!("{what} '{name}'"))?;
                    println!("replaced {what} {id} ({name})");
                }
                (Some(id), true) => {
                    bail!("{what} {id} ({name}) already exists; pass --replace to overwrite it")
                }
                _ => {
                    let created = t
                        .call(Method::POST, base, Some(doc.clone()))
                        .await
                        .with_context(|| format!("{what} '{name}'"))?;
                    println!("imported {what} {} ({name})", s(&created["id"]));
                }
            }
        }
    }
    if let Ok(sd) = t.call(Method::GET, SECURITY_DEFAULTS, None).await
        && sd["isEnabled"] == json!(true)
    {
        println!(
            "Security defaults stay on and apply in addition to these policies \
             (`mailward ca security-defaults off` to rely on the policies alone; \
             `mailward ca coverage` to see what they cover)."
        );
    }
    Ok(())
}

async fn what_if(t: &Transport, a: WhatIfArgs, json_out: bool) -> anyhow::Result<()> {
    let mut body = json!({
        "user": a.user,
        "clientAppType": a.client_app_type,
        "mfaDone": a.mfa_done,
    });
    for (k, v) in [
        ("app", &a.app),
        ("ipAddress", &a.ip),
        ("platform", &a.platform),
        ("country", &a.country),
    ] {
        if let Some(v) = v {
            body[k] = json!(v);
        }
    }
    let v = t
        .call(
            Method::POST,
            "/v1.0/identity/conditionalAccess/whatIf",
            Some(body),
        )
        .await?;
    if json_out {
        print_json(&v);
        return Ok(());
    }
    let d = &v["decision"];
    let verdict = match d["result"].as_str() {
        Some("allow") => "allowed".to_string(),
        Some("block") => format!("blocked ({})", s(&d["errorCode"])),
        Some("requireControls") => {
            let mut need = vec![];
            for (k, label) in [
                ("mfa", "MFA"),
                ("phishingResistant", "phishing-resistant MFA"),
                ("passwordChange", "password change"),
                ("reauthentication", "fresh sign-in"),
            ] {
                if d[k] == json!(true) {
                    need.push(label);
                }
            }
            format!("allowed after {}", need.join(" + "))
        }
        _ => s(d),
    };
    println!("Result: {verdict}");
    let sd = &v["securityDefaults"];
    if sd["isEnabled"] == json!(true) {
        println!("Security defaults: on ({})", s(&sd["result"]));
    } else {
        println!("Security defaults: off");
    }
    if let Some(c) = v["country"].as_str() {
        println!("Country: {c}");
    }
    println!();
    println!("Policies that apply:");
    let mut rows = vec![vec![
        "NAME".into(),
        "STATE".into(),
        "RESULT".into(),
        "GRANT".into(),
        "SESSION".into(),
    ]];
    for p in v["applying"].as_array().into_iter().flatten() {
        rows.push(vec![
            s(&p["displayName"]),
            state_label(&p["state"]),
            s(&p["result"]),
            s(&p["grantControls"]),
            s(&p["sessionControls"]),
        ]);
    }
    table(rows);
    println!();
    println!("Policies that do not apply:");
    let mut rows = vec![vec!["NAME".into(), "STATE".into(), "EXCLUDED BY".into()]];
    for p in v["notApplying"].as_array().into_iter().flatten() {
        rows.push(vec![
            s(&p["displayName"]),
            state_label(&p["state"]),
            s(&p["reason"]),
        ]);
    }
    table(rows);
    Ok(())
}

async fn backtest(
    t: &Transport,
    file: &std::path::Path,
    since: &str,
    json_out: bool,
) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let policy: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let since = since_param(since)?;
    let v = t
        .call(
            Method::POST,
            "/v1.0/identity/conditionalAccess/backtest",
            Some(json!({ "policy": policy, "since": since })),
        )
        .await?;
    if json_out {
        print_json(&v);
        return Ok(());
    }
    println!(
        "{}: {} sign-ins since {} replayed; would block {}, would prompt {}",
        s(&v["policy"]),
        s(&v["signInsReplayed"]),
        s(&v["since"]),
        s(&v["wouldBlock"]),
        s(&v["wouldPrompt"]),
    );
    let users = v["users"].as_array().cloned().unwrap_or_default();
    if !users.is_empty() {
        println!();
        let mut rows = vec![vec![
            "USER".into(),
            "BLOCKED".into(),
            "PROMPTED".into(),
            "UNAFFECTED".into(),
        ]];
        for u in &users {
            rows.push(vec![
                s(&u["userPrincipalName"]),
                s(&u["blocked"]),
                s(&u["prompted"]),
                s(&u["unaffected"]),
            ]);
        }
        table(rows);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_documents_in_every_shape() {
        let loc = json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "l"});
        let pol = json!({"displayName": "p"});
        let (l, p) = documents(pol.clone()).expect("single");
        assert_eq!((l.len(), p.len()), (0, 1));
        let (l, p) = documents(json!([pol.clone(), loc.clone()])).expect("array");
        assert_eq!((l.len(), p.len()), (1, 1));
        let (l, p) = documents(json!({"value": [loc.clone()]})).expect("list");
        assert_eq!((l.len(), p.len()), (1, 0));
        let (l, p) =
            documents(json!({"namedLocations": [loc], "policies": [pol]})).expect("export");
        assert_eq!((l.len(), p.len()), (1, 1));
        assert!(documents(json!(3)).is_err());
    }

    #[test]
    fn grant_summaries() {
        let p = json!({"grantControls": {"operator": "OR", "builtInControls": ["mfa", "compliantDevice"]}});
        assert_eq!(grant_summary(&p), "mfa OR compliantDevice");
        assert_eq!(grant_summary(&json!({})), "-");
    }
}
