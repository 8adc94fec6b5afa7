//! `HOTSPOTS(cursor, windowSize, scanRadius, minimumNumberOfPointsInAHotspot)`: every row of the
//! cursor comes out with `HOTSPOTS_RESULT`, a JSON list of the relatively dense regions among the
//! numeric columns of the last `windowSize` rows (that row included).
//!
//! KDA SQL Reference: <https://docs.aws.amazon.com/kinesisanalytics/latest/sqlref/sqlrf-hotspots.html>.
//! It describes the search as density-based, `scanRadius` as the typical distance between a
//! hotspot's point and its nearest neighbours (DBSCAN's ε), and each hotspot by `density` (its
//! points over its size), `minValues` and `maxValues` (per numeric column); it does not publish
//! the algorithm. Ours, per row, in O(windowSize · d²) time for d numeric columns (no pairwise
//! distances):
//! 1. each column is standardised over the window (minus its mean, over its standard deviation),
//!    so one `scanRadius` fits columns of any unit;
//! 2. the window's points fall into a grid of cells `scanRadius` wide, counted in a hash map;
//! 3. a cell is dense when its points are as dense as DBSCAN's core neighbourhood,
//!    `minimumNumberOfPointsInAHotspot` points in a ball of radius `scanRadius`;
//! 4. a hotspot is a set of dense cells joined face to face (2·d neighbours a cell, so the cost
//!    stays linear in d); its points are theirs, its
//!    `density` their count over the volume of their bounding box in standardised units (each
//!    side at least `scanRadius`, so a hotspot of equal points stays finite).
//!
//! Hotspots are listed densest first.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion_common::arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use datafusion_common::arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion_common::{DataFusionError, Result, ScalarValue};
use serde::{Deserialize, Serialize};

use super::rcf::{Args, numeric_columns, numeric_values, output_schema, read_point};
use super::{Planned, TableFunction};

const FUNCTION: &str = "HOTSPOTS";

/// The first byte of a snapshot: the layout of what follows (CBOR of [`State`]).
const SNAPSHOT_FORMAT: u8 = 1;

/// `HOTSPOTS(cursor, windowSize, scanRadius, minimumNumberOfPointsInAHotspot)`: the cursor's rows
/// with `HOTSPOTS_RESULT VARCHAR` added. The reference gives these parameters no defaults, so all
/// three are required.
pub(super) fn hotspots(input: &SchemaRef, args: &[ScalarValue]) -> Result<Planned, String> {
    let args = Args::new(
        FUNCTION,
        args,
        &[
            "windowSize",
            "scanRadius",
            "minimumNumberOfPointsInAHotspot",
        ],
    )?;
    let window_size = args.integer(0, 100..=1000, None)?;
    let scan_radius = args.positive(1, None)?;
    let minimum_points = args.integer(2, 2..=window_size, None)?;
    let columns = numeric_columns(FUNCTION, input)?;
    let params = HotspotParams {
        window_size: usize::try_from(window_size).unwrap_or(usize::MAX),
        scan_radius,
        minimum_points: usize::try_from(minimum_points).unwrap_or(usize::MAX),
        dimensions: columns.len(),
    };
    let schema = output_schema(
        FUNCTION,
        input,
        vec![Field::new("HOTSPOTS_RESULT", DataType::Utf8, true)],
    )?;
    Ok(Planned {
        function: Box::new(Hotspots {
            window: Window::new(params.dimensions, params.window_size),
            params,
            columns,
            schema: schema.clone(),
        }),
        schema,
    })
}

/// What fixes the search; a snapshot only fits a function with the same.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct HotspotParams {
    window_size: usize,
    scan_radius: f64,
    minimum_points: usize,
    /// Numeric columns of the cursor.
    dimensions: usize,
}

struct Hotspots {
    params: HotspotParams,
    /// The cursor's numeric columns, the points' coordinates in order.
    columns: Vec<usize>,
    window: Window,
    schema: SchemaRef,
}

/// The last `capacity` points, oldest first, in fixed slots of one buffer (no allocation per row
/// once full).
struct Window {
    dims: usize,
    capacity: usize,
    values: Vec<f64>,
    /// The slot of the oldest point once the window is full (0 until then).
    start: usize,
    len: usize,
}

