//! Brook's web console: an HTTP listener beside the Kafka one (`console.listener`), serving
//! the single-page console, the JSON API it uses, and Prometheus' `/metrics`.
//!
//! - `http`: errors as JSON with a 4xx/5xx status; body and query parsing.
//! - `overview`, `topics`, `messages`, `groups`: the API, one module per console page.
//! - `history`: periodic samples of traffic and consumer-group lag for rates and charts.
//! - `prometheus`: the `/metrics` page.
//! - `assets`: the console's HTML, CSS and JavaScript, compiled into the binary.
//! - `tls`: HTTPS when `console.ssl.*` names a keystore.
//! - `login`: logins, sessions and CSRF tokens once the broker has an authorizer; the
//!   principal the API acts as.

mod assets;
mod groups;
mod history;
mod http;
mod login;
mod messages;
mod overview;
mod prometheus;
mod tls;
mod topics;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use brook_server::broker::Broker;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::history::History;

/// What every handler sees.
#[derive(Clone)]
struct AppState {
    broker: Arc<Broker>,
    history: Arc<History>,
    /// Round robin for keyless messages from the produce form.
    next_partition: Arc<AtomicU32>,
    sessions: Arc<login::Sessions>,
}

/// A bound console listener (and `/metrics`' own, if configured).
pub struct Console {
    pub local_addr: SocketAddr,
    /// `console.metrics.listener`'s address.
    pub metrics_addr: Option<SocketAddr>,
    metrics_listener: Option<TcpListener>,
    /// `https` when `console.ssl.*` names a keystore, else `http`.
    pub scheme: &'static str,
    listener: TcpListener,
    tls: Option<brook_security::tls::ReloadingTls>,
    state: AppState,
}

impl Console {
    /// Binds `console.listener`; a taken port fails start-up, as the Kafka listener's does.
    pub async fn bind(broker: Arc<Broker>) -> anyhow::Result<Console> {
        let address = broker.config.console.listener.clone();
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on console.listener={address}: {e}"))?;
        let local_addr = listener.local_addr()?;
        let metrics_listener = match &broker.config.console.metrics_listener {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot listen on console.metrics.listener={address}: {e}"))?,
            ),
            None => None,
        };
        let metrics_addr = metrics_listener.as_ref().map(TcpListener::local_addr).transpose()?;
        let tls = match &broker.config.console.tls {
            Some(settings) => Some(
                brook_security::tls::ReloadingTls::new(settings.clone())
                    .map_err(|e| anyhow::anyhow!("console.{}: {}", e.key, e.reason))?,
            ),
            None => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        if broker.config.authorizer.is_some() {
            if tls.is_none() && !local_addr.ip().is_loopback() {
                warn!(address = %local_addr, "console logins cross the network unencrypted: set console.ssl.keystore.location");
            }
            if broker.config.console.metrics_token.is_none() {
                warn!("/metrics needs no login; set console.metrics.bearer.token to require a token");
            }
        }
        let sessions = login::Sessions::new(
            broker.config.authorizer.is_some(),
            tls.is_some(),
            Duration::from_millis(broker.config.console.session_timeout_ms),
        );
        let state = AppState {
            broker,
            history: Arc::new(History::default()),
            next_partition: Arc::new(AtomicU32::new(0)),
            sessions: Arc::new(sessions),
        };
        Ok(Console { local_addr, metrics_addr, metrics_listener, scheme, listener, tls, state })
    }

    /// Serves until `shutdown` completes, sampling lag and rates meanwhile.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Console { local_addr, listener, metrics_listener, tls, state, .. } = self;
        info!(address = %local_addr, "console and /metrics listening");
        let interval = Duration::from_millis(state.broker.config.console.sample_interval_ms.max(1));
        let (history, broker) = (state.history.clone(), state.broker.clone());
        let sampler = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            loop {
                ticks.tick().await;
                let (history, broker) = (history.clone(), broker.clone());
                let _ = tokio::task::spawn_blocking(move || history.sample(&broker)).await;
            }
        });
        // One shutdown for both listeners.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let wait = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        let metrics = metrics_listener.map(|listener| {
            let router = Router::new()
                .route("/metrics", get(prometheus::metrics))
                .fallback(assets::not_found)
                .with_state(state.clone());
            tokio::spawn(axum::serve(listener, router).with_graceful_shutdown(wait(stopped.clone())).into_future())
        });
        // Handlers see the peer's address: the host ACLs name.
        let app = router(state).into_make_service_with_connect_info::<login::PeerAddr>();
        let served = match tls {
            Some(tls) => {
                let listener = tls::TlsListener::new(listener, tls)?;
                axum::serve(listener, app).with_graceful_shutdown(wait(stopped)).await
            }
            None => axum::serve(listener, app).with_graceful_shutdown(wait(stopped)).await,
        };
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        sampler.abort();
        Ok(served?)
    }
}

fn router(state: AppState) -> Router {
    use axum::routing::{post, put};
    Router::new()
        .route("/api/login", post(login::login))
        .route("/api/logout", post(login::logout))
        .route("/api/session", get(login::session))
        .route("/", get(assets::index))
        .route("/assets/{file}", get(assets::file))
        .route("/metrics", get(prometheus::metrics))
        .route("/api/overview", get(overview::overview))
        .route("/api/topics", get(topics::list).post(topics::create))
        .route("/api/topics/{name}", get(topics::describe).delete(topics::delete))
        .route("/api/topics/{name}/configs", put(topics::alter_configs))
        .route("/api/topics/{name}/messages", get(messages::browse).post(messages::produce))
        .route("/api/groups", get(groups::list))
        .route("/api/groups/{id}", get(groups::describe))
        .fallback(assets::not_found)
        .method_not_allowed_fallback(assets::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), login::guard))
        .with_state(state)
}
