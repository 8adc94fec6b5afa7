//! What a generator is asked to produce, and the arithmetic on event numbers that follows from it:
//! which kind of event a number is, the last person or auction created before it, and its event time.

/// Person and auction ids start here (as in the reference), so that small runs still find matches.
pub const FIRST_PERSON_ID: u64 = 1000;
pub const FIRST_AUCTION_ID: u64 = 1000;
pub const FIRST_CATEGORY_ID: u64 = 10;

/// 2026-01-01T00:00:00Z in milliseconds since the epoch: the default event time of event 0.
pub const DEFAULT_BASE_TIME_MS: i64 = 1_767_225_600_000;

/// The settings of a Nexmark generator. The defaults are the reference's (Beam's and Flink's
/// `NexmarkConfiguration`), except for the event rate, which is Flink's Nexmark benchmark setting
/// (10 M events/s, `nexmark.workload.suite.100m.tps`).
///
/// Every count, ratio and rate must be at least 1 ([`crate::Generator::new`] checks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// Events per second of event time: event `n` happens at `base_time_ms + n × 1000 / rate` ms
    /// (the reference's inter-event delay of `10^6 / rate` µs). Events are produced as fast as the
    /// consumer takes them; the rate only spaces their timestamps.
    pub first_event_rate: u64,
    /// Event time of event 0, in milliseconds since the Unix epoch (UTC).
    pub base_time_ms: i64,
    /// Out of every `person + auction + bid` events, the first `person` are persons, the next
    /// `auction` are auctions and the rest are bids (1, 3 and 46 by default).
    pub person_proportion: u64,
    pub auction_proportion: u64,
    pub bid_proportion: u64,
    /// Average encoded sizes the `extra` fields pad events to (200, 500 and 100 bytes).
    pub avg_person_bytes: u64,
    pub avg_auction_bytes: u64,
    pub avg_bid_bytes: u64,
    /// A bid is for a hot auction with probability `1 - 1/ratio` (2 by default: one half).
    pub hot_auction_ratio: u64,
    /// An auction's seller is a hot person with probability `1 - 1/ratio` (4 by default).
    pub hot_sellers_ratio: u64,
    /// A bid's bidder is a hot person with probability `1 - 1/ratio` (4 by default).
    pub hot_bidders_ratio: u64,
    /// Other bids go to one of the last this many auctions (plus a lead of 10 not yet created).
    pub num_in_flight_auctions: u64,
    /// Other sellers and bidders are one of the last this many persons (plus a lead of 10).
    pub num_active_people: u64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            first_event_rate: 10_000_000,
            base_time_ms: DEFAULT_BASE_TIME_MS,
            person_proportion: 1,
            auction_proportion: 3,
            bid_proportion: 46,
            avg_person_bytes: 200,
            avg_auction_bytes: 500,
            avg_bid_bytes: 100,
            hot_auction_ratio: 2,
            hot_sellers_ratio: 4,
            hot_bidders_ratio: 4,
            num_in_flight_auctions: 100,
            num_active_people: 1000,
        }
    }
}

/// The kind of an event number, with the ids (base 0) of the last person and auction that exist
/// when it is generated. The person id is the new person's for a person event, the auction id the
/// new auction's for an auction event. Auctions precede bids in every block, so a bid always has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    Person { id: u64 },
    Auction { id: u64, last_person: u64 },
    Bid { last_auction: u64, last_person: u64 },
}

impl GeneratorConfig {
    pub(crate) fn total_proportion(&self) -> u64 {
        self.person_proportion + self.auction_proportion + self.bid_proportion
    }

    /// Event time of event `number`, in milliseconds since the epoch: the integer floor of
    /// `number × 1000 / rate` (the reference computes `number × delay_us` in floating point, which
    /// can land 1 ms lower on a few events; integers make it exact and the same in Java).
    pub fn event_time_ms(&self, number: u64) -> i64 {
        let offset = match number.checked_mul(1000) {
            Some(scaled) => scaled / self.first_event_rate,
            None => (u128::from(number) * 1000 / u128::from(self.first_event_rate)) as u64,
        };
        self.base_time_ms + offset as i64
    }

    /// Which kind of event `number` is, and the ids around it. Per block of `total_proportion`
    /// events, persons come first, then auctions, then bids: event 0 is person 0 (id 1000), events
    /// 1..=3 auctions 0..=2, events 4..=49 bids, event 50 person 1 and so on.
    pub(crate) fn slot(&self, number: u64) -> Slot {
        let total = self.total_proportion();
        let (block, offset) = (number / total, number % total);
        let block_first_person = block * self.person_proportion;
        let block_first_auction = block * self.auction_proportion;
        if offset < self.person_proportion {
            return Slot::Person {
                id: block_first_person + offset,
            };
        }
        let last_person = block_first_person + self.person_proportion - 1;
        let auction_offset = offset - self.person_proportion;
        if auction_offset < self.auction_proportion {
            Slot::Auction {
                id: block_first_auction + auction_offset,
                last_person,
            }
        } else {
            Slot::Bid {
                last_auction: block_first_auction + self.auction_proportion - 1,
                last_person,
            }
        }
    }

    pub(crate) fn check(&self) {
        let positive = [
            ("first_event_rate", self.first_event_rate),
            ("person_proportion", self.person_proportion),
            ("auction_proportion", self.auction_proportion),
            ("bid_proportion", self.bid_proportion),
            ("hot_auction_ratio", self.hot_auction_ratio),
            ("hot_sellers_ratio", self.hot_sellers_ratio),
            ("hot_bidders_ratio", self.hot_bidders_ratio),
            ("num_in_flight_auctions", self.num_in_flight_auctions),
            ("num_active_people", self.num_active_people),
        ];
        for (name, value) in positive {
            assert!(value > 0, "GeneratorConfig::{name} must be at least 1");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_block_layout() {
        let config = GeneratorConfig::default();
        assert_eq!(config.slot(0), Slot::Person { id: 0 });
        assert_eq!(
            config.slot(1),
            Slot::Auction {
                id: 0,
                last_person: 0
            }
        );
        assert_eq!(
            config.slot(3),
            Slot::Auction {
                id: 2,
                last_person: 0
            }
        );
        assert_eq!(
            config.slot(4),
            Slot::Bid {
                last_auction: 2,
                last_person: 0
            }
        );
        assert_eq!(config.slot(50), Slot::Person { id: 1 });
        assert_eq!(
            config.slot(51),
            Slot::Auction {
                id: 3,
                last_person: 1
            }
        );
        assert_eq!(
            config.slot(99),
            Slot::Bid {
                last_auction: 5,
                last_person: 1
            }
        );
    }

    #[test]
    fn event_time_is_number_times_delay() {
        let config = GeneratorConfig::default();
        assert_eq!(config.event_time_ms(0), DEFAULT_BASE_TIME_MS);
        assert_eq!(config.event_time_ms(9_999), DEFAULT_BASE_TIME_MS);
        assert_eq!(config.event_time_ms(10_000), DEFAULT_BASE_TIME_MS + 1);
        assert_eq!(
            config.event_time_ms(10_000_000),
            DEFAULT_BASE_TIME_MS + 1000
        );
        let slow = GeneratorConfig {
            first_event_rate: 3,
            ..GeneratorConfig::default()
        };
        assert_eq!(slow.event_time_ms(1) - slow.base_time_ms, 333);
        assert_eq!(slow.event_time_ms(3) - slow.base_time_ms, 1000);
    }
}
