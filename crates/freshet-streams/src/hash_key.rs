//! Hash keys: how a partition key or an explicit hash key picks a shard.
//! AWS maps a partition key to a 128-bit integer with MD5 (big-endian), and a shard owns an
//! inclusive range of that space.

use md5::{Digest, Md5};

/// An inclusive range of the 128-bit hash-key space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashKeyRange {
    pub start: u128,
    pub end: u128,
}

impl HashKeyRange {
    pub fn contains(&self, key: u128) -> bool {
        self.start <= key && key <= self.end
    }

    /// `n` ranges that tile the whole space evenly, as AWS lays out a new stream's shards:
    /// each range is `2^128 / n` wide, the last one taking the remainder.
    pub fn even(n: u32) -> Vec<HashKeyRange> {
        let n = n.max(1);
        let width = if n == 1 {
            0
        } else {
            // 2^128 / n without overflowing: (2^128 - 1) / n, adjusted when n divides 2^128.
            let w = u128::MAX / n as u128;
            if (u128::MAX % n as u128) == n as u128 - 1 {
                w + 1
            } else {
                w
            }
        };
        (0..n)
            .map(|i| {
                let start = width * i as u128;
                let end = if i + 1 == n {
                    u128::MAX
                } else {
                    width * (i as u128 + 1) - 1
                };
                HashKeyRange { start, end }
            })
            .collect()
    }
}

/// The hash key of a partition key: its MD5 digest read as a big-endian 128-bit integer.
pub fn partition_hash(partition_key: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_aws_layouts() {
        let two = HashKeyRange::even(2);
        assert_eq!(
            two[0].end.to_string(),
            "170141183460469231731687303715884105727"
        );
        assert_eq!(
            two[1].start.to_string(),
            "170141183460469231731687303715884105728"
        );
        let three = HashKeyRange::even(3);
        assert_eq!(
            three[0].end.to_string(),
            "113427455640312821154458202477256070484"
        );
        assert_eq!(three[2].end, u128::MAX);
        assert_eq!(
            HashKeyRange::even(1),
            vec![HashKeyRange {
                start: 0,
                end: u128::MAX
            }]
        );
    }

    #[test]
    fn md5_is_big_endian() {
        // md5("a") = 0cc175b9c0f1b6a831c399e269772661
        assert_eq!(partition_hash("a"), 0x0cc175b9c0f1b6a831c399e269772661);
    }

    proptest! {
        #[test]
        fn even_ranges_tile_the_space(n in 1u32..2000) {
            let ranges = HashKeyRange::even(n);
            prop_assert_eq!(ranges.len(), n as usize);
            prop_assert_eq!(ranges[0].start, 0);
            prop_assert_eq!(ranges[ranges.len() - 1].end, u128::MAX);
            for pair in ranges.windows(2) {
                prop_assert!(pair[0].start <= pair[0].end);
                prop_assert_eq!(pair[0].end + 1, pair[1].start);
            }
        }

        #[test]
        fn every_key_has_exactly_one_shard(n in 1u32..64, key: u128) {
            let owners = HashKeyRange::even(n).iter().filter(|r| r.contains(key)).count();
            prop_assert_eq!(owners, 1);
        }
    }
}
