//! Property tests: for any sequence of commands, a client of every pattern that applies the
//! frames the server would send ends with exactly the server's board.

use board_core::domain::{apply, decide::respace_due, execute, BoardState, Command, Event, Id, Op, TodoStatus};
use board_core::patterns::{Applied, ChangeRecord, Frame, PatternKind};
use proptest::prelude::*;

/// A command with its ids picked from small ranges, so that many of them hit existing
/// todos and sprints (ids are seqs, so 1..=40 covers a 40-step run) and some do not.
fn command() -> impl Strategy<Value = Command> {
    let id = 1..=40i64;
    let status = prop_oneof![Just(TodoStatus::Todo), Just(TodoStatus::Doing), Just(TodoStatus::Done)];
    let title = prop_oneof![Just("".to_string()), "[a-z <>&\"]{1,12}"];
    prop_oneof![
        3 => (title.clone(), proptest::option::of(id.clone()))
            .prop_map(|(title, sprint_id)| Command::AddTodo { title, sprint_id }),
        1 => (id.clone(), title).prop_map(|(id, title)| Command::RenameTodo { id, title, expected_version: None }),
        2 => (id.clone(), status).prop_map(|(id, status)| Command::SetTodoStatus { id, status, expected_version: None }),
        2 => (id.clone(), proptest::option::of(id.clone()), proptest::option::of(0..6u32))
            .prop_map(|(id, sprint_id, position)| Command::MoveTodo { id, sprint_id, position, expected_version: None }),
        1 => id.clone().prop_map(|id| Command::DeleteTodo { id, expected_version: None }),
        // Restoring a deleted todo at a place; most ids are refused (they exist or never
        // did), the ones a delete freed come back.
        1 => (id.clone(), "[a-z]{1,8}", proptest::option::of(id.clone()), proptest::option::of(0..6u32))
            .prop_map(|(id, title, sprint_id, position)| Command::RestoreTodo {
                id,
                title,
                status: TodoStatus::Doing,
                sprint_id,
                position,
            }),
        1 => "[a-z]{1,8}".prop_map(|name| Command::AddSprint { name }),
        1 => id.clone().prop_map(|id| Command::StartSprint { id }),
        1 => id.prop_map(|id| Command::CompleteSprint { id }),
    ]
}

/// Runs the commands as the server would: refused ones change nothing and commit no seq;
/// a change that made a long position key is followed by the column's re-spacing, a change
/// of its own.
fn server_run(commands: &[Command]) -> (BoardState, Vec<(ChangeRecord, BoardState)>) {
    let mut state = BoardState::empty("b", "Board");
    let mut log = Vec::new();
    for command in commands {
        if let Ok(mut done) = execute(&state, command) {
            loop {
                let respace = respace_due(&done.state, &done.event);
                let record = ChangeRecord::new(&done, 0);
                state = done.state;
                log.push((record, state.clone()));
                match respace {
                    Some(sprint_id) => done = apply(&state, Event::ColumnRespaced { sprint_id }),
                    None => break,
                }
            }
        }
    }
    (state, log)
}

/// The order each column should have, kept the plain way (a list per column, moves
/// insert at the index asked for): what the sparse keys must reproduce.
#[derive(Default)]
struct Lists(std::collections::BTreeMap<Option<Id>, Vec<Id>>);

impl Lists {
    fn follow(&mut self, event: &Event, command: Option<&Command>, before: &BoardState) {
        match event {
            Event::TodoAdded { id, sprint_id, .. } => self.0.entry(*sprint_id).or_default().push(*id),
            Event::TodoMoved { id, sprint_id, .. } => {
                self.remove(*id);
                let column = self.0.entry(*sprint_id).or_default();
                let asked = match command {
                    Some(Command::MoveTodo { position, .. }) => *position,
                    _ => unreachable!("a move comes from move_todo"),
                };
                let at = asked.map_or(column.len(), |p| (p as usize).min(column.len()));
                column.insert(at, *id);
            }
            Event::TodoRestored { id, sprint_id, .. } => {
                let column = self.0.entry(*sprint_id).or_default();
                let asked = match command {
                    Some(Command::RestoreTodo { position, .. }) => *position,
                    _ => unreachable!("a restore comes from restore_todo"),
                };
                let at = asked.map_or(column.len(), |p| (p as usize).min(column.len()));
                column.insert(at, *id);
            }
            Event::TodoDeleted { id } => self.remove(*id),
            Event::SprintCompleted { id } => {
                let sprint = self.0.remove(&Some(*id)).unwrap_or_default();
                let (done, open): (Vec<Id>, Vec<Id>) =
                    sprint.into_iter().partition(|t| before.todo(*t).is_some_and(|t| t.status == TodoStatus::Done));
                self.0.entry(None).or_default().extend(open);
                self.0.insert(Some(*id), done);
            }
            _ => {}
        }
    }