impl Window {
    fn new(dims: usize, capacity: usize) -> Self {
        Window {
            dims,
            capacity,
            values: Vec::with_capacity(dims * capacity),
            start: 0,
            len: 0,
        }
    }

    fn push(&mut self, point: &[f64]) {
        if self.len < self.capacity {
            self.values.extend_from_slice(point);
            self.len += 1;
        } else {
            let slot = self.start * self.dims;
            self.values[slot..slot + self.dims].copy_from_slice(point);
            self.start = (self.start + 1) % self.capacity;
        }
    }

    fn points(&self) -> impl Iterator<Item = &[f64]> + '_ {
        (0..self.len).map(move |i| {
            let slot = (self.start + i) % self.capacity * self.dims;
            &self.values[slot..slot + self.dims]
        })
    }
}

#[derive(Debug, Serialize)]
struct Hotspot {
    density: f64,
    #[serde(rename = "minValues")]
    min_values: Vec<f64>,
    #[serde(rename = "maxValues")]
    max_values: Vec<f64>,
}

#[derive(Serialize)]
struct HotspotsResult<'a> {
    hotspots: &'a [Hotspot],
}

/// A grid cell: the point whose key is the cell's, and how many points it holds.
struct Cell {
    first: usize,
    count: usize,
}

impl Hotspots {
    /// The window's hotspots, densest first (the module's steps 1 to 4).
    fn find(&self) -> Vec<Hotspot> {
        let d = self.params.dimensions;
        let n = self.window.len;
        let radius = self.params.scan_radius;
        if n < self.params.minimum_points {
            return Vec::new();
        }
        let mut mean = vec![0.0; d];
        for point in self.window.points() {
            mean.iter_mut().zip(point).for_each(|(m, v)| *m += v);
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut sd = vec![0.0; d];
        for point in self.window.points() {
            for ((s, v), m) in sd.iter_mut().zip(point).zip(&mean) {
                *s += (v - m) * (v - m);
            }
        }
        // A constant column (sd 0) puts every point in one cell along it.
        sd.iter_mut().for_each(|s| *s = (*s / n as f64).sqrt());

        let mut keys = Vec::with_capacity(n * d);
        for point in self.window.points() {
            for ((v, m), s) in point.iter().zip(&mean).zip(&sd) {
                let z = if *s > 0.0 { (v - m) / s } else { 0.0 };
                // `as` saturates, so a wild value lands in an edge cell rather than wrapping.
                keys.push((z / radius).floor() as i64);
            }
        }
        let mut index: HashMap<&[i64], usize> = HashMap::with_capacity(n);
        let mut cells: Vec<Cell> = Vec::new();
        let mut cell_of_point = Vec::with_capacity(n);
        for (i, key) in keys.chunks_exact(d).enumerate() {
            let cell = *index.entry(key).or_insert_with(|| {
                cells.push(Cell { first: i, count: 0 });
                cells.len() - 1
            });
            cells[cell].count += 1;
            cell_of_point.push(cell);
        }

        // DBSCAN's core density is minimumNumberOfPointsInAHotspot points in a ball of radius
        // scanRadius; a cell of side scanRadius reaches it with that many over the unit ball's
        // volume.
        let threshold = self.params.minimum_points as f64 / unit_ball_volume(d);
        let dense: Vec<bool> = cells.iter().map(|c| c.count as f64 >= threshold).collect();
        let mut adjacent = Vec::new();
        let mut probe = vec![0i64; d];
        for (cell, c) in cells.iter().enumerate().filter(|(cell, _)| dense[*cell]) {
            let key = &keys[c.first * d..(c.first + 1) * d];
            probe.copy_from_slice(key);
            for j in 0..d {
                // One step up each axis finds every face-to-face pair once.
                probe[j] = key[j].saturating_add(1);
                if let Some(&other) = index.get(&probe[..])
                    && other != cell
                    && dense[other]
                {
                    adjacent.push((cell, other));
                }
                probe[j] = key[j];
            }
        }
        let mut parent: Vec<usize> = (0..cells.len()).collect();
        for &(a, b) in &adjacent {
            let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
            parent[ra.max(rb)] = ra.min(rb);
        }

        // Each hotspot's points: count and per-column bounds, in original units.
        let mut hotspot_of_root: HashMap<usize, usize> = HashMap::new();
        let mut found: Vec<(usize, Vec<f64>, Vec<f64>)> = Vec::new();
        for (point, &cell) in self.window.points().zip(&cell_of_point) {
            if !dense[cell] {
                continue;
            }
            let r = root(&mut parent, cell);
            let h = *hotspot_of_root.entry(r).or_insert_with(|| {
                found.push((0, point.to_vec(), point.to_vec()));
                found.len() - 1
            });
            let (count, min, max) = &mut found[h];
            *count += 1;
            for ((lo, hi), v) in min.iter_mut().zip(max.iter_mut()).zip(point) {
                *lo = lo.min(*v);
                *hi = hi.max(*v);
            }
        }
        let mut hotspots: Vec<Hotspot> = found
            .into_iter()
            .map(|(count, min_values, max_values)| {
                let volume: f64 = min_values
                    .iter()
                    .zip(&max_values)
                    .zip(&sd)
                    .map(|((lo, hi), s)| {
                        if *s > 0.0 {
                            ((hi - lo) / s).max(radius)
                        } else {
                            radius
                        }
                    })
                    .product();
                Hotspot {
                    density: count as f64 / volume,
                    min_values,
                    max_values,
                }
            })
            .collect();
        hotspots.sort_by(|a, b| b.density.total_cmp(&a.density));
        hotspots
    }

    fn error(e: impl std::fmt::Display) -> DataFusionError {
        DataFusionError::Execution(format!("{FUNCTION}: {e}"))
    }
}

/// The volume of the ball of radius 1 in `d` dimensions: 2 on a line, π in the plane, and
/// V(d) = V(d - 2) · 2π / d on from there.
fn unit_ball_volume(d: usize) -> f64 {
    let mut volume = if d.is_multiple_of(2) { 1.0 } else { 2.0 };
    for k in (2 + d % 2..=d).step_by(2) {
        volume *= 2.0 * std::f64::consts::PI / k as f64;
    }
    volume
}

/// The representative of `cell`'s set, halving the path on the way.
fn root(parent: &mut [usize], mut cell: usize) -> usize {
    while parent[cell] != cell {
        parent[cell] = parent[parent[cell]];
        cell = parent[cell];
    }
    cell
}

impl TableFunction for Hotspots {
    fn process(&mut self, batch: &RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let values = numeric_values(batch, &self.columns)?;
        let mut results = StringBuilder::with_capacity(rows, rows * 128);
        let mut point = Vec::with_capacity(self.columns.len());
        for row in 0..rows {
            // A row with a NULL (or non-finite) measurement has no place in the space; it gets
            // the hotspots of the window as it stands.
            if read_point(&values, row, &mut point) {
                self.window.push(&point);
            }
            let hotspots = self.find();
            let json = serde_json::to_string(&HotspotsResult {
                hotspots: &hotspots,
            })
            .map_err(Self::error)?;
            results.append_value(json);
        }
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(results.finish()) as ArrayRef);
        out.push(RecordBatch::try_new(self.schema.clone(), columns)?);
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<u8>> {
        let points: Vec<f64> = self.window.points().flatten().copied().collect();
        let mut bytes = vec![SNAPSHOT_FORMAT];
        ciborium::into_writer(
            &State {
                params: self.params,
                points,
            },
            &mut bytes,
        )
        .map_err(|e| Self::error(format!("snapshot: {e}")))?;
        Ok(bytes)
    }

