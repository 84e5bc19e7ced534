//! SASL on the broker side: which mechanisms a listener offers, and the PLAIN mechanism
//! (RFC 4616) against users from the configuration, given as Kafka's JAAS `user_<name>`
//! options or Brook's `sasl.plain.users`. SCRAM's users live in the metadata (`scram`).

use std::collections::BTreeMap;

use crate::constant_time_eq;
use crate::keystore::Password;
use crate::scram::{ScramClient, ScramMechanism};

/// A SASL mechanism Brook serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mechanism {
    Plain,
    Scram(ScramMechanism),
}

impl Mechanism {
    pub fn parse(name: &str) -> Option<Mechanism> {
        match name {
            "PLAIN" => Some(Mechanism::Plain),
            other => ScramMechanism::parse(other).map(Mechanism::Scram),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram(m) => m.name(),
        }
    }
}

/// What `sasl.enabled.mechanisms` may list.
const SERVED: &str = "Brook serves PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512";

/// Users PLAIN checks passwords against.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlainUsers {
    users: BTreeMap<String, Password>,
}

impl PlainUsers {
    /// Brook's `sasl.plain.users`: `name:password` pairs, comma separated.
    pub fn parse_list(value: &str) -> Result<PlainUsers, String> {
        let mut users = BTreeMap::new();
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, password) = entry.split_once(':').ok_or_else(|| format!("{entry:?} is not name:password"))?;
            if name.is_empty() {
                return Err(format!("{entry:?} has no user name"));
            }
            users.insert(name.to_string(), Password(password.to_string()));
        }
        Ok(PlainUsers { users })
    }

    /// The `user_<name>="<password>"` options of Kafka's JAAS line for PlainLoginModule.
    pub fn parse_jaas(value: &str) -> Result<PlainUsers, String> {
        let body = value.trim().trim_end_matches(';');
        let Some(rest) = body.strip_prefix("org.apache.kafka.common.security.plain.PlainLoginModule") else {
            return Err("expected org.apache.kafka.common.security.plain.PlainLoginModule required ...;".into());
        };
        let mut users = BTreeMap::new();
        for (key, value) in jaas_options(rest)? {
            if let Some(name) = key.strip_prefix("user_") {
                users.insert(name.to_string(), Password(value));
            }
        }
        Ok(PlainUsers { users })
    }

    pub fn merge(&mut self, other: PlainUsers) {
        self.users.extend(other.users);
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Checks a PLAIN message (`[authzid] NUL authcid NUL passwd`): the user's name if the
    /// password is right. An authorization id other than the user itself is refused, as Kafka
    /// does.
    pub fn authenticate(&self, message: &[u8]) -> Result<String, &'static str> {
        let parts: Vec<&[u8]> = message.split(|b| *b == 0).collect();
        let [authzid, user, password] = parts[..] else { return Err("Invalid SASL/PLAIN request") };
        let (Ok(authzid), Ok(user)) = (std::str::from_utf8(authzid), std::str::from_utf8(user)) else {
            return Err("Invalid SASL/PLAIN request");
        };
        if user.is_empty() {
            return Err("Authentication failed: username not specified");
        }
        if !authzid.is_empty() && authzid != user {
            return Err("Authentication failed: Client requested an authorization id that is different from username");
        }
        if self.check(user, password) {
            Ok(user.to_string())
        } else {
            Err("Authentication failed: Invalid username or password")
        }
    }

    pub fn contains(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    /// Whether `user` is configured with this password.
    pub fn check(&self, user: &str, password: &[u8]) -> bool {
        self.users.get(user).is_some_and(|expected| constant_time_eq(expected.0.as_bytes(), password))
    }
}

/// A client's SASL login: a broker reaching another one, or Brook's tools.
#[derive(Clone, PartialEq)]
pub enum ClientLogin {
    Plain { user: String, password: String },
    Scram { mechanism: ScramMechanism, user: String, password: String },
}

impl std::fmt::Debug for ClientLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let user = match self {
            ClientLogin::Plain { user, .. } | ClientLogin::Scram { user, .. } => user,
        };
        write!(f, "{} login as {user:?}", self.mechanism())
    }
}

impl ClientLogin {
    /// A login with `mechanism` (PLAIN or SCRAM-SHA-256/512).
    pub fn new(mechanism: &str, user: String, password: String) -> Result<ClientLogin, String> {
        match Mechanism::parse(mechanism) {
            Some(Mechanism::Plain) => Ok(ClientLogin::Plain { user, password }),
            Some(Mechanism::Scram(mechanism)) => Ok(ClientLogin::Scram { mechanism, user, password }),
            None => Err(format!("{mechanism} is not PLAIN or SCRAM-SHA-256/512")),
        }
    }

