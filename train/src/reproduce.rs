//! The main job (SPEC.md clause T7): train the plain LMU, anneal it into the spiking regime,
//! then report accuracy and bit metrics per stage and against dt, next to the same
//! non-spiking weights converted to spikes without spiking-aware training.

use std::path::PathBuf;

use hsnn_spec::{HsnnError, Model, Provenance, Trainer};

use crate::data::{self, LoadedData};
use crate::error::TrainResult;
use crate::experiment::Experiment;
use crate::report::{report, write_results, ReportSettings, Results, RunStart, StageReport};
use crate::training_loop::{check_stage, run_stage, Checkpoint, RunControl};

/// Options of the main job.
#[derive(Debug, Clone)]
pub struct ReproduceOptions {
    /// Folder of the four MNIST IDX files; `None` uses the embedded subset.
    pub data_directory: Option<PathBuf>,
    /// Where checkpoints, models, results and the plot go.
    pub out_directory: PathBuf,
    /// Continue from the checkpoints in `out_directory`.
    pub resume: bool,
    /// Start over in an `out_directory` that holds another run, deleting its files.
    pub force: bool,
    /// Progress and interruption control.
    pub control: RunControl,
}

/// Runs every stage of the experiment in order, each from the previous stage's kept model
/// (the first from the seeded initialization, clause T6), resuming from checkpoints when
/// asked; writes `model-<stage>.json` for each stage and returns the reports and kept models.
pub fn train_stages<T: Trainer>(
    trainer: &T,
    experiment: &Experiment,
    data: &LoadedData,
    options: &ReproduceOptions,
) -> TrainResult<(Vec<StageReport>, Vec<Model>)> {
    let _lock = crate::run_folder::prepare(&options.out_directory, options.resume, options.force)?;
    run_stages(trainer, experiment, data, options)
}

/// [`train_stages`] in a folder already prepared and locked.
fn run_stages<T: Trainer>(
    trainer: &T,
    experiment: &Experiment,
    data: &LoadedData,
    options: &ReproduceOptions,
) -> TrainResult<(Vec<StageReport>, Vec<Model>)> {
    let out = &options.out_directory;
    data::check_network_fits(&experiment.network, data)?;
    crate::run_folder::check_memory(
        &experiment.network,
        experiment.batch_size.min(data.split.train.len()),
        data.split.steps(),
    )?;
    let mut stage_minibatches = Vec::new();
    for index in 0..experiment.stages.len() {
        stage_minibatches.push(check_stage(experiment, index, &data.split)?.total);
    }
    let order = experiment.network.lmu.order;
    if order > 512 {
        // The discretization (a matrix exponential, order^3) runs before the first minibatch
        // and says nothing while it does: 124 s measured at order 1024 on 2 cores.
        let seconds = 124.0 * (order as f64 / 1024.0).powi(3);
        options.control.observer.message(&format!(
            "discretizing the Legendre memory of order {order} first: about {:.0} minutes",
            (seconds / 60.0).ceil()
        ));
    }
    options.control.observer.run_started(&stage_minibatches);
    let mut model = crate::experiment::start_model(experiment)?;
    let mut kept_models: Vec<Model> = Vec::new();
    let mut stage_reports = Vec::new();
    for (index, stage) in experiment.stages.iter().enumerate() {
        let checkpoint_path = out.join(format!("checkpoint-{}.json", stage.name));
        let checkpoint: Checkpoint = run_stage(
            trainer,
            experiment,
            index,
            &model,
            &data.split,
            &checkpoint_path,
            options.resume,
            &options.control,
        )?;
        let kept = checkpoint.kept.ok_or_else(|| HsnnError::Numerical {
            operation: format!("stage {}", stage.name),
            reason: "finished without a kept model".into(),
        })?;
        kept.model
            .clone()
            .with_provenance(Provenance {
                generator: format!("hsnn-train {} (train_stages)", env!("CARGO_PKG_VERSION")),
                experiment: experiment.name.clone(),
                stage: stage.name.clone(),
                epoch: kept.epoch,
                backend: trainer.name().to_string(),
                data: data.provenance.clone(),
            })
            .save(&out.join(format!("model-{}.json", stage.name)))?;
        stage_reports.push(StageReport {
            name: stage.name.clone(),
            kept_epoch: kept.epoch,
            history: checkpoint.history,
        });
        model = kept.model.clone();
        kept_models.push(kept.model);
    }
    Ok((stage_reports, kept_models))
}

/// Runs the experiment and writes `results.json` and one model file per stage into the out
/// folder (the command line draws the plot from the results).
pub fn reproduce<T: Trainer>(
    trainer: &T,
    experiment: &Experiment,
    options: &ReproduceOptions,
) -> TrainResult<Results> {
    let started = RunStart::now();
    let _lock = crate::run_folder::prepare(&options.out_directory, options.resume, options.force)?;
    let data = data::load(options.data_directory.as_deref(), &experiment.data)?;
    options
        .control
        .observer
        .message(&format!("data: {}", data.description));
    let (stage_reports, kept_models) = run_stages(trainer, experiment, &data, options)?;
    let results = report(
        trainer,
        experiment,
        &data,
        &kept_models,
        stage_reports,
        "hsnn reproduce",
        ReportSettings {
            validation: true,
            observer: options.control.observer.as_ref(),
            started,
        },
    )?;
    write_results(&results, &options.out_directory)?;
    Ok(results)
}
