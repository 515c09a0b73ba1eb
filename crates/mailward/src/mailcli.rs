//! Mail administration commands, after Exchange's cmdlets: `authpolicy` (authentication
//! policies), `mailbox` (mailboxes and their policy), `org` (the organization default) and
//! `queue` (outbound mail waiting for the smarthost).
//! Every command is a request to the mail admin API, sent either to the mail role's admin
//! router in-process over the local data directory (marked as the local administrator)
//! or over HTTPS to `--mail-url` with the token of `mailward login`.

use crate::admin::{self, ApiError, Transport, enc, print_json, s, table};
use crate::cli::{AuthPolicyCmd, Cli, Command, MailboxCmd, OrgCmd, QueueCmd};
use crate::runtime;
use anyhow::{Context, bail};
use mailward_authpolicy::{AuthenticationPolicy, Switch, SwitchKind, parse_protocol_list};
use mailward_types::model::well_known;
use reqwest::Method;
use serde_json::{Map, Value, json};

/// Opens the mail admin API: the mail role's admin router over the local data directory,
/// or `--mail-url` over HTTPS with `--remote`.
async fn open(cli: &Cli) -> anyhow::Result<Transport> {
    if cli.remote {
        // The mail admin API takes only tokens for its own resource, which its front page
        // names.
        let session = crate::login::session().await?;
        let client = crate::login::http_client(session.ca.as_deref())?;
        let base = cli.mail_url.trim_end_matches('/').to_string();
        let home: Value = client
            .get(format!("{base}/"))
            .send()
            .await
            .with_context(|| format!("reaching the mail role at {base}"))?
            .json()
            .await
            .with_context(|| format!("{base}/ is not a mailward mail role"))?;
        let resource = home["resource"]
            .as_str()
            .with_context(|| format!("{base}/ names no resource"))?;
        let token = crate::login::token_for(resource, well_known::MAIL_ADMIN_SCOPE).await?;
        return Ok(Transport::Remote {
            base,
            token,
            client,
        });
    }
    let cfg = runtime::load_config(cli)?;
    let dir = cfg.data_dir.join("mail");
    if cfg.mail.storage.url.is_empty() && !dir.join("mail.db").exists() {
        bail!(
            "no mail data in {} — run `mailward up` (or `serve --role mail`) first, pass --data DIR, or use --remote after `mailward login`",
            dir.display()
        );
    }
    let store = mailward_mail::open_store(&cfg.mail, &dir)
        .await
        .with_context(|| match cfg.mail.storage.url.is_empty() {
            true => format!("opening the mail store in {}", dir.display()),
            false => "connecting to the mail store's PostgreSQL (mail.storage.url)".to_owned(),
        })?
        .store;
    Ok(Transport::Local {
        router: mailward_mail::local_admin_router(store),
        mark: |ext| {
            ext.insert(mailward_mail::LocalAdmin);
        },
    })
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let t = open(&cli).await?;
    let json_out = cli.json;
    match cli.command {
        Command::Authpolicy(ref cmd) => authpolicy(&t, cmd, json_out).await,
        Command::Mailbox(ref cmd) => mailbox(&cli, &t, cmd, json_out).await,
        Command::Org(ref cmd) => org(&t, cmd, json_out).await,
        Command::Queue(ref cmd) => queue(&t, cmd, json_out).await,
        _ => Ok(()),
    }
}

/// `none` (any case) means "no policy".
fn policy_arg(name: &str) -> Value {
    if name.eq_ignore_ascii_case("none") {
        Value::Null
    } else {
        json!(name)
    }
}

/// `AllowBasicAuth<P>: on` for every protocol of a CLI list.
fn basic_switches(list: &str, on: bool, out: &mut Map<String, Value>) -> anyhow::Result<()> {
    let protocols = parse_protocol_list(list)?;
    for p in protocols.iter() {
        let switch = Switch::try_new(SwitchKind::AllowBasicAuth, p)?;
        out.insert(switch.name(), json!(on));
    }
    Ok(())
}

