//! The one clock. Every reading of time in the services goes through a `Clock`: wall time for
//! what the wire shows (arrival timestamps, creation times, expiry) and monotonic time for
//! deadlines and intervals. The server runs on `SystemClock`; tests inject a `ManualClock` and
//! move it by hand, so no test waits for time to pass. Direct `SystemTime::now` and
//! `Instant::now` are banned elsewhere by clippy's `disallowed-methods` (see `clippy.toml`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

/// A future that resolves when a clock reaches a deadline.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

pub trait Clock: Send + Sync + fmt::Debug {
    /// Wall-clock time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// Time since this clock's origin; never goes back.
    fn elapsed(&self) -> Duration;
    /// Resolves once `elapsed()` reads `deadline` or later.
    fn sleep_until(&self, deadline: Duration) -> Sleep;
}

/// A clock shared by every part of a server: cheap to clone.
#[derive(Clone, Debug)]
pub struct SharedClock(Arc<dyn Clock>);

impl SharedClock {
    pub fn new(clock: impl Clock + 'static) -> SharedClock {
        SharedClock(Arc::new(clock))
    }

    /// The real clock.
    pub fn system() -> SharedClock {
        SharedClock::new(SystemClock::new())
    }

    /// Resolves after `delay` on this clock.
    pub fn sleep(&self, delay: Duration) -> Sleep {
        self.0.sleep_until(self.0.elapsed() + delay)
    }
}

impl Default for SharedClock {
    fn default() -> Self {
        SharedClock::system()
    }
}

impl std::ops::Deref for SharedClock {
    type Target = dyn Clock;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

/// The operating system's clocks; sleeps on tokio's timer.
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
    tokio_origin: tokio::time::Instant,
}

impl SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place the real clocks are read
    pub fn new() -> SystemClock {
        SystemClock {
            origin: Instant::now(),
            tokio_origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place the real clocks are read
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }

    fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep_until(&self, deadline: Duration) -> Sleep {
        Box::pin(tokio::time::sleep_until(self.tokio_origin + deadline))
    }
}

/// A clock that stands still until `advance` moves it; its sleeps end when it passes them.
#[derive(Debug)]
pub struct ManualClock {
    /// (wall ms, elapsed)
    now: watch::Sender<(i64, Duration)>,
}

impl ManualClock {
    /// Starts at `wall_ms` on the wall clock and zero elapsed.
    pub fn new(wall_ms: i64) -> ManualClock {
        ManualClock {
            now: watch::Sender::new((wall_ms, Duration::ZERO)),
        }
    }

    /// A manual clock in a `SharedClock`, and a handle to move it.
    pub fn shared(wall_ms: i64) -> (SharedClock, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(wall_ms));
        (SharedClock(clock.clone()), clock)
    }

    /// Moves wall and monotonic time forward by `by`, waking the sleeps it passes.
    pub fn advance(&self, by: Duration) {
        self.now.send_modify(|(wall, elapsed)| {
            *wall += by.as_millis() as i64;
            *elapsed += by;
        });
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.borrow().0
    }

    fn elapsed(&self) -> Duration {
        self.now.borrow().1
    }

    fn sleep_until(&self, deadline: Duration) -> Sleep {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            // A closed sender (the clock dropped) never reaches the deadline.
            if rx
                .wait_for(|(_, elapsed)| *elapsed >= deadline)
                .await
                .is_err()
            {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_sleeps_end_when_the_clock_passes_them() {
        let (clock, hand) = ManualClock::shared(1_000);
        let mut sleep = clock.sleep(Duration::from_millis(500));
        assert_eq!(clock.now_ms(), 1_000);
        hand.advance(Duration::from_millis(499));
        assert!(
            futures_poll(&mut sleep).is_pending(),
            "not yet at the deadline"
        );
        hand.advance(Duration::from_millis(1));
        sleep.await;
        assert_eq!(clock.now_ms(), 1_500);
        assert_eq!(clock.elapsed(), Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn system_sleeps_follow_tokio_time() {
        let clock = SharedClock::system();
        let before = clock.now_ms();
        clock.sleep(Duration::from_secs(3600)).await;
        // tokio's paused time jumped; the wall clock did not.
        assert!(clock.now_ms() - before < 3_600_000);
    }

    fn futures_poll(sleep: &mut Sleep) -> std::task::Poll<()> {
        let waker = std::task::Waker::noop();
        sleep
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
    }
}
