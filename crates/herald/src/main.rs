//! The `herald` binary: run the server, mint tokens for testing.

mod cli;
mod config;
mod credentials;
mod startup;
mod telemetry;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = config::Config::load(&args)?;
            telemetry::init(&config.log);
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(startup::serve(config))
        }
        Command::Token(args) => {
            let config = config::Config::load(&args.server)?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let token = runtime.block_on(startup::mint_token(&config, &args))?;
            println!("{token}");
            Ok(())
        }
    }
}
