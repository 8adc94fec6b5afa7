//! Metrics, written once for every service: counters, gauges and histograms kept in atomics on
//! the hot paths, and the one writer of `/metrics`, which speaks the Prometheus text format
//! (0.0.4) and OpenMetrics 1.0.
//!
//! A metric keeps its CloudWatch name with dots as underscores under its service's prefix
//! (`kinesis_PutRecords_Latency`); its dimensions are labels (`StreamName`, `ShardId`). Counters'
//! samples end in `_total` in both formats, so a query reads the same whichever was scraped.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A count that only grows.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A value that is set.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    pub fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    /// Lowers the value by `n`, not below zero, in one atomic step (others may add meanwhile).
    pub fn sub(&self, n: u64) {
        let _ = self
            .0
            .fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(n)));
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Bucket bounds of latencies, in microseconds: 0.1 ms to 10 s.
const LATENCY_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];
/// Bucket bounds of sizes (bytes, records): powers of four from 1 to 16 Mi.
const SIZES: [u64; 13] = [
    1,
    4,
    16,
    64,
    256,
    1 << 10,
    1 << 12,
    1 << 14,
    1 << 16,
    1 << 18,
    1 << 20,
    1 << 22,
    1 << 24,
];

/// A distribution: one counter per bucket (a value lands in one, so an observation is two
/// atomic adds), made cumulative when rendered.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [u64],
    /// Divides bounds and sum when rendered: latencies are kept in microseconds and shown in
    /// milliseconds, CloudWatch's unit for them.
    scale: u64,
    /// One per bound, then the overflow.
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl Histogram {
    /// Latencies, shown in milliseconds.
    pub fn latency() -> Histogram {
        Histogram::new(&LATENCY_US, 1000)
    }

    /// Sizes in bytes or records.
    pub fn sizes() -> Histogram {
        Histogram::new(&SIZES, 1)
    }

    fn new(bounds: &'static [u64], scale: u64) -> Histogram {
        Histogram {
            bounds,
            scale,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: u64) {
        let at = self.bounds.partition_point(|&b| b < value);
        self.buckets[at].fetch_add(1, Relaxed);
        self.sum.fetch_add(value, Relaxed);
    }

    /// Observes a latency histogram's duration.
    pub fn observe_duration(&self, took: Duration) {
        self.observe(took.as_micros().min(u64::MAX as u128) as u64);
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }
}

/// An API's calls as CloudWatch meters them: `<Op>.Requests` (every call), `<Op>.Success`
/// (successful ones; CloudWatch's Average of Success is their share) and `<Op>.Latency`.
#[derive(Debug)]
pub struct Call {
    pub success: Counter,
    pub latency: Histogram,
}

impl Default for Call {
    fn default() -> Self {
        Call {
            success: Counter::default(),
            latency: Histogram::latency(),
        }
    }
}

impl Call {
    /// Records one call that took `took`.
    pub fn finished(&self, took: Duration, ok: bool) {
        self.latency.observe_duration(took);
        if ok {
            self.success.inc();
        }
    }

    /// Adds the call's metrics to a scrape; `namespace` (`AWS/Kinesis`) goes into their help.
    pub fn render(
        &self,
        e: &mut Exposition,
        prefix: &str,
        namespace: &str,
        op: &str,
        labels: Labels,
    ) {
        let help = |metric: &str, unit: &str| format!("{namespace} {op}.{metric} ({unit})");
        // Success first: a call is counted in Requests before Success, so read the other way
        // round a scrape never shows more successes than calls.
        let success = self.success.get();
        let requests = self.latency.count();
        let name = format!("{op}.Requests");
        e.counter(prefix, &name, &help("Requests", "Count"), labels, requests);
        let name = format!("{op}.Success");
        e.ratio(
            prefix,
            &name,
            &help("Success", "Count"),
            labels,
            success,
            requests,
        );
        let name = format!("{op}.Latency");
        e.histogram(
            prefix,
            &name,
            &help("Latency", "Milliseconds"),
            labels,
            &self.latency,
        );
    }
}

/// Which exposition format a scrape asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Prometheus,
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the `Accept` header names it, as Prometheus asks; the text format
    /// otherwise.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

struct Family {
    name: String,
    kind: Kind,
    help: String,
    samples: String,
}

/// One scrape's text. Services add samples in any order; each metric's samples are kept
/// together under its one `# TYPE` line, as both formats require.
///
/// Or, made with `collect`, the samples of CloudWatch metrics (those whose help names an `AWS/`
/// namespace) as values, for what keeps a history of them (the CloudWatch API): the same walk
/// over every service's metrics feeds both.
pub struct Exposition {
    format: Format,
    families: Vec<Family>,
    index: HashMap<String, usize>,
    collected: Option<Vec<Sample>>,
}

/// One sample, as `Exposition::collect` keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub prefix: String,
    /// The CloudWatch namespace its help starts with (`AWS/Kinesis`).
    pub namespace: String,
    /// The metric's CloudWatch name (`PutRecords.Latency`).
    pub name: String,
    /// The unit its help names in parentheses (`Bytes`), `None` when it names none.
    pub unit: String,
    pub labels: Vec<(String, String)>,
    pub value: SampleValue,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SampleValue {
    /// A running total.
    Counter(u64),
    Gauge(f64),
    /// A histogram's running sum (in its unit) and count of observations; also a ratio's
    /// running part and whole (`Success` of `Requests`), whose average is the ratio.
    Histogram {
        sum: f64,
        count: u64,
    },
}

/// Label names and values of one sample.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

impl Exposition {
    pub fn new(format: Format) -> Exposition {
        Exposition {
            format,
            families: Vec::new(),
            index: HashMap::new(),
            collected: None,
        }
    }

    /// An exposition that keeps its samples as values (see `samples`) instead of text.
    pub fn collect() -> Exposition {
        Exposition {
            collected: Some(Vec::new()),
            ..Exposition::new(Format::Prometheus)
        }
    }

    /// The samples a `collect` exposition was given, in the order they came.
    pub fn samples(self) -> Vec<Sample> {
        self.collected.unwrap_or_default()
    }

    /// Keeps the sample when collecting (dropping it if CloudWatch has no counterpart of it: the
    /// log's, the process's); false when text is being written instead.
    fn kept(
        &mut self,
        prefix: &str,
        name: &str,
        help: &str,
        labels: Labels,
        value: impl FnOnce() -> SampleValue,
    ) -> bool {
        let Some(collected) = &mut self.collected else {
            return false;
        };
        let Some(namespace) = help
            .split_whitespace()
            .next()
            .filter(|n| n.starts_with("AWS/"))
        else {
            return true;
        };
        let unit = help
            .strip_suffix(')')
            .and_then(|h| h.rsplit_once('('))
            .map_or("None", |(_, unit)| unit);
        collected.push(Sample {
            prefix: prefix.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            unit: unit.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value: value(),
        });
        true
    }

    /// A counter's sample; `name` is the metric's CloudWatch name (dots allowed) under `prefix`.
    pub fn counter(&mut self, prefix: &str, name: &str, help: &str, labels: Labels, value: u64) {
        if self.kept(prefix, name, help, labels, || SampleValue::Counter(value)) {
            return;
        }
        let family = self.family(prefix, name, help, Kind::Counter);
        push_sample(family, "_total", labels, None, &value.to_string());
    }

    /// A count that is a part of another (`Success` of `Requests`): a counter in a scrape; kept
    /// as the part and the whole, so the history's average of it is the ratio, as CloudWatch's
    /// Average of `Success` is.
    pub fn ratio(
        &mut self,
        prefix: &str,
        name: &str,
        help: &str,
        labels: Labels,
        part: u64,
        whole: u64,
    ) {
        let ratio = || SampleValue::Histogram {
            sum: part as f64,
            count: whole,
        };
        if !self.kept(prefix, name, help, labels, ratio) {
            self.counter(prefix, name, help, labels, part);
        }
    }

    pub fn gauge(&mut self, prefix: &str, name: &str, help: &str, labels: Labels, value: f64) {
        if self.kept(prefix, name, help, labels, || SampleValue::Gauge(value)) {
            return;
        }
        let family = self.family(prefix, name, help, Kind::Gauge);
        push_sample(family, "", labels, None, &number(value));
    }

    pub fn histogram(
        &mut self,
        prefix: &str,
        name: &str,
        help: &str,
        labels: Labels,
        h: &Histogram,
    ) {
        let scale = h.scale as f64;
        let summary = || SampleValue::Histogram {
            sum: h.sum.load(Relaxed) as f64 / scale,
            count: h.count(),
        };
        if self.kept(prefix, name, help, labels, summary) {
            return;
        }
        let family = self.family(prefix, name, help, Kind::Histogram);
        let mut cumulative = 0;
        for (i, bucket) in h.buckets.iter().enumerate() {
            cumulative += bucket.load(Relaxed);
            let le = match h.bounds.get(i) {
                Some(&b) => format!("{:?}", b as f64 / scale),
                None => "+Inf".to_string(),
            };
            push_sample(
                family,
                "_bucket",
                labels,
                Some(&le),
                &cumulative.to_string(),
            );
        }
        let sum = h.sum.load(Relaxed) as f64 / scale;
        push_sample(family, "_sum", labels, None, &number(sum));
        push_sample(family, "_count", labels, None, &cumulative.to_string());
    }

    fn family(&mut self, prefix: &str, name: &str, help: &str, kind: Kind) -> &mut Family {
        let full = format!("{prefix}_{}", name.replace(['.', '-'], "_"));
        let at = match self.index.get(&full) {
            Some(&at) => {
                debug_assert_eq!(self.families[at].kind, kind, "{full} rendered as two kinds");
                at
            }
            None => {
                self.families.push(Family {
                    name: full.clone(),
                    kind,
                    help: help.to_string(),
                    samples: String::new(),
                });
                self.index.insert(full, self.families.len() - 1);
                self.families.len() - 1
            }
        };
        &mut self.families[at]
    }

    pub fn finish(self) -> String {
        let mut out = String::new();
        for f in &self.families {
            // The text format's counters are named as their samples are; OpenMetrics names the
            // family without the suffix.
            let name = match (f.kind, self.format) {
                (Kind::Counter, Format::Prometheus) => format!("{}_total", f.name),
                _ => f.name.clone(),
            };
            let kind = match f.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            let _ = writeln!(out, "# HELP {name} {}", escape(&f.help, false));
            let _ = writeln!(out, "# TYPE {name} {kind}");
            out.push_str(&f.samples);
        }
        if self.format == Format::OpenMetrics {
            out.push_str("# EOF\n");
        }
        out
    }
}

fn push_sample(family: &mut Family, suffix: &str, labels: Labels, le: Option<&str>, value: &str) {
    let out = &mut family.samples;
    out.push_str(&family.name);
    out.push_str(suffix);
    let mut pairs = labels.iter().copied().chain(le.map(|le| ("le", le)));
    if let Some((k, v)) = pairs.next() {
        let _ = write!(out, "{{{k}=\"{}\"", escape(v, true));
        for (k, v) in pairs {
            let _ = write!(out, ",{k}=\"{}\"", escape(v, true));
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}

/// Backslash and newline are escaped in help text and label values; double quotes in values.
fn escape(text: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

fn number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The process's own metrics under Prometheus's standard names: resident memory, open files and
/// CPU time, read from `/proc/self` (absent on systems without it).
pub fn render_process(e: &mut Exposition) {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok());
        if let Some(kib) = rss_kib {
            let help = "Resident memory size in bytes.";
            e.gauge(
                "process",
                "resident_memory_bytes",
                help,
                &[],
                (kib * 1024) as f64,
            );
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        let help = "Number of open file descriptors.";
        e.gauge("process", "open_fds", help, &[], fds.count() as f64);
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name, which is in parentheses and may hold spaces:
        // utime and stime are the 12th and 13th of them, in clock ticks.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        // SAFETY: sysconf only reads a constant of the running system.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let parse = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        if let (Some(user), Some(system)) = (parse(11), parse(12))
            && ticks > 0
        {
            let help = "Total user and system CPU time spent in seconds.";
            let seconds = (user + system) as f64 / ticks as f64;
            if !e.kept("process", "cpu_seconds", help, &[], || {
                SampleValue::Gauge(seconds)
            }) {
                let family = e.family("process", "cpu_seconds", help, Kind::Counter);
                push_sample(family, "_total", &[], None, &number(seconds));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_collecting_exposition_keeps_values_and_units_instead_of_text() {
        let mut e = Exposition::collect();
        e.counter("k", "A.B", "AWS/K A.B (Bytes)", &[("S", "x")], 3);
        e.gauge("k", "G", "AWS/K G without a unit", &[], 1.5);
        // Not a CloudWatch metric: not kept.
        e.gauge(
            "process",
            "open_fds",
            "Number of open file descriptors.",
            &[],
            9.0,
        );
        let h = Histogram::latency();
        h.observe(2500);
        h.observe(500);
        e.histogram("k", "L", "AWS/K L (Milliseconds)", &[], &h);
        let samples = e.samples();
        assert_eq!(
            samples[0],
            Sample {
                prefix: "k".into(),
                namespace: "AWS/K".into(),
                name: "A.B".into(),
                unit: "Bytes".into(),
                labels: vec![("S".into(), "x".into())],
                value: SampleValue::Counter(3),
            }
        );
        assert_eq!(
            (samples[1].unit.as_str(), &samples[1].value),
            ("None", &SampleValue::Gauge(1.5))
        );
        assert_eq!(
            (samples[2].unit.as_str(), &samples[2].value),
            (
                "Milliseconds",
                &SampleValue::Histogram { sum: 3.0, count: 2 }
            )
        );
        assert_eq!(samples.len(), 3);
    }

    #[test]
    fn families_stay_together_whatever_order_samples_come_in() {
        let mut e = Exposition::new(Format::Prometheus);
        e.counter("k", "A.B", "a", &[("S", "x\"y")], 3);
        e.gauge("k", "G", "g", &[], 1.5);
        e.counter("k", "A.B", "a", &[("S", "z")], 4);
        let text = e.finish();
        assert_eq!(
            text,
            "# HELP k_A_B_total a\n# TYPE k_A_B_total counter\n\
             k_A_B_total{S=\"x\\\"y\"} 3\nk_A_B_total{S=\"z\"} 4\n\
             # HELP k_G g\n# TYPE k_G gauge\nk_G 1.5\n"
        );
    }

    #[test]
    fn open_metrics_names_counter_families_without_suffix_and_ends_with_eof() {
        let mut e = Exposition::new(Format::OpenMetrics);
        e.counter("k", "C", "c", &[], 2);
        let text = e.finish();
        assert_eq!(
            text,
            "# HELP k_C c\n# TYPE k_C counter\nk_C_total 2\n# EOF\n"
        );
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
            )),
            Format::OpenMetrics
        );
        assert_eq!(Format::negotiate(None), Format::Prometheus);
    }

    #[test]
    fn the_process_reports_its_memory_and_files() {
        let mut e = Exposition::new(Format::Prometheus);
        render_process(&mut e);
        let text = e.finish();
        let value = |name: &str| -> f64 {
            let line = text.lines().find(|l| l.starts_with(&format!("{name} ")));
            line.and_then(|l| l.split(' ').nth(1)?.parse().ok())
                .unwrap_or_else(|| panic!("{name} missing in {text}"))
        };
        assert!(value("process_resident_memory_bytes") > 1e6);
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_cpu_seconds_total") >= 0.0);
    }

    #[test]
    fn histograms_render_cumulative_buckets_in_their_unit() {
        let h = Histogram::latency();
        h.observe_duration(Duration::from_micros(80));
        h.observe_duration(Duration::from_micros(100));
        h.observe_duration(Duration::from_millis(3));
        h.observe_duration(Duration::from_secs(60));
        assert_eq!(h.count(), 4);
        let mut e = Exposition::new(Format::Prometheus);
        e.histogram("p", "L", "l", &[("S", "s")], &h);
        let text = e.finish();
        assert!(
            text.contains("p_L_bucket{S=\"s\",le=\"0.1\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("p_L_bucket{S=\"s\",le=\"2.5\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("p_L_bucket{S=\"s\",le=\"5.0\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("p_L_bucket{S=\"s\",le=\"10000.0\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("p_L_bucket{S=\"s\",le=\"+Inf\"} 4\n"),
            "{text}"
        );
        assert!(text.contains("p_L_sum{S=\"s\"} 60003.18\n"), "{text}");
        assert!(text.contains("p_L_count{S=\"s\"} 4\n"), "{text}");
    }
}
