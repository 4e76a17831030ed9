//! The rules: is this command allowed on this state, and what event does it cause?
//! This is the only place where the domain says no.

use super::command::Command;
use super::error::DomainError;
use super::event::Event;
use super::model::{BoardState, Id, Position, SprintStatus, Todo};
use super::{BoardLimits, MAX_NAME_CHARS, MAX_TITLE_CHARS};

/// [`decide_within`] the default [`BoardLimits`].
pub fn decide(state: &BoardState, command: &Command) -> Result<Event, DomainError> {
    decide_within(state, command, &BoardLimits::default())
}

/// Checks `command` against `state` and returns the event it causes.
///
/// New entities get the id `state.seq + 1`: the seq their command will commit at. The
/// store serialises commands per board, so that number is unique and never reused.
pub fn decide_within(state: &BoardState, command: &Command, limits: &BoardLimits) -> Result<Event, DomainError> {
    let next_id = state.seq as Id + 1;
    Ok(match command {
        Command::AddTodo { title, sprint_id } => {
            let title = valid_title(title)?;
            if state.todos.len() >= limits.max_todos {
                return Err(DomainError::rule(format!("a board holds at most {} todos", limits.max_todos)));
            }
            within_text(state, 0, title.len(), limits)?;
            if let Some(sprint_id) = sprint_id {
                open_sprint(state, *sprint_id)?;
            }
            Event::TodoAdded { id: next_id, title, sprint_id: *sprint_id, position: state.after_last(*sprint_id) }
        }
        Command::RenameTodo { id, title, expected_version } => {
            let todo = todo_at(state, *id, *expected_version)?;
            let title = valid_title(title)?;
            within_text(state, todo.title.len(), title.len(), limits)?;
            Event::TodoRenamed { id: *id, title }
        }
        Command::SetTodoStatus { id, status, expected_version } => {
            todo_at(state, *id, *expected_version)?;
            Event::TodoStatusChanged { id: *id, status: *status }
        }
        Command::MoveTodo { id, sprint_id, position, expected_version } => {
            todo_at(state, *id, *expected_version)?;
            let position = place(state, *id, *sprint_id, *position)?;
            Event::TodoMoved { id: *id, sprint_id: *sprint_id, position }
        }
        Command::DeleteTodo { id, expected_version } => {
            todo_at(state, *id, *expected_version)?;
            Event::TodoDeleted { id: *id }
        }
        Command::RestoreTodo { id, title, status, sprint_id, position } => {
            // Ids are seqs and never reused: only one the board gave out before (below the
            // next) and no longer holds can come back, so a restore never takes the id of
            // a todo or sprint that exists or is yet to be made.
            if *id < 1 || *id >= next_id || state.todo(*id).is_some() || state.sprint(*id).is_some() {
                return Err(DomainError::rule(format!("todo {id} cannot be restored: it exists or never did")));
            }
            let title = valid_title(title)?;
            if state.todos.len() >= limits.max_todos {
                return Err(DomainError::rule(format!("a board holds at most {} todos", limits.max_todos)));
            }
            within_text(state, 0, title.len(), limits)?;
            let position = place(state, *id, *sprint_id, *position)?;
            Event::TodoRestored { id: *id, title, status: *status, sprint_id: *sprint_id, position }
        }
        Command::AddSprint { name } => {
            let name = valid_name(name)?;
            if state.sprints.len() >= limits.max_sprints {
                return Err(DomainError::rule(format!("a board holds at most {} sprints", limits.max_sprints)));
            }
            within_text(state, 0, name.len(), limits)?;
            Event::SprintAdded { id: next_id, name }
        }
        Command::StartSprint { id } => {
            let sprint = state.sprint(*id).ok_or(DomainError::SprintNotFound(*id))?;
            match sprint.status {
                SprintStatus::Planned => Event::SprintStarted { id: *id },
                SprintStatus::Active => return Err(DomainError::rule(format!("sprint {id} is already active"))),
                SprintStatus::Completed => return Err(DomainError::rule(format!("sprint {id} is already completed"))),
            }
        }
        Command::CompleteSprint { id } => {
            let sprint = state.sprint(*id).ok_or(DomainError::SprintNotFound(*id))?;
            match sprint.status {
                SprintStatus::Active => Event::SprintCompleted { id: *id },
                SprintStatus::Planned => return Err(DomainError::rule(format!("sprint {id} has not been started"))),
                SprintStatus::Completed => return Err(DomainError::rule(format!("sprint {id} is already completed"))),
            }
        }
    })
}

