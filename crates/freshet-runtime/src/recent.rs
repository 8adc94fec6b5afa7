//! The last few notable events of something (a delivery stream's deliveries, an application's
//! errors), newest first, for the console: bounded, so the oldest fall off.

use std::collections::VecDeque;

use parking_lot::Mutex;

/// How many events are kept.
pub const KEPT: usize = 50;

#[derive(Debug)]
pub struct Recent<T>(Mutex<VecDeque<T>>);

impl<T> Default for Recent<T> {
    fn default() -> Recent<T> {
        Recent(Mutex::new(VecDeque::with_capacity(KEPT)))
    }
}

impl<T: Clone> Recent<T> {
    pub fn record(&self, event: T) {
        let mut recent = self.0.lock();
        if recent.len() == KEPT {
            recent.pop_back();
        }
        recent.push_front(event);
    }

    /// Newest first.
    pub fn list(&self) -> Vec<T> {
        self.0.lock().iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_first_and_drops_the_oldest_past_the_bound() {
        let recent = Recent::default();
        for at in 0..KEPT + 3 {
            recent.record(at);
        }
        let list = recent.list();
        assert_eq!(list.len(), KEPT);
        assert_eq!(list[0], KEPT + 2);
        assert_eq!(list[KEPT - 1], 3);
    }
}
