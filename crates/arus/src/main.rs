//! The `arus` binary: command line, configuration and wiring.

mod allocation_bench;
mod bench;
mod client;
mod limits;
mod retention;
mod serve;
mod sim;
mod site_bench;
mod storage;

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
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Runs the server: stations connect to ws://ADDR/ocpp/{stationId}, operators use
    /// http://ADDR/api/v1.
    Serve(serve::ServeArgs),
    /// Runs simulated charging stations against a CSMS (this one or any other).
    Sim(sim::SimArgs),
    /// Benchmarks: Arus side by side with peer servers (see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Stations of a running server: list, show, add, device model.
    Stations {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        cmd: client::Stations,
    },
    /// Sends a command to a station of a running server and shows the answer.
    Command {
        #[command(flatten)]
        conn: client::Connection,
        #[command(flatten)]
        args: client::CommandArgs,
    },
    /// Commands sent to stations: list, show.
    Commands {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        cmd: client::Commands,
    },
    /// Sends one command to many stations.
    Bulk {
        #[command(flatten)]
        conn: client::Connection,
        #[command(flatten)]
        args: client::BulkArgs,
    },
    /// Follows the events of a running server.
    Events {
        #[command(flatten)]
        conn: client::Connection,
        #[command(flatten)]
        args: client::EventArgs,
    },
    /// API tokens: list, create, revoke.
    Tokens {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        cmd: client::Tokens,
    },
    /// Id tokens (RFID cards, app users): add, show.
    IdTokens {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        cmd: client::IdTokens,
    },
    /// Smart charging: a station's charging profiles and composite schedule.
    Charging {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        cmd: client::Charging,
    },
    /// Sites and the division of their capacity (load management).
    Sites {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        cmd: client::Sites,
    },
    /// Transactions, newest first.
    Transactions {
        #[command(flatten)]
        conn: client::Connection,
        /// Only this station's.
        #[arg(long)]
        station: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Task::Serve(args) => serve::run(args),
        Task::Sim(args) => sim::run(args),
        Task::Bench(cmd) => bench::run(cmd),
        Task::Stations { conn, cmd } => operate(conn, client::Request::Stations(cmd)),
        Task::Command { conn, args } => operate(conn, client::Request::Command(args)),
        Task::Commands { conn, cmd } => operate(conn, client::Request::Commands(cmd)),
        Task::Bulk { conn, args } => operate(conn, client::Request::Bulk(args)),
        Task::Events { conn, args } => operate(conn, client::Request::Events(args)),
        Task::Tokens { conn, cmd } => operate(conn, client::Request::Tokens(cmd)),
        Task::IdTokens { conn, cmd } => operate(conn, client::Request::IdTokens(cmd)),
        Task::Charging { conn, cmd } => operate(conn, client::Request::Charging(cmd)),
        Task::Sites { conn, cmd } => operate(conn, client::Request::Sites(cmd)),
        Task::Transactions {
            conn,
            station,
            limit,
        } => operate(conn, client::Request::Transactions { station, limit }),
    }
}

/// Runs an API subcommand; a refusal is one line on stderr and exit status 1, as scripts
/// expect, not a backtrace.
fn operate(conn: client::Connection, request: client::Request) -> anyhow::Result<()> {
    if let Err(e) = client::run(conn, request) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}
