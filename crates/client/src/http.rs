//! The HTTP transport: JSON over reqwest, with the bearer token of the session and the uniform
//! error body `{code, message}` of `docs/api.md` turned into [`ClientError::Api`].
//!
//! The token is held here only for the time of a request; it is never logged or put in an
//! error message.

use std::time::Duration;

use coffer_proto::ApiError;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::{ClientError, Result};

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A JSON client of one Coffer server.
#[derive(Clone)]
pub struct Http {
    base: Url,
    inner: reqwest::Client,
    token: Option<String>,
}

impl core::fmt::Debug for Http {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Http")
            .field("base", &self.base.as_str())
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Parses and normalises a server URL (`http://host:port`, with or without a trailing slash).
pub fn parse_server_url(server: &str) -> Result<Url> {
    let mut url = Url::parse(server.trim())
        .map_err(|e| ClientError::Invalid(format!("invalid server URL {server:?}: {e}")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(ClientError::Invalid(format!(
            "invalid server URL {server:?}: the scheme must be http or https"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ClientError::Invalid(
            "invalid server URL: it must not carry credentials".into(),
        ));
    }
    url.set_query(None);
    url.set_fragment(None);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

impl Http {
    /// A client of the server at `base` (see [`parse_server_url`]).
    pub fn new(base: Url) -> Result<Self> {
        // The process's one HTTP client (with its TLS roots, whose loading is the costly part
        // of building one), shared with the vault transport; the timeout is set per request.
        let inner = crate::net::shared()?.clone();
        Ok(Self {
            base,
            inner,
            token: None,
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Sets (or clears) the bearer token sent with every request.
    pub fn set_token(&mut self, token: Option<String>) {
        self.token = token;
    }

    /// Whether a bearer token is set.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ClientError::Invalid(format!("bad request path {path:?}: {e}")))
    }

    async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<reqwest::Response> {
        let url = self.url(path)?;
        let mut shown = url.clone();
        shown.set_query(None);
        let mut req = self.inner.request(method, url).timeout(REQUEST_TIMEOUT);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| ClientError::Transport {
            url: shown.to_string(),
            reason: describe_reqwest(&e),
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = resp.text().await.unwrap_or_default();
        Err(api_error(status, &text))
    }

    /// `GET path` → JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let resp = self.send::<()>(Method::GET, path, None).await?;
        read_json(resp).await
    }

    /// `POST path` with a JSON body → JSON.
    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let resp = self.send(Method::POST, path, Some(body)).await?;
        read_json(resp).await
    }

    /// `POST path` without a body → JSON.
    pub async fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let resp = self.send::<()>(Method::POST, path, None).await?;
        read_json(resp).await
    }

    /// `POST path` with a JSON body, expecting no answer body.
    pub async fn post_no_content<B: Serialize + ?Sized>(&self, path: &str, body: &B) -> Result<()> {
        self.send(Method::POST, path, Some(body)).await.map(drop)
    }

    /// `POST path` with neither request nor answer body.
    pub async fn post_nothing(&self, path: &str) -> Result<()> {
        self.send::<()>(Method::POST, path, None).await.map(drop)
    }

    /// `PUT path` with a JSON body, expecting no answer body.
    pub async fn put<B: Serialize + ?Sized>(&self, path: &str, body: &B) -> Result<()> {
        self.send(Method::PUT, path, Some(body)).await.map(drop)
    }

    /// `DELETE path`, expecting no answer body.
    pub async fn delete(&self, path: &str) -> Result<()> {
        self.send::<()>(Method::DELETE, path, None).await.map(drop)
    }
}

async fn read_json<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T> {
    let bytes = resp.bytes().await.map_err(|e| ClientError::Transport {
        url: String::new(),
        reason: describe_reqwest(&e),
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ClientError::Protocol(format!("cannot parse the answer: {e}")))
}

/// Turns a non-2xx answer into [`ClientError::Api`]; a body that is not the uniform error body
/// becomes an error with a code derived from the status.
fn api_error(status: StatusCode, body: &str) -> ClientError {
    match serde_json::from_str::<ApiError>(body) {
        Ok(e) => ClientError::Api {
            status: status.as_u16(),
            code: e.code,
            message: e.message,
        },
        Err(_) => {
            use coffer_proto::ErrorCode as C;
            let code = match status.as_u16() {
                400 => C::InvalidRequest,
                401 => C::Unauthorized,
                403 => C::Forbidden,
                404 => C::NotFound,
                409 => C::Conflict,
                413 => C::PayloadTooLarge,
                429 => C::RateLimited,
                503 => C::Unavailable,
                _ => C::Internal,
            };
            ClientError::Api {
                status: status.as_u16(),
                code,
                message: format!("the server answered {status}"),
            }
        }
    }
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut out = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_normalised() {
        assert_eq!(
            parse_server_url("http://127.0.0.1:8080").unwrap().as_str(),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            parse_server_url("https://vault.example/coffer")
                .unwrap()
                .as_str(),
            "https://vault.example/coffer/"
        );
        assert!(parse_server_url("ftp://x").is_err());
        assert!(parse_server_url("http://u:p@x").is_err());
        assert!(parse_server_url("not a url").is_err());
    }

    #[test]
    fn error_bodies_keep_the_code() {
        let e = api_error(
            StatusCode::FORBIDDEN,
            r#"{"code":"forbidden","message":"admins only"}"#,
        );
        assert_eq!(e.code(), Some(coffer_proto::ErrorCode::Forbidden));
        assert_eq!(e.to_string(), "admins only");
        let e = api_error(StatusCode::CONFLICT, "<html>");
        assert_eq!(e.code(), Some(coffer_proto::ErrorCode::Conflict));
    }

    #[test]
    fn debug_hides_the_token() {
        let mut h = Http::new(parse_server_url("http://127.0.0.1:1").unwrap()).unwrap();
        h.set_token(Some("sekrit-token".into()));
        assert!(!format!("{h:?}").contains("sekrit"));
    }
}
