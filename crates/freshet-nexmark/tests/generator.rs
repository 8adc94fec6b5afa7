//! The generator's contract: proportions, determinism from any start, references to persons and
//! auctions that exist (within the reference's leads), monotone event time, well-formed JSON in
//! Flink's table layout, and a pinned digest of the first 100,000 events shared with the Java twin.

use freshet_nexmark::{
    AUCTION_ID_LEAD, DEFAULT_BASE_TIME_MS, Event, FIRST_AUCTION_ID, FIRST_PERSON_ID, Generator,
    GeneratorConfig, PERSON_ID_LEAD,
};
use sha2::{Digest, Sha256};

fn events(start: u64, count: u64) -> Generator {
    Generator::new(GeneratorConfig::default(), start, count)
}

#[test]
fn proportions_per_fifty_events() {
    let mut counts = [0u64; 3];
    for (n, event) in events(0, 50_000).enumerate() {
        counts[usize::from(event.event_type())] += 1;
        let expected = match n % 50 {
            0 => 0,
            1..=3 => 1,
            _ => 2,
        };
        assert_eq!(event.event_type(), expected, "event {n}");
    }
    assert_eq!(counts, [1_000, 3_000, 46_000]);
}

#[test]
fn any_event_is_the_same_from_any_start() {
    let from_zero: Vec<Event> = events(0, 2_000).collect();
    for k in [0, 1, 3, 4, 49, 50, 51, 777, 1_999] {
        let from_k = events(k, 1).next().unwrap();
        assert_eq!(from_k, from_zero[k as usize], "event {k}");
    }
    let again: Vec<Event> = events(0, 2_000).collect();
    assert_eq!(again, from_zero);
    assert_eq!(events(10, 5).len(), 5);
}

#[test]
fn ids_count_up_and_references_stay_within_the_leads() {
    let mut last_person = None;
    let mut last_auction = None;
    let (mut hot_bidders, mut bids, mut bids_ahead) = (0, 0, 0);
    for event in events(0, 200_000) {
        match event {
            Event::Person(p) => {
                assert_eq!(
                    p.id,
                    last_person.map_or(FIRST_PERSON_ID as i64, |id| id + 1)
                );
                last_person = Some(p.id);
            }
            Event::Auction(a) => {
                assert_eq!(
                    a.id,
                    last_auction.map_or(FIRST_AUCTION_ID as i64, |id| id + 1)
                );
                last_auction = Some(a.id);
                let person = last_person.unwrap();
                assert!(a.seller >= FIRST_PERSON_ID as i64);
                assert!(a.seller <= person + PERSON_ID_LEAD as i64);
                assert!((10..15).contains(&a.category));
                assert!(a.reserve > a.initial_bid && a.initial_bid >= 100);
                assert!(a.expires_ms > a.date_time_ms);
            }
            Event::Bid(b) => {
                let (person, auction) = (last_person.unwrap(), last_auction.unwrap());
                assert!(b.auction >= FIRST_AUCTION_ID as i64);
                assert!(b.auction <= auction + AUCTION_ID_LEAD as i64);
                assert!(b.bidder >= FIRST_PERSON_ID as i64);
                assert!(b.bidder <= person + PERSON_ID_LEAD as i64);
                assert!((100..=100_000_000).contains(&b.price));
                bids += 1;
                hot_bidders += i32::from((b.bidder - FIRST_PERSON_ID as i64) % 100 == 1);
                bids_ahead += i32::from(b.bidder > person || b.auction > auction);
            }
        }
    }
    // Three bids in four are by a hot bidder. Only the leads point past the last id: a cold
    // auction (1/2) lands in the lead with 10/111, a hot bidder (3/4) is ahead in one block in
    // 100, a cold one (1/4) with 10/1010; about 5.5 % of bids in all.
    let hot = f64::from(hot_bidders) / f64::from(bids);
    assert!((0.74..0.80).contains(&hot), "hot bidders {hot}");
    let ahead = f64::from(bids_ahead) / f64::from(bids);
    assert!(
        (0.045..0.065).contains(&ahead),
        "bids ahead of the last id {ahead}"
    );
}