    fn restore(&mut self, state: &[u8]) -> Result<()> {
        let Some((&SNAPSHOT_FORMAT, body)) = state.split_first() else {
            return Err(Self::error("unreadable snapshot: unknown format"));
        };
        let state: State = ciborium::from_reader(body)
            .map_err(|e| Self::error(format!("unreadable snapshot: {e}")))?;
        let d = self.params.dimensions;
        if state.params != self.params || !state.points.len().is_multiple_of(d) {
            return Err(Self::error(format!(
                "the snapshot's window ({:?}) does not fit this one ({:?})",
                state.params, self.params
            )));
        }
        let mut window = Window::new(d, self.params.window_size);
        state.points.chunks_exact(d).for_each(|p| window.push(p));
        self.window = window;
        Ok(())
    }
}

/// What a snapshot holds: the window's points, oldest first, column after column.
#[derive(Serialize, Deserialize)]
struct State {
    params: HotspotParams,
    points: Vec<f64>,
}

#[cfg(test)]
mod tests {
    use datafusion_common::arrow::array::AsArray;

    use super::super::make;
    use super::super::rcf::tests::{Rng, cursor, rows};
    use super::*;

    fn plan(args: &[ScalarValue]) -> Result<Planned, String> {
        make("HOTSPOTS", &cursor(), args).map(|p| p.expect("a known table function"))
    }

