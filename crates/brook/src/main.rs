//! The `brook` binary. Today only the storage engine exists; the broker (`brook server`) and
//! the Kafka-compatible tools arrive with their issues, and until then this says so plainly.

use std::process::ExitCode;

const USAGE: &str = "usage: brook <command>\n\ncommands:\n  server     run a broker (not yet: the storage engine exists, the network layer does not)\n  --version  print the version";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version") | Some("-V") => {
            println!("brook {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("server") => {
            eprintln!(
                "brook server: not yet. The storage engine (crates/log) is built; the Kafka protocol server is the next issue."
            );
            ExitCode::from(2)
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
