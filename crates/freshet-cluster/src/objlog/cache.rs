//! Recent batches by (object key, byte offset): what this node flushed and what its readers
//! fetched, so tails and consumers close behind the writers read from memory, not the store.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use parking_lot::Mutex;

pub(crate) struct BatchCache {
    limit: usize,
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    map: HashMap<(String, u64), Bytes>,
    /// Insertion order, for eviction: the oldest batches are the least likely to be read again.
    order: VecDeque<(String, u64)>,
    bytes: usize,
}

impl BatchCache {
    pub(crate) fn new(limit: usize) -> BatchCache {
        BatchCache {
            limit,
            inner: Mutex::new(Entries::default()),
        }
    }

    pub(crate) fn get(&self, key: &str, start: u64) -> Option<Bytes> {
        self.inner
            .lock()
            .map
            .get(&(key.to_string(), start))
            .cloned()
    }

    pub(crate) fn insert(&self, key: &str, start: u64, batch: Bytes) {
        if batch.len() > self.limit {
            return;
        }
        let mut e = self.inner.lock();
        let id = (key.to_string(), start);
        if e.map.contains_key(&id) {
            return;
        }
        e.bytes += batch.len();
        e.map.insert(id.clone(), batch);
        e.order.push_back(id);
        while e.bytes > self.limit {
            let Some(old) = e.order.pop_front() else {
                break;
            };
            if let Some(gone) = e.map.remove(&old) {
                e.bytes -= gone.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_batches_leave_first_and_the_limit_holds() {
        let cache = BatchCache::new(100);
        cache.insert("a", 0, Bytes::from(vec![0; 60]));
        cache.insert("a", 60, Bytes::from(vec![1; 30]));
        assert_eq!(cache.get("a", 60).map(|b| b.len()), Some(30));
        cache.insert("b", 0, Bytes::from(vec![2; 30]));
        assert!(
            cache.get("a", 0).is_none(),
            "evicted to stay within 100 bytes"
        );
        assert!(cache.get("a", 60).is_some() && cache.get("b", 0).is_some());
        cache.insert("c", 0, Bytes::from(vec![3; 101]));
        assert!(cache.get("c", 0).is_none(), "larger than the whole cache");
    }
}
