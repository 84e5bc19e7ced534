//! The `brook` binary: `brook server` runs a broker; the Kafka-compatible tools arrive with
//! their issue.

use std::path::PathBuf;
use std::process::ExitCode;

use brook_server::{BrokerConfig, Server};
use tracing::error;

const USAGE: &str = "\
usage: brook server [server.properties] [--override key=value ...]
       brook --version

  server     run a broker; with no file, one broker on localhost:9092 with data in ./brook-data";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version") | Some("-V") => {
            println!("brook {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("server") => server(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn server(args: &[String]) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = match parse_server_args(args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("brook server: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("brook server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            eprintln!("brook server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse_server_args(args: &[String]) -> Result<BrokerConfig, String> {
    let mut file: Option<PathBuf> = None;
    let mut overrides = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--override" => overrides.push(rest.next().ok_or("--override needs key=value")?.clone()),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            path if file.is_none() => file = Some(PathBuf::from(path)),
            extra => return Err(format!("unexpected argument {extra}")),
        }
    }
    let text = match &file {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        None => String::new(),
    };
    BrokerConfig::from_properties(&text, &overrides).map_err(|e| e.to_string())
}

async fn run(config: BrokerConfig) -> anyhow::Result<()> {
    // Every connection and every segment file holds a descriptor; the usual soft limit of 1024
    // is far below what a broker needs, so raise it to the hard limit, as Kafka's docs advise.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "open file limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open file limit"),
    }
    let server = Server::bind(config).await?;
    // The line tests and scripts wait for; the port matters when it was 0.
    println!("brook listening on {}", server.local_addr);
    server.run(shutdown_signal()).await
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            error!(error = %e, "cannot listen for SIGTERM");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
