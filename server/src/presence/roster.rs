//! The presence list of one board, built from tabs: one [`Member`] per person, with the
//! tabs each has open, and a `rev` that names the list's content. Pure: the same tabs give
//! the same list and the same rev on every replica, so a client that moves between
//! replicas (or missed an update) compares revs and is never told what it already has.
//!
//! Bounded: it names at most [`MAX_LISTED`] people, those on the board longest first (by
//! their first tab's `joined`), and counts the others (`more`). Every list goes to every
//! tab, so a crowd (or a flood of made-up tabs) would otherwise make each list megabytes;
//! and people who came first cannot be pushed off it by those who come after.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use board_core::patterns::{Frame, PatternKind};
use board_core::presence::{Identity, Member, Via, MAX_LISTED};
use board_core::protocol::Transport;

/// One tab on the board: who it is and how it is connected. This is what replicas tell
/// each other (see `share`), and what the list is built from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TabInfo {
    #[serde(flatten)]
    pub identity: Identity,
    pub pattern: PatternKind,
    pub transport: Transport,
    /// When the tab came (Unix ms, by the clock of the replica it came to): the list names
    /// those here longest first.
    #[serde(default)]
    pub joined: u64,
    /// The SHA-256 (hex) of the secret that claims the tab's id, if it gave one: another
    /// replica checks a request that names this tab against it (`presence::Proof`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
}

impl TabInfo {
    /// The same tab, connected the same way (what it shows on the list)?
    pub fn same_as(&self, other: &TabInfo) -> bool {
        self.identity == other.identity && self.pattern == other.pattern && self.transport == other.transport
    }
}

/// A board's presence list as sent, encoded once for every stream.
#[derive(Debug)]
pub struct Roster {
    pub rev: u64,
    pub members: Vec<Member>,
    /// People on the board beyond those listed.
    pub more: usize,
    /// The `presence` frame's JSON.
    pub frame: Bytes,
    /// Every client on the board, listed or not (a signal's `to` must be one of them).
    clients: BTreeSet<String>,
}

