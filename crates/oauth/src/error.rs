//! OAuth error responses (RFC 6749 §5.2, RFC 8628 §3.5) extended with the numeric codes,
//! trace and correlation ids and timestamp that identity-platform clients expect.

use mailward_types::ErrorCode;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

/// An OAuth error before it is put on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// RFC 6749 `error` value.
    pub error: &'static str,
    pub code: ErrorCode,
    /// Extra detail appended to the code's standard description.
    pub detail: Option<String>,
}

impl OAuthError {
    pub fn new(error: &'static str, code: ErrorCode) -> Self {
        Self {
            error,
            code,
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new("invalid_request", ErrorCode::InvalidRequest).with_detail(detail)
    }

    pub fn missing(param: &str) -> Self {
        Self::new("invalid_request", ErrorCode::MissingParameter).with_detail(format!(
            "The request body must contain the parameter '{param}'."
        ))
    }

    pub fn invalid_grant(code: ErrorCode) -> Self {
        Self::new("invalid_grant", code)
    }

    pub fn invalid_client(code: ErrorCode) -> Self {
        Self::new("invalid_client", code)
    }

    pub fn invalid_scope(detail: impl Into<String>) -> Self {
        Self::new("invalid_scope", ErrorCode::InvalidScope).with_detail(detail)
    }

    pub fn unauthorized_client(detail: impl Into<String>) -> Self {
        Self::new("unauthorized_client", ErrorCode::UnauthorizedClient).with_detail(detail)
    }

    pub fn unsupported_grant_type(grant: &str) -> Self {
        Self::new("unsupported_grant_type", ErrorCode::InvalidRequest)
            .with_detail(format!("The grant type '{grant}' is not supported."))
    }

    pub fn server_error() -> Self {
        Self::new("server_error", ErrorCode::InvalidRequest)
            .with_detail("An internal error occurred; see the server log with the correlation id.")
    }

    pub fn busy() -> Self {
        Self::new("temporarily_unavailable", ErrorCode::Busy)
    }

    /// Too many requests from the client's address (HTTP 429, RFC 6585 §4).
    pub fn throttled() -> Self {
        Self::new("temporarily_unavailable", ErrorCode::Throttled)
    }

    /// HTTP status for this error (RFC 6749 §5.2: 400, or 401 for client authentication;
    /// 429 when throttled).
    pub fn status(&self) -> u16 {
        if self.code == ErrorCode::Throttled {
            return 429;
        }
        match self.error {
            "invalid_client" => 401,
            "server_error" => 500,
            "temporarily_unavailable" => 503,
            _ => 400,
        }
    }

    /// The full description, e.g. `MW50126: Invalid username or password.`
    pub fn description(&self) -> String {
        match &self.detail {
            Some(d) => format!("MW{}: {} {d}", self.code.number(), self.code.description()),
            None => format!("MW{}: {}", self.code.number(), self.code.description()),
        }
    }

    /// The JSON body, stamped with ids and time.
    pub fn body(&self, trace_id: Uuid, correlation_id: Uuid, now: OffsetDateTime) -> ErrorBody {
        let timestamp = now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        ErrorBody {
            error: self.error,
            error_description: format!(
                "{}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                self.description()
            ),
            error_codes: vec![self.code.number()],
            timestamp,
            trace_id: trace_id.to_string(),
            correlation_id: correlation_id.to_string(),
        }
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.description())
    }
}

impl std::error::Error for OAuthError {}

/// The wire form of an error.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    pub error: &'static str,
    pub error_description: String,
    pub error_codes: Vec<u32>,
    pub timestamp: String,
    pub trace_id: String,
    pub correlation_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_shape() {
        let e = OAuthError::invalid_grant(ErrorCode::InvalidCredentials);
        let body = e.body(Uuid::nil(), Uuid::nil(), OffsetDateTime::UNIX_EPOCH);
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v["error"], "invalid_grant");
        assert_eq!(v["error_codes"][0], 50126);
        assert_eq!(v["timestamp"], "1970-01-01T00:00:00Z");
        assert!(
            v["error_description"]
                .as_str()
                .unwrap()
                .starts_with("MW50126: ")
        );
        assert_eq!(e.status(), 400);
        assert_eq!(
            OAuthError::invalid_client(ErrorCode::InvalidClientSecret).status(),
            401
        );
    }
}
