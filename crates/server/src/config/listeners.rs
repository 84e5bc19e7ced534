//! `listeners`, `advertised.listeners`, `listener.security.protocol.map`,
//! `inter.broker.listener.name`, each TLS listener's `ssl.*` keys and each SASL listener's
//! `sasl.*` keys (a `listener.name.<name>.<key>` overrides the plain key for that listener, as
//! in Kafka).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use brook_security::sasl::{ClientLogin, SaslSettings};
use brook_security::tls::TlsSettings;

use super::{ConfigError, invalid, parse_host_port, resolve};

/// A listener's `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    fn parse(name: &str) -> Option<SecurityProtocol> {
        match name {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

/// A listener Kafka clients (and other brokers) connect to.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    pub name: String,
    pub addr: SocketAddr,
    pub protocol: SecurityProtocol,
    /// Where clients are told to connect (`advertised.listeners`, else the bound address).
    pub advertised_host: String,
    pub advertised_port: u16,
    /// The TLS settings of an SSL or SASL_SSL listener.
    pub tls: Option<TlsSettings>,
    /// The SASL settings of a SASL_PLAINTEXT or SASL_SSL listener.
    pub sasl: Option<SaslSettings>,
}

impl Listener {
    pub fn plaintext(name: &str, addr: SocketAddr, advertised_host: &str) -> Listener {
        Listener {
            name: name.to_string(),
            addr,
            protocol: SecurityProtocol::Plaintext,
            advertised_host: advertised_host.to_string(),
            advertised_port: addr.port(),
            tls: None,
            sasl: None,
        }
    }
}

/// What the listener keys say.
pub(super) struct Parsed {
    /// The Kafka listeners, in the order `listeners` names them.
    pub broker: Vec<Listener>,
    pub controller: Option<SocketAddr>,
}

/// `listener.security.protocol.map`: `NAME:PROTOCOL` pairs.
pub(super) fn parse_protocol_map(key: &str, value: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut map = BTreeMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, protocol) =
            entry.split_once(':').ok_or_else(|| invalid(key, &format!("{entry:?} is not NAME:PROTOCOL")))?;
        map.insert(name.trim().to_string(), protocol.trim().to_string());
    }
    Ok(map)
}

/// `listeners`: `NAME://host:port` entries. A name's protocol comes from the protocol map,
/// else is the name itself when it names one (Kafka's default map), else PLAINTEXT.
/// `props` supplies each TLS listener's `ssl.*` keys.
pub(super) fn parse_listeners(
    value: &str,
    advertised: Option<&str>,
    controller_names: &[String],
    protocols: &BTreeMap<String, String>,
    props: &BTreeMap<String, String>,
) -> Result<Parsed, ConfigError> {
    let key = "listeners";
    let advertised = parse_advertised(advertised.unwrap_or(""))?;
    let mut out = Parsed { broker: Vec::new(), controller: None };
    for listener in value.split(',').map(str::trim).filter(|l| !l.is_empty()) {
        let (name, address) = listener.split_once("://").ok_or_else(|| invalid(key, "expected NAME://host:port"))?;
        let protocol_name = protocols.get(name).map(String::as_str).unwrap_or(match name {
            "SSL" | "SASL_SSL" | "SASL_PLAINTEXT" => name,
            _ => "PLAINTEXT",
        });
        let protocol = SecurityProtocol::parse(protocol_name).ok_or_else(|| {
            invalid("listener.security.protocol.map", &format!("unknown security protocol {protocol_name}"))
        })?;
        let (host, port) = parse_host_port(key, address)?;
        let host = if host.is_empty() { "0.0.0.0".to_string() } else { host };
        let addr = resolve(key, &host, port)?;
        if controller_names.iter().any(|n| n == name) {
            if protocol != SecurityProtocol::Plaintext {
                return Err(ConfigError::Unsupported {
                    key: "listener.security.protocol.map".into(),
                    feature: "a TLS or SASL controller listener",
                });
            }
            out.controller.get_or_insert(addr);
            continue;
        }
        if out.broker.iter().any(|l| l.name == name) {
            return Err(invalid(key, &format!("listener {name} is named twice")));
        }
        let (advertised_host, advertised_port) = match advertised.get(name) {
            Some((host, port)) => (host.clone(), *port),
            None => (advertised_host_for(&addr), addr.port()),
        };
        let tls = match protocol.tls() {
            true => Some(tls_settings(name, props)?),
            false => None,
        };
        let sasl = match protocol.sasl() {
            true => Some(sasl_settings(name, props)?),
            false => None,
        };
        out.broker.push(Listener {
            name: name.to_string(),
            addr,
            protocol,
            advertised_host,
            advertised_port,
            tls,
            sasl,
        });
    }
    if let Some(name) = advertised.keys().find(|n| !out.broker.iter().any(|l| &l.name == *n)) {
        return Err(invalid("advertised.listeners", &format!("{name} is not a listener in listeners")));
    }
    Ok(out)
}

/// `advertised.listeners`: `NAME://host:port` by listener name.
fn parse_advertised(value: &str) -> Result<BTreeMap<String, (String, u16)>, ConfigError> {
    let key = "advertised.listeners";
    let mut out = BTreeMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, _) = entry.split_once("://").ok_or_else(|| invalid(key, "expected NAME://host:port"))?;
        let (host, port) = parse_host_port(key, entry)?;
        let host = if host.is_empty() { "localhost".to_string() } else { host };
        if out.insert(name.to_string(), (host, port)).is_some() {
            return Err(invalid(key, &format!("{name} is named twice")));
        }
    }
    Ok(out)
}

