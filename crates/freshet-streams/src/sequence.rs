//! Sequence numbers: where they are made and taken apart.
//!
//! A sequence number is a 128-bit value written in decimal, laid out (most significant first) as
//! `version:4 | shard_created_ms:44 | shard_index:16 | offset:64`. The shard and the record's
//! log offset are read straight out of it, with no lookup. Numbers grow strictly within a shard
//! (the offset grows), and a child shard, always created later than its parents, has a larger
//! creation time and so larger numbers than any parent record, as AWS guarantees after resharding.
//! With version 1 in the top nibble every number has 38 decimal digits.

use std::fmt;

const VERSION: u128 = 1;
const MS_BITS: u32 = 44;
const SHARD_BITS: u32 = 16;
const OFFSET_BITS: u32 = 64;

/// The largest shard index a sequence number can carry.
pub const MAX_SHARD_INDEX: u32 = (1 << SHARD_BITS) - 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SequenceNumber(u128);

impl SequenceNumber {
    pub fn new(shard_created_ms: i64, shard_index: u32, offset: u64) -> SequenceNumber {
        let ms = (shard_created_ms.max(0) as u128) & ((1 << MS_BITS) - 1);
        let shard = (shard_index & MAX_SHARD_INDEX) as u128;
        SequenceNumber(
            (VERSION << (MS_BITS + SHARD_BITS + OFFSET_BITS))
                | (ms << (SHARD_BITS + OFFSET_BITS))
                | (shard << OFFSET_BITS)
                | offset as u128,
        )
    }

    /// Parses a decimal sequence number of our layout; `None` for anything else (including
    /// numbers that are well-formed decimals but were never issued by us).
    pub fn parse(text: &str) -> Option<SequenceNumber> {
        if text.is_empty() || text.len() > 39 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let value: u128 = text.parse().ok()?;
        (value >> (MS_BITS + SHARD_BITS + OFFSET_BITS) == VERSION).then_some(SequenceNumber(value))
    }

    pub fn shard_created_ms(self) -> i64 {
        ((self.0 >> (SHARD_BITS + OFFSET_BITS)) & ((1 << MS_BITS) - 1)) as i64
    }

    pub fn shard_index(self) -> u32 {
        ((self.0 >> OFFSET_BITS) & MAX_SHARD_INDEX as u128) as u32
    }

    pub fn offset(self) -> u64 {
        self.0 as u64
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(ms in 0i64..(1 << 44), shard in 0u32..=MAX_SHARD_INDEX, offset: u64) {
            let seq = SequenceNumber::new(ms, shard, offset);
            let parsed = SequenceNumber::parse(&seq.to_string()).unwrap();
            prop_assert_eq!(parsed, seq);
            prop_assert_eq!(parsed.shard_created_ms(), ms);
            prop_assert_eq!(parsed.shard_index(), shard);
            prop_assert_eq!(parsed.offset(), offset);
            prop_assert_eq!(seq.to_string().len(), 38);
        }

        #[test]
        fn ordered_by_offset_within_a_shard(ms in 0i64..(1 << 44), shard in 0u32..100, a: u64, b: u64) {
            let (x, y) = (SequenceNumber::new(ms, shard, a), SequenceNumber::new(ms, shard, b));
            prop_assert_eq!(a.cmp(&b), x.cmp(&y));
            prop_assert_eq!(a.cmp(&b), x.to_string().cmp(&y.to_string()));
        }

        #[test]
        fn children_sort_after_parents(ms in 0i64..(1 << 43), parent: u32, child: u32, pa: u64, cb: u64) {
            let parent = SequenceNumber::new(ms, parent & MAX_SHARD_INDEX, pa);
            let child = SequenceNumber::new(ms + 1, child & MAX_SHARD_INDEX, cb);
            prop_assert!(child > parent);
        }
    }

    #[test]
    fn rejects_foreign_numbers() {
        assert_eq!(SequenceNumber::parse(""), None);
        assert_eq!(SequenceNumber::parse("0"), None);
        assert_eq!(SequenceNumber::parse("12a"), None);
        assert_eq!(
            SequenceNumber::parse("49590338271490256608559692538361571095921575989136588898"),
            None
        );
        assert_eq!(SequenceNumber::parse(&u128::MAX.to_string()), None);
    }
}
