//! WebSocket: frames arrive as text messages; commands go up the same socket.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use super::report_text;
use crate::sync::platform::{Link, LinkEvent, Outgoing, Report};
use board_core::api::{SocketCommand, SocketSignal};
use board_core::presence::Signal;

/// The server's close code for a socket whose key was revoked.
const CLOSE_REVOKED: u16 = 4403;

pub struct WsLink {
    socket: WebSocket,
    /// What goes up the socket is reported too (`LinkEvent::Sent`), for the inspector.
    report: Report,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
}

pub fn open(path: &str, report: Report) -> Option<WsLink> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" { "wss" } else { "ws" };
    let url = format!("{scheme}://{}{path}", location.host().ok()?);
    let socket = WebSocket::new(&url).ok()?;
    let on_message = {
        let report = report.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(text) = event.data().as_string() {
                report_text(&report, &text);
            }
        })
    };
    // `close` follows every `error`, so one handler covers both. 4403: the key was revoked.
    // Any other code (4000: the operator's console ended the stream) is a dropped link,
    // and the engine reconnects.
    let on_close = {
        let report = report.clone();
        Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
            report(if event.code() == CLOSE_REVOKED { LinkEvent::Revoked } else { LinkEvent::Failed })
        })
    };
    let on_open = {
        let report = report.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |_| report(LinkEvent::Opened))
    };
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    Some(WsLink { socket, report, _on_message: on_message, _on_close: on_close, _on_open: on_open })
}

impl Link for WsLink {
    fn close(self: Box<Self>) {
        self.socket.set_onclose(None);
        let _ = self.socket.close();
    }

    fn send_signal(&self, signal: &Signal) -> bool {
        if self.socket.ready_state() != WebSocket::OPEN {
            return false;
        }
        let text = serde_json::to_string(&SocketSignal { signal: signal.clone() }).expect("signals serialise");
        self.send(&text, true)
    }

    fn carries_commands(&self) -> bool {
        self.socket.ready_state() == WebSocket::OPEN
    }

    fn send_command(&self, request_id: &str, outgoing: &Outgoing) -> bool {
        if !self.carries_commands() {
            return false;
        }
        let message = SocketCommand {
            request_id: Some(request_id.to_owned()),
            idempotency_key: Some(outgoing.key.clone()),
            actor: outgoing.actor.clone(),
            traceparent: outgoing.traceparent.clone(),
            command: outgoing.command.clone(),
        };
        let text = serde_json::to_string(&message).expect("commands serialise");
        self.send(&text, false)
    }
}

impl WsLink {
    fn send(&self, text: &str, ephemeral: bool) -> bool {
        let sent = self.socket.send_with_str(text).is_ok();
        if sent {
            (self.report)(LinkEvent::Sent { bytes: text.len(), ephemeral });
        }
        sent
    }
}