    /// The `username` and `password` options of a JAAS line (Kafka's PlainLoginModule or
    /// ScramLoginModule), as a login with `mechanism`.
    pub fn from_jaas(mechanism: &str, line: &str) -> Result<ClientLogin, String> {
        let body = line.trim().trim_end_matches(';');
        let module = body.split_whitespace().next().unwrap_or_default();
        let options = jaas_options(&body[module.len()..])?;
        let option = |name: &str| options.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let (Some(user), Some(password)) = (option("username"), option("password")) else {
            return Err(format!("{module} needs username=\"...\" and password=\"...\" for this broker's own login"));
        };
        ClientLogin::new(mechanism, user, password)
    }

    pub fn mechanism(&self) -> &'static str {
        match self {
            ClientLogin::Plain { .. } => Mechanism::Plain.name(),
            ClientLogin::Scram { mechanism, .. } => mechanism.name(),
        }
    }

    /// The exchange's first message; then `next` with each of the server's answers.
    pub fn start(&self) -> (Vec<u8>, ClientExchange) {
        match self {
            ClientLogin::Plain { user, password } => {
                (format!("\0{user}\0{password}").into_bytes(), ClientExchange(ExchangeState::Done))
            }
            ClientLogin::Scram { mechanism, user, password } => {
                let client = ScramClient::new(*mechanism, user, password);
                (client.first(), ClientExchange(ExchangeState::First(client)))
            }
        }
    }
}

/// The client's side of an exchange under way.
pub struct ClientExchange(ExchangeState);

enum ExchangeState {
    First(ScramClient),
    Final(ScramClient),
    Done,
}

impl ClientExchange {
    /// The next message, answering the server's `reply`; `None` once the login is complete
    /// (for SCRAM, after checking the server's signature).
    pub fn next(&mut self, reply: &[u8]) -> Result<Option<Vec<u8>>, String> {
        match std::mem::replace(&mut self.0, ExchangeState::Done) {
            ExchangeState::First(mut client) => {
                let last = client.final_message(reply)?;
                self.0 = ExchangeState::Final(client);
                Ok(Some(last))
            }
            ExchangeState::Final(client) => client.verify(reply).map(|_| None),
            ExchangeState::Done => Ok(None),
        }
    }
}

/// `flag key="value" key=value ...` after a JAAS login module's class name.
fn jaas_options(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut rest = text.trim_start();
    for flag in ["required", "requisite", "sufficient", "optional"] {
        if let Some(after) = rest.strip_prefix(flag) {
            rest = after;
            break;
        }
    }
    let mut options = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(options);
        }
        let (key, after) = rest.split_once('=').ok_or_else(|| format!("expected key=value at {rest:?}"))?;
        let after = after.trim_start();
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"').ok_or_else(|| format!("unterminated quote after {key}="))?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => after.split_at(after.find(char::is_whitespace).unwrap_or(after.len())),
        };
        options.push((key.trim().to_string(), value.to_string()));
        rest = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_users_from_kafka_jaas_and_brook_list() {
        let jaas = r#"org.apache.kafka.common.security.plain.PlainLoginModule required
            username="admin" password="admin-secret" user_admin="admin-secret" user_alice=alice-secret;"#;
        let mut users = PlainUsers::parse_jaas(jaas).expect("jaas");
        users.merge(PlainUsers::parse_list("bob:b0b:with:colons, carol:c").expect("list"));
        assert_eq!(users.authenticate(b"\0admin\0admin-secret"), Ok("admin".into()));
        assert_eq!(users.authenticate(b"alice\0alice\0alice-secret"), Ok("alice".into()));
        assert_eq!(users.authenticate(b"\0bob\0b0b:with:colons"), Ok("bob".into()));
        assert!(users.authenticate(b"\0alice\0wrong").is_err());
        assert!(users.authenticate(b"\0mallory\0x").is_err());
        assert!(users.authenticate(b"bob\0alice\0alice-secret").is_err(), "acting as another user");
        assert!(users.authenticate(b"no separators").is_err());
        assert!(users.authenticate(b"\0\0").is_err());
        assert!(PlainUsers::parse_jaas("com.example.Other required;").is_err());
        assert!(PlainUsers::parse_list("nocolon").is_err());
    }

    #[test]
    fn client_logins_from_jaas_and_their_exchanges() {
        let scram =
            r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="b s";"#;
        let login = ClientLogin::from_jaas("SCRAM-SHA-512", scram).expect("scram");
        assert_eq!(login, ClientLogin::new("SCRAM-SHA-512", "broker".into(), "b s".into()).unwrap());
        assert_eq!(format!("{login:?}"), r#"SCRAM-SHA-512 login as "broker""#, "no password in logs");
        let (first, mut exchange) = login.start();
        assert!(first.starts_with(b"n,,n=broker,r="));
        assert!(exchange.next(b"garbage").is_err(), "a bad server-first message");

        let plain = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="p" user_broker="p";"#;
        let (first, mut exchange) = ClientLogin::from_jaas("PLAIN", plain).expect("plain").start();
        assert_eq!(first, b"\0broker\0p");
        assert_eq!(exchange.next(b""), Ok(None));
        let users = PlainUsers::parse_jaas(plain).expect("users");
        assert_eq!(users.authenticate(&first), Ok("broker".into()), "the server side accepts it");

        assert!(ClientLogin::from_jaas("PLAIN", "x.PlainLoginModule required user_a=\"b\";").is_err(), "no own login");
        assert!(ClientLogin::new("GSSAPI", "a".into(), "b".into()).is_err());
    }
}

