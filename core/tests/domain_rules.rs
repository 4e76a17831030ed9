//! The rules of the board, one example each.

use board_core::domain::{
    execute, execute_within, BoardLimits, BoardState, Command, DomainError, Event, SprintStatus, TodoStatus,
};

fn run(state: &mut BoardState, command: Command) -> Result<Event, DomainError> {
    let done = execute(state, &command)?;
    *state = done.state;
    Ok(done.event)
}

fn board() -> BoardState {
    BoardState::empty("b", "Board")
}

#[test]
fn new_ids_are_the_seq_of_the_command_that_created_them() {
    let mut b = board();
    run(&mut b, Command::AddSprint { name: "S1".into() }).unwrap();
    let event = run(&mut b, Command::AddTodo { title: "a".into(), sprint_id: Some(1) }).unwrap();
    assert_eq!(event.created_id(), Some(2));
    assert_eq!(b.todo(2).unwrap().sprint_id, Some(1));
    assert_eq!(b.seq, 2);
}

#[test]
fn titles_are_trimmed_and_bounded() {
    let mut b = board();
    run(&mut b, Command::AddTodo { title: "  hello  ".into(), sprint_id: None }).unwrap();
    assert_eq!(b.todo(1).unwrap().title, "hello");
    let empty = run(&mut b, Command::AddTodo { title: "   ".into(), sprint_id: None });
    assert!(matches!(empty, Err(DomainError::Rule(_))));
    let long = run(&mut b, Command::AddTodo { title: "x".repeat(501), sprint_id: None });
    assert!(matches!(long, Err(DomainError::Rule(_))));
    run(&mut b, Command::AddTodo { title: "é".repeat(500), sprint_id: None }).unwrap();
    assert_eq!(b.seq, 2, "refused commands commit nothing");
}

#[test]
fn titles_and_names_refuse_control_characters() {
    let mut b = board();
    for bad in ["a\nb", "tab\there", "nul\u{0}", "esc\u{1b}[31m"] {
        let todo = run(&mut b, Command::AddTodo { title: bad.into(), sprint_id: None });
        assert!(matches!(todo, Err(DomainError::Rule(_))), "{bad:?}");
        let sprint = run(&mut b, Command::AddSprint { name: bad.into() });
        assert!(matches!(sprint, Err(DomainError::Rule(_))), "{bad:?}");
    }
    // Trailing line breaks are trimmed away, not refused.
    run(&mut b, Command::AddTodo { title: "fine\n".into(), sprint_id: None }).unwrap();
    assert_eq!(b.todo(1).unwrap().title, "fine");
}

/// A board's storage quota: the text it holds (titles and names) is bounded, and a command
/// that would pass it is refused (422) whatever it is: an add, a longer rename, a sprint.
/// A rename that makes a title shorter, or a delete, is always allowed.
#[test]
fn a_board_holds_a_bounded_amount_of_text() {
    let limits = BoardLimits { max_text_bytes: 1000, ..BoardLimits::default() };
    let mut b = board();
    let add = |b: &mut BoardState, command: Command| -> Result<Event, DomainError> {
        let done = execute_within(b, &command, &limits)?;
        *b = done.state;
        Ok(done.event)
    };
    for _ in 0..4 {
        add(&mut b, Command::AddTodo { title: "x".repeat(200), sprint_id: None }).unwrap();
    }
    // 5 (the board's name) + 800: 200 more would pass 1,000.
    let refused = add(&mut b, Command::AddTodo { title: "y".repeat(200), sprint_id: None });
    assert!(matches!(&refused, Err(DomainError::Rule(words)) if words.contains("text")), "{refused:?}");
    assert!(add(&mut b, Command::AddSprint { name: "z".repeat(196) }).is_err());
    assert!(add(&mut b, Command::RenameTodo { id: 1, title: "x".repeat(396), expected_version: None }).is_err());
    // Shorter, or gone: allowed, and room comes back.
    add(&mut b, Command::RenameTodo { id: 1, title: "short".into(), expected_version: None }).unwrap();
    add(&mut b, Command::AddTodo { title: "y".repeat(190), sprint_id: None }).unwrap();
    add(&mut b, Command::DeleteTodo { id: 2, expected_version: None }).unwrap();
    add(&mut b, Command::AddSprint { name: "room again".into() }).unwrap();
}

