//! Prometheus metrics: the process-wide recorder, the request-counting middleware and the
//! `GET /metrics` handler. Metric names:
//!
//! - `coffer_http_requests_total{method, route, status}`: requests by route template and status;
//! - `coffer_http_request_duration_seconds{method, route}`: latency histogram;
//! - `coffer_login_failures_total`: failed logins;
//! - `coffer_logins_total`: successful logins (password step);
//! - `coffer_rate_limited_total`: logins refused by the throttle;
//! - `coffer_data_key_rotations_total`, `coffer_data_key_rewrapped_total`: background job.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Failed logins.
pub const LOGIN_FAILURES: &str = "coffer_login_failures_total";
/// Successful logins.
pub const LOGINS: &str = "coffer_logins_total";
/// Logins refused by the throttle.
pub const RATE_LIMITED: &str = "coffer_rate_limited_total";
/// Data-key rotations.
pub const DATA_KEY_ROTATIONS: &str = "coffer_data_key_rotations_total";
/// Values re-wrapped under a newer data key.
pub const DATA_KEY_REWRAPPED: &str = "coffer_data_key_rewrapped_total";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder as the process's global recorder (once; later calls reuse
/// it) and returns its handle, or `None` if another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => Some(handle),
                Err(_) => None,
            }
        })
        .clone()
}

/// Middleware: counts every request by method, matched route template and status.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("coffer_http_requests_total",
        "method" => method.clone(), "route" => route.clone(), "status" => status)
    .increment(1);
    metrics::histogram!("coffer_http_request_duration_seconds",
        "method" => method, "route" => route)
    .record(start.elapsed().as_secs_f64());
    resp
}

/// `GET /metrics`: the Prometheus text format.
pub async fn render() -> Response {
    let body = match HANDLE.get() {
        Some(Some(h)) => {
            h.run_upkeep();
            h.render()
        }
        _ => String::new(),
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
