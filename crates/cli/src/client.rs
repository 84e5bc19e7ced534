//! Client settings shared by the tools: `--bootstrap-server` (or the legacy `--broker-list`),
//! a `--command-config` properties file, and per-tool `--xxx-property key=value` overrides,
//! turned into an `rdkafka` configuration.

use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

use crate::ToolError;
use crate::args::Parsed;

/// How long a tool waits for the cluster before it gives up with a one-line error.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Reads a Java properties file: `key=value` (or `key: value`) lines, `#` and `!` comments.
pub fn read_properties(path: &str) -> Result<Vec<(String, String)>, ToolError> {
    let text = std::fs::read_to_string(path).map_err(|e| ToolError::failed(format!("cannot read {path}: {e}")))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| l.split_once(['=', ':']).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
        .collect())
}

/// The client configuration for a tool: bootstrap servers, then the command config file, then
/// `overrides` (from `--producer-property` and the like).
pub fn config(parsed: &Parsed, overrides: &[(String, String)]) -> Result<ClientConfig, ToolError> {
    let bootstrap = parsed
        .get("bootstrap-server")
        .or_else(|| parsed.get("broker-list"))
        .ok_or_else(|| ToolError::usage("Missing required argument \"[bootstrap-server]\""))?;
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    // A broker that cannot be reached is reported as such instead of retried forever.
    config.set("socket.timeout.ms", "10000");
    for (k, v) in settings(parsed)? {
        config.set(k, v);
    }
    for (k, v) in overrides {
        config.set(k, v);
    }
    Ok(config)
}

/// The client settings of `--command-config` (and the tools' `--consumer.config` and
/// `--producer.config`), Kafka's Java names turned into librdkafka's.
pub(crate) fn settings(parsed: &Parsed) -> Result<Vec<(String, String)>, ToolError> {
    let mut settings = Vec::new();
    for key in ["command-config", "consumer.config", "producer.config"] {
        if let Some(path) = parsed.get(key) {
            settings.extend(read_properties(path)?);
        }
    }
    crate::security::for_librdkafka(settings)
}

/// The one-line error for a cluster that does not answer.
pub fn unreachable(e: rdkafka::error::KafkaError) -> ToolError {
    ToolError::failed(format!("cannot reach the cluster: {e}"))
}

/// An admin client for the tool's cluster.
pub fn admin(parsed: &Parsed) -> Result<AdminClient<DefaultClientContext>, ToolError> {
    config(parsed, &[])?.create().map_err(|e| ToolError::failed(format!("cannot create a client: {e}")))
}