/// Invisible characters that change how text reads are refused: direction overrides
/// ("Trojan Source": `\u{202E}` shows `txt.exe` as `exe.txt`), isolates and marks, and
/// zero-width characters that join nothing (two titles that look alike but differ). The
/// joiners that emoji and some scripts need, between two visible characters, stay.
#[test]
fn titles_and_names_refuse_invisible_characters_that_change_how_text_reads() {
    let mut b = board();
    let refused = [
        "pay \u{202E}txt.exe",
        "a\u{200B}b",
        "\u{2066}isolated\u{2069}",
        "marked\u{200F}",
        "bom\u{FEFF}",
        "join\u{200D}",
        "\u{200C}x",
    ];
    for bad in refused {
        let todo = run(&mut b, Command::AddTodo { title: bad.into(), sprint_id: None });
        assert!(matches!(&todo, Err(DomainError::Rule(words)) if words.contains("invisible")), "{bad:?}: {todo:?}");
        let sprint = run(&mut b, Command::AddSprint { name: bad.into() });
        assert!(matches!(sprint, Err(DomainError::Rule(_))), "{bad:?}");
    }
    assert_eq!(b.seq, 0, "nothing was added");
    // An emoji sequence (woman + ZWJ + laptop) and a Persian word with a non-joiner.
    for fine in
        ["\u{1F469}\u{200D}\u{1F4BB} ship it", "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}"]
    {
        run(&mut b, Command::AddTodo { title: fine.into(), sprint_id: None }).unwrap();
    }
}

#[test]
fn a_board_holds_a_bounded_number_of_todos_and_sprints() {
    let limits = BoardLimits { max_todos: 2, max_sprints: 1, ..BoardLimits::default() };
    let mut b = board();
    for command in [
        Command::AddTodo { title: "a".into(), sprint_id: None },
        Command::AddTodo { title: "b".into(), sprint_id: None },
        Command::AddSprint { name: "S".into() },
    ] {
        b = execute_within(&b, &command, &limits).unwrap().state;
    }
    let todo = execute_within(&b, &Command::AddTodo { title: "c".into(), sprint_id: None }, &limits);
    assert_eq!(todo.unwrap_err(), DomainError::Rule("a board holds at most 2 todos".into()));
    let sprint = execute_within(&b, &Command::AddSprint { name: "T".into() }, &limits);
    assert!(matches!(sprint, Err(DomainError::Rule(_))));
    assert_eq!(
        BoardLimits::default(),
        BoardLimits { max_todos: 5000, max_sprints: 200, max_text_bytes: 4 * 1024 * 1024 }
    );
}

#[test]
fn completing_a_sprint_returns_unfinished_todos_to_the_end_of_the_backlog() {
    let mut b = board();
    run(&mut b, Command::AddTodo { title: "old backlog item".into(), sprint_id: None }).unwrap(); // 1
    run(&mut b, Command::AddSprint { name: "S".into() }).unwrap(); // 2
    for title in ["done one", "open one", "doing one"] {
        run(&mut b, Command::AddTodo { title: title.into(), sprint_id: Some(2) }).unwrap();
        // 3, 4, 5
    }
    run(&mut b, Command::SetTodoStatus { id: 3, status: TodoStatus::Done, expected_version: None }).unwrap();
    run(&mut b, Command::SetTodoStatus { id: 5, status: TodoStatus::Doing, expected_version: None }).unwrap();
    assert!(matches!(run(&mut b, Command::CompleteSprint { id: 2 }), Err(DomainError::Rule(_))), "not started");
    run(&mut b, Command::StartSprint { id: 2 }).unwrap();
    run(&mut b, Command::CompleteSprint { id: 2 }).unwrap();
    assert_eq!(b.sprint(2).unwrap().status, SprintStatus::Completed);
    let backlog: Vec<i64> = b.column(None).iter().map(|t| t.id).collect();
    assert_eq!(backlog, vec![1, 4, 5]);
    assert_eq!(b.column(Some(2)).iter().map(|t| t.id).collect::<Vec<_>>(), vec![3]);
    let twice = run(&mut b, Command::CompleteSprint { id: 2 });
    assert_eq!(twice, Err(DomainError::Rule("sprint 2 is already completed".into())));
    let into_closed = run(&mut b, Command::AddTodo { title: "late".into(), sprint_id: Some(2) });
    assert!(matches!(into_closed, Err(DomainError::Rule(_))));
}

