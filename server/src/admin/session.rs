//! Signing in to the console from a browser: `POST /admin/login` with the token (a form)
//! sets a cookie, so the page and its stream need no `Authorization` header (which an
//! `EventSource` cannot send); `POST /admin/logout` clears it.
//!
//! The cookie is `<expires>.<mac>`: when it lapses (Unix seconds, [`LASTS`] after sign-in)
//! and an HMAC-SHA256 of that time keyed by the token (`token::Token::mac`). Nothing is
//! kept on the server, so any replica that shares `ADMIN_TOKEN` accepts it, and a new token
//! signs everyone out. `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's
//! page sends it) and `Path=/`; `Secure` when the public origin is `https`. Every `POST`
//! also passes the same-origin gate (`access::origin`), as all of them do.
//!
//! Sign-in attempts are limited per address ([`crate::limits::Limits::login`]): a flood is
//! answered `429` before the token is even compared.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;
use serde::Deserialize;

use super::Token;
use crate::error::AppError;
use crate::limits::ClientIp;
use crate::state::AppState;

/// The cookie's name.
pub const COOKIE: &str = "console";
/// How long a sign-in lasts.
pub const LASTS: Duration = Duration::from_secs(12 * 60 * 60);

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The MAC of a sign-in that lasts until `expires`, before it is finished or verified.
fn mac_of(token: &Token, expires: u64) -> hmac::Hmac<sha2::Sha256> {
    let mut mac = token.mac();
    mac.update(b"console session until ");
    mac.update(expires.to_string().as_bytes());
    mac
}

/// A cookie value that lasts until `expires` (Unix seconds).
pub fn issue(token: &Token, expires: u64) -> String {
    format!("{expires}.{}", URL_SAFE_NO_PAD.encode(mac_of(token, expires).finalize().into_bytes()))
}

/// Does `value` sign in, now? (Its MAC is compared by `verify_slice`, in constant time.)
pub fn valid(token: &Token, value: &str) -> bool {
    let Some((expires, presented)) = value.split_once('.') else { return false };
    let (Ok(expires), Ok(presented)) = (expires.parse::<u64>(), URL_SAFE_NO_PAD.decode(presented)) else {
        return false;
    };
    if expires <= now_secs() {
        return false;
    }
    mac_of(token, expires).verify_slice(&presented).is_ok()
}

/// The console cookie a request carries, if any.
pub fn presented(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// Is the request signed in by its cookie?
pub fn signed_in(token: &Token, headers: &HeaderMap) -> bool {
    presented(headers).is_some_and(|value| valid(token, value))
}

#[derive(Deserialize)]
pub struct Login {
    token: String,
}

/// `POST /admin/login`: the right token sets the cookie and goes to the console (`303`);
/// a wrong one goes back to the form, which says so (`303` to `/admin?failed`). `404` when
/// the console is off; `429` past the sign-in rate.
pub async fn login(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    login: Result<Form<Login>, FormRejection>,
) -> Result<Response, AppError> {
    let Some(token) = &app.admin_token else {
        return Err(AppError::NotFound("no such route".into()));
    };
    app.limits.login(ip)?;
    let Form(login) = login.map_err(|rejection| AppError::BadRequest(rejection.body_text()))?;
    if !token.opens(login.token.trim()) {
        tracing::warn!(%ip, "a console sign-in with the wrong token");
        return Ok(see_other("/admin?failed", None));
    }
    let expires = now_secs() + LASTS.as_secs();
    let secure = if app.origins.secure() { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        issue(token, expires),
        LASTS.as_secs()
    );
    Ok(see_other("/admin", Some(cookie)))
}

/// `POST /admin/logout`: clears the cookie (whether or not it was valid) and goes back to
/// the form.
pub async fn logout(State(app): State<AppState>) -> Result<Response, AppError> {
    if app.admin_token.is_none() {
        return Err(AppError::NotFound("no such route".into()));
    }
    Ok(see_other("/admin", Some(format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"))))
}

fn see_other(to: &'static str, cookie: Option<String>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, HeaderValue::from_static(to))]).into_response();
    if let Some(value) = cookie.and_then(|cookie| HeaderValue::from_str(&cookie).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_signs_in_until_it_lapses_and_only_under_its_token() {
        let token = Token::new("a-console-token-of-length");
        let later = now_secs() + 60;
        let cookie = issue(&token, later);
        assert!(valid(&token, &cookie));
        assert!(!valid(&Token::new("another-console-token"), &cookie), "a new token signs everyone out");
        assert!(!valid(&token, &issue(&token, now_secs() - 1)), "lapsed");
        let (_, mac) = cookie.split_once('.').unwrap();
        assert!(!valid(&token, &format!("{}.{mac}", later + 3600)), "a longer life is not signed");
        assert!(!valid(&token, "garbage") && !valid(&token, "1.") && !valid(&token, ""));
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, format!("other=1; {COOKIE}={cookie}").parse().unwrap());
        assert!(signed_in(&token, &headers));
    }
}
