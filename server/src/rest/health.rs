//! `GET /healthz` (the process answers), `GET /readyz` (the database and the broker answer),
//! (Prometheus metrics are served on their own listener: see `serve::metrics_listener`.)

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::state::AppState;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = app.store.ping().await.map_err(|e| e.to_string());
    let broker = app.broker.ready().await;
    let ok = database.is_ok() && broker.is_ok();
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let word = |r: &Result<(), String>| if r.is_ok() { "ok" } else { "unavailable" };
    let mut body = json!({ "status": if ok { "ok" } else { "unavailable" }, "database": word(&database), "broker": word(&broker) });
    if !ok {
        body["error"] = json!("a dependency is unavailable");
    }
    (status, Json(body))
}
