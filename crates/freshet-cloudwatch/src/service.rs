//! The served CloudWatch operations over the metric history: their checks (AWS's errors and
//! messages) and their answers.

use std::sync::Arc;

use freshet_runtime::metrics::Sample;

use crate::error::{CloudWatchError, Result};
use crate::model::*;
use crate::store::{MetricStore, Minute, SeriesKey};

/// The most datapoints one GetMetricStatistics answers.
const MAX_DATAPOINTS: i64 = 1440;
const MAX_QUERIES: usize = 500;
const LIST_PAGE: usize = 500;
const STATISTICS: [&str; 5] = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"];
/// Bounds that keep the arithmetic on milliseconds in range: year 9999, and a period of ten
/// years.
const MAX_EPOCH_SECONDS: f64 = 253_402_300_799.0;
const MAX_PERIOD: i64 = 10 * 366 * 86_400;
/// The most datapoints one GetMetricData answers across its results (AWS's default).
const MAX_DATA_DATAPOINTS: usize = 100_800;

#[derive(Clone, Default)]
pub struct CloudWatchService {
    store: Arc<MetricStore>,
}

fn invalid(message: impl Into<String>) -> CloudWatchError {
    CloudWatchError::InvalidParameterValue(message.into())
}

/// A period CloudWatch accepts: 1, 5, 10 or 30 seconds (high resolution) or a multiple of 60.
/// The history is per minute, so a shorter period answers per minute, as CloudWatch answers
/// standard-resolution metrics.
fn check_period(period: i64, parameter: &str) -> Result<()> {
    if period > MAX_PERIOD {
        return Err(invalid(format!(
            "The parameter {parameter} must not be greater than {MAX_PERIOD}."
        )));
    }
    if period <= 0 {
        return Err(invalid(format!(
            "The parameter {parameter} must be greater than 0."
        )));
    }
    if ![1, 5, 10, 30].contains(&period) && period % 60 != 0 {
        return Err(invalid(format!(
            "The parameter {parameter} must be a multiple of 60."
        )));
    }
    Ok(())
}

