//! The metric history: every CloudWatch metric of every service, sampled (once a second) from
//! the same walk `/metrics` renders, and kept as one aggregate per minute for a day, as
//! CloudWatch keeps standard-resolution metrics per minute.
//!
//! A sample becomes a point of its minute: a counter gives what it grew by since the previous
//! sample (a second with no growth gives none: CloudWatch's `SampleCount` of `IncomingRecords` is
//! then the seconds that had records), a gauge its value, a histogram its observations' sum and
//! count (a `Latency`'s `Average` is exact; its `Minimum` and `Maximum` are those of per-second
//! averages; `Success` comes as successes of requests, so its `Average` is their ratio). A
//! minute is kept when something happened in it, so an idle resource costs one small entry, not
//! a day of zeros; a gauge keeps its zero minutes once it has been non-zero, so its averages
//! hold.
//!
//! Counters count from zero as the process starts, and so does the history: a series' first
//! reading is growth from zero. Except shard-level series, which appear when
//! EnableEnhancedMonitoring turns them on while their counters ran since the shard opened: their
//! first reading is where they start.

use std::collections::{BTreeMap, HashMap, VecDeque};

use freshet_runtime::metrics::{Sample, SampleValue};
use parking_lot::Mutex;

use crate::model::Dimension;

/// Minutes of history kept.
pub const RETENTION_MINUTES: i64 = 24 * 60;
/// Minute aggregates kept across all series (about 100 MB): with more series than a day of
/// each fits (10,000 shards with every shard-level metric enabled), each keeps fewer minutes,
/// down to `MIN_RETENTION_MINUTES`.
const BUDGET_MINUTES: usize = 2_000_000;
const MIN_RETENTION_MINUTES: i64 = 10;
const MINUTE_MS: i64 = 60_000;

/// A metric series: its namespace, name and dimensions (sorted by name).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<Dimension>,
}

/// One minute's aggregate of a series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Minute {
    /// Epoch minute (epoch milliseconds / 60,000).
    pub minute: i64,
    pub sum: f64,
    pub count: f64,
    pub min: f64,
    pub max: f64,
    /// Whether a point in it was non-zero.
    nonzero: bool,
}

impl Minute {
    fn new(minute: i64) -> Minute {
        Minute {
            minute,
            sum: 0.0,
            count: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            nonzero: false,
        }
    }

    fn add(&mut self, sum: f64, count: f64, extreme: f64) {
        self.sum += sum;
        self.count += count;
        self.min = self.min.min(extreme);
        self.max = self.max.max(extreme);
        self.nonzero |= sum != 0.0;
    }

    /// Folds another aggregate in (minutes into a period).
    pub fn merge(&mut self, other: &Minute) {
        self.sum += other.sum;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.nonzero |= other.nonzero;
    }
}

#[derive(Debug)]
struct Series {
    unit: String,
    gauge: bool,
    /// When it was last read (epoch ms): a series still read is kept even without history, so
    /// its last total stays its baseline.
    read_ms: i64,
    /// The last running total (counters) or sum and count (histograms).
    last: (f64, u64),
    current: Option<Minute>,
    minutes: VecDeque<Minute>,
}

impl Series {
    /// Counter and histogram minutes exist only with points; a gauge's only once it moved.
    fn worth_keeping(&self, m: &Minute) -> bool {
        m.count > 0.0 && (!self.gauge || m.nonzero || !self.minutes.is_empty())
    }

    /// Ends the current minute if `minute` is past it, and drops what is older than `keep`
    /// minutes.
    fn roll(&mut self, minute: i64, keep: i64) {
        if let Some(current) = self.current.take_if(|c| c.minute < minute)
            && self.worth_keeping(&current)
        {
            self.minutes.push_back(current);
        }
        while self
            .minutes
            .front()
            .is_some_and(|m| m.minute <= minute - keep)
        {
            self.minutes.pop_front();
        }
    }

    fn point(&mut self, minute: i64, sum: f64, count: f64, extreme: f64) {
        self.roll(minute, RETENTION_MINUTES);
        self.current
            .get_or_insert_with(|| Minute::new(minute))
            .add(sum, count, extreme);
    }

    /// Every kept minute, the current one included when it is worth keeping.
    fn all_minutes(&self) -> impl Iterator<Item = &Minute> {
        let current = self.current.as_ref().filter(|c| self.worth_keeping(c));
        self.minutes.iter().chain(current)
    }
}

