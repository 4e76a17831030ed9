//! What a screen reader hears without looking: a polite live region that says when the
//! connection changes (for longer than `SETTLE_MS`) and, at most every `EVERY_MS`, how many
//! changes others made.
//!
//! Remote changes come in bursts (a colleague dragging cards, a sprint completing); one
//! announcement per change would talk over everything else, so they are counted and said
//! together once the burst has had `EVERY_MS` to gather.

use leptos::prelude::*;

use crate::sync::{BoardClient, Connection};

/// How long remote changes gather before one announcement says them all.
pub const EVERY_MS: u64 = 2_000;

/// How long a connection state must hold to be announced.
pub const SETTLE_MS: u64 = 1_000;

/// The words for a connection state (the first `live` of a page is not announced: the
/// page was just opened, nothing changed).
pub fn connection_words(connection: Connection) -> &'static str {
    match connection {
        Connection::Reconnecting { .. } => "Connection lost; reconnecting.",
        Connection::Live => "Connection live: changes arrive as they happen.",
        Connection::Offline => "Offline: your changes wait and are sent when the network returns.",
        Connection::Unreachable { .. } => "The server is not answering; still trying.",
        Connection::Withdrawn => "Access to this board was withdrawn.",
    }
}

/// The words for `n` changes others made.
pub fn changes_words(n: u64) -> String {
    match n {
        1 => "1 change by others.".into(),
        n => format!("{n} changes by others."),
    }
}

#[component]
pub fn Announcer(client: BoardClient, connection: Memo<Connection>) -> impl IntoView {
    let message = RwSignal::new(String::new());
    // Connection: a state that holds for `SETTLE_MS` and differs from the last one said.
    // The first `live` is only noted (the page just opened); a reconnect that is over
    // within the moment (a switch of pattern, a new name) says nothing.
    // States are compared by name: a countdown that moves is the same state.
    let said_conn: StoredValue<Option<&'static str>> = StoredValue::new(None);
    Effect::new(move |_| {
        let state = connection.get();
        let name = state.as_str();
        if said_conn.get_value().is_none() {
            if state == Connection::Live {
                said_conn.set_value(Some(name));
            }
            return;
        }
        let settle = move || {
            let now = connection.get_untracked();
            if now.as_str() == name && said_conn.get_value() != Some(name) {
                said_conn.set_value(Some(name));
                message.set(connection_words(now).into());
            }
        };
        set_timeout(settle, std::time::Duration::from_millis(SETTLE_MS));
    });
    // Remote changes: counted as they come, said together after `EVERY_MS`.
    let said = StoredValue::new(client.remote_changes.get_untracked());
    let waiting = StoredValue::new(false);
    Effect::new(move |_| {
        client.remote_changes.track();
        if waiting.get_value() {
            return;
        }
        waiting.set_value(true);
        let say = move || {
            waiting.set_value(false);
            let now = client.remote_changes.get_untracked();
            let n = now.saturating_sub(said.get_value());
            said.set_value(now);
            if n > 0 {
                message.set(changes_words(n));
            }
        };
        set_timeout(say, std::time::Duration::from_millis(EVERY_MS));
    });
    view! { <div class="sr-only" role="status" aria-live="polite" data-announce="">{message}</div> }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_counted_in_words() {
        assert_eq!(changes_words(1), "1 change by others.");
        assert_eq!(changes_words(12), "12 changes by others.");
        assert!(connection_words(Connection::Offline).starts_with("Offline"));
    }
}
