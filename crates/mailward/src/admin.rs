//! Admin commands. Every command is one request to identity's admin API; the transport is
//! either identity's router run in-process over the local data directory (marked as the
//! local administrator) or HTTPS to the instance `mailward login` signed in to.

use crate::cli::{AppCmd, Cli, Command, DomainCmd, GroupCmd, SigninsArgs, UserCmd};
use crate::{login, runtime};
use anyhow::{Context, bail};
use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use tower::ServiceExt;

/// Where admin requests go: a role's admin router in-process (the request marked as the
/// local administrator by `mark`), or a role's URL over HTTPS with the `mailward login`
/// token. Identity's commands and the mail role's share this transport.
pub enum Transport {
    Local {
        router: Router,
        mark: fn(&mut axum::http::Extensions),
    },
    Remote {
        base: String,
        token: String,
        client: reqwest::Client,
    },
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Local { .. } => f.write_str("Transport::Local"),
            Transport::Remote { base, .. } => write!(f, "Transport::Remote({base})"),
        }
    }
}

/// A request the API refused: the HTTP status and the API's message.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl Transport {
    /// Identity's admin API (in-process on the data directory, or `--remote`).
    pub async fn open(cli: &Cli) -> anyhow::Result<Transport> {
        if cli.remote {
            return Transport::remote(None).await;
        }
        let cfg = runtime::load_config(cli)?;
        if cfg.storage.url.is_empty() && !cfg.data_dir.join("identity.db").exists() {
            bail!(
                "no mailward data in {} — run `mailward up` first, pass --data DIR, or use --remote after `mailward login`",
                cfg.data_dir.display()
            );
        }
        let ctx = runtime::open_identity(&cfg, None).await?;
        Ok(Transport::identity(mailward_identity::router(ctx)))
    }

    /// Identity's router, in-process as the local administrator.
    pub fn identity(router: Router) -> Transport {
        Transport::Local {
            router,
            mark: |ext| {
                ext.insert(mailward_identity::LocalAdmin);
            },
        }
    }

    /// The signed-in remote instance; `base` overrides its URL (another role's).
    pub async fn remote(base: Option<&str>) -> anyhow::Result<Transport> {
        let session = login::session().await?;
        let client = login::http_client(session.ca.as_deref())?;
        Ok(Transport::Remote {
            base: base
                .map(|b| b.trim_end_matches('/').to_string())
                .unwrap_or(session.url),
            token: session.access_token,
            client,
        })
    }

    /// Sends a request; returns the JSON body, or an [`ApiError`] with the API's message.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (status, bytes) = match self {
            Transport::Local { router, mark } => {
                let mut req = axum::http::Request::builder()
                    .method(method.as_str())
                    .uri(path)
                    .header("content-type", "application/json")
                    .body(match &body {
                        Some(b) => Body::from(serde_json::to_vec(b)?),
                        None => Body::empty(),
                    })?;
                mark(req.extensions_mut());
                let res = router.clone().oneshot(req).await?;
                let status = res.status().as_u16();
                let bytes = res.into_body().collect().await?.to_bytes().to_vec();
                (status, bytes)
            }
            Transport::Remote {
                base,
                token,
                client,
            } => {
                let mut rb = client
                    .request(method, format!("{base}{path}"))
                    .bearer_auth(token);
                if let Some(b) = &body {
                    rb = rb.json(b);
                }
                let res = rb
                    .send()
                    .await
                    .with_context(|| format!("contacting {base}"))?;
                let status = res.status().as_u16();
                (status, res.bytes().await?.to_vec())
            }
        };
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if status >= 400 {
            let msg = value["error"]["message"]
                .as_str()
                .unwrap_or("request failed");
            let code = value["error"]["code"].as_str().unwrap_or("");
            let message = match status {
                401 => format!("{msg} — sign in again with `mailward login`"),
                _ if code.is_empty() => msg.to_string(),
                _ => format!("{msg} ({code})"),
            };
            return Err(ApiError { status, message }.into());
        }
        Ok(value)
    }
}

pub(crate) fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let t = Transport::open(&cli).await?;
    let json_out = cli.json;
    match cli.command {
        Command::User(cmd) => user(&t, cmd, json_out).await,
        Command::Group(cmd) => group(&t, cmd, json_out).await,
        Command::App(cmd) => app(&t, cmd, json_out).await,
        Command::Domain(cmd) => domain(&t, cmd, json_out).await,
        Command::Ca(cmd) => crate::ca::run(&t, cmd, json_out).await,
        Command::Signins(args) => signins(&t, args, json_out).await,
        _ => Ok(()),
    }
}

