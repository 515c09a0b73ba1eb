//! The Graph `conditionalAccessPolicy` resource as JSON: every member Graph returns, in the
//! order Graph returns it, each a [`Prop`] so imports export back unchanged. Members
//! mailward cannot honour are kept as raw JSON and only accepted while inert (`null`,
//! empty, disabled); [`crate::import`] rejects anything else, naming the member.
//!
//! Field list: microsoft.md §3.1–§3.3 (conditionalaccesspolicy, conditionalaccessconditionset,
//! conditionalaccessusers, conditionalaccessapplications, conditionalaccesslocations,
//! conditionalaccessplatforms, conditionalaccessgrantcontrols,
//! conditionalaccesssessioncontrols, signinfrequencysessioncontrol,
//! persistentbrowsersessioncontrol).

use crate::prop::Prop;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `microsoft.graph.conditionalAccessPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ConditionalAccessPolicy {
    /// Present on a single-entity GET response; kept for the round trip.
    #[serde(rename = "@odata.context", skip_serializing_if = "Prop::is_absent")]
    pub odata_context: Prop<String>,
    /// `#microsoft.graph.conditionalAccessPolicy` when present.
    #[serde(rename = "@odata.type", skip_serializing_if = "Prop::is_absent")]
    pub odata_type: Prop<String>,
    /// Assigned by the server; absent in a create body.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub id: Prop<String>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub template_id: Prop<String>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub display_name: Prop<String>,
    /// "Not used" by Graph; kept for the round trip.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub description: Prop<String>,
    /// ISO 8601 UTC, kept verbatim (fractional digits as Graph wrote them).
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub created_date_time: Prop<String>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub modified_date_time: Prop<String>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub state: Prop<PolicyState>,
    /// Unsupported unless `null`.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub partial_enablement_strategy: Prop<Value>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub session_controls: Prop<SessionControls>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub conditions: Prop<ConditionSet>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub grant_controls: Prop<GrantControls>,
}

/// `conditionalAccessPolicyState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PolicyState {
    Enabled,
    Disabled,
    /// Report-only: evaluated and logged, never enforced.
    EnabledForReportingButNotEnforced,
}

impl PolicyState {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyState::Enabled => "enabled",
            PolicyState::Disabled => "disabled",
            PolicyState::EnabledForReportingButNotEnforced => "enabledForReportingButNotEnforced",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            PolicyState::Enabled,
            PolicyState::Disabled,
            PolicyState::EnabledForReportingButNotEnforced,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// `conditionalAccessConditionSet`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ConditionSet {
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub user_risk_levels: Prop<Vec<RiskLevel>>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub sign_in_risk_levels: Prop<Vec<RiskLevel>>,
    /// Absent, `null` or empty means all client app types.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub client_app_types: Prop<Vec<ClientAppTypeValue>>,
    /// Workload identities: unsupported unless empty.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub service_principal_risk_levels: Prop<Value>,
    /// Unsupported unless `null` or empty.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub insider_risk_levels: Prop<Value>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub platforms: Prop<Platforms>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub locations: Prop<Locations>,
    /// Unsupported unless `null`.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub times: Prop<Value>,
    /// Unsupported unless `null`.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub device_states: Prop<Value>,
    /// Unsupported unless `null` or every member is empty.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub devices: Prop<Value>,
    /// Workload identities: unsupported unless `null`.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub client_applications: Prop<Value>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub applications: Prop<Applications>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub users: Prop<Users>,
    /// Unsupported unless `null`.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub authentication_flows: Prop<Value>,
    /// Unsupported unless `null`.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub clients: Prop<Value>,
}

/// `riskLevel`. mailward has no risk detection yet: every sign-in carries `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
    /// Graph value; not supported in policies.
    Hidden,
    None,
    /// Graph value; not supported in policies.
    UnknownFutureValue,
}

impl RiskLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
            RiskLevel::Hidden => "hidden",
            RiskLevel::None => "none",
            RiskLevel::UnknownFutureValue => "unknownFutureValue",
        }
    }
}

