//! Client-side encoders for the same mechanisms: what `imaplib`, `smtplib`, curl and
//! Thunderbird send, built byte for byte. Used by tests, the load generator and anything
//! else in mailward that must play the client. Output is raw; base64 it with
//! [`crate::encode`].

/// `PLAIN` (RFC 4616 §2): `authzid NUL authcid NUL password` (pass `""` for no authzid).
pub fn plain(authzid: &str, authcid: &str, password: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(authzid.len() + authcid.len() + password.len() + 2);
    out.extend_from_slice(authzid.as_bytes());
    out.push(0);
    out.extend_from_slice(authcid.as_bytes());
    out.push(0);
    out.extend_from_slice(password.as_bytes());
    out
}

/// `XOAUTH2`: `user=<user>^Aauth=Bearer <token>^A^A`.
pub fn xoauth2(user: &str, token: &str) -> Vec<u8> {
    format!("user={user}\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// `OAUTHBEARER` (RFC 7628 §3.1): `n,a=<authzid>,^Ahost=<host>^Aport=<port>^Aauth=Bearer
/// <token>^A^A`, leaving out what is `None`. `,` and `=` in the authzid are escaped as
/// RFC 5801 §4's `=2C` and `=3D`.
pub fn oauthbearer(
    authzid: Option<&str>,
    host: Option<&str>,
    port: Option<u16>,
    token: &str,
) -> Vec<u8> {
    let mut out = String::from("n,");
    if let Some(authzid) = authzid {
        out.push_str("a=");
        for c in authzid.chars() {
            match c {
                ',' => out.push_str("=2C"),
                '=' => out.push_str("=3D"),
                c => out.push(c),
            }
        }
    }
    out.push_str(",\x01");
    if let Some(host) = host {
        out.push_str(&format!("host={host}\x01"));
    }
    if let Some(port) = port {
        out.push_str(&format!("port={port}\x01"));
    }
    out.push_str(&format!("auth=Bearer {token}\x01\x01"));
    out.into_bytes()
}

/// The client's answer to an `OAUTHBEARER` error challenge (RFC 7628 §3.2.3): one `^A`.
pub const OAUTHBEARER_ERROR_ACK: &[u8] = b"\x01";
