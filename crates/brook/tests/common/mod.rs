//! Starts a real `brook server` process on a free port with a temporary data directory, and
//! stops it (SIGTERM, then SIGKILL if it lingers) when dropped, also when a test fails.
#![allow(dead_code, unreachable_pub)]

pub mod certs;
pub mod clients;
pub mod cluster;
pub mod history;
pub mod http;
pub mod kafka;
pub mod netns;
pub mod wire;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Brook {
    child: Option<Child>,
    pub addr: String,
    /// The console's base URL (`http://127.0.0.1:PORT`), unless `console.enabled=false`.
    pub console: Option<String>,
    pub data: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

/// The `brook` binary the tests run: `BROOK_BIN` if set (to test another build, or to keep
/// running a copy while the tree is rebuilt), else the one cargo built with the tests.
pub fn brook_bin() -> String {
    std::env::var("BROOK_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_brook").to_string())
}

impl Brook {
    /// A broker on a fresh data directory.
    pub fn start(overrides: &[&str]) -> Brook {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().to_path_buf();
        let mut brook = Brook::start_in(&data, overrides);
        brook._dir = Some(dir);
        brook
    }

    /// A broker on an existing data directory (for restarts).
    pub fn start_in(data: &Path, overrides: &[&str]) -> Brook {
        Brook::spawn(Command::new(brook_bin()), data, overrides)
    }

