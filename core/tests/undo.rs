//! Undo and redo as the domain computes them (`domain::undo`): undoing several of your own
//! changes and redoing them leaves every todo you touched as it was, while other people's
//! commands on other todos land in between; an undo of a field somebody else changed since
//! is refused, never applied over their change.

use board_core::domain::undo::{Blocked, Field, Step, UndoStack};
use board_core::domain::{apply, decide::respace_due, execute, BoardState, Command, Event, Id, TodoStatus};
use proptest::prelude::*;

/// The server, as far as undo cares: commits a command (and the re-spacing a long key
/// asks for), and answers with the step it made, if it can be undone.
fn serve(state: &mut BoardState, command: &Command) -> Result<Option<Step>, board_core::domain::DomainError> {
    let done = execute(state, command)?;
    let step = Step::of(state, &done.state, &done.event);
    let mut respace = respace_due(&done.state, &done.event);
    *state = done.state;
    while let Some(sprint_id) = respace {
        let done = apply(state, Event::ColumnRespaced { sprint_id });
        respace = respace_due(&done.state, &done.event);
        *state = done.state;
    }
    Ok(step)
}

/// The board both people start from: two sprints (one active), and todos 4..=13 spread
/// over the backlog and the sprints. Todos 4..=8 are "mine" to change; the rest, and any
/// todo the other person adds, are theirs.
fn start() -> BoardState {
    let mut state = BoardState::empty("b", "Board");
    serve(&mut state, &Command::AddSprint { name: "One".into() }).unwrap();
    serve(&mut state, &Command::AddSprint { name: "Two".into() }).unwrap();
    serve(&mut state, &Command::StartSprint { id: 1 }).unwrap();
    for i in 0..10 {
        let sprint_id = [None, Some(1), Some(2)][i % 3];
        serve(&mut state, &Command::AddTodo { title: format!("todo {i}"), sprint_id }).unwrap();
    }
    state
}

const MINE: std::ops::RangeInclusive<Id> = 4..=8;

fn is_mine(id: Id, added_by_me: &[Id]) -> bool {
    MINE.contains(&id) || added_by_me.contains(&id)
}

/// A change one person asks for: `who` picks ids from their own todos.
#[derive(Clone, Debug)]
enum Intent {
    Add(Option<Id>),
    Rename(usize, String),
    Status(usize, TodoStatus),
    Move(usize, Option<Id>, u32),
    Delete(usize),
}

fn intent() -> impl Strategy<Value = Intent> {
    let column = prop_oneof![Just(None), Just(Some(1)), Just(Some(2))];
    let status = prop_oneof![Just(TodoStatus::Todo), Just(TodoStatus::Doing), Just(TodoStatus::Done)];
    prop_oneof![
        1 => column.clone().prop_map(Intent::Add),
        2 => (any::<usize>(), "[a-z]{1,6}").prop_map(|(i, t)| Intent::Rename(i, t)),
        2 => (any::<usize>(), status).prop_map(|(i, s)| Intent::Status(i, s)),
        3 => (any::<usize>(), column, 0..6u32).prop_map(|(i, c, p)| Intent::Move(i, c, p)),
        1 => any::<usize>().prop_map(Intent::Delete),
    ]
}

/// The command for an intent, on one of the todos `own` says are the person's.
fn command(state: &BoardState, intent: &Intent, own: impl Fn(Id) -> bool) -> Option<Command> {
    let ids: Vec<Id> = state.todos.iter().map(|t| t.id).filter(|id| own(*id)).collect();
    let pick = |i: usize| (!ids.is_empty()).then(|| ids[i % ids.len()]);
    Some(match intent {
        Intent::Add(sprint_id) => Command::AddTodo { title: "new".into(), sprint_id: *sprint_id },
        Intent::Rename(i, title) => Command::RenameTodo { id: pick(*i)?, title: title.clone(), expected_version: None },
        Intent::Status(i, status) => Command::SetTodoStatus { id: pick(*i)?, status: *status, expected_version: None },
        Intent::Move(i, sprint_id, position) => Command::MoveTodo {
            id: pick(*i)?,
            sprint_id: *sprint_id,
            position: Some(*position),
            expected_version: None,
        },
        Intent::Delete(i) => Command::DeleteTodo { id: pick(*i)?, expected_version: None },
    })
}

/// What a person sees of the todos in `ids`: each one's fields (or its absence), and the
/// order they stand in within each column.
/// Each todo's (title, status, column) or its absence, and each column's order.
type View = (Vec<Option<(String, TodoStatus, Option<Id>)>>, Vec<Vec<Id>>);

