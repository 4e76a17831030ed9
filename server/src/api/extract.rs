//! Extractors whose rejections are [`AppError`]s, so a bad request gets the same JSON
//! error shape as every other refusal (axum's own rejections are plain text).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use super::MAX_BODY_BYTES;
use crate::error::AppError;

/// A JSON body: `415` unless it is sent as `Content-Type: application/json` (so that a
/// plain HTML form on another site cannot post one: forms cannot send that type), `413`
/// past the size limit, `400` when it does not parse.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(AppError::UnsupportedMediaType("send the body as Content-Type: application/json".into()));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::TooLarge { limit: MAX_BODY_BYTES }
            } else {
                AppError::BadRequest(rejection.body_text())
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|err| AppError::BadRequest(format!("invalid JSON body: {err}")))
    }
}
