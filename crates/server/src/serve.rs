//! Serving the router: binding the listen address, TLS with rustls (aws-lc-rs provider,
//! installed as the process default), the plain-HTTP-only-on-loopback rule, the one startup
//! line (`coffer server listening on http://127.0.0.1:8700`) and graceful shutdown on SIGINT or
//! SIGTERM. Accepted connections get `TCP_NODELAY`: without it every small response waits
//! out the peer's delayed ACK (about 40 ms per request on Linux).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::RustlsConfig;

use crate::config::TlsFiles;
use crate::error::ServerError;

/// How long in-flight requests may take to finish after a shutdown signal.
const GRACE: Duration = Duration::from_secs(10);

/// Installs rustls' aws-lc-rs provider as the process default (once; later calls are no-ops).
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Refuses plain HTTP on a non-loopback address unless `insecure_http` is set.
pub fn check_listen(
    listen: SocketAddr,
    tls: Option<&TlsFiles>,
    insecure_http: bool,
) -> Result<(), ServerError> {
    if tls.is_none() && !listen.ip().is_loopback() && !insecure_http {
        return Err(ServerError::Startup(format!(
            "refusing plain HTTP on the non-loopback address {listen}: give --tls-cert and \
             --tls-key, or --insecure-http if a TLS proxy is in front"
        )));
    }
    Ok(())
}

/// A bound listener, ready to serve.
pub struct Bound {
    listener: std::net::TcpListener,
    tls: Option<RustlsConfig>,
    addr: SocketAddr,
}

impl Bound {
    /// Binds `listen` (port 0 picks a free port) and loads the TLS files, if any.
    pub async fn bind(
        listen: SocketAddr,
        tls: Option<&TlsFiles>,
        insecure_http: bool,
    ) -> Result<Self, ServerError> {
        check_listen(listen, tls, insecure_http)?;
        install_crypto_provider();
        let tls =
            match tls {
                Some(f) => Some(RustlsConfig::from_pem_file(&f.cert, &f.key).await.map_err(
                    |e| {
                        ServerError::Startup(format!(
                            "TLS certificate {} / key {}: {e}",
                            f.cert.display(),
                            f.key.display()
                        ))
                    },
                )?),
                None => None,
            };
        let listener = std::net::TcpListener::bind(listen)
            .map_err(|e| ServerError::Startup(format!("cannot listen on {listen}: {e}")))?;
        let addr = listener.local_addr()?;
        Ok(Self {
            listener,
            tls,
            addr,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL clients use (`http://…` or `https://…`).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Prints the startup line and serves until `shutdown` resolves, then drains in-flight
    /// requests for up to 10 s.
    pub async fn serve(
        self,
        app: Router,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let handle: Handle<SocketAddr> = Handle::new();
        let h = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down");
            h.graceful_shutdown(Some(GRACE));
        });
        let url = self.url();
        let make = app.into_make_service_with_connect_info::<SocketAddr>();
        // Tests and scripts wait for exactly this line on stdout.
        println!("coffer server listening on {url}");
        tracing::info!(%url, "listening");
        match self.tls {
            Some(tls) => {
                axum_server::from_tcp_rustls(self.listener, tls)?
                    .map(|tls| tls.acceptor(NoDelayAcceptor::new()))
                    .handle(handle)
                    .serve(make)
                    .await?
            }
            None => {
                axum_server::from_tcp(self.listener)?
                    .acceptor(NoDelayAcceptor::new())
                    .handle(handle)
                    .serve(make)
                    .await?
            }
        }
        Ok(())
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        let lo: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let lo6: SocketAddr = "[::1]:0".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8700".parse().unwrap();
        assert!(check_listen(lo, None, false).is_ok());
        assert!(check_listen(lo6, None, false).is_ok());
        let e = check_listen(any, None, false).unwrap_err().to_string();
        assert!(e.contains("--insecure-http"), "{e}");
        assert!(check_listen(any, None, true).is_ok());
        let tls = TlsFiles {
            cert: "c".into(),
            key: "k".into(),
        };
        assert!(check_listen(any, Some(&tls), false).is_ok());
    }
}
