//! `completion` and `man`: generated from the clap definition, so they never drift.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{Error, Result};

/// Writes the completion script for `shell` to stdout.
pub fn completion(shell: clap_complete::Shell) {
    let mut cmd = Cli::command();
    clap_complete::generate(
        shell,
        &mut cmd,
        "oc-release-signature",
        &mut std::io::stdout(),
    );
}

/// Writes the man page to stdout.
pub fn man() -> Result<()> {
    let page = clap_mangen::Man::new(Cli::command().name("oc-release-signature"));
    page.render(&mut std::io::stdout())
        .map_err(|e| Error::failure(format!("cannot write the man page: {e}")))
}
