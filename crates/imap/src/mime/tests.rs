//! Tests of ENVELOPE, BODYSTRUCTURE and section extraction on sample messages; every
//! rendering is also parsed back with imap-codec's response decoder.

use super::*;
use imap_codec::ResponseCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::body::{BodyStructure, SpecificFields};
use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::fetch::{MessageDataItem, Part};
use imap_codec::imap_types::response::{Data, Response};
use std::num::NonZeroU32;

pub(crate) const SIMPLE: &[u8] = b"Date: Tue, 05 Mar 2024 10:00:00 +0100\r\n\
From: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>\r\n\
To: Keith Moore <moore@cs.utk.edu>, \"Jane \\\"Q\\\" Doe\" <jane@example.com>\r\n\
Cc: Team: a@example.com, b@example.com;\r\n\
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= aus\r\n\x20=?utf-8?q?K=C3=B6ln?=\r\n\
Message-ID: <1234@local.machine.example>\r\n\
\r\n\
Hello there,\r\nthis is a test.\r\n";

pub(crate) const MULTI: &[u8] = b"From: Alice <alice@example.com>\r\n\
To: bob@example.com\r\n\
Subject: Report\r\n\
Date: Wed, 06 Mar 2024 12:00:00 +0000\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
\r\n\
This is a multi-part message in MIME format.\r\n\
--outer\r\n\
Content-Type: multipart/alternative; boundary=\"inner\"\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Plain text, caf=C3=A9.\r\n\
Second line.\r\n\
--inner\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>HTML text</p>\r\n\
--inner--\r\n\
\r\n\
--outer\r\n\
Content-Type: application/pdf; name=\"report.pdf\"\r\n\
Content-Disposition: attachment; filename=\"report.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-ID: <part3@example.com>\r\n\
\r\n\
JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoK\r\n\
PDwvTGVuZ3RoIDMgMCBSL0ZpbHRlci9GbGF0\r\n\
--outer--\r\n";

pub(crate) const FORWARD: &[u8] = b"From: carol@example.com\r\n\
To: dave@example.com\r\n\
Subject: Fwd: hello\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: text/plain\r\n\
\r\n\
See below.\r\n\
--b1\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: erin@example.com\r\n\
Subject: hello\r\n\
\r\n\
Inner body\r\n\
--b1--\r\n";

/// Parses `item` (e.g. `ENVELOPE (...)`) as part of a FETCH response.
fn parse_item(item: &[u8]) -> MessageDataItem<'static> {
    let mut line = b"* 1 FETCH (".to_vec();
    line.extend_from_slice(item);
    line.extend_from_slice(b")\r\n");
    let (rest, resp) = ResponseCodec::default()
        .decode_static(&line)
        .unwrap_or_else(|e| panic!("does not parse: {e:?}\n{}", String::from_utf8_lossy(&line)));
    assert!(rest.is_empty());
    match resp {
        Response::Data(Data::Fetch { items, .. }) => items.into_iter().next().expect("one item"),
        other => panic!("unexpected {other:?}"),
    }
}

fn with_prefix(prefix: &[u8], body: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.extend_from_slice(body);
    v
}

