//! Failpoints for end-to-end fault tests (tests/e2e/test_failpoints.py): a binary built with the
//! `failpoints` feature arms the points named in the `FAILPOINTS` environment variable, e.g.
//! `FAILPOINTS="log::fsync=return;firehose::s3_put=3*return"`. The points are `log::write`,
//! `log::fsync`, `catalog::commit`, `firehose::s3_put` and `firehose::http_post`.

/// Arms the points in `FAILPOINTS`; they stay armed while the returned guard lives, so `main`
/// holds it to the end. Without the feature this does nothing.
#[cfg(feature = "failpoints")]
pub fn setup() -> Option<impl Sized> {
    // Before logging is set up, so on stderr directly; the e2e tests look for this line to skip
    // when the binary was built without the feature.
    eprintln!(
        "failpoints enabled: FAILPOINTS={:?}",
        std::env::var("FAILPOINTS").ok()
    );
    Some(fail::FailScenario::setup())
}

#[cfg(not(feature = "failpoints"))]
pub fn setup() -> Option<impl Sized> {
    None::<()>
}
