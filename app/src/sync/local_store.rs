//! The browser's durable copy of its boards (browser only): IndexedDB, through the `idb`
//! crate (a thin futures layer over web-sys's bindings, nothing between us and the
//! browser's own API). One database for the site, two object stores:
//!
//! * `boards`: one record per board: the confirmed board as JSON, its seq, its epoch and
//!   when it was saved. A save never replaces a newer copy of the same epoch (two tabs
//!   save as they go; the one behind must not win).
//! * `outbox`: one record per pending command (its Idempotency-Key), indexed by board, so
//!   that a change is one small write however many commands wait, and any tab's write is
//!   every tab's next read.
//!
//! Values are JSON strings inside small objects: the same serde the wire uses, and their
//! length is what the docs' "size stored" counts.

use idb::{Database, DatabaseEvent, Factory, IndexParams, KeyPath, ObjectStoreParams, Query, TransactionMode};
use wasm_bindgen::{JsCast, JsValue};

use super::platform::Kept;
use board_core::domain::BoardState;
use board_core::optimistic::Pending;

const NAME: &str = "realtime-board";
const VERSION: u32 = 1;
const BOARDS: &str = "boards";
const OUTBOX: &str = "outbox";

/// Why the browser keeps nothing: words for the person.
pub type Failure = String;

pub struct LocalStore {
    db: Database,
}

impl LocalStore {
    /// Opens (or creates) the site's database. Fails where there is no IndexedDB (some
    /// private windows, a page that removed it) or the browser refuses it.
    pub async fn open() -> Result<LocalStore, Failure> {
        let factory = Factory::new().map_err(|_| "this browser has no IndexedDB".to_owned())?;
        let mut request = factory.open(NAME, Some(VERSION)).map_err(words)?;
        request.on_upgrade_needed(|event| {
            let Ok(db) = event.database() else { return };
            let mut boards = ObjectStoreParams::new();
            boards.key_path(Some(KeyPath::new_single("board")));
            let _ = db.create_object_store(BOARDS, boards);
            let mut outbox = ObjectStoreParams::new();
            outbox.key_path(Some(KeyPath::new_single("key")));
            if let Ok(store) = db.create_object_store(OUTBOX, outbox) {
                let _ = store.create_index("board", KeyPath::new_single("board"), Some(IndexParams::new()));
            }
        });
        let db = request.await.map_err(words)?;
        Ok(LocalStore { db })
    }

    /// The board's copy and its pending commands, oldest first.
    pub async fn load(&self, board: &str) -> Result<(Option<Kept>, Vec<Pending>), Failure> {
        let tx = self.db.transaction(&[BOARDS, OUTBOX], TransactionMode::ReadOnly).map_err(words)?;
        let kept = tx.object_store(BOARDS).map_err(words)?.get(Query::Key(board.into())).map_err(words)?.await;
        let kept = kept.map_err(words)?.and_then(|record| {
            let state = serde_json::from_str(&field(&record, "json")?.as_string()?).ok()?;
            let epoch = field(&record, "epoch").and_then(|e| e.as_string());
            Some(Kept { state, epoch, saved_at: field(&record, "saved_at")?.as_f64()? as i64 })
        });
        let index = tx.object_store(OUTBOX).map_err(words)?.index("board").map_err(words)?;
        let records = index.get_all(Some(Query::Key(board.into())), None).map_err(words)?.await.map_err(words)?;
        let mut pending: Vec<Pending> = records
            .iter()
            .filter_map(|record| serde_json::from_str(&field(record, "json")?.as_string()?).ok())
            .collect();
        pending.sort_by(|a, b| (a.made_at, &a.key).cmp(&(b.made_at, &b.key)));
        Ok((kept, pending))
    }

    /// Writes what changed in the board's outbox: these commands (new or changed), and
    /// these keys gone (settled, refused, taken back).
    pub async fn save_outbox(&self, board: &str, put: &[Pending], gone: &[String]) -> Result<(), Failure> {
        let tx = self.db.transaction(&[OUTBOX], TransactionMode::ReadWrite).map_err(words)?;
        let store = tx.object_store(OUTBOX).map_err(words)?;
        for pending in put {
            let json = serde_json::to_string(pending).expect("a pending command serialises");
            let record =
                object(&[("key", pending.key.as_str().into()), ("board", board.into()), ("json", json.into())]);
            store.put(&record, None).map_err(words)?.await.map_err(words)?;
        }
        for key in gone {
            store.delete(Query::Key(key.as_str().into())).map_err(words)?.await.map_err(words)?;
        }
        done(tx).await
    }

    /// Keeps `state` as the board's copy, unless the copy there is newer (a seq above it
    /// in the same epoch: another tab saved later). Returns the bytes written (0: none).
    pub async fn save_board(&self, state: &BoardState, epoch: Option<&str>, now: i64) -> Result<usize, Failure> {
        let board = state.board.id.as_str();
        let tx = self.db.transaction(&[BOARDS], TransactionMode::ReadWrite).map_err(words)?;
        let store = tx.object_store(BOARDS).map_err(words)?;
        // Read and write in one transaction: another tab's save cannot slip between them.
        let there = store.get(Query::Key(board.into())).map_err(words)?.await.map_err(words)?;
        let newer = there.is_some_and(|record| {
            let same_epoch = field(&record, "epoch").and_then(|e| e.as_string()).as_deref() == epoch;
            let seq = field(&record, "seq").and_then(|s| s.as_f64()).unwrap_or(0.0) as u64;
            same_epoch && seq > state.seq
        });
        if newer {
            return done(tx).await.map(|()| 0);
        }
        let json = serde_json::to_string(state).expect("a board serialises");
        let bytes = json.len();
        let record = object(&[
            ("board", board.into()),
            ("seq", (state.seq as f64).into()),
            ("epoch", epoch.map_or(JsValue::NULL, JsValue::from)),
            ("saved_at", (now as f64).into()),
            ("json", json.into()),
        ]);
        store.put(&record, None).map_err(words)?.await.map_err(words)?;
        done(tx).await.map(|()| bytes)
    }
}

/// Waits for a transaction to commit; an abort (a quota exceeded) is a failure.
async fn done(tx: idb::Transaction) -> Result<(), Failure> {
    match tx.await.map_err(words)? {
        idb::TransactionResult::Committed => Ok(()),
        idb::TransactionResult::Aborted => Err("the browser refused to store it (is its storage full?)".into()),
    }
}

fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let object = js_sys::Object::new();
    for (name, value) in fields {
        let _ = js_sys::Reflect::set(&object, &JsValue::from_str(name), value);
    }
    object.unchecked_into()
}

fn field(record: &JsValue, name: &str) -> Option<JsValue> {
    js_sys::Reflect::get(record, &JsValue::from_str(name)).ok().filter(|v| !v.is_undefined() && !v.is_null())
}

fn words(err: idb::Error) -> Failure {
    let text = err.to_string();
    if text.contains("Quota") {
        return "the browser's storage for this site is full".into();
    }
    format!("the browser's storage failed ({text})")
}
