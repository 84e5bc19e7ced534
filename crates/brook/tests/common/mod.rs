//! Starts a real `brook server` process on a free port with a temporary data directory, and
//! stops it (SIGTERM, then SIGKILL if it lingers) when dropped, also when a test fails.
#![allow(dead_code, unreachable_pub)]

pub mod http;
pub mod kafka;
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
        Brook::spawn(Command::new(env!("CARGO_BIN_EXE_brook")), data, overrides)
    }

    /// A broker started with a soft open-file limit of `nofile`, as a default shell gives it.
    pub fn start_with_nofile_limit(nofile: u32, overrides: &[&str]) -> Brook {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &format!("ulimit -Sn {nofile} && exec \"$0\" \"$@\""), env!("CARGO_BIN_EXE_brook")]);
        let mut brook = Brook::spawn(cmd, dir.path(), overrides);
        brook._dir = Some(dir);
        brook
    }

    fn spawn(mut cmd: Command, data: &Path, overrides: &[&str]) -> Brook {
        cmd.arg("server")
            .args(["--override", "listeners=PLAINTEXT://127.0.0.1:0"])
            .args(["--override", "console.listener=127.0.0.1:0"])
            .args(["--override", &format!("log.dirs={}", data.display())]);
        for o in overrides {
            cmd.args(["--override", o]);
        }
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "warn");
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawn brook");
        let stdout = child.stdout.take().expect("stdout");
        let mut stdout = BufReader::new(stdout);
        let mut read_line = |prefix: &str| {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("read brook's start-up lines");
            line.trim()
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("expected {prefix:?} from brook, got {line:?}"))
                .to_string()
        };
        let addr = read_line("brook listening on ");
        let console = (!overrides.contains(&"console.enabled=false")).then(|| read_line("brook console on "));
        Brook { child: Some(child), addr, console, data: data.to_path_buf(), _dir: None }
    }

    /// SIGTERM and wait for a clean exit; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("brook did not stop within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Keeps the data directory alive past this broker, for a restart.
    pub fn take_dir(&mut self) -> Option<tempfile::TempDir> {
        self._dir.take()
    }
}

impl Drop for Brook {
    fn drop(&mut self) {
        self.kill();
    }
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
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Runs `command` to completion with `input` on its standard input, capturing its output.
pub fn run_with_input(command: &mut Command, input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn a tool");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("wait for a tool")
}