/// The key for todo `id` at place `position` of column `sprint_id` (which must take
/// todos): between the two todos that will be its neighbours there, the todo itself
/// aside; absent or past the end appends.
fn place(state: &BoardState, id: Id, sprint_id: Option<Id>, position: Option<u32>) -> Result<Position, DomainError> {
    if let Some(sprint_id) = sprint_id {
        open_sprint(state, sprint_id)?;
    }
    let mut column: Vec<&Todo> = state.todos.iter().filter(|t| t.sprint_id == sprint_id && t.id != id).collect();
    let at = position.map_or(column.len(), |p| (p as usize).min(column.len()));
    let (before, after) = neighbours(&mut column, at);
    // Exactly between the two, or not at all: a key "somewhere after" would put the todo
    // elsewhere while the answer said it moved.
    Position::between(before.map(|t| &t.position), after.map(|t| &t.position)).ok_or(DomainError::NoRoom { sprint_id })
}

/// The column to re-space after `event` made `state` (see `domain::position`), if a key
/// it chose grew long, or the column it changed holds two todos with one key (a store
/// written before keys were kept strictly increasing): the server then commits
/// [`Event::ColumnRespaced`] as a change of its own.
pub fn respace_due(state: &BoardState, event: &Event) -> Option<Option<Id>> {
    match event {
        Event::TodoAdded { sprint_id, position, .. }
        | Event::TodoMoved { sprint_id, position, .. }
        | Event::TodoRestored { sprint_id, position, .. } => {
            (position.is_long() || shares_a_key(state, *sprint_id)).then_some(*sprint_id)
        }
        // Unfinished todos were appended to the backlog one after another.
        Event::SprintCompleted { .. } => {
            state.todos.iter().any(|t| t.sprint_id.is_none() && t.position.is_long()).then_some(None)
        }
        _ => None,
    }
}

/// Do two todos of the column hold the same key? One pass, no sort.
fn shares_a_key(state: &BoardState, sprint_id: Option<Id>) -> bool {
    let mut seen = std::collections::HashSet::new();
    !state.todos.iter().filter(|t| t.sprint_id == sprint_id).all(|t| seen.insert(&t.position))
}

/// The todos that will be just before and just after place `at` of a column (in display
/// order: position, then id). Found by selection, not by sorting the column: a move costs
/// one pass over the board whatever its size.
fn neighbours<'a>(column: &mut [&'a Todo], at: usize) -> (Option<&'a Todo>, Option<&'a Todo>) {
    let order = |a: &&Todo, b: &&Todo| (&a.position, a.id).cmp(&(&b.position, b.id));
    if at == 0 {
        return (None, column.iter().copied().min_by(order));
    }
    if at >= column.len() {
        return (column.iter().copied().max_by(order), None);
    }
    let (_, before, rest) = column.select_nth_unstable_by(at - 1, order);
    (Some(*before), rest.iter().copied().min_by(order))
}

/// The board's text (titles and names) once `removed` bytes give way to `added`: within
/// the board's storage quota, or refused.
fn within_text(state: &BoardState, removed: usize, added: usize, limits: &BoardLimits) -> Result<(), DomainError> {
    let text: usize = state.todos.iter().map(|t| t.title.len()).sum::<usize>()
        + state.sprints.iter().map(|s| s.name.len()).sum::<usize>()
        + state.board.name.len();
    if text - removed.min(text) + added > limits.max_text_bytes {
        return Err(DomainError::rule(format!(
            "a board holds at most {} KiB of text (titles and names); delete or shorten some first",
            limits.max_text_bytes / 1024
        )));
    }
    Ok(())
}