fn check_range(start: f64, end: f64) -> Result<(i64, i64)> {
    for (name, t) in [("StartTime", start), ("EndTime", end)] {
        if !(0.0..=MAX_EPOCH_SECONDS).contains(&t) {
            return Err(invalid(format!("The parameter {name} is out of range.")));
        }
    }
    if start >= end {
        return Err(invalid(
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    // Periods begin on whole minutes, as CloudWatch rounds a recent StartTime down to one.
    let start_ms = ((start * 1000.0) as i64).div_euclid(60_000) * 60_000;
    Ok((start_ms, (end * 1000.0) as i64))
}

fn series(namespace: &str, name: &str, dimensions: &[Dimension]) -> SeriesKey {
    let mut dimensions = dimensions.to_vec();
    dimensions.sort();
    SeriesKey {
        namespace: namespace.to_string(),
        name: name.to_string(),
        dimensions,
    }
}

fn statistic(m: &Minute, stat: &str) -> f64 {
    match stat {
        "SampleCount" => m.count,
        "Sum" => m.sum,
        "Minimum" => m.min,
        "Maximum" => m.max,
        _ => m.sum / m.count,
    }
}

impl CloudWatchService {
    /// Takes one reading of every service's metrics (see `MetricStore::observe`).
    pub fn observe(&self, now_ms: i64, samples: Vec<Sample>) {
        self.store.observe(now_ms, samples);
    }

    pub fn get_metric_statistics(
        &self,
        input: GetMetricStatisticsInput,
    ) -> Result<GetMetricStatisticsOutput> {
        let statistics = match (&input.statistics, &input.extended_statistics) {
            (Some(s), None) if !s.is_empty() => s,
            (None, Some(_)) => {
                return Err(invalid(
                    "ExtendedStatistics (percentiles) are not kept by this server; ask for Statistics.",
                ));
            }
            _ => {
                return Err(CloudWatchError::InvalidParameterCombination(
                    "Must specify either Statistics or ExtendedStatistics, but not both.".into(),
                ));
            }
        };
        if let Some(bad) = statistics
            .iter()
            .find(|s| !STATISTICS.contains(&s.as_str()))
        {
            return Err(invalid(format!(
                "The parameter Statistics contains an invalid value: {bad}."
            )));
        }
        check_period(input.period, "Period")?;
        let (start_ms, end_ms) = check_range(input.start_time, input.end_time)?;
        let period_ms = input.period * 1000;
        let requested = (end_ms - start_ms + period_ms - 1) / period_ms;
        if requested > MAX_DATAPOINTS {
            return Err(CloudWatchError::InvalidParameterCombination(format!(
                "You have requested up to {requested} datapoints, which exceeds the limit of {MAX_DATAPOINTS}. You may reduce the datapoints requested by increasing Period, or decreasing the time range."
            )));
        }
        let key = series(&input.namespace, &input.metric_name, &input.dimensions);
        let datapoints = match self.store.periods(&key, start_ms, end_ms, input.period) {
            Some((unit, periods)) if input.unit.as_ref().is_none_or(|u| *u == unit) => periods
                .iter()
                .map(|(at, m)| {
                    let value = |name: &str| {
                        statistics
                            .iter()
                            .any(|s| s == name)
                            .then(|| statistic(m, name))
                    };
                    Datapoint {
                        timestamp: *at as f64 / 1000.0,
                        sample_count: value("SampleCount"),
                        average: value("Average"),
                        sum: value("Sum"),
                        minimum: value("Minimum"),
                        maximum: value("Maximum"),
                        unit: unit.clone(),
                    }
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(GetMetricStatisticsOutput {
            label: input.metric_name,
            datapoints,
        })
    }

    /// Answers every query; when they hold more datapoints than `MaxDatapoints` (100,800 by
    /// default), the first that many, with a `NextToken` (how many were given) that resumes
    /// after them, each cut result marked `PartialData`.
    pub fn get_metric_data(&self, input: GetMetricDataInput) -> Result<GetMetricDataOutput> {
        let skip = match &input.next_token {
            None => 0,
            Some(token) => token
                .parse::<usize>()
                .map_err(|_| CloudWatchError::InvalidNextToken)?,
        };
        let max = match input.max_datapoints {
            None => MAX_DATA_DATAPOINTS,
            Some(n) if n > 0 => n as usize,
            Some(n) => {
                return Err(invalid(format!(
                    "The parameter MaxDatapoints must be greater than 0, not {n}."
                )));
            }
        };
        if input.metric_data_queries.is_empty() || input.metric_data_queries.len() > MAX_QUERIES {
            return Err(invalid(format!(
                "The collection MetricDataQueries must not be empty and must not have more than {MAX_QUERIES} elements."
            )));
        }
        let (start_ms, end_ms) = check_range(input.start_time, input.end_time)?;
        let ascending = match input.scan_by.as_deref() {
            None | Some("TimestampDescending") => false,
            Some("TimestampAscending") => true,
            Some(other) => {
                return Err(invalid(format!(
                    "The parameter ScanBy is invalid: {other}."
                )));
            }
        };
        let mut ids = std::collections::HashSet::new();
        let mut results = Vec::new();
        for (i, q) in input.metric_data_queries.iter().enumerate() {
            let at = format!("MetricDataQueries.member.{}", i + 1);
            let valid_id = q.id.starts_with(|c: char| c.is_ascii_lowercase())
                && q.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_id {
                return Err(invalid(format!(
                    "The value {} for parameter {at}.Id is invalid.",
                    q.id
                )));
            }
            if !ids.insert(q.id.as_str()) {
                return Err(invalid(format!(
                    "The value {} for parameter {at}.Id is not unique.",
                    q.id
                )));
            }
            let stat = match (&q.metric_stat, &q.expression) {
                (Some(stat), None) => stat,
                (None, Some(_)) => {
                    return Err(invalid(format!(
                        "The parameter {at}.Expression is not supported: metric math is not evaluated by this server."
                    )));
                }
                _ => {
                    return Err(invalid(format!(
                        "Exactly one of {at}.MetricStat and {at}.Expression must be set."
                    )));
                }
            };
            check_period(stat.period, &format!("{at}.MetricStat.Period"))?;
            if !STATISTICS.contains(&stat.stat.as_str()) {
                return Err(invalid(format!(
                    "The parameter {at}.MetricStat.Stat is invalid: {} (this server keeps SampleCount, Average, Sum, Minimum and Maximum).",
                    stat.stat
                )));
            }
            let metric = &stat.metric;
            let (Some(namespace), Some(name)) = (&metric.namespace, &metric.metric_name) else {
                return Err(CloudWatchError::MissingParameter(format!(
                    "The parameter {at}.MetricStat.Metric must name its Namespace and MetricName."
                )));
            };
            if q.return_data == Some(false) {
                continue;
            }
            let key = series(namespace, name, &metric.dimensions);
            let mut points = match self.store.periods(&key, start_ms, end_ms, stat.period) {
                Some((unit, periods)) if stat.unit.as_ref().is_none_or(|u| *u == unit) => periods,
                _ => Vec::new(),
            };
            if !ascending {
                points.reverse();
            }
            results.push(MetricDataResult {
                id: q.id.clone(),
                label: q.label.clone().unwrap_or_else(|| name.clone()),
                timestamps: points.iter().map(|(at, _)| *at as f64 / 1000.0).collect(),
                values: points
                    .iter()
                    .map(|(_, m)| statistic(m, &stat.stat))
                    .collect(),
                status_code: "Complete",
                messages: Vec::new(),
            });
        }
        // The page: datapoints `skip..skip + max` of all the results, in order.
        let mut seen = 0;
        let mut more = false;
        for r in &mut results {
            let n = r.values.len();
            let from = skip.saturating_sub(seen).min(n);
            let to = (skip + max).saturating_sub(seen).min(n);
            seen += n;
            if to < n {
                more = true;
                r.status_code = "PartialData";
            }
            r.timestamps = r.timestamps[from..to].to_vec();
            r.values = r.values[from..to].to_vec();
        }
        if skip > 0 && skip >= seen {
            return Err(CloudWatchError::InvalidNextToken);
        }
        Ok(GetMetricDataOutput {
            metric_data_results: results,
            next_token: more.then(|| (skip + max).to_string()),
            messages: Vec::new(),
        })
    }

    pub fn list_metrics(&self, input: ListMetricsInput, now_ms: i64) -> Result<ListMetricsOutput> {
        let since = match input.recently_active.as_deref() {
            None => None,
            Some("PT3H") => Some(now_ms - 3 * 3600 * 1000),
            Some(other) => {
                return Err(invalid(format!(
                    "The parameter RecentlyActive must be PT3H, not {other}."
                )));
            }
        };
        let filters = input.dimensions.unwrap_or_default();
        let matching: Vec<SeriesKey> = self
            .store
            .keys(since)
            .into_iter()
            .filter(|k| input.namespace.as_ref().is_none_or(|n| *n == k.namespace))
            .filter(|k| input.metric_name.as_ref().is_none_or(|n| *n == k.name))
            .filter(|k| {
                filters.iter().all(|f| {
                    k.dimensions
                        .iter()
                        .any(|d| d.name == f.name && f.value.as_ref().is_none_or(|v| *v == d.value))
                })
            })
            .collect();
        let from = match &input.next_token {
            None => 0,
            Some(token) => token
                .parse::<usize>()
                .ok()
                .filter(|&at| at < matching.len())
                .ok_or_else(|| invalid("The parameter NextToken is invalid."))?,
        };
        let to = (from + LIST_PAGE).min(matching.len());
        Ok(ListMetricsOutput {
            metrics: matching[from..to]
                .iter()
                .map(|k| Metric {
                    namespace: Some(k.namespace.clone()),
                    metric_name: Some(k.name.clone()),
                    dimensions: k.dimensions.clone(),
                })
                .collect(),
            next_token: (to < matching.len()).then(|| to.to_string()),
        })
    }
}