/// The `/metrics` prefix of the series whose first reading is their baseline (see above).
const ENABLED_LATE: &str = "kinesis_shard";

#[derive(Debug, Default)]
pub struct MetricStore {
    series: Mutex<HashMap<SeriesKey, Series>>,
}

impl MetricStore {
    /// Takes one reading of every metric at `now_ms`.
    pub fn observe(&self, now_ms: i64, samples: Vec<Sample>) {
        let minute = now_ms.div_euclid(MINUTE_MS);
        let mut series = self.series.lock();
        for sample in samples {
            let namespace = sample.namespace;
            let mut dimensions: Vec<Dimension> = sample
                .labels
                .into_iter()
                .map(|(name, value)| Dimension { name, value })
                .collect();
            dimensions.sort();
            let key = SeriesKey {
                namespace,
                name: sample.name,
                dimensions,
            };
            let s = series.entry(key).or_insert_with(|| Series {
                unit: sample.unit,
                gauge: matches!(sample.value, SampleValue::Gauge(_)),
                read_ms: now_ms,
                last: match sample.value {
                    SampleValue::Counter(total) if sample.prefix == ENABLED_LATE => {
                        (total as f64, 0)
                    }
                    SampleValue::Histogram { sum, count } if sample.prefix == ENABLED_LATE => {
                        (sum, count)
                    }
                    _ => (0.0, 0),
                },
                current: None,
                minutes: VecDeque::new(),
            });
            s.read_ms = now_ms;
            match sample.value {
                SampleValue::Counter(total) => {
                    let total = total as f64;
                    // Less than before: the resource was made anew (deleted and created).
                    let grew = if total >= s.last.0 {
                        total - s.last.0
                    } else {
                        total
                    };
                    s.last.0 = total;
                    if grew > 0.0 {
                        s.point(minute, grew, 1.0, grew);
                    }
                }
                SampleValue::Gauge(value) => s.point(minute, value, 1.0, value),
                SampleValue::Histogram { sum, count } => {
                    let (last_sum, last_count) = s.last;
                    s.last = (sum, count);
                    let (sum, count) = if count >= last_count {
                        (sum - last_sum, count - last_count)
                    } else {
                        (sum, count)
                    };
                    if count > 0 {
                        s.point(minute, sum, count as f64, sum / count as f64);
                    }
                }
            }
        }
        // Series no reading came for (a deleted stream's) keep their history until it ages out.
        let keep = (BUDGET_MINUTES / series.len().max(1)) as i64;
        let keep = keep.clamp(MIN_RETENTION_MINUTES, RETENTION_MINUTES);
        series.retain(|_, s| {
            s.roll(minute, keep);
            s.read_ms == now_ms || s.current.is_some() || !s.minutes.is_empty()
        });
    }

    /// The series' minutes in `[start_ms, end_ms)`, aggregated per `period_s` from `start_ms`:
    /// (period start in epoch ms, aggregate), oldest first, with the series' unit. None when the
    /// series is unknown.
    pub fn periods(
        &self,
        key: &SeriesKey,
        start_ms: i64,
        end_ms: i64,
        period_s: i64,
    ) -> Option<(String, Vec<(i64, Minute)>)> {
        let series = self.series.lock();
        let s = series.get(key)?;
        let period_ms = period_s.max(60) * 1000;
        let mut periods: BTreeMap<i64, Minute> = BTreeMap::new();
        for m in s.all_minutes() {
            let at = m.minute * MINUTE_MS;
            if at < start_ms || at >= end_ms {
                continue;
            }
            let start = start_ms + (at - start_ms) / period_ms * period_ms;
            periods
                .entry(start)
                .or_insert_with(|| Minute::new(m.minute))
                .merge(m);
        }
        Some((s.unit.clone(), periods.into_iter().collect()))
    }

