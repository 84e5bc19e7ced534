//! Who is using the console. Once the broker has an authorizer, the API answers only a
//! logged-in user: one of the broker's SASL users (PLAIN from the listeners' configuration,
//! SCRAM from the metadata), checked server side, who then acts as `User:<name>` under the
//! same ACLs as a Kafka client from the browser's address.
//!
//! - A login sets a session cookie: HttpOnly (scripts cannot read it), SameSite=Strict (other
//!   sites' pages do not send it), and under HTTPS Secure with the `__Host-` prefix (sent only
//!   over HTTPS, to this host). It lasts while used at least every `console.session.timeout.ms`.
//! - Writes need the session's CSRF token in `X-CSRF-Token`, which only this origin's scripts
//!   can read (from the login or `GET /api/session`); every request with a body must be
//!   `application/json`, which another site cannot send without the browser asking first.
//! - Failed logins are slowed and audited per address, as failed SASL logins are.
//!
//! Without an authorizer the console stays open, as the Kafka listeners are.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use brook_server::authentication::{self, AuthFailures};
use brook_server::authorization::Access;
use serde::Deserialize;
use serde_json::json;
use tracing::warn;

use crate::AppState;
use crate::http::{ApiResult, HttpError, ok_json, parse_body, read_body};

/// Sessions kept at most; past it the least recently used one ends.
const MAX_SESSIONS: usize = 10_000;
/// The header writes carry the session's CSRF token in.
const CSRF_HEADER: &str = "x-csrf-token";

/// The peer's address, from either kind of console listener.
#[derive(Clone, Copy)]
pub(crate) struct PeerAddr(pub(crate) SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for PeerAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> PeerAddr {
        PeerAddr(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, crate::tls::TlsListener>> for PeerAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, crate::tls::TlsListener>) -> PeerAddr {
        PeerAddr(*stream.remote_addr())
    }
}

struct Session {
    user: String,
    csrf: String,
    last_used: Instant,
}

/// The console's logins.
pub(crate) struct Sessions {
    /// Whether logins are needed: the broker has an authorizer.
    required: bool,
    /// Under HTTPS: Secure cookies with the `__Host-` prefix.
    secure: bool,
    timeout: Duration,
    by_token: Mutex<HashMap<String, Session>>,
    failures: AuthFailures,
}

impl Sessions {
    pub(crate) fn new(required: bool, secure: bool, timeout: Duration) -> Sessions {
        Sessions { required, secure, timeout, by_token: Mutex::default(), failures: AuthFailures::default() }
    }

    fn cookie_name(&self) -> &'static str {
        if self.secure { "__Host-brook_session" } else { "brook_session" }
    }

    /// The session cookie: a browser session's (the broker ends it when idle), or with
    /// `expired` one that tells the browser to drop it.
    fn cookie(&self, token: &str, expired: bool) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let expiry = if expired { "; Max-Age=0" } else { "" };
        let value = format!("{}={token}; Path=/; HttpOnly; SameSite=Strict{expiry}{secure}", self.cookie_name());
        HeaderValue::from_str(&value).expect("tokens are URL-safe base64")
    }

    fn start(&self, user: &str) -> (String, String) {
        let (token, csrf) = (brook_security::random_token(), brook_security::random_token());
        let mut sessions = self.by_token.lock().unwrap_or_else(|e| e.into_inner());
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| s.last_used.elapsed() < self.timeout);
        }
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.last_used).map(|(t, _)| t.clone())
        {
            sessions.remove(&oldest);
        }
        let session = Session { user: user.to_string(), csrf: csrf.clone(), last_used: Instant::now() };
        sessions.insert(token.clone(), session);
        (token, csrf)
    }

    /// The session the request's cookie names, if it is live: its user and CSRF token.
    fn find(&self, headers: &HeaderMap) -> Option<(String, String, String)> {
        let token = cookie_value(headers, self.cookie_name())?;
        let mut sessions = self.by_token.lock().unwrap_or_else(|e| e.into_inner());
        let session = sessions.get_mut(token)?;
        if session.last_used.elapsed() >= self.timeout {
            sessions.remove(token);
            return None;
        }
        session.last_used = Instant::now();
        Some((token.to_string(), session.user.clone(), session.csrf.clone()))
    }

    fn end(&self, token: &str) {
        self.by_token.lock().unwrap_or_else(|e| e.into_inner()).remove(token);
    }
}

/// A cookie's value from the request's `Cookie` headers.
fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
}

