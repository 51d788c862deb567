//! The report of a run (SPEC.md clauses T7, B1-B6): the results file (format
//! `hsnn-results`), the evaluation of every stage's model against dt, the printed tables, and
//! the choice of the point within the paper's bit budgets. `reproduce` writes it after
//! training, `reproduce --pretrained` for the shipped models; neither owns it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use hsnn_spec::{
    model::write_atomically, HsnnError, Model, QuantizerPlacement, SiteMetrics, Trainer,
};
use serde::{Deserialize, Serialize};

use crate::data::LoadedData;
use crate::error::{TrainError, TrainResult};
use crate::evaluation::{evaluate, Evaluation};
use crate::experiment::Experiment;
use crate::training_loop::{EpochSummary, Observer};

/// The `format` tag of a results file.
pub const RESULTS_FORMAT: &str = "hsnn-results";
/// The results file version (version 1 had no version, configuration, threads or times;
/// version 2 had no null validation accuracies; version 3 no validation accuracy per sweep
/// point).
pub const RESULTS_FORMAT_VERSION: u32 = 4;

/// Seconds since the Unix epoch, now.
fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// The bit metrics of one site, per inference where it says so (SPEC.md section B).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteSummary {
    /// Site name (`hidden` or `memory_input`).
    pub site: String,
    /// B1 without sign.
    pub activity_bits: f64,
    /// B1 with the sign bit.
    pub activity_bits_signed: f64,
    /// B1: largest |count|.
    pub max_abs_count: u64,
    /// B2.
    pub mean_significant_bits: f64,
    /// B3.
    pub mean_popcount: f64,
    /// B4.
    pub nonzero_fraction: f64,
    /// B6: synaptic events per sequence.
    pub synaptic_events_per_inference: f64,
    /// B6: synaptic additions per sequence.
    pub synaptic_additions_per_inference: f64,
}

impl SiteSummary {
    fn new(metrics: &SiteMetrics, sequences: usize) -> Self {
        let per_inference = |value: u64| value as f64 / sequences.max(1) as f64;
        SiteSummary {
            site: metrics.site.name().into(),
            activity_bits: metrics.activity_bits,
            activity_bits_signed: metrics.activity_bits_signed,
            max_abs_count: metrics.max_abs_count,
            mean_significant_bits: metrics.mean_significant_bits,
            mean_popcount: metrics.mean_popcount,
            nonzero_fraction: metrics.nonzero_fraction,
            synaptic_events_per_inference: per_inference(metrics.events.synaptic_events),
            synaptic_additions_per_inference: per_inference(metrics.events.synaptic_additions),
        }
    }
}

/// One model evaluated at one setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Where the quantizer sat.
    pub placement: QuantizerPlacement,
    /// dt (meaningless when nothing spikes).
    pub dt: f64,
    /// Test accuracy.
    pub test_accuracy: f64,
    /// Test loss.
    pub test_loss: f64,
    /// Bit metrics of every quantized site.
    pub sites: Vec<SiteSummary>,
}

impl Measurement {
    fn new(model: &Model, evaluation: &Evaluation) -> Self {
        let sites: Vec<SiteSummary> = evaluation
            .metrics
            .sites
            .iter()
            .map(|metrics| SiteSummary::new(metrics, evaluation.samples))
            .collect();
        Measurement {
            placement: model.config.quantizer.placement,
            dt: model.config.quantizer.dt,
            test_accuracy: evaluation.accuracy,
            test_loss: evaluation.loss,
            sites,
        }
    }
}

/// A row of the results table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    /// What the row is.
    pub label: String,
    /// The measurement.
    pub measurement: Measurement,
    /// Validation accuracy of the same model and setting; `null` when the validation split
    /// was part of the model's training data (the shipped models on the embedded subset).
    pub validation_accuracy: Option<f64>,
}