    fn remove(&mut self, id: Id) {
        for column in self.0.values_mut() {
            column.retain(|t| *t != id);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn every_pattern_converges_to_the_server(commands in proptest::collection::vec(command(), 1..40)) {
        let (server, log) = server_run(&commands);
        for pattern in PatternKind::ALL {
            let mut client = BoardState::empty("b", "Board");
            for (record, after) in &log {
                let frame = pattern.frame_for(record, after);
                // Frames travel as JSON: apply what the client would decode.
                let frame: Frame = serde_json::from_str(&frame.to_json()).unwrap();
                prop_assert_eq!(frame.seq(), Some(client.seq + 1));
                match pattern.apply(&mut client, &frame).unwrap() {
                    Applied::Applied => {}
                    // A poke carries no data: the client pulls the server's state at that seq.
                    Applied::NeedsPull => client = after.clone(),
                }
                prop_assert_eq!(&client, after, "{} diverged at seq {}", pattern, record.seq);
            }
            prop_assert_eq!(&client, &server);
        }
    }

    #[test]
    fn seqs_are_contiguous(commands in proptest::collection::vec(command(), 1..40)) {
        let (_, log) = server_run(&commands);
        for (i, (record, _)) in log.iter().enumerate() {
            prop_assert_eq!(record.seq, i as u64 + 1);
        }
    }

    /// Sparse keys order every column exactly as inserting into a list at the asked index
    /// would, keys within a column are distinct, and a move changes one todo only.
    #[test]
    fn keys_order_columns_like_lists_and_moves_touch_one_todo(commands in proptest::collection::vec(command(), 1..60)) {
        let mut state = BoardState::empty("b", "Board");
        let mut lists = Lists::default();
        for command in &commands {
            let Ok(done) = execute(&state, command) else { continue };
            if let Event::TodoMoved { .. } = done.event {
                prop_assert_eq!(done.ops.len(), 1, "a move put {:?}", done.ops);
                let put = matches!(done.ops[0], Op::PutTodo { .. });
                prop_assert!(put, "a move is one put");
            }
            lists.follow(&done.event, Some(command), &state);
            state = done.state;
            for (column, expected) in &lists.0 {
                let actual: Vec<Id> = state.column(*column).iter().map(|t| t.id).collect();
                prop_assert_eq!(&actual, expected, "column {:?}", column);
                let keys: Vec<_> = state.column(*column).iter().map(|t| t.position.clone()).collect();
                prop_assert!(keys.windows(2).all(|w| w[0] < w[1]), "keys not strictly increasing: {:?}", keys);
            }
        }
    }
}

/// Dragging one todo back and forth between the same two neighbours halves the same gap
/// every time, which lengthens keys; the server's re-spacing keeps them short, rarely.
#[test]
fn keys_stay_short_under_many_moves_between_the_same_neighbours() {
    let mut commands = vec![Command::AddTodo { title: "a".into(), sprint_id: None }];
    commands.extend((0..3).map(|i| Command::AddTodo { title: format!("t{i}"), sprint_id: None }));
    // Todos 1..=4; move 3 and 4 alternately to index 1 (between 1 and whichever is next).
    for i in 0..2000 {
        let id = 3 + (i % 2);
        commands.push(Command::MoveTodo { id, sprint_id: None, position: Some(1), expected_version: None });
    }
    let (state, log) = server_run(&commands);
    let respaced = log.iter().filter(|(r, _)| matches!(r.event, Event::ColumnRespaced { .. })).count();
    let longest = log.iter().flat_map(|(_, s)| s.todos.iter().map(|t| t.position.as_str().len())).max().unwrap();
    println!("2000 moves between the same neighbours: {respaced} re-spacings, longest key {longest} characters");
    assert!(respaced > 0 && respaced <= 2000 / 20, "{respaced} re-spacings");
    assert!(longest <= board_core::domain::Position::LONGEST + 2, "a key of {longest} characters");
    // The last move (of todo 4, the 2000th) put it right after todo 1.
    let order: Vec<Id> = state.column(None).iter().map(|t| t.id).collect();
    assert_eq!(order, [1, 4, 3, 2]);
}

/// The recipe for a new command ends with a case in [`command`]'s strategy; forgetting it
/// leaves the command out of every property above, silently. The kinds a `Command` can be
/// are read from the type itself (serde names them all when refusing an unknown one), and
/// the strategy must produce each.
#[test]
fn the_strategy_makes_every_kind_of_command() {
    let refusal = serde_json::from_str::<Command>(r#"{"type":"no-such-command"}"#).unwrap_err().to_string();
    let listed = refusal.split("expected one of ").nth(1).expect("serde lists the variants");
    // `add_todo`, `rename_todo`, ... : the names are the quoted words.
    let kinds: std::collections::BTreeSet<String> = listed.split('`').skip(1).step_by(2).map(str::to_owned).collect();
    assert!(kinds.len() >= 8, "read the kinds from {refusal:?}: {kinds:?}");
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = command();
    let mut made = std::collections::BTreeSet::new();
    for _ in 0..2_000 {
        let command = proptest::strategy::ValueTree::current(&strategy.new_tree(&mut runner).unwrap());
        made.insert(serde_json::to_value(command).unwrap()["type"].as_str().unwrap().to_owned());
    }
    let missing: Vec<&String> = kinds.difference(&made).collect();
    assert!(missing.is_empty(), "the strategy never makes {missing:?}: add a case to `command()`");
}
