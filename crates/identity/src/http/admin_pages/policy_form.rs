//! The policy form: the common members of a conditional access policy (name, state, users
//! and groups, applications, client app types, locations, grant controls and their
//! operator) as form fields beside the JSON view.
//!
//! Both views write the same Graph JSON. Each field is named by its member's path in the
//! policy (`conditions.users.includeUsers`); saving from the form sets exactly those
//! members in the JSON view's document and keeps every other member as it is, so what the
//! form does not cover stays editable in the JSON. An empty field removes its member (and
//! an object it leaves empty). `assets/admin.js` applies the same rules in the browser on
//! every change, so the two views stay in step; without script the page works by posting
//! the view that was edited ("Save" for the form, "Save JSON" for the document).

use super::Form;
use serde_json::{Map, Value, json};

/// How a form field holds a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One string (a text box or a choice); empty removes the member.
    Text,
    /// A list of strings, one per line (commas separate too); empty removes the member.
    Lines,
    /// A list of strings from checkboxes; none checked removes the member.
    Checks,
}

/// The members the form edits, in the order they are applied.
const FIELDS: &[(&str, Shape)] = &[
    ("displayName", Shape::Text),
    ("state", Shape::Text),
    ("conditions.users.includeUsers", Shape::Lines),
    ("conditions.users.excludeUsers", Shape::Lines),
    ("conditions.users.includeGroups", Shape::Lines),
    ("conditions.users.excludeGroups", Shape::Lines),
    ("conditions.applications.includeApplications", Shape::Lines),
    ("conditions.applications.excludeApplications", Shape::Lines),
    ("conditions.clientAppTypes", Shape::Checks),
    ("conditions.locations.includeLocations", Shape::Checks),
    ("conditions.locations.excludeLocations", Shape::Checks),
    ("grantControls.builtInControls", Shape::Checks),
    ("grantControls.operator", Shape::Text),
];

const STATES: &[(&str, &str)] = &[
    ("enabled", "On"),
    ("enabledForReportingButNotEnforced", "Report-only"),
    ("disabled", "Off"),
];

const OPERATORS: &[(&str, &str)] = &[
    ("OR", "Require one of the selected controls"),
    ("AND", "Require all the selected controls"),
];

const CLIENT_APP_TYPES: &[(&str, &str)] = &[
    ("all", "All"),
    ("browser", "Browser"),
    (
        "mobileAppsAndDesktopClients",
        "Mobile apps and desktop clients",
    ),
    ("exchangeActiveSync", "Exchange ActiveSync"),
    ("other", "Other clients (basic authentication)"),
];

const GRANT_CONTROLS: &[(&str, &str)] = &[
    ("block", "Block access"),
    ("mfa", "Require MFA"),
    ("passwordChange", "Require password change"),
    ("compliantDevice", "Require compliant device"),
    ("domainJoinedDevice", "Require hybrid joined device"),
    ("approvedApplication", "Require approved app"),
    ("compliantApplication", "Require app protection policy"),
];

const LOCATION_KEYWORDS: &[(&str, &str)] = &[
    ("All", "Any location"),
    ("AllTrusted", "All trusted locations"),
];

/// Sets the form's members in `doc` (a policy document), keeping every other member.
pub(super) fn apply(doc: &mut Map<String, Value>, form: &Form) {
    for &(path, shape) in FIELDS {
        let value = match shape {
            Shape::Text => form
                .get(path)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string())),
            Shape::Lines => {
                let items: Vec<Value> = form
                    .get(path)
                    .unwrap_or_default()
                    .split(['\n', ','])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_string()))
                    .collect();
                (!items.is_empty()).then_some(Value::Array(items))
            }
            Shape::Checks => {
                let mut items: Vec<Value> = vec![];
                for v in form.all(path).filter(|s| !s.is_empty()) {
                    let v = Value::String(v.to_string());
                    if !items.contains(&v) {
                        items.push(v);
                    }
                }
                (!items.is_empty()).then_some(Value::Array(items))
            }
        };
        set(doc, path, value);
    }
    // An operator with nothing to combine is no grant control.
    if let Some(Value::Object(g)) = doc.get("grantControls")
        && g.keys().all(|k| k == "operator")
    {
        doc.remove("grantControls");
    }
}

