//! How clients find their settings:
//!
//! - Autodiscover v2 (`GET /autodiscover/autodiscover.json?Email=&Protocol=` and the
//!   `/autodiscover/autodiscover.json/v1.0/<address>?Protocol=` form), anonymous, one URL
//!   per protocol as Exchange Online answers, for what this instance serves:
//!   `AutodiscoverV1` (the POX endpoint below) and `Rest` (this API's base, like Exchange
//!   Online's `https://outlook.office.com/api`). Anything else, `ActiveSync` included
//!   (not served), is `400 InvalidProtocol`; as in Exchange, IMAP/POP/SMTP settings are
//!   not part of v2.
//! - Autodiscover v1 "POX" (`POST /autodiscover/autodiscover.xml`, MS-OXDSCLI, the
//!   Outlook response schema): authenticated (protocol `Autodiscover`), so an anonymous
//!   request gets the bearer challenge that names identity; answers IMAP, POP3 and SMTP
//!   settings.
//! - Thunderbird autoconfig (`/.well-known/autoconfig/mail/config-v1.1.xml`,
//!   `/mail/config-v1.1.xml?emailaddress=`), anonymous: IMAP, POP3 and SMTP with
//!   `OAuth2` authentication and an `<oAuth2>` block naming identity's endpoints.
//! - `/Microsoft-Server-ActiveSync`: not served (never advertised), but answers the
//!   empty-bearer probe with the challenge (Outlook mobile learns the authority there).

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use mailward_authpolicy::Protocol;
use serde_json::json;

use super::auth::{authenticate, challenge, credentials};
use super::{AppState, Endpoints, GraphError};
use crate::config::Listener;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/autodiscover/autodiscover.json", get(v2_query))
        .route("/Autodiscover/Autodiscover.json", get(v2_query))
        .route(
            "/autodiscover/autodiscover.json/v1.0/{address}",
            get(v2_path),
        )
        .route(
            "/Autodiscover/Autodiscover.json/v1.0/{address}",
            get(v2_path),
        )
        .route("/autodiscover/autodiscover.xml", post(pox))
        .route("/Autodiscover/Autodiscover.xml", post(pox))
        .route(
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            get(autoconfig),
        )
        .route("/mail/config-v1.1.xml", get(autoconfig))
        .route("/Microsoft-Server-ActiveSync", any(activesync))
}

/// The v2 protocols this instance serves. Only these are advertised: a client told
/// about an endpoint that then answers `501` gives up on the account.
const V2_PROTOCOLS: &str = "AutodiscoverV1,Rest";

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.into_owned())
}

fn v2_error(code: &str, message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"ErrorCode": code, "ErrorMessage": message})),
    )
        .into_response()
}

fn v2_answer(ep: &Endpoints, address: Option<&str>, protocol: Option<&str>) -> Response {
    match address {
        Some(a) if crate::graph::valid_address(a) => {}
        _ => {
            return v2_error(
                "InvalidUser",
                "The given email address is missing or invalid.".into(),
            );
        }
    }
    let given = protocol.unwrap_or_default();
    let url = match given.to_ascii_lowercase().as_str() {
        "autodiscoverv1" => format!("{}/autodiscover/autodiscover.xml", ep.public_url),
        "rest" => format!("{}/api", ep.public_url),
        _ => {
            let shown: String = given.chars().filter(|c| !c.is_control()).take(64).collect();
            return v2_error(
                "InvalidProtocol",
                format!(
                    "The given protocol value '{shown}' is invalid. Supported values are '{V2_PROTOCOLS}'."
                ),
            );
        }
    };
    axum::Json(json!({"Protocol": given, "Url": url})).into_response()
}

async fn v2_query(State(s): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let q = q.as_deref();
    v2_answer(
        &s.endpoints,
        query_param(q, "Email").as_deref(),
        query_param(q, "Protocol").as_deref(),
    )
}

async fn v2_path(
    State(s): State<AppState>,
    Path(address): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    v2_answer(
        &s.endpoints,
        Some(&address),
        query_param(q.as_deref(), "Protocol").as_deref(),
    )
}

pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

