//! `revos`: the command-line program of the Revenue OS kernel.
//!
//! Thin by design: it parses the command line, loads the configuration
//! (defaults → `revos.toml` → environment → flags), and hands over to the
//! kernel service or the HTTP API. Failures are printed as the contract's
//! `KernelError` and end the process with a non-zero status.

mod bench;
mod cli;
mod commands;
mod cycles_bench;
mod demo_cmd;
mod import;
mod ingest_bench;
mod kernel_cmds;
mod kernel_example;
mod kernel_summary;
mod oracle_bench;
mod output;
mod runtime_cmds;
mod stats_cmd;

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