    fn int(v: i64) -> ScalarValue {
        ScalarValue::Int64(Some(v))
    }

    fn results(function: &mut Box<dyn TableFunction>, batch: &RecordBatch) -> Vec<String> {
        let mut out = Vec::new();
        function.process(batch, &mut out).expect("processed");
        assert_eq!(out.len(), 1);
        let out = &out[0];
        for c in 0..4 {
            assert_eq!(out.column(c), batch.column(c));
        }
        out.column_by_name("HOTSPOTS_RESULT")
            .expect("HOTSPOTS_RESULT")
            .as_string::<i32>()
            .iter()
            .map(|s| s.expect("a result").to_owned())
            .collect()
    }

    /// (density, minValues, maxValues) of each hotspot in a result.
    fn parse(result: &str) -> Vec<(f64, Vec<f64>, Vec<f64>)> {
        let value: serde_json::Value = serde_json::from_str(result).expect("JSON");
        let numbers = |v: &serde_json::Value| -> Vec<f64> {
            v.as_array()
                .expect("an array")
                .iter()
                .map(|n| n.as_f64().expect("a number"))
                .collect()
        };
        value["hotspots"]
            .as_array()
            .expect("a hotspots array")
            .iter()
            .map(|h| {
                (
                    h["density"].as_f64().expect("a density"),
                    numbers(&h["minValues"]),
                    numbers(&h["maxValues"]),
                )
            })
            .collect()
    }

    #[test]
    fn a_dense_cluster_among_uniform_noise_is_the_densest_hotspot_and_its_bounds_hold_it() {
        // The Developer Guide's example: 1,000 rows, a fifth of them in one 1-by-1 square of a
        // 10-by-10 plane, HOTSPOTS(..., 1000, 0.2, 17). y runs 100 times wider than x here, so
        // the columns' scaling is exercised too.
        let planned =
            plan(&[int(1000), ScalarValue::Float64(Some(0.2)), int(17)]).expect("valid arguments");
        let names: Vec<_> = planned
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["ROWTIME", "x", "y", "note", "HOTSPOTS_RESULT"]);
        let mut function = planned.function;
        let mut rng = Rng::new(23);
        let points: Vec<(Option<f64>, i32)> = (0..1000)
            .map(|_| {
                if rng.uniform() < 0.2 {
                    (
                        Some(3.0 + rng.uniform()),
                        600 + (rng.uniform() * 100.0) as i32,
                    )
                } else {
                    (Some(rng.uniform() * 10.0), (rng.uniform() * 1000.0) as i32)
                }
            })
            .collect();
        let out = results(&mut function, &rows(&points, 0));
        // Before 17 rows there cannot be a hotspot.
        assert_eq!(out[0], r#"{"hotspots":[]}"#);

        let planted: Vec<[f64; 2]> = points
            .iter()
            .filter_map(|&(x, y)| x.map(|x| [x, f64::from(y)]))
            .filter(|[x, y]| (3.0..4.0).contains(x) && (600.0..700.0).contains(y))
            .collect();
        let bound = |j: usize, pick: fn(f64, f64) -> f64| {
            planted.iter().map(|p| p[j]).fold(planted[0][j], pick)
        };
        let (low, high) = (
            [bound(0, f64::min), bound(1, f64::min)],
            [bound(0, f64::max), bound(1, f64::max)],
        );
        let sd = |j: usize| {
            let values: Vec<f64> = points
                .iter()
                .map(|&(x, y)| {
                    if j == 0 {
                        x.unwrap_or(0.0)
                    } else {
                        f64::from(y)
                    }
                })
                .collect();
            let mean = values.iter().sum::<f64>() / 1000.0;
            (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 1000.0).sqrt()
        };

        let hotspots = parse(&out[999]);
        let (density, min, max) = &hotspots[0];
        for j in 0..2 {
            // It holds every planted point, and reaches at most one cell (scanRadius standard
            // deviations) past them.
            assert!(min[j] <= low[j] && max[j] >= high[j], "{hotspots:?}");
            let cell = 0.2 * sd(j);
            assert!(
                min[j] >= low[j] - cell && max[j] <= high[j] + cell,
                "{hotspots:?}"
            );
        }
        // Noise makes only small, much sparser hotspots.
        for (other, ..) in &hotspots[1..] {
            assert!(*density > 3.0 * other, "{hotspots:?}");
        }
    }