/// Values of `clientAppTypes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ClientAppTypeValue {
    All,
    Browser,
    MobileAppsAndDesktopClients,
    /// All Exchange ActiveSync use.
    ExchangeActiveSync,
    /// Exchange ActiveSync from the platforms that support it (android, iOS, windowsPhone).
    EasSupported,
    /// Deprecated by Graph in favour of `exchangeActiveSync`; not supported.
    EasUnsupported,
    /// Legacy (basic authentication) protocols.
    Other,
    /// Graph value; not supported.
    UnknownFutureValue,
}

impl ClientAppTypeValue {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAppTypeValue::All => "all",
            ClientAppTypeValue::Browser => "browser",
            ClientAppTypeValue::MobileAppsAndDesktopClients => "mobileAppsAndDesktopClients",
            ClientAppTypeValue::ExchangeActiveSync => "exchangeActiveSync",
            ClientAppTypeValue::EasSupported => "easSupported",
            ClientAppTypeValue::EasUnsupported => "easUnsupported",
            ClientAppTypeValue::Other => "other",
            ClientAppTypeValue::UnknownFutureValue => "unknownFutureValue",
        }
    }
}

/// `conditionalAccessUsers`. Lists hold object ids or the keywords `All`, `None`,
/// `GuestsOrExternalUsers` (users) and role template ids or mailward role names (roles).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Users {
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub include_users: Prop<Vec<String>>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub exclude_users: Prop<Vec<String>>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub include_groups: Prop<Vec<String>>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub exclude_groups: Prop<Vec<String>>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub include_roles: Prop<Vec<String>>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub exclude_roles: Prop<Vec<String>>,
    /// Unsupported unless `null`.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub include_guests_or_external_users: Prop<Value>,
    /// Unsupported unless `null`.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub exclude_guests_or_external_users: Prop<Value>,
}

/// `conditionalAccessApplications`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Applications {
    /// App ids, `All`, `Office365`, `MicrosoftAdminPortals`.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub include_applications: Prop<Vec<String>>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub exclude_applications: Prop<Vec<String>>,
    /// User actions: unsupported unless empty.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub include_user_actions: Prop<Vec<String>>,
    /// Authentication context: unsupported unless empty.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub include_authentication_context_class_references: Prop<Vec<String>>,
    /// Unsupported unless `null`.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub application_filter: Prop<Value>,
    /// Unsupported unless `null`.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub network_access: Prop<Value>,
    /// Unsupported unless `null`.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub global_secure_access: Prop<Value>,
}

/// `conditionalAccessLocations`: named location ids, `All`, `AllTrusted`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Locations {
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub include_locations: Prop<Vec<String>>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub exclude_locations: Prop<Vec<String>>,
}

/// `conditionalAccessPlatforms`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Platforms {
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub include_platforms: Prop<Vec<PlatformValue>>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub exclude_platforms: Prop<Vec<PlatformValue>>,
}

/// `conditionalAccessDevicePlatform` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PlatformValue {
    #[serde(rename = "android")]
    Android,
    #[serde(rename = "iOS")]
    IOS,
    #[serde(rename = "windows")]
    Windows,
    #[serde(rename = "windowsPhone")]
    WindowsPhone,
    #[serde(rename = "macOS")]
    MacOS,
    #[serde(rename = "linux")]
    Linux,
    #[serde(rename = "all")]
    All,
    /// Graph value; not supported.
    #[serde(rename = "unknownFutureValue")]
    UnknownFutureValue,
}

/// `conditionalAccessGrantControls`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct GrantControls {
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub operator: Prop<Operator>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub built_in_controls: Prop<Vec<BuiltInControl>>,
    /// Unsupported unless empty.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub custom_authentication_factors: Prop<Vec<String>>,
    /// Unsupported unless empty.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub terms_of_use: Prop<Vec<String>>,
    /// Annotation Graph writes before an expanded `authenticationStrength`.
    #[serde(
        rename = "authenticationStrength@odata.context",
        skip_serializing_if = "Prop::is_absent"
    )]
    pub authentication_strength_odata_context: Prop<String>,
    /// An `authenticationStrengthPolicy`: only its `id` is read (built-in MFA or
    /// phishing-resistant MFA); the rest is Graph's read-only expansion, kept verbatim.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub authentication_strength: Prop<Value>,
}

