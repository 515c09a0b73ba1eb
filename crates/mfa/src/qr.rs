//! QR codes as inline SVG, for enrolling an authenticator app by scanning the otpauth URI.
//!
//! The `qrcode` crate computes the modules; the SVG is written here so the markup is fully
//! under our control: no XML declaration (it is inlined into HTML), no external references,
//! no scripts, a `<title>` for screen readers and one `<path>` for all dark modules.

use std::fmt::Write as _;

use qrcode::{Color, EcLevel, QrCode};

/// Light modules around the symbol, as ISO/IEC 18004 requires for reliable scanning.
const QUIET_ZONE: usize = 4;
/// Rendered size of one module in CSS pixels when the page does not size the image.
const MODULE_PX: usize = 5;
/// Accessible name of the image. Never the encoded data: that may hold a secret.
const TITLE: &str = "QR code to scan with an authenticator app";

/// A self-contained SVG (no external assets, no scripts) of a QR code for `data`,
/// suitable for inlining into an HTML page; include a <title> for accessibility.
///
/// Data too long for any QR version (about 2,300 bytes at this error-correction level)
/// yields a small SVG that says so instead of a code; pages show the manual key anyway.
pub fn svg(data: &str) -> String {
    match QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M) {
        Ok(code) => render(&code),
        Err(_) => unavailable(),
    }
}

fn render(code: &QrCode) -> String {
    let width = code.width();
    let size = width + 2 * QUIET_ZONE;
    let px = size * MODULE_PX;
    let mut path = String::new();
    for (y, row) in code.to_colors().chunks(width).enumerate() {
        // Merge horizontal runs of dark modules into one rectangle each.
        let mut x = 0;
        while x < row.len() {
            if row[x] == Color::Dark {
                let start = x;
                while x < row.len() && row[x] == Color::Dark {
                    x += 1;
                }
                let _ = write!(
                    path,
                    "M{} {}h{}v1h-{}z",
                    start + QUIET_ZONE,
                    y + QUIET_ZONE,
                    x - start,
                    x - start
                );
            } else {
                x += 1;
            }
        }
    }
    format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{px}" height="{px}" "#,
            r#"viewBox="0 0 {size} {size}" shape-rendering="crispEdges">"#,
            "<title>{title}</title>",
            r##"<rect width="{size}" height="{size}" fill="#fff"/>"##,
            r##"<path fill="#000" d="{path}"/>"##,
            "</svg>"
        ),
        px = px,
        size = size,
        title = TITLE,
        path = path,
    )
}

fn unavailable() -> String {
    concat!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" width="200" height="40" "#,
        r#"viewBox="0 0 200 40">"#,
        "<title>QR code unavailable: the data is too long</title>",
        r#"<text x="4" y="24" font-size="12">QR code unavailable</text>"#,
        "</svg>"
    )
    .to_owned()
}
