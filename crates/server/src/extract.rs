//! Request extractors whose rejections go through [`ServerError`], so malformed JSON, bad
//! base64, bad ids and oversized bodies all get the uniform error body: [`Json`], [`Path`],
//! [`Query`], and [`ClientAddr`] (the peer's IP address, when the server knows it).

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::error::ServerError;

/// A JSON body (request) or answer (response); rejections become `400`/`413` errors.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ServerError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

impl From<JsonRejection> for ServerError {
    fn from(r: JsonRejection) -> Self {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ServerError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ServerError::BadRequest("expected Content-Type: application/json".to_owned())
            }
            _ => ServerError::BadRequest(r.body_text()),
        }
    }
}

/// Path parameters; a bad id becomes `400 invalid_request`.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ServerError))]
pub struct Path<T>(pub T);

impl From<PathRejection> for ServerError {
    fn from(r: PathRejection) -> Self {
        ServerError::BadRequest(r.body_text())
    }
}

/// Query parameters; bad ones become `400 invalid_request`.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ServerError))]
pub struct Query<T>(pub T);

impl From<QueryRejection> for ServerError {
    fn from(r: QueryRejection) -> Self {
        ServerError::BadRequest(r.body_text())
    }
}

/// The client's IP address, when the server was started with connect info (always, outside
/// in-process tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}
