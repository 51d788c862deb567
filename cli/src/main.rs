//! `hsnn`: train, evaluate and reproduce hybrid-spiking LMUs, and write the golden vectors.
//! Run `hsnn --help` for the commands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use hsnn_cli::progress::Progress;
use hsnn_optimized::OptimizedBackend;
use hsnn_reference::ReferenceBackend;
use hsnn_spec::{Model, QuantizerPlacement, Trainer};
use hsnn_train::evaluation::evaluate;
use hsnn_train::experiment::Experiment;
use hsnn_train::reproduce::{
    render_table, reproduce, results_path, train_stages, ReproduceOptions,
};
use hsnn_train::training_loop::RunControl;
use hsnn_train::{data, TrainError, TrainResult};
use std::sync::Arc;

/// Hybrid-spiking neural networks with quantized activations (Voelker, Rasmussen & Eliasmith
/// 2020), applied to the Legendre Memory Unit on psMNIST.
#[derive(Debug, Parser)]
#[command(name = "hsnn", version, about)]
struct Arguments {
    /// Backend that computes: `optimized` (f32, SIMD, about 45x faster; conformance C2/C3) or
    /// `reference` (f64, readable; the one every other is checked against).
    #[arg(long, value_enum, default_value = "optimized", global = true)]
    backend: BackendChoice,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, global = true, value_parser = clap::value_parser!(u64).range(1..))]
    threads: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BackendChoice {
    /// f32, SIMD products, one thread per shard of 50 sequences (`hsnn-optimized`).
    Optimized,
    /// f64, readable, slow (`hsnn-reference`).
    Reference,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SplitChoice {
    /// The training split (first 50,000 of the training file on the full set).
    Train,
    /// The validation split (its last 10,000).
    Validation,
    /// The test file.
    Test,
}

/// Where the quantizer sits (SPEC.md clause N2); names as in model files.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum PlacementChoice {
    /// Nothing spikes.
    None,
    /// The hidden units spike.
    Hidden,
    /// The memory input spikes.
    #[value(name = "memory_input", alias = "memory-input")]
    MemoryInput,
    /// Both spike.
    Both,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The main job: train non-spiking, anneal into spikes, report accuracy and bits per stage
    /// and against dt (table on stdout, results.json, accuracy_bits_vs_dt.png).
    Reproduce {
        #[command(flatten)]
        run: RunArguments,
        /// Skip the PNG plot.
        #[arg(long)]
        no_plot: bool,
        /// Train nothing: evaluate the shipped paper models (models/psmnist-paper) through the
        /// same report, on the embedded test images (or --data's test file), into --out
        /// (default runs/pretrained).
        #[arg(long, conflicts_with_all = ["config", "resume", "stop_after_epochs"])]
        pretrained: bool,
    },
    /// Train the experiment's stages only, writing a checkpoint every epoch and a model file
    /// per stage.
    Train {
        #[command(flatten)]
        run: RunArguments,
    },
    /// Evaluate a model file: accuracy, loss, every bit metric and event count.
    Eval {
        /// The model file (written by train or reproduce).
        #[arg(long)]
        model: PathBuf,
        /// Folder of the MNIST IDX files (default: the embedded subset).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Experiment file whose `data` section (validation size, permutation seed, limit)
        /// builds the splits. Default: the data settings the model file records (format 2),
        /// else the built-in embedded-quick experiment's.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Use --config's data settings even where they contradict the model file's record of
        /// its training data.
        #[arg(long, requires = "config")]
        override_provenance: bool,
        /// Which split.
        #[arg(long, value_enum, default_value = "test")]
        split: SplitChoice,
        /// Override where the quantizer sits.
        #[arg(long, value_enum)]
        placement: Option<PlacementChoice>,
        /// Override dt.
        #[arg(long)]
        dt: Option<f64>,
        /// Evaluate only the first N sequences.
        #[arg(long)]
        limit: Option<usize>,
        /// Print the results as one JSON object (format hsnn-eval) on stdout, the human lines
        /// on stderr.
        #[arg(long)]
        json: bool,
    },
    /// Time training steps and inference batches of an experiment's network on the chosen
    /// backend (batch size from the experiment, inputs from the embedded subset).
    Bench {
        /// Experiment file (default: the built-in embedded-quick experiment).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Timed repetitions of each measurement, after one untimed warm-up.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..1000))]
        steps: u64,
        /// Print the figures as one JSON object (format hsnn-bench) on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Draw the plot of a results file again (accuracy and bits against dt, accuracy against
    /// bits), e.g. after a change to the figure.
    Plot {
        /// The results.json of a reproduce run.
        #[arg(long)]
        results: PathBuf,
        /// The PNG to write (default: accuracy_bits_vs_dt.png beside the results).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write the golden vectors (SPEC.md clause C4), e.g. `--out spec/vectors/hsnn-golden-v1.json`
    /// from the repository root.
    Vectors {
        /// Output path.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct RunArguments {
    /// Experiment file (default: the built-in embedded-quick experiment;
    /// configs/psmnist-paper.json is the paper's setup).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Folder of the four MNIST IDX files (data/fetch.sh puts them in data/full); default: the
    /// embedded subset.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Output folder (default: runs/<experiment name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue from the checkpoints in the output folder.
    #[arg(long)]
    resume: bool,
    /// Start over in an output folder that holds another run (its checkpoints, models and
    /// results are deleted first).
    #[arg(long, conflicts_with = "resume")]
    force: bool,
    /// Stop after N epochs of the current stage (after their checkpoint), as if killed.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    stop_after_epochs: Option<u64>,
    /// No progress bars or per-epoch lines.
    #[arg(long)]
    quiet: bool,
}

impl RunArguments {
    fn options(&self, experiment: &Experiment) -> ReproduceOptions {
        let observer: Arc<dyn hsnn_train::training_loop::Observer> = if self.quiet {
            Arc::new(hsnn_train::training_loop::Silent)
        } else {
            Arc::new(Progress::new(std::io::IsTerminal::is_terminal(
                &std::io::stderr(),
            )))
        };
        ReproduceOptions {
            data_directory: self.data.clone(),
            out_directory: self
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("runs").join(&experiment.name)),
            resume: self.resume,
            force: self.force,
            control: RunControl {
                observer,
                stop: stop_on_signal(),
                stop_after_epochs: self
                    .stop_after_epochs
                    .map(|epochs| usize::try_from(epochs).unwrap_or(usize::MAX)),
                ..RunControl::default()
            },
        }
    }
}

/// A flag that the first SIGINT (Ctrl-C), SIGTERM or SIGHUP sets, so the run stops after the
/// current minibatch with a checkpoint; a second signal ends the process at once.
fn stop_on_signal() -> Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let installed = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("second stop signal: exiting without a new checkpoint");
            std::process::exit(130);
        }
        eprintln!(
            "stop requested: finishing this minibatch and writing a checkpoint (signal again to quit at once)"
        );
    });
    if let Err(error) = installed {
        eprintln!("warning: cannot catch Ctrl-C ({error}); a stop loses the work since the last checkpoint");
    }
    stop
}

