//! Extractors whose rejections are [`AppError`]s, so a bad request gets the same JSON
//! error shape as every other refusal (axum's own rejections are plain text).
//!
//! Both read the body through [`read_body`]: at most 64 KiB, and within `HEADER_TIMEOUT`
//! in all, so a client that trickles its body in a byte at a time holds nothing for long.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::limits::MAX_BODY_BYTES;
use crate::state::AppState;

/// A JSON body: `415` unless it is sent as `Content-Type: application/json` (so that a
/// plain HTML form on another site cannot post one: forms cannot send that type), `413`
/// past the size limit, `408` when it arrives too slowly, `400` when it does not parse.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(AppError::UnsupportedMediaType("send the body as Content-Type: application/json".into()));
        }
        let bytes = read_body(req, app).await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|err| AppError::BadRequest(format!("invalid JSON body: {err}")))
    }
}

/// An HTML form's body (`application/x-www-form-urlencoded`): the home page's form when the
/// page's script has not loaded.
pub struct FormBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for FormBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, app).await?;
        serde_urlencoded::from_bytes(&bytes)
            .map(FormBody)
            .map_err(|err| AppError::BadRequest(format!("invalid form: {err}")))
    }
}

/// The whole body, or `413` past the size limit, or `408` if it takes longer than the
/// header timeout to arrive.
async fn read_body(req: Request, app: &AppState) -> Result<Bytes, AppError> {
    let read = Bytes::from_request(req, app);
    match tokio::time::timeout(app.header_timeout, read).await {
        Err(_elapsed) => Err(AppError::RequestTimeout(format!(
            "the request body did not arrive within {} s",
            app.header_timeout.as_secs()
        ))),
        Ok(Err(rejection)) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(AppError::TooLarge { limit: MAX_BODY_BYTES })
        }
        Ok(Err(rejection)) => Err(AppError::BadRequest(rejection.body_text())),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}
