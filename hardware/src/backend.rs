//! The hardware backend (SPEC.md section H behind the [`Backend`] interface): a model file is
//! converted at the boundary by the conversion it is given (the reference's, in the CLI and
//! the conformance suite), run on the chip, and its integers reported as reals.

use std::sync::{Arc, Mutex};

use hsnn_spec::fixed::{ConversionOptions, FixedModel, FixedPointConversion};
use hsnn_spec::{
    Activation, Backend, ForwardOptions, ForwardOutput, HsnnError, LmuConfig, LmuMatrices, Model,
    QuantizedSite, QuantizerRun, Result, SequenceBatch, SiteTrace, Tensor2, Trace, TraceLevel,
};

use crate::arithmetic::{exponent_for, fire, nearest, saturate};
use crate::chip::{apply_rule, Chip};
use crate::counters::HardwareCounters;
use crate::engine::{run_batch, EngineRun};

/// Which engine computes the fixed-point network (clause H13). Both give the same integers and
/// the same counters; the chip is the ground truth, the fast engine the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// Dense integer products over the whole batch, counters derived from the counts
    /// ([`crate::fast`]).
    #[default]
    Fast,
    /// The event-driven chip, one sequence and one event at a time ([`crate::chip`]).
    Chip,
}

impl hsnn_spec::Words for Engine {
    const ALL: &'static [Self] = &[Engine::Fast, Engine::Chip];
    fn word(self) -> &'static str {
        match self {
            Engine::Fast => "fast",
            Engine::Chip => "chip",
        }
    }
}

impl Engine {
    /// The engine's name on the command line and in reports: `fast` or `chip`.
    pub fn name(self) -> &'static str {
        hsnn_spec::Words::word(self)
    }

    /// Runs `chip`'s model over a batch on this engine, keeping what trace level `level` asks
    /// for (clauses H8, H13, N3). Both engines give equal [`EngineRun`]s at every level.
    pub fn run(
        self,
        chip: &Chip,
        batch: &SequenceBatch,
        level: TraceLevel,
        threads: usize,
    ) -> Result<EngineRun> {
        match self {
            Engine::Fast => crate::fast::run_batch_fast(chip, batch, level, threads),
            Engine::Chip => {
                let (run, counters) = run_batch(chip, batch, level == TraceLevel::Full, threads)?;
                Ok(EngineRun::of_counts(chip, run, counters, level))
            }
        }
    }
}

/// The modeled chip as a [`Backend`] (clauses H8-H13). Model files are converted with
/// `options` by `conversion`; the last conversion is cached by the model's checksum.
pub struct HardwareBackend {
    conversion: Arc<dyn FixedPointConversion>,
    options: ConversionOptions,
    threads: usize,
    engine: Engine,
    cache: Mutex<Option<(String, Arc<Chip>)>>,
    pinned: Mutex<Option<Arc<Chip>>>,
    counters: Mutex<HardwareCounters>,
}

impl HardwareBackend {
    /// A backend converting with `conversion` at `options`, running on `threads` threads.
    pub fn new(
        conversion: Arc<dyn FixedPointConversion>,
        options: ConversionOptions,
        threads: usize,
    ) -> Self {
        HardwareBackend {
            conversion,
            options,
            threads: threads.max(1),
            engine: Engine::default(),
            cache: Mutex::new(None),
            pinned: Mutex::new(None),
            counters: Mutex::new(HardwareCounters::default()),
        }
    }

    /// The conversion options.
    pub fn options(&self) -> &ConversionOptions {
        &self.options
    }

    /// The same backend computing on `engine` (clause H13).
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// The engine that computes (clause H13).
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Runs `chip` (a fixed model file, clause H9) for every model of its configuration
    /// instead of converting: the model's weights are then ignored.
    pub fn pin(&self, chip: Chip) {
        *self
            .pinned
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = Some(Arc::new(chip));
    }

    /// The chip for `model`: the pinned one, or the model converted once and reused while the
    /// model is the same.
    pub fn chip(&self, model: &Model) -> Result<Arc<Chip>> {
        if let Some(pinned) = self
            .pinned
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .as_ref()
        {
            if pinned.model().config != model.config {
                return Err(HsnnError::invalid(
                    "config",
                    "differs from the configuration of the fixed model loaded into the chip",
                ));
            }
            return Ok(Arc::clone(pinned));
        }
        let key = model.content_checksum();
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some((cached, chip)) = cache.as_ref() {
            if *cached == key {
                return Ok(Arc::clone(chip));
            }
        }
        let chip = Arc::new(Chip::new(self.conversion.convert(model, &self.options)?)?);
        *cache = Some((key, Arc::clone(&chip)));
        Ok(chip)
    }

    /// Runs a fixed model directly (clauses H8, H13): its integers and the chip's counters,
    /// at trace level `level`.
    pub fn run_fixed(
        &self,
        model: &FixedModel,
        batch: &SequenceBatch,
        level: TraceLevel,
    ) -> Result<EngineRun> {
        self.engine
            .run(&Chip::new(model.clone())?, batch, level, self.threads)
    }

    /// The counters of every forward pass since the last call, then reset (clause H10).
    pub fn take_counters(&self) -> HardwareCounters {
        std::mem::take(
            &mut *self
                .counters
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()),
        )
    }
}