fn run(arguments: Arguments) -> TrainResult<()> {
    if let Some(threads) = arguments.threads {
        // Results do not depend on the thread count (SPEC.md T8), so more threads than cores
        // only add overhead; a huge count used to start thousands of threads and hang.
        let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        if threads > cores as u64 {
            return Err(TrainError::Usage(format!(
                "--threads {threads}: this machine has {cores} cores; results do not depend on \
                 the thread count, so use at most {cores} (or leave --threads out)"
            )));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(usize::try_from(threads).unwrap_or(usize::MAX))
            .build_global()
            .map_err(|error| {
                TrainError::Usage(format!("cannot start {threads} threads: {error}"))
            })?;
    }
    match arguments.backend {
        BackendChoice::Optimized => run_command(&OptimizedBackend, arguments.command),
        BackendChoice::Reference => run_command(&ReferenceBackend, arguments.command),
    }
}

fn run_command<T: Trainer>(backend: &T, command: Command) -> TrainResult<()> {
    match command {
        Command::Reproduce {
            run,
            no_plot,
            pretrained,
        } => {
            let (options, results) = if pretrained {
                let experiment = hsnn_train::pretrained::paper_experiment()?;
                let mut options = run.options(&experiment);
                if run.out.is_none() {
                    options.out_directory = PathBuf::from("runs").join("pretrained");
                }
                let results = hsnn_train::pretrained::reproduce_pretrained(
                    backend,
                    options.data_directory.as_deref(),
                    &options.out_directory,
                    options.force,
                    options.control.observer.as_ref(),
                )?;
                (options, results)
            } else {
                let experiment = Experiment::load(run.config.as_deref())?;
                let options = run.options(&experiment);
                let results = reproduce(backend, &experiment, &options)?;
                (options, results)
            };
            if !no_plot {
                hsnn_cli::plot::draw(
                    &options.out_directory.join("accuracy_bits_vs_dt.png"),
                    &results,
                )?;
            }
            println!("{}", render_table(&results));
            if results.experiment == "psmnist-paper" {
                println!(
                    "{}",
                    hsnn_train::reproduce::render_paper_comparison(&results)
                );
            }
            println!(
                "wrote {} ({}{}) in {:.1} s",
                results_path(&options.out_directory).display(),
                if pretrained {
                    "evaluation only"
                } else {
                    "and model files"
                },
                if no_plot {
                    ""
                } else {
                    ", accuracy_bits_vs_dt.png"
                },
                results.seconds
            );
        }
        Command::Train { run } => {
            let experiment = Experiment::load(run.config.as_deref())?;
            let options = run.options(&experiment);
            let loaded = data::load(options.data_directory.as_deref(), &experiment.data)?;
            let (reports, _) = train_stages(backend, &experiment, &loaded, &options)?;
            for report in reports {
                println!(
                    "stage {}: kept epoch {}, model in {}",
                    report.name,
                    report.kept_epoch,
                    options
                        .out_directory
                        .join(format!("model-{}.json", report.name))
                        .display()
                );
            }
        }
        Command::Eval {
            model,
            data: data_directory,
            config,
            split,
            placement,
            dt,
            limit,
            json,
            override_provenance,
        } => {
            let model_path = model;
            let mut model = Model::load(&model_path)?;
            if let Some(placement) = placement {
                model.config.quantizer.placement = match placement {
                    PlacementChoice::None => QuantizerPlacement::None,
                    PlacementChoice::Hidden => QuantizerPlacement::Hidden,
                    PlacementChoice::MemoryInput => QuantizerPlacement::MemoryInput,
                    PlacementChoice::Both => QuantizerPlacement::Both,
                };
            }
            if let Some(dt) = dt {
                hsnn_spec::config::validate_dt_as("--dt", dt)?;
                model.config.quantizer.dt = dt;
                if model.config.quantizer.placement == QuantizerPlacement::None {
                    eprintln!("warning: --dt has no effect: nothing spikes (placement none); add --placement hidden");
                }
            }
            model.validate()?;
            let lmu = &model.config.lmu;
            if lmu.input_size != 1 || model.config.output_size != 10 {
                return Err(TrainError::Usage(format!(
                    "psMNIST needs a model with input_size 1 and output_size 10, this one has {} and {}",
                    lmu.input_size, model.config.output_size
                )));
            }
            let mut data_config = eval_data_config(
                &model,
                config.as_deref(),
                data_directory.is_some(),
                override_provenance,
            )?;
            // The training data's limit holds unless --limit overrides it.
            if limit.is_some() {
                data_config.limit = limit;
            }
            let loaded = data::load(data_directory.as_deref(), &data_config)?;
            let dataset = match split {
                SplitChoice::Train => &loaded.split.train,
                SplitChoice::Validation => &loaded.split.validation,
                SplitChoice::Test => &loaded.split.test,
            };
            let evaluation = evaluate(backend, &model, dataset)?;
            let summary = format!(
                "data: {}\n{} sequences: accuracy {:.2}%, loss {:.4}, placement {}, dt {}",
                loaded.description,
                evaluation.samples,
                100.0 * evaluation.accuracy,
                evaluation.loss,
                model.config.quantizer.placement.name(),
                model.config.quantizer.dt
            );
            if json {
                eprintln!("{summary}");
                let report = serde_json::json!({
                    "format": "hsnn-eval",
                    "format_version": 1,
                    "generator": format!("hsnn {} (hsnn eval)", env!("CARGO_PKG_VERSION")),
                    "model": model_path.display().to_string(),
                    "model_provenance": model.provenance,
                    "data": loaded.description,
                    "split": format!("{split:?}").to_lowercase(),
                    "backend": backend.name(),
                    "placement": model.config.quantizer.placement,
                    "dt": model.config.quantizer.dt,
                    "samples": evaluation.samples,
                    "accuracy": evaluation.accuracy,
                    "loss": evaluation.loss,
                    "metrics": evaluation.metrics,
                });
                let text = serde_json::to_string_pretty(&report)
                    .map_err(|error| TrainError::Usage(error.to_string()))?;
                println!("{text}");
            } else {
                println!("{summary}");
                let report = serde_json::to_string_pretty(&evaluation.metrics)
                    .map_err(|error| TrainError::Usage(error.to_string()))?;
                println!("bit metrics and event counts (SPEC.md section B):\n{report}");
            }
        }
        Command::Bench {
            config,
            steps,
            json,
        } => {
            let experiment = Experiment::load(config.as_deref())?;
            let repetitions = usize::try_from(steps).unwrap_or(1000);
            let report = hsnn_cli::bench::bench(backend, &experiment, repetitions)?;
            if json {
                let text = serde_json::to_string_pretty(&report)
                    .map_err(|error| TrainError::Usage(error.to_string()))?;
                println!("{text}");
            } else {
                println!("{}", hsnn_cli::bench::render(&report));
            }
        }
        Command::Plot { results, out } => {
            let loaded = hsnn_train::reproduce::Results::load(&results)?;
            let out = out.unwrap_or_else(|| results.with_file_name("accuracy_bits_vs_dt.png"));
            hsnn_cli::plot::draw(&out, &loaded)?;
            println!("wrote {}", out.display());
        }
        Command::Vectors { out } => {
            let text = hsnn_conformance::golden::generate_json()?;
            hsnn_spec::model::write_atomically(&out, text.as_bytes())?;
            println!("wrote golden vectors to {}", out.display());
        }
    }
    Ok(())
}

/// The data settings `eval` builds its splits with (SPEC.md clause E2): the model file's record
/// of its training data unless `--config` is given; a `--config` that contradicts that record
/// is refused unless `override_provenance`, since a model evaluated under another permutation
/// scores near chance without any other sign.
fn eval_data_config(
    model: &Model,
    config: Option<&std::path::Path>,
    from_files: bool,
    override_provenance: bool,
) -> TrainResult<hsnn_train::experiment::DataConfig> {
    let Some(provenance) = &model.provenance else {
        return Ok(Experiment::load(config)?.data);
    };
    let recorded = &provenance.data;
    let same_source = (recorded.source == hsnn_spec::DataSource::MnistFiles) == from_files;
    if !same_source {
        eprintln!(
            "note: the model was trained on {}; evaluating on {} with its permutation seed {}",
            if from_files {
                "the embedded subset"
            } else {
                "the MNIST files"
            },
            if from_files {
                "the MNIST files"
            } else {
                "the embedded subset (the first 1,000 test images of the MNIST test file)"
            },
            recorded.permutation_seed
        );
    }
    let Some(config) = config else {
        return Ok(hsnn_train::experiment::DataConfig {
            // A validation size belongs to its source: 10,000 of the full data do not fit the
            // embedded 3,000.
            validation_size: if same_source {
                recorded.validation_size
            } else {
                None
            },
            limit: recorded.limit,
            permutation_seed: recorded.permutation_seed,
        });
    };
    let given = Experiment::load(Some(config))?.data;
    let mut contradictions = Vec::new();
    if given.permutation_seed != recorded.permutation_seed {
        contradictions.push(format!(
            "permutation_seed {} (the model was trained with {})",
            given.permutation_seed, recorded.permutation_seed
        ));
    }
    if same_source && given.validation_size != recorded.validation_size {
        contradictions.push(format!(
            "validation_size {:?} (trained with {:?})",
            given.validation_size, recorded.validation_size
        ));
    }
    if !contradictions.is_empty() && !override_provenance {
        return Err(TrainError::Usage(format!(
            "--config {} contradicts the model file's training data: {}; leave --config out to use \
             the model's own settings, or add --override-provenance",
            config.display(),
            contradictions.join(", ")
        )));
    }
    Ok(given)
}

fn main() -> ExitCode {
    match run(Arguments::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error @ TrainError::Interrupted { .. }) => {
            eprintln!("{error}");
            let arguments: Vec<String> = std::env::args()
                .filter(|argument| argument != "--resume")
                .collect();
            eprintln!("resume with: {} --resume", arguments.join(" "));
            ExitCode::from(3)
        }
        Err(error) => {
            let message = error.to_string();
            eprintln!("error: {message}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                // Transparent wrappers repeat their cause's text: print only what is new.
                let text = cause.to_string();
                if !message.contains(&text) {
                    eprintln!("  caused by: {text}");
                }
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}
