//! The names of the wire protocol, side by side: the five patterns ([`PatternKind`], whose
//! behaviour lives in `patterns/`) and the four transports ([`Transport`]), each with the
//! default a URL gets when it names none and the one "unknown X; valid Xs" refusal.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The transport names of the contract (`transport=` on the page, the last segment of the
/// stream URLs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    Poll,
    LongPoll,
    Sse,
    Ws,
}

/// The pattern names of the contract (`pattern=` in every URL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PatternKind {
    PokePull,
    PushState,
    PushOps,
    PushEvents,
    EventDiff,
}

impl PatternKind {
    /// In order of difficulty, as the docs present them.
    pub const ALL: [PatternKind; 5] = [
        PatternKind::PokePull,
        PatternKind::PushState,
        PatternKind::PushOps,
        PatternKind::PushEvents,
        PatternKind::EventDiff,
    ];

    /// What `pattern=` means when absent: the richest frame (why and what).
    pub const DEFAULT: PatternKind = PatternKind::EventDiff;

    pub fn as_str(self) -> &'static str {
        match self {
            PatternKind::PokePull => "poke-pull",
            PatternKind::PushState => "push-state",
            PatternKind::PushOps => "push-ops",
            PatternKind::PushEvents => "push-events",
            PatternKind::EventDiff => "event-diff",
        }
    }

    /// Index into per-pattern tables (such as a change's encoded frames).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Reads an optional `pattern=` (absent: [`DEFAULT`](Self::DEFAULT)); the error names
    /// the valid ones.
    pub fn from_param(name: Option<&str>) -> Result<PatternKind, String> {
        name.map_or(Ok(Self::DEFAULT), str::parse)
    }

    /// The error text for a bad `pattern=`: it names the valid ones.
    pub fn unknown(name: &str) -> String {
        unknown("pattern", name, Self::ALL.map(PatternKind::as_str))
    }
}

impl fmt::Display for PatternKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PatternKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| Self::unknown(s))
    }
}

/// The refusal of a name that is not one of `valid`: it names them all.
pub fn unknown(what: &str, name: &str, valid: impl IntoIterator<Item = &'static str>) -> String {
    let valid: Vec<&str> = valid.into_iter().collect();
    format!("unknown {what} `{name}`; valid {what}s: {}", valid.join(", "))
}

impl Transport {
    pub const ALL: [Transport; 4] = [Transport::Poll, Transport::LongPoll, Transport::Sse, Transport::Ws];

    /// What `transport=` means on the page when absent.
    pub const DEFAULT: Transport = Transport::Sse;

    /// Reads an optional `transport=` (absent: [`DEFAULT`](Self::DEFAULT)).
    pub fn from_param(name: Option<&str>) -> Result<Transport, String> {
        name.map_or(Ok(Self::DEFAULT), str::parse)
    }

    /// The refusal of a transport name that does not exist.
    pub fn unknown(name: &str) -> String {
        unknown("transport", name, Self::ALL.map(Transport::as_str))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Poll => "poll",
            Transport::LongPoll => "long-poll",
            Transport::Sse => "sse",
            Transport::Ws => "ws",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Transport {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| Self::unknown(s))
    }
}
