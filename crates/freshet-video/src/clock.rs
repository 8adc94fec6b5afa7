//! The wire's timestamps: AWS rest-json carries epoch seconds (fractional), the service keeps
//! milliseconds. Time itself is read from the service's clock (`VideoConfig::clock`).

/// A request timestamp (epoch seconds) in milliseconds.
pub fn epoch_ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

/// Milliseconds as an answer's timestamp (epoch seconds).
pub fn epoch_seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}
