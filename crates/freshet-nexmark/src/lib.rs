//! The Nexmark benchmark's events and queries. [`Generator`] produces the auction system's event
//! stream (persons registering, auctions opening, bids) after the reference generator of Beam and
//! of Flink's Nexmark benchmark; [`Event::write_json`] writes an event in the JSON layout of Flink's
//! Nexmark table; [`sql`] holds that table's DDL, its three views and the queries, in Flink SQL.
//!
//! Same config, same events: event `n` is computed from `n` alone (its random stream is seeded with
//! it), so generators can start anywhere and split a run between them. The Java twin in
//! `scripts/nexmark-flink/NexmarkGenerator.java` produces the same events for the Flink peer of the
//! benchmark (`scripts/bench-nexmark-peer.sh` checks that their JSON is byte-identical).
//!
//! Where this differs from the reference, and why:
//! - Random numbers: SplitMix64 seeded per event (Beam seeds `java.util.Random` per event; Flink's
//!   generator shares one unseeded `SplittableRandom`, so its runs differ). The draws are the
//!   reference's, in its order, so the distributions are the same.
//! - The shared tables (the 1 MiB pool `extra` fields are cut from, the hot URLs and the 10,000
//!   channel URLs) come from fixed seeds; Flink's come from unseeded randomness.
//! - Event time is `base + n × 1000 / rate` ms in integers (the reference multiplies by a
//!   floating-point delay, which can be 1 ms lower on a few events).
//! - Event numbers start at 0 (Flink's table source starts at 2, from its first event id and event
//!   number of 1 each), and Flink's generator adds `FIRST_PERSON_ID` to a bid's bidder twice (so its
//!   bidders are 1,000 above any person); here bidders are person ids, as in Beam.

mod config;
mod generator;
mod json;
mod model;
mod random;
pub mod sql;
mod text;

pub use config::{
    DEFAULT_BASE_TIME_MS, FIRST_AUCTION_ID, FIRST_CATEGORY_ID, FIRST_PERSON_ID, GeneratorConfig,
};
pub use generator::{AUCTION_ID_LEAD, Generator, PERSON_ID_LEAD};
pub use model::{Auction, Bid, Event, Person};
