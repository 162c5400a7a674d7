//! The `arus` binary: command line, configuration and wiring.

mod bench;
mod serve;
mod sim;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: under load, glibc's malloc spent a tenth of the
/// server's CPU in lock contention and consolidation between the runtime's threads and the
/// database writer.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Benchmarks: Arus side by side with peer servers (see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Sim(args) => sim::run(args),
        Command::Bench(cmd) => bench::run(cmd),
    }
}