/// A SASL listener's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SaslSettings {
    /// `sasl.enabled.mechanisms`, in the order the broker offers them.
    pub mechanisms: Vec<Mechanism>,
    pub plain: PlainUsers,
    /// `connections.max.reauth.ms` (Kafka: 0, sessions do not expire): how long an
    /// authentication lasts before the client must authenticate again (KIP-368).
    pub max_reauth_ms: u64,
}

impl SaslSettings {
    /// Reads the settings; `get` answers a key after any listener prefix, and `jaas` the
    /// PLAIN mechanism's JAAS line (`[listener.name.<l>.]plain.sasl.jaas.config`).
    pub fn from_keys(
        get: impl Fn(&str) -> Option<String>,
        jaas: Option<String>,
    ) -> Result<SaslSettings, (String, String)> {
        let err = |key: &str, reason: String| (key.to_string(), reason);
        let key = "sasl.enabled.mechanisms";
        let names = get(key).ok_or_else(|| err(key, format!("a SASL listener needs its mechanisms ({SERVED})")))?;
        let mut mechanisms = Vec::new();
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let m = Mechanism::parse(name).ok_or_else(|| err(key, format!("{name} is not supported ({SERVED})")))?;
            if !mechanisms.contains(&m) {
                mechanisms.push(m);
            }
        }
        if mechanisms.is_empty() {
            return Err(err(key, "lists no mechanism".into()));
        }
        let mut plain = PlainUsers::default();
        if let Some(line) = jaas {
            plain.merge(PlainUsers::parse_jaas(&line).map_err(|e| err("plain.sasl.jaas.config", e))?);
        }
        if let Some(list) = get("sasl.plain.users") {
            plain.merge(PlainUsers::parse_list(&list).map_err(|e| err("sasl.plain.users", e))?);
        }
        if mechanisms.contains(&Mechanism::Plain) && plain.is_empty() {
            return Err(err(
                "sasl.plain.users",
                "PLAIN is enabled but no user is configured (sasl.plain.users, or user_<name> in plain.sasl.jaas.config)".into(),
            ));
        }
        let max_reauth_ms = match get("connections.max.reauth.ms") {
            Some(v) => v.trim().parse().map_err(|_| err("connections.max.reauth.ms", format!("cannot parse {v:?}")))?,
            None => 0,
        };
        Ok(SaslSettings { mechanisms, plain, max_reauth_ms })
    }

    pub fn mechanism_names(&self) -> Vec<&'static str> {
        self.mechanisms.iter().map(|m| m.name()).collect()
    }
}

/// Fuzzing entry point (also replayed over the committed corpus by the test suite): the first
/// byte picks PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, the rest is the client's messages split at
/// 0xFF, fed to the server side in turn until one is refused. Nothing may panic.
pub fn fuzz_exchange(data: &[u8]) {
    use crate::scram::{Credential, ScramServer};
    let Some((selector, rest)) = data.split_first() else { return };
    let messages = rest.split(|b| *b == 0xFF);
    match selector % 3 {
        0 => {
            let users = PlainUsers::parse_list("user:pencil").expect("valid");
            for message in messages {
                let _ = users.authenticate(message);
            }
        }
        n => {
            let mechanism = if n == 1 { ScramMechanism::Sha256 } else { ScramMechanism::Sha512 };
            let salt = b"fuzz-salt".to_vec();
            let (stored_key, server_key) = mechanism.keys(&mechanism.salted_password("pencil", &salt, 1));
            let credential = Credential { salt, stored_key, server_key, iterations: 4096 };
            let mut server = ScramServer::new(mechanism);
            for message in messages {
                let lookup = |user: &str, _| (user == "user").then(|| credential.clone());
                if server.step(message, lookup).is_err() {
                    break;
                }
            }
        }
    }
}