/// One point of the dt sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// dt.
    pub dt: f64,
    /// The final (spiking-aware trained) model at this dt.
    pub trained: Measurement,
    /// The final model's validation accuracy at this dt (version 4), by which the point
    /// within the paper's bit budgets is chosen (clause B1); `null` when the validation split
    /// was not measured (files of version 3, or the shipped models on the embedded subset).
    #[serde(default)]
    pub trained_validation_accuracy: Option<f64>,
    /// The first stage's non-spiking weights converted to spikes at this dt, when the first
    /// stage did not spike.
    pub converted: Option<Measurement>,
}

/// What a stage did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageReport {
    /// Stage name.
    pub name: String,
    /// The epoch whose weights were kept.
    pub kept_epoch: usize,
    /// Per-epoch history.
    pub history: Vec<EpochSummary>,
}

/// Everything `hsnn reproduce` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Always [`RESULTS_FORMAT`].
    pub format: String,
    /// Always [`RESULTS_FORMAT_VERSION`].
    pub format_version: u32,
    /// What wrote the file: hsnn's version and the command.
    pub generator: String,
    /// The experiment's name.
    pub experiment: String,
    /// The whole experiment as it ran (network, data settings, seed, optimizer, stages).
    pub configuration: Experiment,
    /// Worker threads of the run (results do not depend on it, clause T8).
    pub threads: usize,
    /// When this run (this invocation, for a resumed run) started, seconds since 1970 (UTC).
    pub started_unix_s: u64,
    /// When it ended.
    pub ended_unix_s: u64,
    /// The data used.
    pub data: String,
    /// The backend that trained and evaluated.
    pub backend: String,
    /// Trainable parameters of the network.
    pub trainable_parameters: usize,
    /// Per-stage training history.
    pub stages: Vec<StageReport>,
    /// The table rows.
    pub rows: Vec<ResultRow>,
    /// The dt sweep.
    pub sweep: Vec<SweepPoint>,
    /// Wall-clock seconds of this run (not of resumed parts).
    pub seconds: f64,
}

impl Results {
    /// Reads a results file of this version or the two before it (version 2's validation
    /// accuracies are all numbers, which later versions read; version 3's sweep points have no
    /// validation accuracy, read as `null`).
    pub fn load(path: &Path) -> TrainResult<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| HsnnError::Io {
            action: "cannot read results file".into(),
            path: path.display().to_string(),
            source,
        })?;
        Results::from_json(&text, &path.display().to_string())
    }

    /// Parses a results file's text (versions as [`Results::load`]); `origin` names it.
    pub fn from_json(text: &str, origin: &str) -> TrainResult<Self> {
        Ok(hsnn_spec::model::parse_versioned_among(
            text,
            &format!("results file {origin}"),
            RESULTS_FORMAT,
            &[2, 3, RESULTS_FORMAT_VERSION],
        )?)
    }
}

/// Writes `results` as `results.json` in `out`, atomically.
pub fn write_results(results: &Results, out: &Path) -> TrainResult<()> {
    let json = serde_json::to_string_pretty(results).map_err(|error| HsnnError::Parse {
        what: "results".into(),
        reason: error.to_string(),
    })?;
    write_atomically(&results_path(out), json.as_bytes())?;
    Ok(())
}

/// When a command started, for the times a results file records.
#[derive(Debug, Clone, Copy)]
pub struct RunStart {
    /// For the wall-clock duration.
    pub instant: Instant,
    /// Seconds since the Unix epoch.
    pub unix_s: u64,
}

impl RunStart {
    /// Now.
    pub fn now() -> Self {
        RunStart {
            instant: Instant::now(),
            unix_s: unix_seconds(),
        }
    }
}

/// How [`report`] runs: whether the validation split is measured too, where progress goes,
/// and when the command started (the results' times and duration count from it).
#[derive(Clone, Copy)]
pub struct ReportSettings<'a> {
    /// Measure each row on the validation split as well (false when the validation split was
    /// part of the models' training data, as for the shipped models on the embedded subset).
    pub validation: bool,
    /// Receives a line before each evaluation.
    pub observer: &'a dyn Observer,
    /// When the command started.
    pub started: RunStart,
}

