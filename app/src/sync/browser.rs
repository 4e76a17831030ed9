//! The browser as the engine's [`Platform`]: links over `EventSource`, `WebSocket` and
//! `fetch`, timers, `Math.random`, the `online` and `offline` events. Compiled for `hydrate` only.

use std::any::Any;
use std::future::Future;
use std::rc::Rc;

use leptos::prelude::{Set, SetValue};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::client::BoardClient;
use super::http;
use super::link;
use super::local::Local;
use super::mesh::Mesh;
use super::platform::{Link, LocalCopy, Metered, NetworkChange, Opening, Outgoing, Platform, Report, Shared};
use super::tabs;
use board_core::api::{CommandAnswer, FramesPage, Position};
use board_core::domain::BoardState;
use board_core::optimistic::Outbox;
use board_core::patterns::{Frame, PatternKind};
use board_core::presence::Signal;

/// The browser, with this page's peer mesh once it runs (letters go to it).
pub struct Browser {
    mesh: Rc<std::cell::RefCell<Option<Rc<Mesh>>>>,
    /// Keep the outbox across reloads, and share it with the browser's other tabs of the
    /// board? The board page does; a compare page's panes (several engines for one board
    /// in one tab) do not, or they would overwrite each other's.
    keep_outbox: bool,
    /// The channel to the browser's other tabs of the board, once opened.
    tabs: std::cell::RefCell<Option<Rc<tabs::Channel>>>,
    /// The browser's durable copy of the board and the outbox (the board page only).
    local: Rc<Local>,
}

/// Starts `client`'s engine in this page, as a tab with its own identity on the presence
/// list; `cursors`: with a peer mesh for live cursors (the board page, not a compare pane).
/// Returns the mesh's handle, for the page's pointer.
pub fn start(client: BoardClient, cursors: bool) -> Rc<std::cell::RefCell<Option<Rc<Mesh>>>> {
    let (me, secret) = super::identity::load();
    leave_when_unloaded(client, me.client.clone(), secret.clone());
    client.claim.set_value(Some(secret));
    if let Some(seconds) = outbox_max_age() {
        client.max_age_ms.set_value(seconds.saturating_mul(1000));
    }
    client.me.set(Some(me));
    let mesh: Rc<std::cell::RefCell<Option<Rc<Mesh>>>> = Rc::default();
    if cursors {
        let slot = mesh.clone();
        leptos::task::spawn_local(async move {
            *slot.borrow_mut() = Some(Mesh::start(client).await);
        });
    }
    if cursors {
        // The board page: its shell is kept for opening it offline.
        super::shell::keep();
    }
    let local = Local::new(client.storage_failure);
    let browser = Browser { mesh: mesh.clone(), keep_outbox: cursors, tabs: Default::default(), local };
    // The fault lab stands between the engine and the browser: idle, it passes everything.
    let platform = super::lab::Faulty::new(browser, client.open_lab());
    leptos::task::spawn_local(super::engine::start(client, platform));
    mesh
}

/// How long a queued change may wait and go by itself, as the server's page says
/// (`<meta name="outbox-max-age">`, seconds).
fn outbox_max_age() -> Option<i64> {
    let document = web_sys::window()?.document()?;
    let meta = document.query_selector("meta[name=outbox-max-age]").ok()??;
    meta.get_attribute("content")?.parse().ok()
}

/// Says `POST /leave` as the page goes (closed, reloaded, navigated away), so the tab
/// leaves everyone's list at once rather than when its connection or lease runs out.
fn leave_when_unloaded(client: BoardClient, id: String, secret: String) {
    let board = client.board_id();
    let on_hide = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| http::leave(&board, &id, &secret));
    if let Some(window) = web_sys::window() {
        let _ = window.add_event_listener_with_callback("pagehide", on_hide.as_ref().unchecked_ref());
    }
    // For the page's whole life.
    on_hide.forget();
}

impl Platform for Browser {
    fn open(&self, opening: Opening, report: Report) -> Option<Box<dyn Link>> {
        link::open(opening, report)
    }

    async fn changes(&self, board: &str, from: &Position, pattern: PatternKind) -> Metered<FramesPage> {
        http::changes(board, from, pattern).await
    }

    async fn state(&self, board: &str, have: Option<&Position>) -> Metered<Option<BoardState>> {
        http::state(board, have).await
    }

    async fn snapshot_at(&self, board: &str, seq: u64, epoch: Option<&str>) -> Metered<BoardState> {
        http::snapshot_at(board, seq, epoch).await
    }

    async fn command(&self, board: &str, outgoing: &Outgoing) -> Metered<CommandAnswer> {
        http::command(board, outgoing).await
    }

    async fn signal(&self, board: &str, signal: &Signal) -> Metered<()> {
        http::signal(board, signal).await
    }