pub(crate) fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

pub(crate) fn table(rows: Vec<Vec<String>>) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map(|s| s.chars().count()).unwrap_or(0))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{s:<w$}", w = widths[i]))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

pub(crate) fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(s).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

async fn user(t: &Transport, cmd: UserCmd, json_out: bool) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Add {
            upn,
            name,
            mail,
            password,
            generate_password,
            roles,
            disabled,
        } => {
            let generated = generate_password.then(runtime::generate_password);
            let pw = generated.clone().or(password);
            let v = t
                .call(
                    Method::POST,
                    "/v1.0/users",
                    Some(json!({
                        "userPrincipalName": upn, "displayName": name, "mail": mail, "password": pw,
                        "roles": roles, "accountEnabled": !disabled,
                    })),
                )
                .await?;
            if json_out {
                print_json(&v);
            } else {
                println!("created {} ({})", s(&v["userPrincipalName"]), s(&v["id"]));
            }
            if let Some(p) = generated {
                println!("password: {p}   (shown once)");
            }
        }
        UserCmd::List => {
            let v = t.call(Method::GET, "/v1.0/users", None).await?;
            if json_out {
                print_json(&v);
                return Ok(());
            }
            let mut rows = vec![vec![
                "UPN".into(),
                "NAME".into(),
                "ENABLED".into(),
                "SOURCE".into(),
                "ROLES".into(),
                "ID".into(),
            ]];
            for u in v["value"].as_array().into_iter().flatten() {
                rows.push(vec![
                    s(&u["userPrincipalName"]),
                    s(&u["displayName"]),
                    s(&u["accountEnabled"]),
                    s(&u["source"]),
                    s(&u["roles"]),
                    s(&u["id"]),
                ]);
            }
            table(rows);
        }
        UserCmd::Show { user } => {
            let v = t
                .call(Method::GET, &format!("/v1.0/users/{}", enc(&user)), None)
                .await?;
            if json_out {
                print_json(&v);
                return Ok(());
            }
            let m = &v["authenticationMethods"];
            table(vec![
                vec!["upn".into(), s(&v["userPrincipalName"])],
                vec!["id".into(), s(&v["id"])],
                vec!["name".into(), s(&v["displayName"])],
                vec!["mail".into(), s(&v["mail"])],
                vec!["enabled".into(), s(&v["accountEnabled"])],
                vec!["source".into(), s(&v["source"])],
                vec!["immutable id".into(), s(&v["onPremisesImmutableId"])],
                vec!["roles".into(), s(&v["roles"])],
                vec!["groups".into(), s(&v["memberOf"])],
                vec![
                    "mfa".into(),
                    format!(
                        "totp={} passkeys={} recovery codes left={}",
                        s(&m["totp"]),
                        s(&m["passkeys"]),
                        s(&m["unusedRecoveryCodes"])
                    ),
                ],
                vec!["created".into(), s(&v["createdDateTime"])],
            ]);
        }
        UserCmd::Set {
            user,
            name,
            mail,
            password,
            generate_password,
            roles,
            no_roles,
            enable,
            disable,
        } => {
            let generated = generate_password.then(runtime::generate_password);
            let mut patch = serde_json::Map::new();
            if let Some(n) = name {
                patch.insert("displayName".into(), json!(n));
            }
            if let Some(m) = mail {
                patch.insert("mail".into(), json!(m));
            }
            if let Some(p) = generated.clone().or(password) {
                patch.insert("password".into(), json!(p));
            }
            if !roles.is_empty() {
                patch.insert("roles".into(), json!(roles));
            }
            if no_roles {
                patch.insert("roles".into(), json!([]));
            }
            if enable {
                patch.insert("accountEnabled".into(), json!(true));
            }
            if disable {
                patch.insert("accountEnabled".into(), json!(false));
            }
            if patch.is_empty() {
                bail!(
                    "nothing to change: give at least one option (see `mailward user set --help`)"
                );
            }
            let v = t
                .call(
                    Method::PATCH,
                    &format!("/v1.0/users/{}", enc(&user)),
                    Some(Value::Object(patch)),
                )
                .await?;
            if json_out {
                print_json(&v)
            } else {
                println!("updated {}", s(&v["userPrincipalName"]))
            }
            if let Some(p) = generated {
                println!("password: {p}   (shown once)");
            }
        }
        UserCmd::Disable { user } => {
            t.call(
                Method::PATCH,
                &format!("/v1.0/users/{}", enc(&user)),
                Some(json!({"accountEnabled": false})),
            )
            .await?;
            println!("disabled {user}; its sessions and refresh tokens have ended");
        }
        UserCmd::Enable { user } => {
            t.call(
                Method::PATCH,
                &format!("/v1.0/users/{}", enc(&user)),
                Some(json!({"accountEnabled": true})),
            )
            .await?;
            println!("enabled {user}");
        }
        UserCmd::Delete { user } => {
            t.call(Method::DELETE, &format!("/v1.0/users/{}", enc(&user)), None)
                .await?;
            println!("deleted {user}");
        }
        UserCmd::ResetMfa { user } => {
            t.call(
                Method::POST,
                &format!("/v1.0/users/{}/resetMfa", enc(&user)),
                None,
            )
            .await?;
            println!("MFA methods of {user} removed; they will register again at the next sign-in");
        }
        UserCmd::RevokeSessions { user } => {
            t.call(
                Method::POST,
                &format!("/v1.0/users/{}/revokeSignInSessions", enc(&user)),
                None,
            )
            .await?;
            println!("sessions and refresh tokens of {user} revoked");
        }
    }
    Ok(())
}

