//! The REST calls the browser makes, over `fetch` (gloo-net). The sync engine's calls read
//! each answer whole and say what it cost ([`Metered`]), so the wire inspector counts every
//! byte a pattern causes; the page's other calls (boards, webhooks, the lab) do not.

use gloo_net::http::{Request, Response};
use serde::de::DeserializeOwned;

use board_core::api::{
    ApiError, BeforeHistory, BoardCreated, BoardSummary, CommandAnswer, CreateBoard, CreateWebhook, Delivery,
    FramesPage, HistoryPage, KeysRotated, Position, ReplayWebhook, ServerFaults, ServerLab, TodoHistoryPage, Viewer,
    WebhookCreated, WebhookInfo, EPOCH_HEADER,
};
use board_core::domain::{BoardState, Id};
use board_core::patterns::PatternKind;
use board_core::presence::{Leave, Signal};

pub use super::platform::HttpError;
use super::platform::{Exchange, Metered, Outgoing};
use board_core::protocol::Transport;

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
pub async fn state(board: &str, have: Option<&Position>) -> Metered<Option<BoardState>> {
    let mut request = Request::get(&format!("/api/boards/{board}"));
    if let Some(have) = have {
        request = request.header("If-None-Match", &format!("\"{}\"", have.seq));
        if let Some(epoch) = &have.epoch {
            request = request.header(EPOCH_HEADER, epoch);
        }
    }
    metered("state", request.build(), 0, |answered| match answered.status {
        304 => Ok(None),
        _ => answered.parse().map(Some),
    })
    .await
}

/// `GET /snapshots/{seq}`: the board at one seq, at a URL whose answer never changes (so
/// the browser's and any shared cache may answer it). The epoch makes it name one
/// incarnation of the board.
pub async fn snapshot_at(board: &str, seq: u64, epoch: Option<&str>) -> Metered<BoardState> {
    let url = match epoch {
        Some(epoch) => format!("/api/boards/{board}/snapshots/{seq}?epoch={epoch}"),
        None => format!("/api/boards/{board}/snapshots/{seq}"),
    };
    metered("snapshot", Request::get(&url).build(), 0, Answered::parse).await
}

pub async fn changes(board: &str, from: &Position, pattern: PatternKind) -> Metered<FramesPage> {
    let url = format!("/api/boards/{board}/changes?{}&pattern={pattern}", from.query());
    metered("backfill", Request::get(&url).build(), 0, Answered::parse).await
}

/// `GET /history?at=N&then=M`: the board at seq N and the M changes after it; or, `410`,
/// where history starts.
pub async fn history(board: &str, at: u64, then: u64) -> Metered<Result<HistoryPage, BeforeHistory>> {
    let url = format!("/api/boards/{board}/history?at={at}&then={then}");
    metered("history", Request::get(&url).build(), 0, |answered| {
        if answered.status == 410 {
            if let Ok(before) = serde_json::from_str::<BeforeHistory>(&answered.body) {
                return Ok(Err(before));
            }
        }
        answered.parse().map(Ok)
    })
    .await
}

/// `GET /todos/{id}/history`: the retained changes to one todo, and who made them.
pub async fn todo_history(board: &str, todo: Id) -> Metered<TodoHistoryPage> {
    let url = format!("/api/boards/{board}/todos/{todo}/history");
    metered("history", Request::get(&url).build(), 0, Answered::parse).await
}

pub async fn command(board: &str, outgoing: &Outgoing) -> Metered<CommandAnswer> {
    let body = serde_json::to_string(&outgoing.command).expect("commands serialise");
    let mut request = Request::post(&format!("/api/boards/{board}/commands"))
        .header("Idempotency-Key", &outgoing.key)
        .header("Content-Type", "application/json");
    if let Some(actor) = &outgoing.actor {
        // A header is ASCII: the name goes percent-encoded, as the server expects.
        request = request.header("Board-Actor", &String::from(js_sys::encode_uri_component(actor)));
    }
    if let Some(traceparent) = &outgoing.traceparent {
        request = request.header("traceparent", traceparent);
    }
    let request = request.body(body.clone());
    metered("command", request, body.len(), Answered::parse).await
}

/// `POST /api/boards/{board}/keys`: new keys for the board (this browser's cookie holds
/// its write key); the old ones open nothing from now on.
pub async fn rotate_keys(board: &str) -> Result<KeysRotated, HttpError> {
    decode(Request::post(&format!("/api/boards/{board}/keys")).send().await.map_err(network)?).await
}

/// What this browser may do with the board (`GET /api/boards/{board}/access`).
pub async fn viewer(board: &str) -> Result<Viewer, HttpError> {
    decode(Request::get(&format!("/api/boards/{board}/access")).send().await.map_err(network)?).await
}

