//! Server-rendered pages: the templates (embedded, HTML auto-escaped) and helpers to
//! render them. Pages carry no outside assets and work without JavaScript except the
//! passkey ceremony.

use axum::response::Html;
use minijinja::{AutoEscape, Environment, Value};

/// Templates, parsed once.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("home.html", include_str!("../templates/home.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("username.html", include_str!("../templates/username.html")),
    ("password.html", include_str!("../templates/password.html")),
    ("mfa.html", include_str!("../templates/mfa.html")),
    ("register.html", include_str!("../templates/register.html")),
    (
        "recovery_codes.html",
        include_str!("../templates/recovery_codes.html"),
    ),
    (
        "form_post.html",
        include_str!("../templates/form_post.html"),
    ),
    (
        "device_code.html",
        include_str!("../templates/device_code.html"),
    ),
    (
        "device_done.html",
        include_str!("../templates/device_done.html"),
    ),
    (
        "signed_out.html",
        include_str!("../templates/signed_out.html"),
    ),
    (
        "end_session.html",
        include_str!("../templates/end_session.html"),
    ),
    // The admin center (`/admin`).
    (
        "admin/base.html",
        include_str!("../templates/admin/base.html"),
    ),
    (
        "admin/home.html",
        include_str!("../templates/admin/home.html"),
    ),
    (
        "admin/policies.html",
        include_str!("../templates/admin/policies.html"),
    ),
    (
        "admin/locations.html",
        include_str!("../templates/admin/locations.html"),
    ),
    (
        "admin/editor.html",
        include_str!("../templates/admin/editor.html"),
    ),
    (
        "admin/confirm_delete.html",
        include_str!("../templates/admin/confirm_delete.html"),
    ),
    (
        "admin/whatif.html",
        include_str!("../templates/admin/whatif.html"),
    ),
    (
        "admin/signins.html",
        include_str!("../templates/admin/signins.html"),
    ),
    (
        "admin/security.html",
        include_str!("../templates/admin/security.html"),
    ),
    (
        "admin/security_off.html",
        include_str!("../templates/admin/security_off.html"),
    ),
    (
        "admin/error.html",
        include_str!("../templates/admin/error.html"),
    ),
    (
        "admin/denied.html",
        include_str!("../templates/admin/denied.html"),
    ),
    (
        "admin/signed_out.html",
        include_str!("../templates/admin/signed_out.html"),
    ),
];

impl Templates {
    pub fn new() -> Result<Templates, String> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        for (name, src) in TEMPLATES {
            env.add_template(name, src)
                .map_err(|e| format!("template {name}: {e}"))?;
        }
        Ok(Templates { env })
    }

    /// Renders a page; a template bug yields a plain error page, never a panic.
    pub fn render(&self, name: &str, ctx: Value) -> Html<String> {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(s) => Html(s),
            Err(e) => {
                tracing::error!(template = name, error = %e, "template rendering failed");
                Html("<!doctype html><title>Error</title><p>Something went wrong.</p>".to_string())
            }
        }
    }
}
