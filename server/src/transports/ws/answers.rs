//! What a WebSocket session answers to its peer's text messages: a command, answered as
//! `POST /commands` would answer it (an `ack` with its seq, or an `error` frame with the
//! contract's status), or a presence signal, answered only when refused. The only part of
//! the session that needs the server (the command service, presence); the session itself
//! ([`super::session`]) only moves messages.

use std::net::IpAddr;

use board_core::api::{SocketCommand, SocketSignal};
use board_core::patterns::Frame;

use crate::access::Grant;
use crate::error::AppError;
use crate::presence::Proof;
use crate::service::{commands, signals};
use crate::state::AppState;
use crate::store::Envelope;

/// Who is at the other end of a socket, as the server knows them.
pub struct Peer {
    pub app: AppState,
    /// What the gate allowed when the socket opened: commands up it are checked against
    /// this grant's role (a read key's socket gets `403`).
    pub grant: Grant,
    /// The client's address: its command and signal rates are counted against it.
    pub ip: IpAddr,
    /// The tab the socket was opened as (`client=C`): the only one its signals may be
    /// signed as. `None`: a socket that only watches.
    pub me: Option<String>,
    /// Cancelled when the operator's console ended the socket's stream: it closes with
    /// [`super::session::CLOSE_ENDED`], not as a failure.
    pub ended: tokio_util::sync::CancellationToken,
}

impl Peer {
    /// Answers one text message from the peer: a signal (`{"signal":{...}}`) gets an answer
    /// only when refused; anything else is a command and always gets one.
    pub async fn answer(&self, text: &str) -> Option<Frame> {
        let is_signal = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text)
            .is_ok_and(|message| message.contains_key("signal"));
        if !is_signal {
            return Some(self.command(text).await);
        }
        let refused = match serde_json::from_str::<SocketSignal>(text) {
            Ok(SocketSignal { signal }) => {
                signals::send(&self.app, &self.grant.board, &signal, self.ip, Proof::Socket(self.me.as_deref()))
                    .await
                    .err()?
            }
            Err(err) => AppError::BadRequest(format!("invalid signal message: {err}")),
        };
        let error = refused.body()["error"].as_str().unwrap_or_default().to_owned();
        Some(Frame::Error { request_id: None, status: refused.status().as_u16(), error })
    }

    /// Runs one command sent up the socket, through the same command service as HTTP.
    async fn command(&self, text: &str) -> Frame {
        let message: SocketCommand = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(err) => {
                // Still echo the request id if the envelope had one.
                let request_id = serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .and_then(|v| v.get("request_id").and_then(|id| id.as_str()).map(str::to_owned));
                return Frame::Error { request_id, status: 400, error: format!("invalid command message: {err}") };
            }
        };
        let request_id = message.request_id.clone();
        let envelope = Envelope { key: message.idempotency_key.as_deref(), actor: message.actor.as_deref() };
        let via = commands::Via { transport: "websocket", traceparent: message.traceparent.as_deref() };
        match commands::execute(&self.app, &self.grant, self.ip, &message.command, envelope, via).await {
            Ok(answer) => Frame::Ack { request_id, seq: answer.seq, id: answer.id, step: answer.step },
            Err(err) => {
                // The one log line an HTTP error gets from `log_errors`.
                err.report();
                let status = err.status().as_u16();
                let error = err.body()["error"].as_str().unwrap_or_default().to_owned();
                Frame::Error { request_id, status, error }
            }
        }
    }
}