/// The report of a run whose stages produced `kept_models` (one per stage of `experiment`):
/// a row per stage (and for the first stage's non-spiking weights converted to spikes), and
/// the sweep over the experiment's evaluation dts, all on the test split (clause T7).
/// `command` names what produced it in the generator field.
pub fn report<T: Trainer>(
    trainer: &T,
    experiment: &Experiment,
    data: &LoadedData,
    kept_models: &[Model],
    stage_reports: Vec<StageReport>,
    command: &str,
    settings: ReportSettings<'_>,
) -> TrainResult<Results> {
    if kept_models.len() != experiment.stages.len() || kept_models.is_empty() {
        return Err(TrainError::Usage(format!(
            "{} models for the {} stages of experiment {}",
            kept_models.len(),
            experiment.stages.len(),
            experiment.name
        )));
    }
    let first_stage = &experiment.stages[0];
    let last_stage = &experiment.stages[experiment.stages.len() - 1];
    // The non-spiking weights that are also shown converted to spikes without spiking-aware
    // training: the first stage's, or the start model's when the first stage already spikes.
    let non_spiking_base = if first_stage.placement == QuantizerPlacement::NONE {
        Some((kept_models[0].clone(), first_stage.name.clone()))
    } else {
        match &experiment.start_model {
            Some(path) => {
                let start = crate::experiment::start_model(experiment)?;
                (start.config.quantizer.placement == QuantizerPlacement::NONE)
                    .then(|| (start, format!("start model {}", path.display())))
            }
            None => None,
        }
    };
    let converts = non_spiking_base.is_some() && last_stage.placement != QuantizerPlacement::NONE;
    // A row per stage, then (when converting) a row and a sweep point per dt for the
    // converted weights.
    // A start model that no stage trained non-spiking (the first stage already spikes) gets a
    // row of its own, so the report shows what the spiking stages started from.
    let start_row = first_stage.placement != QuantizerPlacement::NONE && non_spiking_base.is_some();
    let evaluations = experiment.stages.len()
        + usize::from(start_row)
        + experiment.evaluation_dts.len()
        + usize::from(converts) * (1 + experiment.evaluation_dts.len());
    let done = std::cell::Cell::new(0usize);
    let announce = |what: &str| {
        done.set(done.get() + 1);
        settings.observer.message(&format!(
            "evaluating ({}/{evaluations}, test split {} sequences): {what}",
            done.get(),
            data.split.test.len()
        ));
    };
    let measure = |model: &Model, what: &str| -> TrainResult<(Measurement, Option<f64>)> {
        announce(what);
        let test = evaluate(trainer, model, &data.split.test)?;
        let validation = if settings.validation {
            Some(evaluate(trainer, model, &data.split.validation)?.accuracy)
        } else {
            None
        };
        Ok((Measurement::new(model, &test), validation))
    };
    // The converted weights are compared at the dt the final model was kept at.
    let last_dt = kept_models[kept_models.len() - 1].config.quantizer.dt;
    let mut rows = Vec::new();
    for (stage, kept) in experiment.stages.iter().zip(kept_models) {
        let (measurement, validation_accuracy) = measure(kept, &format!("stage {}", stage.name))?;
        let kind = if stage.placement == QuantizerPlacement::NONE {
            "non-spiking"
        } else {
            "spiking-aware"
        };
        rows.push(ResultRow {
            label: format!("{} ({kind})", stage.name),
            measurement,
            validation_accuracy,
        });
    }
    if let (true, Some((base, base_name))) = (start_row, &non_spiking_base) {
        let (measurement, validation_accuracy) = measure(base, base_name)?;
        rows.insert(
            0,
            ResultRow {
                label: format!("{base_name} (non-spiking)"),
                measurement,
                validation_accuracy,
            },
        );
    }
    if let (true, Some((base, base_name))) = (converts, &non_spiking_base) {
        let converted = with_quantizer(base, last_stage.placement, last_dt);
        let (measurement, validation_accuracy) = measure(
            &converted,
            &format!("{base_name} converted at dt {last_dt}"),
        )?;
        rows.insert(
            1,
            ResultRow {
                label: format!("{base_name} weights converted to spikes"),
                measurement,
                validation_accuracy,
            },
        );
    }

    let mut sweep = Vec::new();
    let final_model = &kept_models[kept_models.len() - 1];
    for &dt in &experiment.evaluation_dts {
        let placement = last_stage.placement;
        announce(&format!("sweep dt {dt}, final model"));
        let trained_model = with_quantizer(final_model, placement, dt);
        let trained = evaluate(trainer, &trained_model, &data.split.test)?;
        let trained_validation_accuracy = if settings.validation {
            Some(evaluate(trainer, &trained_model, &data.split.validation)?.accuracy)
        } else {
            None
        };
        let converted = if let (true, Some((base, _))) = (converts, &non_spiking_base) {
            let model = with_quantizer(base, placement, dt);
            announce(&format!("sweep dt {dt}, converted weights"));
            let evaluation = evaluate(trainer, &model, &data.split.test)?;
            Some(Measurement::new(&model, &evaluation))
        } else {
            None
        };
        sweep.push(SweepPoint {
            dt,
            trained: Measurement::new(&trained_model, &trained),
            trained_validation_accuracy,
            converted,
        });
    }

    let results = Results {
        format: RESULTS_FORMAT.into(),
        format_version: RESULTS_FORMAT_VERSION,
        generator: format!("hsnn-train {} ({command})", env!("CARGO_PKG_VERSION")),
        experiment: experiment.name.clone(),
        configuration: experiment.clone(),
        threads: rayon::current_num_threads(),
        started_unix_s: settings.started.unix_s,
        ended_unix_s: unix_seconds(),
        data: data.description.clone(),
        backend: trainer.name().into(),
        trainable_parameters: experiment.network.trainable_parameter_count(),
        stages: stage_reports,
        rows,
        sweep,
        seconds: settings.started.instant.elapsed().as_secs_f64(),
    };
    Ok(results)
}

