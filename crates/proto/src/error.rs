//! The uniform API error body, `{"code": "...", "message": "..."}`, and its stable codes.
//!
//! Every error response of the server carries this body. Clients branch on `code` only; the
//! `message` is for people and may change. A message never contains a secret.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A stable, machine-readable error code (snake_case on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `unauthorized`: no valid session or token (HTTP 401).
    Unauthorized,
    /// `forbidden`: authenticated, but the policy denies it (HTTP 403).
    Forbidden,
    /// `not_found`: no such object, or not visible to the caller (HTTP 404).
    NotFound,
    /// `conflict`: clashes with the current state, e.g. a duplicate (HTTP 409).
    Conflict,
    /// `invalid_request`: malformed or semantically invalid input (HTTP 400).
    InvalidRequest,
    /// `payload_too_large`: the body exceeds the server's limit (HTTP 413).
    PayloadTooLarge,
    /// `rate_limited`: too many attempts; retry later (HTTP 429).
    RateLimited,
    /// `mfa_required`: a second factor must be verified first (HTTP 401).
    MfaRequired,
    /// `unavailable`: the server cannot serve now, e.g. its store is down (HTTP 503).
    Unavailable,
    /// `internal`: a fault on the server; details are in its logs only (HTTP 500).
    Internal,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::InvalidRequest,
        ErrorCode::PayloadTooLarge,
        ErrorCode::RateLimited,
        ErrorCode::MfaRequired,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The stable snake_case wire form.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::MfaRequired => "mfa_required",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status the server answers with for this code.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden | ErrorCode::MfaRequired => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::InvalidRequest => 400,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }
}

/// A string that is not one of the error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code {value:?}")]
pub struct ErrorCodeParseError {
    /// The rejected input (cut to 64 characters).
    pub value: String,
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorCode {
    type Err = ErrorCodeParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| ErrorCodeParseError {
                value: s.chars().take(64).collect(),
            })
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The body of every error response: `{"code": "not_found", "message": "no such vault"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// What went wrong, for programs.
    pub code: ErrorCode,
    /// What went wrong, for people. Never contains a secret.
    pub message: String,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_snake_case() {
        let forms: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            forms,
            [
                "unauthorized",
                "forbidden",
                "not_found",
                "conflict",
                "invalid_request",
                "payload_too_large",
                "rate_limited",
                "mfa_required",
                "unavailable",
                "internal"
            ]
        );
        for c in ErrorCode::ALL {
            assert_eq!(c.as_str().parse::<ErrorCode>().unwrap(), c);
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(ErrorCode::Unauthorized.http_status(), 401);
        assert_eq!(ErrorCode::MfaRequired.http_status(), 403);
        assert_eq!(ErrorCode::Forbidden.http_status(), 403);
        assert_eq!(ErrorCode::NotFound.http_status(), 404);
        assert_eq!(ErrorCode::Conflict.http_status(), 409);
        assert_eq!(ErrorCode::InvalidRequest.http_status(), 400);
        assert_eq!(ErrorCode::RateLimited.http_status(), 429);
        assert_eq!(ErrorCode::Internal.http_status(), 500);
    }

    #[test]
    fn body_shape() {
        let e = ApiError::new(ErrorCode::NotFound, "no such vault");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code": "not_found", "message": "no such vault"})
        );
        let back: ApiError =
            serde_json::from_str(r#"{"code":"rate_limited","message":"slow down"}"#).unwrap();
        assert_eq!(back.code, ErrorCode::RateLimited);
        assert_eq!(back.to_string(), "rate_limited: slow down");
        assert!(serde_json::from_str::<ApiError>(r#"{"code":"teapot","message":""}"#).is_err());
    }
}
