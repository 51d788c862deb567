//! Experiment files: the network, the data, and the training stages of a run (SPEC.md
//! clauses T5, T7). `configs/*.json` hold the shipped ones.

use hsnn_spec::{
    model::{check_format_among, parse_versioned_among},
    AdamConfig, DataRecipe, DtSchedule, HsnnError, LossFunction, NetworkConfig, QuantizerPlacement,
};
use serde::{Deserialize, Serialize};

use crate::error::{TrainError, TrainResult};

/// The `format` tag of an experiment file.
pub const EXPERIMENT_FORMAT: &str = "hsnn-experiment";
/// The newest experiment file version: version 2 may name a sequence file (`data.file`,
/// SPEC.md D7); version 1 is otherwise the same.
pub const EXPERIMENT_FORMAT_VERSION: u32 = 2;
/// The experiment file versions this build reads.
pub const EXPERIMENT_FORMAT_VERSIONS_READ: [u32; 2] = [1, 2];

/// Which samples to use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Validation samples cut from the end of the training file; `null` for the source's
    /// default (10,000 on the full set, 500 on the embedded subset).
    pub validation_size: Option<usize>,
    /// Keep only this many samples of each split; `null` keeps all.
    pub limit: Option<usize>,
    /// Seed of the numpy-exact pixel permutation (0 in the keras-lmu example's setup); for
    /// the `nru` recipe the seed of its one stream (50 in the paper's). Required for psMNIST;
    /// 0 when left out (as for a sequence file, which has no permutation).
    #[serde(default)]
    pub permutation_seed: u32,
    /// Which samples make which split and where the permutation comes from (SPEC.md D3, D6):
    /// `keras_lmu_example` (the default, omitted from files) or `nru`.
    #[serde(default, skip_serializing_if = "DataRecipe::is_default")]
    pub recipe: DataRecipe,
    /// A sequence file (SPEC.md D7) to read instead of psMNIST, relative to the working
    /// folder as `start_model` is; `--data` replaces it. Version 2 of the format; absent
    /// for psMNIST, so older files and fingerprints are unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<std::path::PathBuf>,
}

impl DataConfig {
    /// The data settings `model` records in its provenance (clause E2: permutation seed and
    /// recipe; the source's default validation size), limited to `limit` sequences per split;
    /// the keras-lmu example's settings with seed 0 for a model without provenance.
    pub fn recorded_in(model: &hsnn_spec::Model, limit: Option<usize>) -> Self {
        let recorded = model.provenance.as_ref().map(|provenance| &provenance.data);
        DataConfig {
            validation_size: None,
            limit,
            permutation_seed: recorded.map_or(0, |data| data.permutation_seed),
            recipe: recorded.map_or(DataRecipe::default(), |data| data.recipe),
            file: recorded
                .and_then(|data| data.file.as_ref())
                .map(|file| std::path::PathBuf::from(&file.path)),
        }
    }
}

/// One training stage (SPEC.md clause T7): a quantizer placement and a dt schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// A short name, used for files and reports (letters, digits, `-`, `_`).
    pub name: String,
    /// Epochs over the training split.
    pub epochs: usize,
    /// Where the quantizer sits during this stage; `none` trains the plain LMU.
    pub placement: QuantizerPlacement,
    /// dt per minibatch, counted from the stage's start.
    pub schedule: DtSchedule,
}

/// A whole experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Always [`EXPERIMENT_FORMAT`].
    pub format: String,
    /// Always [`EXPERIMENT_FORMAT_VERSION`].
    pub format_version: u32,
    /// A short name for reports.
    pub name: String,
    /// The data.
    pub data: DataConfig,
    /// The network; its quantizer placement and dt are set by each stage.
    pub network: NetworkConfig,
    /// Seed of weight initialization and of the minibatch order.
    pub seed: u64,
    /// Sequences per minibatch.
    pub batch_size: usize,
    /// The optimizer.
    pub optimizer: AdamConfig,
    /// The loss every stage minimises and validates with (SPEC.md clause T1):
    /// `softmax_cross_entropy` (the default, omitted from files) or `keras2_probability`.
    #[serde(default, skip_serializing_if = "LossFunction::is_default")]
    pub loss: LossFunction,
    /// A model file the first stage starts from instead of the seeded initialization (clause
    /// T6), e.g. a trained non-spiking model, so several spiking schedules can start from the
    /// same weights. Relative paths are taken from the current folder. Its network must be the
    /// experiment's (the quantizer aside).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_model: Option<std::path::PathBuf>,
    /// The stages, run in order, each starting from the previous stage's kept weights.
    pub stages: Vec<StageConfig>,
    /// dt values at which the final model is evaluated for the accuracy and bits sweep.
    pub evaluation_dts: Vec<f64>,
}

