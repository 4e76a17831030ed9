//! The console's routes, every one behind [`Operator`]:
//!
//! * `GET /api/admin/cluster`: what the console shows ([`ClusterView`]): every replica's
//!   latest report, the webhooks with a backlog.
//! * `GET /api/admin/stream`: the same, live: an SSE stream of `cluster` events, one every
//!   `REPORT_EVERY` (at most `view::WATCHING` at once per replica).
//! * `GET /api/admin/connections`: this replica's open streams ([`Listing`], up to 500).
//! * `POST /api/admin/connections/{id}/disconnect`: ends one of this replica's (`204`;
//!   `404` when it is not open here).
//! * `POST /api/admin/replicas/{replica}/connections/{id}/disconnect`: ends one of any
//!   replica's: here as above; another replica is told over the bus (`202`), and its next
//!   report shows the stream gone; `404` for a replica not heard from.
//! * `POST /api/admin/boards/{board}/end`: ends every stream of a board, here and on every
//!   other replica ([`Ended`]); they reconnect too (pair it with a key rotation to keep a
//!   reader out).
//! * `POST /api/admin/webhooks/{id}/pause` and `.../resume`: no attempts while paused; the
//!   position is kept (`200` with `{"id","board","status"}`; `404`).
//!
//! A tab whose stream the console ended reconnects, as after any dropped connection.

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures::Stream;
use serde_json::{json, Value};

use board_core::console::{ClusterView, Ended};

use super::cluster::REPORT_EVERY;
use super::connections::Listing;
use super::Operator;
use crate::error::AppError;
use crate::state::AppState;

pub async fn cluster(State(app): State<AppState>, _: Operator) -> Result<Json<ClusterView>, AppError> {
    Ok(Json((*app.cluster.view(&app.store).await?).clone()))
}

pub async fn stream(
    State(app): State<AppState>,
    _: Operator,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let watching = app.cluster.views.watch()?;
    let mut closing = app.closing.clone();
    let events = async_stream::stream! {
        let _watching = watching;
        loop {
            match app.cluster.view(&app.store).await {
                Ok(view) => match Event::default().event("cluster").json_data(&*view) {
                    Ok(event) => yield Ok(event),
                    Err(err) => tracing::error!(error = %err, "a cluster view that does not serialise"),
                },
                Err(err) => tracing::warn!(error = %err, "the console's view could not be built"),
            }
            tokio::select! {
                () = tokio::time::sleep(REPORT_EVERY) => {}
                _ = closing.wait_for(|closing| *closing) => break,
            }
        }
    };
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

pub async fn connections(State(app): State<AppState>, _: Operator) -> Json<Value> {
    let Listing { by_way, by_board, connections, total } = app.connections.list();
    Json(json!({
        "replica": app.replica.to_string(),
        "total": total,
        "by_way": by_way,
        "by_board": by_board,
        "connections": connections,
    }))
}

fn connection_id(id: &str) -> Result<u64, AppError> {
    id.parse::<u64>().map_err(|_| AppError::BadRequest("a connection id is a whole number".into()))
}

pub async fn disconnect(
    State(app): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let replica = app.replica.to_string();
    disconnect_on(State(app), operator, Path((replica, id))).await
}

pub async fn disconnect_on(
    State(app): State<AppState>,
    _: Operator,
    Path((replica, id)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    let id = connection_id(&id)?;
    if *replica != *app.replica && !app.cluster.replicas().iter().any(|r| r.replica == replica) {
        return Err(AppError::NotFound("no such replica has reported lately".into()));
    }
    app.cluster.views.stale().await;
    match app.cluster.disconnect(app.broker.as_ref(), &replica, id).await {
        Some(true) => Ok(StatusCode::NO_CONTENT),
        Some(false) => Err(AppError::NotFound("no such connection is open on this replica".into())),
        None => Ok(StatusCode::ACCEPTED),
    }
}

pub async fn end_board(State(app): State<AppState>, _: Operator, Path(board): Path<String>) -> Json<Ended> {
    let ended = app.cluster.end_board(app.broker.as_ref(), &board).await;
    app.cluster.views.stale().await;
    Json(Ended { ended, others_told: app.cluster.has_others() })
}

pub async fn pause_webhook(
    State(app): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let row = app.store.pause_webhook(&id).await?;
    webhook_answer(&app, row).await
}

pub async fn resume_webhook(
    State(app): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let row = app.store.resume_webhook(&id).await?;
    // Delivered here at once, not at the next poll.
    app.webhooks.committed();
    webhook_answer(&app, row).await
}

async fn webhook_answer(
    app: &AppState,
    row: Option<crate::store::webhooks::WebhookRow>,
) -> Result<Json<Value>, AppError> {
    let row = row.ok_or_else(|| AppError::NotFound("no such webhook".into()))?;
    app.cluster.views.stale().await;
    tracing::info!(webhook = %row.id, board = %row.board, status = row.status.as_str(), "a webhook changed by the operator");
    Ok(Json(json!({ "id": row.id, "board": row.board, "status": row.status.as_str() })))
}