fn site_columns(site: Option<&SiteSummary>) -> String {
    match site {
        Some(site) => format!(
            "{} | {:.3} | {:.3} | {} | {:.3} | {:.3} | {:.3} | {:.0}",
            site.site,
            site.activity_bits,
            site.activity_bits_signed,
            site.max_abs_count,
            site.mean_significant_bits,
            site.mean_popcount,
            site.nonzero_fraction,
            site.synaptic_events_per_inference
        ),
        None => "- | - | - | - | - | - | - | -".into(),
    }
}

const TABLE_HEADER: &str = "| dt | test acc % | site | act bits | act bits +sign | max abs n | signif bits | popcount | nonzero frac | syn events / inference |";
const TABLE_RULE: &str = "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|";

/// The results as Markdown tables: one row per stage (and for the converted weights), then
/// the dt sweep. Deterministic for a fixed seed: what the snapshot test pins.
pub fn render_table(results: &Results) -> String {
    let mut text = format!(
        "## {} ({} trainable parameters, backend {})\n\n{}\n\n",
        results.experiment, results.trainable_parameters, results.backend, results.data
    );
    text.push_str(&format!("| model {TABLE_HEADER}\n|---{TABLE_RULE}\n"));
    for row in &results.rows {
        let measurement = &row.measurement;
        let dt = if measurement.placement == QuantizerPlacement::NONE {
            "-".to_string()
        } else {
            format!("{}", measurement.dt)
        };
        text.push_str(&format!(
            "| {} | {} | {:.2} | {} |\n",
            row.label,
            dt,
            100.0 * measurement.test_accuracy,
            site_columns(measurement.sites.first())
        ));
    }
    if !results.sweep.is_empty() {
        text.push_str(
            "\nSweep over dt of the final model (converted non-spiking weights in brackets):\n\n",
        );
        text.push_str(&format!("{TABLE_HEADER}\n{TABLE_RULE}\n"));
        for point in &results.sweep {
            let converted = point
                .converted
                .as_ref()
                .map(|c| format!(" ({:.2})", 100.0 * c.test_accuracy))
                .unwrap_or_default();
            text.push_str(&format!(
                "| {} | {:.2}{} | {} |\n",
                point.dt,
                100.0 * point.trained.test_accuracy,
                converted,
                site_columns(point.trained.sites.first())
            ));
        }
    }
    text
}

