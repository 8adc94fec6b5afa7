//! Turns an event number into its event. Each event draws from its own random stream, seeded with
//! its number (as Beam's reference generator seeds `java.util.Random` with the event id), so a run
//! can start anywhere and the same config always gives the same events.

use crate::config::{FIRST_AUCTION_ID, FIRST_CATEGORY_ID, FIRST_PERSON_ID, GeneratorConfig, Slot};
use crate::model::{Auction, Bid, Event, Person};
use crate::random::Random;
use crate::text::{
    self, CHANNELS, FIRST_NAMES, HOT_CHANNELS, LAST_NAMES, Tables, US_CITIES, US_STATES,
};

/// Sellers and bidders may be up to this many persons ahead of the last one created, and bids up
/// to this many auctions ahead: the reference's "leads", which make some new-person and
/// new-auction events look swapped in time with the events that use them.
pub const PERSON_ID_LEAD: u64 = 10;
pub const AUCTION_ID_LEAD: u64 = 10;
/// Hot sellers are the first person of each batch of this many, hot bidders the second; hot
/// auctions the first auction of each batch.
const HOT_SELLER_BATCH: u64 = 100;
const HOT_BIDDER_BATCH: u64 = 100;
const HOT_AUCTION_BATCH: u64 = 100;
const NUM_CATEGORIES: u64 = 5;
/// One bid in this many uses one of the (four) hot channels; the others use one of `CHANNELS`.
const HOT_CHANNELS_RATIO: u64 = 2;

/// The events numbered `start_event .. start_event + count`, in order.
#[derive(Clone)]
pub struct Generator {
    config: GeneratorConfig,
    tables: &'static Tables,
    next: u64,
    end: u64,
}

impl Generator {
    /// Panics if a count, ratio or rate of `config` is zero.
    pub fn new(config: GeneratorConfig, start_event: u64, count: u64) -> Self {
        config.check();
        Self {
            config,
            tables: text::tables(),
            next: start_event,
            end: start_event.saturating_add(count),
        }
    }

    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// The number of the event `next` returns.
    pub fn next_event_number(&self) -> u64 {
        self.next
    }

    /// Event `number` of this config, whatever the generator's position.
    pub fn event_at(&self, number: u64) -> Event {
        let config = &self.config;
        let mut random = Random::seeded(number);
        let time = config.event_time_ms(number);
        match config.slot(number) {
            Slot::Person { id } => {
                Event::Person(person(config, self.tables, &mut random, id, time))
            }
            Slot::Auction { id, last_person } => Event::Auction(auction(
                config,
                self.tables,
                &mut random,
                number,
                id,
                last_person,
                time,
            )),
            Slot::Bid {
                last_auction,
                last_person,
            } => Event::Bid(bid(
                config,
                self.tables,
                &mut random,
                last_auction,
                last_person,
                time,
            )),
        }
    }
}

impl Iterator for Generator {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        if self.next >= self.end {
            return None;
        }
        let event = self.event_at(self.next);
        self.next += 1;
        Some(event)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.end - self.next).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Generator {}

fn person(
    config: &GeneratorConfig,
    tables: &'static Tables,
    random: &mut Random,
    id: u64,
    time: i64,
) -> Person {
    let mut name = String::from(pick(random, &FIRST_NAMES));
    name.push(' ');
    name.push_str(pick(random, &LAST_NAMES));
    let mut email_address = text::random_word(random, 7, ' ');
    email_address.push('@');
    email_address.push_str(&text::random_word(random, 5, ' '));
    email_address.push_str(".com");
    let credit_card = credit_card(random);
    let city = pick(random, &US_CITIES);
    let state = pick(random, &US_STATES);
    let size = 8 + name.len() + email_address.len() + credit_card.len() + city.len() + state.len();
    let extra = text::extra(random, tables, size as u64, config.avg_person_bytes);
    Person {
        id: (FIRST_PERSON_ID + id) as i64,
        name,
        email_address,
        credit_card,
        city,
        state,
        date_time_ms: time,
        extra,
    }
}

