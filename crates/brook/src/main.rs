//! The `brook` binary: `brook server` runs a broker and its web console; `brook topics`, `brook console-producer`
//! and `brook console-consumer` are Kafka's tools. Invoked as (or linked to) `kafka-topics` or
//! `kafka-topics.sh`, it behaves as that tool; `brook install-aliases DIR` creates the links.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use brook_console::Console;
use brook_server::{BrokerConfig, Server};
use tracing::error;

const USAGE: &str = "\
usage: brook server [server.properties] [--override key=value ...]
       brook topics|console-producer|console-consumer|consumer-groups|share-groups|streams-groups|configs [options]   (--help for each)
       brook reassign-partitions|log-dirs|client-metrics|delegation-tokens|leader-election|metadata-quorum|transactions [options]
       brook perf produce|consume [options]
       brook install-aliases DIR
       brook --version

  server            run a broker; with no file, one broker on localhost:9092 with data in ./brook-data,
                    and its web console and /metrics on http://localhost:8080; with KRaft's
                    process.roles and controller.quorum.voters, a node of a cluster
  topics            kafka-topics: create, list, describe, alter, delete topics
  console-producer  kafka-console-producer: publish lines from standard input
  console-consumer  kafka-console-consumer: print a topic's records
  consumer-groups   kafka-consumer-groups: list, describe (lag), reset offsets, delete
  share-groups      kafka-share-groups: list, describe (members, state, lag), reset or delete offsets, delete
  streams-groups    kafka-streams-groups: list, describe (members and tasks, state, offsets and lag), delete
  configs           kafka-configs: describe and change topic and broker configs
  reassign-partitions  kafka-reassign-partitions: move replicas between brokers or log dirs (generate, execute, verify, list, cancel)
  log-dirs          kafka-log-dirs: describe each broker's log dirs and the replicas in them
  client-metrics    kafka-client-metrics: alter, describe, list, delete client metrics subscriptions
  delegation-tokens kafka-delegation-tokens: create, renew, expire, describe delegation tokens
  leader-election   kafka-leader-election: elect preferred (or unclean) leaders
  metadata-quorum   kafka-metadata-quorum: describe --status or --replication of the quorum
  transactions      kafka-transactions: list, describe, describe-producers, abort a hanging one
  perf produce      kafka-producer-perf-test: throughput and latency percentiles
  perf consume      kafka-consumer-perf-test: consume throughput
  install-aliases   link kafka-topics, kafka-topics.sh, ... in DIR to this binary";

fn main() -> ExitCode {
    let mut argv = std::env::args();
    let program = argv.next().unwrap_or_default();
    let args: Vec<String> = argv.collect();
    let program = Path::new(&program).file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    if let Some(tool) = brook_cli::tool_for_program(&program) {
        return run_tool(tool, &args);
    }
    match args.first().map(String::as_str) {
        Some("--version") | Some("-V") => {
            println!("brook {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("server") => server(&args[1..]),
        Some("install-aliases") => install_aliases(&args[1..]),
        Some("perf") => match args.get(1).map(String::as_str) {
            Some(kind @ ("produce" | "consume")) => run_tool(&format!("perf-{kind}"), &args[2..]),
            _ => {
                eprintln!("usage: brook perf produce|consume [options]   (--help for each)");
                ExitCode::from(2)
            }
        },
        Some(tool) if brook_cli::TOOLS.iter().any(|(name, ..)| *name == tool) => run_tool(tool, &args[1..]),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run_tool(tool: &str, args: &[String]) -> ExitCode {
    // A reader that stops early (`| head`) ends a tool quietly, with the status a shell gives
    // a process that SIGPIPE ended, instead of a panic's trace.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload.downcast_ref::<String>().map(String::as_str).or(payload.downcast_ref::<&str>().copied());
        if message.is_some_and(|m| m.starts_with("failed printing to stdout") && m.contains("Broken pipe")) {
            std::process::exit(141);
        }
        default_hook(info);
    }));
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    // Ctrl-C asks the tool to stop; a second one ends the process at once.
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        runtime.block_on(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                flag.store(true, Ordering::Relaxed);
            }
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        });
    });
    ExitCode::from(brook_cli::run(tool, args, interrupted).clamp(0, 255) as u8)
}

fn install_aliases(args: &[String]) -> ExitCode {
    let [dir] = args else {
        eprintln!("usage: brook install-aliases DIR");
        return ExitCode::from(2);
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("brook install-aliases: cannot find this binary: {e}");
            return ExitCode::FAILURE;
        }
    };
    for (_, kafka, ..) in brook_cli::TOOLS {
        for name in [kafka.to_string(), format!("{kafka}.sh")] {
            let link = Path::new(dir).join(&name);
            let _ = std::fs::remove_file(&link);
            if let Err(e) = std::os::unix::fs::symlink(&exe, &link) {
                eprintln!("brook install-aliases: cannot create {}: {e}", link.display());
                return ExitCode::FAILURE;
            }
            println!("{}", link.display());
        }
    }
    ExitCode::SUCCESS
}

fn server(args: &[String]) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
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
    // The console shows a broker; a controller-only node has none.
    let console = match server.broker().config.console.enabled && server.local_addr.is_some() {
        true => Some(Console::bind(server.broker()).await?),
        false => None,
    };
    // Listening for SIGTERM and SIGINT before the start-up lines: one that comes right after
    // them must stop the server cleanly, not end it by the default action.
    let shutdown = shutdown_signal()?;
    // The lines tests and scripts wait for; the ports matter when they were 0.
    match (server.local_addr, server.controller_addr) {
        (Some(addr), _) => println!("brook listening on {addr}"),
        (None, Some(addr)) => println!("brook controller listening on {addr}"),
        (None, None) => {}
    }
    if let Some(console) = &console {
        println!("brook console on {}://{}", console.scheme, console.local_addr);
    }
    // Every listener, by name and protocol (the first is also the line above), and /metrics'
    // own. A reader that took only the lines above may have closed the pipe: that is no
    // reason to stop.
    let mut out = std::io::stdout();
    for (name, protocol, addr) in &server.listeners {
        let _ = writeln!(out, "brook listener {name} ({protocol}) on {addr}");
    }
    if let Some(addr) = console.as_ref().and_then(|c| c.metrics_addr) {
        let _ = writeln!(out, "brook metrics on http://{addr}/metrics");
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let console = console.map(|console| {
        let mut stop = stop_rx.clone();
        tokio::spawn(console.run(async move {
            let _ = stop.changed().await;
        }))
    });
    let mut stop = stop_rx;
    let mut broker = tokio::spawn(server.run(async move {
        let _ = stop.changed().await;
    }));
    // A signal stops both listeners; so does the broker ending on its own (an error).
    let ended = tokio::select! {
        _ = shutdown => None,
        ended = &mut broker => Some(ended),
    };
    let _ = stop_tx.send(true);
    if let Some(console) = console {
        console.await??;
    }
    match ended {
        Some(ended) => ended?,
        None => broker.await?,
    }
}

/// A future that completes at the first SIGTERM or SIGINT, listening from now on.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

/// `RUST_LOG`, else `info`. openraft's own logging stays off unless `RUST_LOG` names it: it
/// reports every election step and every unreachable peer (normal while a node restarts), and
/// Brook logs the quorum's leader changes itself.
fn log_filter() -> tracing_subscriber::EnvFilter {
    let spec = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let spec = if spec.contains("openraft") { spec } else { format!("{spec},openraft=off") };
    tracing_subscriber::EnvFilter::try_new(&spec).unwrap_or_else(|_| "info,openraft=off".into())
}
