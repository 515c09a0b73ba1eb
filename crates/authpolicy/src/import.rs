//! Importing policies from JSON as `Get-AuthenticationPolicy | ConvertTo-Json` prints them:
//! one object, or an array of objects.
//!
//! - `Name` is required. Switches are booleans (`null` counts as `false`, as an unset
//!   on-premises switch prints). Property names are matched ignoring ASCII case, as
//!   PowerShell does; the same property twice is an error, even when the two spellings
//!   differ only in case (plain `serde_json` maps would silently keep the last one).
//! - Exchange's read-only metadata (`Identity`, `Guid`, `DistinguishedName`, `WhenCreated`,
//!   ...) is accepted and ignored, so a real export imports unchanged.
//! - Anything else is refused with the property's name: a switch that does not exist for
//!   its protocol (`BlockLegacyAuthSmtp`) as [`ErrorKind::UnknownSwitch`], any other name as
//!   [`ErrorKind::UnknownField`].

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::error::{ErrorKind, FieldError, ImportError};
use crate::policy::{AuthenticationPolicy, PolicyName};
use crate::switch::{Switch, SwitchError};

/// Read-only properties of Get-AuthenticationPolicy output (and PowerShell remoting's
/// additions) that carry nothing mailward keeps.
const IGNORED: &[&str] = &[
    "AdminDisplayName",
    "DistinguishedName",
    "ExchangeObjectId",
    "ExchangeVersion",
    "Guid",
    "Id",
    "Identity",
    "IsValid",
    "ObjectCategory",
    "ObjectClass",
    "ObjectState",
    "OrganizationId",
    "OriginatingServer",
    "PSComputerName",
    "PSShowComputerName",
    "RunspaceId",
    "WhenChanged",
    "WhenChangedUTC",
    "WhenCreated",
    "WhenCreatedUTC",
];

impl AuthenticationPolicy {
    /// Imports one policy from a JSON object.
    pub fn from_json(json: &str) -> Result<AuthenticationPolicy, ImportError> {
        let entries: Entries = serde_json::from_str(json).map_err(syntax)?;
        let mut errors = Vec::new();
        let policy = from_entries(&entries, "", &mut errors);
        match policy {
            Some(policy) if errors.is_empty() => Ok(policy),
            _ => Err(ImportError { errors }),
        }
    }

    /// Exports as a JSON object (see the `Serialize` impl).
    pub fn to_json(&self) -> String {
        // A map of strings and booleans always serializes.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Imports one policy (a JSON object) or several (an array of objects), checking that
/// names are unique ignoring case. All problems are reported together.
pub fn import_policies(json: &str) -> Result<Vec<AuthenticationPolicy>, ImportError> {
    let document: Document = serde_json::from_str(json).map_err(syntax)?;
    let mut errors = Vec::new();
    let policies: Vec<AuthenticationPolicy> = match &document {
        Document::One(entries) => from_entries(entries, "", &mut errors).into_iter().collect(),
        Document::Many(items) => {
            let mut seen: Vec<String> = Vec::new();
            let mut out = Vec::new();
            for (i, entries) in items.iter().enumerate() {
                let prefix = format!("[{i}].");
                let Some(policy) = from_entries(entries, &prefix, &mut errors) else {
                    continue;
                };
                let key = policy.name().key();
                if seen.contains(&key) {
                    errors.push(FieldError::new(
                        format!("{prefix}Name"),
                        ErrorKind::Duplicate,
                        format!(
                            "another policy is already named {:?}",
                            policy.name().as_str()
                        ),
                    ));
                }
                seen.push(key);
                out.push(policy);
            }
            out
        }
    };
    if errors.is_empty() {
        Ok(policies)
    } else {
        Err(ImportError { errors })
    }
}

/// Goes through the `Deserialize` of any self-describing format with the same checks as
/// [`AuthenticationPolicy::from_json`]; the error message lists every problem.
impl<'de> Deserialize<'de> for AuthenticationPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Entries::deserialize(deserializer)?;
        let mut errors = Vec::new();
        match from_entries(&entries, "", &mut errors) {
            Some(policy) if errors.is_empty() => Ok(policy),
            _ => Err(de::Error::custom(ImportError { errors })),
        }
    }
}

fn syntax(e: serde_json::Error) -> ImportError {
    ImportError {
        errors: vec![FieldError::new("", ErrorKind::Syntax, e.to_string())],
    }
}

/// Builds a policy from an object's properties, pushing every problem to `errors`.
/// Returns a policy whenever the name is usable (even if other properties were refused),
/// so that duplicate names can still be detected.
fn from_entries(
    entries: &Entries,
    prefix: &str,
    errors: &mut Vec<FieldError>,
) -> Option<AuthenticationPolicy> {
    let mut name: Option<PolicyName> = None;
    let mut name_seen = false;
    let mut switches: Vec<(Switch, bool)> = Vec::new();
    let mut seen_keys: Vec<String> = Vec::new();
    for (key, value) in &entries.0 {
        let path = format!("{prefix}{key}");
        let folded = key.to_ascii_lowercase();
        if seen_keys.contains(&folded) {
            errors.push(FieldError::new(
                &path,
                ErrorKind::Duplicate,
                "the property appears more than once",
            ));
            continue;
        }
        seen_keys.push(folded);
        if key.eq_ignore_ascii_case("Name") {
            name_seen = true;
            match value {
                Value::String(s) => match PolicyName::try_from(s.as_str()) {
                    Ok(n) => name = Some(n),
                    Err(e) => {
                        errors.push(FieldError::new(&path, ErrorKind::Invalid, e.to_string()))
                    }
                },
                _ => errors.push(FieldError::new(
                    &path,
                    ErrorKind::Syntax,
                    "expected a string",
                )),
            }
            continue;
        }
        if IGNORED.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            continue;
        }
        match Switch::parse(key) {
            Ok(switch) => match value {
                Value::Bool(on) => switches.push((switch, *on)),
                Value::Null => switches.push((switch, false)),
                _ => errors.push(FieldError::new(
                    &path,
                    ErrorKind::Syntax,
                    "expected true, false or null",
                )),
            },
            Err(e @ SwitchError::NotForProtocol { .. }) => {
                errors.push(FieldError::new(
                    &path,
                    ErrorKind::UnknownSwitch,
                    e.to_string(),
                ));
            }
            Err(SwitchError::Unknown { .. }) => errors.push(FieldError::new(
                &path,
                ErrorKind::UnknownField,
                "not an authentication policy property",
            )),
        }
    }
    if !name_seen {
        errors.push(FieldError::new(
            format!("{prefix}Name"),
            ErrorKind::Required,
            "a policy needs a Name",
        ));
    }
    let mut policy = AuthenticationPolicy::new(name?);
    for (switch, on) in switches {
        policy.set(switch, on);
    }
    Some(policy)
}

/// An object's properties in document order, duplicates kept.
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntriesVisitor)
    }
}

struct EntriesVisitor;

impl<'de> Visitor<'de> for EntriesVisitor {
    type Value = Entries;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an authentication policy object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            out.push((k, v));
        }
        Ok(Entries(out))
    }
}

/// One policy or an array of them.
enum Document {
    One(Entries),
    Many(Vec<Entries>),
}

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Document;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an authentication policy object or an array of them")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Document, A::Error> {
        EntriesVisitor.visit_map(map).map(Document::One)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Document, A::Error> {
        let mut out = Vec::new();
        while let Some(entries) = seq.next_element::<Entries>()? {
            out.push(entries);
        }
        Ok(Document::Many(out))
    }
}
