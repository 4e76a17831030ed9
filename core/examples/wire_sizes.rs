//! Measures what each pattern puts on the wire for typical changes to the demo board.
//! `cargo run -p board-core --example wire_sizes` prints a table of frame sizes in bytes (the
//! JSON of one frame, before transport framing or compression).

use board_core::domain::{demo, execute, Command, TodoStatus};
use board_core::patterns::{ChangeRecord, PatternKind};

fn main() {
    let mut board = demo::board();
    let at = 1_764_000_000_000; // a fixed commit time, so the sizes are reproducible
    let changes: Vec<(&str, Command)> = vec![
        ("add a todo to the backlog", Command::AddTodo { title: "Write the release notes".into(), sprint_id: None }),
        ("rename a todo", Command::RenameTodo { id: 7, title: "Invite the whole team".into(), expected_version: None }),
        ("mark a todo done", Command::SetTodoStatus { id: 5, status: TodoStatus::Done, expected_version: None }),
        (
            "move a todo to the top of its column",
            Command::MoveTodo { id: 7, sprint_id: None, position: Some(0), expected_version: None },
        ),
        (
            "move a todo into a sprint",
            Command::MoveTodo { id: 6, sprint_id: Some(2), position: None, expected_version: None },
        ),
        ("complete the active sprint", Command::CompleteSprint { id: 1 }),
        ("delete a todo", Command::DeleteTodo { id: 3, expected_version: None }),
    ];
    println!(
        "demo board: {} todos, {} sprints, GET state = {} bytes",
        board.todos.len(),
        board.sprints.len(),
        serde_json::to_string(&board).unwrap().len()
    );
    println!();
    print!("| change |");
    for p in PatternKind::ALL {
        print!(" {p} |");
    }
    println!();
    println!("| --- |{}", " ---: |".repeat(PatternKind::ALL.len()));
    let mut totals = [0usize; 5];
    for (what, command) in &changes {
        let done = execute(&board, command).expect("each change applies");
        let record = ChangeRecord::new(&done, at);
        print!("| {what} |");
        for (i, pattern) in PatternKind::ALL.iter().enumerate() {
            let bytes = pattern.frame_for(&record, &done.state).to_json().len();
            totals[i] += bytes;
            print!(" {bytes} |");
        }
        println!();
        board = done.state;
    }
    print!("| **mean** |");
    for total in totals {
        print!(" **{}** |", total / changes.len());
    }
    println!();
}
