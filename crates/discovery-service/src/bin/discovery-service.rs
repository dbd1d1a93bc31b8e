//! `discovery-service [--key=value…]`: runs the discovery service alone, the same as
//! `factura run discovery-service` (what the benchmark starts, so that it depends on this crate
//! only).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match platform::app::run_until_signal(&discovery_service::SERVICE, args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("discovery-service: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