impl Roster {
    /// The list of these tabs (a client listed twice, say by two replicas while a poll
    /// client moved between them, counts once): the [`MAX_LISTED`] people here longest,
    /// and how many more there are.
    pub fn of<'a>(tabs: impl IntoIterator<Item = &'a TabInfo>) -> Roster {
        let mut people: BTreeMap<&str, BTreeMap<&str, &TabInfo>> = BTreeMap::new();
        for tab in tabs {
            people.entry(&tab.identity.person).or_default().entry(&tab.identity.client).or_insert(tab);
        }
        let clients = people.values().flat_map(|tabs| tabs.keys().map(|c| (*c).to_owned())).collect();
        // Longest here first, by the earliest of their tabs; ties by person id.
        let mut order: Vec<(u64, &str)> =
            people.iter().map(|(person, tabs)| (tabs.values().map(|t| t.joined).min().unwrap_or(0), *person)).collect();
        order.sort();
        let more = order.len().saturating_sub(MAX_LISTED);
        let members: Vec<Member> = order
            .into_iter()
            .take(MAX_LISTED)
            .map(|(_, person)| {
                let tabs = &people[person];
                Member {
                    person: person.to_owned(),
                    // Deterministic on every replica: the name its first tab (by id) gave.
                    name: tabs.values().next().map(|t| t.identity.name.clone()).unwrap_or_default(),
                    tabs: tabs.len(),
                    clients: tabs.keys().map(|c| (*c).to_owned()).collect(),
                    via: tabs
                        .values()
                        .map(|t| Via { client: t.identity.client.clone(), pattern: t.pattern, transport: t.transport })
                        .collect(),
                }
            })
            .collect();
        let rev = rev(&members, more);
        let frame = Bytes::from(Frame::Presence { rev, members: members.clone(), more }.to_json());
        Roster { rev, members, more, frame, clients }
    }

    pub fn empty() -> Roster {
        Roster::of([])
    }

    pub fn has(&self, client: &str) -> bool {
        self.clients.contains(client)
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

/// The first 48 bits of the SHA-256 of the members' JSON and the count beyond them: exact
/// in a JavaScript number, and equal lists have equal revs wherever they were built.
fn rev(members: &[Member], more: usize) -> u64 {
    let digest = Sha256::new()
        .chain_update(serde_json::to_vec(members).expect("members serialise"))
        .chain_update(more.to_le_bytes())
        .finalize();
    digest[..6].iter().fold(0u64, |rev, byte| (rev << 8) | u64::from(*byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tab(client: &str, person: &str, name: &str) -> TabInfo {
        TabInfo {
            identity: Identity { client: client.into(), person: person.into(), name: name.into() },
            pattern: PatternKind::PushOps,
            transport: Transport::Sse,
            joined: 0,
            claim: None,
        }
    }

    #[test]
    fn a_crowd_is_counted_beyond_the_first_fifty_here() {
        // 20,000 tabs came after the first person: the list names the first 50 people, and
        // counts the rest; its frame stays a few kilobytes.
        let mut tabs = vec![TabInfo { joined: 1, ..tab("first", "zzz-first-person", "First") }];
        tabs.extend(
            (0..20_000).map(|i| TabInfo { joined: 2 + i, ..tab(&format!("c{i}"), &format!("p{i:05}"), "Fake") }),
        );
        let roster = Roster::of(&tabs);
        assert_eq!(roster.members.len(), MAX_LISTED);
        assert_eq!(roster.members[0].person, "zzz-first-person", "here longest, listed first");
        assert_eq!(roster.more, 20_001 - MAX_LISTED);
        assert_eq!(roster.len(), 20_001, "every client may still be signalled");
        assert!(roster.frame.len() < 16 * 1024, "a list of {} bytes", roster.frame.len());
        // One more in the crowd changes only the count, and the rev.
        tabs.push(TabInfo { joined: 99_999, ..tab("late", "0000-late", "Late") });
        let later = Roster::of(&tabs);
        assert_eq!(later.members, roster.members);
        assert_eq!(later.more, roster.more + 1);
        assert_ne!(later.rev, roster.rev);
    }

    #[test]
    fn one_member_per_person_with_their_tabs() {
        let tabs = [tab("c2", "ada", "Ada"), tab("c1", "ada", "Ada"), tab("c3", "bob", "Bob"), tab("c1", "ada", "Ada")];
        let roster = Roster::of(&tabs);
        assert_eq!(roster.members.len(), 2);
        assert_eq!(roster.members[0].person, "ada");
        assert_eq!(roster.members[0].tabs, 2);
        assert_eq!(roster.members[0].clients, ["c1", "c2"]);
        assert_eq!(roster.members[0].via.len(), 2);
        assert!(roster.has("c3") && !roster.has("c4"));
        assert_eq!(roster.len(), 3);
    }

    #[test]
    fn the_rev_names_the_content_whatever_the_order() {
        let a = Roster::of(&[tab("c1", "ada", "Ada"), tab("c3", "bob", "Bob")]);
        let b = Roster::of(&[tab("c3", "bob", "Bob"), tab("c1", "ada", "Ada")]);
        assert_eq!(a.rev, b.rev);
        assert_eq!(a.frame, b.frame);
        let renamed = Roster::of(&[tab("c3", "bob", "Bobby"), tab("c1", "ada", "Ada")]);
        assert_ne!(a.rev, renamed.rev);
        assert_ne!(a.rev, Roster::empty().rev);
        assert!(a.rev < 1 << 53, "exact in JavaScript");
        let frame: Frame = serde_json::from_slice(&a.frame).unwrap();
        assert!(matches!(frame, Frame::Presence { rev, .. } if rev == a.rev));
    }
}