/// The embedded default experiment: a small LMU on the embedded psMNIST subset, trained
/// non-spiking and then annealed into spiking hidden units. Runs in minutes on 2 cores.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../configs/embedded-quick.json");

impl Experiment {
    /// Parses and validates an experiment; `origin` names the source in messages.
    pub fn from_json(text: &str, origin: &str) -> TrainResult<Self> {
        let experiment: Experiment = parse_versioned_among(
            text,
            &format!("experiment file {origin}"),
            EXPERIMENT_FORMAT,
            &EXPERIMENT_FORMAT_VERSIONS_READ,
        )?;
        experiment.validate(origin)?;
        Ok(experiment)
    }

    /// Reads an experiment file, or the embedded default when `path` is `None`.
    pub fn load(path: Option<&std::path::Path>) -> TrainResult<Self> {
        match path {
            None => Self::from_json(EMBEDDED_DEFAULT, "embedded-quick (built in)"),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| HsnnError::Io {
                    action: "cannot read experiment file".into(),
                    path: path.display().to_string(),
                    source,
                })?;
                Self::from_json(&text, &path.display().to_string())
            }
        }
    }

    /// Checks every field (clause E1).
    pub fn validate(&self, origin: &str) -> TrainResult<()> {
        check_format_among(
            &format!("experiment file {origin}"),
            &self.format,
            self.format_version,
            EXPERIMENT_FORMAT,
            &EXPERIMENT_FORMAT_VERSIONS_READ,
        )?;
        if self.format_version < 2 && self.data.file.is_some() {
            return Err(TrainError::Usage(format!(
                "experiment {origin}: data.file (a sequence file, SPEC.md D7) came with \
                 format_version 2; this file says {}",
                self.format_version
            )));
        }
        self.network.validate()?;
        self.optimizer.validate()?;
        if self.batch_size == 0 {
            return Err(HsnnError::invalid("batch_size", "must be at least 1, got 0").into());
        }
        if !is_plain_name(&self.name) {
            return Err(TrainError::Usage(format!(
                "experiment {origin}: name {:?} must be letters, digits, '-' or '_' (it names the output folder)",
                self.name
            )));
        }
        if self.stages.is_empty() {
            return Err(TrainError::Usage(format!(
                "experiment {origin}: no stages to run"
            )));
        }
        for (index, stage) in self.stages.iter().enumerate() {
            if !is_plain_name(&stage.name) {
                return Err(TrainError::Usage(format!(
                    "experiment {origin}: stage {index} name {:?} must be letters, digits, '-' or '_'",
                    stage.name
                )));
            }
            if self.stages[..index]
                .iter()
                .any(|other| other.name == stage.name)
            {
                return Err(TrainError::Usage(format!(
                    "experiment {origin}: two stages are named {:?}",
                    stage.name
                )));
            }
            if stage.epochs == 0 {
                return Err(HsnnError::invalid(
                    format!("stages[{index}].epochs"),
                    "must be at least 1, got 0",
                )
                .into());
            }
            stage
                .schedule
                .validate_as(&format!("stages[{index}].schedule"))?;
        }
        for (index, &dt) in self.evaluation_dts.iter().enumerate() {
            hsnn_spec::config::validate_dt_as(&format!("evaluation_dts[{index}]"), dt)?;
        }
        Ok(())
    }
}

