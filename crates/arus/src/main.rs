//! The `arus` binary: command line, configuration and wiring.

mod serve;

use clap::{Parser, Subcommand};

/// Arus: a charging station management system.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the server: stations connect to ws://ADDR/ocpp/{stationId}, operators use
    /// http://ADDR/api/v1.
    Serve(serve::ServeArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
    }
}
