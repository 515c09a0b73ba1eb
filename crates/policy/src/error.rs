//! Import and validation errors. Every problem names the JSON path of the member at fault
//! (`conditions.devices.deviceFilter: not supported`) and carries a stable kind code, and
//! all problems of one document are reported together.

use std::fmt;

/// What is wrong with a member. [`ErrorKind::code`] is stable and greppable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Not JSON, or a member of the wrong JSON type or an unknown enum value.
    Syntax,
    /// A member Graph does not define (or mailward does not know).
    UnknownField,
    /// A Graph feature mailward does not implement, set to something other than empty.
    Unsupported,
    /// A value Graph itself would refuse (bad CIDR, `block` with other controls, ...).
    Invalid,
    /// A required member is missing or empty.
    Required,
    /// Two policies or named locations share an id.
    Duplicate,
    /// A named location id that no named location has.
    UnknownReference,
}

impl ErrorKind {
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "CA_SYNTAX",
            ErrorKind::UnknownField => "CA_UNKNOWN_FIELD",
            ErrorKind::Unsupported => "CA_UNSUPPORTED",
            ErrorKind::Invalid => "CA_INVALID",
            ErrorKind::Required => "CA_REQUIRED",
            ErrorKind::Duplicate => "CA_DUPLICATE",
            ErrorKind::UnknownReference => "CA_UNKNOWN_REFERENCE",
        }
    }
}

/// One problem at one JSON path (`conditions.users.includeUsers[2]`; empty = the document).
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
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Everything wrong with an imported document or policy set (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ImportError {
    pub errors: Vec<FieldError>,
}

impl ImportError {
    /// True if some error is at exactly `path`.
    pub fn has_path(&self, path: &str) -> bool {
        self.errors.iter().any(|e| e.path == path)
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

/// Collects errors under a path prefix.
#[derive(Debug, Default)]
pub(crate) struct Errors {
    pub(crate) list: Vec<FieldError>,
}

impl Errors {
    pub(crate) fn push(
        &mut self,
        path: impl Into<String>,
        kind: ErrorKind,
        msg: impl Into<String>,
    ) {
        self.list.push(FieldError::new(path, kind, msg));
    }

    pub(crate) fn unsupported(&mut self, path: impl Into<String>) {
        self.push(path, ErrorKind::Unsupported, "not supported");
    }

    pub(crate) fn required(&mut self, path: impl Into<String>) {
        self.push(path, ErrorKind::Required, "required");
    }

    pub(crate) fn into_result(self) -> Result<(), ImportError> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(ImportError { errors: self.list })
        }
    }
}
