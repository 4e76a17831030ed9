//! The board as every client sees it: the JSON shape of `GET /api/boards/{board}`.
//!
//! Sprints and todos are kept sorted by id. That canonical order is what lets two states be
//! compared with `==` (and fingerprinted) whatever path built them; display order is a view
//! concern (`position` within a column, then id).

use serde::{Deserialize, Serialize};

pub use super::position::Position;

/// Ids of todos and sprints. The server gives a new entity the seq of the command that
/// created it, so ids are unique within a board, never reused, and need no counter.
pub type Id = i64;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BoardState {
    /// The seq of the last change applied: 0 for a board with no changes.
    pub seq: u64,
    pub board: Board,
    pub sprints: Vec<Sprint>,
    pub todos: Vec<Todo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Board {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sprint {
    pub id: Id,
    pub name: String,
    pub status: SprintStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SprintStatus {
    Planned,
    Active,
    Completed,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Todo {
    pub id: Id,
    pub title: String,
    pub status: TodoStatus,
    /// `None` while the todo sits in the backlog.
    pub sprint_id: Option<Id>,
    /// Orders the todos of its column (the backlog or one sprint): a sparse key, so a
    /// move changes only the todo that moved (see [`Position`]).
    pub position: Position,
    /// Bumped on every change to this todo, for optimistic concurrency (`expected_version`).
    pub version: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TodoStatus {
    Todo,
    Doing,
    Done,
}

impl TodoStatus {
    pub const ALL: [TodoStatus; 3] = [TodoStatus::Todo, TodoStatus::Doing, TodoStatus::Done];

    pub fn as_str(self) -> &'static str {
        match self {
            TodoStatus::Todo => "todo",
            TodoStatus::Doing => "doing",
            TodoStatus::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl SprintStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SprintStatus::Planned => "planned",
            SprintStatus::Active => "active",
            SprintStatus::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [SprintStatus::Planned, SprintStatus::Active, SprintStatus::Completed].into_iter().find(|st| st.as_str() == s)
    }
}

impl BoardState {
    /// A new board with no changes: seq 0.
    pub fn empty(id: impl Into<String>, name: impl Into<String>) -> Self {
        BoardState { seq: 0, board: Board { id: id.into(), name: name.into() }, sprints: Vec::new(), todos: Vec::new() }
    }

    pub fn todo(&self, id: Id) -> Option<&Todo> {
        self.todos.binary_search_by_key(&id, |t| t.id).ok().map(|i| &self.todos[i])
    }

    pub fn sprint(&self, id: Id) -> Option<&Sprint> {
        self.sprints.binary_search_by_key(&id, |s| s.id).ok().map(|i| &self.sprints[i])
    }

    /// Inserts or replaces a todo, keeping the id order.
    pub fn put_todo(&mut self, todo: Todo) {
        match self.todos.binary_search_by_key(&todo.id, |t| t.id) {
            Ok(i) => self.todos[i] = todo,
            Err(i) => self.todos.insert(i, todo),
        }
    }

    pub fn remove_todo(&mut self, id: Id) -> Option<Todo> {
        let i = self.todos.binary_search_by_key(&id, |t| t.id).ok()?;
        Some(self.todos.remove(i))
    }

    /// Inserts or replaces a sprint, keeping the id order.
    pub fn put_sprint(&mut self, sprint: Sprint) {
        match self.sprints.binary_search_by_key(&sprint.id, |s| s.id) {
            Ok(i) => self.sprints[i] = sprint,
            Err(i) => self.sprints.insert(i, sprint),
        }
    }

    pub fn remove_sprint(&mut self, id: Id) -> Option<Sprint> {
        let i = self.sprints.binary_search_by_key(&id, |s| s.id).ok()?;
        Some(self.sprints.remove(i))
    }

    /// The key after the last todo of a column: where an appended todo goes.
    pub fn after_last(&self, sprint_id: Option<Id>) -> Position {
        let last = self.todos.iter().filter(|t| t.sprint_id == sprint_id).map(|t| &t.position).max();
        last.map_or_else(Position::first, Position::after)
    }

    /// The todos of one column (`None` = backlog) in display order.
    pub fn column(&self, sprint_id: Option<Id>) -> Vec<&Todo> {
        let mut col: Vec<&Todo> = self.todos.iter().filter(|t| t.sprint_id == sprint_id).collect();
        col.sort_by(|a, b| (&a.position, a.id).cmp(&(&b.position, b.id)));
        col
    }

    /// A short, stable fingerprint of the whole state (FNV-1a over every field), so two
    /// clients can tell at a glance whether they show the same board. Computed by walking
    /// the fields, not by serialising: on a board of 4,000 long titles the JSON is
    /// megabytes, and the compare page asks for every pane's fingerprint on every change.
    /// The same on the server and in the browser (lengths are hashed as 64-bit numbers).
    pub fn fingerprint(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut hasher = Fnv(0xcbf2_9ce4_8422_2325);
        self.hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }
}

/// FNV-1a, 64 bits: tiny, fast on short keys, and the same on every platform here (a
/// `usize` is hashed as a `u64`, so 32-bit wasm and 64-bit servers agree).
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.write(&(n as u64).to_le_bytes());
    }

    fn write_isize(&mut self, n: isize) {
        self.write(&(n as i64).to_le_bytes());
    }
}