/// The path of the results file in an out folder.
pub fn results_path(out: &Path) -> PathBuf {
    out.join("results.json")
}

/// The paper's bit budgets for its hybrid-spiking LMU (docs/PAPER.md section 1): activity bits
/// on average over the hidden units, compared with the sign bit included (SPEC.md B1's
/// budget reading), and significant bits per event.
pub const PAPER_BUDGETS: (f64, f64) = (3.74, 1.26);

/// Whether `measurement`'s first quantized site is within [`PAPER_BUDGETS`] (clause B1's
/// budget reading: signed activity bits, mean significant bits).
pub fn within_paper_budgets(measurement: &Measurement) -> bool {
    measurement.sites.first().is_some_and(|site| {
        site.activity_bits_signed <= PAPER_BUDGETS.0
            && site.mean_significant_bits <= PAPER_BUDGETS.1
    })
}

/// How the point within the budgets was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetChoice {
    /// The highest validation accuracy (the earlier dt of the sweep on ties).
    ByValidation,
    /// No point has a validation accuracy (the validation split was part of the models'
    /// training data): the largest dt within the budgets, the least quantized one. Never by
    /// the test split.
    ByLargestDt,
}

/// The sweep point within the paper's bit budgets that the comparison reports, and how it was
/// chosen (clause B1): by validation accuracy, or, when no point has one, the largest dt.
/// `None` when no point is within the budgets. The test split never decides.
pub fn choose_within_budgets(sweep: &[SweepPoint]) -> Option<(&SweepPoint, BudgetChoice)> {
    let candidates: Vec<&SweepPoint> = sweep
        .iter()
        .filter(|point| within_paper_budgets(&point.trained))
        .collect();
    let validated = candidates
        .iter()
        .filter_map(|point| point.trained_validation_accuracy.map(|v| (*point, v)))
        .fold(
            None::<(&SweepPoint, f64)>,
            |best, (point, accuracy)| match best {
                Some((_, best_accuracy)) if best_accuracy >= accuracy => best,
                _ => Some((point, accuracy)),
            },
        );
    if let Some((point, _)) = validated {
        return Some((point, BudgetChoice::ByValidation));
    }
    candidates
        .into_iter()
        .fold(None::<&SweepPoint>, |best, point| match best {
            Some(best) if best.dt >= point.dt => Some(best),
            _ => Some(point),
        })
        .map(|point| (point, BudgetChoice::ByLargestDt))
}

fn bits_text(measurement: &Measurement) -> String {
    measurement.sites.first().map_or("-".to_string(), |site| {
        format!(
            "dt {}: {:.2} activity bits ({:.2} with sign), {:.2} significant bits per event",
            measurement.dt,
            site.activity_bits,
            site.activity_bits_signed,
            site.mean_significant_bits
        )
    })
}