/// The todo, if it exists and (when the client said which) is still at the version it saw.
fn todo_at(state: &BoardState, id: Id, expected: Option<u64>) -> Result<&Todo, DomainError> {
    let todo = state.todo(id).ok_or(DomainError::TodoNotFound(id))?;
    match expected {
        Some(expected) if expected != todo.version => {
            Err(DomainError::VersionMismatch { expected, current: Box::new(todo.clone()) })
        }
        _ => Ok(todo),
    }
}

/// A sprint that can still take todos.
fn open_sprint(state: &BoardState, id: Id) -> Result<(), DomainError> {
    let sprint = state.sprint(id).ok_or(DomainError::SprintNotFound(id))?;
    if sprint.status == SprintStatus::Completed {
        return Err(DomainError::rule(format!("sprint {id} is completed and takes no todos")));
    }
    Ok(())
}

/// Titles are stored trimmed; an empty or overlong one, or one with control characters
/// (line breaks, escapes: a title is one line of text), or with invisible characters that
/// change how text around them reads (see [`hidden_character`]), is refused.
pub fn valid_title(title: &str) -> Result<String, DomainError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(DomainError::rule("title must not be empty"));
    }
    if title.chars().any(char::is_control) {
        return Err(DomainError::rule("title must not contain control characters"));
    }
    if let Some(c) = hidden_character(title) {
        return Err(DomainError::rule(format!(
            "title must not contain the invisible character U+{:04X} (a direction override or a zero-width character)",
            u32::from(c)
        )));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(DomainError::rule(format!("title must be at most {MAX_TITLE_CHARS} characters")));
    }
    Ok(title.to_owned())
}

/// Sprint and board names follow the same rule with their own limit.
pub fn valid_name(name: &str) -> Result<String, DomainError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(DomainError::rule("name must not be empty"));
    }
    if name.chars().any(char::is_control) {
        return Err(DomainError::rule("name must not contain control characters"));
    }
    if let Some(c) = hidden_character(name) {
        return Err(DomainError::rule(format!(
            "name must not contain the invisible character U+{:04X} (a direction override or a zero-width character)",
            u32::from(c)
        )));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(DomainError::rule(format!("name must be at most {MAX_NAME_CHARS} characters")));
    }
    Ok(name.to_owned())
}

/// The first character of `text` that is invisible and changes how the text around it
/// reads, if any: bidirectional overrides and isolates (U+202A to U+202E, U+2066 to U+2069,
/// and the marks U+200E, U+200F, U+061C: "Trojan Source" text that shows one order and
/// means another), and zero-width characters (U+200B, U+2060 to U+2064, U+FEFF, U+180E: two
/// titles that look alike but differ). The zero-width joiner and non-joiner (U+200D,
/// U+200C) are refused only where they join nothing: between two visible characters they
/// are how emoji sequences and Persian or Indic words are written.
pub fn hidden_character(text: &str) -> Option<char> {
    let chars: Vec<char> = text.chars().collect();
    let visible = |c: Option<&char>| {
        c.is_some_and(|c| !c.is_whitespace() && !is_invisible(*c) && *c != '\u{200D}' && *c != '\u{200C}')
    };
    chars.iter().enumerate().find_map(|(i, c)| match c {
        '\u{200C}' | '\u{200D}' => {
            let joins = i > 0 && visible(chars.get(i - 1)) && visible(chars.get(i + 1));
            (!joins).then_some(*c)
        }
        c if is_invisible(*c) => Some(*c),
        _ => None,
    })
}

fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{180E}' | '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
    )
}
