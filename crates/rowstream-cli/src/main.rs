//! `rowstream`: serve database tables as streaming HTTP exports.

use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = rowstream_cli::cli::Cli::parse();
    cli.log_format.init()?;
    cli.run().await
}