    #[test]
    fn bad_arguments_are_refused_with_the_documented_range() {
        let radius = ScalarValue::Float64(Some(0.013));
        let cases: &[(Vec<ScalarValue>, &str)] = &[
            (vec![], "windowSize must be an integer from 100 to 1000"),
            (
                vec![int(99), radius.clone(), int(20)],
                "windowSize must be an integer from 100 to 1000, not 99",
            ),
            (
                vec![int(1001), radius.clone(), int(20)],
                "windowSize must be an integer from 100 to 1000",
            ),
            (
                vec![int(1000)],
                "scanRadius must be a number greater than 0",
            ),
            (
                vec![int(1000), ScalarValue::Float64(Some(0.0)), int(20)],
                "scanRadius must be a number greater than 0, not 0",
            ),
            (
                vec![int(1000), ScalarValue::Float64(Some(-0.5)), int(20)],
                "scanRadius must be a number greater than 0",
            ),
            (
                vec![int(1000), ScalarValue::Utf8(Some("x".into())), int(20)],
                "scanRadius must be a number greater than 0",
            ),
            (
                vec![int(1000), radius.clone()],
                "minimumNumberOfPointsInAHotspot must be an integer from 2 to 1000",
            ),
            (
                vec![int(1000), radius.clone(), int(1)],
                "minimumNumberOfPointsInAHotspot must be an integer from 2 to 1000, not 1",
            ),
            (
                vec![int(500), radius.clone(), int(501)],
                "minimumNumberOfPointsInAHotspot must be an integer from 2 to 500",
            ),
            (
                vec![int(1000), radius.clone(), int(20), int(1)],
                "HOTSPOTS takes at most 3 arguments",
            ),
        ];
        for (args, expected) in cases {
            let error = plan(args)
                .err()
                .unwrap_or_else(|| panic!("{args:?} accepted"));
            assert!(error.contains(expected), "{args:?}: {error}");
        }
        // 0.013 as a DECIMAL literal is a scanRadius like any other number.
        assert!(plan(&[int(1000), ScalarValue::Decimal128(Some(13), 4, 3), int(20)]).is_ok());
    }

    #[test]
    fn a_restored_window_finds_what_the_uninterrupted_one_finds() {
        let args = [int(100), ScalarValue::Float64(Some(0.3)), int(5)];
        let mut running = plan(&args).expect("valid").function;
        let mut rng = Rng::new(29);
        let mut points = |n: usize| -> Vec<(Option<f64>, i32)> {
            (0..n)
                .map(|_| (Some(rng.normal()), (10.0 * rng.normal()) as i32))
                .collect()
        };
        results(&mut running, &rows(&points(150), 0));
        let state = running.snapshot().expect("snapshot");
        let mut restored = plan(&args).expect("valid").function;
        restored.restore(&state).expect("restored");

        let mut rest = points(100);
        rest[10].0 = None;
        let rest = rows(&rest, 150);
        let expected = results(&mut running, &rest);
        assert_eq!(expected, results(&mut restored, &rest));
        assert!(expected.iter().any(|r| !parse(r).is_empty()));
        // A row with a NULL measurement still gets the window's hotspots.
        assert_eq!(expected[10], expected[9]);

        let mut other = plan(&[int(200), ScalarValue::Float64(Some(0.3)), int(5)])
            .expect("valid")
            .function;
        assert!(other.restore(&state).is_err());
        assert!(restored.restore(&[]).is_err());
    }
}
