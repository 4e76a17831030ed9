//! Ephemeral state: who is on a board, and the messages that go from one tab to another
//! (WebRTC signals, relayed cursors). Unlike the change log this is never stored, never
//! takes a seq, and may be lost: the latest presence list replaces the one before it
//! whole, so a client that missed one is repaired by the next.
//!
//! These are the shapes both sides share: who a tab says it is (its [`Identity`], checked
//! here by the rules of the protocol), one entry of the presence list ([`Member`]), and
//! the bodies of `POST /api/boards/{board}/signal` and `/leave`.

use serde::{Deserialize, Serialize};

use crate::patterns::PatternKind;
use crate::protocol::Transport;

/// The longest client or person id (URL-safe characters only).
pub const MAX_ID_CHARS: usize = 64;
/// The longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 40;

/// Who a tab says it is: its own id, its browser's person id and the name to show.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// One tab (a page load); unique per tab.
    pub client: String,
    /// One browser: every tab of it shows as one person.
    pub person: String,
    pub name: String,
}

impl Identity {
    /// Checks `client=`, `person=` and `name=` as a stream URL carries them. A missing person
    /// is the client itself (a tool with one connection is one person).
    pub fn parse(client: &str, person: Option<&str>, name: Option<&str>) -> Result<Identity, String> {
        check_id("client", client)?;
        let person = person.unwrap_or(client);
        check_id("person", person)?;
        let name = name.map(str::trim).filter(|n| !n.is_empty()).unwrap_or(person);
        let name = clean_name(name).ok_or_else(|| format!("name must be 1 to {MAX_NAME_CHARS} characters"))?;
        Ok(Identity { client: client.to_owned(), person: person.to_owned(), name })
    }
}

/// A tab's secret, which claims its client id for the connection that first presents it
/// (`secret=S` on a stream URL, `"secret"` in a signal or a leave): 16 to 64 URL-safe
/// characters the page makes up and never shows. Another connection that presents the same
/// client id without it is refused.
pub fn check_secret(secret: &str) -> Result<(), String> {
    let url_safe = secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if secret.len() < MIN_SECRET_CHARS || secret.len() > MAX_ID_CHARS || !url_safe {
        return Err(format!("a tab's secret is {MIN_SECRET_CHARS} to {MAX_ID_CHARS} URL-safe characters"));
    }
    Ok(())
}

/// The shortest tab secret: about 96 bits in the page's alphabet.
pub const MIN_SECRET_CHARS: usize = 16;

/// A client or person id: 1 to 64 of `A-Z a-z 0-9 - _`.
pub fn check_id(what: &str, id: &str) -> Result<(), String> {
    let url_safe = id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if id.is_empty() || id.len() > MAX_ID_CHARS || !url_safe {
        return Err(format!("{what} must be 1 to {MAX_ID_CHARS} URL-safe characters (A-Z, a-z, 0-9, - and _)"));
    }
    Ok(())
}

/// A display name as shown: trimmed, control characters and invisible ones (direction
/// overrides, zero-width characters that join nothing: `domain::decide::hidden_character`)
/// removed; `None` when nothing is left or it is longer than [`MAX_NAME_CHARS`].
pub fn clean_name(name: &str) -> Option<String> {
    let mut name: String = name.trim().chars().filter(|c| !c.is_control()).collect();
    while let Some(hidden) = crate::domain::decide::hidden_character(&name) {
        name = name.replacen(hidden, "", 1);
    }
    let name = name.trim().to_owned();
    let chars = name.chars().count();
    (chars > 0 && chars <= MAX_NAME_CHARS).then_some(name)
}

/// A friendly name for a browser that has none yet ("Brave Otter"), from two numbers in
/// [0, 1): the page keeps it in local storage, and its person can change it.
pub fn friendly_name(a: f64, b: f64) -> String {
    const ADJECTIVES: [&str; 16] = [
        "Brave", "Calm", "Clever", "Eager", "Gentle", "Happy", "Jolly", "Kind", "Lively", "Lucky", "Merry", "Nimble",
        "Proud", "Quick", "Swift", "Witty",
    ];
    const ANIMALS: [&str; 16] = [
        "Badger", "Crane", "Dolphin", "Falcon", "Fox", "Heron", "Koala", "Lynx", "Marten", "Otter", "Owl", "Panda",
        "Puffin", "Raven", "Seal", "Wren",
    ];
    let pick = |r: f64, n: usize| ((r.clamp(0.0, 0.999_999) * n as f64) as usize).min(n - 1);
    format!("{} {}", ADJECTIVES[pick(a, ADJECTIVES.len())], ANIMALS[pick(b, ANIMALS.len())])
}

/// A random id of `len` URL-safe characters from `random` (uniform in [0, 1)).
pub fn random_id(len: usize, mut random: impl FnMut() -> f64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..len).map(|_| ALPHABET[((random() * 64.0) as usize).min(63)] as char).collect()
}

/// The most people a `presence` frame lists, the ones on the board longest first; the rest
/// are counted (`more`). Every list goes to every tab, so a crowd of thousands (or of fakes)
/// would otherwise make every list megabytes.
pub const MAX_LISTED: usize = 50;

