//! The CloudWatch metrics API for Freshet's own metrics: `GetMetricStatistics`,
//! `GetMetricData` and `ListMetrics` under AWS's namespaces (`AWS/Kinesis`, `AWS/Firehose`,
//! `AWS/KinesisVideo`, `AWS/KinesisAnalytics`), answered from a per-minute history that a
//! sampler fills from the same metrics `/metrics` exposes.

pub mod error;
pub mod model;
mod service;
mod store;

use std::time::Duration;

use freshet_runtime::SharedClock;
use freshet_runtime::metrics::Exposition;

pub use error::{CloudWatchError, Result};
pub use service::CloudWatchService;

/// How often the history reads every metric.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Something whose metrics the history keeps: a service's `render_metrics`.
pub type Source = Box<dyn Fn(&mut Exposition) + Send + Sync>;

impl CloudWatchService {
    /// Reads every source's metrics each `SAMPLE_EVERY`, for as long as the server runs.
    pub async fn sample(self, clock: SharedClock, sources: Vec<Source>) {
        loop {
            let mut e = Exposition::collect();
            for source in &sources {
                source(&mut e);
            }
            self.observe(clock.now_ms(), e.samples());
            clock.sleep(SAMPLE_EVERY).await;
        }
    }
}
