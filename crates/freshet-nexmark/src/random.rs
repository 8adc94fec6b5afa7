//! The generator's random numbers: SplitMix64 streams seeded with an event's number, so that any event
//! can be computed from its number alone. The Java peer (`scripts/nexmark-flink/NexmarkGenerator.java`)
//! implements the same three operations, bit for bit, so both produce the same events.

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's finaliser (Stafford's variant 13), also used to scatter the seed.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A SplitMix64 stream (the generator of Java's `SplittableRandom`, with a scattered seed).
pub(crate) struct Random {
    state: u64,
}

impl Random {
    pub(crate) fn seeded(seed: u64) -> Self {
        Self { state: mix64(seed) }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix64(self.state)
    }

    /// Uniform in `[0, bound)` for `bound > 0`: the high half of a 64×64-bit product (Lemire's method
    /// without its rejection step; the bias, below `bound / 2^64`, is immaterial here and leaving
    /// the loop out keeps the Java twin short).
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        debug_assert!(bound > 0);
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut random = Random::seeded(7);
        let mut seen = [false; 13];
        for _ in 0..10_000 {
            let v = random.below(13) as usize;
            seen[v] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(Random::seeded(1).next_u64(), Random::seeded(1).next_u64());
        assert_ne!(Random::seeded(1).next_u64(), Random::seeded(2).next_u64());
    }

    #[test]
    fn unit_is_in_zero_one() {
        let mut random = Random::seeded(3);
        for _ in 0..10_000 {
            let u = random.unit();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