pub async fn boards() -> Result<Vec<BoardSummary>, HttpError> {
    decode(Request::get("/api/boards").send().await.map_err(network)?).await
}

/// What the operator's console API answers this browser (its cookie): `200` signed in,
/// `401` not, `404` off; `None` when there was no answer.
pub async fn console_status() -> Option<u16> {
    Request::get("/api/admin/cluster").send().await.ok().map(|answer| answer.status())
}

/// One of the console's actions (`POST url`, no body): `Ok` with the status for a `2xx`,
/// or the server's refusal.
pub async fn console_action(url: &str) -> Result<u16, HttpError> {
    let answer = Request::post(url).send().await.map_err(network)?;
    let status = answer.status();
    if (200..300).contains(&status) {
        return Ok(status);
    }
    let body = answer.text().await.unwrap_or_default();
    Answered { status, body }.parse::<serde_json::Value>().map(|_| status)
}

pub async fn create_board(name: &str) -> Result<BoardCreated, HttpError> {
    let body = CreateBoard { name: name.to_owned(), visibility: None };
    let request = Request::post("/api/boards").json(&body).map_err(network)?;
    decode(request.send().await.map_err(network)?).await
}

/// One poll or long-poll request. `Ok(None)` for `304`; otherwise the page and each
/// frame's size in bytes (measured on its JSON, for the wire inspector). `abort` ends it
/// early (the link closed).
pub async fn frames(
    board: &str,
    transport: Transport,
    pattern: PatternKind,
    from: &Position,
    hold_secs: Option<u32>,
    extra_query: &str,
    abort: Option<&web_sys::AbortSignal>,
) -> Metered<Option<(FramesPage, Vec<usize>)>> {
    let mut url = format!("/api/boards/{board}/{transport}?pattern={pattern}&{}{extra_query}", from.query());
    if let Some(hold) = hold_secs {
        url.push_str(&format!("&timeout={hold}"));
    }
    let request = Request::get(&url).abort_signal(abort).build();
    metered(transport.as_str(), request, 0, |answered| {
        if answered.status == 304 {
            return Ok(None);
        }
        let page: FramesPage = answered.parse()?;
        let sizes = page.frames.iter().map(|f| f.to_json().len()).collect();
        Ok(Some((page, sizes)))
    })
    .await
}

/// `POST /traces/{trace}/apply`: this tab's last hop of a traced change.
pub async fn report_applied(board: &str, trace: &str, report: &board_core::api::Applied) -> Metered<()> {
    let body = serde_json::to_string(report).expect("reports serialise");
    post_for_nothing("trace", &format!("/api/boards/{board}/traces/{trace}/apply"), body).await
}

/// `GET /traces/{trace}`: the hops of a traced change this tab's replica knows (the
/// inspector's waterfall; not the engine's traffic, so not metered).
pub async fn trace_hops(board: &str, trace: &str) -> Result<board_core::api::TraceHops, HttpError> {
    decode(Request::get(&format!("/api/boards/{board}/traces/{trace}")).send().await.map_err(network)?).await
}

/// `POST /signal`: a signal or relayed cursor for other tabs.
pub async fn signal(board: &str, signal: &Signal) -> Metered<()> {
    let body = serde_json::to_string(signal).expect("signals serialise");
    post_for_nothing("signal", &format!("/api/boards/{board}/signal"), body).await
}

/// `POST url` with a JSON `body` whose success has nothing to say (any 2xx), metered as
/// `kind`; a refusal carries the server's error.
async fn post_for_nothing(kind: &'static str, url: &str, body: String) -> Metered<()> {
    let request = Request::post(url).header("Content-Type", "application/json").body(body.clone());
    metered(kind, request, body.len(), |answered| match answered.status {
        200..=299 => Ok(()),
        _ => answered.parse::<serde_json::Value>().map(|_| ()),
    })
    .await
}

/// An answer read whole: its status and body.
struct Answered {
    status: u16,
    body: String,
}

impl Answered {
    /// The body as `T`, or the server's refusal with its message.
    fn parse<T: DeserializeOwned>(self) -> Result<T, HttpError> {
        if !(200..300).contains(&self.status) {
            let message = match serde_json::from_str::<ApiError>(&self.body) {
                Ok(body) => body.error,
                Err(_) => format!("the server answered {}", self.status),
            };
            return Err(HttpError::Status { status: self.status, message });
        }
        serde_json::from_str(&self.body).map_err(|e| HttpError::Network(e.to_string()))
    }
}