/// `operator` of grant controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Operator {
    /// Require all the selected controls.
    #[serde(rename = "AND")]
    And,
    /// Require one of the selected controls.
    #[serde(rename = "OR")]
    Or,
}

/// `builtInControls` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BuiltInControl {
    Block,
    Mfa,
    /// Accepted, never satisfiable in mailward (no device management).
    CompliantDevice,
    /// Accepted, never satisfiable in mailward (no device join).
    DomainJoinedDevice,
    /// Accepted, never satisfiable in mailward (no app protection).
    ApprovedApplication,
    /// Accepted, never satisfiable in mailward (no app protection).
    CompliantApplication,
    PasswordChange,
    /// Graph value; not supported.
    RiskRemediation,
    /// Graph value; not supported.
    UnknownFutureValue,
}

impl BuiltInControl {
    pub fn as_str(self) -> &'static str {
        match self {
            BuiltInControl::Block => "block",
            BuiltInControl::Mfa => "mfa",
            BuiltInControl::CompliantDevice => "compliantDevice",
            BuiltInControl::DomainJoinedDevice => "domainJoinedDevice",
            BuiltInControl::ApprovedApplication => "approvedApplication",
            BuiltInControl::CompliantApplication => "compliantApplication",
            BuiltInControl::PasswordChange => "passwordChange",
            BuiltInControl::RiskRemediation => "riskRemediation",
            BuiltInControl::UnknownFutureValue => "unknownFutureValue",
        }
    }
}

/// `conditionalAccessSessionControls`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SessionControls {
    /// Unsupported unless `null` or `false`.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub disable_resilience_defaults: Prop<Value>,
    /// Unsupported unless `null` or disabled.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub application_enforced_restrictions: Prop<Value>,
    /// Unsupported unless `null` or disabled.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub cloud_app_security: Prop<Value>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub persistent_browser: Prop<PersistentBrowser>,
    /// Unsupported unless `null` or disabled.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub continuous_access_evaluation: Prop<Value>,
    /// Unsupported unless `null` or disabled.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub secure_sign_in_session: Prop<Value>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub sign_in_frequency: Prop<SignInFrequency>,
    /// Unsupported unless `null`.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub network_access_security: Prop<Value>,
    /// Unsupported unless `null`.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub global_secure_access_filtering_profile: Prop<Value>,
}

/// `signInFrequencySessionControl`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SignInFrequency {
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub value: Prop<i64>,
    #[serde(rename = "type", skip_serializing_if = "Prop::is_absent")]
    pub kind: Prop<FrequencyUnit>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub authentication_type: Prop<FrequencyAuthenticationType>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub frequency_interval: Prop<FrequencyInterval>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub is_enabled: Prop<bool>,
}

/// `signinFrequencyType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FrequencyUnit {
    Days,
    Hours,
}

/// `signInFrequencyAuthenticationType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FrequencyAuthenticationType {
    /// The whole sign-in must be fresh (compared with `auth_time`).
    PrimaryAndSecondaryAuthentication,
    /// Only the second factor must be fresh (compared with `mfa_time`).
    SecondaryAuthentication,
    /// Graph value; not supported.
    UnknownFutureValue,
}

/// `signInFrequencyInterval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FrequencyInterval {
    TimeBased,
    /// Reauthenticate every time (five minutes of clock skew allowed, as Entra does).
    EveryTime,
    /// Graph value; not supported.
    UnknownFutureValue,
}

/// `persistentBrowserSessionControl`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PersistentBrowser {
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub mode: Prop<PersistentBrowserMode>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub is_enabled: Prop<bool>,
}

/// `persistentBrowserSessionMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PersistentBrowserMode {
    /// The browser session cookie survives closing the browser.
    Always,
    /// The browser session cookie ends with the browser.
    Never,
}
