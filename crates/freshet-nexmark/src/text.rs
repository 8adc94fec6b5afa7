//! The text of events: the fixed lists (names, cities, states, channels), random words, and the
//! shared tables built once per process from fixed seeds (the `extra` padding pool, the channels'
//! URLs), which the reference also builds once but from unseeded randomness.

use std::sync::OnceLock;

use crate::random::Random;

pub(crate) const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
pub(crate) const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
pub(crate) const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
pub(crate) const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];
pub(crate) const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
/// Bids not on a hot channel use one of this many channels (`channel-N`), each with its own URL.
pub(crate) const CHANNELS: usize = 10_000;

/// Random words are at least this long before trimming.
const MIN_STRING_LENGTH: u64 = 3;
/// Size of the pool `extra` fields are cut from: every `extra` is a slice of it at a random offset,
/// as in Flink's generator, so padding costs no allocation and no random draws per character.
const EXTRA_POOL_BYTES: usize = 1 << 16;
const EXTRA_POOL_SEED: u64 = 0x4e45_584d_4152_4b31; // "NEXMARK1"
const CHANNEL_SEED: u64 = 0x4e45_584d_4152_4b32; // "NEXMARK2"

/// The tables built once: read-only afterwards, shared by every generator.
pub(crate) struct Tables {
    pub(crate) extra_pool: String,
    pub(crate) hot_urls: [String; 4],
    /// `(channel, url)` of channel `N`.
    pub(crate) channels: Vec<(String, String)>,
}

pub(crate) fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(build_tables)
}

fn build_tables() -> Tables {
    let mut random = Random::seeded(EXTRA_POOL_SEED);
    let extra_pool = (0..EXTRA_POOL_BYTES)
        .map(|_| char::from(b'a' + random.below(26) as u8))
        .collect();
    let mut random = Random::seeded(CHANNEL_SEED);
    let hot_urls = std::array::from_fn(|_| base_url(&mut random));
    let channels = (0..CHANNELS)
        .map(|n| {
            let mut url = base_url(&mut random);
            // Nine channels in ten carry an id in their URL (the reference's bit-reversed number;
            // its absolute value overflows for channel 1, as Java's `Math.abs` does there).
            if random.below(10) > 0 {
                let id = (n as i32).reverse_bits().wrapping_abs();
                url.push_str("&channel_id=");
                url.push_str(&id.to_string());
            }
            (format!("channel-{n}"), url)
        })
        .collect();
    Tables {
        extra_pool,
        hot_urls,
        channels,
    }
}

fn base_url(random: &mut Random) -> String {
    let mut url = String::from("https://www.nexmark.com/");
    for _ in 0..3 {
        url.push_str(&random_word(random, 5, '_'));
        url.push('/');
    }
    url.push_str("item.htm?query=1");
    url
}

/// A word of 3 to `max_length - 1` characters: lowercase letters, and `special` one time in 13,
/// trimmed of spaces at both ends.
pub(crate) fn random_word(random: &mut Random, max_length: u64, special: char) -> String {
    let length = MIN_STRING_LENGTH + random.below(max_length - MIN_STRING_LENGTH);
    let mut word = String::with_capacity(length as usize);
    for _ in 0..length {
        if random.below(13) == 0 {
            word.push(special);
        } else {
            word.push(char::from(b'a' + random.below(26) as u8));
        }
    }
    let end = word.trim_end_matches(' ').len();
    word.truncate(end);
    let start = word.len() - word.trim_start_matches(' ').len();
    word.drain(..start);
    word
}

/// Padding that brings an event of `current_size` bytes to `average_size` on average: a length
/// uniform within ±20 % of the shortfall, cut from the shared pool.
pub(crate) fn extra(
    random: &mut Random,
    tables: &'static Tables,
    current_size: u64,
    average_size: u64,
) -> &'static str {
    if current_size > average_size {
        return "";
    }
    let shortfall = average_size - current_size;
    // round(shortfall × 0.2), exactly: a fifth of an integer is never a tie.
    let delta = (shortfall + 2) / 5;
    let length = shortfall - delta
        + if delta == 0 {
            0
        } else {
            random.below(2 * delta)
        };
    let length = (length as usize).min(EXTRA_POOL_BYTES / 2);
    let offset = random.below((EXTRA_POOL_BYTES - length) as u64) as usize;
    &tables.extra_pool[offset..offset + length]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_trimmed_and_bounded() {
        let mut random = Random::seeded(11);
        for _ in 0..10_000 {
            let word = random_word(&mut random, 20, ' ');
            assert!(word.len() < 20);
            assert_eq!(word.trim(), word);
            assert!(word.bytes().all(|b| b == b' ' || b.is_ascii_lowercase()));
        }
    }

    #[test]
    fn tables_are_the_same_every_time() {
        let built = build_tables();
        let shared = tables();
        assert_eq!(built.extra_pool, shared.extra_pool);
        assert_eq!(built.hot_urls, shared.hot_urls);
        assert_eq!(built.channels, shared.channels);
        assert_eq!(shared.channels.len(), CHANNELS);
        assert!(
            shared.channels[1].1.ends_with("&channel_id=-2147483648")
                || !shared.channels[1].1.contains('&')
        );
        assert!(
            shared
                .hot_urls
                .iter()
                .all(|u| u.starts_with("https://www.nexmark.com/"))
        );
    }

    #[test]
    fn extra_pads_to_the_average() {
        let mut random = Random::seeded(5);
        let tables = tables();
        let n = 100_000;
        let total: usize = (0..n)
            .map(|_| extra(&mut random, tables, 32, 100).len())
            .sum();
        let mean = total as f64 / f64::from(n);
        // A shortfall of 68 gives lengths 54..=81: 67.5 on average.
        assert!((mean - 67.5).abs() < 0.3, "mean extra {mean}");
        assert_eq!(extra(&mut random, tables, 120, 100), "");
    }
}
