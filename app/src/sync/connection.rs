//! The one connection state a person is told: whether changes arrive now, and if not, why
//! and what happens next. Three things decide it, kept apart by the engine: the link's own
//! state ([`Conn`]), whether the browser says it is online, and the run of failures since
//! the last open connection ([`Trouble`]). The page shows the result in words, marks it
//! `data-connection`, and counts the commands waiting beside it.
//!
//! Pure: the same answer for the same inputs, so every case is a unit test.

/// The link's own state (what the engine's connection is doing; the page marks it
/// `data-conn`). What a person is told also weighs the network and the run of failures:
/// [`Connection`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conn {
    /// A connection is opening.
    Connecting,
    Live,
    /// No connection: it failed (another opens after a backoff delay) or the browser is
    /// offline (another opens when it is back).
    Offline,
    /// The key this page used no longer opens the board (its keys were rotated): the
    /// engine stops and the page says so.
    Revoked,
}

impl Conn {
    pub fn as_str(self) -> &'static str {
        match self {
            Conn::Connecting => "connecting",
            Conn::Live => "live",
            Conn::Offline => "offline",
            Conn::Revoked => "revoked",
        }
    }
}

/// After this long without a connection the server is called unreachable rather than a
/// reconnect being under way (a restart of one replica takes less; a server that is down
/// takes more).
pub const UNREACHABLE_AFTER_MS: i64 = 10_000;

/// Connections failed since the last one that opened: when the first failed, when the
/// next attempt is, how many failed in a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trouble {
    /// Unix ms of the first failure of this run.
    pub since: i64,
    /// Unix ms of the next attempt.
    pub retry_at: i64,
    pub failures: u32,
}

/// What the page tells a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    /// Changes arrive as they happen.
    Live,
    /// A connection is opening, or will again in `in_ms` (`None`: opening now).
    Reconnecting { in_ms: Option<i64> },
    /// The browser has no network: nothing is tried until it returns.
    Offline,
    /// Connections have failed for `UNREACHABLE_AFTER_MS` or more, since `since` (Unix ms);
    /// the next attempt is in `in_ms` (`None`: under way).
    Unreachable { since: i64, in_ms: Option<i64> },
    /// This page's key no longer opens the board: nothing will be tried again.
    Withdrawn,
}

impl Connection {
    /// Decides the state at `now` (Unix ms).
    pub fn of(conn: Conn, online: bool, trouble: Option<Trouble>, now: i64) -> Connection {
        match conn {
            Conn::Revoked => return Connection::Withdrawn,
            _ if !online => return Connection::Offline,
            Conn::Live => return Connection::Live,
            Conn::Connecting | Conn::Offline => {}
        }
        // Waiting for the next attempt, or (`Connecting`) making it now.
        let in_ms = match conn {
            Conn::Offline => trouble.map(|t| (t.retry_at - now).max(0)),
            _ => None,
        };
        match trouble {
            Some(t) if now - t.since >= UNREACHABLE_AFTER_MS => Connection::Unreachable { since: t.since, in_ms },
            _ => Connection::Reconnecting { in_ms },
        }
    }

    /// The name the page marks (`data-connection`).
    pub fn as_str(self) -> &'static str {
        match self {
            Connection::Live => "live",
            Connection::Reconnecting { .. } => "reconnecting",
            Connection::Offline => "offline",
            Connection::Unreachable { .. } => "unreachable",
            Connection::Withdrawn => "withdrawn",
        }
    }

    /// Can "try now" help (an attempt is waiting for its time)?
    pub fn can_retry(self) -> bool {
        matches!(self, Connection::Reconnecting { in_ms: Some(_) } | Connection::Unreachable { in_ms: Some(_), .. })
    }

    /// What the page says, with `waiting` commands not yet answered and `clock` the local
    /// time of day of a Unix ms time ("12:04").
    pub fn words(self, waiting: usize, clock: impl Fn(i64) -> String) -> String {
        let kept = match waiting {
            0 => String::new(),
            1 => "; 1 change waiting".into(),
            n => format!("; {n} changes waiting"),
        };
        let next = |in_ms: Option<i64>| match in_ms {
            // Rounded up: "in 0 s" would be a lie for the last 999 ms.
            Some(ms) => format!("trying again in {} s", (ms + 999) / 1000),
            None => "trying now".into(),
        };
        match self {
            Connection::Live if waiting > 0 => format!("live{kept}, being sent"),
            Connection::Live => "live".into(),
            Connection::Reconnecting { in_ms: None } => format!("connecting{kept}"),
            Connection::Reconnecting { in_ms } => format!("reconnecting: {}{kept}", next(in_ms)),
            Connection::Offline => match waiting {
                0 => "offline: what you change waits here and is sent when you are back".into(),
                1 => "offline: 1 change waiting".into(),
                n => format!("offline: {n} changes waiting"),
            },
            Connection::Unreachable { since, in_ms } => {
                format!("the server is not answering since {}: {}{kept}", clock(since), next(in_ms))
            }
            Connection::Withdrawn => "access withdrawn: ask the board's owner for a new link".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trouble(since: i64, retry_at: i64) -> Option<Trouble> {
        Some(Trouble { since, retry_at, failures: 1 })
    }

    #[test]
    fn withdrawn_and_offline_win_over_everything_else() {
        assert_eq!(Connection::of(Conn::Revoked, false, trouble(0, 5), 1), Connection::Withdrawn);
        assert_eq!(Connection::of(Conn::Live, false, None, 0), Connection::Offline, "an open stream under no network");
        assert_eq!(Connection::of(Conn::Offline, false, trouble(0, 5), 1), Connection::Offline);
    }

    #[test]
    fn a_failed_link_reconnects_then_the_server_is_unreachable() {
        assert_eq!(Connection::of(Conn::Live, true, None, 0), Connection::Live);
        assert_eq!(Connection::of(Conn::Connecting, true, None, 0), Connection::Reconnecting { in_ms: None });
        let waiting = Connection::of(Conn::Offline, true, trouble(1_000, 3_500), 1_200);
        assert_eq!(waiting, Connection::Reconnecting { in_ms: Some(2_300) });
        assert!(waiting.can_retry());
        let later = Connection::of(Conn::Offline, true, trouble(1_000, 20_000), 1_000 + UNREACHABLE_AFTER_MS);
        assert_eq!(later, Connection::Unreachable { since: 1_000, in_ms: Some(20_000 - 11_000) });
        let trying = Connection::of(Conn::Connecting, true, trouble(1_000, 11_000), 12_000);
        assert_eq!(trying, Connection::Unreachable { since: 1_000, in_ms: None });
        assert!(!trying.can_retry(), "an attempt is under way");
    }

    #[test]
    fn the_words_say_why_and_what_next() {
        let clock = |_| "12:04".to_owned();
        assert_eq!(
            Connection::Reconnecting { in_ms: Some(2_300) }.words(0, clock),
            "reconnecting: trying again in 3 s"
        );
        assert_eq!(Connection::Offline.words(3, clock), "offline: 3 changes waiting");
        assert_eq!(
            Connection::Unreachable { since: 0, in_ms: Some(8_000) }.words(1, clock),
            "the server is not answering since 12:04: trying again in 8 s; 1 change waiting"
        );
        assert_eq!(Connection::Live.words(2, clock), "live; 2 changes waiting, being sent");
        assert_eq!(Connection::Withdrawn.as_str(), "withdrawn");
    }
}
