//! Where a todo sits in its column: a sparse ordering key (fractional indexing, as Figma and
//! Linear order their lists).
//!
//! A dense index (0, 1, 2, ...) makes a move renumber every todo after the gap it leaves and
//! the gap it fills: on a 4000-todo column one drag rewrote thousands of rows and sent
//! thousands of entities to every `push-ops` client. A key *between* two neighbours changes
//! only the todo that moved, so a move writes one row and every pattern's frame for it is
//! small, whatever the board's size.
//!
//! A key is a byte string that ends in the terminator byte `0x80`, compared byte by byte
//! (the scheme of the `fractional_index` crate, whose keys the log already holds). On the
//! wire it is lowercase hex, which compares in the same order as the bytes, so a client
//! orders a column by comparing strings and never needs to understand them.
//!
//! **There is always a key strictly between two different keys** ([`Position::between`]),
//! and the order of a column is an invariant: a move lands exactly where it asked, or is
//! refused. The functions here are our own, not the crate's: its `new_between` subtracts
//! one from a byte that can be zero, so after about 256 moves to the front of a column
//! (keys beginning `00 00`) it returned no key, or one outside the two neighbours, and a
//! move landed elsewhere while answering `200`. The property tests in
//! `tests/positions.rs` hold these functions to a plain `Vec` through thousands of moves.
//!
//! Keys grow by a byte every few halvings of the same gap (or every ~127 moves to one end),
//! so a column whose key got longer than [`Position::LONGEST`] is re-spaced: its own logged
//! change ([`Event::ColumnRespaced`](super::Event::ColumnRespaced)), which gives the column
//! evenly spread short keys in its current order. That touches the whole column, but rarely.
//! Two todos of one column can only share a key in a store written before this rule; such a
//! column is re-spaced too, the first time a command touches it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An ordering key: non-empty lowercase hex of an even length, ending in `80` (the
/// terminator byte). Ordered as strings, which is also the order of the bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Position(String);

/// The byte every key ends with.
const TERMINATOR: u8 = 0x80;

impl Position {
    /// Keys longer than this (in hex characters) make the server re-space their column.
    pub const LONGEST: usize = 32;

    /// The key of a todo alone in its column.
    pub fn first() -> Position {
        Position::from_bytes(&[TERMINATOR])
    }

    /// The key strictly after `before` and strictly before `after` (either may be absent:
    /// the column's ends). `None` only when the two are not in order (equal keys, which
    /// only a store written before this rule can hold): the column must be re-spaced
    /// first. Never a key outside the two.
    pub fn between(before: Option<&Position>, after: Option<&Position>) -> Option<Position> {
        let bytes = match (before, after) {
            (None, None) => vec![TERMINATOR],
            (Some(low), None) => key_after(&low.bytes()),
            (None, Some(high)) => key_before(&high.bytes()),
            (Some(low), Some(high)) => key_between(&low.bytes(), &high.bytes())?,
        };
        Some(Position::from_bytes(&bytes))
    }

    /// The key after `last` (a column's end): always exists.
    pub fn after(last: &Position) -> Position {
        Position::from_bytes(&key_after(&last.bytes()))
    }

    /// `count` keys in increasing order, evenly spread and as short as that count allows
    /// (room is left between neighbours, and before the first and after the last).
    pub fn spread(count: usize) -> Vec<Position> {
        // Enough whole bytes that neighbours are at least 4 apart.
        let mut width = 1u32;
        while 256u128.pow(width) < 4 * (count as u128 + 1) {
            width += 1;
        }
        let range = 256u128.pow(width);
        (1..=count as u128)
            .map(|i| {
                let value = i * range / (count as u128 + 1);
                let mut bytes: Vec<u8> = (0..width).rev().map(|b| (value >> (8 * b)) as u8).collect();
                bytes.push(TERMINATOR);
                Position::from_bytes(&bytes)
            })
            .collect()
    }

