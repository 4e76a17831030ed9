//! SSE: an `EventSource`. Its own reconnect runs at a fixed pace, so on the first error the
//! link reports `Failed` and the engine reconnects with backoff and an explicit `since`.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{EventSource, MessageEvent};

use super::report_text;
use crate::sync::platform::{Link, LinkEvent, Report};

pub struct SseLink {
    source: EventSource,
    // The callbacks must live as long as the EventSource that calls them.
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
}

pub fn open(url: &str, report: Report) -> Option<SseLink> {
    let source = EventSource::new(url).ok()?;
    let on_message = {
        let report = report.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(text) = event.data().as_string() {
                report_text(&report, &text);
            }
        })
    };
    let on_error = {
        let report = report.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |_| report(LinkEvent::Failed))
    };
    let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| report(LinkEvent::Opened));
    source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    Some(SseLink { source, _on_message: on_message, _on_error: on_error, _on_open: on_open })
}

impl Link for SseLink {
    fn close(self: Box<Self>) {
        self.source.close();
    }
}
