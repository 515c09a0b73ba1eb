//! Messages in Microsoft Graph's JSON shape: a stored RFC 5322 message as a Graph
//! `message` resource (parsed with mail-parser), and a Graph `message` from `sendMail` as
//! RFC 5322 bytes (written with mail-builder).
//!
//! Flags map onto Graph properties: `\Seen` is `isRead`, `\Draft` is `isDraft`,
//! `\Flagged` is `flag.flagStatus = "flagged"`, and the keyword `$Completed` is
//! `"complete"` (IMAP has no completed state of its own).

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address as BuiltAddress;
use mail_builder::headers::date::Date;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_parser::{Address, MessageParser};
use mailward_mailstore::{Flags, MessageMeta};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The keyword that stands for Graph's `flagStatus: "complete"`.
pub(crate) const COMPLETED_KEYWORD: &str = "$Completed";

/// Which body representation the client prefers (`Prefer: outlook.body-content-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyPreference {
    /// HTML when the message has an HTML part, else text (Graph's default).
    Html,
    Text,
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    // Graph writes UTC with a `Z`; whole seconds.
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

fn recipients(addr: Option<&Address<'_>>) -> Vec<Value> {
    addr.map(|a| a.iter().map(email_address).collect())
        .unwrap_or_default()
}

fn email_address(a: &mail_parser::Addr<'_>) -> Value {
    json!({"emailAddress": {
        "name": a.name().or(a.address()).unwrap_or_default(),
        "address": a.address().unwrap_or_default(),
    }})
}

/// The Graph `flag` of stored flags.
pub(crate) fn flag_status(flags: &Flags) -> &'static str {
    if flags.flagged {
        "flagged"
    } else if flags
        .keywords
        .iter()
        .any(|k| k.eq_ignore_ascii_case(COMPLETED_KEYWORD))
    {
        "complete"
    } else {
        "notFlagged"
    }
}

/// A stored message as a Graph `message`.
pub(crate) fn message_json(
    id: &str,
    parent_folder_id: &str,
    meta: &MessageMeta,
    raw: &[u8],
    body_pref: BodyPreference,
) -> Value {
    let received = rfc3339(meta.internal_date);
    let parsed = MessageParser::default().parse(raw);
    let Some(m) = parsed else {
        // Not even a header block: still list it, with what the store knows.
        return json!({
            "@odata.etag": format!("W/\"{}\"", meta.modseq),
            "id": id,
            "parentFolderId": parent_folder_id,
            "receivedDateTime": received,
            "createdDateTime": received,
            "lastModifiedDateTime": received,
            "subject": "",
            "isRead": meta.flags.seen,
            "isDraft": meta.flags.draft,
            "flag": {"flagStatus": flag_status(&meta.flags)},
            "body": {"contentType": "text", "content": ""},
            "bodyPreview": "",
            "hasAttachments": false,
            "toRecipients": [], "ccRecipients": [], "bccRecipients": [], "replyTo": [],
        });
    };
    let has_html = m.html_part(0).is_some_and(|p| p.is_text_html());
    let (content_type, content) = if has_html && body_pref == BodyPreference::Html {
        ("html", m.body_html(0).map(|c| c.into_owned()))
    } else {
        ("text", m.body_text(0).map(|c| c.into_owned()))
    };
    let sent = m
        .date()
        .and_then(|d| OffsetDateTime::from_unix_timestamp(d.to_timestamp()).ok())
        .map(rfc3339)
        .unwrap_or_else(|| received.clone());
    let from = m.from().and_then(Address::first).map(email_address);
    let sender = m
        .sender()
        .and_then(Address::first)
        .map(email_address)
        .or_else(|| from.clone());
    let importance = match m
        .header_raw("Importance")
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("high") => "high",
        Some("low") => "low",
        _ => "normal",
    };
    json!({
        "@odata.etag": format!("W/\"{}\"", meta.modseq),
        "id": id,
        "createdDateTime": received,
        "lastModifiedDateTime": received,
        "receivedDateTime": received,
        "sentDateTime": sent,
        "hasAttachments": m.attachment_count() > 0,
        "internetMessageId": m.message_id().map(|i| format!("<{i}>")),
        "subject": m.subject().unwrap_or_default(),
        "bodyPreview": m.body_preview(255).map(|p| p.trim().to_string()).unwrap_or_default(),
        "importance": importance,
        "parentFolderId": parent_folder_id,
        "isRead": meta.flags.seen,
        "isDraft": meta.flags.draft,
        "body": {"contentType": content_type, "content": content.unwrap_or_default()},
        "sender": sender,
        "from": from,
        "toRecipients": recipients(m.to()),
        "ccRecipients": recipients(m.cc()),
        "bccRecipients": recipients(m.bcc()),
        "replyTo": recipients(m.reply_to()),
        "flag": {"flagStatus": flag_status(&meta.flags)},
    })
}

