//! Import errors. Every problem names the property at fault (`BlockLegacyAuthSmtp`,
//! `[2].Name`), carries a stable code, and all problems of a document are reported
//! together.

use std::fmt;

/// What is wrong with a property. [`ErrorKind::code`] is stable and greppable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Not JSON, not an object, or a property of the wrong JSON type.
    Syntax,
    /// A property that is neither a switch, `Name`, nor Exchange's read-only metadata.
    UnknownField,
    /// A switch name of a known family for a protocol that has no such switch
    /// (`BlockLegacyAuthSmtp`: Exchange 2019 has none for SMTP).
    UnknownSwitch,
    /// A value Exchange would refuse (a name longer than 64 characters, ...).
    Invalid,
    /// `Name` is missing.
    Required,
    /// The same property twice (ignoring case), or two policies with one name.
    Duplicate,
}

impl ErrorKind {
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "AUTHPOLICY_SYNTAX",
            ErrorKind::UnknownField => "AUTHPOLICY_UNKNOWN_FIELD",
            ErrorKind::UnknownSwitch => "AUTHPOLICY_UNKNOWN_SWITCH",
            ErrorKind::Invalid => "AUTHPOLICY_INVALID",
            ErrorKind::Required => "AUTHPOLICY_REQUIRED",
            ErrorKind::Duplicate => "AUTHPOLICY_DUPLICATE",
        }
    }
}

/// One problem at one property path (empty = the document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub kind: ErrorKind,
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(
        path: impl Into<String>,
        kind: ErrorKind,
        message: impl Into<String>,
    ) -> Self {
        FieldError {
            path: path.into(),
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.kind.code(), self.message)
        } else {
            write!(f, "{}: {}: {}", self.kind.code(), self.path, self.message)
        }
    }
}

/// Everything wrong with an imported policy document (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ImportError {
    pub errors: Vec<FieldError>,
}

impl ImportError {
    /// True if some error is at exactly `path`.
    pub fn has_path(&self, path: &str) -> bool {
        self.errors.iter().any(|e| e.path == path)
    }

    /// The first error at `path`, if any.
    pub fn at(&self, path: &str) -> Option<&FieldError> {
        self.errors.iter().find(|e| e.path == path)
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}
