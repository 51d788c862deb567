//! The paper run's trained models, shipped in the repository (`models/psmnist-paper/`), and
//! the quick path that evaluates them without training (`hsnn reproduce --pretrained`,
//! SPEC.md clause T7).

use std::io::Read;
use std::path::Path;

use hsnn_spec::{Model, Trainer};

use crate::data;
use crate::error::{TrainError, TrainResult};
use crate::experiment::Experiment;
use crate::report::{report, write_results, ReportSettings, Results, RunStart, StageReport};
use crate::training_loop::Observer;

/// The experiment the shipped models were trained with (`configs/psmnist-paper.json`).
pub const PAPER_EXPERIMENT: &str = include_str!("../../configs/psmnist-paper.json");

/// The shipped models, gzipped model files (format 2, with provenance), one per stage of
/// [`PAPER_EXPERIMENT`] in stage order: the file name and its bytes.
pub const SHIPPED_MODELS: [(&str, &[u8]); 2] = [
    (
        "models/psmnist-paper/model-non_spiking.json.gz",
        include_bytes!("../../models/psmnist-paper/model-non_spiking.json.gz"),
    ),
    (
        "models/psmnist-paper/model-spiking.json.gz",
        include_bytes!("../../models/psmnist-paper/model-spiking.json.gz"),
    ),
];

/// The paper experiment, parsed and validated.
pub fn paper_experiment() -> TrainResult<Experiment> {
    Experiment::from_json(PAPER_EXPERIMENT, "configs/psmnist-paper.json (built in)")
}

/// The shipped models, unpacked and read as model files (their weights' checksums checked,
/// clause E2), each checked to be the paper experiment's network and its stage's model.
pub fn shipped_models() -> TrainResult<Vec<Model>> {
    let experiment = paper_experiment()?;
    SHIPPED_MODELS
        .iter()
        .zip(&experiment.stages)
        .map(|((name, bytes), stage)| {
            let mut text = String::new();
            flate2::read::GzDecoder::new(*bytes)
                .read_to_string(&mut text)
                .map_err(|error| {
                    TrainError::Usage(format!("shipped model {name} does not unpack: {error}"))
                })?;
            let model = Model::from_json(&text, name)?;
            let provenance = model.provenance.as_ref().ok_or_else(|| {
                TrainError::Usage(format!("shipped model {name} has no provenance"))
            })?;
            if model.config.lmu != experiment.network.lmu
                || provenance.stage != stage.name
                || provenance.experiment != experiment.name
            {
                return Err(TrainError::Usage(format!(
                    "shipped model {name} is stage {:?} of experiment {:?}, not stage {:?} of {:?}",
                    provenance.stage, provenance.experiment, stage.name, experiment.name
                )));
            }
            Ok(model)
        })
        .collect()
}

/// Evaluates the shipped models as `hsnn reproduce` evaluates a finished run (a row per stage,
/// the converted non-spiking weights, the dt sweep) on the test split of the embedded subset
/// (`data_directory` `None`: its 1,000 test images, the first of the MNIST test file) or of
/// the MNIST files, and writes `results.json` into `out`. The validation split is measured
/// only on the MNIST files: the embedded subset's validation images are training images of
/// the full run. A folder holding a training run's checkpoints or models is refused unless
/// `force`; an earlier pretrained report in it is replaced.
pub fn reproduce_pretrained<T: Trainer>(
    trainer: &T,
    data_directory: Option<&Path>,
    out: &Path,
    force: bool,
    observer: &dyn Observer,
) -> TrainResult<Results> {
    let started = RunStart::now();
    let experiment = paper_experiment()?;
    let models = shipped_models()?;
    let training_files: Vec<String> = std::fs::read_dir(out)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            (name.starts_with("checkpoint-") || name.starts_with("model-"))
                && name.ends_with(".json")
        })
        .collect();
    if !training_files.is_empty() && !force {
        return Err(TrainError::Usage(format!(
            "{} holds a training run ({}); write the pretrained report elsewhere with --out, or \
             pass --force to put it beside them",
            out.display(),
            training_files.join(", ")
        )));
    }
    let _lock = crate::run_folder::prepare(out, true, false)?;
    let mut data_config = experiment.data.clone();
    if data_directory.is_none() {
        // The paper's 10,000 validation images do not fit the embedded 3,000; only the test
        // split is measured there.
        data_config.validation_size = None;
    }
    let loaded = data::load(data_directory, &data_config)?;
    // The shipped models take psMNIST; a sequence file given as --data must fit them too.
    data::check_network_fits(&experiment.network, &loaded)?;
    observer.message(&format!("data: {}", loaded.description));
    let from_files = data_directory.is_some();
    let stage_reports = models
        .iter()
        .filter_map(|model| model.provenance.as_ref())
        .map(|provenance| StageReport {
            name: provenance.stage.clone(),
            kept_epoch: provenance.epoch,
            history: Vec::new(),
        })
        .collect();
    let results = report(
        trainer,
        &experiment,
        &loaded,
        &models,
        stage_reports,
        "hsnn reproduce --pretrained",
        ReportSettings {
            validation: from_files,
            observer,
            started,
        },
    )?;
    write_results(&results, out)?;
    Ok(results)
}

/// The modeled chip (SPEC.md H8-H13) converting model files with the reference's conversion at
/// `options` (H9), or, given a fixed model, running that one as it is (its own options), on
/// `threads` threads and `engine` (H13): what `hsnn eval --backend hardware`, `hsnn energy`
/// and `hsnn.Hardware` run.
pub fn hardware_backend(
    options: hsnn_spec::fixed::ConversionOptions,
    fixed: Option<&hsnn_spec::fixed::FixedModel>,
    threads: usize,
    engine: hsnn_hardware::Engine,
) -> TrainResult<hsnn_hardware::HardwareBackend> {
    let options = fixed.map_or(options, |fixed| fixed.options.clone());
    options.validate()?;
    let backend = hsnn_hardware::HardwareBackend::new(
        std::sync::Arc::new(hsnn_reference::compiler::ReferenceConversion),
        options,
        threads,
    )
    .with_engine(engine);
    if let Some(fixed) = fixed {
        backend.pin(hsnn_hardware::Chip::new(fixed.clone())?);
    }
    Ok(backend)
}