    /// A broker started with a soft open-file limit of `nofile`, as a default shell gives it.
    pub fn start_with_nofile_limit(nofile: u32, overrides: &[&str]) -> Brook {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &format!("ulimit -Sn {nofile} && exec \"$0\" \"$@\""), &brook_bin()]);
        let mut brook = Brook::spawn(cmd, dir.path(), overrides);
        brook._dir = Some(dir);
        brook
    }

    /// A broker on `data` whose process may hold at most `nofile` open files (soft and hard
    /// limit: it cannot raise its own).
    pub fn start_in_under_file_limit(data: &Path, nofile: u32, overrides: &[&str]) -> Brook {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &format!("ulimit -n {nofile} && exec \"$0\" \"$@\""), &brook_bin()]);
        Brook::spawn(cmd, data, overrides)
    }

    fn spawn(cmd: Command, data: &Path, overrides: &[&str]) -> Brook {
        let mut args = vec![
            "listeners=PLAINTEXT://127.0.0.1:0".to_string(),
            "console.listener=127.0.0.1:0".to_string(),
            format!("log.dirs={}", data.display()),
        ];
        args.extend(overrides.iter().map(|o| o.to_string()));
        Brook::launch(cmd, None, data, &args).ready()
    }

    /// Starts `brook server [properties] --override ...` without waiting for it to serve.
    pub fn launch(mut cmd: Command, properties: Option<&Path>, data: &Path, overrides: &[String]) -> Pending {
        cmd.arg("server");
        if let Some(file) = properties {
            cmd.arg(file);
        }
        for o in overrides {
            cmd.args(["--override", o]);
        }
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "warn");
        }
        // A cluster node's log lines say which node wrote them.
        let label = properties.and_then(|p| p.file_stem()).map(|s| s.to_string_lossy().replace("server-", "node "));
        let stderr = if label.is_some() { Stdio::piped() } else { Stdio::inherit() };
        let mut child = cmd.stdout(Stdio::piped()).stderr(stderr).spawn().expect("spawn brook");
        if let (Some(label), Some(err)) = (label, child.stderr.take()) {
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    eprintln!("[{label}] {line}");
                }
            });
        }
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let console = !overrides.iter().any(|o| o == "console.enabled=false");
        Pending { child, stdout, console, data: data.to_path_buf() }
    }
    /// SIGTERM and wait for a clean exit; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        self.stop_within(Duration::from_secs(20))
    }

    /// `stop`, allowing `limit` for the clean exit.
    pub fn stop_within(&mut self, limit: Duration) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("brook did not stop within {limit:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Cuts the power of a broker started with `BROOK_TEST_POWER_CUT` set: what it wrote and
    /// did not fdatasync is gone, and it exits with 137. `await_power_cut` waits for that.
    pub fn cut_power(&self) {
        signal(self.pid(), "-USR1");
    }

    /// Waits until a broker sent `cut_power` is down.
    pub fn await_power_cut(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match child.try_wait().expect("wait") {
                Some(status) => {
                    assert_eq!(status.code(), Some(137), "a power cut exits with 137");
                    return;
                }
                None if Instant::now() > deadline => {
                    let _ = child.kill();
                    panic!("broker {} did not cut its power within 20 s", child.id());
                }
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    /// Keeps the data directory alive past this broker, for a restart.
    pub fn take_dir(&mut self) -> Option<tempfile::TempDir> {
        self._dir.take()
    }
}

/// Runs `brook server [properties] --override ...` expecting it to refuse to start: its exit
/// code and standard error, or a panic if it is still running after `timeout`.
pub fn refused_start(properties: Option<&Path>, overrides: &[String], timeout: Duration) -> (Option<i32>, String) {
    let mut cmd = Command::new(brook_bin());
    cmd.arg("server");
    if let Some(file) = properties {
        cmd.arg(file);
    }
    for o in overrides {
        cmd.args(["--override", o]);
    }
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn brook");
    let deadline = Instant::now() + timeout;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("brook started although it should have refused");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("wait for brook");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// A `brook server` process that was started but may not serve yet (a cluster node waits for
/// its quorum).
pub struct Pending {
    child: Child,
    stdout: BufReader<std::process::ChildStdout>,
    console: bool,
    data: PathBuf,
}

impl Pending {
    /// Waits until the process says where it listens (a controller-only node: where its
    /// controller listens).
    pub fn ready(mut self) -> Brook {
        let mut read_line = |prefixes: &[&str]| {
            let mut line = String::new();
            self.stdout.read_line(&mut line).expect("read brook's start-up lines");
            prefixes
                .iter()
                .find_map(|p| line.trim().strip_prefix(p))
                .unwrap_or_else(|| panic!("expected {prefixes:?} from brook, got {line:?}"))
                .to_string()
        };
        let addr = read_line(&["brook listening on ", "brook controller listening on "]);
        let console = self.console.then(|| read_line(&["brook console on "]));
        Brook { child: Some(self.child), addr, console, data: self.data, _dir: None }
    }
}

impl Drop for Brook {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `kill <signal> <pid>` (`-STOP`, `-CONT`, `-USR1`...).
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill").args([signal, &pid.to_string()]).status().expect("kill");
    assert!(status.success(), "kill {signal} {pid}");
}

/// Polls `f` until it returns `Some`, or panics after `timeout`.
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A port that was free a moment ago, for brokers that must come back on the same address.
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// The open descriptors of process `pid` that are regular files under `data`.
pub fn open_files_under(pid: u32, data: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return 0 };
    entries
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(data) && target.is_file())
        .count()
}

/// `n` distinct ports that were free a moment ago: all are held until all are found, so two
/// nodes of one cluster never get the same one. They are drawn at random below Linux's
/// ephemeral range (32768 and up): a port the kernel hands out could be taken, between this
/// check and the broker's bind, by any process's outgoing connection (a retrying client of an
/// earlier test), and the broker would fail to start.
pub fn free_ports(n: usize) -> Vec<u16> {
    use std::hash::BuildHasher;
    let random = std::collections::hash_map::RandomState::new();
    let mut held: Vec<std::net::TcpListener> = Vec::new();
    for attempt in 0u64.. {
        if held.len() == n {
            break;
        }
        assert!(attempt < 10_000, "no free port below 32768");
        let port = 10_000 + (random.hash_one((attempt, std::process::id())) % 22_768) as u16;
        if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            held.push(listener);
        }
    }
    held.iter().map(|l| l.local_addr().expect("addr").port()).collect()
}

/// Runs `command` to completion with `input` on its standard input, capturing its output.
pub fn run_with_input(command: &mut Command, input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn a tool");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("wait for a tool")
}

/// CPU seconds (user + system) process `pid` has used so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    let fields: Vec<&str> = stat.rsplit_once(')').expect("stat format").1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}
