//! What every Freshet service runs on, written once: the clock that time is read from (so tests
//! move time by hand instead of sleeping) and the lifecycle its resources go through.

pub mod clock;
pub mod lifecycle;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use lifecycle::Status;
