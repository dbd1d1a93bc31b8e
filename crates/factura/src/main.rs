//! The `factura` command.
//!
//! * `factura up` ([`supervisor`]) starts every service ([`services`] lists them) as its own OS
//!   process, in dependency order, waits for each to report healthy, prints where everything
//!   listens, restarts a crashed instance with backoff, and stops them all on Ctrl-C/SIGTERM
//!   or when a service keeps failing.
//! * `factura run <service> [--key=value…]` runs one service in the foreground.
//! * `factura status` lists the instances registered with discovery.
//!
//! Exit codes: 0 after a clean stop; 78 (`EX_CONFIG`) when a setting cannot be used — the
//! message names the key, its value and the form expected, and nothing has bound a port yet;
//! 1 for any other failure.

mod services;
mod status;
mod supervisor;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "factura", version, about = "A microservice billing system")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the whole system and keep it running until Ctrl-C.
    Up(supervisor::UpOptions),
    /// Run one service in the foreground.
    Run {
        /// discovery-service, config-service, gateway-service, customer-service,
        /// inventory-service or billing-service.
        service: String,
        /// `--config <file>` and Spring-style `--key=value` properties, e.g. `--server.port=9000`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// List what is running, according to the discovery registry.
    Status {
        /// The discovery server's Eureka URL.
        #[arg(long, default_value = "http://localhost:8761/eureka")]
        discovery: String,
        /// The `factura up` data directory whose `credentials` file holds discovery's user
        /// (used unless the URL carries one).
        #[arg(long, default_value = "data")]
        data_dir: std::path::PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("factura: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Up(options) => supervisor::up(options).await,
            Command::Status {
                discovery,
                data_dir,
            } => status::status(&discovery, &data_dir).await,
            Command::Run { service, args } => {
                let definition = services::find(&service)?;
                let report = std::env::var_os(supervisor::REPORT_LISTENING).is_some();
                platform::app::run_until_signal_reporting(definition, args, |addr| {
                    if report {
                        println!("{}{addr}", supervisor::LISTENING);
                    }
                })
                .await
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("factura: {error:#}");
            if platform::settings::is_configuration_error(&error) {
                std::process::ExitCode::from(platform::settings::EX_CONFIG)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}
