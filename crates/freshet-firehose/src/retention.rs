//! How long a DirectPut delivery stream's log keeps a record: until it is delivered and every
//! registered reader (an Analytics application that takes the delivery stream as its input) has
//! committed a position past it, but never longer than 24 hours after it arrived, the time
//! Firehose keeps data it cannot deliver. Readers' holds are stored with the delivery stream's
//! checkpoints, so a hold outlives the reader's run and the server: a stopped application that
//! starts again from LAST_STOPPED_POINT, or one resumed after a crash, finds its records.

use std::collections::BTreeMap;

use freshet_catalog::Catalog;
use serde::{Deserialize, Serialize};

use crate::error::{FirehoseError, Result};

/// The checkpoint row that keeps the readers' holds, beside the delivery worker's own (`log`).
pub const READERS: &str = "readers";

/// A hold keeps records for at most this long after they arrived. Past it a lagging reader
/// loses them (it resumes at the trim horizon, with a warning), as the delivery itself gives
/// up on S3 after 24 hours.
const MAX_HOLD_MS: i64 = 24 * 3600 * 1000;

/// The stored form of the `readers` row.
#[derive(Default, Serialize, Deserialize)]
struct Stored {
    /// Per reader, the first log offset it still needs.
    holds: BTreeMap<String, u64>,
}

/// The readers' holds on one delivery stream's log.
pub struct Holds {
    uid: u64,
    catalog: Catalog,
    /// An async mutex, held across the catalog write: the whole map is written each time, so
    /// writes must land in the order the map changed, or an older map could overwrite a newer.
    holds: tokio::sync::Mutex<BTreeMap<String, u64>>,
}

impl Holds {
    /// The holds of delivery stream `uid`, from its stored `readers` row if it has one.
    pub fn load(uid: u64, catalog: Catalog, stored: Option<&str>) -> Result<Holds> {
        let stored = match stored {
            Some(text) => serde_json::from_str::<Stored>(text)
                .map_err(|e| FirehoseError::Corrupt(format!("readers checkpoint: {e}")))?,
            None => Stored::default(),
        };
        Ok(Holds {
            uid,
            catalog,
            holds: tokio::sync::Mutex::new(stored.holds),
        })
    }

    /// Keeps the records from `offset` on for `reader`, durably, replacing its earlier hold.
    pub async fn hold(&self, reader: &str, offset: u64) -> Result<()> {
        let mut holds = self.holds.lock().await;
        if holds.get(reader) == Some(&offset) {
            return Ok(());
        }
        let mut changed = holds.clone();
        changed.insert(reader.to_string(), offset);
        self.store(&changed).await?;
        *holds = changed;
        Ok(())
    }

    /// Drops `reader`'s hold, if it has one.
    pub async fn release(&self, reader: &str) -> Result<()> {
        let mut holds = self.holds.lock().await;
        if !holds.contains_key(reader) {
            return Ok(());
        }
        let mut changed = holds.clone();
        changed.remove(reader);
        self.store(&changed).await?;
        *holds = changed;
        tracing::info!(reader, "delivery stream reader released");
        Ok(())
    }

    /// The first offset some reader still needs.
    pub async fn oldest(&self) -> Option<u64> {
        self.holds.lock().await.values().min().copied()
    }

    async fn store(&self, holds: &BTreeMap<String, u64>) -> Result<()> {
        let text = serde_json::to_string(&Stored {
            holds: holds.clone(),
        })
        .map_err(|e| FirehoseError::Corrupt(e.to_string()))?;
        self.catalog
            .put_checkpoint(self.uid, READERS, &text, None)
            .await?;
        Ok(())
    }
}

/// The arrival time before which the log may drop records: what was delivered (records that
/// arrived before the last delivered one), but not the oldest record a reader holds
/// (`held_arrival_ms`) unless that one is past the 24-hour bound. Arrival times never go back
/// within a log, so every record at or after a held offset arrived at or after the held one.
pub fn cutoff(delivered_ms: i64, held_arrival_ms: Option<i64>, now_ms: i64) -> i64 {
    match held_arrival_ms {
        Some(held) => delivered_ms.min(held.max(now_ms - MAX_HOLD_MS)),
        None => delivered_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_bounds_the_cutoff_for_24_hours() {
        let hour = 3600 * 1000;
        assert_eq!(cutoff(50 * hour, None, 50 * hour), 50 * hour);
        // A reader behind delivery keeps what it has not committed past.
        assert_eq!(cutoff(50 * hour, Some(40 * hour), 50 * hour), 40 * hour);
        // A reader ahead of delivery changes nothing.
        assert_eq!(cutoff(50 * hour, Some(55 * hour), 56 * hour), 50 * hour);
        // Past 24 hours the hold stops keeping records.
        assert_eq!(cutoff(50 * hour, Some(10 * hour), 50 * hour), 26 * hour);
    }

    #[tokio::test]
    async fn holds_survive_a_reload_and_go_when_released() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("c.db")).await.unwrap();
        let uid = catalog.create_delivery_stream("ds", 0, "{}").await.unwrap();
        let holds = Holds::load(uid, catalog.clone(), None).unwrap();
        assert_eq!(holds.oldest().await, None);
        holds.hold("app/1", 7).await.unwrap();
        holds.hold("app/2", 3).await.unwrap();
        holds.hold("app/2", 9).await.unwrap();
        let stored = catalog.load_delivery_streams().await.unwrap()[0].checkpoints[READERS].clone();
        let again = Holds::load(uid, catalog.clone(), Some(&stored)).unwrap();
        assert_eq!(again.oldest().await, Some(7));
        again.release("app/1").await.unwrap();
        again.release("app/unknown").await.unwrap();
        assert_eq!(again.oldest().await, Some(9));
        let stored = catalog.load_delivery_streams().await.unwrap()[0].checkpoints[READERS].clone();
        let third = Holds::load(uid, catalog, Some(&stored)).unwrap();
        assert_eq!(third.oldest().await, Some(9));
    }
}