/// The protocols of a policy's switches of one kind, as `Imap,Smtp` or `-`.
fn summary(v: &Value, kind: SwitchKind) -> String {
    match AuthenticationPolicy::from_json(&v.to_string()) {
        Ok(p) => {
            let set = p.protocols(kind);
            if set.is_empty() {
                "-".into()
            } else {
                set.to_string()
            }
        }
        Err(_) => "?".into(),
    }
}

fn policy_path(name: &str) -> String {
    format!("/admin/v1/authenticationPolicies/{}", path_segment(name))
}

/// A path segment (spaces as %20, not +).
fn path_segment(s: &str) -> String {
    enc(s).replace('+', "%20")
}

async fn authpolicy(t: &Transport, cmd: &AuthPolicyCmd, json_out: bool) -> anyhow::Result<()> {
    match cmd {
        AuthPolicyCmd::New { name, allow_basic } => {
            let mut doc = Map::new();
            doc.insert("Name".into(), json!(name));
            if let Some(list) = allow_basic {
                basic_switches(list, true, &mut doc)?;
            }
            let v = t
                .call(
                    Method::POST,
                    "/admin/v1/authenticationPolicies",
                    Some(Value::Object(doc)),
                )
                .await?;
            if json_out {
                print_json(&v);
            } else {
                println!(
                    "created authentication policy {} (basic authentication allowed for: {})",
                    s(&v["Name"]),
                    summary(&v, SwitchKind::AllowBasicAuth)
                );
            }
        }
        AuthPolicyCmd::Set {
            name,
            allow_basic,
            block_basic,
        } => {
            let mut patch = Map::new();
            if let Some(list) = block_basic {
                basic_switches(list, false, &mut patch)?;
            }
            if let Some(list) = allow_basic {
                basic_switches(list, true, &mut patch)?;
            }
            if patch.is_empty() {
                bail!("nothing to change: give --allow-basic and/or --block-basic");
            }
            let v = t
                .call(
                    Method::PATCH,
                    &policy_path(name),
                    Some(Value::Object(patch)),
                )
                .await?;
            if json_out {
                print_json(&v);
            } else {
                println!(
                    "updated {} (basic authentication allowed for: {})",
                    s(&v["Name"]),
                    summary(&v, SwitchKind::AllowBasicAuth)
                );
            }
        }
        AuthPolicyCmd::List => {
            let v = t
                .call(Method::GET, "/admin/v1/authenticationPolicies", None)
                .await?;
            if json_out {
                print_json(&v);
                return Ok(());
            }
            let default = v["defaultAuthenticationPolicy"]
                .as_str()
                .unwrap_or_default();
            let mut rows = vec![vec![
                "NAME".into(),
                "ALLOW BASIC".into(),
                "BLOCK LEGACY".into(),
                "BLOCK MODERN".into(),
                "DEFAULT".into(),
            ]];
            for p in v["value"].as_array().into_iter().flatten() {
                let name = s(&p["Name"]);
                rows.push(vec![
                    name.clone(),
                    summary(p, SwitchKind::AllowBasicAuth),
                    summary(p, SwitchKind::BlockLegacyAuth),
                    summary(p, SwitchKind::BlockModernAuth),
                    if name.eq_ignore_ascii_case(default) {
                        "yes"
                    } else {
                        ""
                    }
                    .into(),
                ]);
            }
            table(rows);
        }
        AuthPolicyCmd::Show { name } => {
            let v = t.call(Method::GET, &policy_path(name), None).await?;
            if json_out {
                print_json(&v);
                return Ok(());
            }
            println!("{}", s(&v["Name"]));
            println!(
                "  allow basic auth    {}",
                summary(&v, SwitchKind::AllowBasicAuth)
            );
            println!(
                "  block legacy auth   {}",
                summary(&v, SwitchKind::BlockLegacyAuth)
            );
            println!(
                "  block modern auth   {}",
                summary(&v, SwitchKind::BlockModernAuth)
            );
        }
        AuthPolicyCmd::Remove { name } => {
            t.call(Method::DELETE, &policy_path(name), None).await?;
            println!("removed authentication policy {name}");
        }
        AuthPolicyCmd::Import { file, replace } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            // Check the whole document first: nothing is imported if anything is wrong.
            let policies = mailward_authpolicy::import_policies(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            for p in &policies {
                let doc: Value = serde_json::to_value(p)?;
                match t
                    .call(
                        Method::POST,
                        "/admin/v1/authenticationPolicies",
                        Some(doc.clone()),
                    )
                    .await
                {
                    Ok(_) => println!("imported {}", p.name()),
                    Err(e)
                        if *replace
                            && e.downcast_ref::<ApiError>()
                                .is_some_and(|a| a.status == 409) =>
                    {
                        t.call(Method::PATCH, &policy_path(p.name().as_str()), Some(doc))
                            .await?;
                        println!("replaced {}", p.name());
                    }
                    Err(e) => return Err(e.context(format!("importing {}", p.name()))),
                }
            }
        }
        AuthPolicyCmd::Export => {
            let v = t
                .call(Method::GET, "/admin/v1/authenticationPolicies", None)
                .await?;
            print_json(&v["value"]);
        }
    }
    Ok(())
}

