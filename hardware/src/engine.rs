//! What the two engines of the fixed-point network share (SPEC.md clauses H8, H12, H13): the
//! record of a batch run at a trace level ([`EngineRun`]), how a batch is checked and cut into
//! per-thread pieces, and the chip's own batch runner ([`run_batch`]). The fast engine
//! ([`crate::fast`]) and the backend ([`crate::backend`]) build on this module; it builds on the
//! chip alone, so no two of them import each other.

use hsnn_spec::fixed::FixedRun;
use hsnn_spec::{CountTally, HsnnError, QuantizedSite, Result, SequenceBatch, SiteMap, TraceLevel};

use crate::chip::Chip;
use crate::counters::HardwareCounters;

/// Runs `chip` over a batch (clause H8), sequences split across `threads` and reassembled in
/// order, so the integers and counters do not depend on the thread count.
pub fn run_batch(
    chip: &Chip,
    batch: &SequenceBatch,
    full: bool,
    threads: usize,
) -> Result<(FixedRun, HardwareCounters)> {
    check_batch(chip, batch)?;
    let length = batch.steps * batch.features;
    let run_one = |sample: usize| -> Result<(FixedRun, HardwareCounters)> {
        let mut state = chip.start(batch.sample_ids[sample], full);
        let sequence = &batch.data[sample * length..(sample + 1) * length];
        for step in sequence.chunks(batch.features) {
            chip.step(&mut state, step)?;
        }
        chip.finish(&mut state);
        Ok((state.record, state.counters))
    };
    let results: Vec<Result<(FixedRun, HardwareCounters)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = pieces(batch.batch, threads)
            .into_iter()
            .map(|range| {
                let run_one = &run_one;
                scope.spawn(move || range.map(run_one).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("a chip thread does not panic"))
            .collect()
    });
    let mut record = FixedRun {
        batch: batch.batch,
        steps: batch.steps,
        logit_exponent: chip.model().sums.logits.exponent,
        ..FixedRun::default()
    };
    let mut counters = HardwareCounters::default();
    for result in results {
        let (run, sequence_counters) = result?;
        record.logits.extend(run.logits);
        for site in QuantizedSite::ALL {
            record.counts[site].extend(&run.counts[site]);
            record.integrators[site].extend(&run.integrators[site]);
        }
        record.memory_input.extend(run.memory_input);
        record.memory.extend(run.memory);
        record.preactivation.extend(run.preactivation);
        record.hidden_output.extend(run.hidden_output);
        counters.add(&sequence_counters);
    }
    record.saturations = counters.saturations.clone();
    Ok((record, counters))
}

/// The contiguous pieces of `sequences` that `threads` threads run, in order, none empty: both
/// engines split a batch this way and reassemble it in order (H12: no thread-count effect).
pub fn pieces(sequences: usize, threads: usize) -> Vec<std::ops::Range<usize>> {
    let threads = threads.clamp(1, sequences.max(1));
    let per_thread = sequences.div_ceil(threads);
    (0..threads)
        .map(|thread| {
            (thread * per_thread).min(sequences)..((thread + 1) * per_thread).min(sequences)
        })
        .filter(|range| !range.is_empty())
        .collect()
}

/// Checks a batch against the chip's model before either engine runs it (SPEC.md E1, H8):
/// valid (finite, sized) and with the model's input width.
pub fn check_batch(chip: &Chip, batch: &SequenceBatch) -> Result<()> {
    batch.validate()?;
    let lmu = &chip.model().config.lmu;
    if batch.features != lmu.input_size {
        return Err(HsnnError::ShapeMismatch {
            name: "input batch features".into(),
            expected: format!("{} (the model's lmu.input_size)", lmu.input_size),
            found: batch.features.to_string(),
        });
    }
    Ok(())
}

/// A batch run on either engine at one trace level (clauses H12, H13, N3): the integers of
/// [`FixedRun`] that the level keeps, the counters (H10), and at level `tally` each spiking
/// site's [`CountTally`].
#[derive(Debug, Clone, PartialEq)]
pub struct EngineRun {
    /// The integers. The count records are empty at levels `none` and `tally`; the other
    /// per-step records at every level but `full`.
    pub run: FixedRun,
    /// The counters (H10), the same at every level.
    pub counters: HardwareCounters,
    /// At level `tally`, each spiking site's tally.
    pub tallies: SiteMap<Option<CountTally>>,
}

impl EngineRun {
    /// `run` (a record with its counts, as the chip keeps them at every level) answered at
    /// `level` for `chip`'s model: at `tally` each spiking site's counts replaced by their
    /// tally (N3), at `none` dropped.
    pub fn of_counts(
        chip: &Chip,
        mut run: FixedRun,
        counters: HardwareCounters,
        level: TraceLevel,
    ) -> Self {
        let model = chip.model();
        let lmu = &model.config.lmu;
        let steps = run.steps;
        let tallies = SiteMap::from_fn(|site| {
            if matches!(level, TraceLevel::None | TraceLevel::Tally) {
                let counts = std::mem::take(&mut run.counts[site]);
                (model.counts[site].is_some() && level == TraceLevel::Tally)
                    .then(|| CountTally::of_counts(&counts, steps, site.neurons(lmu)))
            } else {
                None
            }
        });
        EngineRun {
            run,
            counters,
            tallies,
        }
    }
}