/// The paper's comparison (docs/PAPER.md section 6) next to these results: the recurrent baselines
/// as the paper reports them; the paper's non-spiking LMU beside this run's non-spiking row;
/// its hybrid-spiking LMU beside this run's final spiking-aware model as kept, and beside the
/// best point of the sweep within the paper's bit budgets ([`PAPER_BUDGETS`]).
pub fn render_paper_comparison(results: &Results) -> String {
    let non_spiking = results
        .rows
        .iter()
        .find(|row| row.measurement.placement == QuantizerPlacement::NONE);
    let spiking = results
        .rows
        .iter()
        .rev()
        .find(|row| row.measurement.placement != QuantizerPlacement::NONE);
    let accuracy = |measurement: &Measurement| format!("{:.2}", 100.0 * measurement.test_accuracy);
    let within_budgets = choose_within_budgets(&results.sweep);
    let test_images = results
        .data
        .rsplit_once("/ ")
        .map_or("", |(_, test)| test)
        .replace(" test", " test images");
    let mut text = format!(
        "Paper comparison (psMNIST test accuracy %; hsnn on {test_images}):\n\n\
         | model | paper | hsnn | hsnn's bits |\n|---|---:|---:|---|\n\
         | LSTM | 89.86 | - | |\n| GRU | 92.39 | - | |\n| NRU | 95.38 | - | |\n"
    );
    if let Some(row) = non_spiking {
        text.push_str(&format!(
            "| LMU, non-spiking | 97.15 | {} | |\n",
            accuracy(&row.measurement)
        ));
    }
    if let Some(row) = spiking {
        text.push_str(&format!(
            "| hybrid-spiking LMU, as trained | above 95.38 | {} | {} |\n",
            accuracy(&row.measurement),
            bits_text(&row.measurement)
        ));
    }
    match within_budgets {
        Some((point, choice)) => text.push_str(&format!(
            "| hybrid-spiking LMU within <= {} activity bits with sign, <= {} significant bits ({}) | above 95.38 | {} | {} |\n",
            PAPER_BUDGETS.0,
            PAPER_BUDGETS.1,
            match choice {
                BudgetChoice::ByValidation => "dt chosen by validation accuracy",
                BudgetChoice::ByLargestDt => "largest dt within them: no validation split",
            },
            accuracy(&point.trained),
            bits_text(&point.trained)
        )),
        None => text.push_str("| hybrid-spiking LMU within the paper's bit budgets | above 95.38 | no point of the sweep is within them | |\n"),
    }
    if let Some(converted) = within_budgets.and_then(|(point, _)| point.converted.as_ref()) {
        text.push_str(&format!(
            "| the non-spiking weights converted to spikes at that dt, no spiking-aware training | | {} | {} |\n",
            accuracy(converted),
            bits_text(converted)
        ));
    }
    text
}

