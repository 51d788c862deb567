//! `hsnn`: train, evaluate and reproduce hybrid-spiking LMUs, and write the golden vectors.
//! Run `hsnn --help` for the commands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use hsnn_cli::choice;
use hsnn_cli::progress::Progress;
use hsnn_hardware::energy::WidthRule;
use hsnn_hardware::Engine;
use hsnn_optimized::OptimizedBackend;
use hsnn_reference::ReferenceBackend;
use hsnn_spec::{Backend, Model, QuantizerPlacement, Trainer};
use hsnn_train::data::SplitName;
use hsnn_train::evaluation::evaluate;
use hsnn_train::experiment::Experiment;
use hsnn_train::report::{render_table, results_path};
use hsnn_train::reproduce::{reproduce, train_stages, ReproduceOptions};
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
    /// Fixed point on the modeled event-driven chip (`hsnn-hardware`, SPEC.md section H);
    /// inference only: eval and energy.
    Hardware,
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
    /// Evaluate a model file: accuracy, loss, every bit metric and event count. With
    /// `--backend hardware` the model is converted to fixed point (SPEC.md section H) and run
    /// on the modeled chip (a fixed model file from `hsnn convert` is run as it is).
    Eval(EvalArguments),
    /// What a model costs on spiking hardware (SPEC.md clauses H10, H11): runs the modeled chip
    /// (the hardware backend, whatever --backend says) on the test split and prints, per site
    /// and per inference, events, additions, multiply-accumulates and the energy on each
    /// device, for the hybrid network and for the same network without spikes.
    Energy {
        #[command(flatten)]
        eval: EvalArguments,
        /// Devices to price (repeatable; default: every known device).
        #[arg(long = "device")]
        devices: Vec<String>,
        /// More device profiles (format hsnn-devices 1; repeatable); a device of the same name
        /// as a shipped one replaces it.
        #[arg(long = "devices-file")]
        device_files: Vec<PathBuf>,
        /// How an operation of a width the profile does not list is priced (SPEC.md H11):
        /// `next_listed` (a 24-bit add costs the 32-bit add) or `interpolated` (linear between
        /// the listed widths around it).
        #[arg(long, value_parser = choice::words::<WidthRule>(), default_value = "next_listed")]
        width_rule: WidthRule,
        /// Price memory traffic (H10's weight and state words) at this many picojoules per bit
        /// on every device; without it the traffic is counted and printed but not priced.
        #[arg(long = "memory-pj-per-bit")]
        memory_pj_per_bit: Option<f64>,
    },
    /// Convert a model file into a fixed model (SPEC.md clause H9): integers of stated widths
    /// that a chip, an RTL simulation or a port runs with integer arithmetic alone.
    Convert {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// Override where the quantizer sits before converting.
        #[arg(long, value_parser = choice::words::<QuantizerPlacement>())]
        placement: Option<QuantizerPlacement>,
        /// Override dt before converting (a fixed model is made for one dt).
        #[arg(long)]
        dt: Option<f64>,
        #[command(flatten)]
        conversion: ConversionArguments,
        /// The fixed model file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Time training steps and inference batches of an experiment's network on the chosen
    /// backend (batch size from the experiment, inputs from the embedded subset). With
    /// `--backend hardware`: the fast fixed-point engine against the event-driven chip on the
    /// shipped spiking paper model, 100 embedded test images (SPEC.md H13).
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
    /// Run a sweep (format hsnn-sweep 1) on Ray Tune: models trained over seeds, end dts and
    /// placements, measured over dts, weight widths and devices, and the accuracy-energy
    /// frontier per device (SPEC.md H14). Runs `python -m hsnn.sweep` from the Python package
    /// with its `[sweep]` extra (`bash scripts/sweep-env` makes target/sweep-venv, which is used
    /// when present; HSNN_PYTHON names another interpreter). Run it again to resume.
    Sweep {
        /// The sweep file.
        sweep_file: PathBuf,
        /// A running Ray cluster (default: RAY_ADDRESS, else a local Ray on this machine).
        #[arg(long)]
        address: Option<String>,
        /// Where trials, run folders and results go: a path every node sees (default:
        /// runs/sweeps).
        #[arg(long)]
        storage: Option<PathBuf>,
        /// CPUs of a local Ray (default: all).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        num_cpus: Option<u64>,
        /// A folder that outlives the storage (a repository, a shared disk): each finished
        /// point's rows are copied there, and points found there are not trained again.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// Bring a model made elsewhere into an hsnn model file (SPEC.md section K).
    Import {
        #[command(subcommand)]
        source: ImportSource,
    },
    /// Write the golden vectors (SPEC.md clause C4), e.g. `--out spec/vectors/hsnn-golden-v2.json`
    /// from the repository root.
    Vectors {
        /// Output path.
        #[arg(long)]
        out: PathBuf,
        /// Write the fixed-point golden vectors instead (SPEC.md C4, H12), e.g. `--out
        /// spec/vectors/hsnn-golden-fixed-v2.json`.
        #[arg(long)]
        fixed: bool,
    },
}

/// What `hsnn import` reads.
#[derive(Debug, Subcommand)]
enum ImportSource {
    /// A Keras LMU (SPEC.md K1): the paper's Keras 2 HDF5 file (the original LMUCell), or a
    /// keras-lmu 0.9 model as a `.keras` archive or a `.weights.h5` file with --keras-config.
    /// Checks the file's fixed memory matrices against hsnn's (K2) and refuses what hsnn
    /// cannot express, naming the layer and the variable; writes a model file (format 3)
    /// recording the source file and its SHA-256.
    Keras {
        /// The Keras file.
        file: PathBuf,
        /// The model file to write (written atomically; nothing is written on an error).
        #[arg(long)]
        out: PathBuf,
        /// For a `.weights.h5` file: the model's configuration (`model.to_json()`, or the
        /// `config.json` of a `.keras` archive).
        #[arg(long)]
        keras_config: Option<PathBuf>,
    },
}

/// What `eval` and `energy` evaluate, and on which data.
#[derive(Debug, clap::Args)]
struct EvalArguments {
    /// The model file (written by train or reproduce; gzipped files too), or a fixed model file.
    #[arg(long)]
    model: PathBuf,
    /// Folder of the MNIST IDX files, or a sequence file (.npz: x_train, y_train, x_test,
    /// y_test; SPEC.md D7). Default: the sequence file the model recorded, if it was trained
    /// on one; else the embedded subset.
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
    #[arg(long, value_parser = choice::words::<SplitName>(), default_value = "test")]
    split: SplitName,
    /// Override where the quantizer sits.
    #[arg(long, value_parser = choice::words::<QuantizerPlacement>())]
    placement: Option<QuantizerPlacement>,
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
    #[command(flatten)]
    conversion: ConversionArguments,
    /// With the fixed point: which engine computes it (SPEC.md H13). `fast`: dense integer
    /// products over the batch, counters derived from the counts; `chip`: the event-driven
    /// chip, one event at a time (the ground truth, about 30x slower). Both give the same
    /// integers and counters.
    #[arg(long, value_parser = choice::words::<Engine>(), default_value = "fast")]
    engine: Engine,
}

/// How `--backend hardware`, `energy` and `convert` turn a model file into fixed point
/// (SPEC.md clause H9).
#[derive(Debug, Clone, clap::Args)]
struct ConversionArguments {
    /// Conversion options (a JSON object of SPEC H9's fields; those left out keep their
    /// defaults).
    #[arg(long = "conversion")]
    conversion_file: Option<PathBuf>,
    /// Width of the weights, encoders and readout (default 8; overrides --conversion's).
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=32))]
    weight_bits: Option<u32>,
    /// With the fixed point: a saturated value is an error (kind numerical, naming the
    /// quantity) instead of a counted clamp (SPEC.md H1).
    #[arg(long)]
    strict: bool,
}