/// A listener's value of `key`: `listener.name.<name>.<key>` (the name in lower case), else
/// `<key>`; an empty value is no value.
fn listener_value(name: &str, props: &BTreeMap<String, String>, key: &str) -> Option<String> {
    let prefixed = format!("listener.name.{}.{key}", name.to_ascii_lowercase());
    props.get(&prefixed).or_else(|| props.get(key)).filter(|v| !v.is_empty()).cloned()
}

/// The console's HTTPS settings: the `ssl.*` keys under `console.`, when a keystore is named.
pub(super) fn console_tls(props: &BTreeMap<String, String>) -> Result<Option<TlsSettings>, ConfigError> {
    let get = |key: &str| props.get(&format!("console.{key}")).filter(|v| !v.is_empty()).cloned();
    if get("ssl.keystore.location").is_none() && get("ssl.keystore.certificate.chain").is_none() {
        return Ok(None);
    }
    TlsSettings::from_keys(get)
        .map(Some)
        .map_err(|e| ConfigError::Invalid { key: format!("console.{}", e.key), reason: e.reason })
}

fn tls_settings(name: &str, props: &BTreeMap<String, String>) -> Result<TlsSettings, ConfigError> {
    TlsSettings::from_keys(|key| listener_value(name, props, key))
        .map_err(|e| ConfigError::Invalid { key: e.key, reason: format!("{} (listener {name})", e.reason) })
}

/// A SASL listener's mechanisms and users; PLAIN's users may come from Kafka's
/// `listener.name.<name>.plain.sasl.jaas.config`.
fn sasl_settings(name: &str, props: &BTreeMap<String, String>) -> Result<SaslSettings, ConfigError> {
    let jaas = listener_value(name, props, "plain.sasl.jaas.config");
    SaslSettings::from_keys(|key| listener_value(name, props, key), jaas)
        .map_err(|(key, reason)| ConfigError::Invalid { key, reason: format!("{reason} (listener {name})") })
}

/// How this broker logs in to the other brokers' inter-broker listener (Kafka's client side
/// of it): over TLS it must be able to check their certificates, and with SASL it needs a
/// mechanism the listener offers and its own user and password, from that mechanism's JAAS
/// line as Kafka reads it.
pub(super) fn inter_broker_login(
    listener: &Listener,
    props: &BTreeMap<String, String>,
) -> Result<Option<ClientLogin>, ConfigError> {
    let name = &listener.name;
    if let Some(tls) = &listener.tls
        && tls.truststore.is_none()
    {
        return Err(invalid(
            "ssl.truststore.location",
            &format!(
                "the brokers check each other's certificates on the inter-broker listener {name}: name the CA that signed them"
            ),
        ));
    }
    let Some(sasl) = &listener.sasl else { return Ok(None) };
    let key = "sasl.mechanism.inter.broker.protocol";
    let offered = sasl.mechanism_names().join(",");
    let mechanism = props.get(key).cloned().ok_or_else(|| {
        invalid(key, &format!("the inter-broker listener {name} has SASL: name the brokers' mechanism ({offered})"))
    })?;
    if !offered.split(',').any(|m| m == mechanism) {
        return Err(invalid(
            key,
            &format!("{mechanism} is not in the inter-broker listener {name}'s sasl.enabled.mechanisms ({offered})"),
        ));
    }
    let jaas_key = format!("{}.sasl.jaas.config", mechanism.to_ascii_lowercase());
    let line = listener_value(name, props, &jaas_key).ok_or_else(|| {
        invalid(
            &format!("listener.name.{}.{jaas_key}", name.to_ascii_lowercase()),
            "the brokers log in to each other with username=\"...\" password=\"...\" from this JAAS line",
        )
    })?;
    ClientLogin::from_jaas(&mechanism, &line).map(Some).map_err(|e| invalid(&jaas_key, &e))
}

pub(super) fn advertised_host_for(listen: &SocketAddr) -> String {
    if listen.ip().is_unspecified() { "localhost".to_string() } else { listen.ip().to_string() }
}

/// SASL keys listeners read.
const SASL_KEYS: &[&str] = &[
    "sasl.enabled.mechanisms",
    "sasl.plain.users",
    "plain.sasl.jaas.config",
    "scram-sha-256.sasl.jaas.config",
    "scram-sha-512.sasl.jaas.config",
    "connections.max.reauth.ms",
    "sasl.mechanism.inter.broker.protocol",
];

/// Whether `key` is a listener's TLS or SASL key (plain or listener-prefixed): `Some(true)`
/// if Brook reads it, `Some(false)` if it accepts it unused, `None` if it is neither.
pub(super) fn security_key(key: &str) -> Option<bool> {
    let plain = match key.strip_prefix("listener.name.") {
        Some(rest) => rest.split_once('.').map_or("", |(_, k)| k),
        None => key,
    };
    if brook_security::tls::KEYS.contains(&plain) || SASL_KEYS.contains(&plain) {
        Some(true)
    } else {
        brook_security::tls::ACCEPTED_UNUSED.contains(&plain).then_some(false)
    }
}
