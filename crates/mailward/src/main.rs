//! The `mailward` binary: the composition root. It parses the command line, loads
//! configuration, wires roles to listeners and runs admin commands. No business logic
//! lives here.

mod admin;
mod ca;
mod cli;
mod config;
mod demo;
mod login;
mod mailcli;
mod runtime;

use clap::Parser;

/// mimalloc: allocation was about a tenth of the server's CPU time under load with glibc's
/// allocator (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