async fn group(t: &Transport, cmd: GroupCmd, json_out: bool) -> anyhow::Result<()> {
    match cmd {
        GroupCmd::Add { name, description } => {
            let v = t
                .call(
                    Method::POST,
                    "/v1.0/groups",
                    Some(json!({"displayName": name, "description": description})),
                )
                .await?;
            if json_out {
                print_json(&v)
            } else {
                println!("created group {} ({})", s(&v["displayName"]), s(&v["id"]))
            }
        }
        GroupCmd::List => {
            let v = t.call(Method::GET, "/v1.0/groups", None).await?;
            if json_out {
                print_json(&v);
                return Ok(());
            }
            let mut rows = vec![vec!["NAME".into(), "MEMBERS".into(), "ID".into()]];
            for g in v["value"].as_array().into_iter().flatten() {
                rows.push(vec![
                    s(&g["displayName"]),
                    g["members"]
                        .as_array()
                        .map(|m| m.len())
                        .unwrap_or(0)
                        .to_string(),
                    s(&g["id"]),
                ]);
            }
            table(rows);
        }
        GroupCmd::Show { group } => {
            let v = t
                .call(Method::GET, &format!("/v1.0/groups/{}", enc(&group)), None)
                .await?;
            if json_out {
                print_json(&v);
                return Ok(());
            }
            println!("{} ({})", s(&v["displayName"]), s(&v["id"]));
            if let Some(d) = v["description"].as_str() {
                println!("{d}");
            }
            for m in v["members"].as_array().into_iter().flatten() {
                println!("  {}", s(m));
            }
        }
        GroupCmd::Set {
            group,
            name,
            description,
        } => {
            if name.is_none() && description.is_none() {
                anyhow::bail!("nothing to change: give --name and/or --description");
            }
            let mut body = json!({});
            if let Some(n) = name {
                body["displayName"] = json!(n);
            }
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            let v = t
                .call(
                    Method::PATCH,
                    &format!("/v1.0/groups/{}", enc(&group)),
                    Some(body),
                )
                .await?;
            if json_out {
                print_json(&v);
                return Ok(());
            }
            println!("updated group {} ({})", s(&v["displayName"]), s(&v["id"]));
        }
        GroupCmd::Delete { group } => {
            t.call(
                Method::DELETE,
                &format!("/v1.0/groups/{}", enc(&group)),
                None,
            )
            .await?;
            println!("deleted group {group}");
        }
        GroupCmd::AddMember { group, user } => {
            t.call(
                Method::POST,
                &format!("/v1.0/groups/{}/members", enc(&group)),
                Some(json!({"user": user})),
            )
            .await?;
            println!("added {user} to {group}");
        }
        GroupCmd::RemoveMember { group, user } => {
            t.call(
                Method::DELETE,
                &format!("/v1.0/groups/{}/members/{}", enc(&group), enc(&user)),
                None,
            )
            .await?;
            println!("removed {user} from {group}");
        }
    }
    Ok(())
}

