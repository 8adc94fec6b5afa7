//! Events as JSON in the layout of Flink's Nexmark table (`event_type`, then the `person`,
//! `auction` and `bid` rows, two of them null), written by hand: this is on the benchmark's hot path.
//! Timestamps are Flink's JSON format for `TIMESTAMP(3)` (`json.timestamp-format.standard` = `SQL`):
//! `yyyy-MM-dd HH:mm:ss.SSS`, UTC.

use std::cell::Cell;

use crate::model::{Auction, Bid, Event, Person};

impl Event {
    /// Appends the event's JSON object (no newline) to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.reserve(match self {
            Event::Person(_) => 320,
            Event::Auction(_) => 640,
            Event::Bid(_) => 240,
        });
        out.extend_from_slice(b"{\"event_type\":");
        out.push(b'0' + self.event_type());
        out.extend_from_slice(b",\"person\":");
        match self {
            Event::Person(person) => write_person(person, out),
            _ => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"auction\":");
        match self {
            Event::Auction(auction) => write_auction(auction, out),
            _ => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"bid\":");
        match self {
            Event::Bid(bid) => write_bid(bid, out),
            _ => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
    }
}

fn write_person(person: &Person, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"id\":");
    write_i64(person.id, out);
    out.extend_from_slice(b",\"name\":");
    write_str(&person.name, out);
    out.extend_from_slice(b",\"emailAddress\":");
    write_str(&person.email_address, out);
    out.extend_from_slice(b",\"creditCard\":");
    write_str(&person.credit_card, out);
    out.extend_from_slice(b",\"city\":");
    write_str(person.city, out);
    out.extend_from_slice(b",\"state\":");
    write_str(person.state, out);
    out.extend_from_slice(b",\"dateTime\":");
    write_timestamp(person.date_time_ms, out);
    out.extend_from_slice(b",\"extra\":");
    write_str(person.extra, out);
    out.push(b'}');
}

fn write_auction(auction: &Auction, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"id\":");
    write_i64(auction.id, out);
    out.extend_from_slice(b",\"itemName\":");
    write_str(&auction.item_name, out);
    out.extend_from_slice(b",\"description\":");
    write_str(&auction.description, out);
    out.extend_from_slice(b",\"initialBid\":");
    write_i64(auction.initial_bid, out);
    out.extend_from_slice(b",\"reserve\":");
    write_i64(auction.reserve, out);
    out.extend_from_slice(b",\"dateTime\":");
    write_timestamp(auction.date_time_ms, out);
    out.extend_from_slice(b",\"expires\":");
    write_timestamp(auction.expires_ms, out);
    out.extend_from_slice(b",\"seller\":");
    write_i64(auction.seller, out);
    out.extend_from_slice(b",\"category\":");
    write_i64(auction.category, out);
    out.extend_from_slice(b",\"extra\":");
    write_str(auction.extra, out);
    out.push(b'}');
}

fn write_bid(bid: &Bid, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"auction\":");
    write_i64(bid.auction, out);
    out.extend_from_slice(b",\"bidder\":");
    write_i64(bid.bidder, out);
    out.extend_from_slice(b",\"price\":");
    write_i64(bid.price, out);
    out.extend_from_slice(b",\"channel\":");
    write_str(bid.channel, out);
    out.extend_from_slice(b",\"url\":");
    write_str(bid.url, out);
    out.extend_from_slice(b",\"dateTime\":");
    write_timestamp(bid.date_time_ms, out);
    out.extend_from_slice(b",\"extra\":");
    write_str(bid.extra, out);
    out.push(b'}');
}

/// "00", "01", ... "99": two digits per table read instead of a division per digit.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

fn digit_pair(value: u32) -> [u8; 2] {
    let at = 2 * value as usize;
    [DIGIT_PAIRS[at], DIGIT_PAIRS[at + 1]]
}

fn write_i64(value: i64, out: &mut Vec<u8>) {
    if value < 0 {
        out.push(b'-');
    }
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value.unsigned_abs();
    while rest >= 100 {
        at -= 2;
        digits[at..at + 2].copy_from_slice(&digit_pair((rest % 100) as u32));
        rest /= 100;
    }
    if rest >= 10 {
        at -= 2;
        digits[at..at + 2].copy_from_slice(&digit_pair(rest as u32));
    } else {
        at -= 1;
        digits[at] = b'0' + rest as u8;
    }
    out.extend_from_slice(&digits[at..]);
}