    /// Is this key long enough that its column should be re-spaced?
    pub fn is_long(&self) -> bool {
        self.0.len() > Self::LONGEST
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key's bytes (it is valid hex by construction).
    fn bytes(&self) -> Vec<u8> {
        self.0
            .as_bytes()
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).expect("ASCII"), 16).expect("hex by construction"))
            .collect()
    }

    fn from_bytes(bytes: &[u8]) -> Position {
        debug_assert_eq!(bytes.last(), Some(&TERMINATOR));
        Position(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// A key greater than `key`: the shortest prefix of it that can be raised, raised by one
/// (or cut before its first byte below the terminator).
fn key_after(key: &[u8]) -> Vec<u8> {
    for (i, &byte) in key.iter().enumerate() {
        if byte < TERMINATOR {
            // `key[..i] + 80` is greater: at place `i`, 80 > byte.
            return terminated(&key[..i]);
        }
        if byte < u8::MAX {
            let mut raised = key[..=i].to_vec();
            raised[i] += 1;
            return terminated(&raised);
        }
    }
    unreachable!("a key ends with 0x80, which can always be raised")
}

/// A key smaller than `key`: the mirror of [`key_after`].
fn key_before(key: &[u8]) -> Vec<u8> {
    for (i, &byte) in key.iter().enumerate() {
        if byte > TERMINATOR {
            return terminated(&key[..i]);
        }
        if byte > u8::MIN {
            let mut lowered = key[..=i].to_vec();
            lowered[i] -= 1;
            return terminated(&lowered);
        }
    }
    unreachable!("a key ends with 0x80, which can always be lowered")
}

/// A key strictly between `low` and `high`; `None` unless `low < high`.
///
/// Every pair of different keys has one: where they first differ, either the two bytes are
/// two or more apart (take one in the middle), or one apart (keep `low`'s byte and go after
/// the rest of `low`), or `low` ends there and `high` goes on (go before the rest of `high`,
/// which is itself a key since `high` ends with the terminator).
fn key_between(low: &[u8], high: &[u8]) -> Option<Vec<u8>> {
    if low >= high {
        return None;
    }
    let common = low.iter().zip(high).take_while(|(a, b)| a == b).count();
    let key = match (low.get(common), high.get(common)) {
        // `low` is a prefix of `high`: `low` + (a key before the rest of `high`).
        (None, Some(_)) => [low, &key_before(&high[common..])].concat(),
        (Some(&a), Some(&b)) if b - a >= 2 => terminated(&[&low[..common], &[a + (b - a) / 2]].concat()),
        // One apart: keep `low`'s byte and go after what follows it in `low` (its end is
        // the terminator, after which `80` again is greater).
        (Some(_), Some(_)) => match &low[common + 1..] {
            [] => [low, &[TERMINATOR]].concat(),
            rest => [&low[..=common], &key_after(rest)[..]].concat(),
        },
        // `high` a prefix of `low`, or equal: `low >= high`, handled above.
        (_, None) => unreachable!("low < high"),
    };
    debug_assert!(low < &key[..] && &key[..] < high, "{low:02x?} < {key:02x?} < {high:02x?}");
    Some(key)
}

fn terminated(prefix: &[u8]) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.push(TERMINATOR);
    key
}

impl TryFrom<String> for Position {
    type Error = String;

    /// Checked here: a key arrives in frames and stored rows.
    fn try_from(key: String) -> Result<Self, Self::Error> {
        let hex = key.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex || !key.len().is_multiple_of(2) || !key.ends_with("80") {
            return Err(format!("`{key}` is not a position key (lowercase hex ending in 80)"));
        }
        Ok(Position(key))
    }
}

impl From<Position> for String {
    fn from(position: Position) -> String {
        position.0
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hex: &str) -> Position {
        Position::try_from(hex.to_owned()).unwrap()
    }

    #[test]
    fn between_orders_and_stays_valid() {
        let a = Position::first();
        let b = Position::between(Some(&a), None).unwrap();
        let c = Position::between(Some(&a), Some(&b)).unwrap();
        let z = Position::between(None, Some(&a)).unwrap();
        assert!(z < a && a < c && c < b, "{z} {a} {c} {b}");
        for key in [a, b, c, z] {
            assert_eq!(Position::try_from(key.to_string()), Ok(key));
        }
    }

    /// The keys the crate's `new_between` got wrong: zero bytes where the two first differ
    /// or before it, and one key a prefix of the other.
    #[test]
    fn between_has_room_wherever_the_keys_differ() {
        let pairs = [
            ("000080", "000180"),
            ("0000000580", "0000000980"),
            ("000080", "00008000007f80"),
            ("80", "8000000080"),
            ("7f80", "80"),
            ("00ff80", "0180"),
            ("ff80", "ffff80"),
            ("0080", "008080"),
        ];
        for (low, high) in pairs {
            let (low, high) = (key(low), key(high));
            let mid = Position::between(Some(&low), Some(&high)).unwrap_or_else(|| panic!("{low} {high}"));
            assert!(low < mid && mid < high, "{low} < {mid} < {high}");
        }
    }

    #[test]
    fn equal_or_reversed_neighbours_have_no_key_between() {
        let a = Position::first();
        let b = Position::after(&a);
        assert_eq!(Position::between(Some(&a), Some(&a)), None);
        assert_eq!(Position::between(Some(&b), Some(&a)), None);
    }

    #[test]
    fn spread_is_increasing_short_and_leaves_room() {
        for count in [0, 1, 2, 63, 64, 5000, 70_000] {
            let keys = Position::spread(count);
            assert_eq!(keys.len(), count);
            assert!(keys.windows(2).all(|w| w[0] < w[1]), "{count}: not increasing");
            assert!(keys.iter().all(|k| !k.is_long()), "{count}: a long key");
            if let (Some(first), Some(last)) = (keys.first(), keys.last()) {
                assert!(Position::between(None, Some(first)).unwrap() < *first);
                assert!(Position::after(last) > *last);
            }
        }
        assert!(Position::spread(5000).iter().all(|k| k.as_str().len() == 6), "two bytes and the terminator");
    }

    #[test]
    fn refuses_what_is_not_a_key() {
        for bad in ["", "8", "7f", "AB80", "zz80", "é80", "a\u{e9}80"] {
            assert!(Position::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }
}
