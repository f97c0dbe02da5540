//! Process setup shared by every command: logging, the async runtime, and turning errors into
//! messages and exit codes.

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::commands;
use crate::error::Error;

/// Runs the program with the process arguments and returns the exit code.
pub fn run() -> i32 {
    restore_sigpipe();
    let cli = Cli::parse();
    init_tracing(cli.verbose, cli.quiet);
    crate::http::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return report(&Error::failure(format!(
                "cannot start the async runtime: {e}"
            )))
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Fetch(args) => commands::fetch::run(args, cli.quiet).await,
            Command::Apply(args) => commands::apply::run(args, cli.quiet).await,
            Command::List(args) => commands::list::run(args).await,
            Command::Verify(args) => commands::verify::run(args).await,
            Command::Completion { shell } => {
                commands::docs::completion(shell);
                Ok(())
            }
            Command::Man => commands::docs::man(),
        }
    });
    match result {
        Ok(()) => 0,
        Err(e) => report(&e),
    }
}

/// Rust ignores SIGPIPE, so `| head` would make every print panic; die quietly like other
/// Unix tools instead.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn report(e: &Error) -> i32 {
    crate::ui::error(e);
    e.exit_code()
}

/// Our own crate logs at the requested level (-v steps, -vv details); libraries only from
/// -vvv, so their messages (and anything they might log of a request) stay out of the way.
fn init_tracing(verbose: u8, quiet: bool) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let ours = match (quiet, verbose) {
        (true, _) => LevelFilter::ERROR,
        (false, 0) => LevelFilter::WARN,
        (false, 1) => LevelFilter::INFO,
        (false, _) => LevelFilter::DEBUG,
    };
    let deps = if verbose >= 3 {
        LevelFilter::DEBUG
    } else {
        LevelFilter::OFF
    };
    // `Targets` rather than `EnvFilter`: no regex to compile on every start.
    let filter = Targets::new()
        .with_default(deps)
        .with_target("oc_release_signature", ours);
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                .without_time(),
        )
        .with(filter)
        .try_init();
}
