//! Extractors whose rejections are [`AppError`]s, so a bad request gets the same JSON
//! error shape as every other refusal (axum's own rejections are plain text).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::MAX_BODY_BYTES;
use crate::error::AppError;

/// A JSON body: `413` past the size limit, `400` when it does not parse. The content type
/// is not checked, so `curl -d` works without `-H`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
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
