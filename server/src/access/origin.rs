//! Same-origin for browsers, and the server's own names.
//!
//! A browser sends the visitor's cookies (and so their board keys) with requests that any
//! web page starts: a form that posts, a WebSocket it opens. Two checks keep other sites
//! out, for every route:
//!
//! * **Origin.** A `POST`, or a WebSocket upgrade, whose `Origin` is present and is
//!   neither this server's own origin nor listed in `ALLOWED_ORIGINS` answers `403` and does
//!   nothing. Requests without `Origin` (curl, load tools) are not browsers and pass; a
//!   browser always sends it on these requests.
//! * **Host.** The own origin comes from configuration (`PUBLIC_ORIGIN`, default: the
//!   loopback names of the listening port), never from the request. A request whose `Host`
//!   is not one of the server's names answers `421`: otherwise a site could point its own
//!   name at the server's address (DNS rebinding) and be "same-origin" with it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;

/// The origins this server answers browsers from, and the host names it serves.
#[derive(Clone, Debug)]
pub struct Origins {
    /// `scheme://host[:port]`, lower case: the own origin(s) and `ALLOWED_ORIGINS`.
    allowed: Vec<String>,
    /// Host names (no port) of those origins; loopback names are always accepted too.
    hosts: Vec<String>,
    /// The own origin is `https`: cookies get `Secure`.
    secure: bool,
}

impl Origins {
    /// `public`: `PUBLIC_ORIGIN` (unset: `http://127.0.0.1:PORT`, `http://localhost:PORT`
    /// and `http://[::1]:PORT` for the port the server listens on, `https` when it serves
    /// TLS itself); `extra`: `ALLOWED_ORIGINS`.
    pub fn new(public: Option<&str>, extra: &[String], local: SocketAddr, tls: bool) -> Self {
        let scheme = if tls { "https" } else { "http" };
        let own: Vec<String> = match public {
            Some(origin) => vec![normalise(origin)],
            None => {
                ["127.0.0.1", "localhost", "[::1]"].iter().map(|h| format!("{scheme}://{h}:{}", local.port())).collect()
            }
        };
        let secure = own.iter().any(|o| o.starts_with("https://"));
        let allowed: Vec<String> = own.into_iter().chain(extra.iter().map(|o| normalise(o))).collect();
        let hosts = allowed.iter().filter_map(|o| host_of_origin(o)).collect();
        Origins { allowed, hosts, secure }
    }

    pub fn secure(&self) -> bool {
        self.secure
    }

    fn allows_origin(&self, origin: &str) -> bool {
        let origin = normalise(origin);
        self.allowed.contains(&origin)
    }

    fn serves_host(&self, host: &str) -> bool {
        let name = strip_port(host).to_ascii_lowercase();
        is_loopback_name(&name) || self.hosts.contains(&name)
    }
}

/// Middleware: `400` for several `Host` headers, `421` for a foreign `Host`, `403` for a
/// cross-site `POST` or WebSocket. Its state is the `Origins` alone, so this module needs
/// nothing else of the server.
pub async fn same_origin(State(origins): State<Arc<Origins>>, request: Request, next: Next) -> Response {
    // Two `Host`s: this check would read one and a proxy in front perhaps the other.
    if request.headers().get_all(header::HOST).iter().nth(1).is_some() {
        return AppError::BadRequest("a request has one Host header".into()).into_response();
    }
    let host = request.headers().get(header::HOST).and_then(|v| v.to_str().ok()).or(request.uri().host());
    if let Some(host) = host {
        if !origins.serves_host(host) {
            return AppError::Misdirected(format!("this server does not serve the host `{host}`")).into_response();
        }
    }
    let upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if request.method() == Method::POST || upgrade {
        if let Some(origin) = request.headers().get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or_default();
            if !origins.allows_origin(origin) {
                metrics::counter!("board_cross_origin_refused_total").increment(1);
                return AppError::Forbidden(format!("requests from the origin `{origin}` are not accepted"))
                    .into_response();
            }
        }
    }
    next.run(request).await
}

/// Lower case, no trailing slash, default ports dropped: `HTTP://Example.com:80/` →
/// `http://example.com`.
fn normalise(origin: &str) -> String {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    if let Some(rest) = origin.strip_prefix("http://") {
        if let Some(host) = rest.strip_suffix(":80") {
            return format!("http://{host}");
        }
    }
    if let Some(rest) = origin.strip_prefix("https://") {
        if let Some(host) = rest.strip_suffix(":443") {
            return format!("https://{host}");
        }
    }
    origin
}

fn host_of_origin(origin: &str) -> Option<String> {
    let authority = origin.split_once("://")?.1;
    Some(strip_port(authority).to_owned())
}

/// `example.com:8080` → `example.com`; `[::1]:3000` → `[::1]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map(|end| &host[..=end]).unwrap_or(host);
    }
    host.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map(|(h, _)| h).unwrap_or(host)
}

fn is_loopback_name(name: &str) -> bool {
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(public: Option<&str>, extra: &[&str]) -> Origins {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Origins::new(public, &extra, "127.0.0.1:3000".parse().unwrap(), false)
    }

    #[test]
    fn the_default_own_origin_is_the_loopback_names_of_the_port() {
        let o = origins(None, &[]);
        assert!(o.allows_origin("http://127.0.0.1:3000"));
        assert!(o.allows_origin("http://localhost:3000/"));
        assert!(!o.allows_origin("http://localhost:3001"));
        assert!(!o.allows_origin("https://evil.example"));
        assert!(!o.allows_origin("null"));
        assert!(!o.secure());
    }

    #[test]
    fn a_public_origin_and_allowed_origins_are_accepted_with_their_hosts() {
        let o = origins(Some("https://Board.Example.com/"), &["http://lan-box:8080"]);
        assert!(o.allows_origin("https://board.example.com"));
        assert!(o.allows_origin("https://board.example.com:443"));
        assert!(o.allows_origin("http://lan-box:8080"));
        assert!(!o.allows_origin("http://board.example.com"));
        assert!(o.serves_host("board.example.com"));
        assert!(o.serves_host("lan-box:8080"));
        assert!(o.serves_host("localhost:8080") && o.serves_host("127.0.0.1") && o.serves_host("[::1]:3000"));
        assert!(!o.serves_host("rebound.attacker.example"));
        assert!(o.secure());
    }

    #[test]
    fn a_server_speaking_tls_itself_is_its_https_origins_and_sets_secure_cookies() {
        let o = Origins::new(None, &[], "127.0.0.1:3443".parse().unwrap(), true);
        assert!(o.allows_origin("https://127.0.0.1:3443"));
        assert!(o.allows_origin("https://localhost:3443"));
        assert!(!o.allows_origin("http://127.0.0.1:3443"), "a page over plain http is another origin");
        assert!(o.secure());
    }
}
