//! `revos`: the command-line program of the Revenue OS kernel.
//!
//! Thin by design: it parses the command line, loads the configuration
//! (defaults → `revos.toml` → environment → flags), and hands over to the
//! kernel service or the HTTP API. Failures are printed as the contract's
//! `KernelError` and end the process with a non-zero status.

mod backend;
mod bench;
mod cli;
mod commands;
mod cycles_bench;
mod demo_cmd;
mod forms_cmd;
mod import;
mod ingest_bench;
mod kernel_cmds;
mod kernel_example;
mod kernel_summary;
mod ops_cmds;
mod oracle_bench;
mod output;
mod posts_cmd;
mod runtime_cmds;
mod spine_cmd;
mod stats_cmd;
mod templates_cmd;
mod tickets_cmd;

use clap::{CommandFactory, FromArgMatches};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let matches = cli::Cli::command().get_matches();
    let cli = match cli::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // `--database` typed on this command line, not from the environment
    // or a file: the commands that never touch a live database by default
    // (`validate`, `demo`) take it as the user's explicit choice.
    let typed = |m: &clap::ArgMatches| {
        m.value_source("database") == Some(clap::parser::ValueSource::CommandLine)
    };
    let explicit_database =
        typed(&matches) || matches.subcommand().is_some_and(|(_, sub)| typed(sub));
    match commands::run(cli, explicit_database).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