#[test]
fn a_stale_expected_version_is_refused_with_the_current_todo() {
    let mut b = board();
    run(&mut b, Command::AddTodo { title: "a".into(), sprint_id: None }).unwrap();
    run(&mut b, Command::RenameTodo { id: 1, title: "b".into(), expected_version: Some(1) }).unwrap();
    let stale = run(&mut b, Command::RenameTodo { id: 1, title: "c".into(), expected_version: Some(1) });
    match stale {
        Err(DomainError::VersionMismatch { expected: 1, current }) => {
            assert_eq!(current.title, "b");
            assert_eq!(current.version, 2);
        }
        other => panic!("expected a version mismatch, got {other:?}"),
    }
}

#[test]
fn moving_places_the_todo_between_its_new_neighbours_and_changes_nothing_else() {
    let mut b = board();
    for t in ["a", "b", "c"] {
        run(&mut b, Command::AddTodo { title: t.into(), sprint_id: None }).unwrap();
    }
    run(&mut b, Command::MoveTodo { id: 3, sprint_id: None, position: Some(0), expected_version: None }).unwrap();
    let order: Vec<&str> = b.column(None).iter().map(|t| t.title.as_str()).collect();
    assert_eq!(order, ["c", "a", "b"]);
    run(&mut b, Command::AddSprint { name: "S".into() }).unwrap(); // 5
    run(&mut b, Command::MoveTodo { id: 1, sprint_id: Some(5), position: Some(99), expected_version: None }).unwrap();
    assert_eq!(b.column(None).iter().map(|t| t.title.as_str()).collect::<Vec<_>>(), ["c", "b"]);
    assert_eq!(b.column(Some(5)).iter().map(|t| t.id).collect::<Vec<_>>(), [1]);
    assert_eq!(b.todo(2).unwrap().version, 1, "a neighbour's move keeps my version");
    let middle = board_core::domain::execute(
        &b,
        &Command::MoveTodo { id: 3, sprint_id: None, position: Some(1), expected_version: None },
    )
    .unwrap();
    assert_eq!(middle.ops.len(), 1, "only the mover changes: {:?}", middle.ops);
    assert_eq!(middle.state.column(None).iter().map(|t| t.title.as_str()).collect::<Vec<_>>(), ["b", "c"]);
    let missing = run(&mut b, Command::MoveTodo { id: 1, sprint_id: Some(77), position: None, expected_version: None });
    assert_eq!(missing, Err(DomainError::SprintNotFound(77)));
}

#[test]
fn commands_parse_from_the_contract_json() {
    let cmd: Command = serde_json::from_str(r#"{"type":"move_todo","id":3,"sprint_id":null}"#).unwrap();
    assert_eq!(cmd, Command::MoveTodo { id: 3, sprint_id: None, position: None, expected_version: None });
    let cmd: Command = serde_json::from_str(r#"{"type":"add_todo","title":"x"}"#).unwrap();
    assert_eq!(cmd, Command::AddTodo { title: "x".into(), sprint_id: None });
    assert!(serde_json::from_str::<Command>(r#"{"type":"launch_rocket"}"#).is_err());
}
