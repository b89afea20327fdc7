//! The `herald` binary: run the server, mint tokens for testing.

mod cli;
mod config;
mod credentials;
mod metrics;
mod restart;
mod startup;
mod telemetry;
mod token;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = config::Config::load(&args)?;
            telemetry::init(&config.log, config.log_format)?;
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(async {
                let app = startup::Application::build(config).await?;
                app.run_until_stopped(startup::shutdown_signal()).await
            })
        }
        Command::Token(args) => {
            let config = config::Config::load(&args.server)?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let token = runtime.block_on(token::mint(&config, &args))?;
            println!("{token}");
            Ok(())
        }
    }
}
