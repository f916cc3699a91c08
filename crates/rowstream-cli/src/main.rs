//! `rowstream`: serve database tables as streaming HTTP exports.

use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = rowstream_cli::cli::Cli::parse();
    let result = match cli.log_format.init() {
        Ok(()) => cli.run().await,
        Err(err) => Err(err),
    };
    rowstream_cli::cli::finish(result)
}