/// How much two tabs want to be peers (of the page's cursor mesh): a hash of their two ids
/// in order (FNV-1a, then MurmurHash3's mixing step so that similar ids get unrelated
/// ranks), so both compute the same number, and no id, however chosen, ranks high with
/// everyone (a peer learns the other's network addresses; the mesh used to pick the lowest
/// ids, so a tab named `0` was everyone's peer).
pub fn peer_rank(a: &str, b: &str) -> u64 {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in low.bytes().chain(std::iter::once(0)).chain(high.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// The `n` of `others` that rank highest with `me` ([`peer_rank`]).
pub fn peers_of(me: &str, others: &std::collections::BTreeSet<String>, n: usize) -> std::collections::BTreeSet<String> {
    let mut ranked: Vec<&String> = others.iter().collect();
    ranked.sort_by_key(|other| std::cmp::Reverse(peer_rank(me, other)));
    ranked.into_iter().take(n).cloned().collect()
}

/// One person on the board, as the `presence` frame lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub person: String,
    pub name: String,
    /// How many tabs of this person are on the board.
    pub tabs: usize,
    /// Their client ids, sorted.
    pub clients: Vec<String>,
    /// How each tab is connected, in the order of `clients` (an addition to the contract:
    /// the page shows it, and a poll tab's dot fades between its requests).
    #[serde(default)]
    pub via: Vec<Via>,
}

/// The pattern and transport one tab uses.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Via {
    pub client: String,
    pub pattern: PatternKind,
    pub transport: Transport,
}

/// Body of `POST /api/boards/{board}/signal` (or `{"signal":{...}}` up a WebSocket): either
/// `data` for one client (`to` its id), or a relayed `cursor` for everyone (`to` is `"*"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Cursor>,
    /// The sending tab's secret (see [`check_secret`]), when it claimed its id with one:
    /// without it nobody else can send in its name. Up a WebSocket it is not needed (the
    /// socket is the tab).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Everyone on the board: the `to` of a relayed cursor.
pub const EVERYONE: &str = "*";
/// The most `data` a signal may carry, serialised.
pub const MAX_SIGNAL_BYTES: usize = 64 * 1024;

/// A pointer position as fractions of the board's area, so windows of any size agree.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub x: f64,
    pub y: f64,
}

impl Cursor {
    /// Both coordinates within [0, 1].
    pub fn valid(&self) -> bool {
        (0.0..=1.0).contains(&self.x) && (0.0..=1.0).contains(&self.y)
    }
}

/// Body of `POST /api/boards/{board}/leave`: a tab says it is going (a page sends it as it
/// unloads), so it leaves the list at once instead of when its lease runs out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Leave {
    pub client: String,
    /// The tab's secret, when it claimed its id with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_follow_the_protocol() {
        let me = Identity::parse("tab-1", Some("p_9"), Some("  Ada  ")).unwrap();
        assert_eq!((me.client.as_str(), me.person.as_str(), me.name.as_str()), ("tab-1", "p_9", "Ada"));
        // A tool that names only its client is its own person, shown by its id.
        let tool = Identity::parse("bot", None, None).unwrap();
        assert_eq!((tool.person.as_str(), tool.name.as_str()), ("bot", "bot"));
        assert!(Identity::parse("", None, None).is_err());
        assert!(Identity::parse("a b", None, None).is_err());
        assert!(Identity::parse(&"x".repeat(65), None, None).is_err());
        assert!(Identity::parse("ok", Some("bad/person"), None).is_err());
        assert!(Identity::parse("ok", None, Some(&"n".repeat(41))).is_err());
        assert_eq!(clean_name("a\u{0}b"), Some("ab".into()));
        // Direction overrides and lone zero-width characters are taken out of names.
        assert_eq!(clean_name("\u{202E}nimda"), Some("nimda".into()));
        assert_eq!(clean_name("Ad\u{200B}a\u{200D}"), Some("Ada".into()));
        assert_eq!(clean_name("\u{2066}\u{2069}"), None);
    }

    #[test]
    fn generated_names_and_ids_follow_the_rules() {
        for (a, b) in [(0.0, 0.0), (0.5, 0.99), (0.999_999_9, 0.3)] {
            let name = friendly_name(a, b);
            assert_eq!(clean_name(&name).as_deref(), Some(name.as_str()));
        }
        let mut n = 0.0;
        let id = random_id(16, || {
            n = (n + 0.37) % 1.0;
            n
        });
        assert_eq!(id.len(), 16);
        assert!(check_id("client", &id).is_ok());
    }

    #[test]
    fn peers_are_chosen_by_a_rank_no_id_can_game() {
        let tabs: Vec<String> = (0..40).map(|i| format!("tab{i:02}")).collect();
        assert_eq!(peer_rank("a", "b"), peer_rank("b", "a"), "the same from either side");
        // The lowest possible ids are not everyone's peer: they are in only some meshes.
        let sneaky = ["0", "00", "000", "-", "A"];
        let mut chosen = 0;
        for me in &tabs {
            let others: std::collections::BTreeSet<String> =
                tabs.iter().filter(|t| *t != me).cloned().chain(sneaky.iter().map(|s| s.to_string())).collect();
            let peers = peers_of(me, &others, 8);
            assert_eq!(peers.len(), 8);
            chosen += sneaky.iter().filter(|s| peers.contains(**s)).count();
        }
        // 40 meshes of 8 among 44 others: about 8/44 of the 200 places (36), not all of them
        // (as when the lowest ids were chosen).
        assert!(chosen < 80, "the low ids were chosen {chosen} times of 200");
    }

    #[test]
    fn cursors_are_fractions() {
        assert!(Cursor { x: 0.0, y: 1.0 }.valid());
        assert!(!Cursor { x: -0.1, y: 0.5 }.valid());
        assert!(!Cursor { x: 0.5, y: f64::NAN }.valid());
    }
}
