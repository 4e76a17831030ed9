//! What every pattern's data frame must carry, whatever the pattern: the seq it brings a
//! client to, the commit time and the Idempotency-Key of the command behind it. This is the
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
            Some(DataHeader { seq: change.seq, at: change.at, key: Some("key-1") }),
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
    }
}
