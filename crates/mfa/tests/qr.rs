//! QR SVG: self-contained, script-free, accessible markup.

use mailward_mfa::{qr, totp};

const SVG_NS: &str = "http://www.w3.org/2000/svg";

fn assert_self_contained(svg: &str) {
    assert!(svg.starts_with("<svg "), "{svg}");
    assert!(svg.ends_with("</svg>"), "{svg}");
    assert!(!svg.contains("<?xml"));
    assert!(svg.contains("<title>"));
    let lower = svg.to_ascii_lowercase();
    assert!(!lower.contains("<script"));
    assert!(!lower.contains("href"));
    assert!(!lower.contains("url("));
    assert!(!lower.contains(" on"), "no event handler attributes");
    assert_eq!(lower.replace(SVG_NS, "").matches("http").count(), 0);
}

#[test]
fn otpauth_uri_renders_as_inline_svg() {
    let secret = totp::generate_secret();
    let uri = totp::otpauth_uri(secret.expose_secret(), "Mailward", "alice@example.com");
    let svg = qr::svg(&uri);
    assert_self_contained(&svg);
    assert!(svg.contains("<path "));
    // The accessible name never repeats the (secret-bearing) data.
    assert!(!svg.contains("otpauth"));
    assert!(!svg.contains(&totp::manual_key(secret.expose_secret()).replace(' ', "")));
}

#[test]
fn markup_in_data_cannot_reach_the_svg() {
    let svg = qr::svg("</svg><script>alert(1)</script>");
    assert_self_contained(&svg);
}

#[test]
fn oversized_data_gives_a_placeholder() {
    let svg = qr::svg(&"x".repeat(10_000));
    assert_self_contained(&svg);
    assert!(svg.contains("unavailable"));
}

#[test]
fn same_data_same_picture() {
    assert_eq!(qr::svg("hello"), qr::svg("hello"));
    assert_ne!(qr::svg("hello"), qr::svg("hellp"));
}