#[test]
fn envelope_of_simple_message() {
    let s = summarize(SIMPLE);
    let text = String::from_utf8_lossy(&s.envelope).into_owned();
    assert_eq!(
        text,
        "(\"Tue, 05 Mar 2024 10:00:00 +0100\" \
         \"=?utf-8?q?Gr=C3=BC=C3=9Fe?= aus =?utf-8?q?K=C3=B6ln?=\" \
         ((\"=?utf-8?b?QW5kcsOpIFBpcmFyZA==?=\" NIL \"PIRARD\" \"vm1.ulg.ac.be\")) \
         ((\"=?utf-8?b?QW5kcsOpIFBpcmFyZA==?=\" NIL \"PIRARD\" \"vm1.ulg.ac.be\")) \
         ((\"=?utf-8?b?QW5kcsOpIFBpcmFyZA==?=\" NIL \"PIRARD\" \"vm1.ulg.ac.be\")) \
         ((\"Keith Moore\" NIL \"moore\" \"cs.utk.edu\")(\"Jane \\\"Q\\\" Doe\" NIL \"jane\" \"example.com\")) \
         ((NIL NIL \"Team\" NIL)(NIL NIL \"a\" \"example.com\")(NIL NIL \"b\" \"example.com\")(NIL NIL NIL NIL)) \
         NIL NIL \"<1234@local.machine.example>\")"
    );
    match parse_item(&with_prefix(b"ENVELOPE ", &s.envelope)) {
        MessageDataItem::Envelope(e) => {
            assert_eq!(e.from.len(), 1);
            assert_eq!(e.to.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    assert!(s.from.contains("andré pirard"), "{}", s.from);
    assert!(s.from.contains("<pirard@vm1.ulg.ac.be>"));
    assert!(s.subject.contains("grüße aus köln"), "{}", s.subject);
    assert!(s.cc.contains("team"));
    assert_eq!(s.sent, Some(time::macros::date!(2024 - 03 - 05)));
}

#[test]
fn envelope_without_headers() {
    let s = summarize(b"\r\njust a body\r\n");
    assert_eq!(&*s.envelope, b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    parse_item(&with_prefix(b"ENVELOPE ", &s.envelope));
}

#[test]
fn bodystructure_of_simple_message() {
    let st = structure(SIMPLE);
    assert_eq!(
        String::from_utf8_lossy(&st.body),
        "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 31 2)"
    );
    assert_eq!(
        String::from_utf8_lossy(&st.bodystructure),
        "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 31 2 NIL NIL NIL NIL)"
    );
    parse_item(&with_prefix(b"BODY ", &st.body));
    parse_item(&with_prefix(b"BODYSTRUCTURE ", &st.bodystructure));
}

#[test]
fn bodystructure_of_alternative_with_attachment() {
    let st = structure(MULTI);
    let text = String::from_utf8_lossy(&st.bodystructure).into_owned();
    assert_eq!(
        text,
        "(((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 36 2 NIL NIL NIL NIL)\
(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 16 1 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL)\
(\"application\" \"pdf\" (\"name\" \"report.pdf\") \"<part3@example.com>\" NIL \"base64\" 74 NIL (\"attachment\" (\"filename\" \"report.pdf\")) NIL NIL) \
\"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)"
    );
    match parse_item(&with_prefix(b"BODYSTRUCTURE ", &st.bodystructure)) {
        MessageDataItem::BodyStructure(BodyStructure::Multi {
            bodies, subtype, ..
        }) => {
            assert_eq!(subtype.as_ref(), b"mixed");
            assert_eq!(bodies.as_ref().len(), 2);
            assert!(matches!(bodies.as_ref()[0], BodyStructure::Multi { .. }));
        }
        other => panic!("{other:?}"),
    }
    parse_item(&with_prefix(b"BODY ", &st.body));
}

#[test]
fn bodystructure_of_forwarded_message() {
    let st = structure(FORWARD);
    match parse_item(&with_prefix(b"BODYSTRUCTURE ", &st.bodystructure)) {
        MessageDataItem::BodyStructure(BodyStructure::Multi { bodies, .. }) => {
            let second = &bodies.as_ref()[1];
            match second {
                BodyStructure::Single { body, .. } => match &body.specific {
                    SpecificFields::Message {
                        envelope,
                        number_of_lines,
                        ..
                    } => {
                        assert_eq!(envelope.from.len(), 1);
                        assert_eq!(*number_of_lines, 4);
                    }
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
}

fn part(path: &[u32]) -> Part {
    let v: Vec<NonZeroU32> = path
        .iter()
        .map(|&n| NonZeroU32::new(n).expect("non-zero"))
        .collect();
    Part(v.try_into().expect("non-empty"))
}

fn sec(raw: &[u8], s: Section<'_>) -> Option<String> {
    section(raw, Some(&s)).map(|c| String::from_utf8_lossy(&c).into_owned())
}

#[test]
fn sections_of_a_multipart_message() {
    assert_eq!(
        sec(MULTI, Section::Part(part(&[1, 1]))).as_deref(),
        Some("Plain text, caf=C3=A9.\r\nSecond line.")
    );
    assert_eq!(
        sec(MULTI, Section::Part(part(&[1, 2]))).as_deref(),
        Some("<p>HTML text</p>")
    );
    assert_eq!(
        sec(MULTI, Section::Mime(part(&[1, 2]))).as_deref(),
        Some("Content-Type: text/html; charset=utf-8\r\n\r\n")
    );
    assert!(
        sec(MULTI, Section::Part(part(&[2])))
            .expect("part 2")
            .starts_with("JVBERi0x")
    );
    assert_eq!(sec(MULTI, Section::Part(part(&[3]))), None);
    assert_eq!(sec(MULTI, Section::Part(part(&[2, 1]))), None);
    let header = sec(MULTI, Section::Header(None)).expect("header");
    assert!(header.starts_with("From: Alice"));
    assert!(header.ends_with("boundary=\"outer\"\r\n\r\n"));
    let text = sec(MULTI, Section::Text(None)).expect("text");
    assert!(text.starts_with("This is a multi-part"));
    assert_eq!(header.len() + text.len(), MULTI.len());
}

#[test]
fn sections_of_a_simple_message() {
    assert_eq!(
        sec(SIMPLE, Section::Part(part(&[1]))).as_deref(),
        Some("Hello there,\r\nthis is a test.\r\n")
    );
    assert_eq!(sec(SIMPLE, Section::Part(part(&[2]))), None);
}

#[test]
fn sections_of_an_encapsulated_message() {
    assert_eq!(
        sec(FORWARD, Section::Header(Some(part(&[2])))).as_deref(),
        Some("From: erin@example.com\r\nSubject: hello\r\n\r\n")
    );
    assert_eq!(
        sec(FORWARD, Section::Text(Some(part(&[2])))).as_deref(),
        Some("Inner body")
    );
    assert_eq!(
        sec(FORWARD, Section::Part(part(&[2, 1]))).as_deref(),
        Some("Inner body")
    );
    assert!(
        sec(FORWARD, Section::Part(part(&[2])))
            .expect("part 2")
            .starts_with("From: erin")
    );
}

#[test]
fn header_fields_and_not() {
    let names = vec![
        AString::try_from("subject").expect("astring"),
        AString::try_from("FROM").expect("astring"),
    ];
    let names = names.try_into().expect("non-empty");
    let got = sec(SIMPLE, Section::HeaderFields(None, names)).expect("fields");
    assert_eq!(
        got,
        "From: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>\r\n\
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= aus\r\n =?utf-8?q?K=C3=B6ln?=\r\n\r\n"
    );
    let names = vec![AString::try_from("date").expect("astring")]
        .try_into()
        .expect("non-empty");
    let got = sec(MULTI, Section::HeaderFieldsNot(None, names)).expect("fields");
    assert!(!got.contains("Date:"));
    assert!(got.contains("Subject: Report\r\n"));
    assert!(got.ends_with("\r\n\r\n"));
    let names = vec![AString::try_from("x-none").expect("astring")]
        .try_into()
        .expect("non-empty");
    assert_eq!(
        sec(SIMPLE, Section::HeaderFields(None, names)).as_deref(),
        Some("\r\n")
    );
}

#[test]
fn body_text_is_decoded() {
    let t = body_text(MULTI);
    assert!(t.contains("plain text, café."), "{t}");
    assert!(t.contains("html text"));
}

#[test]
fn header_length() {
    assert_eq!(header_len(b"A: b\r\n\r\nbody"), 8);
    assert_eq!(header_len(b"A: b\n\nbody"), 6);
    assert_eq!(header_len(b"A: b\r\n"), 6);
    assert_eq!(header_len(b"\r\nbody"), 2);
}

#[test]
fn garbage_never_panics() {
    for raw in [
        &b""[..],
        b"\r\n",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
        b"Content-Type: message/rfc822\r\n\r\n",
        b"Content-Type: multipart/mixed\r\n\r\nno boundary",
        b"\xff\xfe\x00garbage",
    ] {
        let s = summarize(raw);
        parse_item(&with_prefix(b"ENVELOPE ", &s.envelope));
        let st = structure(raw);
        parse_item(&with_prefix(b"BODYSTRUCTURE ", &st.bodystructure));
        parse_item(&with_prefix(b"BODY ", &st.body));
        let _ = section(raw, Some(&Section::Part(part(&[1, 2, 3]))));
    }
}
