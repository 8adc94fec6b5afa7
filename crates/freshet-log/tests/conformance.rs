//! The embedded segmented log passes the log conformance suite, with small segments so that
//! trims and reads cross segment boundaries.

use freshet_log::conformance::LogStore;
use freshet_log::{Log, LogBackend, LogConfig};

struct Directory(tempfile::TempDir);

impl Directory {
    fn new() -> Directory {
        Directory(tempfile::tempdir().expect("a temporary directory"))
    }
}

impl LogStore for Directory {
    async fn open(&self) -> Box<dyn LogBackend> {
        let mut config = LogConfig::new(self.0.path());
        config.segment_bytes = 1024;
        Box::new(Log::open(config).expect("the log opens"))
    }
}

freshet_log::log_conformance_suite!(Directory::new());