#[test]
fn event_time_is_monotone_at_the_configured_rate() {
    let mut previous = i64::MIN;
    for event in events(0, 100_000) {
        assert!(event.date_time_ms() >= previous);
        previous = event.date_time_ms();
    }
    // 10 M events per second: 10,000 per millisecond.
    assert_eq!(previous, DEFAULT_BASE_TIME_MS + 9);
    let slow = GeneratorConfig {
        first_event_rate: 1_000,
        base_time_ms: 0,
        ..GeneratorConfig::default()
    };
    let times: Vec<i64> = Generator::new(slow, 0, 5)
        .map(|e| e.date_time_ms())
        .collect();
    assert_eq!(times, [0, 1, 2, 3, 4]);
}

#[test]
fn json_is_well_formed_in_flink_table_layout() {
    let mut sizes = [(0usize, 0usize); 3];
    let mut line = Vec::new();
    for event in events(0, 10_000) {
        line.clear();
        event.write_json(&mut line);
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        let kind = event.event_type();
        assert_eq!(value["event_type"], u64::from(kind));
        let (set, fields): (&str, &[&str]) = match kind {
            0 => (
                "person",
                &[
                    "id",
                    "name",
                    "emailAddress",
                    "creditCard",
                    "city",
                    "state",
                    "dateTime",
                    "extra",
                ],
            ),
            1 => (
                "auction",
                &[
                    "id",
                    "itemName",
                    "description",
                    "initialBid",
                    "reserve",
                    "dateTime",
                    "expires",
                    "seller",
                    "category",
                    "extra",
                ],
            ),
            _ => (
                "bid",
                &[
                    "auction", "bidder", "price", "channel", "url", "dateTime", "extra",
                ],
            ),
        };
        for row in ["person", "auction", "bid"] {
            assert_eq!(value[row].is_null(), row != set, "{row} in {value}");
        }
        let object = value[set].as_object().unwrap();
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        let mut expected = fields.to_vec();
        expected.sort_unstable();
        assert_eq!(keys, expected);
        let time = object["dateTime"].as_str().unwrap();
        assert_eq!(time.len(), 23);
        assert!(time.starts_with("2026-01-01 00:00:00."), "{time}");
        let size = &mut sizes[usize::from(kind)];
        size.0 += 1;
        size.1 += line.len();
    }
    // The padding brings the fields to the reference's average sizes (200, 500 and 100 bytes, counting
    // 8 per number); the JSON adds its keys, quotes and the two null rows (about 170, 200 and 200).
    let mean = |(n, bytes): (usize, usize)| (bytes / n) as i64;
    assert!(
        (mean(sizes[0]) - 367).abs() < 15,
        "person {}",
        mean(sizes[0])
    );
    assert!(
        (mean(sizes[1]) - 694).abs() < 20,
        "auction {}",
        mean(sizes[1])
    );
    assert!((mean(sizes[2]) - 306).abs() < 10, "bid {}", mean(sizes[2]));
}

/// SHA-256 of the JSON lines of events 0..100,000 (each followed by `\n`) with the default config:
/// the same digest as `java NexmarkBench json 100000` (checked by `scripts/bench-nexmark-peer.sh`).
/// A change here is a change of the event stream: the Java twin must change with it.
const FIRST_100K_SHA256: &str = "9d831f63f60bbad292d780df840e045404f5adbde06349dbe58d50c1594049b6";

#[test]
fn first_100k_events_have_the_pinned_digest() {
    let mut hasher = Sha256::new();
    let mut line = Vec::with_capacity(1024);
    for event in events(0, 100_000) {
        line.clear();
        event.write_json(&mut line);
        line.push(b'\n');
        hasher.update(&line);
    }
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(digest, FIRST_100K_SHA256);
}
