//! `/api/boards/{board}/webhooks`: other servers subscribed to the board's change log (see
//! `webhooks`). Administering them needs the board's write key, public boards included: a
//! webhook sends every change to an address of its owner's choosing and signs it with a
//! secret its owner holds. Anyone who may read the board may list them, but sees only
//! where they point (scheme, host, port and path: a URL's query or userinfo often carries
//! the receiver's own token) and how they fare, never the secret nor the delivery errors.
//! No key finds nothing on a private board (`404`); a key that reads but does not own is
//! `403`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use rand::RngCore;

use board_core::api::{CreateWebhook, Delivery, ReplayWebhook, WebhookCreated, WebhookInfo};
use board_core::patterns::PatternKind;

use super::extract::JsonBody;
use crate::access::{Admin, Reader, Role};
use crate::error::AppError;
use crate::state::AppState;
use crate::store::webhooks::WebhookRow;
use crate::webhooks::sign;

/// The longest webhook URL accepted.
const MAX_URL_CHARS: usize = 2048;
/// How many webhooks one board may have: each is a task and a lease on every change.
pub const MAX_WEBHOOKS_PER_BOARD: usize = 20;
/// How many attempts `GET .../deliveries` returns (the newest).
const DELIVERIES_SHOWN: i64 = 100;

/// A webhook as its owner sees it.
fn info(row: &WebhookRow) -> WebhookInfo {
    WebhookInfo {
        id: row.id.clone(),
        url: row.url.clone(),
        pattern: row.pattern.as_str().to_owned(),
        status: row.status.as_str().to_owned(),
        delivered_seq: row.delivered_seq,
        last_error: row.last_error.clone(),
    }
}

/// A webhook as anyone else who may read the board sees it: where it points without its
/// query, fragment or userinfo, and no delivery error.
fn public_info(row: &WebhookRow) -> WebhookInfo {
    WebhookInfo { url: without_secrets(&row.url), last_error: None, ..info(row) }
}

/// `https://user:pass@hooks.example/in?token=t#x` → `https://hooks.example/in`.
fn without_secrets(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        Err(_) => String::new(),
    }
}

fn no_webhook(id: &str) -> AppError {
    AppError::NotFound(format!("webhook `{id}` does not exist on this board"))
}

/// `201` with the secret (shown once); `422` for a URL this server will not call.
pub async fn create(
    State(app): State<AppState>,
    Admin(grant): Admin,
    JsonBody(body): JsonBody<CreateWebhook>,
) -> Result<(StatusCode, Json<WebhookCreated>), AppError> {
    let pattern = PatternKind::from_param(body.pattern.as_deref()).map_err(AppError::BadRequest)?;
    if body.url.chars().count() > MAX_URL_CHARS {
        return Err(AppError::Unprocessable(format!("a webhook URL has at most {MAX_URL_CHARS} characters")));
    }
    if app.store.webhooks(&grant.board).await?.len() >= MAX_WEBHOOKS_PER_BOARD {
        return Err(AppError::Unprocessable(format!("a board has at most {MAX_WEBHOOKS_PER_BOARD} webhooks")));
    }
    app.webhooks.check_url(&body.url).await.map_err(AppError::Unprocessable)?;
    let id = {
        let mut bytes = [0u8; 12];
        rand::rng().fill_bytes(&mut bytes);
        format!("wh_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    };
    let (stored, shown) = sign::new_secret();
    let row = app
        .store
        .create_webhook(&grant.board, &id, &body.url, pattern, &stored)
        .await?
        .ok_or_else(|| AppError::no_board(&grant.board))?;
    Ok((StatusCode::CREATED, Json(WebhookCreated { secret: shown, webhook: info(&row) })))
}

/// The board's webhooks: whole for its owner, without secrets for anyone who may read it.
pub async fn list(State(app): State<AppState>, Reader(grant): Reader) -> Result<Json<Vec<WebhookInfo>>, AppError> {
    let shown = if grant.role >= Role::Admin { info } else { public_info };
    Ok(Json(app.store.webhooks(&grant.board).await?.iter().map(shown).collect()))
}

pub async fn delete(
    State(app): State<AppState>,
    Admin(grant): Admin,
    Path((_board, id)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    match app.store.delete_webhook(&grant.board, &id).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(no_webhook(&id)),
    }
}

/// Delivers again from `since + 1`; `422` beyond the board's head.
pub async fn replay(
    State(app): State<AppState>,
    Admin(grant): Admin,
    Path((_board, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<ReplayWebhook>,
) -> Result<Json<WebhookInfo>, AppError> {
    let head = app.head(&grant.board).await?;
    if body.since > head {
        return Err(AppError::Unprocessable(format!("seq {} is beyond the board's head ({head})", body.since)));
    }
    let row = app.store.replay_webhook(&grant.board, &id, body.since).await?.ok_or_else(|| no_webhook(&id))?;
    app.webhooks.committed();
    Ok(Json(info(&row)))
}

/// A new secret, shown this once; the previous one keeps signing for a day beside it, so
/// receivers can switch without losing a delivery.
pub async fn rotate_secret(
    State(app): State<AppState>,
    Admin(grant): Admin,
    Path((_board, id)): Path<(String, String)>,
) -> Result<Json<WebhookCreated>, AppError> {
    let (stored, shown) = sign::new_secret();
    let row = app
        .store
        .rotate_webhook_secret(&grant.board, &id, &stored, crate::webhooks::ROTATION_GRACE)
        .await?
        .ok_or_else(|| no_webhook(&id))?;
    Ok(Json(WebhookCreated { secret: shown, webhook: info(&row) }))
}

pub async fn deliveries(
    State(app): State<AppState>,
    Admin(grant): Admin,
    Path((_board, id)): Path<(String, String)>,
) -> Result<Json<Vec<Delivery>>, AppError> {
    app.store.webhook(&grant.board, &id).await?.ok_or_else(|| no_webhook(&id))?;
    let rows = app.store.deliveries(&id, DELIVERIES_SHOWN).await?;
    Ok(Json(
        rows.into_iter()
            .map(|d| Delivery {
                seq: d.seq,
                attempt: d.attempt,
                status: d.status,
                error: d.error,
                duration_ms: d.duration_ms,
                at: d.at,
            })
            .collect(),
    ))
}
