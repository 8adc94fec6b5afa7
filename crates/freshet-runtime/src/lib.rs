//! What every Freshet service runs on, written once: the clock that time is read from (so tests
//! move time by hand instead of sleeping).

pub mod clock;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
