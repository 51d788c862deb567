//! What a forward pass records (SPEC.md clause N3).

use serde::{Deserialize, Serialize};

use crate::config::{Activation, NetworkConfig};
use crate::counts::Counts;
use crate::site::QuantizedSite;

/// How much of the run a forward pass records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceLevel {
    /// Nothing beyond the logits.
    None,
    /// The counts of every quantized site tallied by neuron and value ([`CountTally`]), not
    /// the counts themselves: all that section B's metrics read, in a few kilobytes instead of
    /// one to eight bytes per neuron and step (what `eval` records).
    Tally,
    /// Integer spike counts of every quantized site.
    Counts,
    /// Counts, the integrator values `w_t` (SPEC Q1) before rounding (needed by the "explained"
    /// conformance level, clause C2), and the hidden states `h_t`.
    Full,
}

/// The record of one quantized site over a batch, batch-major: element (sample b, step t,
/// neuron k) is at `(b * steps + t) * neurons + k`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteTrace {
    /// Which site.
    pub site: QuantizedSite,
    /// The site's base activation (decides the sign bit of clause B1).
    pub activation: Activation,
    /// Sequences in the batch.
    pub batch: usize,
    /// Steps per sequence.
    pub steps: usize,
    /// Quantized neurons at this site.
    pub neurons: usize,
    /// Fan-out of one event of each neuron at every step but the last (clause B6).
    pub fan_out: Vec<u64>,
    /// Fan-out of one event of each neuron at the last step (clause B6).
    pub fan_out_last_step: Vec<u64>,
    /// Spike counts `n_t`, `batch * steps * neurons` values, in the narrowest integer width
    /// that holds them ([`Counts`]); empty at level [`TraceLevel::Tally`].
    pub counts: Counts,
    /// Integrator values `w_t = v_{t-1} + dt * r_t` (SPEC Q1) before rounding; empty unless the
    /// trace level is [`TraceLevel::Full`].
    pub integrator: Vec<f64>,
    /// The counts tallied by neuron and value, at level [`TraceLevel::Tally`] only (N3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tally: Option<CountTally>,
}

impl SiteTrace {
    /// The record of `site` in a network of `config` over `batch` sequences of `steps` steps:
    /// its activation, neuron count and fan-outs from the site registry (N2, B6), with the
    /// counts, integrators and tally a backend recorded.
    pub fn of_site(
        site: QuantizedSite,
        config: &NetworkConfig,
        (batch, steps): (usize, usize),
        counts: Counts,
        integrator: Vec<f64>,
        tally: Option<CountTally>,
    ) -> SiteTrace {
        let (fan_out, fan_out_last_step) = site.fan_outs(config);
        SiteTrace {
            site,
            activation: site.activation(&config.lmu),
            batch,
            steps,
            neurons: site.neurons(&config.lmu),
            fan_out,
            fan_out_last_step,
            counts,
            integrator,
            tally,
        }
    }

    /// Spike count of `neuron` at `step` of `sample`.
    pub fn count(&self, sample: usize, step: usize, neuron: usize) -> i64 {
        self.counts
            .get((sample * self.steps + step) * self.neurons + neuron)
    }
}

/// Everything a forward pass records besides the logits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// The quantizer time step the run used.
    pub dt: f64,
    /// One record per quantized site, in registry order ([`QuantizedSite::ALL`]: hidden,
    /// memory input, memory state); empty when nothing spikes or the trace level is
    /// [`TraceLevel::None`].
    pub sites: Vec<SiteTrace>,
    /// Hidden states `h_t`, `batch * steps * hidden_size` values; empty unless the level is
    /// [`TraceLevel::Full`].
    pub hidden: Vec<f64>,
}

impl Trace {
    /// The record of `site`, if it was quantized and recorded.
    pub fn site(&self, site: QuantizedSite) -> Option<&SiteTrace> {
        self.sites.iter().find(|record| record.site == site)
    }

