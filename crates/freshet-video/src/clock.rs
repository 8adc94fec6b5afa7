//! Wall-clock time and the wire's timestamps: AWS rest-json carries epoch seconds (fractional),
//! the service keeps milliseconds.

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A request timestamp (epoch seconds) in milliseconds.
pub fn epoch_ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

/// Milliseconds as an answer's timestamp (epoch seconds).
pub fn epoch_seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}