fn mailbox_path(user: &str) -> String {
    format!("/admin/v1/mailboxes/{}", path_segment(user))
}

fn policy_cell(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| "(organization default)".into())
}

async fn mailbox(cli: &Cli, t: &Transport, cmd: &MailboxCmd, json_out: bool) -> anyhow::Result<()> {
    match cmd {
        MailboxCmd::Add { user, user_id } => {
            let body = match (t, user_id) {
                (_, Some(id)) => json!({"userPrincipalName": user, "userId": id}),
                (Transport::Remote { .. }, None) => json!({"userPrincipalName": user}),
                (Transport::Local { .. }, None) => {
                    // The directory is identity's: ask its admin API on the same data.
                    let identity = admin::Transport::open(cli).await.context(
                        "looking the user up needs identity's data here (or pass --user-id)",
                    )?;
                    let u = identity
                        .call(Method::GET, &format!("/v1.0/users/{}", enc(user)), None)
                        .await?;
                    json!({
                        "userPrincipalName": u["userPrincipalName"],
                        "userId": u["id"],
                        "displayName": u["displayName"],
                        "mail": u["mail"],
                    })
                }
            };
            let v = t
                .call(Method::POST, "/admin/v1/mailboxes", Some(body))
                .await?;
            if json_out {
                print_json(&v);
            } else {
                println!(
                    "created mailbox {} for {}",
                    s(&v["address"]),
                    s(&v["userPrincipalName"])
                );
            }
        }
        MailboxCmd::List => {
            let v = t.call(Method::GET, "/admin/v1/mailboxes", None).await?;
            if json_out {
                print_json(&v);
                return Ok(());
            }
            let mut rows = vec![vec![
                "ADDRESS".into(),
                "USER".into(),
                "AUTHENTICATION POLICY".into(),
                "CREATED".into(),
            ]];
            for m in v["value"].as_array().into_iter().flatten() {
                rows.push(vec![
                    s(&m["address"]),
                    s(&m["userPrincipalName"]),
                    policy_cell(&m["authenticationPolicy"]),
                    s(&m["createdDateTime"]),
                ]);
            }
            table(rows);
        }
        MailboxCmd::Show { user } => {
            let v = t.call(Method::GET, &mailbox_path(user), None).await?;
            if json_out {
                print_json(&v);
                return Ok(());
            }
            println!("{} ({})", s(&v["address"]), s(&v["displayName"]));
            println!(
                "  user                   {} ({})",
                s(&v["userPrincipalName"]),
                s(&v["userId"])
            );
            println!(
                "  authentication policy  {}",
                policy_cell(&v["authenticationPolicy"])
            );
            println!("  created                {}", s(&v["createdDateTime"]));
        }
        MailboxCmd::Set {
            user,
            authentication_policy,
        } => {
            let v = t
                .call(
                    Method::PATCH,
                    &mailbox_path(user),
                    Some(json!({"authenticationPolicy": policy_arg(authentication_policy)})),
                )
                .await?;
            if json_out {
                print_json(&v);
            } else {
                println!(
                    "{} now uses {}",
                    s(&v["address"]),
                    policy_cell(&v["authenticationPolicy"])
                );
            }
        }
    }
    Ok(())
}

