//! Kinesis Data Analytics' CloudWatch metrics for a running application (namespace
//! `AWS/KinesisAnalytics`, dimension `Application`): records and bytes read and written
//! (`Records`, `Bytes` with the `Flow` dimension, Input or Output) and how far behind its
//! input it reads (`MillisBehindLatest`: the age of the last record read, 0 when caught up).

use freshet_runtime::metrics::{Counter, Exposition, Gauge};
use freshet_runtime::recent::Recent;

use crate::launch::AppError;

const PREFIX: &str = "kinesisanalytics";

#[derive(Debug, Default)]
pub(crate) struct AppMetrics {
    pub input_records: Counter,
    pub input_bytes: Counter,
    pub output_records: Counter,
    pub output_bytes: Counter,
    pub millis_behind_latest: Gauge,
    /// What went wrong lately, for the console.
    pub errors: Recent<AppError>,
}

impl AppMetrics {
    pub fn render(&self, application: &str, e: &mut Exposition) {
        for (flow, records, bytes) in [
            ("Input", &self.input_records, &self.input_bytes),
            ("Output", &self.output_records, &self.output_bytes),
        ] {
            let labels = [("Application", application), ("Flow", flow)];
            let help = "AWS/KinesisAnalytics Records (Count)";
            e.counter(PREFIX, "Records", help, &labels, records.get());
            let help = "AWS/KinesisAnalytics Bytes (Bytes)";
            e.counter(PREFIX, "Bytes", help, &labels, bytes.get());
        }
        let labels = [("Application", application)];
        let help = "AWS/KinesisAnalytics MillisBehindLatest (Milliseconds)";
        let behind = self.millis_behind_latest.get() as f64;
        e.gauge(PREFIX, "MillisBehindLatest", help, &labels, behind);
    }
}
