//! Human output on stderr: coloured prefixes (honouring `NO_COLOR` and non-terminals through
//! anstream) and a progress display shown only when stderr is a terminal.

use std::io::IsTerminal;

use anstyle::{AnsiColor, Style};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const ERROR: Style = AnsiColor::Red.on_default().bold();
const WARNING: Style = AnsiColor::Yellow.on_default().bold();
const OK: Style = AnsiColor::Green.on_default();

/// Prints `error: message` on stderr.
pub fn error(message: impl std::fmt::Display) {
    anstream::eprintln!("{ERROR}error:{ERROR:#} {message}");
}

/// Prints `warning: message` on stderr.
pub fn warning(message: impl std::fmt::Display) {
    anstream::eprintln!("{WARNING}warning:{WARNING:#} {message}");
}

/// Prints a success summary line on stderr.
pub fn done(message: impl std::fmt::Display) {
    anstream::eprintln!("{OK}{message}{OK:#}");
}

/// A progress bar over `total` releases, or a hidden one when stderr is not a terminal, when
/// `quiet`, or when there is nothing to do.
pub fn progress(total: usize, quiet: bool, what: &str) -> ProgressBar {
    if quiet || total == 0 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} ({elapsed})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
