//! SSE: an `EventSource`. Its own reconnect runs at a fixed pace, so on the first error the
//! engine closes it and reconnects with backoff and an explicit `since` instead.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{EventSource, MessageEvent};

use crate::sync::client::BoardClient;
use crate::sync::engine;

pub struct SseLink {
    source: EventSource,
    // The callbacks must live as long as the EventSource that calls them.
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
}

pub fn open(client: BoardClient, generation: u64, url: &str) -> Option<SseLink> {
    let source = EventSource::new(url).ok()?;
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        if let Some(text) = event.data().as_string() {
            engine::deliver_text(client, generation, &text);
        }
    });
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| engine::failed(client, generation));
    let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| engine::opened(client, generation));
    source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    Some(SseLink { source, _on_message: on_message, _on_error: on_error, _on_open: on_open })
}

impl SseLink {
    pub fn close(self) {
        self.source.close();
    }
}