fn auction(
    config: &GeneratorConfig,
    tables: &'static Tables,
    random: &mut Random,
    number: u64,
    id: u64,
    last_person: u64,
    time: i64,
) -> Auction {
    let seller = if random.below(config.hot_sellers_ratio) > 0 {
        (last_person / HOT_SELLER_BATCH) * HOT_SELLER_BATCH
    } else {
        recent_person(config, random, last_person)
    };
    let category = FIRST_CATEGORY_ID + random.below(NUM_CATEGORIES);
    let initial_bid = price(random);
    let expires_ms = time + auction_length_ms(config, random, number, time);
    let item_name = text::random_word(random, 20, ' ');
    let description = text::random_word(random, 100, ' ');
    let reserve = initial_bid + price(random);
    let size = 8 + item_name.len() + description.len() + 8 + 8 + 8 + 8 + 8;
    let extra = text::extra(random, tables, size as u64, config.avg_auction_bytes);
    Auction {
        id: (FIRST_AUCTION_ID + id) as i64,
        item_name,
        description,
        initial_bid,
        reserve,
        date_time_ms: time,
        expires_ms,
        seller: (FIRST_PERSON_ID + seller) as i64,
        category: category as i64,
        extra,
    }
}

fn bid(
    config: &GeneratorConfig,
    tables: &'static Tables,
    random: &mut Random,
    last_auction: u64,
    last_person: u64,
    time: i64,
) -> Bid {
    let auction = if random.below(config.hot_auction_ratio) > 0 {
        (last_auction / HOT_AUCTION_BATCH) * HOT_AUCTION_BATCH
    } else {
        let oldest = last_auction.saturating_sub(config.num_in_flight_auctions);
        oldest + random.below(last_auction - oldest + 1 + AUCTION_ID_LEAD)
    };
    // The second person of the batch, so that hot bidders and hot sellers differ.
    let bidder = if random.below(config.hot_bidders_ratio) > 0 {
        (last_person / HOT_BIDDER_BATCH) * HOT_BIDDER_BATCH + 1
    } else {
        recent_person(config, random, last_person)
    };
    let price = price(random);
    let (channel, url) = if random.below(HOT_CHANNELS_RATIO) > 0 {
        let i = random.below(HOT_CHANNELS.len() as u64) as usize;
        (HOT_CHANNELS[i], tables.hot_urls[i].as_str())
    } else {
        let (channel, url) = &tables.channels[random.below(CHANNELS as u64) as usize];
        (channel.as_str(), url.as_str())
    };
    let extra = text::extra(random, tables, 8 + 8 + 8 + 8, config.avg_bid_bytes);
    Bid {
        auction: (FIRST_AUCTION_ID + auction) as i64,
        bidder: (FIRST_PERSON_ID + bidder) as i64,
        price,
        channel,
        url,
        date_time_ms: time,
        extra,
    }
}

/// One of the `num_active_people` most recent persons, or up to `PERSON_ID_LEAD` beyond them.
fn recent_person(config: &GeneratorConfig, random: &mut Random, last_person: u64) -> u64 {
    let people = last_person + 1;
    let active = people.min(config.num_active_people);
    people - active + random.below(active + PERSON_ID_LEAD)
}

/// How long an auction runs: uniform in `1 ..= 2 × horizon` ms, where the horizon is the event
/// time until `num_in_flight_auctions` more auctions have opened (at least 1 ms).
fn auction_length_ms(config: &GeneratorConfig, random: &mut Random, number: u64, time: i64) -> i64 {
    let events_for_auctions =
        config.num_in_flight_auctions * config.total_proportion() / config.auction_proportion;
    let horizon = config.event_time_ms(number + events_for_auctions) - time;
    1 + random.below((horizon * 2).max(1) as u64) as i64
}

/// A price in cents, log-uniform between 1 dollar and 1 million dollars. Rounded as `(long) (x +
/// 0.5)` in both languages (the reference's `Math.round`, without a libm call).
fn price(random: &mut Random) -> i64 {
    (10f64.powf(random.unit() * 6.0) * 100.0 + 0.5) as i64
}

fn credit_card(random: &mut Random) -> String {
    let mut card = String::with_capacity(19);
    for group in 0..4 {
        if group > 0 {
            card.push(' ');
        }
        let digits = random.below(10_000);
        for divisor in [1000, 100, 10, 1] {
            card.push(char::from(b'0' + (digits / divisor % 10) as u8));
        }
    }
    card
}

fn pick<const N: usize>(random: &mut Random, list: &[&'static str; N]) -> &'static str {
    list[random.below(N as u64) as usize]
}
