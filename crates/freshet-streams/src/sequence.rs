//! Sequence numbers: where they are made and taken apart.
//!
//! A sequence number is a 128-bit value written in decimal, laid out (most significant first) as
//! `version:4 | shard_created_ms:44 | shard_index:16 | position:64`. The shard and the log offset
//! are read straight out of a number, with no lookup. Numbers grow strictly within a shard, and a
//! child shard, always created later than its parents, has a larger creation time and so larger
//! numbers than any parent record, as AWS guarantees after resharding. Every number has 38
//! decimal digits.
//!
//! Version 2 (issued today) counts positions in half-records: the record at log offset `o` has
//! position `2o + 2`, and the odd position `2n + 1` is the *boundary* before offset `n`, which
//! names no record. A boundary is what SubscribeToShard sends as ContinuationSequenceNumber and
//! what a shard's StartingSequenceNumber is: as on AWS, it lies strictly between the last record
//! delivered and the next one, so resubscribing AT it or AFTER it resumes at the next record,
//! never repeating one (AT a record's own number would). Version 1, issued before boundaries
//! needed their own numbers, had position `o + 1` for the record at offset `o` and no boundaries
//! between records; its numbers, kept by clients in checkpoints, are still understood. A version
//! 2 number is larger than every version 1 number, so numbers keep growing across the upgrade.

use std::fmt;

const VERSION: u128 = 2;
/// The first layout (see the module's comment), still parsed.
const VERSION_1: u128 = 1;
const MS_BITS: u32 = 44;
const SHARD_BITS: u32 = 16;
const OFFSET_BITS: u32 = 64;
const VERSION_SHIFT: u32 = MS_BITS + SHARD_BITS + OFFSET_BITS;

/// The largest shard index a sequence number can carry.
pub const MAX_SHARD_INDEX: u32 = (1 << SHARD_BITS) - 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SequenceNumber(u128);

impl SequenceNumber {
    /// The number of the record at log offset `offset`.
    pub fn record(shard_created_ms: i64, shard_index: u32, offset: u64) -> SequenceNumber {
        Self::new(shard_created_ms, shard_index, 2 * offset + 2)
    }

    /// The boundary just before log offset `offset`: reading AT or AFTER it starts there.
    /// `boundary(.., 0)` is the shard's starting sequence number.
    pub fn boundary(shard_created_ms: i64, shard_index: u32, offset: u64) -> SequenceNumber {
        Self::new(shard_created_ms, shard_index, 2 * offset + 1)
    }

    fn new(shard_created_ms: i64, shard_index: u32, position: u64) -> SequenceNumber {
        let ms = (shard_created_ms.max(0) as u128) & ((1 << MS_BITS) - 1);
        let shard = (shard_index & MAX_SHARD_INDEX) as u128;
        SequenceNumber(
            (VERSION << VERSION_SHIFT)
                | (ms << (SHARD_BITS + OFFSET_BITS))
                | (shard << OFFSET_BITS)
                | position as u128,
        )
    }

    /// Parses a decimal sequence number of our layouts; `None` for anything else (including
    /// numbers that are well-formed decimals but were never issued by us).
    pub fn parse(text: &str) -> Option<SequenceNumber> {
        if text.is_empty() || text.len() > 39 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let value: u128 = text.parse().ok()?;
        matches!(value >> VERSION_SHIFT, VERSION | VERSION_1).then_some(SequenceNumber(value))
    }

    fn version(self) -> u128 {
        self.0 >> VERSION_SHIFT
    }

    pub fn shard_created_ms(self) -> i64 {
        ((self.0 >> (SHARD_BITS + OFFSET_BITS)) & ((1 << MS_BITS) - 1)) as i64
    }

    pub fn shard_index(self) -> u32 {
        ((self.0 >> OFFSET_BITS) & MAX_SHARD_INDEX as u128) as u32
    }

    fn position(self) -> u64 {
        self.0 as u64
    }

