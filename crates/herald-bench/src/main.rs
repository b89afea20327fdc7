//! `herald-bench`: drives a running Herald server over real sockets and reports throughput and latency, with
//! Redis doing the equivalent raw work in the same run as a reference point.

mod api;
mod cli;
mod dialects;
mod report;
mod scenarios;
mod server;
mod stats;
mod ws;

use clap::Parser;

use cli::{Cli, Scenario};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Workers of the `connections` scenario hold thousands of sockets each: give them the open-file headroom.
    server::raise_nofile_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let report = match &cli.scenario {
            Scenario::Fanout(args) => scenarios::fanout::run(&cli.target, args).await?,
            Scenario::Connections(args) => scenarios::connections::run(&cli.target, args).await?,
            Scenario::Api(args) => scenarios::api::run(&cli.target, args).await?,
            Scenario::Graph(args) => scenarios::graph::run(&cli.target, args).await?,
            Scenario::Drain(args) => scenarios::drain::run(&cli.target, args).await?,
            Scenario::ConnectionsWorker(args) => return scenarios::connections::worker(&cli.target, args).await,
        };
        if cli.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", report.table());
        }
        Ok(())
    })
}
