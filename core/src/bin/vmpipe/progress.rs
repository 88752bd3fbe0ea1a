//! The progress bar a person sees on a terminal during a long sweep or offline run.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use vmpipe::engine::Progress;

/// A progress bar on standard error.
pub struct Bar(ProgressBar);

impl Bar {
    /// A bar on standard error when it is a terminal; `None` otherwise (a pipe, a file, CI),
    /// where a bar would only be noise.
    pub fn on_terminal() -> Option<Bar> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style =
            ProgressStyle::with_template("{spinner} {pos}/{len} processes {bar:30} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Some(Bar(bar))
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