    /// The log offset a reader positioned AT this number starts from: the record it names, or
    /// the offset after a boundary.
    pub fn at_offset(self) -> u64 {
        match self.version() {
            VERSION_1 => self.position().saturating_sub(1),
            _ => self.position().saturating_sub(1) / 2,
        }
    }

    /// The log offset a reader positioned AFTER this number starts from.
    pub fn after_offset(self) -> u64 {
        match self.version() {
            VERSION_1 => self.position(),
            _ => self.position() / 2,
        }
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
        fn round_trips(ms in 0i64..(1 << 44), shard in 0u32..=MAX_SHARD_INDEX, offset in 0..u64::MAX / 2 - 1) {
            let seq = SequenceNumber::record(ms, shard, offset);
            let parsed = SequenceNumber::parse(&seq.to_string()).unwrap();
            prop_assert_eq!(parsed, seq);
            prop_assert_eq!(parsed.shard_created_ms(), ms);
            prop_assert_eq!(parsed.shard_index(), shard);
            prop_assert_eq!(parsed.at_offset(), offset);
            prop_assert_eq!(parsed.after_offset(), offset + 1);
            prop_assert_eq!(parsed.version(), VERSION);
            prop_assert_eq!(seq.to_string().len(), 38);
            let mut pushed = String::from("x");
            seq.push_to(&mut pushed);
            prop_assert_eq!(pushed, format!("x{seq}"));
        }

        #[test]
        fn ordered_by_offset_within_a_shard(ms in 0i64..(1 << 44), shard in 0u32..100, a in 0..u64::MAX / 2 - 1, b in 0..u64::MAX / 2 - 1) {
            let (x, y) = (SequenceNumber::record(ms, shard, a), SequenceNumber::record(ms, shard, b));
            prop_assert_eq!(a.cmp(&b), x.cmp(&y));
            prop_assert_eq!(a.cmp(&b), x.to_string().cmp(&y.to_string()));
        }

        /// A boundary lies strictly between the records around it, and reading AT or AFTER it
        /// resumes at the record after it.
        #[test]
        fn boundaries_lie_between_records(ms in 0i64..(1 << 44), shard in 0u32..=MAX_SHARD_INDEX, offset in 1..u64::MAX / 2 - 1) {
            let boundary = SequenceNumber::boundary(ms, shard, offset);
            prop_assert!(SequenceNumber::record(ms, shard, offset - 1) < boundary);
            prop_assert!(boundary < SequenceNumber::record(ms, shard, offset));
            let parsed = SequenceNumber::parse(&boundary.to_string()).unwrap();
            prop_assert_eq!(parsed.at_offset(), offset);
            prop_assert_eq!(parsed.after_offset(), offset);
        }

        /// Numbers of the first layout, kept in clients' checkpoints, still position readers,
        /// and every number issued today is larger.
        #[test]
        fn version_1_numbers_are_still_understood(ms in 0i64..(1 << 44), shard in 0u32..=MAX_SHARD_INDEX, offset in 0..u64::MAX - 1) {
            let v1 = (VERSION_1 << VERSION_SHIFT) | ((ms as u128) << (SHARD_BITS + OFFSET_BITS)) | ((shard as u128) << OFFSET_BITS) | (offset as u128 + 1);
            let parsed = SequenceNumber::parse(&v1.to_string()).unwrap();
            prop_assert_eq!(parsed.at_offset(), offset);
            prop_assert_eq!(parsed.after_offset(), offset + 1);
            prop_assert_eq!(parsed.shard_index(), shard);
            prop_assert!(SequenceNumber::boundary(ms, shard, 0) > parsed);
        }

        #[test]
        fn children_sort_after_parents(ms in 0i64..(1 << 43), parent: u32, child: u32, pa: u64, cb: u64) {
            let parent = SequenceNumber::record(ms, parent & MAX_SHARD_INDEX, pa / 2);
            let child = SequenceNumber::boundary(ms + 1, child & MAX_SHARD_INDEX, cb / 2);
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