    async fn report_applied(&self, board: &str, trace: &str, report: &board_core::api::Applied) -> Metered<()> {
        http::report_applied(board, trace, report).await
    }

    fn letter(&self, frame: Frame) {
        let mesh = self.mesh.borrow().clone();
        if let Some(mesh) = mesh {
            mesh.letter(frame);
        }
    }

    async fn sleep(&self, ms: u32) {
        gloo_timers::future::TimeoutFuture::new(ms).await;
    }

    fn random(&self) -> f64 {
        js_sys::Math::random()
    }

    fn now_ms(&self) -> i64 {
        js_sys::Date::now() as i64
    }

    fn spawn(&self, task: impl Future<Output = ()> + 'static) {
        leptos::task::spawn_local(task);
    }

    fn save_outbox(&self, board: &str, outbox: &Outbox) {
        if self.keep_outbox {
            self.local.save_outbox(board, outbox);
        }
    }

    fn save_board(&self, _board: &str, state: &std::sync::Arc<BoardState>, epoch: Option<&str>) {
        if self.keep_outbox {
            self.local.save_board(state, epoch);
        }
    }

    async fn load_local(&self, board: &str) -> LocalCopy {
        match self.keep_outbox {
            true => self.local.load(board).await,
            false => LocalCopy::default(),
        }
    }

    fn online(&self) -> bool {
        web_sys::window().is_none_or(|window| window.navigator().on_line())
    }

    fn on_network(&self, change: NetworkChange) -> Box<dyn Any> {
        let listeners = [("online", true), ("offline", false)].map(|(name, online)| {
            let change = change.clone();
            let callback = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| change(online));
            if let Some(window) = web_sys::window() {
                let _ = window.add_event_listener_with_callback(name, callback.as_ref().unchecked_ref());
            }
            (name, callback)
        });
        Box::new(NetworkListeners(listeners))
    }

    fn on_visibility(&self, change: NetworkChange) -> Box<dyn Any> {
        let Some(document) = web_sys::window().and_then(|w| w.document()) else { return Box::new(()) };
        let seen = document.clone();
        let callback = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            change(seen.visibility_state() == web_sys::VisibilityState::Visible)
        });
        let _ = document.add_event_listener_with_callback("visibilitychange", callback.as_ref().unchecked_ref());
        Box::new(VisibilityListener(document, callback))
    }

    fn save_seen(&self, board: &str, seq: u64) {
        if let Some(storage) = self.keep_outbox.then(session_storage).flatten() {
            let _ = storage.set_item(&seen_key(board), &seq.to_string());
        }
    }

    fn load_seen(&self, board: &str) -> Option<u64> {
        let storage = self.keep_outbox.then(session_storage).flatten()?;
        storage.get_item(&seen_key(board)).ok().flatten()?.parse().ok()
    }

    fn share(&self, board: &str, change: &Shared) {
        if let Some(channel) = self.channel(board) {
            channel.post(change);
        }
    }

    fn on_shared(&self, board: &str, heard: Rc<dyn Fn(Shared)>) -> Box<dyn Any> {
        match self.channel(board) {
            Some(channel) => Box::new(channel.listen(heard)),
            None => Box::new(()),
        }
    }

    fn lead(&self, board: &str, elected: Rc<dyn Fn()>) -> Box<dyn Any> {
        match self.keep_outbox {
            true => tabs::lead(board, elected),
            false => {
                elected();
                Box::new(())
            }
        }
    }
}

impl Browser {
    /// The channel to the other tabs of `board` (the board page only; opened once).
    fn channel(&self, board: &str) -> Option<Rc<tabs::Channel>> {
        if !self.keep_outbox {
            return None;
        }
        let mut slot = self.tabs.borrow_mut();
        if slot.is_none() {
            *slot = tabs::Channel::open(board);
        }
        slot.clone()
    }
}

fn seen_key(board: &str) -> String {
    format!("board-seen:{board}")
}

/// Removes the `visibilitychange` listener when the engine stops.
struct VisibilityListener(web_sys::Document, Listener);

impl Drop for VisibilityListener {
    fn drop(&mut self) {
        let _ = self.0.remove_event_listener_with_callback("visibilitychange", self.1.as_ref().unchecked_ref());
    }
}

/// The tab's session storage: it survives a reload but not closing the tab (where this
/// tab's previous page had got to, for "you missed N changes").
fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

/// Removes the `online` and `offline` listeners when the engine stops.
struct NetworkListeners([(&'static str, Listener); 2]);

type Listener = Closure<dyn FnMut(web_sys::Event)>;

impl Drop for NetworkListeners {
    fn drop(&mut self) {
        if let Some(window) = web_sys::window() {
            for (name, callback) in &self.0 {
                let _ = window.remove_event_listener_with_callback(name, callback.as_ref().unchecked_ref());
            }
        }
    }
}