async fn app(t: &Transport, cmd: AppCmd, json_out: bool) -> anyhow::Result<()> {
    match cmd {
        AppCmd::Add {
            name,
            kind,
            redirect_uris,
            grants,
            roles,
            post_logout_redirect_uris,
        } => {
            let v = t
                .call(
                    Method::POST,
                    "/v1.0/applications",
                    Some(json!({
                        "displayName": name, "kind": kind, "redirectUris": redirect_uris,
                        "grants": if grants.is_empty() { Value::Null } else { json!(grants) },
                        "appRoles": roles, "postLogoutRedirectUris": post_logout_redirect_uris,
                    })),
                )
                .await?;
            if json_out {
                print_json(&v);
                return Ok(());
            }
            println!(
                "registered {} — client id {}",
                s(&v["application"]["displayName"]),
                s(&v["application"]["appId"])
            );
            if let Some(secret) = v["clientSecret"].as_str() {
                println!("client secret: {secret}   (shown once)");
            }
        }
        AppCmd::List => {
            let v = t.call(Method::GET, "/v1.0/applications", None).await?;
            if json_out {
                print_json(&v);
                return Ok(());
            }
            let mut rows = vec![vec![
                "CLIENT ID".into(),
                "NAME".into(),
                "KIND".into(),
                "GRANTS".into(),
            ]];
            for a in v["value"].as_array().into_iter().flatten() {
                rows.push(vec![
                    s(&a["appId"]),
                    s(&a["displayName"]),
                    s(&a["kind"]),
                    s(&a["grants"]),
                ]);
            }
            table(rows);
        }
        AppCmd::Show { app_id } => {
            let v = t
                .call(
                    Method::GET,
                    &format!("/v1.0/applications/{}", enc(&app_id)),
                    None,
                )
                .await?;
            print_json(&v);
        }
        AppCmd::Set {
            app_id,
            name,
            redirect_uris,
            grants,
            roles,
        } => {
            let mut patch = serde_json::Map::new();
            if let Some(n) = name {
                patch.insert("displayName".into(), json!(n));
            }
            if !redirect_uris.is_empty() {
                patch.insert("redirectUris".into(), json!(redirect_uris));
            }
            if !grants.is_empty() {
                patch.insert("grants".into(), json!(grants));
            }
            if !roles.is_empty() {
                patch.insert("appRoles".into(), json!(roles));
            }
            if patch.is_empty() {
                bail!(
                    "nothing to change: give at least one option (see `mailward app set --help`)"
                );
            }
            let v = t
                .call(
                    Method::PATCH,
                    &format!("/v1.0/applications/{}", enc(&app_id)),
                    Some(Value::Object(patch)),
                )
                .await?;
            if json_out {
                print_json(&v)
            } else {
                println!("updated {}", s(&v["appId"]))
            }
        }
        AppCmd::NewSecret { app_id } => {
            let v = t
                .call(
                    Method::POST,
                    &format!("/v1.0/applications/{}/secret", enc(&app_id)),
                    None,
                )
                .await?;
            println!(
                "client secret: {}   (shown once; the old one no longer works)",
                s(&v["clientSecret"])
            );
        }
        AppCmd::Delete { app_id } => {
            t.call(
                Method::DELETE,
                &format!("/v1.0/applications/{}", enc(&app_id)),
                None,
            )
            .await?;
            println!("deleted {app_id}");
        }
        AppCmd::AddResource {
            uri,
            name,
            scopes,
            app_roles,
            alg,
        } => {
            let v = t
                .call(Method::POST, "/v1.0/resources", Some(json!({
                    "uri": uri, "displayName": name, "scopes": scopes, "appRoles": app_roles, "tokenAlg": alg,
                })))
                .await?;
            if json_out {
                print_json(&v)
            } else {
                println!("registered resource {}", s(&v["uri"]))
            }
        }
        AppCmd::Resources => {
            let v = t.call(Method::GET, "/v1.0/resources", None).await?;
            if json_out {
                print_json(&v);
                return Ok(());
            }
            let mut rows = vec![vec![
                "URI".into(),
                "NAME".into(),
                "ALG".into(),
                "SCOPES".into(),
            ]];
            for r in v["value"].as_array().into_iter().flatten() {
                rows.push(vec![
                    s(&r["uri"]),
                    s(&r["display_name"]),
                    s(&r["token_alg"]),
                    s(&r["scopes"]),
                ]);
            }
            table(rows);
        }
    }
    Ok(())
}

