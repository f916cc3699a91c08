//! Load test: rowstream and its peers served side by side and measured in one run.
//!
//! - `loadtest serve --server KIND --port P` serves `GET /tickets?n=N` with one design;
//! - `loadtest run …` starts a fresh server process per case, measures it from outside
//!   (wall time, bytes, time to first byte from the client; peak RSS and CPU time from
//!   `/proc`), runs the flights exports against `rowstream serve` and the databases'
//!   own command-line clients, and writes a markdown report.
//!
//! `scripts/loadtest.sh` builds everything, prepares the flights databases and runs it.

mod client;
mod process;
mod report;
mod run;
mod servers;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "loadtest", about = "rowstream and its peers, side by side")]
enum Command {
    /// Serve the demo tickets with one design until killed.
    Serve {
        #[arg(long, value_enum)]
        server: servers::Kind,
        #[arg(long)]
        port: u16,
        /// Leave `TCP_NODELAY` off, as a plain `axum::serve` does.
        #[arg(long)]
        no_nodelay: bool,
    },
    /// Measure every case and write the report.
    Run(run::Args),
}

fn main() -> anyhow::Result<()> {
    match Command::parse() {
        Command::Serve {
            server,
            port,
            no_nodelay,
        } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(servers::serve(server, port, !no_nodelay)),
        // The client on one thread: the servers get the rest of the machine.
        Command::Run(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(run::run(args)),
    }
}