async fn org(t: &Transport, cmd: &OrgCmd, json_out: bool) -> anyhow::Result<()> {
    let v = match cmd {
        OrgCmd::Show => t.call(Method::GET, "/admin/v1/organization", None).await?,
        OrgCmd::Set {
            default_authentication_policy,
        } => {
            t.call(
                Method::PATCH,
                "/admin/v1/organization",
                Some(json!({"defaultAuthenticationPolicy": policy_arg(default_authentication_policy)})),
            )
            .await?
        }
    };
    if json_out {
        print_json(&v);
    } else {
        println!(
            "default authentication policy  {}",
            v["defaultAuthenticationPolicy"].as_str().unwrap_or("none")
        );
    }
    Ok(())
}

fn queue_path(id: &str) -> String {
    format!("/admin/v1/queue/{}", path_segment(id))
}

fn print_queue_entry(v: &Value) {
    println!("{}", s(&v["id"]));
    println!("  from          {}", s(&v["from"]));
    let to: Vec<String> = v["recipients"]
        .as_array()
        .into_iter()
        .flatten()
        .map(s)
        .collect();
    println!("  to            {}", to.join(", "));
    println!("  size          {}", v["size"]);
    println!("  queued        {}", s(&v["queuedDateTime"]));
    println!("  state         {}", s(&v["state"]));
    println!("  attempts      {}", v["attempts"]);
    println!(
        "  next attempt  {}",
        v["nextAttemptDateTime"].as_str().unwrap_or("-")
    );
    println!("  last error    {}", v["lastError"].as_str().unwrap_or("-"));
}

async fn queue(t: &Transport, cmd: &QueueCmd, json_out: bool) -> anyhow::Result<()> {
    match cmd {
        QueueCmd::List => {
            let v = t.call(Method::GET, "/admin/v1/queue", None).await?;
            if json_out {
                print_json(&v);
                return Ok(());
            }
            let entries = v["value"].as_array().cloned().unwrap_or_default();
            if entries.is_empty() {
                println!("the queue is empty");
                return Ok(());
            }
            let mut rows = vec![vec![
                "ID".into(),
                "FROM".into(),
                "TO".into(),
                "STATE".into(),
                "ATTEMPTS".into(),
                "LAST ERROR".into(),
            ]];
            for e in &entries {
                let to: Vec<String> = e["recipients"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(s)
                    .collect();
                rows.push(vec![
                    s(&e["id"]),
                    s(&e["from"]),
                    to.join(","),
                    s(&e["state"]),
                    e["attempts"].to_string(),
                    e["lastError"].as_str().unwrap_or("-").to_string(),
                ]);
            }
            table(rows);
        }
        QueueCmd::Show { id } => {
            let v = t.call(Method::GET, &queue_path(id), None).await?;
            if json_out {
                print_json(&v);
            } else {
                print_queue_entry(&v);
            }
        }
        QueueCmd::Retry { id } => {
            let v = t
                .call(Method::POST, &format!("{}/retry", queue_path(id)), None)
                .await?;
            if json_out {
                print_json(&v);
            } else {
                println!("{} is due again now", s(&v["id"]));
            }
        }
        QueueCmd::Delete { id } => {
            t.call(Method::DELETE, &queue_path(id), None).await?;
            println!("deleted {id} from the queue");
        }
    }
    Ok(())
}
