//! The `arus` binary: command line, configuration and wiring.

mod serve;
mod sim;

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
    /// Runs simulated charging stations against a CSMS (this one or any other).
    Sim(sim::SimArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Sim(args) => sim::run(args),
    }
}
