//! A client metrics subscription: a CLIENT_METRICS config resource with Kafka's three keys,
//! `metrics` (metric name prefixes; `*` for all), `interval.ms` (how often matching clients
//! push) and `match` (`param=regex` pairs a client must all fully match).

use std::collections::BTreeMap;

use regex_lite::Regex;

pub const METRICS: &str = "metrics";
pub const INTERVAL_MS: &str = "interval.ms";
pub const MATCH: &str = "match";
/// Kafka's default push interval, also for a client no subscription matches.
pub const DEFAULT_INTERVAL_MS: i32 = 300_000;
const MIN_INTERVAL_MS: i32 = 100;
const MAX_INTERVAL_MS: i32 = 3_600_000;
/// What a client may be matched on.
const PARAMS: [&str; 6] = [
    "client_instance_id",
    "client_id",
    "client_software_name",
    "client_software_version",
    "client_source_address",
    "client_source_port",
];

/// Why a subscription's configs are refused: Kafka's error (INVALID_REQUEST or INVALID_CONFIG)
/// and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    Request(String),
    Config(String),
}

/// What a client told about itself, for matching.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub instance_id: String,
    pub client_id: String,
    pub software_name: String,
    pub software_version: String,
    pub source_address: String,
    pub source_port: String,
}

impl ClientInfo {
    fn param(&self, name: &str) -> &str {
        match name {
            "client_instance_id" => &self.instance_id,
            "client_id" => &self.client_id,
            "client_software_name" => &self.software_name,
            "client_software_version" => &self.software_version,
            "client_source_address" => &self.source_address,
            _ => &self.source_port,
        }
    }
}

/// A parsed subscription.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub name: String,
    pub metrics: Vec<String>,
    pub interval_ms: i32,
    matches: Vec<(String, Regex)>,
}

impl Subscription {
    /// Parses `configs` (as stored: validated when set).
    pub fn parse(name: &str, configs: &BTreeMap<String, String>) -> Result<Subscription, Invalid> {
        validate(name, configs)?;
        let matches = list(configs.get(MATCH)).iter().map(|m| parse_match(m)).collect::<Result<Vec<_>, Invalid>>()?;
        Ok(Subscription {
            name: name.to_string(),
            metrics: list(configs.get(METRICS)),
            interval_ms: interval(configs)?,
            matches,
        })
    }

    /// Whether every match pattern fully matches the client.
    pub fn matches(&self, client: &ClientInfo) -> bool {
        self.matches.iter().all(|(param, regex)| regex.is_match(client.param(param)))
    }
}

/// Kafka's checks of a subscription's name and configs (ClientMetricsConfigs.validate).
pub fn validate(name: &str, configs: &BTreeMap<String, String>) -> Result<(), Invalid> {
    if name.is_empty() {
        return Err(Invalid::Request("Subscription name can't be empty".into()));
    }
    if let Some(key) = configs.keys().find(|k| ![METRICS, INTERVAL_MS, MATCH].contains(&k.as_str())) {
        return Err(Invalid::Request(format!("Unknown client metrics configuration: {key}")));
    }
    interval(configs)?;
    for pattern in list(configs.get(MATCH)) {
        parse_match(&pattern)?;
    }
    Ok(())
}

fn interval(configs: &BTreeMap<String, String>) -> Result<i32, Invalid> {
    let Some(value) = configs.get(INTERVAL_MS) else { return Ok(DEFAULT_INTERVAL_MS) };
    let ms: i32 = value.trim().parse().map_err(|_| {
        Invalid::Config(format!("Invalid value {value} for configuration interval.ms: Not a number of type INT"))
    })?;
    if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&ms) {
        return Err(Invalid::Request(format!(
            "Invalid value {ms} for interval.ms, interval must be between 100 and 3600000 (1 hour)"
        )));
    }
    Ok(ms)
}

fn parse_match(pattern: &str) -> Result<(String, Regex), Invalid> {
    let illegal = || Invalid::Config(format!("Illegal client matching pattern: {pattern}"));
    let (param, regex) = pattern.split_once('=').ok_or_else(illegal)?;
    let param = param.trim();
    if !PARAMS.contains(&param) {
        return Err(illegal());
    }
    // Java's `Matcher.matches`: the whole value.
    let regex =
        Regex::new(regex.trim()).and_then(|_| Regex::new(&format!("^(?:{})$", regex.trim()))).map_err(|_| illegal())?;
    Ok((param.to_string(), regex))
}

/// A comma-separated list value, as Kafka's LIST type reads it.
fn list(value: Option<&String>) -> Vec<String> {
    value.map_or_else(Vec::new, |v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn kafkas_refusals() {
        assert_eq!(validate("", &configs(&[])), Err(Invalid::Request("Subscription name can't be empty".into())));
        assert!(
            matches!(validate("s", &configs(&[("colour", "red")])), Err(Invalid::Request(m)) if m.contains("colour"))
        );
        assert!(matches!(validate("s", &configs(&[("interval.ms", "50")])), Err(Invalid::Request(_))));
        assert!(matches!(validate("s", &configs(&[("interval.ms", "soon")])), Err(Invalid::Config(_))));
        for bad in ["client_id", "colour=red", "client_id=("] {
            assert_eq!(
                validate("s", &configs(&[("match", bad)])),
                Err(Invalid::Config(format!("Illegal client matching pattern: {bad}")))
            );
        }
        assert_eq!(validate("s", &configs(&[("interval.ms", "1000"), ("metrics", "*")])), Ok(()));
    }

    #[test]
    fn every_pattern_must_match_the_whole_value() {
        let s = Subscription::parse(
            "s",
            &configs(&[("match", "client_id=shop-.*,client_software_name=apache-kafka-java"), ("metrics", "org.")]),
        )
        .unwrap();
        let mut client = ClientInfo {
            client_id: "shop-checkout".into(),
            software_name: "apache-kafka-java".into(),
            ..ClientInfo::default()
        };
        assert!(s.matches(&client));
        client.client_id = "my-shop-checkout".into();
        assert!(!s.matches(&client), "a match is of the whole value");
        client.client_id = "shop-1".into();
        client.software_name = "librdkafka".into();
        assert!(!s.matches(&client), "all patterns must match");
        assert_eq!(s.interval_ms, DEFAULT_INTERVAL_MS);
    }
}
