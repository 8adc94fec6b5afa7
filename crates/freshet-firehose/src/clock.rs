//! The clock that buffering intervals run on: monotonic milliseconds, from tokio in the server
//! and moved by hand in tests, so no test waits for a buffer interval to pass.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;

#[derive(Clone, Default)]
pub struct Clock {
    manual: Option<Arc<watch::Sender<u64>>>,
}

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

impl Clock {
    /// A clock that stands still until `advance` moves it.
    #[cfg(test)]
    pub fn manual() -> Clock {
        Clock {
            manual: Some(Arc::new(watch::Sender::new(0))),
        }
    }

    #[cfg(test)]
    pub fn advance(&self, by: Duration) {
        if let Some(m) = &self.manual {
            m.send_modify(|now| *now += by.as_millis() as u64);
        }
    }

    pub fn now_ms(&self) -> u64 {
        match &self.manual {
            Some(m) => *m.borrow(),
            None => origin().elapsed().as_millis() as u64,
        }
    }

    /// Resolves once the clock reads `deadline_ms` or later.
    pub async fn sleep_until(&self, deadline_ms: u64) {
        match &self.manual {
            Some(m) => {
                let mut rx = m.subscribe();
                let _ = rx.wait_for(|&now| now >= deadline_ms).await;
            }
            None => {
                let now = self.now_ms();
                tokio::time::sleep(Duration::from_millis(deadline_ms.saturating_sub(now))).await;
            }
        }
    }
}