fn unauthorized() -> Response {
    let body = json!({ "error": "Log in to use the console.", "login_required": true });
    (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A body of another type than JSON: a form or text another site's page could send.
fn not_json(request: &Request) -> bool {
    let has_body = request.headers().contains_key(header::CONTENT_TYPE)
        || request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() != "0")
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    has_body && !json
}

/// Guards the API: JSON bodies only; with logins required, a live session (and on writes its
/// CSRF token), whose user the handlers act as. Login and `GET /api/session` pass through.
pub(crate) async fn guard(
    State(state): State<AppState>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if !path.starts_with("/api/") {
        return next.run(request).await;
    }
    if not_json(&request) {
        return HttpError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "request bodies must be application/json")
            .into_response();
    }
    if matches!(path, "/api/login" | "/api/session") {
        return next.run(request).await;
    }
    let access = if !state.sessions.required {
        Access::unrestricted()
    } else {
        let Some((_, user, csrf)) = state.sessions.find(request.headers()) else { return unauthorized() };
        if !authentication::user_exists(&state.broker, &user) {
            return unauthorized();
        }
        let sent = request.headers().get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
        if is_write(request.method()) && !brook_security::constant_time_eq(sent, csrf.as_bytes()) {
            return HttpError::new(StatusCode::FORBIDDEN, "missing or wrong CSRF token (X-CSRF-Token)").into_response();
        }
        Access::for_user(&state.broker, &user, &peer.ip().to_string())
    };
    request.extensions_mut().insert(access);
    next.run(request).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Credentials {
    username: String,
    password: String,
}

/// `POST /api/login`: a session for one of the broker's SASL users.
pub(crate) async fn login(
    State(state): State<AppState>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    body: Body,
) -> ApiResult {
    if !state.sessions.required {
        return Err(HttpError::bad_request("the console needs no login: the broker has no authorizer"));
    }
    let Credentials { username, password } = parse_body(&read_body(body).await?)?;
    let broker = state.broker.clone();
    let user = username.clone();
    let matches = tokio::task::spawn_blocking(move || authentication::password_matches(&broker, &user, &password))
        .await
        .unwrap_or(false);
    if !matches {
        failed(&state.sessions, peer.ip(), &username).await;
        return Err(HttpError::new(StatusCode::UNAUTHORIZED, "Invalid username or password"));
    }
    let (token, csrf) = state.sessions.start(&username);
    let mut response = ok_json(json!({ "login_required": true, "user": username, "csrf_token": csrf }));
    response.headers_mut().insert(header::SET_COOKIE, state.sessions.cookie(&token, false));
    Ok(response)
}

/// Counts a failed login from `source`, audits it when due, and holds the answer as a failed
/// SASL login is held: longer for an address that keeps failing.
async fn failed(sessions: &Sessions, source: IpAddr, user: &str) {
    let (delay, audit) = sessions.failures.failed(source);
    if let Some(count) = audit {
        warn!(target: "audit", peer = %source, listener = "console", failures_in_the_last_minute = count,
            "authentication failed: console login as {user:?}: invalid username or password");
    }
    tokio::time::sleep(delay).await;
}

/// `GET /api/session`: whether a login is needed, and if one is live its user and CSRF token.
pub(crate) async fn session(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    if !state.sessions.required {
        return Ok(ok_json(json!({ "login_required": false })));
    }
    match state.sessions.find(&headers).filter(|(_, user, _)| authentication::user_exists(&state.broker, user)) {
        Some((_, user, csrf)) => Ok(ok_json(json!({ "login_required": true, "user": user, "csrf_token": csrf }))),
        None => Ok(unauthorized()),
    }
}

/// `POST /api/logout`: ends the session (with its CSRF token, as any write).
pub(crate) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    if let Some((token, ..)) = state.sessions.find(&headers) {
        state.sessions.end(&token);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, state.sessions.cookie("", true));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; brook_session=abc"));
        headers.append(header::COOKIE, HeaderValue::from_static("brook_session_x=no"));
        assert_eq!(cookie_value(&headers, "brook_session"), Some("abc"));
        assert_eq!(cookie_value(&headers, "brook"), None);
    }

    #[test]
    fn sessions_expire_and_stay_bounded() {
        let sessions = Sessions::new(true, true, Duration::from_secs(60));
        let (token, csrf) = sessions.start("alice");
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&format!("__Host-brook_session={token}")).unwrap());
        assert_eq!(sessions.find(&headers).map(|(_, u, c)| (u, c)), Some(("alice".into(), csrf)));
        let cookie = sessions.cookie(&token, false);
        let cookie = cookie.to_str().unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Secure"));
        for session in sessions.by_token.lock().unwrap().values_mut() {
            session.last_used -= Duration::from_secs(61);
        }
        assert!(sessions.find(&headers).is_none(), "an idle session ends");
        for _ in 0..MAX_SESSIONS + 5 {
            sessions.start("bob");
        }
        assert!(sessions.by_token.lock().unwrap().len() <= MAX_SESSIONS);
    }
}
