//! The presence list of one board, built from tabs: one [`Member`] per person, with the
//! tabs each has open, and a `rev` that names the list's content. Pure: the same tabs give
//! the same list and the same rev on every replica, so a client that moves between
//! replicas (or missed an update) compares revs and is never told what it already has.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use app::patterns::{Frame, PatternKind};
use app::presence::{Identity, Member, Via};
use app::protocol::Transport;

/// One tab on the board: who it is and how it is connected. This is what replicas tell
/// each other (see `share`), and what the list is built from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TabInfo {
    #[serde(flatten)]
    pub identity: Identity,
    pub pattern: PatternKind,
    pub transport: Transport,
}

/// A board's presence list as sent, encoded once for every stream.
#[derive(Debug)]
pub struct Roster {
    pub rev: u64,
    pub members: Vec<Member>,
    /// The `presence` frame's JSON.
    pub frame: Bytes,
    /// Every client on the list (a signal's `to` must be one of them).
    clients: BTreeSet<String>,
}

impl Roster {
    /// The list of these tabs (a client listed twice, say by two replicas while a poll
    /// client moved between them, counts once).
    pub fn of<'a>(tabs: impl IntoIterator<Item = &'a TabInfo>) -> Roster {
        let mut people: BTreeMap<&str, BTreeMap<&str, &TabInfo>> = BTreeMap::new();
        for tab in tabs {
            people.entry(&tab.identity.person).or_default().entry(&tab.identity.client).or_insert(tab);
        }
        let members: Vec<Member> = people
            .into_iter()
            .map(|(person, tabs)| Member {
                person: person.to_owned(),
                // Deterministic on every replica: the name its first tab (by id) gave.
                name: tabs.values().next().map(|t| t.identity.name.clone()).unwrap_or_default(),
                tabs: tabs.len(),
                clients: tabs.keys().map(|c| (*c).to_owned()).collect(),
                via: tabs
                    .values()
                    .map(|t| Via { client: t.identity.client.clone(), pattern: t.pattern, transport: t.transport })
                    .collect(),
            })
            .collect();
        let rev = rev(&members);
        let clients = members.iter().flat_map(|m| m.clients.iter().cloned()).collect();
        let frame = Bytes::from(Frame::Presence { rev, members: members.clone() }.to_json());
        Roster { rev, members, frame, clients }
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

/// The first 48 bits of the SHA-256 of the members' JSON: exact in a JavaScript number,
/// and equal lists have equal revs wherever they were built.
fn rev(members: &[Member]) -> u64 {
    let digest = Sha256::digest(serde_json::to_vec(members).expect("members serialise"));
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
        }
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