// ---- sendMail input -----------------------------------------------------------------

/// The body of `POST /me/sendMail`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SendMail {
    pub message: OutgoingMessage,
    #[serde(default = "yes")]
    pub save_to_sent_items: bool,
}

fn yes() -> bool {
    true
}

/// The subset of Graph's `message` that `sendMail` accepts.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct OutgoingMessage {
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub body: Option<ItemBody>,
    #[serde(default)]
    pub to_recipients: Vec<Recipient>,
    #[serde(default)]
    pub cc_recipients: Vec<Recipient>,
    #[serde(default)]
    pub bcc_recipients: Vec<Recipient>,
    #[serde(default)]
    pub reply_to: Vec<Recipient>,
    #[serde(default)]
    pub importance: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ItemBody {
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub content: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Recipient {
    pub email_address: EmailAddress,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct EmailAddress {
    pub address: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// What is wrong with a message to send (the Graph error code and message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvalidMessage {
    pub code: &'static str,
    pub message: String,
}

fn invalid(code: &'static str, message: impl Into<String>) -> InvalidMessage {
    InvalidMessage {
        code,
        message: message.into(),
    }
}

/// A plausible mailbox address: `local@domain`, printable ASCII without the characters
/// that would change the meaning of an address header or SMTP path.
pub(crate) fn valid_address(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && a.len() <= 254
        && a.chars().all(|c| {
            c.is_ascii_graphic()
                && !matches!(
                    c,
                    '<' | '>' | ',' | ';' | ':' | '"' | '\\' | '(' | ')' | '[' | ']'
                )
        })
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// Header text without control characters (no header injection through a subject or a
/// display name).
fn header_text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// A message ready to submit.
#[derive(Debug)]
pub(crate) struct Built {
    /// What recipients get (no `Bcc:`).
    pub transmit: Vec<u8>,
    /// The copy for Sent Items (with `Bcc:`).
    pub sent_copy: Vec<u8>,
    /// Envelope recipients, lowercase, each once.
    pub recipients: Vec<String>,
}

/// Who sends.
#[derive(Debug, Clone)]
pub(crate) struct Author<'a> {
    pub address: &'a str,
    pub display_name: &'a str,
}

fn addresses(list: &[Recipient], field: &str) -> Result<Vec<(String, String)>, InvalidMessage> {
    list.iter()
        .map(|r| {
            let a = r.email_address.address.trim();
            if !valid_address(a) {
                return Err(invalid(
                    "ErrorInvalidRecipients",
                    format!(
                        "{field}: '{}' is not a valid email address.",
                        header_text(a)
                    ),
                ));
            }
            let name = r
                .email_address
                .name
                .as_deref()
                .map(header_text)
                .unwrap_or_default();
            Ok((name, a.to_string()))
        })
        .collect()
}

fn address_header(list: Vec<(String, String)>) -> BuiltAddress<'static> {
    BuiltAddress::new_list(
        list.into_iter()
            .map(|(name, addr)| BuiltAddress::new_address((!name.is_empty()).then_some(name), addr))
            .collect(),
    )
}

/// Builds the RFC 5322 message of a `sendMail` request.
pub(crate) fn build(
    msg: &OutgoingMessage,
    from: &Author<'_>,
    hostname: &str,
    now: OffsetDateTime,
) -> Result<Built, InvalidMessage> {
    let to = addresses(&msg.to_recipients, "toRecipients")?;
    let cc = addresses(&msg.cc_recipients, "ccRecipients")?;
    let bcc = addresses(&msg.bcc_recipients, "bccRecipients")?;
    let reply_to = addresses(&msg.reply_to, "replyTo")?;
    let mut recipients: Vec<String> = Vec::new();
    for (_, a) in to.iter().chain(&cc).chain(&bcc) {
        let a = a.to_ascii_lowercase();
        if !recipients.contains(&a) {
            recipients.push(a);
        }
    }
    if recipients.is_empty() {
        return Err(invalid(
            "ErrorInvalidRecipients",
            "At least one recipient is required.",
        ));
    }
    let importance = match msg
        .importance
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("normal") => None,
        Some("low") => Some("low"),
        Some("high") => Some("high"),
        Some(other) => {
            return Err(invalid(
                "ErrorInvalidRequest",
                format!(
                    "importance '{}' is not one of low, normal, high.",
                    header_text(other)
                ),
            ));
        }
    };
    let (html, content) = match &msg.body {
        None => (false, String::new()),
        Some(b) => match b
            .content_type
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("text") => (false, b.content.clone()),
            Some("html") => (true, b.content.clone()),
            Some(other) => {
                return Err(invalid(
                    "ErrorInvalidRequest",
                    format!(
                        "body.contentType '{}' is not text or html.",
                        header_text(other)
                    ),
                ));
            }
        },
    };

    let author = BuiltAddress::new_address(
        (!from.display_name.is_empty()).then(|| header_text(from.display_name)),
        from.address.to_string(),
    );
    let mut b = MessageBuilder::new()
        .from(author)
        .message_id(MessageId::new(format!(
            "{}@{hostname}",
            uuid::Uuid::new_v4()
        )))
        .date(Date::new(now.unix_timestamp()))
        .subject(header_text(msg.subject.as_deref().unwrap_or_default()));
    if !to.is_empty() {
        b = b.to(address_header(to));
    }
    if !cc.is_empty() {
        b = b.cc(address_header(cc));
    }
    if !reply_to.is_empty() {
        b = b.reply_to(address_header(reply_to));
    }
    if let Some(i) = importance {
        b = b.header("Importance", Raw::new(i));
    }
    b = if html {
        b.html_body(content)
    } else {
        b.text_body(content)
    };
    let transmit_builder = b.clone();
    let sent_builder = if bcc.is_empty() {
        b
    } else {
        b.bcc(address_header(bcc))
    };
    let write = |m: MessageBuilder<'_>| {
        m.write_to_vec()
            .map_err(|e| invalid("ErrorInternalServerError", e.to_string()))
    };
    Ok(Built {
        transmit: write(transmit_builder)?,
        sent_copy: write(sent_builder)?,
        recipients,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing(json: Value) -> OutgoingMessage {
        serde_json::from_value(json).expect("message")
    }

    fn meta(flags: Flags) -> MessageMeta {
        MessageMeta {
            uid: 1,
            blob: mailward_mailstore::BlobId("x".into()),
            size: 10,
            internal_date: OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time"),
            flags,
            modseq: 3,
        }
    }

    #[test]
    fn build_then_parse_round_trips_and_hides_bcc() {
        let m = outgoing(json!({
            "subject": "Hello\r\nBcc: evil@x.test",
            "body": {"contentType": "HTML", "content": "<p>Hi <b>there</b></p>"},
            "toRecipients": [{"emailAddress": {"address": "Bob@Contoso.test", "name": "Bob B"}}],
            "ccRecipients": [{"emailAddress": {"address": "carol@contoso.test"}}],
            "bccRecipients": [{"emailAddress": {"address": "dave@elsewhere.test"}}],
            "importance": "high",
        }));
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time");
        let from = Author {
            address: "alice@contoso.test",
            display_name: "Alice",
        };
        let built = build(&m, &from, "mail.contoso.test", now).expect("build");
        assert_eq!(
            built.recipients,
            vec![
                "bob@contoso.test",
                "carol@contoso.test",
                "dave@elsewhere.test"
            ]
        );
        let transmit = String::from_utf8_lossy(&built.transmit);
        assert!(!transmit.contains("dave@elsewhere.test"), "{transmit}");
        assert!(!transmit.contains("\r\nBcc: evil"), "{transmit}");
        assert!(String::from_utf8_lossy(&built.sent_copy).contains("dave@elsewhere.test"));

        let v = message_json(
            "id1",
            "f1",
            &meta(Flags::default()),
            &built.sent_copy,
            BodyPreference::Html,
        );
        assert_eq!(v["subject"], "Hello  Bcc: evil@x.test");
        assert_eq!(v["body"]["contentType"], "html");
        assert!(
            v["body"]["content"]
                .as_str()
                .unwrap_or_default()
                .contains("<b>there</b>")
        );
        assert_eq!(v["from"]["emailAddress"]["address"], "alice@contoso.test");
        assert_eq!(v["from"]["emailAddress"]["name"], "Alice");
        assert_eq!(v["toRecipients"][0]["emailAddress"]["name"], "Bob B");
        assert_eq!(
            v["ccRecipients"][0]["emailAddress"]["address"],
            "carol@contoso.test"
        );
        assert_eq!(
            v["bccRecipients"][0]["emailAddress"]["address"],
            "dave@elsewhere.test"
        );
        assert_eq!(v["importance"], "high");
        assert_eq!(v["sentDateTime"], "2027-01-15T08:00:00Z");
        assert!(
            v["internetMessageId"]
                .as_str()
                .unwrap_or_default()
                .ends_with("@mail.contoso.test>")
        );
        let text = message_json(
            "id1",
            "f1",
            &meta(Flags::default()),
            &built.sent_copy,
            BodyPreference::Text,
        );
        assert_eq!(text["body"]["contentType"], "text");
        assert!(
            !text["body"]["content"]
                .as_str()
                .unwrap_or_default()
                .contains("<b>")
        );
    }

    #[test]
    fn bad_input_is_named() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let from = Author {
            address: "a@b.test",
            display_name: "",
        };
        let cases = [
            (json!({"toRecipients": []}), "At least one recipient"),
            (
                json!({"toRecipients": [{"emailAddress": {"address": "no-at-sign"}}]}),
                "toRecipients",
            ),
            (
                json!({"toRecipients": [{"emailAddress": {"address": "a@b.test>\r\nX: y"}}]}),
                "not a valid",
            ),
            (
                json!({"toRecipients": [{"emailAddress": {"address": "a@b.test"}}], "importance": "urgent"}),
                "importance",
            ),
            (
                json!({"toRecipients": [{"emailAddress": {"address": "a@b.test"}}], "body": {"contentType": "rtf", "content": ""}}),
                "contentType",
            ),
        ];
        for (input, want) in cases {
            let e = build(&outgoing(input.clone()), &from, "h", now).expect_err("invalid");
            assert!(e.message.contains(want), "{input}: {}", e.message);
        }
        let unknown: Result<SendMail, _> =
            serde_json::from_value(json!({"message": {"attachments": []}}));
        assert!(
            unknown
                .expect_err("unknown field")
                .to_string()
                .contains("attachments")
        );
    }

    #[test]
    fn flags_map_to_graph() {
        let mut f = Flags::default();
        assert_eq!(flag_status(&f), "notFlagged");
        f.keywords = vec![COMPLETED_KEYWORD.into()];
        assert_eq!(flag_status(&f), "complete");
        f.flagged = true;
        assert_eq!(flag_status(&f), "flagged");
        let v = message_json(
            "i",
            "f",
            &meta(f),
            b"garbage without headers",
            BodyPreference::Html,
        );
        assert_eq!(v["flag"]["flagStatus"], "flagged");
    }
}
