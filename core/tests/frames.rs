//! What every pattern's data frame must carry, whatever the pattern: the seq it brings a
//! client to, the commit time and the Idempotency-Key of the command behind it (and its trace
//! id, when it was traced). This is the
//! test a new pattern meets first: a frame without its key compiles and even converges,
//! but the tab that sent the command cannot recognise its own change, and an optimistic
//! page shows it twice.

use board_core::domain::{demo, execute, Command};
use board_core::patterns::{ChangeRecord, DataHeader, PatternKind};

#[test]
fn every_patterns_frame_carries_the_changes_seq_time_and_key() {
    let before = demo::board();
    let done = execute(&before, &Command::AddTodo { title: "keyed".into(), sprint_id: None }).expect("a valid command");
    let change = ChangeRecord::new(&done, 1_700_000_000_123).keyed(Some("key-1"));
    for kind in PatternKind::ALL {
        let frame = kind.frame_for(&change, &done.state);
        assert_eq!(
            frame.header(),
            Some(DataHeader { seq: change.seq, at: change.at, key: Some("key-1"), trace: None }),
            "{kind}'s frame for a keyed change: {}",
            frame.to_json()
        );
        // And on the wire, where the client reads it.
        let wire: serde_json::Value = serde_json::from_str(&frame.to_json()).unwrap();
        assert_eq!(wire["seq"], change.seq, "{kind}");
        assert_eq!(wire["at"], change.at, "{kind}");
        assert_eq!(wire["key"], "key-1", "{kind}");
        // A change sent without a key: no key field at all.
        let unkeyed = kind.frame_for(&ChangeRecord { key: None, ..change.clone() }, &done.state);
        assert_eq!(unkeyed.key(), None, "{kind}");
        assert!(!unkeyed.to_json().contains("\"key\""), "{kind}: {}", unkeyed.to_json());
        assert!(!unkeyed.to_json().contains("\"trace\""), "an untraced change has no trace field: {kind}");
    }
}

/// A traced change's frames carry its trace id, in every pattern, beside its key.
#[test]
fn every_patterns_frame_of_a_traced_change_carries_its_trace_id() {
    let before = demo::board();
    let done =
        execute(&before, &Command::AddTodo { title: "traced".into(), sprint_id: None }).expect("a valid command");
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736".to_owned();
    let change = ChangeRecord { trace: Some(trace.clone()), ..ChangeRecord::new(&done, 1).keyed(Some("key-2")) };
    for kind in PatternKind::ALL {
        let frame = kind.frame_for(&change, &done.state);
        assert_eq!(frame.trace(), Some(trace.as_str()), "{kind}");
        assert_eq!(frame.key(), Some("key-2"), "{kind}: the key stays");
        let wire: serde_json::Value = serde_json::from_str(&frame.to_json()).unwrap();
        assert_eq!(wire["trace"], trace, "{kind}");
        let back: board_core::patterns::Frame = serde_json::from_str(&frame.to_json()).unwrap();
        assert_eq!(back, frame, "{kind}: read back as sent");
    }
}
