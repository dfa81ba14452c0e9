//! The transport of the vault, sync and attachment calls: JSON requests and raw streamed bodies
//! (sync answers, attachment uploads and downloads) with the profile's bearer token.
//!
//! A connection failure is [`ClientError::Transport`] whose reason starts with
//! `connection failed`; [`is_offline`] recognises it so reads can fall back to the cache.

use std::sync::OnceLock;
use std::time::Duration;

use coffer_proto::{ApiError, ErrorCode};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::Client;
use crate::error::{ClientError, Result};
use crate::http::parse_server_url;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The process's one HTTP client (connection pool and TLS roots).
pub(crate) fn shared() -> Result<&'static reqwest::Client> {
    static C: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = C.get() {
        return Ok(c);
    }
    let c = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(Duration::from_secs(120))
        .user_agent(concat!("coffer-client/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ClientError::Transport {
            url: String::new(),
            reason: e.to_string(),
        })?;
    Ok(C.get_or_init(|| c))
}

/// Whether an error means the server could not be reached at all.
pub(crate) fn is_offline(e: &ClientError) -> bool {
    matches!(e, ClientError::Transport { reason, .. } if reason.starts_with("connection failed"))
}

/// A connection to the profile's server with its session token.
pub(crate) struct Net {
    base: Url,
    token: String,
    profile: String,
}

impl Net {
    /// The profile's server and session.
    pub(crate) fn of(client: &Client) -> Result<Self> {
        let server = client
            .config()
            .server
            .as_deref()
            .ok_or(ClientError::NoServer)?;
        let base = parse_server_url(server)?;
        let token = client
            .profile()
            .session()?
            .map(|s| s.token)
            .ok_or_else(|| ClientError::NotLoggedIn {
                profile: client.profile().name().to_owned(),
            })?;
        Ok(Self {
            base,
            token,
            profile: client.profile().name().to_owned(),
        })
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ClientError::Invalid(format!("bad request path {path:?}: {e}")))
    }

    /// Sends a request; non-2xx answers become [`ClientError::Api`].
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let url = self.url(path)?;
        let shown = url.to_string();
        let req = build(shared()?.request(method, url).bearer_auth(&self.token));
        let resp = req.send().await.map_err(|e| transport(&shown, &e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = resp.text().await.unwrap_or_default();
        Err(self.api_error(status, &text))
    }

    /// JSON request → JSON answer.
    pub(crate) async fn json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T> {
        let resp = self
            .send(method, path, |r| match body {
                Some(b) => r.json(b),
                None => r,
            })
            .await?;
        let bytes = resp.bytes().await.map_err(|e| transport(path, &e))?;
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes)
            .map_err(|e| ClientError::Protocol(format!("cannot parse the answer to {path}: {e}")))
    }

    fn api_error(&self, status: StatusCode, body: &str) -> ClientError {
        let (code, message) = match serde_json::from_str::<ApiError>(body) {
            Ok(e) => (e.code, e.message),
            Err(_) => (
                match status.as_u16() {
                    400 => ErrorCode::InvalidRequest,
                    401 => ErrorCode::Unauthorized,
                    403 => ErrorCode::Forbidden,
                    404 => ErrorCode::NotFound,
                    409 => ErrorCode::Conflict,
                    413 => ErrorCode::PayloadTooLarge,
                    _ => ErrorCode::Internal,
                },
                format!("the server answered {status}"),
            ),
        };
        let message = if code == ErrorCode::Unauthorized {
            format!(
                "the session of profile \"{}\" has expired or was revoked: run `coffer login`",
                self.profile
            )
        } else {
            message
        };
        ClientError::Api {
            status: status.as_u16(),
            code,
            message,
        }
    }
}

/// A transport error for `url` (connection failures start with `connection failed`).
pub(crate) fn transport(url: &str, e: &reqwest::Error) -> ClientError {
    use std::error::Error as _;
    let mut reason = if e.is_connect() {
        "connection failed".to_owned()
    } else if e.is_timeout() {
        "timed out".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = e.source();
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    ClientError::Transport {
        url: url.to_owned(),
        reason,
    }
}
