//! The three kinds of Nexmark events, as plain values. Ids, prices and categories are `i64` like
//! their `BIGINT` columns; times are milliseconds since the Unix epoch (UTC).

/// A new person registers (event type 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub id: i64,
    pub name: String,
    pub email_address: String,
    pub credit_card: String,
    pub city: &'static str,
    pub state: &'static str,
    pub date_time_ms: i64,
    pub extra: &'static str,
}

/// A person opens an auction (event type 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auction {
    pub id: i64,
    pub item_name: String,
    pub description: String,
    pub initial_bid: i64,
    pub reserve: i64,
    pub date_time_ms: i64,
    pub expires_ms: i64,
    pub seller: i64,
    pub category: i64,
    pub extra: &'static str,
}

/// A person bids on an auction (event type 2). Its text fields come from shared tables, so a bid
/// allocates nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bid {
    pub auction: i64,
    pub bidder: i64,
    pub price: i64,
    pub channel: &'static str,
    pub url: &'static str,
    pub date_time_ms: i64,
    pub extra: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Person(Person),
    Auction(Auction),
    Bid(Bid),
}

impl Event {
    /// The `event_type` column of Flink's Nexmark table: 0 person, 1 auction, 2 bid.
    pub fn event_type(&self) -> u8 {
        match self {
            Event::Person(_) => 0,
            Event::Auction(_) => 1,
            Event::Bid(_) => 2,
        }
    }

    /// Event time in milliseconds since the epoch (the table's computed `dateTime` column).
    pub fn date_time_ms(&self) -> i64 {
        match self {
            Event::Person(person) => person.date_time_ms,
            Event::Auction(auction) => auction.date_time_ms,
            Event::Bid(bid) => bid.date_time_ms,
        }
    }
}
