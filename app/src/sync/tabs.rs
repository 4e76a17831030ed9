//! A browser's tabs of one board, together (browser only): a `BroadcastChannel` named
//! after the board carries the changes to the outbox they share (`outbox::Shared`, as
//! JSON) from each tab to the others, and a Web Lock named after the board elects the one
//! tab that sends it. The browser frees a closed tab's lock, so the next tab waiting gets
//! it without any timeout of ours. The same locks ([`hold`], [`try_hold`]) count the
//! streams a browser holds (`link::shared`).
//!
//! Web Locks need a secure context (`https`, or `localhost`): elsewhere every tab sends
//! for itself, as before there was a leader, and the Idempotency-Keys still make each
//! command apply once. (web-sys has `LockManager` only behind its unstable-API flag,
//! hence the two-line binding below.)

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent};

use super::outbox::Shared;

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks`.
    type LockManager;
    /// `request(name, callback)`: calls `callback` once this page holds the lock, and
    /// keeps it until the promise the callback returns settles.
    #[wasm_bindgen(method)]
    fn request(this: &LockManager, name: &str, callback: &js_sys::Function) -> js_sys::Promise;
    /// `request(name, options, callback)`: with `{ifAvailable: true}`, calls `callback`
    /// at once, with the lock or with `null` when another tab holds it.
    #[wasm_bindgen(method, js_name = request)]
    fn request_with_options(
        this: &LockManager,
        name: &str,
        options: &js_sys::Object,
        callback: &js_sys::Function,
    ) -> js_sys::Promise;
}

/// The channel of one board's tabs: the object that posts must be the one that listens,
/// or a tab would hear its own changes.
pub struct Channel {
    channel: BroadcastChannel,
    /// The listener, while it is set.
    heard: RefCell<Option<OnMessage>>,
}

type OnMessage = Closure<dyn FnMut(MessageEvent)>;

impl Channel {
    pub fn open(board: &str) -> Option<Rc<Channel>> {
        let channel = BroadcastChannel::new(&format!("board-outbox:{board}")).ok()?;
        Some(Rc::new(Channel { channel, heard: RefCell::default() }))
    }

    /// Tells the other tabs.
    pub fn post(&self, change: &Shared) {
        let json = serde_json::to_string(change).expect("a shared change serialises");
        let _ = self.channel.post_message(&JsValue::from_str(&json));
    }

    /// Calls `heard` with what the other tabs tell, until the returned guard is dropped.
    pub fn listen(self: &Rc<Self>, heard: Rc<dyn Fn(Shared)>) -> Listening {
        let callback = OnMessage::new(move |event: MessageEvent| {
            // Another version of the page (mid-deployment) may say what this one cannot read.
            if let Some(change) = event.data().as_string().and_then(|json| serde_json::from_str(&json).ok()) {
                heard(change);
            }
        });
        self.channel.set_onmessage(Some(callback.as_ref().unchecked_ref()));
        *self.heard.borrow_mut() = Some(callback);
        Listening(self.clone())
    }
}

/// Stops listening (the engine stopped).
pub struct Listening(Rc<Channel>);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.channel.set_onmessage(None);
        self.0.heard.borrow_mut().take();
        self.0.channel.close();
    }
}

/// Asks for the board's leader lock; `elected` is called once this tab holds it (at once
/// when no Web Locks exist here). The lock is let go when the guard is dropped.
pub fn lead(board: &str, elected: Rc<dyn Fn()>) -> Box<dyn std::any::Any> {
    hold(&format!("board-outbox-leader:{board}"), elected)
}

/// Asks for the lock `name`, waiting behind the tabs that hold or want it; `granted` is
/// called once this tab holds it (at once when no Web Locks exist here). The lock is let
/// go when the guard is dropped.
pub fn hold(name: &str, granted: Rc<dyn Fn()>) -> Box<dyn std::any::Any> {
    let Some(locks) = lock_manager() else {
        granted();
        return Box::new(());
    };
    let held = Rc::new(Held::default());
    let on_grant = {
        let held = held.clone();
        Closure::once_into_js(move |_lock: JsValue| -> js_sys::Promise {
            // Pending until the guard lets it go: the browser keeps the lock meanwhile.
            let promise = js_sys::Promise::new(&mut |resolve, _| *held.release.borrow_mut() = Some(resolve));
            if held.dropped.get() {
                held.let_go();
            } else {
                granted();
            }
            promise
        })
    };
    let _ = locks.request(name, on_grant.unchecked_ref());
    Box::new(Holding(held))
}

/// Takes the lock `name` if no tab holds it now, without waiting: `None` when another
/// tab holds it, or when this browser has no Web Locks ([`can_lock`]). Held while the
/// returned guard lives.
pub async fn try_hold(name: &str) -> Option<Box<dyn std::any::Any>> {
    let locks = lock_manager()?;
    let held = Rc::new(Held::default());
    let (tell, told) = futures::channel::oneshot::channel::<bool>();
    let on_grant = {
        let held = held.clone();
        Closure::once_into_js(move |lock: JsValue| -> js_sys::Promise {
            // `ifAvailable`: the browser calls back at once, with `null` when it is taken.
            if lock.is_null() {
                let _ = tell.send(false);
                return js_sys::Promise::resolve(&JsValue::UNDEFINED);
            }
            let promise = js_sys::Promise::new(&mut |resolve, _| *held.release.borrow_mut() = Some(resolve));
            // Whoever asked is gone (its link closed meanwhile): no one would let it go.
            if tell.send(true).is_err() {
                held.let_go();
            }
            promise
        })
    };
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &JsValue::from_str("ifAvailable"), &JsValue::TRUE);
    let _ = locks.request_with_options(name, &options, on_grant.unchecked_ref());
    match told.await {
        Ok(true) => Some(Box::new(Holding(held))),
        _ => None,
    }
}

/// Does this browser have Web Locks here (a secure context: `https`, `localhost`,
/// `127.0.0.1`)? Without them tabs cannot agree on anything, and each acts alone.
pub fn can_lock() -> bool {
    lock_manager().is_some()
}

/// The lock's state, between the browser's callback and the guard.
#[derive(Default)]
struct Held {
    /// Resolving it lets the lock go.
    release: RefCell<Option<js_sys::Function>>,
    /// The guard is gone: a lock granted later is let go at once.
    dropped: Cell<bool>,
}

impl Held {
    fn let_go(&self) {
        if let Some(resolve) = self.release.borrow_mut().take() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    }
}

/// A lock this tab holds, until dropped.
struct Holding(Rc<Held>);

impl Drop for Holding {
    fn drop(&mut self) {
        self.0.dropped.set(true);
        self.0.let_go();
    }
}

fn lock_manager() -> Option<LockManager> {
    let navigator = web_sys::window()?.navigator();
    let locks = js_sys::Reflect::get(&navigator, &JsValue::from_str("locks")).ok()?;
    (!locks.is_undefined() && !locks.is_null()).then(|| locks.unchecked_into())
}