/// Sets (or with `None` removes) the member at a dotted path, making the objects on the way
/// and removing those a removal leaves empty.
fn set(doc: &mut Map<String, Value>, path: &str, value: Option<Value>) {
    match path.split_once('.') {
        None => match value {
            Some(v) => {
                doc.insert(path.to_string(), v);
            }
            None => {
                doc.remove(path);
            }
        },
        Some((head, rest)) => {
            let child = doc.get_mut(head).and_then(Value::as_object_mut);
            match (child, value) {
                (Some(child), value) => {
                    set(child, rest, value);
                    if child.is_empty() {
                        doc.remove(head);
                    }
                }
                (None, Some(v)) => {
                    let mut child = Map::new();
                    set(&mut child, rest, Some(v));
                    doc.insert(head.to_string(), Value::Object(child));
                }
                (None, None) => {}
            }
        }
    }
}

fn get<'a>(doc: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(doc, |v, k| &v[k])
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Options for a choice or checkboxes: the known ones, then any other value the document
/// holds (so saving from the form never drops it).
fn options(known: &[(String, String)], current: &[String]) -> Vec<Value> {
    let mut out: Vec<Value> = known
        .iter()
        .map(|(v, label)| json!({ "value": v, "label": label, "on": current.contains(v) }))
        .collect();
    for c in current {
        if !known.iter().any(|(v, _)| v == c) {
            out.push(json!({ "value": c, "label": c, "on": true }));
        }
    }
    out
}

fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(v, l)| (v.to_string(), l.to_string()))
        .collect()
}