fn xml(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// (type, listener with implicit TLS, listener with STARTTLS) of each protocol.
const PROTOCOLS: [(&str, Listener, Listener); 3] = [
    ("imap", Listener::Imaps, Listener::Imap),
    ("pop3", Listener::Pop3s, Listener::Pop3),
    ("smtp", Listener::Submissions, Listener::Submission),
];

async fn autoconfig(State(s): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let ep = &s.endpoints;
    let email = query_param(q.as_deref(), "emailaddress");
    let domain = match &email {
        Some(e) => {
            let d = e.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
            match d {
                Some(d)
                    if crate::graph::valid_address(e)
                        && (ep.local_domains.is_empty() || ep.local_domains.contains(&d)) =>
                {
                    d
                }
                _ => {
                    return GraphError::not_found("No configuration for this address.")
                        .into_response();
                }
            }
        }
        None => ep
            .local_domains
            .first()
            .cloned()
            .unwrap_or_else(|| ep.hostname.clone()),
    };
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n",
    );
    out.push_str(&format!(
        "  <emailProvider id=\"{}\">\n",
        xml_escape(&domain)
    ));
    let mut domains = ep.local_domains.clone();
    if !domains.contains(&domain) {
        domains.insert(0, domain.clone());
    }
    for d in &domains {
        out.push_str(&format!("    <domain>{}</domain>\n", xml_escape(d)));
    }
    out.push_str("    <displayName>mailward</displayName>\n    <displayShortName>mailward</displayShortName>\n");
    for (kind, implicit, starttls) in PROTOCOLS {
        for (listener, socket) in [(implicit, "SSL"), (starttls, "STARTTLS")] {
            let Some(port) = ep.ports.get(&listener) else {
                continue;
            };
            let tag = if kind == "smtp" {
                "outgoingServer"
            } else {
                "incomingServer"
            };
            out.push_str(&format!(
                "    <{tag} type=\"{kind}\">\n      <hostname>{}</hostname>\n      <port>{port}</port>\n      <socketType>{socket}</socketType>\n      <authentication>OAuth2</authentication>\n      <username>%EMAILADDRESS%</username>\n    </{tag}>\n",
                xml_escape(&ep.hostname)
            ));
        }
    }
    out.push_str("  </emailProvider>\n");
    let issuer_host = url::Url::parse(&ep.identity_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let scope = ["IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send"]
        .iter()
        .map(|s| format!("{}/{s}", ep.resource_uri))
        .chain(std::iter::once("offline_access".to_string()))
        .collect::<Vec<_>>()
        .join(" ");
    out.push_str(&format!(
        "  <oAuth2>\n    <issuer>{}</issuer>\n    <scope>{}</scope>\n    <authURL>{}/oauth2/v2.0/authorize</authURL>\n    <tokenURL>{}/oauth2/v2.0/token</tokenURL>\n  </oAuth2>\n</clientConfig>\n",
        xml_escape(&issuer_host),
        xml_escape(&scope),
        xml_escape(&ep.identity_url),
        xml_escape(&ep.identity_url),
    ));
    xml(out)
}

/// The text of the first `<tag>` element (no XML library: the request is tiny and only
/// this one value matters).
fn element<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find("</")? + start;
    Some(body[start..end].trim())
}

async fn pox(State(s): State<AppState>, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    let principal = match authenticate(&parts, &s, Protocol::Autodiscover, false).await {
        Ok(p) => p,
        Err(res) => return res,
    };
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let text = String::from_utf8_lossy(&bytes);
    if element(&text, "EMailAddress").is_none() {
        return (StatusCode::BAD_REQUEST, "The request has no EMailAddress.").into_response();
    }
    let ep = &s.endpoints;
    let account = &principal.account;
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n  <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">\n",
    );
    out.push_str(&format!(
        "    <User>\n      <DisplayName>{}</DisplayName>\n      <AutoDiscoverSMTPAddress>{}</AutoDiscoverSMTPAddress>\n    </User>\n    <Account>\n      <AccountType>email</AccountType>\n      <Action>settings</Action>\n",
        xml_escape(&account.display_name),
        xml_escape(&account.address),
    ));
    for (kind, implicit, starttls) in PROTOCOLS {
        let (port, encryption) = match (ep.ports.get(&implicit), ep.ports.get(&starttls)) {
            (Some(p), _) => (*p, "<SSL>on</SSL>"),
            (None, Some(p)) => (*p, "<SSL>off</SSL>\n        <Encryption>TLS</Encryption>"),
            (None, None) => continue,
        };
        out.push_str(&format!(
            "      <Protocol>\n        <Type>{}</Type>\n        <Server>{}</Server>\n        <Port>{port}</Port>\n        <LoginName>{}</LoginName>\n        <DomainRequired>off</DomainRequired>\n        <SPA>off</SPA>\n        {encryption}\n        <AuthRequired>on</AuthRequired>\n      </Protocol>\n",
            kind.to_ascii_uppercase(),
            xml_escape(&ep.hostname),
            xml_escape(&account.address),
        ));
    }
    out.push_str("    </Account>\n  </Response>\n</Autodiscover>\n");
    xml(out)
}

async fn activesync(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if credentials(&headers).is_none() {
        return challenge(&s, None, false).await;
    }
    GraphError::new(
        StatusCode::NOT_IMPLEMENTED,
        "ErrorNotSupported",
        "Exchange ActiveSync is not served by this instance; use IMAP, SMTP or the REST API.",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_is_escaped_and_elements_found() {
        assert_eq!(xml_escape("a<b>&\"c'\u{1}"), "a&lt;b&gt;&amp;&quot;c&apos;");
        let req = "<Autodiscover><Request><EMailAddress> a@b.test </EMailAddress></Request></Autodiscover>";
        assert_eq!(element(req, "EMailAddress"), Some("a@b.test"));
        assert_eq!(element(req, "Missing"), None);
        assert_eq!(
            query_param(Some("email=x%40y&PROTOCOL=Rest"), "Protocol").as_deref(),
            Some("Rest")
        );
        assert_eq!(query_param(None, "Protocol"), None);
    }
}