impl ConversionArguments {
    fn options(&self) -> TrainResult<hsnn_spec::fixed::ConversionOptions> {
        let mut options = match &self.conversion_file {
            None => hsnn_spec::fixed::ConversionOptions::default(),
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| hsnn_spec::HsnnError::Io {
                        action: "cannot read conversion options".into(),
                        path: path.display().to_string(),
                        source,
                    })?;
                serde_json::from_str(&text).map_err(|error| hsnn_spec::HsnnError::Parse {
                    what: format!("conversion options {}", path.display()),
                    reason: error.to_string(),
                })?
            }
        };
        if let Some(bits) = self.weight_bits {
            options.weight_bits = bits;
        }
        options.validate()?;
        Ok(options)
    }
}

#[derive(Debug, clap::Args)]
struct RunArguments {
    /// Experiment file (default: the built-in embedded-quick experiment;
    /// configs/psmnist-paper.json is the paper's setup).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Folder of the four MNIST IDX files (data/fetch.sh puts them in data/full), or a
    /// sequence file of any task (.npz: x_train, y_train, x_test, y_test; SPEC.md D7; the
    /// network must take its features and labels). Default: the embedded subset.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Output folder (default: runs/NAME, NAME the experiment's name).
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
    // HSNN_ISA (the SIMD dispatch cap) refused here, as an error, when the CPU lacks the level.
    hsnn_spec::isa::check_environment()?;
    if let Some(threads) = arguments.threads {
        let threads = data::check_threads("--threads", threads)?;
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .map_err(|error| {
                TrainError::Usage(format!("cannot start {threads} threads: {error}"))
            })?;
    }
    if let Command::Import { source } = &arguments.command {
        return import_command(source);
    }
    if let Command::Sweep {
        sweep_file,
        address,
        storage,
        num_cpus,
        keep,
    } = arguments.command
    {
        // Whatever --backend says: the sweep trains on the optimized backend and measures on
        // the fast fixed-point engine, in the Python package.
        return hsnn_cli::sweep::run(&hsnn_cli::sweep::SweepArguments {
            sweep_file,
            address,
            storage,
            num_cpus,
            keep,
        });
    }
    match arguments.backend {
        BackendChoice::Optimized => run_command(&OptimizedBackend, arguments.command),
        BackendChoice::Reference => run_command(&ReferenceBackend, arguments.command),
        BackendChoice::Hardware => run_hardware_command(arguments.command),
    }
}

