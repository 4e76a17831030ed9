//! The REST calls the browser makes, over `fetch` (gloo-net).

use gloo_net::http::{Request, Response};
use serde::de::DeserializeOwned;

use crate::api::{
    ApiError, BoardCreated, BoardSummary, CommandAnswer, CreateBoard, FramesPage, Position, Viewer, EPOCH_HEADER,
};
use crate::domain::{BoardState, Command};
use crate::patterns::PatternKind;

pub use super::platform::HttpError;

async fn decode<T: DeserializeOwned>(response: Response) -> Result<T, HttpError> {
    if !response.ok() {
        let status = response.status();
        let message = match response.json::<ApiError>().await {
            Ok(body) => body.error,
            Err(_) => format!("the server answered {status}"),
        };
        return Err(HttpError::Status { status, message });
    }
    response.json::<T>().await.map_err(|e| HttpError::Network(e.to_string()))
}

fn network(err: gloo_net::Error) -> HttpError {
    HttpError::Network(err.to_string())
}

/// `GET` state; `Ok(None)` when the server answers `304` to our seq.
pub async fn state(board: &str, have: Option<&Position>) -> Result<Option<BoardState>, HttpError> {
    let mut request = Request::get(&format!("/api/boards/{board}"));
    if let Some(have) = have {
        request = request.header("If-None-Match", &format!("\"{}\"", have.seq));
        if let Some(epoch) = &have.epoch {
            request = request.header(EPOCH_HEADER, epoch);
        }
    }
    let response = request.send().await.map_err(network)?;
    if response.status() == 304 {
        return Ok(None);
    }
    decode(response).await.map(Some)
}

pub async fn changes(board: &str, from: &Position, pattern: PatternKind) -> Result<FramesPage, HttpError> {
    let url = format!("/api/boards/{board}/changes?{}&pattern={pattern}", from.query());
    decode(Request::get(&url).send().await.map_err(network)?).await
}

pub async fn command(board: &str, command: &Command, key: &str) -> Result<CommandAnswer, HttpError> {
    let request = Request::post(&format!("/api/boards/{board}/commands"))
        .header("Idempotency-Key", key)
        .json(command)
        .map_err(network)?;
    decode(request.send().await.map_err(network)?).await
}

/// What this browser may do with the board (`GET /api/boards/{board}/access`).
pub async fn viewer(board: &str) -> Result<Viewer, HttpError> {
    decode(Request::get(&format!("/api/boards/{board}/access")).send().await.map_err(network)?).await
}

pub async fn boards() -> Result<Vec<BoardSummary>, HttpError> {
    decode(Request::get("/api/boards").send().await.map_err(network)?).await
}

pub async fn create_board(name: &str) -> Result<BoardCreated, HttpError> {
    let body = CreateBoard { name: name.to_owned(), visibility: None };
    let request = Request::post("/api/boards").json(&body).map_err(network)?;
    decode(request.send().await.map_err(network)?).await
}

/// One poll or long-poll request. `Ok(None)` for `304`; otherwise the page and each
/// frame's size in bytes (measured on its JSON, for the wire inspector).
pub async fn frames(
    board: &str,
    endpoint: &str,
    pattern: PatternKind,
    from: &Position,
    hold_secs: Option<u32>,
) -> Result<Option<(FramesPage, Vec<usize>)>, HttpError> {
    let mut url = format!("/api/boards/{board}/{endpoint}?pattern={pattern}&{}", from.query());
    if let Some(hold) = hold_secs {
        url.push_str(&format!("&timeout={hold}"));
    }
    let response = Request::get(&url).send().await.map_err(network)?;
    if response.status() == 304 {
        return Ok(None);
    }
    let page: FramesPage = decode(response).await?;
    let sizes = page.frames.iter().map(|f| f.to_json().len()).collect();
    Ok(Some((page, sizes)))
}
