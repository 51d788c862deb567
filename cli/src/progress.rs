//! Progress for a person: an indicatif bar per stage when stderr is a terminal, one line per
//! epoch otherwise (a log file), both with the stage's and the whole run's estimated time left.

use std::sync::Mutex;
use std::time::Instant;

use hsnn_train::training_loop::{EpochSummary, MinibatchProgress, Observer};
use indicatif::{ProgressBar, ProgressStyle};

/// Shows a running experiment on stderr.
pub struct Progress {
    bar: Option<ProgressBar>,
    state: Mutex<State>,
}

struct State {
    stage_started: Instant,
    stage_first: u64,
    /// Minibatches of the stages after the current one, for the run's time left.
    later_minibatches: u64,
    remaining_stages: Vec<u64>,
}

impl Progress {
    /// Progress for a run; `bar` draws an interactive bar (for a terminal), otherwise one line
    /// per epoch.
    pub fn new(bar: bool) -> Self {
        let bar = bar.then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            bar,
            state: Mutex::new(State {
                stage_started: Instant::now(),
                stage_first: 0,
                later_minibatches: 0,
                remaining_stages: Vec::new(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn print(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}

/// `seconds` as `1h02m`, `3m05s` or `12s`.
fn duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0).round() as u64;
    match seconds {
        0..=59 => format!("{seconds}s"),
        60..=3599 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, (seconds % 3600) / 60),
    }
}

impl Observer for Progress {
    fn run_started(&self, stage_minibatches: &[u64]) {
        self.state().remaining_stages = stage_minibatches.to_vec();
    }

    fn stage_started(&self, _stage: &str, completed: u64, total: u64) {
        let mut state = self.state();
        state.stage_started = Instant::now();
        state.stage_first = completed;
        if !state.remaining_stages.is_empty() {
            state.remaining_stages.remove(0);
        }
        state.later_minibatches = state.remaining_stages.iter().sum();
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(completed);
        }
    }

    fn minibatch_finished(&self, progress: &MinibatchProgress<'_>) {
        let Some(bar) = &self.bar else { return };
        let state = self.state();
        let done = progress.completed.saturating_sub(state.stage_first).max(1);
        let per_minibatch = state.stage_started.elapsed().as_secs_f64() / done as f64;
        let stage_left = (progress.total - progress.completed) as f64 * per_minibatch;
        let epoch_left = (progress.per_epoch - progress.in_epoch) as f64 * per_minibatch;
        let run_left = stage_left + state.later_minibatches as f64 * per_minibatch;
        bar.set_prefix(format!(
            "{} epoch {}/{}",
            progress.stage, progress.epoch, progress.epochs
        ));
        bar.set_position(progress.completed);
        bar.set_message(format!(
            "loss {:.4} acc {:.1}% dt {:.3} | epoch {} left, run ~{} left",
            progress.loss,
            100.0 * progress.accuracy,
            progress.dt,
            duration(epoch_left),
            duration(run_left)
        ));
    }

    fn epoch_finished(&self, stage: &str, epochs: usize, summary: &EpochSummary) {
        let elapsed = self.state().stage_started.elapsed().as_secs_f64();
        self.print(&format!(
            "{stage} epoch {}/{epochs}: dt {:.4}, train loss {:.4} acc {:.2}%, validation loss {:.4} acc {:.2}% ({} into the stage in this run)",
            summary.epoch,
            summary.dt,
            summary.train_loss,
            100.0 * summary.train_accuracy,
            summary.validation_loss,
            100.0 * summary.validation_accuracy,
            duration(elapsed)
        ));
    }

    fn stage_stopped(&self, _stage: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn message(&self, text: &str) {
        self.print(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Durations read as a person writes them.
    #[test]
    fn t7_progress_durations_are_readable() {
        assert_eq!(duration(12.4), "12s");
        assert_eq!(duration(185.0), "3m05s");
        assert_eq!(duration(3720.0), "1h02m");
    }
}