    /// Every series with history, sorted; with `active_since_ms`, only those with a minute since.
    pub fn keys(&self, active_since_ms: Option<i64>) -> Vec<SeriesKey> {
        let series = self.series.lock();
        let mut keys: Vec<SeriesKey> = series
            .iter()
            .filter(|(_, s)| {
                s.all_minutes().last().is_some_and(|m| {
                    active_since_ms.is_none_or(|since| (m.minute + 1) * MINUTE_MS > since)
                })
            })
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(prefix: &str, name: &str, value: SampleValue) -> Sample {
        Sample {
            prefix: prefix.into(),
            namespace: "AWS/Kinesis".into(),
            name: name.into(),
            unit: "Count".into(),
            labels: vec![("StreamName".into(), "s".into())],
            value,
        }
    }

    fn key(name: &str) -> SeriesKey {
        SeriesKey {
            namespace: "AWS/Kinesis".into(),
            name: name.into(),
            dimensions: vec![Dimension {
                name: "StreamName".into(),
                value: "s".into(),
            }],
        }
    }

    /// Readings of one `IncomingRecords` counter under `prefix`.
    fn incoming(prefix: &'static str) -> impl Fn(u64) -> Vec<Sample> {
        move |total| {
            vec![sample(
                prefix,
                "IncomingRecords",
                SampleValue::Counter(total),
            )]
        }
    }

    /// A series' per-minute sums between two times.
    fn minute_sums(store: &MetricStore, name: &str, from: i64, to: i64) -> Vec<f64> {
        let (_, periods) = store.periods(&key(name), from, to, 60).unwrap();
        periods.iter().map(|(_, m)| m.sum).collect()
    }

    const T0: i64 = 1_800_000_000_000 / MINUTE_MS * MINUTE_MS;

    #[test]
    fn counters_become_what_they_grew_by_per_minute() {
        let store = MetricStore::default();
        let counter = incoming("kinesis");
        store.observe(T0, counter(5));
        store.observe(T0 + 1000, counter(5));
        store.observe(T0 + 2000, counter(12));
        store.observe(T0 + MINUTE_MS, counter(20));
        let (unit, periods) = store
            .periods(&key("IncomingRecords"), T0, T0 + 2 * MINUTE_MS, 60)
            .unwrap();
        assert_eq!(unit, "Count");
        let sums: Vec<(i64, f64, f64, f64, f64)> = periods
            .iter()
            .map(|(at, m)| (*at, m.sum, m.count, m.min, m.max))
            .collect();
        assert_eq!(
            sums,
            vec![
                (T0, 12.0, 2.0, 5.0, 7.0),
                (T0 + MINUTE_MS, 8.0, 1.0, 8.0, 8.0)
            ]
        );
        // One period of two minutes holds both.
        let (_, periods) = store
            .periods(&key("IncomingRecords"), T0, T0 + 2 * MINUTE_MS, 120)
            .unwrap();
        assert_eq!(periods.len(), 1);
        assert_eq!((periods[0].1.sum, periods[0].1.count), (20.0, 3.0));
        // Outside the range: nothing.
        let (_, periods) = store
            .periods(
                &key("IncomingRecords"),
                T0 + 2 * MINUTE_MS,
                T0 + 3 * MINUTE_MS,
                60,
            )
            .unwrap();
        assert!(periods.is_empty());
    }

    #[test]
    fn idle_gauges_keep_nothing_until_they_move_then_keep_their_zeros() {
        let store = MetricStore::default();
        let gauge = |v| {
            vec![sample(
                "kinesis",
                "GetRecords.IteratorAgeMilliseconds",
                SampleValue::Gauge(v),
            )]
        };
        let k = key("GetRecords.IteratorAgeMilliseconds");
        store.observe(T0, gauge(0.0));
        store.observe(T0 + MINUTE_MS, gauge(0.0));
        assert!(store.keys(None).is_empty());
        assert_eq!(
            store.periods(&k, T0, T0 + 10 * MINUTE_MS, 60).unwrap().1,
            vec![]
        );
        store.observe(T0 + 2 * MINUTE_MS, gauge(40.0));
        store.observe(T0 + 2 * MINUTE_MS + 1000, gauge(0.0));
        store.observe(T0 + 3 * MINUTE_MS, gauge(0.0));
        let (_, periods) = store.periods(&k, T0, T0 + 10 * MINUTE_MS, 60).unwrap();
        let minutes: Vec<(f64, f64, f64, f64)> = periods
            .iter()
            .map(|(_, m)| (m.sum, m.count, m.min, m.max))
            .collect();
        assert_eq!(minutes, vec![(40.0, 2.0, 0.0, 40.0), (0.0, 1.0, 0.0, 0.0)]);
        assert_eq!(store.keys(None), vec![k]);
    }

    #[test]
    fn histograms_give_sums_and_counts_and_a_reset_starts_over() {
        let store = MetricStore::default();
        let latency = |sum, count| {
            vec![sample(
                "kinesis",
                "PutRecord.Latency",
                SampleValue::Histogram { sum, count },
            )]
        };
        store.observe(T0, latency(10.0, 2));
        store.observe(T0 + 1000, latency(40.0, 3));
        // The stream was made anew: its histogram starts again.
        store.observe(T0 + 2000, latency(4.0, 1));
        let (_, periods) = store
            .periods(&key("PutRecord.Latency"), T0, T0 + MINUTE_MS, 60)
            .unwrap();
        let m = periods[0].1;
        assert_eq!((m.sum, m.count, m.min, m.max), (44.0, 4.0, 4.0, 30.0));
    }

    #[test]
    fn many_series_share_the_budget_and_keep_fewer_minutes() {
        let store = MetricStore::default();
        let many = BUDGET_MINUTES / 60;
        let samples = |total| {
            (0..many)
                .map(|i| Sample {
                    labels: vec![("ShardId".into(), i.to_string())],
                    ..sample(
                        "kinesis_shard",
                        "IncomingRecords",
                        SampleValue::Counter(total),
                    )
                })
                .collect()
        };
        for m in 0..62 {
            store.observe(T0 + m * MINUTE_MS, samples(m as u64 + 1));
        }
        let key = SeriesKey {
            dimensions: vec![Dimension {
                name: "ShardId".into(),
                value: "7".into(),
            }],
            ..key("IncomingRecords")
        };
        let (_, minutes) = store.periods(&key, T0, T0 + 62 * MINUTE_MS, 60).unwrap();
        // 60 minutes each: the 61 ended and the current one, less the two oldest.
        assert_eq!(minutes.first().map(|(at, _)| *at), Some(T0 + 2 * MINUTE_MS));
        assert_eq!(minutes.len(), 60);
    }

    #[test]
    fn an_idle_counter_past_its_history_does_not_count_its_total_again() {
        let store = MetricStore::default();
        let counter = incoming("kinesis");
        store.observe(T0, counter(10));
        let later = T0 + (RETENTION_MINUTES + 5) * MINUTE_MS;
        store.observe(later, counter(10));
        store.observe(later + 1000, counter(10));
        assert!(store.keys(None).is_empty());
        store.observe(later + 2000, counter(11));
        assert_eq!(
            minute_sums(&store, "IncomingRecords", later, later + MINUTE_MS),
            [1.0]
        );
    }

    #[test]
    fn shard_level_series_start_where_they_are_first_read() {
        let store = MetricStore::default();
        let shard = incoming("kinesis_shard");
        store.observe(T0, shard(500));
        store.observe(T0 + 1000, shard(503));
        assert_eq!(
            minute_sums(&store, "IncomingRecords", T0, T0 + MINUTE_MS),
            [3.0]
        );
    }

    #[test]
    fn a_ratio_averages_to_its_share_and_keeps_minutes_of_zero_successes() {
        let store = MetricStore::default();
        let success = |part, whole| {
            vec![sample(
                "kinesis",
                "PutRecord.Success",
                SampleValue::Histogram {
                    sum: part,
                    count: whole,
                },
            )]
        };
        store.observe(T0, success(3.0, 4));
        store.observe(T0 + MINUTE_MS, success(3.0, 6));
        let (_, periods) = store
            .periods(&key("PutRecord.Success"), T0, T0 + 2 * MINUTE_MS, 60)
            .unwrap();
        let stats: Vec<(f64, f64)> = periods.iter().map(|(_, m)| (m.sum, m.count)).collect();
        assert_eq!(stats, vec![(3.0, 4.0), (0.0, 2.0)]);
    }

    #[test]
    fn history_older_than_a_day_is_dropped() {
        let store = MetricStore::default();
        let bytes = vec![sample("kinesis", "IncomingBytes", SampleValue::Counter(3))];
        store.observe(T0, bytes);
        assert_eq!(store.keys(None), vec![key("IncomingBytes")]);
        assert_eq!(store.keys(Some(T0 + MINUTE_MS)), vec![]);
        assert_eq!(
            store.keys(Some(T0 + MINUTE_MS - 1)),
            vec![key("IncomingBytes")]
        );
        store.observe(T0 + RETENTION_MINUTES * MINUTE_MS, vec![]);
        assert!(store.keys(None).is_empty());
    }
}
