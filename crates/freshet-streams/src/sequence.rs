//! Sequence numbers: where they are made and taken apart.
//!
//! A sequence number is a 128-bit value written in decimal, laid out (most significant first) as
//! `version:4 | shard_created_ms:44 | shard_index:16 | position:64`. The position counts the log
//! records before and including the one named: the record at log offset `o` has position `o + 1`,
//! and position 0 is the shard's starting sequence number, which names no record but the start.
//! So every number is also a boundary between records — reading AFTER it starts at log offset
//! `position` — which gives a continuation number even before any record was delivered
//! (SubscribeToShard) and an ending number for a shard closed without records. The shard and the
//! log offset are read straight out of a number, with no lookup. Numbers grow strictly within a shard
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
    /// The number of the record at log offset `offset`.
    pub fn record(shard_created_ms: i64, shard_index: u32, offset: u64) -> SequenceNumber {
        Self::boundary(shard_created_ms, shard_index, offset + 1)
    }

    /// The number that reading AFTER resumes at log offset `position`; `boundary(.., 0)` is the
    /// shard's starting sequence number.
    pub fn boundary(shard_created_ms: i64, shard_index: u32, position: u64) -> SequenceNumber {
        let ms = (shard_created_ms.max(0) as u128) & ((1 << MS_BITS) - 1);
        let shard = (shard_index & MAX_SHARD_INDEX) as u128;
        SequenceNumber(
            (VERSION << (MS_BITS + SHARD_BITS + OFFSET_BITS))
                | (ms << (SHARD_BITS + OFFSET_BITS))
                | (shard << OFFSET_BITS)
                | position as u128,
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

    /// The log offset a reader positioned AT this number starts from.
    pub fn at_offset(self) -> u64 {
        self.position().saturating_sub(1)
    }

    /// The log offset a reader positioned AFTER this number starts from.
    pub fn after_offset(self) -> u64 {
        self.position()
    }

    /// Records up to and including this one: a number is issued (or a boundary that exists) only
    /// if its position is at most the shard's next offset.
    pub fn position(self) -> u64 {
        self.0 as u64
    }

    /// Appends the decimal form to `out`.
    pub fn push_to(self, out: &mut String) {
        out.push_str(itoa::Buffer::new().format(self.0));
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // itoa: core's u128 formatting was 2–3 % of a put's CPU (one number per record).
        f.write_str(itoa::Buffer::new().format(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(ms in 0i64..(1 << 44), shard in 0u32..=MAX_SHARD_INDEX, offset in 0..u64::MAX) {
            let seq = SequenceNumber::record(ms, shard, offset);
            let parsed = SequenceNumber::parse(&seq.to_string()).unwrap();
            prop_assert_eq!(parsed, seq);
            prop_assert_eq!(parsed.shard_created_ms(), ms);
            prop_assert_eq!(parsed.shard_index(), shard);
            prop_assert_eq!(parsed.at_offset(), offset);
            prop_assert_eq!(parsed.after_offset(), offset + 1);
            prop_assert_eq!(seq.to_string().len(), 38);
            let mut pushed = String::from("x");
            seq.push_to(&mut pushed);
            prop_assert_eq!(pushed, format!("x{seq}"));
        }

        #[test]
        fn ordered_by_offset_within_a_shard(ms in 0i64..(1 << 44), shard in 0u32..100, a in 0..u64::MAX, b in 0..u64::MAX) {
            let (x, y) = (SequenceNumber::record(ms, shard, a), SequenceNumber::record(ms, shard, b));
            prop_assert_eq!(a.cmp(&b), x.cmp(&y));
            prop_assert_eq!(a.cmp(&b), x.to_string().cmp(&y.to_string()));
        }

        #[test]
        fn children_sort_after_parents(ms in 0i64..(1 << 43), parent: u32, child: u32, pa: u64, cb: u64) {
            let parent = SequenceNumber::boundary(ms, parent & MAX_SHARD_INDEX, pa);
            let child = SequenceNumber::boundary(ms + 1, child & MAX_SHARD_INDEX, cb);
            prop_assert!(child > parent);
        }
    }

    #[test]
    fn the_start_precedes_every_record() {
        let start = SequenceNumber::boundary(5, 1, 0);
        assert!(start < SequenceNumber::record(5, 1, 0));
        assert_eq!(start.at_offset(), 0);
        assert_eq!(start.after_offset(), 0);
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
