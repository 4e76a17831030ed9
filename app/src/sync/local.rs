//! This page's side of the browser's local copy (browser only): what it reads at start,
//! and what it writes as the engine goes ([`super::local_store`] does the IndexedDB).
//!
//! * The outbox is written as a difference: the commands new or changed since the last
//!   write, and the keys gone. Every tab of the board writes its own view, and the views
//!   agree (`outbox::Shared`), so writes from two tabs are the same records.
//! * The board is written at most once per [`BOARD_EVERY_MS`], the newest one then: a
//!   board of thousands of todos is too big to write on every change, and a copy a
//!   second old only means catching up one second more.
//! * Without storage (no IndexedDB, a quota exceeded, a write refused) everything stays
//!   in memory, and the page says so (`BoardClient::storage_failure`); nothing fails
//!   louder than that.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;

use super::local_store::LocalStore;
use super::platform::LocalCopy;
use board_core::domain::BoardState;
use board_core::optimistic::{Outbox, Pending};

/// The board is written at most this often.
pub const BOARD_EVERY_MS: u32 = 1000;

/// The local copy as this page keeps it.
pub struct Local {
    /// `None` until opened, and for good once storage failed.
    store: RefCell<Option<Rc<LocalStore>>>,
    /// Where the page says storage failed.
    failure: RwSignal<Option<String>>,
    /// The outbox as last written, by key: what the next write leaves out.
    written: RefCell<HashMap<String, Pending>>,
    /// The newest board not written yet, with its epoch.
    board_due: RefCell<Option<(Arc<BoardState>, Option<String>)>>,
    /// A write of the board is on its way (the next waits for it).
    writing_board: Cell<bool>,
}

impl Local {
    pub fn new(failure: RwSignal<Option<String>>) -> Rc<Local> {
        Rc::new(Local {
            store: RefCell::default(),
            failure,
            written: RefCell::default(),
            board_due: RefCell::default(),
            writing_board: Cell::new(false),
        })
    }

    /// Opens the storage and reads what earlier pages left of `board`.
    pub async fn load(&self, board: &str) -> LocalCopy {
        let store = match LocalStore::open().await {
            Ok(store) => Rc::new(store),
            Err(why) => {
                self.failed(why);
                return LocalCopy::default();
            }
        };
        match store.load(board).await {
            Ok((kept, pending)) => {
                *self.written.borrow_mut() = pending.iter().map(|p| (p.key.clone(), p.clone())).collect();
                *self.store.borrow_mut() = Some(store);
                let mut outbox = Outbox::default();
                for p in pending {
                    outbox.put(p);
                }
                LocalCopy { board: kept, outbox }
            }
            Err(why) => {
                self.failed(why);
                LocalCopy::default()
            }
        }
    }

    /// Writes what changed in the outbox since the last write.
    pub fn save_outbox(self: &Rc<Self>, board: &str, outbox: &Outbox) {
        let Some(store) = self.store.borrow().clone() else { return };
        let (put, gone) = {
            let mut written = self.written.borrow_mut();
            let put: Vec<Pending> = outbox.iter().filter(|p| written.get(&p.key) != Some(*p)).cloned().collect();
            let gone: Vec<String> = written.keys().filter(|key| outbox.get(key).is_none()).cloned().collect();
            for key in &gone {
                written.remove(key);
            }
            for p in &put {
                written.insert(p.key.clone(), p.clone());
            }
            (put, gone)
        };
        if put.is_empty() && gone.is_empty() {
            return;
        }
        let (me, board) = (self.clone(), board.to_owned());
        leptos::task::spawn_local(async move {
            if let Err(why) = store.save_outbox(&board, &put, &gone).await {
                me.failed(why);
            }
        });
    }

    /// Keeps `state` to write: now if no write is under way, else the newest after it.
    pub fn save_board(self: &Rc<Self>, state: &Arc<BoardState>, epoch: Option<&str>) {
        if self.store.borrow().is_none() {
            return;
        }
        *self.board_due.borrow_mut() = Some((state.clone(), epoch.map(str::to_owned)));
        if self.writing_board.replace(true) {
            return;
        }
        let me = self.clone();
        leptos::task::spawn_local(async move {
            loop {
                let Some((state, epoch)) = me.board_due.borrow_mut().take() else { break };
                let Some(store) = me.store.borrow().clone() else { break };
                if let Err(why) = store.save_board(&state, epoch.as_deref(), js_sys::Date::now() as i64).await {
                    me.failed(why);
                    break;
                }
                gloo_timers::future::TimeoutFuture::new(BOARD_EVERY_MS).await;
            }
            me.writing_board.set(false);
        });
    }

    /// Storage failed: memory from now on, and the page says why.
    fn failed(&self, why: String) {
        leptos::logging::warn!("local copy: {why}");
        self.store.borrow_mut().take();
        self.failure.set(Some(why));
    }
}