/// Sends one request of the sync engine (`sent`: the bytes of its body), reads the whole
/// answer, and says what the exchange cost; `read` makes the answer of it.
async fn metered<T>(
    kind: &'static str,
    request: Result<Request, gloo_net::Error>,
    sent: usize,
    read: impl FnOnce(Answered) -> Result<T, HttpError>,
) -> Metered<T> {
    let failed = |err| Metered { answer: Err(network(err)), cost: None };
    let response = match request {
        Ok(request) => match request.send().await {
            Ok(response) => response,
            Err(err) => return failed(err),
        },
        Err(err) => return failed(err),
    };
    let status = response.status();
    let body = match response.text().await {
        Ok(body) => body,
        Err(err) => return failed(err),
    };
    let cost = Some(Exchange { kind, status, sent, received: body.len() });
    Metered { answer: read(Answered { status, body }), cost }
}

/// `POST /leave` as the page unloads: a `keepalive` fetch, which the browser completes
/// after the page is gone, so this tab leaves the presence list at once.
pub fn leave(board: &str, client: &str, secret: &str) {
    let leave = Leave { client: client.to_owned(), secret: Some(secret.to_owned()) };
    let body = serde_json::to_string(&leave).expect("a leave serialises");
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    // `keepalive` (not in web-sys's dictionary): the request outlives the page.
    let _ = js_sys::Reflect::set(&init, &"keepalive".into(), &true.into());
    init.set_body(&wasm_bindgen::JsValue::from_str(&body));
    let headers = web_sys::Headers::new().expect("headers");
    let _ = headers.set("Content-Type", "application/json");
    init.set_headers(&headers);
    if let Some(window) = web_sys::window() {
        let _ = window.fetch_with_str_and_init(&format!("/api/boards/{board}/leave"), &init);
    }
}

/// `GET /api/ice-servers`: the STUN/TURN servers for WebRTC, as the `iceServers` array of
/// an `RTCConfiguration`; `None` if the server has none or cannot be asked.
pub async fn ice_servers() -> Option<wasm_bindgen::JsValue> {
    let response = Request::get("/api/ice-servers").send().await.ok()?;
    let text = response.ok().then_some(response.text().await.ok()?)?;
    js_sys::JSON::parse(&text).ok().filter(js_sys::Array::is_array)
}

/// `GET /api/boards/{board}/webhooks` (the write key's).
pub async fn webhooks(board: &str) -> Result<Vec<WebhookInfo>, HttpError> {
    decode(Request::get(&format!("/api/boards/{board}/webhooks")).send().await.map_err(network)?).await
}

/// `POST /api/boards/{board}/webhooks`: the new webhook, with its secret (shown once).
pub async fn create_webhook(board: &str, url: &str, pattern: PatternKind) -> Result<WebhookCreated, HttpError> {
    let body = CreateWebhook { url: url.to_owned(), pattern: Some(pattern.as_str().to_owned()) };
    let request = Request::post(&format!("/api/boards/{board}/webhooks")).json(&body).map_err(network)?;
    decode(request.send().await.map_err(network)?).await
}

pub async fn delete_webhook(board: &str, id: &str) -> Result<(), HttpError> {
    let response = Request::delete(&format!("/api/boards/{board}/webhooks/{id}")).send().await.map_err(network)?;
    if response.ok() {
        return Ok(());
    }
    decode::<serde_json::Value>(response).await.map(|_| ())
}

pub async fn replay_webhook(board: &str, id: &str, since: u64) -> Result<WebhookInfo, HttpError> {
    let request = Request::post(&format!("/api/boards/{board}/webhooks/{id}/replay"))
        .json(&ReplayWebhook { since })
        .map_err(network)?;
    decode(request.send().await.map_err(network)?).await
}

pub async fn deliveries(board: &str, id: &str) -> Result<Vec<Delivery>, HttpError> {
    decode(Request::get(&format!("/api/boards/{board}/webhooks/{id}/deliveries")).send().await.map_err(network)?).await
}

/// `GET /api/lab`: the server-side faults of the replica that answers (and whether it takes
/// any). `?board=` is for the proxy: with board affinity it routes to `board`'s replica.
pub async fn server_lab(board: &str) -> Result<ServerLab, HttpError> {
    decode(Request::get(&format!("/api/lab?board={board}")).send().await.map_err(network)?).await
}

/// `POST /api/lab`: sets server-side faults on the replica that receives it (`board`'s,
/// behind a proxy with board affinity). The board's faults go with the page's cookie (its
/// write key); a pause of the database with the lab token, when the person typed one.
pub async fn set_server_faults(
    board: &str,
    faults: &ServerFaults,
    token: Option<&str>,
) -> Result<ServerLab, HttpError> {
    let mut request = Request::post(&format!("/api/lab?board={board}"));
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        request = request.header("x-lab-token", token);
    }
    decode(request.json(faults).map_err(network)?.send().await.map_err(network)?).await
}
