//! Where a todo sits in its column: a sparse ordering key (fractional indexing, as Figma and
//! Linear order their lists).
//!
//! A dense index (0, 1, 2, ...) makes a move renumber every todo after the gap it leaves and
//! the gap it fills: on a 4000-todo column one drag rewrote thousands of rows and sent
//! thousands of entities to every `push-ops` client. A key *between* two neighbours changes
//! only the todo that moved, so a move writes one row and every pattern's frame for it is
//! small, whatever the board's size.
//!
//! The keys come from the `fractional_index` crate: byte strings that compare
//! lexicographically and always have room between two distinct ones. On the wire they are
//! lowercase hex, which compares in the same order as the bytes, so a client orders a column
//! by comparing strings and never needs to understand them.
//!
//! Keys grow by a byte every few halvings of the same gap (or every ~127 appends), so a
//! column whose key got longer than [`Position::LONGEST`] is re-spaced: its own logged change
//! ([`Event::ColumnRespaced`](super::Event::ColumnRespaced)), which gives the column evenly
//! spread short keys in its current order. That touches the whole column, but rarely.

use std::fmt;

use fractional_index::FractionalIndex;
use serde::{Deserialize, Serialize};

/// An ordering key: non-empty lowercase hex of an even length, ending in `80` (the crate's
/// terminator byte). Ordered as strings, which is also the order of the bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Position(String);

impl Position {
    /// Keys longer than this (in hex characters) make the server re-space their column.
    pub const LONGEST: usize = 32;

    /// The key of a todo alone in its column.
    pub fn first() -> Position {
        Position::from_index(FractionalIndex::default())
    }

    /// A key after `before` and before `after` (either may be absent: the column's ends).
    /// If the two are not in order (equal keys can only come from a corrupt store), the
    /// key after `before` is returned: the column's order then falls back to ids, and the
    /// key's length makes the server re-space the column.
    pub fn between(before: Option<&Position>, after: Option<&Position>) -> Position {
        let (before, after) = (before.map(Position::index), after.map(Position::index));
        FractionalIndex::new(before.as_ref(), after.as_ref())
            .or_else(|| before.as_ref().map(FractionalIndex::new_after))
            .map(Position::from_index)
            .unwrap_or_else(Position::first)
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
                Position::from_index(FractionalIndex::from_bytes(bytes).expect("terminated above"))
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

    fn index(&self) -> FractionalIndex {
        FractionalIndex::from_string(&self.0).expect("a Position is always a valid key")
    }

    fn from_index(index: FractionalIndex) -> Position {
        Position(index.to_string())
    }
}

/// The byte `fractional_index` ends every key with.
const TERMINATOR: u8 = 0x80;

impl TryFrom<String> for Position {
    type Error = String;

    /// Checked here, not by the crate: its hex decoder slices by bytes and would panic on a
    /// multi-byte character, and a key arrives in frames and stored rows.
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

    #[test]
    fn between_orders_and_stays_valid() {
        let a = Position::first();
        let b = Position::between(Some(&a), None);
        let c = Position::between(Some(&a), Some(&b));
        let z = Position::between(None, Some(&a));
        assert!(z < a && a < c && c < b, "{z} {a} {c} {b}");
        for key in [a, b, c, z] {
            assert_eq!(Position::try_from(key.to_string()), Ok(key));
        }
    }

    #[test]
    fn spread_is_increasing_short_and_leaves_room() {
        for count in [0, 1, 2, 63, 64, 5000, 70_000] {
            let keys = Position::spread(count);
            assert_eq!(keys.len(), count);
            assert!(keys.windows(2).all(|w| w[0] < w[1]), "{count}: not increasing");
            assert!(keys.iter().all(|k| !k.is_long()), "{count}: a long key");
            if let (Some(first), Some(last)) = (keys.first(), keys.last()) {
                assert!(Position::between(None, Some(first)) < *first);
                assert!(Position::between(Some(last), None) > *last);
            }
        }
        assert!(Position::spread(5000).iter().all(|k| k.as_str().len() == 6), "two bytes and the terminator");
    }

    #[test]
    fn equal_neighbours_fall_back_to_after() {
        let a = Position::first();
        let next = Position::between(Some(&a), Some(&a));
        assert!(next > a);
    }

    #[test]
    fn refuses_what_is_not_a_key() {
        for bad in ["", "8", "7f", "AB80", "zz80", "é80", "a\u{e9}80"] {
            assert!(Position::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }
}