    /// This trace at level [`TraceLevel::Tally`]: every site's counts replaced by their
    /// [`CountTally`] (N3), integrators and hidden states dropped. How a backend that records
    /// counts anyway answers the tally level.
    pub fn into_tallied(mut self) -> Trace {
        for site in &mut self.sites {
            site.tally = Some(site.counts.tally(site.steps, site.neurons));
            site.counts = Counts::new();
            site.integrator = Vec::new();
        }
        self.hidden = Vec::new();
        self
    }
}

impl TraceLevel {
    /// The level a backend that tallies after the fact asks of its computation (N3): counts
    /// for [`TraceLevel::Tally`], itself otherwise.
    pub fn recorded(self) -> TraceLevel {
        match self {
            TraceLevel::Tally => TraceLevel::Counts,
            other => other,
        }
    }
}

/// One cell of a [`CountTally`]: `times` updates of `neuron` produced the count `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TallyCell {
    /// The neuron, `0..neurons`.
    pub neuron: usize,
    /// The count `n_t`.
    pub count: i64,
    /// How many updates gave it (at least 1).
    pub times: u64,
}

/// A site's counts tallied by neuron and value, apart for the last step (whose fan-out
/// differs, B6): what the metrics of section B read (N3, level `tally`). Cells are sorted by
/// neuron, then count, each (neuron, count) at most once, zero counts included; the times of
/// `steps` and `last_step` together sum to `batch * steps * neurons`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountTally {
    /// The counts of every step but the last.
    pub steps: Vec<TallyCell>,
    /// The counts of the last step (step index `steps - 1`).
    pub last_step: Vec<TallyCell>,
}

impl CountTally {
    /// Adds every cell of `other`, a tally of the same site (shards of one batch, or
    /// batches), keeping the cells sorted, each (neuron, count) once.
    pub fn join(&mut self, other: CountTally) {
        self.steps = join_cells(std::mem::take(&mut self.steps), other.steps);
        self.last_step = join_cells(std::mem::take(&mut self.last_step), other.last_step);
    }

    /// The tally of `counts`, laid out as a [`SiteTrace`]'s (`steps` rows of `neurons` counts
    /// per sequence, the last of each sequence's rows its last step). A trailing piece shorter
    /// than a row is ignored.
    pub fn of_counts<T: Copy + Into<i64>>(
        counts: &[T],
        steps: usize,
        neurons: usize,
    ) -> CountTally {
        let mut tally = TallyBuilder::new(neurons);
        if neurons > 0 {
            for (row, counts) in counts.chunks_exact(neurons).enumerate() {
                tally.add_row(counts, row % steps.max(1) == steps.max(1) - 1);
            }
        }
        tally.finish()
    }
}

/// The cells of two sorted lists, sorted, the times of a (neuron, count) in both summed.
fn join_cells(first: Vec<TallyCell>, second: Vec<TallyCell>) -> Vec<TallyCell> {
    let mut joined = Vec::with_capacity(first.len() + second.len());
    let (mut first, mut second) = (first.into_iter().peekable(), second.into_iter().peekable());
    let key = |cell: &TallyCell| (cell.neuron, cell.count);
    loop {
        let order = match (first.peek(), second.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(a), Some(b)) => key(a).cmp(&key(b)),
        };
        match order {
            std::cmp::Ordering::Less => joined.extend(first.next()),
            std::cmp::Ordering::Greater => joined.extend(second.next()),
            std::cmp::Ordering::Equal => {
                if let (Some(a), Some(b)) = (first.next(), second.next()) {
                    joined.push(TallyCell {
                        times: a.times + b.times,
                        ..a
                    });
                }
            }
        }
    }
    joined
}

/// The most cells (neurons times values) a [`TallyBuilder`] keeps in its window; counts
/// beyond it are tallied in a map. 2^20 cells of 4 bytes for each of the two step kinds.
const MAX_WINDOW_CELLS: usize = 1 << 20;

