//! Every request gets an id in AWS's shape (`x-amzn-RequestId`), carried by its tracing span; an
//! internal failure is logged here, once, with that id (adapters only describe it).

use std::sync::atomic::{AtomicU64, Ordering};

use axum::response::Response;
use freshet_runtime::SharedClock;
use http::HeaderValue;

use crate::error::FailureDetail;

const REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// Request ids in AWS's UUID shape, unique for this process: its start time, then a counter.
pub struct RequestIds {
    boot: u64,
    next: AtomicU64,
}

impl RequestIds {
    pub fn new(clock: &SharedClock) -> RequestIds {
        // Microseconds of the start time and the pid: distinct across restarts.
        let boot = (clock.now_ms() as u64).wrapping_mul(1000) ^ u64::from(std::process::id());
        RequestIds {
            boot,
            next: AtomicU64::new(0),
        }
    }

    pub fn next(&self) -> String {
        request_id(self.boot, self.next.fetch_add(1, Ordering::Relaxed))
    }
}

/// The 128 bits of `boot` then `n`, in the 8-4-4-4-12 hex groups of a UUID.
fn request_id(boot: u64, n: u64) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        boot >> 32,
        (boot >> 16) & 0xffff,
        boot & 0xffff,
        n >> 48,
        n & 0xffff_ffff_ffff
    )
}

/// Ends a request's answer: its id in `x-amzn-RequestId`, and an internal failure's detail
/// logged once, with that id.
pub(crate) fn finish(response: &mut Response, id: &str) {
    if let Some(FailureDetail(detail)) = response.extensions_mut().remove::<FailureDetail>() {
        tracing::error!(request_id = id, status = %response.status(), error = %detail, "internal failure");
    }
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_the_hex_of_boot_then_counter_in_uuid_groups() {
        assert_eq!(
            super::request_id(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210),
            "01234567-89ab-cdef-fedc-ba9876543210"
        );
        assert_eq!(
            super::request_id(1, 2),
            "00000000-0000-0001-0000-000000000002"
        );
    }
}