/// Whether `name` is usable as a file or folder name everywhere: non-empty, letters, digits,
/// `-` and `_` only.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The model the first stage starts from: the experiment's `start_model`, checked against its
/// network, or the seeded initialization (clause T6).
pub fn start_model(experiment: &Experiment) -> TrainResult<hsnn_spec::Model> {
    let Some(path) = &experiment.start_model else {
        return Ok(hsnn_spec::Model::new(
            experiment.network.clone(),
            crate::initialization::initial_weights(&experiment.network, experiment.seed),
        )?);
    };
    // Plain or gzipped, as every reader of model files (the shipped models are gzipped).
    let mut model = crate::model_file::read_model_file(path)?;
    if model.config.lmu != experiment.network.lmu
        || model.config.output_size != experiment.network.output_size
    {
        return Err(TrainError::Usage(format!(
            "start_model {} has another network than experiment {} (lmu or output_size differ); \
             train it with this experiment's network or drop start_model",
            path.display(),
            experiment.name
        )));
    }
    model.config.quantizer.initial_state = experiment.network.quantizer.initial_state;
    model.config.quantizer.amplitude = experiment.network.quantizer.amplitude;
    // The weights are what training starts from; the file's provenance is not, so the stage
    // fingerprints (clause T8) do not depend on it.
    Ok(hsnn_spec::Model::new(model.config, model.weights)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped experiments parse and validate.
    #[test]
    fn shipped_experiments_are_valid() {
        Experiment::load(None).expect("embedded default");
        let paper = include_str!("../../configs/psmnist-paper.json");
        let experiment = Experiment::from_json(paper, "psmnist-paper.json").expect("paper config");
        assert_eq!(experiment.network.trainable_parameter_count(), 102_027);
        for (name, text) in [
            (
                "psmnist-feedforward-memory.json",
                include_str!("../../configs/psmnist-feedforward-memory.json"),
            ),
            (
                "psmnist-paper-spiking-dt4.json",
                include_str!("../../configs/psmnist-paper-spiking-dt4.json"),
            ),
            (
                "psmnist-paper-spiking-dt2.json",
                include_str!("../../configs/psmnist-paper-spiking-dt2.json"),
            ),
            (
                "psmnist-paper-exact.json",
                include_str!("../../configs/psmnist-paper-exact.json"),
            ),
            (
                "psmnist-paper-exact-seed1.json",
                include_str!("../../configs/psmnist-paper-exact-seed1.json"),
            ),
            (
                "psmnist-paper-nru-data.json",
                include_str!("../../configs/psmnist-paper-nru-data.json"),
            ),
        ] {
            let other = Experiment::from_json(text, name).expect("shipped config");
            assert_eq!(other.network.lmu.hidden_size, 212, "{name}");
            if name.starts_with("psmnist-paper-exact") {
                // The paper's data and loss (D6, T1b), everything else as psmnist-paper.json.
                assert_eq!(other.data.recipe, hsnn_spec::DataRecipe::Nru);
                assert_eq!(other.data.permutation_seed, 50);
                assert_eq!(other.loss, hsnn_spec::LossFunction::Keras2Probability);
                let mut same = other.clone();
                same.name = experiment.name.clone();
                same.seed = experiment.seed;
                same.data = experiment.data.clone();
                same.loss = experiment.loss;
                assert_eq!(same, experiment, "{name}");
            }
            if name == "psmnist-paper-nru-data.json" {
                // The paper's data with the default loss: psmnist-paper-exact.json but the loss.
                let exact = Experiment::from_json(
                    include_str!("../../configs/psmnist-paper-exact.json"),
                    "psmnist-paper-exact.json",
                )
                .expect("shipped config");
                assert_eq!(other.loss, hsnn_spec::LossFunction::default());
                let mut same = other.clone();
                same.name = exact.name.clone();
                same.loss = exact.loss;
                assert_eq!(same, exact, "{name}");
            }
        }
    }

    /// E1: a bad experiment names what is wrong.
    #[test]
    fn bad_experiments_are_rejected() {
        let mut experiment = Experiment::load(None).expect("embedded default");
        experiment.stages[0].name = "a b".into();
        let error = experiment.validate("test").expect_err("bad name");
        assert!(error.to_string().contains("a b"), "{error}");
        let mut experiment = Experiment::load(None).expect("embedded default");
        experiment.name = "../elsewhere".into();
        let error = experiment.validate("test").expect_err("path in the name");
        assert!(error.to_string().contains("output folder"), "{error}");
        let mut experiment = Experiment::load(None).expect("embedded default");
        experiment.batch_size = 0;
        assert!(experiment
            .validate("test")
            .expect_err("batch 0")
            .to_string()
            .contains("batch_size"));
        let mut experiment = Experiment::load(None).expect("embedded default");
        experiment.evaluation_dts[2] = 0.0;
        let error = experiment.validate("test").expect_err("dt 0");
        assert!(error.to_string().contains("`evaluation_dts[2]`"), "{error}");
        let mut experiment = Experiment::load(None).expect("embedded default");
        experiment.stages[1].schedule = DtSchedule::Exponential {
            start: 100.0,
            end: 0.0,
            minibatches: 3,
        };
        let error = experiment.validate("test").expect_err("end 0");
        assert!(
            error.to_string().contains("`stages[1].schedule.end`"),
            "{error}"
        );
        let error = Experiment::from_json("{\"format\": 3", "cut.json").expect_err("truncated");
        assert!(error.to_string().contains("cut.json"), "{error}");
    }
}