/// `hsnn import keras`: reads, checks, writes, and says what it read.
fn import_command(source: &ImportSource) -> TrainResult<()> {
    let ImportSource::Keras {
        file,
        out,
        keras_config,
    } = source;
    let started = std::time::Instant::now();
    let model = hsnn_train::keras::import_file(file, keras_config.as_deref())?;
    model.save(out)?;
    let lmu = &model.config.lmu;
    let connections = &lmu.connections;
    println!(
        "imported {}: {} hidden ({}), memory {} x order {}, theta {}, {:?}, input {}, output {}; \
         connections input_to_hidden {}, hidden_to_memory {}, memory_to_memory {}; {} trainable \
         parameters",
        file.display(),
        lmu.hidden_size,
        lmu.hidden_activation.name(),
        lmu.memory_size,
        lmu.order,
        lmu.theta,
        lmu.discretizer,
        lmu.input_size,
        model.config.output_size,
        connections.input_to_hidden,
        connections.hidden_to_memory,
        connections.memory_to_memory,
        model
            .weights
            .named()
            .iter()
            .map(|(_, tensor)| tensor.data.len())
            .sum::<usize>()
    );
    if let Some(import) = &model.import {
        println!(
            "layout {}, Keras {}, layers {}, SHA-256 {}",
            import.layout,
            import.keras_version.as_deref().unwrap_or("not recorded"),
            import.layers.join(" -> "),
            import.source_sha256
        );
        if let Some(check) = &import.fixed_matrix_check {
            println!(
                "the file's fixed memory matrices against hsnn's L2/L3 in binary32: Abar - I \
                 within {:.2e}, Bbar within {:.2e} (tolerance {:.2e})",
                check.a_bar_max_difference, check.b_bar_max_difference, check.tolerance
            );
        }
    }
    println!(
        "wrote {} (format hsnn-model {}) in {:.2} s; the quantizer is off (placement none): \
         evaluate with `hsnn eval --model {} --config EXPERIMENT.json` for the data it was \
         trained on",
        out.display(),
        model.format_version,
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
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
            // The paper's network, whatever the recipe or start: the paper comparison.
            if results.experiment.starts_with("psmnist-paper") {
                println!("{}", hsnn_train::report::render_paper_comparison(&results));
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
        Command::Eval(arguments) => {
            let (model, _) = eval_model(&arguments)?;
            eval_command(backend, &model, &arguments, None)?;
        }
        Command::Energy { .. } | Command::Convert { .. } => {
            return run_hardware_command(command);
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
            let loaded = hsnn_train::report::Results::load(&results)?;
            let out = out.unwrap_or_else(|| results.with_file_name("accuracy_bits_vs_dt.png"));
            hsnn_cli::plot::draw(&out, &loaded)?;
            println!("wrote {}", out.display());
        }
        Command::Import { source } => return import_command(&source),
        Command::Sweep { .. } => {
            return Err(TrainError::Usage(
                "hsnn sweep runs before any backend is chosen".into(),
            ))
        }
        Command::Vectors { out, fixed } => {
            let text = if fixed {
                hsnn_conformance::golden_fixed::generate_json()?
            } else {
                hsnn_conformance::golden::generate_json()?
            };
            hsnn_spec::model::write_atomically(&out, text.as_bytes())?;
            let kind = if fixed {
                "fixed-point golden"
            } else {
                "golden"
            };
            println!("wrote {kind} vectors to {}", out.display());
        }
    }
    Ok(())
}

/// A model read for `eval` or `energy`, with the overrides of `--placement` and `--dt`
/// applied: a model file, or a fixed model file (SPEC.md H9) with the chip it loads into.
enum EvalModel {
    /// A model file (SPEC.md E2), converted on the fly.
    File,
    /// A fixed model file, run as it is.
    Fixed(Box<hsnn_spec::fixed::FixedModel>),
}

/// Applies `--placement` and `--dt` to a model file's configuration.
fn apply_overrides(
    model: &mut Model,
    placement: Option<QuantizerPlacement>,
    dt: Option<f64>,
) -> TrainResult<()> {
    if let Some(placement) = placement {
        model.config.quantizer.placement = placement;
    }
    if let Some(dt) = dt {
        hsnn_spec::config::validate_dt_as("--dt", dt)?;
        model.config.quantizer.dt = dt;
        if model.config.quantizer.placement == QuantizerPlacement::NONE {
            eprintln!("warning: --dt has no effect: nothing spikes (placement none); add --placement hidden");
        }
    }
    model.validate()?;
    Ok(())
}

/// Reads `--model` for `eval` and `energy`: the model (a stand-in with the fixed model's
/// configuration for a fixed model file) and, for a fixed model file, the fixed model.
fn eval_model(arguments: &EvalArguments) -> TrainResult<(Model, EvalModel)> {
    let path = &arguments.model;
    let file = hsnn_train::model_file::read_any_model(path)?;
    let (model, loaded) = match file {
        hsnn_train::model_file::ModelFile::Fixed(fixed) => {
            if arguments.placement.is_some() || arguments.dt.is_some() {
                return Err(TrainError::Usage(format!(
                    "{} is a fixed model, made for one placement and dt (SPEC.md H9); convert the \
                     model file again with `hsnn convert --dt ... --placement ...` instead",
                    path.display()
                )));
            }
            (
                hsnn_train::model_file::stand_in(&fixed)?,
                EvalModel::Fixed(fixed),
            )
        }
        hsnn_train::model_file::ModelFile::Model(mut model) => {
            apply_overrides(&mut model, arguments.placement, arguments.dt)?;
            (*model, EvalModel::File)
        }
    };
    Ok((model, loaded))
}

/// The split `eval` and `energy` run on, built with the model's recorded data settings.
fn eval_data(
    model: &Model,
    arguments: &EvalArguments,
) -> TrainResult<(hsnn_train::data::LoadedData, hsnn_data::LabelledSequences)> {
    let (loaded, note) = data::load_for_evaluation(
        model,
        data::EvaluationData {
            directory: arguments.data.as_deref(),
            config: arguments.config.as_deref(),
            override_provenance: arguments.override_provenance,
            limit: arguments.limit,
        },
    )?;
    if let Some(note) = note {
        eprintln!("note: {note}");
    }
    let dataset = loaded.split_named(arguments.split).clone();
    Ok((loaded, dataset))
}

/// `hsnn eval` on `backend`; `hardware` adds the chip's conversion and saturation counters.
fn eval_command<B: Backend>(
    backend: &B,
    model: &Model,
    arguments: &EvalArguments,
    hardware: Option<&hsnn_hardware::HardwareBackend>,
) -> TrainResult<()> {
    let (loaded, dataset) = eval_data(model, arguments)?;
    let evaluation = evaluate(backend, model, &dataset)?;
    let mut summary = format!(
        "data: {}\n{} sequences: accuracy {:.2}%, loss {:.4}, placement {}, dt {}",
        loaded.description,
        evaluation.samples,
        100.0 * evaluation.accuracy,
        evaluation.loss,
        model.config.quantizer.placement.name(),
        model.config.quantizer.dt
    );
    let mut saturated = None;
    let hardware_report = hardware.map(|hardware| {
        let counters = hardware.take_counters();
        saturated = Some(counters.saturations.clone());
        let engine = engine_description(hardware, model);
        summary.push_str(&format!(
            "\nfixed point (SPEC.md H): engine {engine}; weights {} bits; saturated values: {} \
             inputs, {} memory inputs, {} memory words, {} pre-activations",
            hardware.options().weight_bits,
            counters.saturations.input,
            counters.saturations.memory_input,
            counters.saturations.memory,
            counters.saturations.preactivation
        ));
        serde_json::json!({
            "engine": engine,
            "conversion": hardware.options(),
            "saturations": counters.saturations,
        })
    });
    if let Some(saturations) = saturated.filter(|saturations| saturations.total() > 0) {
        if arguments.conversion.strict {
            eprintln!("{summary}");
            return Err(strict_error(&saturations));
        }
    }
    if arguments.json {
        eprintln!("{summary}");
        let report = serde_json::json!({
            "format": "hsnn-eval",
            "format_version": 1,
            "generator": format!("hsnn {} (hsnn eval)", env!("CARGO_PKG_VERSION")),
            "model": arguments.model.display().to_string(),
            "model_provenance": model.provenance,
            "data": loaded.description,
            "split": arguments.split,
            "backend": backend.name(),
            "placement": model.config.quantizer.placement,
            "dt": model.config.quantizer.dt,
            "samples": evaluation.samples,
            "accuracy": evaluation.accuracy,
            "loss": evaluation.loss,
            "metrics": evaluation.metrics,
            "fixed_point": hardware_report,
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
    Ok(())
}

/// The engine that computed `model` on `hardware` (SPEC.md H13): `fast`, `chip`, or `chip`
/// with the reason the fast engine could not.
fn engine_description(hardware: &hsnn_hardware::HardwareBackend, model: &Model) -> String {
    let engine = hardware.engine();
    if engine == hsnn_hardware::Engine::Fast {
        if let Some(reason) = hardware
            .chip(model)
            .ok()
            .and_then(|chip| hsnn_hardware::fast::unsupported_reason(chip.model()))
        {
            return format!("chip (the fast engine cannot: {reason})");
        }
    }
    engine.name().into()
}

/// `--strict`'s error for a run that saturated (SPEC.md H1): which quantities, how often.
fn strict_error(saturations: &hsnn_spec::fixed::Saturations) -> TrainError {
    let named: Vec<String> = [
        ("inputs", saturations.input),
        ("memory inputs", saturations.memory_input),
        ("memory words", saturations.memory),
        ("pre-activations", saturations.preactivation),
    ]
    .iter()
    .filter(|(_, count)| *count > 0)
    .map(|(name, count)| format!("{count} {name}"))
    .collect();
    hsnn_spec::HsnnError::Numerical {
        operation: "fixed-point evaluation (--strict)".into(),
        reason: format!(
            "values saturated to their format: {}; widen the formats (--conversion: \
             memory_integer_bits, memory_input_integer_bits, preactivation_bits, input_range) \
             or drop --strict to count them",
            named.join(", ")
        ),
    }
    .into()
}

/// The hardware backend for `arguments`: the reference's conversion at the given options, or
/// the fixed model as it is.
fn hardware_backend(
    loaded: &EvalModel,
    arguments: &EvalArguments,
) -> TrainResult<hsnn_hardware::HardwareBackend> {
    let threads = rayon::current_num_threads();
    let engine = arguments.engine;
    match loaded {
        EvalModel::Fixed(fixed) => hsnn_train::pretrained::hardware_backend(
            fixed.options.clone(),
            Some(fixed),
            threads,
            engine,
        ),
        EvalModel::File => hsnn_train::pretrained::hardware_backend(
            arguments.conversion.options()?,
            None,
            threads,
            engine,
        ),
    }
}

/// The commands that run on the modeled chip whatever `--backend` says: `eval --backend
/// hardware`, `energy`, `convert`.
fn run_hardware_command(command: Command) -> TrainResult<()> {
    match command {
        Command::Eval(arguments) => {
            let (model, loaded) = eval_model(&arguments)?;
            let backend = hardware_backend(&loaded, &arguments)?;
            eval_command(&backend, &model, &arguments, Some(&backend))
        }
        Command::Energy {
            eval: arguments,
            devices,
            device_files,
            width_rule,
            memory_pj_per_bit,
        } => {
            if let Some(picojoules) = memory_pj_per_bit {
                // Refused before the chip runs for minutes, not after.
                if !(picojoules.is_finite() && picojoules >= 0.0) {
                    return Err(TrainError::Usage(format!(
                        "--memory-pj-per-bit must be a finite number, 0 or more, got {picojoules}"
                    )));
                }
            }
            let (model, loaded) = eval_model(&arguments)?;
            let backend = hardware_backend(&loaded, &arguments)?;
            let known = hsnn_hardware::energy::devices_with(
                &device_files
                    .iter()
                    .map(PathBuf::as_path)
                    .collect::<Vec<_>>(),
            )?;
            let chosen: Vec<hsnn_hardware::energy::Device> = if devices.is_empty() {
                known.clone()
            } else {
                devices
                    .iter()
                    .map(|name| hsnn_hardware::energy::find_device(&known, name).cloned())
                    .collect::<hsnn_spec::Result<_>>()?
            };
            let (data, dataset) = eval_data(&model, &arguments)?;
            let evaluation = evaluate(&backend, &model, &dataset)?;
            let counters = backend.take_counters();
            if arguments.conversion.strict && counters.saturations.total() > 0 {
                return Err(strict_error(&counters.saturations));
            }
            let pricing = hsnn_cli::energy::PricingChoices {
                width_rule,
                memory_joules_per_bit: memory_pj_per_bit.map(|picojoules| picojoules * 1e-12),
            };
            let report = hsnn_cli::energy::EnergyReport::new(
                &model,
                backend.options(),
                &data.description,
                &evaluation,
                counters,
                &chosen,
                pricing,
            )?;
            if arguments.json {
                eprintln!("{}", report.summary());
                let text = serde_json::to_string_pretty(&report)
                    .map_err(|error| TrainError::Usage(error.to_string()))?;
                println!("{text}");
            } else {
                println!("{}", report.render());
            }
            Ok(())
        }
        Command::Convert {
            model,
            placement,
            dt,
            conversion,
            out,
        } => {
            let mut loaded = hsnn_train::model_file::read_model_file(&model)?;
            apply_overrides(&mut loaded, placement, dt)?;
            let options = conversion.options()?;
            let fixed = hsnn_reference::compiler::convert(&loaded, &options)?;
            fixed.save(&out)?;
            let sums = &fixed.sums;
            println!(
                "wrote {} (hsnn-fixed-model 1): weights {} bits, Abar/Bbar {} bits; sums need \
                 {} (memory input), {} (memory), {} (pre-activation), {} (logits) of {} \
                 accumulator bits",
                out.display(),
                options.weight_bits,
                options.memory_matrix_bits,
                sums.memory_input.bound_bits,
                sums.memory.bound_bits,
                sums.preactivation.bound_bits,
                sums.logits.bound_bits,
                options.accumulator_bits
            );
            Ok(())
        }
        Command::Bench {
            steps,
            json,
            config,
        } => {
            if config.is_some() {
                return Err(TrainError::Usage(
                    "--backend hardware bench times the shipped spiking paper model; it takes \
                     no --config"
                        .into(),
                ));
            }
            let repetitions = usize::try_from(steps).unwrap_or(1000);
            let report =
                hsnn_cli::bench::bench_fixed_point(100, repetitions, rayon::current_num_threads())?;
            if json {
                let text = serde_json::to_string_pretty(&report)
                    .map_err(|error| TrainError::Usage(error.to_string()))?;
                println!("{text}");
            } else {
                println!("{}", hsnn_cli::bench::render_fixed_point(&report));
            }
            if !report.identical {
                return Err(hsnn_spec::HsnnError::Numerical {
                    operation: "hsnn --backend hardware bench".into(),
                    reason: "the fast engine and the chip gave different integers or counters"
                        .into(),
                }
                .into());
            }
            Ok(())
        }
        _ => Err(TrainError::Usage(
            "the hardware backend runs inference only: use it with eval or energy (train and \
             reproduce need a backend that computes gradients: optimized or reference)"
                .into(),
        )),
    }
}

fn main() -> ExitCode {
    match run(Arguments::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error @ TrainError::Interrupted { .. }) => {
            eprintln!("{error}");
            let arguments: Vec<String> = std::env::args()
                // --force conflicts with --resume (and would start over): neither is repeated.
                .filter(|argument| argument != "--resume" && argument != "--force")
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
