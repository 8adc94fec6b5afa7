//! One resource lifecycle for every service: the statuses AWS shows (a stream, a delivery
//! stream, a video stream and a consumer all go CREATING → ACTIVE ⇄ UPDATING, then DELETING) and
//! the one helper that runs a delayed transition. A transition names the status it leaves, so a
//! change that overtook it (a deletion while still CREATING) makes it stand down instead of
//! undoing that change.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;

/// A resource's status, as the AWS APIs spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Creating,
    Active,
    Updating,
    Deleting,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "CREATING",
            Status::Active => "ACTIVE",
            Status::Updating => "UPDATING",
            Status::Deleting => "DELETING",
        }
    }

    /// The status a stored name stands for.
    pub fn parse(text: &str) -> Option<Status> {
        [
            Status::Creating,
            Status::Active,
            Status::Updating,
            Status::Deleting,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Whether data-plane calls are served (AWS serves reads and writes while UPDATING).
    pub fn is_serving(self) -> bool {
        matches!(self, Status::Active | Status::Updating)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Runs `step` once `delay` has passed on `clock`, in the background; a failure is logged with
/// the resource's name and is not lost: every service repairs, at its next start, a transition
/// that did not happen (CREATING and UPDATING become ACTIVE, DELETING finishes).
pub fn after<F, Fut, E>(clock: &SharedClock, delay: Duration, resource: String, step: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: fmt::Display,
{
    let sleep = clock.sleep(delay);
    tokio::spawn(async move {
        sleep.await;
        if let Err(error) = step().await {
            tracing::error!(%resource, %error, "status transition failed");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    #[test]
    fn names_round_trip_and_serialize_as_aws_spells_them() {
        for s in [
            Status::Creating,
            Status::Active,
            Status::Updating,
            Status::Deleting,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(Status::parse("active"), None);
        assert!(Status::Updating.is_serving() && !Status::Creating.is_serving());
    }

    #[tokio::test]
    async fn a_transition_runs_when_the_clock_reaches_its_delay() {
        let (clock, hand) = ManualClock::shared(0);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        after(
            &clock,
            Duration::from_secs(5),
            "r".into(),
            move || async move { tx.send(()).map_err(|_| "receiver gone") },
        );
        tokio::task::yield_now().await;
        assert!(rx.try_recv().is_err(), "not before its time");
        hand.advance(Duration::from_secs(5));
        rx.recv().await.expect("ran once the clock got there");
    }
}
