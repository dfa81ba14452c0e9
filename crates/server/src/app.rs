//! The router: every route of `docs/api.md`, registered through utoipa-axum so that
//! `/openapi.json` is generated from the handlers themselves, plus `/healthz`, `/metrics`, the
//! 1 MiB body limit (lifted on attachment uploads, which have their own limit), gzip on the
//! sync stream when asked, request metrics, request tracing and a JSON 404.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use serde::Serialize;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::MAX_BODY_BYTES;
use crate::error::ServerError;
use crate::extract::Json;
use crate::state::AppState;
use crate::{
    attachments, audit, auth, devices, item_shares, items, metrics, mfa, recovery, session,
    sharing, sync, teams, vaults, workspaces,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Coffer API", version = "1", description = "See docs/api.md."),
    modifiers(&BearerAuth),
    components(schemas(coffer_proto::ApiError))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Body of `GET /healthz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// `GET /healthz`.
#[utoipa::path(get, path = "/healthz", tag = "server", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

async fn not_found() -> ServerError {
    ServerError::NotFound("route")
}

/// The routes and the generated OpenAPI document.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(auth::register_start))
        .routes(routes!(auth::register_finish))
        .routes(routes!(auth::login_start))
        .routes(routes!(auth::login_finish))
        .routes(routes!(auth::reset_start))
        .routes(routes!(auth::reset_finish))
        .routes(routes!(mfa::verify))
        .routes(routes!(auth::account))
        .routes(routes!(session::status))
        .routes(routes!(session::refresh))
        .routes(routes!(session::logout))
        .routes(routes!(session::list))
        .routes(routes!(session::revoke))
        .routes(routes!(mfa::enroll))
        .routes(routes!(mfa::confirm))
        .routes(routes!(mfa::disable))
        .routes(routes!(devices::list))
        .routes(routes!(devices::revoke))
        .routes(routes!(devices::challenge))
        .routes(routes!(devices::share))
        .routes(routes!(devices::certify))
        .routes(routes!(devices::start_approval, devices::approval))
        .routes(routes!(devices::user_devices))
        .routes(routes!(devices::user_chain))
        .routes(routes!(devices::revoke_signed))
        .routes(routes!(devices::endorse))
        .routes(routes!(workspaces::create, workspaces::list))
        .routes(routes!(workspaces::set_policy, workspaces::get_policy))
        .routes(routes!(workspaces::members))
        .routes(routes!(workspaces::set_role, workspaces::remove))
        .routes(routes!(workspaces::attest))
        .routes(routes!(workspaces::password_reset))
        .routes(routes!(workspaces::invite))
        .routes(routes!(workspaces::my_invites))
        .routes(routes!(workspaces::accept))
        .routes(routes!(audit::list))
        .routes(routes!(audit::verify))
        .routes(routes!(vaults::create, vaults::list))
        .routes(routes!(vaults::delete))
        .routes(routes!(sharing::members))
        .routes(routes!(sharing::share, sharing::unshare))
        .routes(routes!(sharing::add_grants))
        .routes(routes!(sharing::replications))
        .routes(routes!(sharing::ack))
        .routes(routes!(item_shares::share, item_shares::unshare))
        .routes(routes!(item_shares::list))
        .routes(routes!(item_shares::shared_with_me))
        .routes(routes!(teams::create, teams::list))
        .routes(routes!(teams::show))
        .routes(routes!(teams::add_member, teams::remove_member))
        .routes(routes!(teams::link))
        .routes(routes!(teams::requests))
        .routes(routes!(teams::deny))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(sharing::rotate))
                .layer(DefaultBodyLimit::max(sharing::ROTATE_MAX_BODY)),
        )
        .routes(routes!(recovery::create, recovery::list_vault))
        .routes(routes!(recovery::list))
        .routes(routes!(recovery::share))
        .routes(routes!(recovery::add_grants))
        .routes(routes!(recovery::delete))
        .routes(routes!(items::write))
        .routes(routes!(items::revisions))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(sync::sync))
                .layer(CompressionLayer::new()),
        )
        .merge(
            OpenApiRouter::new()
                .routes(routes!(
                    attachments::put,
                    attachments::get,
                    attachments::delete
                ))
                .layer(DefaultBodyLimit::disable()),
        )
        .split_for_parts()
}

/// The OpenAPI document alone.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// The whole application over `state`.
pub fn router(state: AppState) -> Router {
    let _ = metrics::install();
    let (routes, doc) = api();
    let doc = Arc::new(doc);
    routes
        .route(
            "/openapi.json",
            get(move || {
                let doc = Arc::clone(&doc);
                async move { axum::Json(doc) }
            }),
        )
        .route("/metrics", get(metrics::render))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
