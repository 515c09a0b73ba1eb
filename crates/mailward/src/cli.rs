//! Command-line interface: every subcommand, its flags and `--help` text, dispatched to
//! `runtime` (servers), `admin` (directory and log commands) or `mailcli` (mail
//! administration: authentication policies, mailboxes, the organization default, the
//! outbound queue).

use crate::{admin, login, mailcli, runtime};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// mailward: modern authentication and MFA for an organization's mail.
///
/// Start everything on localhost with `mailward up`. Administer users, groups, applications
/// and domains with the commands below: they work on a local data directory (`--data`,
/// default ./mailward-data) or, after `mailward login`, against a remote instance
/// (`--remote`).
#[derive(Debug, Parser)]
#[command(name = "mailward", version, propagate_version = true)]
pub struct Cli {
    /// Data directory for local administration (and for `up`); default ./mailward-data.
    /// Its `mailward.toml`, if any, is the configuration. It must agree with `data_dir`
    /// of a configuration file that sets one.
    #[arg(long, global = true, env = "MAILWARD_DATA")]
    pub data: Option<PathBuf>,
    /// Configuration file (defaults apply when absent).
    #[arg(long, global = true, env = "MAILWARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Administer the instance you signed in to with `mailward login`, over HTTPS.
    #[arg(long, global = true, env = "MAILWARD_REMOTE")]
    pub remote: bool,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// The mail role's URL for mail administration with --remote.
    #[arg(
        long,
        global = true,
        env = "MAILWARD_MAIL_URL",
        default_value = "https://localhost:8446"
    )]
    pub mail_url: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start every role on localhost with embedded storage (creates ./mailward-data on first
    /// run). Listeners come from the configuration (`identity.listen`, `[mail.listen]`),
    /// moved by --port-offset.
    Up(UpArgs),
    /// Run roles from a configuration file (real deployments).
    Serve(ServeArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCmd),
    /// Manage groups and their members.
    #[command(subcommand)]
    Group(GroupCmd),
    /// Manage applications (OAuth clients) and resources (APIs).
    #[command(subcommand)]
    App(AppCmd),
    /// Manage the domains users sign in with.
    #[command(subcommand)]
    Domain(DomainCmd),
    /// Conditional access: policies and named locations (Microsoft Graph JSON), What-If and
    /// backtest.
    #[command(subcommand)]
    Ca(CaCmd),
    /// Show the sign-in log (newest first; --follow keeps printing new entries).
    Signins(SigninsArgs),
    /// Authentication policies (Exchange's New-/Set-/Get-/Remove-AuthenticationPolicy):
    /// which protocols may use basic authentication.
    #[command(subcommand)]
    Authpolicy(AuthPolicyCmd),
    /// Mailboxes and the authentication policy each one uses (Enable-Mailbox,
    /// Set-User -AuthenticationPolicy).
    #[command(subcommand)]
    Mailbox(MailboxCmd),
    /// Organization-wide mail settings (Set-OrganizationConfig
    /// -DefaultAuthenticationPolicy).
    #[command(subcommand)]
    Org(OrgCmd),
    /// Outbound mail waiting for the smarthost or given up on (Get-Queue, Retry-Queue,
    /// Remove-Message).
    #[command(subcommand)]
    Queue(QueueCmd),
    /// Sign in to a remote instance with the device code flow (for --remote).
    Login(login::LoginArgs),
    /// Forget the remote sign-in.
    Logout,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Domain of the bootstrap admin and first users.
    #[arg(long, default_value = "mailward.localhost")]
    pub domain: String,
    /// Address identity listens on (port 0 picks a free port; the URL is printed).
    /// Default: `identity.listen` of the configuration, 127.0.0.1:8443.
    #[arg(long)]
    pub identity_listen: Option<std::net::SocketAddr>,
    /// Add this to the port of every listener (identity, and the mail role's HTTPS,
    /// IMAP/IMAPS, POP3/POP3S and submission/submissions), so a second instance with
    /// its own --data can run beside the first, e.g. `--port-offset 10`. Listeners on
    /// port 0 stay on a free port; --identity-listen is taken as given.
    #[arg(long, default_value_t = 0)]
    pub port_offset: u16,
    /// Host name clients use (must match the TLS certificate).
    #[arg(long, default_value = "localhost")]
    pub host: String,
    /// Seed the conditional access policies of the demo scenarios (MFA for mail apps and
    /// browsers, legacy clients blocked, MFA for administrators).
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Roles to run, comma separated (default: all). Available now: identity, mail.
    #[arg(long, value_delimiter = ',', default_value = "identity,mail")]
    pub role: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuthPolicyCmd {
    /// Create a policy. Without --allow-basic it allows basic authentication on no
    /// protocol (the recommended setting).
    New {
        name: String,
        /// Protocols that may use basic authentication, comma separated: imap, pop,
        /// smtp, rest, activesync, autodiscover, ews, mapi, ...
        #[arg(long, value_name = "PROTOCOLS")]
        allow_basic: Option<String>,
    },
    /// Change a policy: allow or block basic authentication per protocol (the others
    /// keep their setting).
    Set {
        name: String,
        #[arg(long, value_name = "PROTOCOLS")]
        allow_basic: Option<String>,
        #[arg(long, value_name = "PROTOCOLS")]
        block_basic: Option<String>,
    },
    /// List policies.
    List,
    /// Show one policy.
    Show { name: String },
    /// Delete a policy no mailbox uses and that is not the organization default.
    Remove { name: String },
    /// Import policies from Get-AuthenticationPolicy | ConvertTo-Json output (one object
    /// or an array). Nothing is imported if any policy is invalid.
    Import {
        file: PathBuf,
        /// Replace policies that already exist instead of failing.
        #[arg(long)]
        replace: bool,
    },
    /// Print every policy as JSON (what `import` reads).
    Export,
}

#[derive(Debug, Subcommand)]
pub enum MailboxCmd {
    /// Create the mailbox of a directory user (UPN or object id).
    Add {
        user: String,
        /// The user's object id, when the directory is not on this machine.
        #[arg(long)]
        user_id: Option<String>,
    },
    /// List mailboxes with their authentication policy.
    List,
    /// Show one mailbox (address, UPN or id).
    Show { user: String },
    /// Assign an authentication policy (replaces the organization default for this
    /// mailbox), or `none` to use the default again.
    Set {
        user: String,
        #[arg(long, value_name = "NAME|none")]
        authentication_policy: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum QueueCmd {
    /// List queued and failed outbound messages, oldest first.
    List,
    /// Show one entry.
    Show { id: String },
    /// Try an entry again now (a failed one too).
    Retry { id: String },
    /// Delete an entry without sending it.
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
pub enum OrgCmd {
    /// Show the organization's mail settings.
    Show,
    /// Change them.
    Set {
        /// The policy for every mailbox without its own, or `none`.
        #[arg(long, value_name = "NAME|none")]
        default_authentication_policy: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create a user. With neither --password nor --generate-password the user has no
    /// password until one is set.
    Add {
        /// User principal name, e.g. alice@contoso.com (its domain must be registered).
        upn: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        mail: Option<String>,
        /// Password (prefer --generate-password or the MAILWARD_PASSWORD variable).
        #[arg(long, env = "MAILWARD_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Generate a strong password and print it once.
        #[arg(long, conflicts_with = "password")]
        generate_password: bool,
        /// Admin role: GlobalAdministrator, UserAdministrator, SecurityAdministrator, GlobalReader.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Create the account disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// List users.
    List,
    /// Show one user (by UPN or object id), with MFA methods and groups.
    Show { user: String },
    /// Change a user.
    Set {
        user: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        mail: Option<String>,
        #[arg(long, env = "MAILWARD_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[arg(long, conflicts_with = "password")]
        generate_password: bool,
        /// Replace the user's roles (repeat for several).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Remove all roles.
        #[arg(long, conflicts_with = "roles")]
        no_roles: bool,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
    },
    /// Disable a user: sign-ins fail with 50057 and their tokens and sessions end.
    Disable { user: String },
    /// Enable a disabled user.
    Enable { user: String },
    /// Delete a user and everything attached to it.
    Delete { user: String },
    /// Remove all MFA methods; the user registers again at the next sign-in.
    ResetMfa { user: String },
    /// End all sessions and refresh tokens of a user.
    RevokeSessions { user: String },
}

#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// Create a group.
    Add {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// List groups with their members.
    List,
    /// Show a group (by name or id).
    Show { group: String },
    /// Rename a group or change its description. A group conditional access policies
    /// name is changed only by a Global or Security Administrator.
    Set {
        group: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a group (refused while conditional access policies name it).
    Delete { group: String },
    /// Add a user to a group.
    AddMember { group: String, user: String },
    /// Remove a user from a group.
    RemoveMember { group: String, user: String },
}

#[derive(Debug, Subcommand)]
pub enum AppCmd {
    /// Register an application. Confidential clients get a secret, printed once.
    Add {
        name: String,
        /// public (native, mobile, CLI) or confidential (web apps, services).
        #[arg(long, default_value = "confidential")]
        kind: String,
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Allowed grants: authorization_code, refresh_token, device_code,
        /// client_credentials, password (resource-owner password; off unless listed).
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// Application roles (e.g. LegacyAuth.Relay for a mail instance).
        #[arg(long = "role")]
        roles: Vec<String>,
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
    },
    /// List applications.
    List,
    /// Show an application.
    Show { app_id: String },
    /// Change an application (given lists replace the old ones).
    Set {
        app_id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        #[arg(long = "grant")]
        grants: Vec<String>,
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// Replace a confidential client's secret (printed once).
    NewSecret { app_id: String },
    /// Delete an application.
    Delete { app_id: String },
    /// Register a resource (an API tokens are issued for).
    AddResource {
        /// Resource URI: the `aud` of its tokens.
        uri: String,
        #[arg(long)]
        name: String,
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[arg(long = "app-role")]
        app_roles: Vec<String>,
        /// ES256 (default) or RS256.
        #[arg(long)]
        alg: Option<String>,
    },
    /// List resources.
    Resources,
}

#[derive(Debug, Subcommand)]
pub enum DomainCmd {
    /// Add a domain (managed: identity checks passwords).
    Add { name: String },
    /// List domains.
    List,
    /// Make a domain the default.
    SetDefault { name: String },
    /// Delete a domain no user uses.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum CaCmd {
    /// List conditional access policies.
    List,
    /// List named locations.
    Locations,
    /// Print one policy (or named location) as Graph JSON.
    Show { id: String },
    /// Import Graph JSON: one policy or named location, an array of them, a Graph list
    /// response (`{"value": [...]}`), or what `ca export` writes. Named locations are
    /// created first. Nothing is imported if any document is invalid.
    Import {
        file: PathBuf,
        /// Replace objects whose id already exists instead of failing.
        #[arg(long)]
        replace: bool,
    },
    /// Print every named location and policy as one JSON document `ca import` accepts.
    Export,
    /// Set a policy's state: enabled, disabled or report-only.
    SetState { id: String, state: String },
    /// Delete a policy (or a named location no policy uses).
    Delete { id: String },
    /// Evaluate a hypothetical sign-in: which policies apply, with which controls, and why
    /// the others do not.
    Whatif(WhatIfArgs),
    /// Replay the sign-in log against a proposed policy: whom it would have blocked or
    /// prompted.
    Backtest {
        policy: PathBuf,
        /// How far back: 30m, 24h, 30d, or an RFC 3339 time.
        #[arg(long, default_value = "30d")]
        since: String,
    },
    /// Show or change security defaults (on until turned off): MFA for everyone on the
    /// client app types `[identity.policy] require_mfa` names, MFA for administrators
    /// always, legacy clients blocked wherever MFA is required of them. They apply in
    /// addition to the policies.
    SecurityDefaults {
        #[arg(value_parser = ["show", "on", "off"], default_value = "show")]
        action: String,
    },
    /// Where a password alone signs in: users and applications no enabled policy (nor
    /// security defaults) requires MFA for, whether legacy clients are blocked, and whether
    /// an administrator can sign in with a password alone.
    Coverage,
}

#[derive(Debug, Args)]
pub struct WhatIfArgs {
    /// The user (UPN or object id).
    #[arg(long)]
    pub user: String,
    /// Application id; default the mail service (00000002-0000-0ff1-ce00-000000000000).
    #[arg(long)]
    pub app: Option<String>,
    /// browser, mobileAppsAndDesktopClients, exchangeActiveSync, other.
    #[arg(long, default_value = "mobileAppsAndDesktopClients")]
    pub client_app_type: String,
    /// Client IP address.
    #[arg(long)]
    pub ip: Option<String>,
    /// android, iOS, windows, windowsPhone, macOS or linux.
    #[arg(long)]
    pub platform: Option<String>,
    /// Two-letter country code (instead of looking the IP up).
    #[arg(long)]
    pub country: Option<String>,
    /// The user already completed MFA in this sign-in.
    #[arg(long)]
    pub mfa_done: bool,
}

#[derive(Debug, Args)]
pub struct SigninsArgs {
    /// Only this user (UPN).
    #[arg(long)]
    pub user: Option<String>,
    /// Only this application id.
    #[arg(long)]
    pub app: Option<String>,
    /// success, failure or interrupted.
    #[arg(long)]
    pub result: Option<String>,
    /// Only this error code, e.g. 50126.
    #[arg(long)]
    pub error_code: Option<u32>,
    /// Client app type: browser, mobileAppsAndDesktopClients, other, ...
    #[arg(long)]
    pub client_app_type: Option<String>,
    /// How far back: 30m, 24h, 7d, or an RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many entries.
    #[arg(long, default_value_t = 50)]
    pub top: u32,
    /// Keep printing new entries as they arrive.
    #[arg(long)]
    pub follow: bool,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(ref args) => runtime::up(&cli, args).await,
        Command::Serve(ref args) => runtime::serve(&cli, args).await,
        Command::Login(ref args) => login::login(&cli, args).await,
        Command::Logout => login::logout(),
        Command::Authpolicy(_) | Command::Mailbox(_) | Command::Org(_) | Command::Queue(_) => {
            mailcli::run(cli).await
        }
        _ => admin::run(cli).await,
    }
}