/// What the template needs to show the form for `doc` (`None` when the JSON view does not
/// hold a JSON object: the form is then shown empty and says so). `locations` are the named
/// locations as (id, display name).
pub(super) fn view(doc: Option<&Value>, locations: &[(String, String)]) -> Value {
    let empty = Value::Null;
    let d = doc.unwrap_or(&empty);
    let mut fields = Map::new();
    for &(path, shape) in FIELDS {
        let v = get(d, path);
        let shown = match shape {
            Shape::Text => json!(v.as_str().unwrap_or_default()),
            Shape::Lines => json!(strings(v).join("\n")),
            Shape::Checks => Value::Null,
        };
        fields.insert(path.to_string(), shown);
    }
    let mut location_options = owned(LOCATION_KEYWORDS);
    location_options.extend(locations.iter().cloned());
    let checks = |path: &str, known: &[(String, String)]| options(known, &strings(get(d, path)));
    let state = d["state"]
        .as_str()
        .unwrap_or("enabledForReportingButNotEnforced");
    let operator = get(d, "grantControls.operator").as_str().unwrap_or("OR");
    json!({
        "valid": doc.is_some(),
        "fields": fields,
        "states": options(&owned(STATES), &[state.to_string()]),
        "operators": options(&owned(OPERATORS), &[operator.to_string()]),
        "client_app_types": checks("conditions.clientAppTypes", &owned(CLIENT_APP_TYPES)),
        "include_locations": checks("conditions.locations.includeLocations", &location_options),
        "exclude_locations": checks("conditions.locations.excludeLocations", &location_options),
        "grant_controls": checks("grantControls.builtInControls", &owned(GRANT_CONTROLS)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn applied(doc: Value, pairs: &[(&str, &str)]) -> Value {
        let Value::Object(mut m) = doc else {
            panic!("not an object")
        };
        apply(&mut m, &form(pairs));
        Value::Object(m)
    }

    #[test]
    fn the_form_writes_the_common_members() {
        let doc = applied(
            json!({}),
            &[
                ("displayName", " Require MFA "),
                ("state", "enabled"),
                ("conditions.users.includeUsers", "All"),
                ("conditions.users.excludeUsers", "a\r\n b ,c\n\n"),
                ("conditions.applications.includeApplications", "Office365"),
                ("conditions.clientAppTypes", "browser"),
                ("conditions.clientAppTypes", "other"),
                ("conditions.clientAppTypes", "browser"),
                ("grantControls.builtInControls", "mfa"),
                ("grantControls.operator", "OR"),
            ],
        );
        assert_eq!(
            doc,
            json!({
                "displayName": "Require MFA",
                "state": "enabled",
                "conditions": {
                    "users": { "includeUsers": ["All"], "excludeUsers": ["a", "b", "c"] },
                    "applications": { "includeApplications": ["Office365"] },
                    "clientAppTypes": ["browser", "other"],
                },
                "grantControls": { "builtInControls": ["mfa"], "operator": "OR" },
            })
        );
    }

    #[test]
    fn members_the_form_does_not_cover_are_kept_and_empty_fields_remove_theirs() {
        let stored = json!({
            "id": "p1",
            "displayName": "Old",
            "state": "disabled",
            "conditions": {
                "users": { "includeUsers": ["All"], "includeRoles": ["r1"] },
                "applications": { "includeApplications": ["All"] },
                "locations": { "includeLocations": ["All"], "excludeLocations": ["loc1"] },
                "platforms": { "includePlatforms": ["android"] },
            },
            "grantControls": { "operator": "OR", "builtInControls": ["mfa"],
                               "authenticationStrength": { "id": "s" } },
            "sessionControls": { "signInFrequency": { "isEnabled": true } },
        });
        let doc = applied(
            stored,
            &[
                ("displayName", "New"),
                ("state", "enabled"),
                ("conditions.users.includeUsers", "All"),
                ("conditions.applications.includeApplications", "All"),
                ("grantControls.operator", "AND"),
            ],
        );
        assert_eq!(
            doc,
            json!({
                "id": "p1",
                "displayName": "New",
                "state": "enabled",
                "conditions": {
                    "users": { "includeUsers": ["All"], "includeRoles": ["r1"] },
                    "applications": { "includeApplications": ["All"] },
                    "platforms": { "includePlatforms": ["android"] },
                },
                "grantControls": { "operator": "AND", "authenticationStrength": { "id": "s" } },
                "sessionControls": { "signInFrequency": { "isEnabled": true } },
            })
        );
        // An operator alone is no grant control.
        let doc = applied(
            json!({ "grantControls": { "operator": "OR", "builtInControls": ["block"] } }),
            &[("grantControls.operator", "OR")],
        );
        assert_eq!(doc, json!({}));
    }

    #[test]
    fn the_view_shows_the_document_and_keeps_unknown_values_as_options() {
        let doc = json!({
            "displayName": "P",
            "state": "enabled",
            "conditions": {
                "users": { "includeUsers": ["u1", "u2"] },
                "locations": { "includeLocations": ["All"], "excludeLocations": ["gone"] },
            },
            "grantControls": { "operator": "AND", "builtInControls": ["mfa", "custom"] },
        });
        let v = view(Some(&doc), &[("loc1".into(), "Office".into())]);
        assert_eq!(v["fields"]["conditions.users.includeUsers"], "u1\nu2");
        assert_eq!(v["fields"]["displayName"], "P");
        let on = |list: &Value| -> Vec<String> {
            list.as_array()
                .unwrap()
                .iter()
                .filter(|o| o["on"] == true)
                .map(|o| o["value"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(on(&v["grant_controls"]), ["mfa", "custom"]);
        assert_eq!(on(&v["exclude_locations"]), ["gone"]);
        assert_eq!(on(&v["include_locations"]), ["All"]);
        assert!(
            v["include_locations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["value"] == "loc1" && o["label"] == "Office")
        );
        assert_eq!(on(&v["operators"]), ["AND"]);
        assert_eq!(view(None, &[])["valid"], false);
    }
}
