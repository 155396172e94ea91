//! `hookledger`: parse the command line, load config, start telemetry, run the subcommand.

use std::process::ExitCode;

use clap::Parser;
use hookledger_api::cli::{Cli, run};
use hookledger_domain::cause::one_line;

/// mimalloc rather than glibc's malloc: a delivery allocates and frees many small buffers
/// across the runtime's threads, and glibc spent a fifth of the server's CPU on it (with
/// `malloc_consolidate` high in the profile); mimalloc cut the server's CPU per delivery by
/// 9 % at fan-out 10, within noise at 1 webhook, for a higher peak RSS (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}