/// `model` with the quantizer moved to `placement` and `dt`, as a row of the report runs it.
fn with_quantizer(model: &Model, placement: QuantizerPlacement, dt: f64) -> Model {
    let mut model = model.clone();
    model.config.quantizer.placement = placement;
    model.config.quantizer.dt = dt;
    model
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spiking(dt: f64, accuracy: f64, signed_bits: f64, significant_bits: f64) -> Measurement {
        Measurement {
            placement: QuantizerPlacement::HIDDEN,
            dt,
            test_accuracy: accuracy,
            test_loss: 0.1,
            sites: vec![SiteSummary {
                site: "hidden".into(),
                activity_bits: signed_bits - 1.0,
                activity_bits_signed: signed_bits,
                max_abs_count: 1,
                mean_significant_bits: significant_bits,
                mean_popcount: significant_bits,
                nonzero_fraction: 0.5,
                synaptic_events_per_inference: 1.0,
                synaptic_additions_per_inference: 1.0,
            }],
        }
    }

    fn results(sweep: &[Measurement]) -> Results {
        let experiment = Experiment::load(None).expect("built-in experiment");
        let non_spiking = Measurement {
            placement: QuantizerPlacement::NONE,
            dt: 1.0,
            test_accuracy: 0.9647,
            test_loss: 0.1,
            sites: Vec::new(),
        };
        Results {
            format: RESULTS_FORMAT.into(),
            format_version: RESULTS_FORMAT_VERSION,
            generator: "test".into(),
            experiment: "psmnist-paper".into(),
            configuration: experiment,
            threads: 1,
            started_unix_s: 0,
            ended_unix_s: 0,
            data: "MNIST files, permutation seed 0: 50000 train / 10000 validation / 10000 test"
                .into(),
            backend: "reference".into(),
            trainable_parameters: 1,
            stages: Vec::new(),
            rows: vec![
                ResultRow {
                    label: "non_spiking".into(),
                    measurement: non_spiking,
                    validation_accuracy: None,
                },
                ResultRow {
                    label: "spiking".into(),
                    measurement: spiking(10.0, 0.9725, 5.0, 2.59),
                    validation_accuracy: None,
                },
            ],
            sweep: sweep
                .iter()
                .map(|measurement| SweepPoint {
                    dt: measurement.dt,
                    trained: measurement.clone(),
                    trained_validation_accuracy: None,
                    converted: None,
                })
                .collect(),
            seconds: 0.0,
        }
    }

    /// B1: the comparison picks, among the sweep's points whose signed activity bits and
    /// significant bits are both within the paper's budgets, the one with the best
    /// *validation* accuracy, even where the test split disagrees: here dt 1 has the better
    /// test accuracy (97.40 against 97.15) but dt 2 the better validation accuracy, and dt 2
    /// is reported. dt 4 is outside the budgets (4 signed activity bits, 1.27 significant
    /// bits) whatever its accuracy.
    #[test]
    fn b1_point_within_the_budgets_is_chosen_by_validation_not_test() {
        let mut results = results(&[
            spiking(4.0, 0.9790, 4.0, 1.27),
            spiking(2.0, 0.9715, 3.0, 1.0),
            spiking(1.0, 0.9740, 2.0, 1.0),
        ]);
        for (point, validation) in results.sweep.iter_mut().zip([0.99, 0.975, 0.970]) {
            point.trained_validation_accuracy = Some(validation);
        }
        let (chosen, how) = choose_within_budgets(&results.sweep).expect("a point");
        assert_eq!((chosen.dt, how), (2.0, BudgetChoice::ByValidation));
        let text = render_paper_comparison(&results);
        assert!(
            text.contains("(dt chosen by validation accuracy) | above 95.38 | 97.15 | dt 2:"),
            "{text}"
        );
        // The other way round, validation now favours dt 1.
        for (point, validation) in results.sweep.iter_mut().zip([0.99, 0.970, 0.975]) {
            point.trained_validation_accuracy = Some(validation);
        }
        assert_eq!(
            choose_within_budgets(&results.sweep).map(|(point, _)| point.dt),
            Some(1.0)
        );
    }

    /// B1's tie rules, on a sweep listed in ascending dt so that "first" and "largest" differ:
    /// equal validation accuracies keep the earlier point of the sweep (dt 1); without
    /// validation the largest dt within the budgets (dt 2) is taken, wherever it is listed.
    #[test]
    fn b1_ties_keep_the_earlier_point_and_no_validation_takes_the_largest_dt() {
        let mut results = results(&[
            spiking(1.0, 0.9600, 2.0, 1.0),
            spiking(2.0, 0.9700, 3.0, 1.0),
        ]);
        assert_eq!(
            choose_within_budgets(&results.sweep).map(|(point, how)| (point.dt, how)),
            Some((2.0, BudgetChoice::ByLargestDt))
        );
        for point in &mut results.sweep {
            point.trained_validation_accuracy = Some(0.97);
        }
        assert_eq!(
            choose_within_budgets(&results.sweep).map(|(point, how)| (point.dt, how)),
            Some((1.0, BudgetChoice::ByValidation))
        );
    }

    /// T7: without validation accuracies (the shipped models on the embedded subset) the
    /// comparison takes the largest dt within the budgets, never the best test accuracy (dt 1
    /// has the better test accuracy here, dt 2 is reported), and says so when none is.
    #[test]
    fn t7_paper_comparison_takes_the_best_point_within_the_bit_budgets() {
        let text = render_paper_comparison(&results(&[
            spiking(4.0, 0.9730, 4.0, 1.27),
            spiking(2.0, 0.9715, 3.0, 1.0),
            spiking(1.0, 0.9774, 2.0, 1.0),
        ]));
        assert!(
            text.contains("| LMU, non-spiking | 97.15 | 96.47 |"),
            "{text}"
        );
        assert!(text.contains("| above 95.38 | 97.25 | dt 10:"), "{text}");
        assert!(
            text.contains("significant bits (largest dt within them: no validation split) | above 95.38 | 97.15 | dt 2: 2.00 activity bits (3.00 with sign), 1.00 significant"),
            "{text}"
        );
        assert!(text.contains("10000 test images"), "{text}");
        let none = render_paper_comparison(&results(&[spiking(4.0, 0.9730, 4.0, 1.27)]));
        assert!(
            none.contains("no point of the sweep is within them"),
            "{none}"
        );
    }
}