fn view(state: &BoardState, ids: &[Id]) -> View {
    let fields = ids.iter().map(|id| state.todo(*id).map(|t| (t.title.clone(), t.status, t.sprint_id))).collect();
    let orders = [None, Some(1), Some(2)]
        .into_iter()
        .map(|column| state.column(column).into_iter().map(|t| t.id).filter(|id| ids.contains(id)).collect())
        .collect();
    (fields, orders)
}

/// The other person's turn, if they have one: a command on their own todos. They add,
/// rename, re-status and delete, but do not reorder: when someone drags the todo yours sat
/// next to, "the same place" has no one meaning (the undo puts yours back beside it).
fn theirs(state: &mut BoardState, intent: Option<&Intent>, added_by_me: &[Id]) {
    let intent = intent.filter(|i| !matches!(i, Intent::Move(..)));
    if let Some(command) = intent.and_then(|i| command(state, i, |id| !is_mine(id, added_by_me))) {
        let _ = serve(state, &command);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Figma's rule, with somebody else working on their own todos at every step: undo my
    /// changes one by one, newest first, and my todos are as they were before them; redo
    /// them all and they are as they were after them.
    #[test]
    fn undo_all_then_redo_all_leaves_the_board_as_it_was(
        mine in proptest::collection::vec(intent(), 1..8),
        others in proptest::collection::vec(proptest::option::of(intent()), 30),
    ) {
        let mut state = start();
        let mut others = others.iter().map(Option::as_ref);
        let mut added_by_me = Vec::new();
        let mut touched: Vec<Id> = MINE.collect();

        let before_mine = state.clone();
        let mut stack = UndoStack::default();
        let mut made = 0;
        for intent in &mine {
            theirs(&mut state, others.next().flatten(), &added_by_me);
            let Some(command) = command(&state, intent, |id| is_mine(id, &added_by_me)) else { continue };
            if let Ok(Some(step)) = serve(&mut state, &command) {
                if step.before.is_none() {
                    added_by_me.push(step.todo_id());
                    touched.push(step.todo_id());
                }
                stack.made(step);
                made += 1;
            }
        }
        let after_mine = state.clone();

        for _ in 0..made {
            theirs(&mut state, others.next().flatten(), &added_by_me);
            let undo = stack.undo(&state).expect("a change to undo");
            prop_assert!(undo.is_ok(), "undo refused: {:?} ({:?})", undo, stack.peek());
            let done = serve(&mut state, &undo.unwrap());
            prop_assert!(matches!(done, Ok(Some(_))), "the undo did not commit: {:?}", done);
            stack.undone(done.unwrap().unwrap());
        }
        prop_assert!(stack.undo(&state).is_none());
        prop_assert_eq!(view(&state, &touched), view(&before_mine, &touched), "undo all");

        for _ in 0..made {
            theirs(&mut state, others.next().flatten(), &added_by_me);
            let redo = stack.redo(&state).expect("a change to redo");
            prop_assert!(redo.is_ok(), "redo refused: {:?} ({:?})", redo, stack.peek());
            let done = serve(&mut state, &redo.unwrap());
            prop_assert!(matches!(done, Ok(Some(_))), "the redo did not commit: {:?}", done);
            stack.redone(done.unwrap().unwrap());
        }
        prop_assert!(stack.redo(&state).is_none());
        prop_assert_eq!(view(&state, &touched), view(&after_mine, &touched), "redo all");
    }

    /// Every step's inverse, taken at once, gives back the board before it, field for
    /// field and place for place (ids, titles, statuses, columns, order).
    #[test]
    fn an_inverse_taken_at_once_restores_the_board(intent in intent(), seed in 0..10usize) {
        let mut state = start();
        // Move things around first, so the board is not in its tidy first order.
        for i in 0..seed {
            let _ = serve(&mut state, &Command::MoveTodo { id: 4 + i as Id, sprint_id: None, position: Some(1), expected_version: None });
        }
        let before = state.clone();
        let Some(command) = command(&state, &intent, |_| true) else { return Ok(()) };
        let Ok(Some(step)) = serve(&mut state, &command) else { return Ok(()) };
        let undo = step.inverse(&state, None).unwrap();
        serve(&mut state, &undo).unwrap();
        let all: Vec<Id> = before.todos.iter().chain(&state.todos).map(|t| t.id).collect();
        prop_assert_eq!(view(&state, &all), view(&before, &all));
    }
}

/// The todo as it is in `state`.
fn todo(state: &BoardState, id: Id) -> &board_core::domain::Todo {
    state.todo(id).unwrap()
}

#[test]
fn an_undo_of_a_field_someone_changed_since_is_refused_with_what_they_did() {
    let mut state = start();
    let mine = serve(&mut state, &Command::RenameTodo { id: 4, title: "mine".into(), expected_version: None })
        .unwrap()
        .unwrap();
    serve(&mut state, &Command::RenameTodo { id: 4, title: "theirs".into(), expected_version: None }).unwrap();
    match mine.inverse(&state, None) {
        Err(blocked @ Blocked::Changed { field: Field::Title, .. }) => {
            assert_eq!(blocked.describe(), "renamed it to “theirs”");
            // The change that blocked it is found in the todo's history by its event.
            assert!(Field::Title.changed_by(&Event::TodoRenamed { id: 4, title: "theirs".into() }));
            assert!(!Field::Title.changed_by(&Event::TodoStatusChanged { id: 4, status: TodoStatus::Done }));
        }
        other => panic!("expected a refusal naming the rename, got {other:?}"),
    }
    // Their change to another field does not block it: my rename comes back off.
    let mut state = start();
    let mine = serve(&mut state, &Command::RenameTodo { id: 4, title: "mine".into(), expected_version: None })
        .unwrap()
        .unwrap();
    serve(&mut state, &Command::SetTodoStatus { id: 4, status: TodoStatus::Done, expected_version: None }).unwrap();
    let undo = mine.inverse(&state, None).unwrap();
    serve(&mut state, &undo).unwrap();
    assert_eq!(todo(&state, 4).title, "todo 0");
    assert_eq!(todo(&state, 4).status, TodoStatus::Done);
}

#[test]
fn an_undo_of_a_todo_someone_deleted_is_refused() {
    let mut state = start();
    let mine = serve(&mut state, &Command::SetTodoStatus { id: 4, status: TodoStatus::Doing, expected_version: None })
        .unwrap()
        .unwrap();
    serve(&mut state, &Command::DeleteTodo { id: 4, expected_version: None }).unwrap();
    assert_eq!(mine.inverse(&state, None), Err(Blocked::Deleted { id: 4 }));
}

#[test]
fn a_delete_comes_back_with_its_id_fields_and_place() {
    let mut state = start();
    serve(&mut state, &Command::SetTodoStatus { id: 7, status: TodoStatus::Doing, expected_version: None }).unwrap();
    let before = state.clone();
    let step = serve(&mut state, &Command::DeleteTodo { id: 7, expected_version: None }).unwrap().unwrap();
    // Its column re-spaced meanwhile: every key changes, the order does not.
    serve(&mut state, &Command::AddTodo { title: "late".into(), sprint_id: None }).unwrap();
    state = apply(&state, Event::ColumnRespaced { sprint_id: None }).state;
    let undo = step.inverse(&state, None).unwrap();
    serve(&mut state, &undo).unwrap();
    let back = todo(&state, 7);
    assert_eq!((back.title.as_str(), back.status, back.sprint_id), ("todo 3", TodoStatus::Doing, None));
    let order = |s: &BoardState| s.column(None).into_iter().map(|t| t.id).filter(|id| *id != 16).collect::<Vec<_>>();
    assert_eq!(order(&state), order(&before));
    // The restored id may not be taken again, and ids never given out cannot be restored.
    let again =
        Command::RestoreTodo { id: 7, title: "x".into(), status: TodoStatus::Todo, sprint_id: None, position: None };
    assert!(execute(&state, &again).is_err());
    let future =
        Command::RestoreTodo { id: 999, title: "x".into(), status: TodoStatus::Todo, sprint_id: None, position: None };
    assert!(execute(&state, &future).is_err());
    let sprint =
        Command::RestoreTodo { id: 1, title: "x".into(), status: TodoStatus::Todo, sprint_id: None, position: None };
    assert!(execute(&state, &sprint).is_err(), "a sprint's id is not a todo's to restore");
}

#[test]
fn sprint_changes_and_respacing_are_not_undoable() {
    let mut state = start();
    assert_eq!(serve(&mut state, &Command::AddSprint { name: "Three".into() }).unwrap(), None);
    assert_eq!(serve(&mut state, &Command::CompleteSprint { id: 1 }).unwrap(), None);
    let before = state.clone();
    let respaced = apply(&before, Event::ColumnRespaced { sprint_id: None });
    assert_eq!(Step::of(&before, &respaced.state, &respaced.event), None);
}
