//! What every Freshet service runs on, written once: the clock that time is read from (so tests
//! move time by hand instead of sleeping), the lifecycle its resources go through, and the
//! metrics it exposes.

pub mod clock;
pub mod lifecycle;
pub mod metrics;
pub mod recent;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use lifecycle::Status;