/// The reals a fixed run at trace level `level` stands for (clause H12): logits `L 2^-E_L`;
/// the counts, or at level `tally` their tallies (N3); for a full trace the integrators
/// `U_v 2^-F_v` and the hidden output (`alpha n / dt` or `H 2^-F_h`).
pub fn forward_output(chip: &Chip, engine_run: EngineRun, level: TraceLevel) -> ForwardOutput {
    let EngineRun {
        mut run,
        mut tallies,
        ..
    } = engine_run;
    let model = chip.model();
    let config = &model.config;
    let quantizer = &config.quantizer;
    let logit_scale = 2f64.powi(-run.logit_exponent);
    let v_scale = 2f64.powi(-(model.formats.integrator_fraction_bits as i32));
    // Taken before the counts move into their site's trace.
    let hidden = if level != TraceLevel::Full {
        Vec::new()
    } else if quantizer.placement.quantizes(QuantizedSite::Hidden) {
        run.counts[QuantizedSite::Hidden]
            .iter()
            .map(|&n| (quantizer.amplitude * n as f64) / quantizer.dt)
            .collect()
    } else {
        let scale = 2f64.powi(
            -model
                .formats
                .hidden
                .map_or(0, |format| format.fraction_bits),
        );
        run.hidden_output
            .iter()
            .map(|&h| h as f64 * scale)
            .collect()
    };
    let (batch, steps) = (run.batch, run.steps);
    let mut sites = Vec::new();
    if level != TraceLevel::None {
        for site in quantizer.placement.sites() {
            let integrator = if level == TraceLevel::Full {
                run.integrators[site]
                    .iter()
                    .map(|&u| u as f64 * v_scale)
                    .collect()
            } else {
                Vec::new()
            };
            sites.push(SiteTrace::of_site(
                site,
                config,
                (batch, steps),
                std::mem::take(&mut run.counts[site]).into(),
                integrator,
                // Present only at level tally (EngineRun).
                tallies[site].take(),
            ));
        }
    }
    ForwardOutput {
        logits: Tensor2 {
            rows: batch,
            cols: config.output_size,
            data: run.logits.iter().map(|&l| l as f64 * logit_scale).collect(),
        },
        trace: Trace {
            dt: quantizer.dt,
            sites,
            hidden,
        },
    }
}

/// `Abar`, `Bbar` as the chip stores them (H3's rounding to `bits`), dequantized.
fn stored(tensor: &Tensor2, bits: u32) -> Tensor2 {
    let max_abs = tensor.data.iter().fold(0.0f64, |max, v| max.max(v.abs()));
    let exponent = exponent_for(max_abs, bits);
    let scale = 2f64.powi(exponent);
    Tensor2 {
        rows: tensor.rows,
        cols: tensor.cols,
        data: tensor
            .data
            .iter()
            .map(|&value| nearest(value * scale) as f64 / scale)
            .collect(),
    }
}

impl Backend for HardwareBackend {
    fn name(&self) -> &str {
        "hardware"
    }

    fn lmu_matrices(&self, config: &LmuConfig) -> Result<LmuMatrices> {
        let exact = self.conversion.legendre(config)?;
        let bits = self.options.memory_matrix_bits;
        Ok(LmuMatrices {
            a_bar: stored(&exact.a_bar, bits),
            b_bar: stored(&exact.b_bar, bits),
            ..exact
        })
    }

    fn quantize(
        &self,
        activation: Activation,
        dt: f64,
        amplitude: f64,
        inputs: &Tensor2,
        initial_state: &[f64],
    ) -> Result<QuantizerRun> {
        hsnn_spec::backend::check_quantize_arguments(dt, amplitude, inputs, initial_state)?;
        let (rule, _) = self
            .conversion
            .site_activation(activation, dt, &self.options)?;
        let fraction_z = self.options.preactivation_fraction_bits as i32;
        let fraction_v = self.options.integrator_fraction_bits;
        let v_scale = 2f64.powi(-(fraction_v as i32));
        let mut states: Vec<i64> = initial_state
            .iter()
            .map(|&v0| (v0 * 2f64.powi(fraction_v as i32)).floor() as i64)
            .collect();
        let mut run = QuantizerRun {
            counts: Vec::with_capacity(inputs.data.len()),
            outputs: Vec::with_capacity(inputs.data.len()),
            integrator: Vec::with_capacity(inputs.data.len()),
            final_state: Vec::new(),
        };
        for row in inputs.data.chunks(inputs.cols.max(1)) {
            for (state, &x) in states.iter_mut().zip(row) {
                let (z, _) = saturate(
                    nearest(x * 2f64.powi(fraction_z)),
                    self.options.preactivation_bits,
                );
                let (count, integrator) = fire(state, apply_rule(&rule, z), fraction_v);
                run.counts.push(count);
                run.outputs.push((amplitude * count as f64) / dt);
                run.integrator.push(integrator as f64 * v_scale);
            }
        }
        run.final_state = states.iter().map(|&v| v as f64 * v_scale).collect();
        Ok(run)
    }

    fn forward(
        &self,
        model: &Model,
        batch: &SequenceBatch,
        options: &ForwardOptions,
    ) -> Result<ForwardOutput> {
        let chip = self.chip(model)?;
        let run = self.engine.run(&chip, batch, options.trace, self.threads)?;
        self.counters
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .add(&run.counters);
        Ok(forward_output(&chip, run, options.trace))
    }
}
