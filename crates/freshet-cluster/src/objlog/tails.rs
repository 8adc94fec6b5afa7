//! The shards this node knows, each with the watch its tails wait on. Kept current by this
//! node's own commits and by the notifications every node's commits send.

use std::collections::BTreeMap;

use freshet_log::ShardLogId;
use parking_lot::RwLock;
use tokio::sync::watch;

#[derive(Default)]
pub(crate) struct Tails {
    /// Each shard's watch and the resync generation it was learned in.
    map: RwLock<BTreeMap<ShardLogId, (watch::Sender<u64>, u64)>>,
    generation: std::sync::atomic::AtomicU64,
}

impl Tails {
    pub(crate) fn ids(&self) -> Vec<ShardLogId> {
        self.map.read().keys().copied().collect()
    }

    pub(crate) fn subscribe(&self, id: ShardLogId) -> Option<watch::Receiver<u64>> {
        self.map.read().get(&id).map(|(tx, _)| tx.subscribe())
    }

    /// Learns of a shard (idempotent) and of its next offset.
    pub(crate) fn add(&self, id: ShardLogId, next: u64) {
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        self.map
            .write()
            .entry(id)
            .or_insert_with(|| (watch::channel(next).0, generation));
        self.advance(id, next);
    }

    /// Records become readable up to `next`; never moves back (notifications can arrive late).
    pub(crate) fn advance(&self, id: ShardLogId, next: u64) {
        if let Some((tx, _)) = self.map.read().get(&id) {
            tx.send_if_modified(|current| {
                let newer = next > *current;
                if newer {
                    *current = next;
                }
                newer
            });
        }
    }

    pub(crate) fn remove(&self, id: ShardLogId) {
        self.map.write().remove(&id);
    }

    /// Learns every shard of the database's full list and its next offset.
    pub(crate) fn catch_up(&self, shards: &[(ShardLogId, u64)]) {
        for &(id, next) in shards {
            self.add(id, next);
        }
    }

    /// Starts a resync: the generation to pass to `resync` with the list read after this.
    pub(crate) fn next_generation(&self) -> u64 {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1
    }

    /// Catches up with a full list read after `next_generation` returned `generation`, and
    /// forgets the shards missing from it that were known before it was read (one learned
    /// since may simply be newer than the list).
    pub(crate) fn resync(&self, generation: u64, shards: &[(ShardLogId, u64)]) {
        let live: std::collections::BTreeSet<ShardLogId> =
            shards.iter().map(|&(id, _)| id).collect();
        self.map
            .write()
            .retain(|id, (_, learned)| live.contains(id) || *learned >= generation);
        self.catch_up(shards);
    }
}

/// A notification's text: what happened to which shard.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Created(ShardLogId),
    Appended(ShardLogId, u64),
    Removed(ShardLogId),
}

impl Event {
    pub(crate) fn encode(&self) -> String {
        match self {
            Event::Created(id) => format!("c {} {}", id.stream, id.shard),
            Event::Appended(id, next) => format!("a {} {} {next}", id.stream, id.shard),
            Event::Removed(id) => format!("r {} {}", id.stream, id.shard),
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Event> {
        let mut words = text.split(' ');
        let kind = words.next()?;
        let id = ShardLogId {
            stream: words.next()?.parse().ok()?,
            shard: words.next()?.parse().ok()?,
        };
        let event = match kind {
            "c" => Event::Created(id),
            "a" => Event::Appended(id, words.next()?.parse().ok()?),
            "r" => Event::Removed(id),
            _ => return None,
        };
        words.next().is_none().then_some(event)
    }

    pub(crate) fn apply(self, tails: &Tails) {
        match self {
            Event::Created(id) => tails.add(id, 0),
            Event::Appended(id, next) => tails.advance(id, next),
            Event::Removed(id) => tails.remove(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ShardLogId = ShardLogId {
        stream: 7,
        shard: 2,
    };

    #[test]
    fn events_round_trip_and_garbage_is_ignored() {
        for e in [Event::Created(A), Event::Appended(A, 99), Event::Removed(A)] {
            assert_eq!(Event::parse(&e.encode()), Some(e));
        }
        for bad in ["", "a 1", "a 1 2", "x 1 2", "c 1 2 3", "a 1 2 -3", "c -1 2"] {
            assert_eq!(Event::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn watches_only_move_forward_and_follow_removal() {
        let tails = Tails::default();
        assert!(tails.subscribe(A).is_none());
        Event::Created(A).apply(&tails);
        let rx = tails.subscribe(A).unwrap();
        Event::Appended(A, 5).apply(&tails);
        Event::Appended(A, 3).apply(&tails);
        assert_eq!(*rx.borrow(), 5);
        Event::Removed(A).apply(&tails);
        assert!(tails.subscribe(A).is_none());
    }

    #[test]
    fn a_resync_forgets_only_shards_known_before_its_list_was_read() {
        let b = ShardLogId {
            stream: 7,
            shard: 3,
        };
        let tails = Tails::default();
        tails.catch_up(&[(A, 4)]);
        let generation = tails.next_generation();
        // Created while the list was being read: not in it, yet not to be forgotten.
        tails.add(b, 0);
        tails.resync(generation, &[]);
        assert_eq!(tails.ids(), [b]);
        let generation = tails.next_generation();
        tails.resync(generation, &[(A, 9)]);
        assert_eq!(
            tails.ids(),
            [A],
            "b was removed unheard; A is back at its offset"
        );
        assert_eq!(*tails.subscribe(A).unwrap().borrow(), 9);
    }
}