async fn domain(t: &Transport, cmd: DomainCmd, json_out: bool) -> anyhow::Result<()> {
    match cmd {
        DomainCmd::Add { name } => {
            let v = t
                .call(Method::POST, "/v1.0/domains", Some(json!({"name": name})))
                .await?;
            if json_out {
                print_json(&v)
            } else {
                println!("added domain {}", s(&v["name"]))
            }
        }
        DomainCmd::List => {
            let v = t.call(Method::GET, "/v1.0/domains", None).await?;
            if json_out {
                print_json(&v);
                return Ok(());
            }
            let mut rows = vec![vec![
                "NAME".into(),
                "DEFAULT".into(),
                "VERIFIED".into(),
                "AUTHENTICATION".into(),
            ]];
            for d in v["value"].as_array().into_iter().flatten() {
                rows.push(vec![
                    s(&d["name"]),
                    s(&d["is_default"]),
                    s(&d["verified"]),
                    s(&d["authentication"]),
                ]);
            }
            table(rows);
        }
        DomainCmd::SetDefault { name } => {
            t.call(
                Method::PATCH,
                &format!("/v1.0/domains/{}", enc(&name)),
                Some(json!({"isDefault": true})),
            )
            .await?;
            println!("{name} is now the default domain");
        }
        DomainCmd::Delete { name } => {
            t.call(
                Method::DELETE,
                &format!("/v1.0/domains/{}", enc(&name)),
                None,
            )
            .await?;
            println!("deleted domain {name}");
        }
    }
    Ok(())
}

/// `30m`, `24h`, `7d` or an RFC 3339 time → RFC 3339.
pub(crate) fn since_param(s: &str) -> anyhow::Result<String> {
    use time::format_description::well_known::Rfc3339;
    if time::OffsetDateTime::parse(s, &Rfc3339).is_ok() {
        return Ok(s.to_string());
    }
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = num
        .parse()
        .with_context(|| format!("--since '{s}': use 30m, 24h, 7d or an RFC 3339 time"))?;
    let d = match unit {
        "s" => time::Duration::seconds(n),
        "m" => time::Duration::minutes(n),
        "h" => time::Duration::hours(n),
        "d" => time::Duration::days(n),
        _ => bail!("--since '{s}': use 30m, 24h, 7d or an RFC 3339 time"),
    };
    Ok((mailward_types::clock::now() - d).format(&Rfc3339)?)
}

async fn signins(t: &Transport, a: SigninsArgs, json_out: bool) -> anyhow::Result<()> {
    let mut q = vec![format!("top={}", a.top)];
    if let Some(v) = &a.user {
        q.push(format!("user={}", enc(v)));
    }
    if let Some(v) = &a.app {
        q.push(format!("app={}", enc(v)));
    }
    if let Some(v) = &a.result {
        q.push(format!("result={}", enc(v)));
    }
    if let Some(v) = a.error_code {
        q.push(format!("error_code={v}"));
    }
    if let Some(v) = &a.client_app_type {
        q.push(format!("client_app_type={}", enc(v)));
    }
    let mut since = a.since.as_deref().map(since_param).transpose()?;
    let mut seen = std::collections::HashSet::new();
    let mut first = true;
    loop {
        let mut query = q.clone();
        if let Some(s) = &since {
            query.push(format!("since={}", enc(s)));
        }
        let v = t
            .call(
                Method::GET,
                &format!("/v1.0/auditLogs/signIns?{}", query.join("&")),
                None,
            )
            .await?;
        let mut events: Vec<Value> = v["value"].as_array().cloned().unwrap_or_default();
        if a.follow {
            events.reverse(); // oldest first when streaming
        }
        events.retain(|e| seen.insert(s(&e["id"])));
        if json_out {
            for e in &events {
                println!("{}", serde_json::to_string(e)?);
            }
        } else {
            let mut rows = vec![];
            if first {
                rows.push(vec![
                    "TIME".into(),
                    "USER".into(),
                    "APP".into(),
                    "CLIENT".into(),
                    "FLOW".into(),
                    "IP".into(),
                    "RESULT".into(),
                    "CODE".into(),
                    "CORRELATION".into(),
                ]);
            }
            for e in &events {
                rows.push(vec![
                    s(&e["createdDateTime"]),
                    s(&e["userPrincipalName"]),
                    s(&e["appDisplayName"]),
                    s(&e["clientAppUsed"]),
                    format!(
                        "{}{}",
                        s(&e["flow"]),
                        e["protocol"]
                            .as_str()
                            .map(|p| format!("/{p}"))
                            .unwrap_or_default()
                    ),
                    s(&e["ipAddress"]),
                    s(&e["result"]),
                    s(&e["errorCode"]),
                    s(&e["correlationId"]),
                ]);
            }
            if !rows.is_empty() && (rows.len() != 1 || !first || !events.is_empty() || !a.follow) {
                table(rows);
            }
        }
        if !a.follow {
            return Ok(());
        }
        if let Some(last) = events.last() {
            since = last["createdDateTime"].as_str().map(str::to_string);
        }
        first = false;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
