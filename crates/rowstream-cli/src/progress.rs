//! The progress bar of `rowstream export` (indicatif), fed by the export's observer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rowstream::StreamObserver;

/// The progress bar on stderr: rows, bytes, rates, elapsed, and with the row count known
/// the percentage and the time left; fed by the stream's observer.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: ProgressBar,
    rows: AtomicU64,
    bytes: AtomicU64,
}

impl Progress {
    /// A bar drawn on stderr when `show`, else hidden; determinate with a `total`.
    pub(crate) fn new(show: bool, total: Option<u64>) -> Self {
        let target = if show {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(total, target);
        let template = match total {
            Some(_) => {
                "{bar:30} {percent:>3}% {human_pos}/{human_len} rows, {msg} [{elapsed}, ETA {eta}]"
            }
            None => "{spinner} {human_pos} rows, {msg} [{elapsed}]",
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        if show {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Self {
            bar,
            rows: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }
}

impl Progress {
    /// The rows seen so far.
    pub(crate) fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    /// Removes the bar from the terminal.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl StreamObserver for Progress {
    fn on_chunk(&self, bytes: usize, items: u64) {
        let rows = self.rows.fetch_add(items, Ordering::Relaxed) + items;
        let bytes = self.bytes.fetch_add(bytes as u64, Ordering::Relaxed) + bytes as u64;
        self.bar.set_position(rows);
        if self.bar.is_hidden() {
            return;
        }
        let secs = self.bar.elapsed().as_secs_f64().max(1e-3);
        self.bar.set_message(format!(
            "{} ({:.0} rows/s, {}/s)",
            HumanBytes(bytes),
            rows as f64 / secs,
            HumanBytes((bytes as f64 / secs) as u64)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_count_makes_the_bar_determinate() {
        assert_eq!(
            Progress::new(false, Some(336_776)).bar.length(),
            Some(336_776)
        );
        assert_eq!(Progress::new(false, None).bar.length(), None);
    }
}