/// A JSON string. Generated text never needs escaping (letters, digits, spaces and URL
/// punctuation); the check is for values a caller put in the public fields.
fn write_str(value: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    if needs_escape(value.as_bytes()) {
        write_escaped(value, out);
    } else {
        out.extend_from_slice(value.as_bytes());
    }
    out.push(b'"');
}

/// Whether `bytes` hold a control character, a quote or a backslash: eight bytes per step, with the
/// word tricks "has a byte less than n" and "has a zero byte" (exact for whether any byte matches).
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        // `& !x` keeps bytes whose top bit was clear: UTF-8 bytes (>= 0x80) never count as control.
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        if control
            | has_zero(x ^ (ONES * u64::from(b'"')))
            | has_zero(x ^ (ONES * u64::from(b'\\')))
            != 0
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

fn write_escaped(value: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in value.bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..0x20 => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 15)]);
            }
            _ => out.push(b),
        }
    }
}

/// `"yyyy-MM-dd HH:mm:ss.SSS"` of a time in ms since the epoch, UTC (years 0 to 9999).
fn write_timestamp(ms: i64, out: &mut Vec<u8>) {
    let days = ms.div_euclid(86_400_000);
    let ms_of_day = ms.rem_euclid(86_400_000) as u32;
    let (hour, minute) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60);
    let (second, milli) = (ms_of_day / 1000 % 60, ms_of_day % 1000);
    let mut text = [0u8; 25];
    text[0] = b'"';
    text[1..11].copy_from_slice(&date_text(days));
    text[11] = b' ';
    text[12..14].copy_from_slice(&digit_pair(hour));
    text[14] = b':';
    text[15..17].copy_from_slice(&digit_pair(minute));
    text[17] = b':';
    text[18..20].copy_from_slice(&digit_pair(second));
    text[20] = b'.';
    text[21] = b'0' + (milli / 100) as u8;
    text[22..24].copy_from_slice(&digit_pair(milli % 100));
    text[24] = b'"';
    out.extend_from_slice(&text);
}

/// `yyyy-MM-dd` of a day since the epoch. Event times move forward, so the last day's text is kept
/// (per thread) and the calendar arithmetic runs once a day of event time.
fn date_text(days: i64) -> [u8; 10] {
    thread_local! {
        static LAST: Cell<(i64, [u8; 10])> = const { Cell::new((i64::MIN, [0; 10])) };
    }
    LAST.with(|last| {
        let (cached_days, cached) = last.get();
        if cached_days == days {
            return cached;
        }
        let (year, month, day) = civil_from_days(days);
        let year = year.clamp(0, 9999) as u32;
        let mut text = [b'-'; 10];
        text[0..2].copy_from_slice(&digit_pair(year / 100));
        text[2..4].copy_from_slice(&digit_pair(year % 100));
        text[5..7].copy_from_slice(&digit_pair(month));
        text[8..10].copy_from_slice(&digit_pair(day));
        last.set((days, text));
        text
    })
}

/// (year, month, day) of a day count since 1970-01-01 in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timestamp(ms: i64) -> String {
        let mut out = Vec::new();
        write_timestamp(ms, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn timestamps_are_flink_sql_format() {
        assert_eq!(timestamp(0), "\"1970-01-01 00:00:00.000\"");
        assert_eq!(timestamp(1_767_225_600_123), "\"2026-01-01 00:00:00.123\"");
        // 2024-02-29T23:59:59.999Z (a leap day).
        assert_eq!(timestamp(1_709_251_199_999), "\"2024-02-29 23:59:59.999\"");
        assert_eq!(timestamp(951_782_400_000), "\"2000-02-29 00:00:00.000\"");
        assert_eq!(timestamp(-1), "\"1969-12-31 23:59:59.999\"");
    }

    #[test]
    fn escape_check_finds_every_position() {
        let clean = b"abcdefghijklmnopqrstuvwxyz ABC/?=&_-.:0123456789";
        assert!(!needs_escape(clean));
        assert!(!needs_escape("héllo wörld, ça va très bien".as_bytes()));
        for at in 0..clean.len() {
            for bad in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                let mut text = clean.to_vec();
                text[at] = bad;
                assert!(needs_escape(&text), "{bad:#x} at {at}");
            }
        }
    }

    #[test]
    fn numbers_and_escapes() {
        let mut out = Vec::new();
        write_i64(-9_223_372_036_854_775_808, &mut out);
        out.push(b' ');
        write_i64(0, &mut out);
        out.push(b' ');
        write_str("a\"b\\c\n\u{1}é", &mut out);
        out.push(b' ');
        write_i64(1_234_567, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "-9223372036854775808 0 \"a\\\"b\\\\c\\n\\u0001é\" 1234567"
        );
    }
}