/// Builds a [`CountTally`] (N3) row by row (one step of one sequence: a count per neuron), in
/// about a nanosecond per count: a window of values with a u32 cell per neuron and value,
/// neuron-major, that widens to take a count outside it, and a map for counts beyond
/// [`MAX_WINDOW_CELLS`]. The cells are 4 bytes so that a site's window (212 neurons by 21
/// values at dt 10: 18 KB) fits the first-level cache.
#[derive(Debug, Clone)]
pub struct TallyBuilder {
    neurons: usize,
    /// The window's first value; meaningful once `width > 0`.
    lowest: i64,
    /// Values in the window.
    width: usize,
    /// `neurons x width` times, neuron-major, for every step but the last and for the last.
    cells: [Vec<u32>; 2],
    /// Rows added since the cells were last emptied into `beyond`: a row adds at most one to
    /// a cell, so no cell passes this, and the cells are emptied before it reaches u32::MAX.
    window_rows: u32,
    /// `(last step?, neuron, count) -> times` for counts outside a window at its limit and
    /// the emptied cells; joined with the window's cells in [`Self::finish`].
    beyond: std::collections::BTreeMap<(bool, usize, i64), u64>,
}

impl TallyBuilder {
    /// An empty tally of `neurons` neurons.
    pub fn new(neurons: usize) -> Self {
        TallyBuilder {
            neurons,
            lowest: 0,
            width: 0,
            cells: [Vec::new(), Vec::new()],
            window_rows: 0,
            beyond: std::collections::BTreeMap::new(),
        }
    }

    /// Tallies one row of counts, one per neuron (`last`: of the last step). Panics when the
    /// row is not `neurons` long.
    pub fn add_row<T: Copy + Into<i64>>(&mut self, counts: &[T], last: bool) {
        assert_eq!(
            counts.len(),
            self.neurons,
            "a tally row has one count per neuron"
        );
        if self.window_rows == u32::MAX {
            self.empty_window();
        }
        self.window_rows += 1;
        let (lowest, width) = (self.lowest, self.width);
        // A slice, not the Vec: its pointer and length stay in registers across the stores.
        let cells: &mut [u32] = &mut self.cells[usize::from(last)];
        let mut outside = None;
        for (neuron, &count) in counts.iter().enumerate() {
            let offset = count.into().wrapping_sub(lowest) as u64;
            if offset < width as u64 {
                cells[neuron * width + offset as usize] += 1;
            } else {
                outside = Some(neuron);
                break;
            }
        }
        // Rare: a count outside the window (the first row, or a wider range than so far).
        if let Some(first) = outside {
            for (neuron, &count) in counts.iter().enumerate().skip(first) {
                self.add_outside(neuron, count.into(), last);
            }
        }
    }

    /// Tallies a count outside the window: in it once widened, else in the map.
    fn add_outside(&mut self, neuron: usize, count: i64, last: bool) {
        self.widen_to(count);
        let offset = count.wrapping_sub(self.lowest) as u64;
        if offset < self.width as u64 {
            self.cells[usize::from(last)][neuron * self.width + offset as usize] += 1;
        } else {
            *self.beyond.entry((last, neuron, count)).or_insert(0) += 1;
        }
    }

    /// Widens the window to take `count`, with room on that side, unless it would pass
    /// [`MAX_WINDOW_CELLS`].
    fn widen_to(&mut self, count: i64) {
        // A row's counts after its first one outside the window mostly lie inside it.
        if (count.wrapping_sub(self.lowest) as u64) < self.width as u64 {
            return;
        }
        // The window's extent in values, when it fits MAX_WINDOW_CELLS.
        let fits = |low: i64, high: i64| {
            high.checked_sub(low)
                .and_then(|span| usize::try_from(span).ok())
                .and_then(|span| span.checked_add(1))
                .filter(|&width| width.saturating_mul(self.neurons) <= MAX_WINDOW_CELLS)
        };
        let (low, high) = if self.width == 0 {
            (count, count)
        } else {
            let highest = self.lowest + (self.width as i64 - 1);
            (count.min(self.lowest), count.max(highest))
        };
        // Room beyond the count on its side (as much again as the window, at least 4
        // values), so that a slowly widening range reallocates a few times, not at every
        // new value; less room where the limit allows no more; none if the count alone
        // does not fit.
        let room = (self.width as i64).max(4);
        let Some((low, width)) = [room, room / 4, 0].into_iter().find_map(|room| {
            let low = if count < self.lowest || self.width == 0 {
                low.saturating_sub(room)
            } else {
                low
            };
            let high = if count >= self.lowest || self.width == 0 {
                high.saturating_add(room)
            } else {
                high
            };
            fits(low, high).map(|width| (low, width))
        }) else {
            return;
        };
        for cells in &mut self.cells {
            let mut wider = vec![0u32; self.neurons * width];
            if self.width > 0 {
                let shift = (self.lowest - low) as usize;
                for (old, new) in cells.chunks(self.width).zip(wider.chunks_mut(width)) {
                    new[shift..][..self.width].copy_from_slice(old);
                }
            }
            *cells = wider;
        }
        self.lowest = low;
        self.width = width;
    }

