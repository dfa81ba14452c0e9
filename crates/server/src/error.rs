//! The server's one error type, [`ServerError`], and its single mapping to HTTP (the
//! [`IntoResponse`] impl): a status, a stable code and a message with no secret in it
//! (`docs/api.md`, "Errors"). Internal details are logged here, once, and never returned.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use coffer_proto::{ApiError, ErrorCode};

/// The one message for every failed login, whatever the cause (unknown email, wrong password,
/// expired login state): a client cannot tell them apart.
pub const LOGIN_FAILED_MESSAGE: &str = "invalid email or password";

/// Everything that can go wrong in the server, at startup or in a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A bad flag, environment variable or config file.
    #[error("configuration: {0}")]
    Config(String),
    /// The server cannot start (data folder, key file permissions, listen address, TLS).
    #[error("startup: {0}")]
    Startup(String),
    /// A malformed request (bad JSON, bad base64, bad field).
    #[error("invalid request: {0}")]
    BadRequest(String),
    /// A failed login (one message for every cause).
    #[error("login failed")]
    LoginFailed,
    /// A missing, malformed, expired or revoked bearer token.
    #[error("unauthenticated")]
    Unauthenticated,
    /// A wrong MFA code.
    #[error("wrong code")]
    WrongCode,
    /// The session still owes its MFA step, or a workspace requires MFA the caller lacks.
    #[error("mfa required: {0}")]
    MfaRequired(&'static str),
    /// The caller may not do this.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// No such thing (or not visible to the caller).
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The request conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The body is larger than the limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// An attachment upload is larger than the configured limit (bytes).
    #[error("attachment larger than {0} bytes")]
    AttachmentTooLarge(u64),
    /// Too many attempts; try again after this many seconds.
    #[error("rate limited for {retry_after} s")]
    RateLimited {
        /// Seconds until the next attempt may succeed.
        retry_after: u64,
    },
    /// Anything else: logged in full, answered as `500 internal` with no detail.
    #[error("internal: {0}")]
    Internal(String),
    /// An I/O error at startup or in a command.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl ServerError {
    /// Wraps any displayable error as [`ServerError::Internal`].
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }

    /// HTTP status and public body of this error.
    ///
    /// `mfa_required` answers `403` as `docs/api.md` says (the session is authenticated but
    /// owes a step), not the `401` of [`ErrorCode::http_status`].
    pub fn parts(&self) -> (StatusCode, ApiError) {
        use ServerError as E;
        let (status, code, message) = match self {
            E::BadRequest(m) => (
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                m.clone(),
            ),
            E::LoginFailed => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                LOGIN_FAILED_MESSAGE.to_owned(),
            ),
            E::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "missing, expired or revoked session".to_owned(),
            ),
            E::WrongCode => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "wrong code".to_owned(),
            ),
            E::MfaRequired(m) => (
                StatusCode::FORBIDDEN,
                ErrorCode::MfaRequired,
                (*m).to_owned(),
            ),
            E::Forbidden(m) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden, (*m).to_owned()),
            E::NotFound(m) => (
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                format!("{m} not found"),
            ),
            E::Conflict(m) => (StatusCode::CONFLICT, ErrorCode::Conflict, m.clone()),
            E::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                "request body larger than 1 MiB".to_owned(),
            ),
            E::AttachmentTooLarge(max) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                format!("attachment larger than the server's limit of {max} bytes"),
            ),
            E::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                "too many attempts; try again later".to_owned(),
            ),
            E::Config(_) | E::Startup(_) | E::Internal(_) | E::Io(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "internal error".to_owned(),
            ),
        };
        (status, ApiError::new(code, message))
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let (status, body) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::debug!(code = body.code.as_str(), "request refused");
        }
        let mut resp = (status, axum::Json(body)).into_response();
        if let ServerError::RateLimited { retry_after } = self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
        }
        resp
    }
}

impl From<coffer_store::StoreError> for ServerError {
    fn from(e: coffer_store::StoreError) -> Self {
        use coffer_store::StoreError as S;
        match e {
            S::NotFound => ServerError::NotFound("resource"),
            S::Conflict(m) => ServerError::Conflict(m),
            S::Invalid(m) => ServerError::BadRequest(m),
            S::Backend(m) => ServerError::Internal(m),
        }
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ServerError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_details_are_not_returned() {
        let resp = ServerError::Internal("db password is hunter2".into()).into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(text, r#"{"code":"internal","message":"internal error"}"#);
    }

    #[tokio::test]
    async fn rate_limited_has_retry_after() {
        let resp = ServerError::RateLimited { retry_after: 42 }.into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "42");
    }
}