    /// Moves the window's cells into the map and zeroes them.
    fn empty_window(&mut self) {
        for (kind, cells) in self.cells.iter_mut().enumerate() {
            for (neuron, row) in cells.chunks_mut(self.width.max(1)).enumerate() {
                for (offset, times) in row.iter_mut().enumerate() {
                    if *times > 0 {
                        let count = self.lowest.wrapping_add(offset as i64);
                        *self.beyond.entry((kind == 1, neuron, count)).or_insert(0) +=
                            u64::from(*times);
                        *times = 0;
                    }
                }
            }
        }
        self.window_rows = 0;
    }

    /// The tally, sorted.
    pub fn finish(self) -> CountTally {
        let mut kinds = [Vec::new(), Vec::new()];
        for (kind, cells) in self.cells.iter().enumerate() {
            // The window's cells, sorted by neuron then count as they are laid out.
            let window = cells
                .chunks(self.width.max(1))
                .enumerate()
                .flat_map(|(neuron, row)| {
                    row.iter().enumerate().filter(|(_, &times)| times > 0).map(
                        move |(offset, &times)| TallyCell {
                            neuron,
                            count: self.lowest.wrapping_add(offset as i64),
                            times: u64::from(times),
                        },
                    )
                })
                .collect();
            let last = kind == 1;
            let beyond = self
                .beyond
                .range((last, 0, i64::MIN)..=(last, usize::MAX, i64::MAX))
                .map(|(&(_, neuron, count), &times)| TallyCell {
                    neuron,
                    count,
                    times,
                })
                .collect();
            kinds[kind] = join_cells(window, beyond);
        }
        let [steps, last_step] = kinds;
        CountTally { steps, last_step }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Rows of counts, one per neuron, each marked whether it is of the last step.
    type Rows = Vec<(Vec<i64>, bool)>;

    /// The tally counted one by one, in a map: the definition of N3's tally.
    fn one_by_one(rows: &Rows) -> CountTally {
        let mut map: BTreeMap<(bool, usize, i64), u64> = BTreeMap::new();
        for (row, last) in rows {
            for (neuron, &count) in row.iter().enumerate() {
                *map.entry((*last, neuron, count)).or_insert(0) += 1;
            }
        }
        let cells = |last: bool| {
            map.iter()
                .filter(|((kind, _, _), _)| *kind == last)
                .map(|(&(_, neuron, count), &times)| TallyCell {
                    neuron,
                    count,
                    times,
                })
                .collect()
        };
        CountTally {
            steps: cells(false),
            last_step: cells(true),
        }
    }

    /// Rows of `neurons` counts from a small generator, spread over `spread` values around
    /// `centre`, every seventh row of the last step.
    fn rows(
        seed: u64,
        count: usize,
        neurons: usize,
        centre: i64,
        spread: u64,
    ) -> Vec<(Vec<i64>, bool)> {
        let mut state = seed;
        (0..count)
            .map(|index| {
                let row = (0..neurons)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        centre.wrapping_add(((state >> 33) % spread) as i64 - (spread / 2) as i64)
                    })
                    .collect();
                (row, index % 7 == 6)
            })
            .collect()
    }

    fn built(rows: &[(Vec<i64>, bool)], neurons: usize) -> CountTally {
        let mut builder = TallyBuilder::new(neurons);
        for (row, last) in rows {
            builder.add_row(row, *last);
        }
        builder.finish()
    }

    /// N3: the builder's tally equals counting one by one, whether the counts stay in a few
    /// values, widen the window step by step, pass its limit into the map, or reach i64's ends.
    #[test]
    fn n3_tally_equals_counting_one_by_one() {
        let cases: Vec<(usize, Rows)> = vec![
            (3, rows(1, 40, 3, 0, 5)),
            (212, rows(2, 30, 212, 2, 23)),
            // Grows from a narrow start to thousands of values.
            (
                5,
                [rows(3, 5, 5, 0, 3), rows(4, 50, 5, -100, 4000)].concat(),
            ),
            // Wider than the window may be: most counts in the map.
            (4, rows(5, 30, 4, 0, 1 << 40)),
            // Counts first beyond the limit, then a window that comes to cover their values.
            (
                1,
                vec![
                    (vec![0], false),
                    (vec![5_000_000], false),
                    (vec![-5_000_000], false),
                    (vec![10], false),
                    (vec![100_000], false),
                    (vec![1_000_000], true),
                    (vec![100_000], true),
                ],
            ),
            (
                2,
                vec![
                    (vec![i64::MIN, i64::MAX], false),
                    (vec![i64::MAX, 0], true),
                    (vec![i64::MIN, i64::MIN], false),
                    (vec![-1, 1], false),
                ],
            ),
            (0, vec![(vec![], false), (vec![], true)]),
            // A window widened to its limit (2^20 values: [-4, 2^20 - 5]), then the count just
            // above it: the map.
            (
                1,
                vec![
                    (vec![0], false),
                    (vec![(1 << 20) - 14], false),
                    (vec![(1 << 20) - 4], false),
                    (vec![(1 << 20) - 4], true),
                    (vec![(1 << 20) - 5], true),
                ],
            ),
            // Near the limit, less room: after [-4, 4], 2^20 - 8 with 9 values of room would
            // pass it, with a quarter of that (2) not.
            (
                1,
                vec![
                    (vec![0], false),
                    (vec![(1 << 20) - 8], false),
                    (vec![3], true),
                ],
            ),
        ];
        for (index, (neurons, rows)) in cases.iter().enumerate() {
            assert_eq!(built(rows, *neurons), one_by_one(rows), "case {index}");
        }
    }

    /// N3: counts within a few values, widening the window up and down, are tallied in the
    /// window, none in the map (the map is the slow path, for counts the window cannot hold).
    #[test]
    fn n3_tally_keeps_narrow_counts_in_its_window() {
        let rows: Rows = vec![
            (vec![0, 1, 2], false),
            (vec![-3, 0, 5], false),
            (vec![-12, 9, 1], true),
            (vec![30, -40, 0], false),
            (vec![1, 1, 1], true),
        ];
        let mut builder = TallyBuilder::new(3);
        for (row, last) in &rows {
            builder.add_row(row, *last);
        }
        assert!(builder.width > 0 && builder.beyond.is_empty());
        assert_eq!(builder.finish(), one_by_one(&rows));
        assert_eq!(
            CountTally::of_counts::<i64>(&[], 4, 0),
            CountTally::default()
        );
    }

    /// N3: the window widens on the side of a new count with as much room again as it has
    /// (at least 4 values), a quarter of that near its limit: a range that grows value by
    /// value reallocates a few times, not at every value.
    #[test]
    fn n3_tally_window_widens_with_room_on_the_side_of_the_new_count() {
        let mut builder = TallyBuilder::new(2);
        let mut extents = Vec::new();
        for row in [[0i64, 0], [20, 0], [-50, 0], [3, -84]] {
            builder.add_row(&row, false);
            extents.push((builder.lowest, builder.width));
        }
        // [-4, 4]; then 20 with 9 of room: [-4, 29]; then -50 with 34: [-84, 29]; then nothing.
        assert_eq!(extents, vec![(-4, 9), (-4, 34), (-84, 114), (-84, 114)]);
        let mut near_limit = TallyBuilder::new(1);
        near_limit.add_row(&[0i64], false);
        near_limit.add_row(&[(1i64 << 20) - 8], false);
        // 9 values of room would make 2^20 + 6; 2 make 2^20 - 1.
        assert_eq!((near_limit.lowest, near_limit.width), (-4, (1 << 20) - 1));
    }

    /// N3: the window's u32 cells are emptied into the map before one could overflow.
    #[test]
    fn n3_tally_empties_its_window_before_a_cell_overflows() {
        let mut builder = TallyBuilder::new(1);
        builder.add_row(&[4i64], false);
        // As if u32::MAX - 1 rows had been tallied in the window, all of count 4.
        builder.window_rows = u32::MAX - 1;
        let offset = (4 - builder.lowest) as usize;
        builder.cells[0][offset] = u32::MAX - 1;
        for _ in 0..3 {
            builder.add_row(&[4i64], false);
        }
        assert_eq!(
            builder.finish().steps,
            vec![TallyCell {
                neuron: 0,
                count: 4,
                times: u64::from(u32::MAX) + 2
            }]
        );
    }

    /// N3: tallies joined equal the tally of all their rows (shards of a batch, batches of a
    /// test set).
    #[test]
    fn n3_joined_tallies_equal_the_tally_of_all_rows() {
        let first = rows(7, 20, 6, 3, 11);
        let second = rows(8, 25, 6, 400, 9000);
        let mut joined = built(&first, 6);
        joined.join(built(&second, 6));
        assert_eq!(joined, one_by_one(&[first, second].concat()));
        // Joined with nothing, or nothing with it: itself.
        let mut empty = CountTally::default();
        empty.join(joined.clone());
        assert_eq!(empty, joined);
        let copy = joined.clone();
        joined.join(CountTally::default());
        assert_eq!(joined, copy);
    }

    /// N3: a trace at level counts, tallied, keeps the tally of its counts with the last step
    /// of every sequence apart, and drops the counts, integrators and hidden states.
    #[test]
    fn n3_a_tallied_trace_keeps_the_tally_of_its_counts() {
        let (batch, steps, neurons) = (2, 3, 2);
        let counts: Vec<i64> = vec![1, 0, 2, 0, -1, 3, 0, 0, 4, 1, 1, 1];
        let site = SiteTrace {
            site: QuantizedSite::Hidden,
            activation: Activation::Tanh,
            batch,
            steps,
            neurons,
            fan_out: vec![1; neurons],
            fan_out_last_step: vec![1; neurons],
            counts: Counts::from(counts.clone()),
            integrator: vec![0.5; counts.len()],
            tally: None,
        };
        let trace = Trace {
            dt: 1.0,
            sites: vec![site],
            hidden: vec![0.0; batch * steps * neurons],
        }
        .into_tallied();
        let expected: Rows = counts
            .chunks(neurons)
            .enumerate()
            .map(|(row, values)| (values.to_vec(), row % steps == steps - 1))
            .collect();
        let site = &trace.sites[0];
        assert_eq!(site.tally.as_ref(), Some(&one_by_one(&expected)));
        // By hand: the last steps are rows 2 and 5, (-1, 3) and (1, 1).
        assert_eq!(
            site.tally.as_ref().map(|tally| tally.last_step.clone()),
            Some(vec![
                TallyCell {
                    neuron: 0,
                    count: -1,
                    times: 1
                },
                TallyCell {
                    neuron: 0,
                    count: 1,
                    times: 1
                },
                TallyCell {
                    neuron: 1,
                    count: 1,
                    times: 1
                },
                TallyCell {
                    neuron: 1,
                    count: 3,
                    times: 1
                },
            ])
        );
        assert!(site.counts.is_empty() && site.integrator.is_empty() && trace.hidden.is_empty());
    }
}
