//! TLS and SASL listeners with real clients (librdkafka over the system OpenSSL): beside a
//! plaintext listener, each advertised on its own; PEM and PKCS12 keystores; mutual TLS with
//! principal mapping; certificates reloaded from disk; the wrong client on the wrong port
//! refused; SASL/PLAIN over plaintext and TLS, and its exchange on the wire; SCRAM users
//! managed with Kafka's kafka-configs and their errors.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::certs::Pki;
use crate::common::wire::Conn;
use crate::common::{Brook, eventually, free_port, refused_start};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, ApiKey, ApiVersionsRequest, DescribeUserScramCredentialsRequest, MetadataRequest,
    ResponseKind, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

const TIMEOUT: Duration = Duration::from_secs(30);

/// A librdkafka client configuration for `bootstrap` with `extra` settings.
fn client(bootstrap: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap).set("message.timeout.ms", "15000").set("socket.timeout.ms", "5000");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config
}

fn tls_client(bootstrap: &str, pki: &Pki, extra: &[(&str, &str)]) -> ClientConfig {
    let mut config = client(bootstrap, extra);
    config.set("security.protocol", "ssl").set("ssl.ca.location", pki.ca_file.to_str().expect("utf8"));
    config
}

/// Produces `count` records to `topic` and waits for each acknowledgement.
fn produce(config: &ClientConfig, topic: &str, count: usize) -> Result<(), String> {
    let producer: BaseProducer = config.create().map_err(|e| e.to_string())?;
    for i in 0..count {
        let (key, value) = (format!("k{i}"), format!("v{i}"));
        producer.send(BaseRecord::to(topic).key(&key).payload(&value)).map_err(|(e, _)| e.to_string())?;
    }
    producer.flush(Duration::from_secs(15)).map_err(|e| e.to_string())?;
    Ok(())
}

/// Whether a metadata request over `config` succeeds within a few seconds.
fn metadata_ok(config: &ClientConfig) -> Result<usize, String> {
    let consumer: BaseConsumer = config.create().map_err(|e| e.to_string())?;
    consumer.fetch_metadata(None, Duration::from_secs(5)).map(|m| m.brokers().len()).map_err(|e| e.to_string())
}

/// Reads `topic` partition 0 from the start until `count` records came.
fn consume(config: &ClientConfig, topic: &str, count: usize) -> Vec<String> {
    let mut config = config.clone();
    config.set("group.id", "tls-test").set("auto.offset.reset", "earliest").set("enable.auto.commit", "false");
    let consumer: BaseConsumer = config.create().expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut values = Vec::new();
    eventually(TIMEOUT, "records consumed", || {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            values.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
        (values.len() >= count).then_some(())
    });
    values
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// An SSL listener beside the plaintext one: a TLS client produces and consumes through it
/// (its metadata names the SSL port, or the client could not reach the leader), a
/// plaintext client reads the same records, and each client's metadata shows its own listener.
#[test]
fn tls_listener_beside_plaintext() {
    let pki = Pki::new("brook");
    let keystore = pki.server_pem("broker");
    let (plain, tls) = (free_port(), free_port());
    let brook = Brook::start(&[
        &format!("listeners=PLAINTEXT://127.0.0.1:{plain},SSL://127.0.0.1:{tls}"),
        &format!("ssl.keystore.location={}", path(&keystore)),
    ]);
    let tls_addr = format!("127.0.0.1:{tls}");
    let over_tls = tls_client(&tls_addr, &pki, &[]);
    produce(&over_tls, "secured", 20).expect("produce over TLS");
    let values = consume(&over_tls, "secured", 20);
    assert_eq!(values.first().map(String::as_str), Some("v0"));
    assert_eq!(consume(&client(&brook.addr, &[]), "secured", 20).len(), 20);

    let consumer: BaseConsumer = over_tls.create().expect("client");
    let metadata = consumer.fetch_metadata(None, TIMEOUT).expect("metadata over TLS");
    assert_eq!(metadata.brokers().iter().map(|b| b.port()).collect::<Vec<_>>(), vec![i32::from(tls)]);
    let consumer: BaseConsumer = client(&brook.addr, &[]).create().expect("client");
    let metadata = consumer.fetch_metadata(None, TIMEOUT).expect("metadata over plaintext");
    assert_eq!(metadata.brokers().iter().map(|b| b.port()).collect::<Vec<_>>(), vec![i32::from(plain)]);
}

/// The wrong client on the wrong port, and a client that does not trust the broker's
/// certificate, are refused, and nothing is served to them.
#[test]
fn mismatched_and_untrusted_clients_are_refused() {
    let pki = Pki::new("brook");
    let keystore = pki.server_pem("broker");
    let tls = free_port();
    let brook = Brook::start(&[
        &format!("listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:{tls}"),
        &format!("ssl.keystore.location={}", path(&keystore)),
    ]);
    let tls_addr = format!("127.0.0.1:{tls}");
    assert!(metadata_ok(&tls_client(&tls_addr, &pki, &[])).is_ok());
    // A plaintext Kafka request to the TLS port gets no Kafka answer: the connection closes.
    let mut socket = TcpStream::connect(&tls_addr).expect("connect");
    socket.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let api_versions = [0, 0, 0, 14, 0, 18, 0, 0, 0, 0, 0, 7, 0, 4, b't', b'e', b's', b't'];
    socket.write_all(&api_versions).expect("send");
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer);
    assert!(!answer.windows(4).any(|w| w == [0, 0, 0, 7]), "a plaintext request was answered: {answer:?}");
    // TLS to the plaintext port, and TLS trusting another CA, fail.
    assert!(metadata_ok(&tls_client(&brook.addr, &pki, &[])).is_err());
    let stranger = Pki::new("stranger");
    assert!(metadata_ok(&tls_client(&tls_addr, &stranger, &[])).is_err());
    assert!(metadata_ok(&client(&tls_addr, &[])).is_err());
}

/// `ssl.client.auth=required`: a client without a certificate, or with one from another CA,
/// is refused; one with a certificate the mapping rules name is served; one they do not
/// name is refused (Kafka fails the authentication when no rule applies).
#[test]
fn mutual_tls_with_principal_mapping() {
    let pki = Pki::new("brook");
    let keystore = pki.server_pem("broker");
    let (alice_cert, alice_key) = pki.issue("alice");
    let (bob_cert, bob_key) = pki.issue("bob");
    let tls = free_port();
    let _brook = Brook::start(&[
        &format!("listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:{tls}"),
        &format!("ssl.keystore.location={}", path(&keystore)),
        &format!("ssl.truststore.location={}", path(&pki.ca_file)),
        "ssl.client.auth=required",
        "ssl.principal.mapping.rules=RULE:^CN=(alice),O=.*$/$1/",
    ]);
    let addr = format!("127.0.0.1:{tls}");
    let with_cert = |cert: &Path, key: &Path, pki: &Pki| {
        tls_client(&addr, pki, &[("ssl.certificate.location", path(cert)), ("ssl.key.location", path(key))])
    };
    assert!(metadata_ok(&tls_client(&addr, &pki, &[])).is_err(), "no client certificate");
    produce(&with_cert(&alice_cert, &alice_key, &pki), "mtls", 5).expect("alice produces");
    assert!(metadata_ok(&with_cert(&bob_cert, &bob_key, &pki)).is_err(), "no rule names bob");
    let stranger = Pki::new("stranger");
    let (eve_cert, eve_key) = stranger.issue("alice");
    assert!(metadata_ok(&with_cert(&eve_cert, &eve_key, &pki)).is_err(), "a certificate from another CA");
}

/// A PKCS12 keystore (as `openssl pkcs12 -export` writes it, with AES and PBKDF2 like
/// Java's keytool) is read with its password; a wrong password or a JKS file stops start-up
/// naming the key.
#[test]
fn pkcs12_keystore_and_clear_refusals() {
    let pki = Pki::new("brook");
    let (cert, key) = pki.issue("broker");
    let p12 = pki.dir().join("broker.p12");
    let status = Command::new("openssl")
        .args(["pkcs12", "-export", "-in", path(&cert), "-inkey", path(&key), "-out", path(&p12)])
        .args(["-passout", "pass:changeit", "-name", "broker"])
        .status()
        .expect("openssl");
    assert!(status.success());
    let tls = free_port();
    let listeners = format!("listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:{tls}");
    let _brook = Brook::start(&[
        &listeners,
        &format!("ssl.keystore.location={}", path(&p12)),
        "ssl.keystore.type=PKCS12",
        "ssl.keystore.password=changeit",
    ]);
    assert!(metadata_ok(&tls_client(&format!("127.0.0.1:{tls}"), &pki, &[])).is_ok());

    let data = tempfile::tempdir().expect("dir");
    let refused = |extra: &[String]| {
        let mut overrides = vec![
            format!("listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:{}", free_port()),
            format!("log.dirs={}", data.path().display()),
            "console.enabled=false".to_string(),
        ];
        overrides.extend_from_slice(extra);
        let (code, stderr) = refused_start(None, &overrides, TIMEOUT);
        assert_ne!(code, Some(0));
        stderr
    };
    let stderr = refused(&[format!("ssl.keystore.location={}", path(&p12)), "ssl.keystore.password=wrong".into()]);
    assert!(stderr.contains("ssl.keystore.location") && stderr.contains("wrong password"), "{stderr}");
    let jks = pki.dir().join("broker.jks");
    std::fs::write(&jks, [0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2]).expect("write");
    let stderr = refused(&[format!("ssl.keystore.location={}", path(&jks))]);
    assert!(stderr.contains("JKS") && stderr.contains("keytool -importkeystore"), "{stderr}");
    let stderr = refused(&[]);
    assert!(stderr.contains("ssl.keystore.location") && stderr.contains("needs a keystore"), "{stderr}");
}

/// Replacing the keystore and truststore files on disk takes effect for new connections
/// without a restart: a client trusting only the new CA gets in, one trusting only the old
/// CA no longer does.
#[test]
fn certificates_reload_when_files_change() {
    let old = Pki::new("old");
    let keystore = old.server_pem("broker");
    let tls = free_port();
    let _brook = Brook::start(&[
        &format!("listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:{tls}"),
        &format!("ssl.keystore.location={}", path(&keystore)),
    ]);
    let addr = format!("127.0.0.1:{tls}");
    assert!(metadata_ok(&tls_client(&addr, &old, &[])).is_ok());
    let new = Pki::new("new");
    let replacement = new.server_pem("broker");
    // Written beside, then renamed over: the broker never sees a half-written file.
    let staged = keystore.with_extension("staged");
    std::fs::copy(&replacement, &staged).expect("stage");
    std::fs::rename(&staged, &keystore).expect("replace");
    eventually(TIMEOUT, "the new certificate served", || metadata_ok(&tls_client(&addr, &new, &[])).ok());
    assert!(metadata_ok(&tls_client(&addr, &old, &[])).is_err());
}

const ALICE_JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
    username=\"alice\" password=\"alice-secret\" user_alice=\"alice-secret\";";

fn sasl_client(bootstrap: &str, protocol: &str, user: &str, password: &str, pki: Option<&Pki>) -> ClientConfig {
    let mut config = match pki {
        Some(pki) => tls_client(bootstrap, pki, &[]),
        None => client(bootstrap, &[]),
    };
    config
        .set("security.protocol", protocol)
        .set("sasl.mechanism", "PLAIN")
        .set("sasl.username", user)
        .set("sasl.password", password);
    config
}

/// SASL/PLAIN on a SASL_PLAINTEXT and a SASL_SSL listener: users from Kafka's JAAS line for
/// one listener and from `sasl.plain.users` for both; a wrong password, an unknown user and a
/// mechanism not enabled are refused.
#[test]
fn sasl_plain_over_plaintext_and_tls() {
    let pki = Pki::new("brook");
    let keystore = pki.server_pem("broker");
    let (sasl_plain, sasl_ssl) = (free_port(), free_port());
    let _brook = Brook::start(&[
        &format!(
            "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:{sasl_plain},SASL_SSL://127.0.0.1:{sasl_ssl}"
        ),
        &format!("ssl.keystore.location={}", path(&keystore)),
        "sasl.enabled.mechanisms=PLAIN",
        &format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={ALICE_JAAS}"),
        "sasl.plain.users=bob:bob-secret",
    ]);
    let (plain_addr, ssl_addr) = (format!("127.0.0.1:{sasl_plain}"), format!("127.0.0.1:{sasl_ssl}"));
    produce(&sasl_client(&plain_addr, "sasl_plaintext", "alice", "alice-secret", None), "sasl", 10)
        .expect("alice produces");
    let bob = sasl_client(&ssl_addr, "sasl_ssl", "bob", "bob-secret", Some(&pki));
    assert_eq!(consume(&bob, "sasl", 10).len(), 10);
    let consumer: BaseConsumer = bob.create().expect("client");
    let metadata = consumer.fetch_metadata(None, TIMEOUT).expect("metadata");
    assert_eq!(metadata.brokers().iter().map(|b| b.port()).collect::<Vec<_>>(), vec![i32::from(sasl_ssl)]);

    for (user, password) in [("alice", "wrong"), ("mallory", "x")] {
        assert!(metadata_ok(&sasl_client(&plain_addr, "sasl_plaintext", user, password, None)).is_err(), "{user}");
    }
    // alice's JAAS line is the SASL_PLAINTEXT listener's only.
    assert!(metadata_ok(&sasl_client(&ssl_addr, "sasl_ssl", "alice", "alice-secret", Some(&pki))).is_err());
    let mut scram = sasl_client(&plain_addr, "sasl_plaintext", "bob", "bob-secret", None);
    scram.set("sasl.mechanism", "SCRAM-SHA-256");
    assert!(metadata_ok(&scram).is_err(), "a mechanism the listener does not offer");
}

fn handshake(conn: &mut Conn, mechanism: &'static str) -> Option<(i16, Vec<String>)> {
    match conn.try_call(
        ApiKey::SaslHandshake,
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism)),
    )? {
        ResponseKind::SaslHandshake(r) => Some((r.error_code, r.mechanisms.iter().map(|m| m.to_string()).collect())),
        other => panic!("unexpected {other:?}"),
    }
}

fn authenticate(conn: &mut Conn, user: &str, password: &str) -> Option<(i16, i64)> {
    let token = format!("\0{user}\0{password}").into_bytes();
    match conn.try_call(
        ApiKey::SaslAuthenticate,
        2,
        &SaslAuthenticateRequest::default().with_auth_bytes(token.into()),
    )? {
        ResponseKind::SaslAuthenticate(r) => Some((r.error_code, r.session_lifetime_ms)),
        other => panic!("unexpected {other:?}"),
    }
}

fn metadata(conn: &mut Conn) -> bool {
    conn.try_call(ApiKey::Metadata, 12, &MetadataRequest::default()).is_some()
}

/// The exchange as Kafka's SaslServerAuthenticator runs it: only ApiVersions before the
/// handshake, other requests close the connection; an unknown mechanism gets
/// UNSUPPORTED_SASL_MECHANISM with the offered list; a wrong password
/// SASL_AUTHENTICATION_FAILED, then the connection closes; with `connections.max.reauth.ms`
/// the session lifetime is announced, re-authentication as the same user extends it, as
/// another user is refused, and a session left to expire is closed.
#[test]
fn sasl_exchange_on_the_wire() {
    let port = free_port();
    let _brook = Brook::start(&[
        &format!("listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:{port}"),
        "sasl.enabled.mechanisms=PLAIN",
        "sasl.plain.users=alice:alice-secret,bob:bob-secret",
        "connections.max.reauth.ms=2000",
    ]);
    let addr = format!("127.0.0.1:{port}");
    let mut conn = Conn::open(&addr);
    assert!(conn.try_call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()).is_some());
    assert!(!metadata(&mut conn), "a request before authentication closes the connection");

    let mut conn = Conn::open(&addr);
    let unsupported = ResponseError::UnsupportedSaslMechanism.code();
    assert_eq!(handshake(&mut conn, "SCRAM-SHA-512"), Some((unsupported, vec!["PLAIN".to_string()])));
    assert!(conn.closed_by_peer());

    let mut conn = Conn::open(&addr);
    assert_eq!(handshake(&mut conn, "PLAIN"), Some((0, vec!["PLAIN".to_string()])));
    assert_eq!(
        authenticate(&mut conn, "alice", "nope").map(|a| a.0),
        Some(ResponseError::SaslAuthenticationFailed.code())
    );
    assert!(conn.closed_by_peer());

    let mut conn = Conn::open(&addr);
    handshake(&mut conn, "PLAIN");
    assert_eq!(authenticate(&mut conn, "alice", "alice-secret"), Some((0, 2000)));
    assert!(metadata(&mut conn));
    handshake(&mut conn, "PLAIN");
    assert_eq!(authenticate(&mut conn, "alice", "alice-secret"), Some((0, 2000)), "re-authentication");
    assert!(metadata(&mut conn));
    eventually(TIMEOUT, "the expired session closed", || (!metadata(&mut conn)).then_some(()));

    let mut conn = Conn::open(&addr);
    handshake(&mut conn, "PLAIN");
    authenticate(&mut conn, "alice", "alice-secret");
    handshake(&mut conn, "PLAIN");
    assert_eq!(
        authenticate(&mut conn, "bob", "bob-secret").map(|a| a.0),
        Some(ResponseError::SaslAuthenticationFailed.code())
    );
    assert!(conn.closed_by_peer(), "a re-authentication may not change the principal");
}

fn alter_scram(conn: &mut Conn, request: &AlterUserScramCredentialsRequest) -> Vec<(String, i16)> {
    match conn.call(ApiKey::AlterUserScramCredentials, 0, request) {
        ResponseKind::AlterUserScramCredentials(r) => {
            r.results.iter().map(|r| (r.user.to_string(), r.error_code)).collect()
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// A described user: its name, error code and [(mechanism, iterations)].
type Described = (String, i16, Vec<(i8, i32)>);

fn describe_scram(conn: &mut Conn, users: Option<&[&str]>) -> Vec<Described> {
    let users =
        users.map(|u| u.iter().map(|n| UserName::default().with_name(StrBytes::from_string(n.to_string()))).collect());
    match conn.call(
        ApiKey::DescribeUserScramCredentials,
        0,
        &DescribeUserScramCredentialsRequest::default().with_users(users),
    ) {
        ResponseKind::DescribeUserScramCredentials(r) => r
            .results
            .iter()
            .map(|r| {
                let infos = r.credential_infos.iter().map(|c| (c.mechanism, c.iterations)).collect();
                (r.user.to_string(), r.error_code, infos)
            })
            .collect(),
        other => panic!("unexpected {other:?}"),
    }
}

fn upsertion(name: &str, mechanism: i8, iterations: i32) -> ScramCredentialUpsertion {
    ScramCredentialUpsertion::default()
        .with_name(StrBytes::from_string(name.to_string()))
        .with_mechanism(mechanism)
        .with_iterations(iterations)
        .with_salt(vec![7u8; 16].into())
        .with_salted_password(vec![1u8; 32].into())
}

/// AlterUserScramCredentials and DescribeUserScramCredentials answer as Kafka 4.4's
/// controller does: too few or too many iterations, an unknown mechanism, an empty name, a
/// user named twice, deleting what does not exist, describing an unknown user.
#[test]
fn scram_credential_management_errors() {
    let brook = Brook::start(&[]);
    let mut conn = Conn::open(&brook.addr);
    let request = AlterUserScramCredentialsRequest::default().with_upsertions(vec![
        upsertion("few", 1, 1000),
        upsertion("many", 2, 20_000),
        upsertion("strange", 9, 8192),
        upsertion("", 1, 8192),
        upsertion("twice", 1, 8192),
        upsertion("twice", 2, 8192),
        upsertion("good", 2, 8192),
    ]);
    let unacceptable = ResponseError::UnacceptableCredential.code();
    let results: std::collections::BTreeMap<String, i16> = alter_scram(&mut conn, &request).into_iter().collect();
    let expected = [
        ("few", unacceptable),
        ("many", unacceptable),
        ("strange", ResponseError::UnsupportedSaslMechanism.code()),
        ("", unacceptable),
        ("twice", ResponseError::DuplicateResource.code()),
        ("good", 0),
    ];
    assert_eq!(results, expected.iter().map(|(u, c)| (u.to_string(), *c)).collect());
    let deletion = ScramCredentialDeletion::default().with_name(StrBytes::from_static_str("good")).with_mechanism(1);
    let results = alter_scram(&mut conn, &AlterUserScramCredentialsRequest::default().with_deletions(vec![deletion]));
    assert_eq!(results, vec![("good".to_string(), ResponseError::ResourceNotFound.code())]);
    assert_eq!(describe_scram(&mut conn, None), vec![("good".to_string(), 0, vec![(2, 8192)])]);
    let described = describe_scram(&mut conn, Some(&["good", "nobody"]));
    assert_eq!(described[1].0, "nobody");
    assert_eq!(described[1].1, ResponseError::ResourceNotFound.code());
}

/// SCRAM-SHA-512 and SCRAM-SHA-256 over SASL_SSL: users made with Kafka's own kafka-configs,
/// librdkafka authenticates with the right password and is refused with a wrong one, a
/// deleted credential no longer logs in, and credentials survive a restart (they are
/// metadata records).
#[test]
fn scram_users_from_kafka_configs() {
    let pki = Pki::new("brook");
    let keystore = pki.server_pem("broker");
    let (plain, sasl) = (free_port(), free_port());
    let data = tempfile::tempdir().expect("dir");
    let overrides = [
        format!("listeners=PLAINTEXT://127.0.0.1:{plain},SASL_SSL://127.0.0.1:{sasl}"),
        format!("ssl.keystore.location={}", path(&keystore)),
        "sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256".to_string(),
    ];
    let overrides: Vec<&str> = overrides.iter().map(String::as_str).collect();
    let mut brook = Brook::start_in(data.path(), &overrides);
    let configs = |args: &[&str]| {
        let mut cmd = Command::new("java");
        cmd.args([
            "-cp",
            &common::kafka::classpath(),
            "org.apache.kafka.tools.ConfigCommand",
            "--bootstrap-server",
            &brook.addr,
        ]);
        let output = cmd.args(args).output().expect("kafka-configs");
        assert!(output.status.success(), "kafka-configs {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    };
    // One mechanism per command: Kafka's controller refuses a user named twice in one request
    // (DUPLICATE_RESOURCE), two mechanisms included.
    for credential in ["SCRAM-SHA-512=[iterations=8192,password=alice-secret]", "SCRAM-SHA-256=[password=alice-256]"] {
        configs(&["--alter", "--add-config", credential, "--entity-type", "users", "--entity-name", "alice"]);
    }
    let mut conn = Conn::open(&brook.addr);
    assert_eq!(describe_scram(&mut conn, Some(&["alice"])), vec![("alice".to_string(), 0, vec![(1, 4096), (2, 8192)])]);

    let addr = format!("127.0.0.1:{sasl}");
    let scram = |mechanism: &str, password: &str| {
        let mut config = sasl_client(&addr, "sasl_ssl", "alice", password, Some(&pki));
        config.set("sasl.mechanism", mechanism);
        config
    };
    produce(&scram("SCRAM-SHA-512", "alice-secret"), "scram", 5).expect("SCRAM-SHA-512 login");
    assert!(metadata_ok(&scram("SCRAM-SHA-512", "wrong")).is_err());
    assert!(metadata_ok(&scram("SCRAM-SHA-256", "alice-secret")).is_err(), "each mechanism has its own password");
    assert!(metadata_ok(&scram("SCRAM-SHA-256", "alice-256")).is_ok());

    configs(&["--alter", "--delete-config", "SCRAM-SHA-512", "--entity-type", "users", "--entity-name", "alice"]);
    assert!(metadata_ok(&scram("SCRAM-SHA-512", "alice-secret")).is_err(), "a deleted credential");
    drop(conn);
    assert_eq!(brook.stop(), Some(0));
    let _brook = Brook::start_in(data.path(), &overrides);
    assert!(metadata_ok(&scram("SCRAM-SHA-256", "alice-256")).is_ok(), "credentials survive a restart");
    assert_eq!(consume(&scram("SCRAM-SHA-256", "alice-256"), "scram", 5).len(), 5);
}

/// `brook configs --entity-type users` as kafka-configs: both mechanisms in one command (one
/// request each), Kafka's describe line, a login with the new password, deletion, and Kafka's
/// error for too few iterations.
#[test]
fn brook_configs_manages_scram_users() {
    let port = free_port();
    let brook = Brook::start(&[
        &format!("listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:{port}"),
        "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512",
    ]);
    let configs = |args: &[&str]| {
        let output = Command::new(common::brook_bin())
            .args(["configs", "--bootstrap-server", &brook.addr, "--entity-type", "users"])
            .args(args)
            .output()
            .expect("brook configs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let (ok, out) = configs(&[
        "--alter",
        "--entity-name",
        "erin",
        "--add-config",
        "SCRAM-SHA-256=[iterations=8192,password=erin-256],SCRAM-SHA-512=[password=erin-512]",
    ]);
    assert!(ok && out.contains("Completed updating config for user erin."), "{out}");
    let (ok, out) = configs(&["--describe", "--entity-name", "erin"]);
    assert!(ok, "{out}");
    assert_eq!(
        out.trim(),
        "SCRAM credential configs for user-principal 'erin' are SCRAM-SHA-256=iterations=8192, SCRAM-SHA-512=iterations=4096"
    );
    let addr = format!("127.0.0.1:{port}");
    let login = |mechanism: &str, password: &str| {
        let mut config = sasl_client(&addr, "sasl_plaintext", "erin", password, None);
        config.set("sasl.mechanism", mechanism);
        metadata_ok(&config)
    };
    assert!(login("SCRAM-SHA-256", "erin-256").is_ok());
    assert!(login("SCRAM-SHA-512", "erin-512").is_ok());
    let (ok, out) = configs(&["--alter", "--entity-name", "erin", "--delete-config", "SCRAM-SHA-512"]);
    assert!(ok, "{out}");
    assert!(login("SCRAM-SHA-512", "erin-512").is_err());
    let (ok, out) =
        configs(&["--alter", "--entity-name", "erin", "--add-config", "SCRAM-SHA-256=[iterations=10,password=x]"]);
    assert!(!ok && out.contains("UnacceptableCredential") && out.contains("Too few iterations"), "{out}");
}

/// Failed logins from one address slow down: each refusal closes its connection after a
/// delay that doubles after the third failure in a minute; the right password still works.
#[test]
fn repeated_failed_logins_slow_down() {
    let port = free_port();
    let _brook = Brook::start(&[
        &format!("listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:{port}"),
        "sasl.enabled.mechanisms=PLAIN",
        "sasl.plain.users=alice:alice-secret",
    ]);
    let addr = format!("127.0.0.1:{port}");
    let mut lingered = Vec::new();
    for _ in 0..6 {
        let mut conn = Conn::open(&addr);
        handshake(&mut conn, "PLAIN");
        let refused = std::time::Instant::now();
        assert_eq!(
            authenticate(&mut conn, "alice", "guess").map(|a| a.0),
            Some(ResponseError::SaslAuthenticationFailed.code())
        );
        assert!(conn.closed_by_peer());
        lingered.push(refused.elapsed());
    }
    // The sixth failure in a minute waits 800 ms (100, 100, 100, 200, 400, 800).
    assert!(lingered[5] >= Duration::from_millis(700), "{lingered:?}");
    let mut conn = Conn::open(&addr);
    handshake(&mut conn, "PLAIN");
    assert_eq!(authenticate(&mut conn, "alice", "alice-secret"), Some((0, 0)));
}

/// GET `path` over HTTPS from `base` (`https://host:port`), trusting `pki`'s CA: the status
/// line and the body.
fn https_get(base: &str, path: &str, pki: &Pki) -> Result<(String, String), String> {
    use rustls::pki_types::pem::PemObject;
    let host = base.strip_prefix("https://").ok_or("not an https URL")?;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls::pki_types::CertificateDer::pem_file_iter(&pki.ca_file).map_err(|e| e.to_string())? {
        roots.add(certificate.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").map_err(|e| e.to_string())?;
    let connection = rustls::ClientConnection::new(std::sync::Arc::new(config), name).map_err(|e| e.to_string())?;
    let socket = TcpStream::connect(host).map_err(|e| e.to_string())?;
    socket.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(connection, socket);
    tls.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    // A server that closes without close_notify is fine once the response is in.
    let _ = tls.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| format!("no HTTP response: {text:?}"))?;
    Ok((head.lines().next().unwrap_or_default().to_string(), body.to_string()))
}

/// `console.ssl.*`: the console, its API and `/metrics` over HTTPS with the same keystore
/// forms as the Kafka listeners; plain HTTP on that port gets nothing.
#[test]
fn console_over_https() {
    let pki = Pki::new("brook");
    let keystore = pki.server_pem("console");
    let brook = Brook::start(&[&format!("console.ssl.keystore.location={}", path(&keystore))]);
    let base = brook.console.clone().expect("console URL");
    assert!(base.starts_with("https://"), "{base}");
    let (status, body) = https_get(&base, "/metrics", &pki).expect("metrics over HTTPS");
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("brook_brokers"), "{body}");
    let (status, _) = https_get(&base, "/api/overview", &pki).expect("API over HTTPS");
    assert!(status.contains("200"), "{status}");
    let stranger = Pki::new("stranger");
    assert!(https_get(&base, "/metrics", &stranger).is_err(), "an untrusted certificate");
    let mut plain = TcpStream::connect(base.trim_start_matches("https://")).expect("connect");
    plain.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    plain.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").expect("send");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!String::from_utf8_lossy(&answer).contains("brook_brokers"), "plain HTTP was served");
}

/// Brook's tools on a SASL_SSL listener with a `--command-config` in Kafka's Java client
/// names: librdkafka-based tools (topics) and the tools' own frames (configs users) log in
/// with SCRAM over TLS; a wrong password fails with Kafka's error.
#[test]
fn brook_tools_with_a_java_command_config() {
    let pki = Pki::new("brook");
    let keystore = pki.server_pem("broker");
    let port = free_port();
    let brook = Brook::start(&[
        &format!("listeners=PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:{port}"),
        &format!("ssl.keystore.location={}", path(&keystore)),
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
    ]);
    let tool = |bootstrap: &str, args: &[&str]| {
        let output = Command::new(common::brook_bin())
            .args(args)
            .args(["--bootstrap-server", bootstrap])
            .output()
            .expect("brook");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let (ok, out) = tool(
        &brook.addr,
        &[
            "configs",
            "--alter",
            "--entity-type",
            "users",
            "--entity-name",
            "ops",
            "--add-config",
            "SCRAM-SHA-512=[password=ops-secret]",
        ],
    );
    assert!(ok, "{out}");
    let properties = |password: &str| {
        let file = pki.dir().join(format!("client-{password}.properties"));
        let text = format!(
            "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"ops\" password=\"{password}\";\n\
             ssl.truststore.type=PEM\nssl.truststore.location={}\n",
            path(&pki.ca_file)
        );
        std::fs::write(&file, text).expect("write properties");
        file
    };
    let good = properties("ops-secret");
    let secured = format!("127.0.0.1:{port}");
    let config = ["--command-config", path(&good)];
    let (ok, out) =
        tool(&secured, &[&["topics", "--create", "--topic", "over-tls", "--partitions", "2"][..], &config].concat());
    assert!(ok, "{out}");
    let (ok, out) = tool(&secured, &[&["topics", "--list"][..], &config].concat());
    assert!(ok && out.lines().any(|l| l == "over-tls"), "{out}");
    let (ok, out) = tool(&secured, &[&["configs", "--describe", "--entity-type", "users"][..], &config].concat());
    assert!(ok && out.contains("user-principal 'ops' are SCRAM-SHA-512=iterations=4096"), "{out}");
    let bad = properties("wrong");
    let (ok, out) =
        tool(&secured, &["configs", "--describe", "--entity-type", "users", "--command-config", path(&bad)]);
    assert!(!ok && out.contains("SaslAuthenticationFailed"), "{out}");
}

/// A plain HTTP GET with optional headers: the status line and the body.
fn http_get(host: &str, path: &str, headers: &str) -> (String, String) {
    let mut socket = TcpStream::connect(host).expect("connect");
    socket.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    socket
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}\r\n").as_bytes())
        .expect("send");
    let mut response = String::new();
    let _ = socket.read_to_string(&mut response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.lines().next().unwrap_or_default().to_string(), body.to_string())
}

/// `/metrics` behind a bearer token (`console.metrics.bearer.token`), and on a listener of its
/// own (`console.metrics.listener`) that serves nothing else.
#[test]
fn metrics_token_and_own_listener() {
    let port = free_port();
    let brook = Brook::start(&[
        "console.metrics.bearer.token=scrape-me",
        &format!("console.metrics.listener=127.0.0.1:{port}"),
    ]);
    let console = brook.console.clone().expect("console").trim_start_matches("http://").to_string();
    let (status, body) = http_get(&console, "/metrics", "");
    assert!(status.contains("401") && !body.contains("brook_brokers"), "{status} {body}");
    let (status, _) = http_get(&console, "/metrics", "Authorization: Bearer wrong\r\n");
    assert!(status.contains("401"), "{status}");
    let (status, body) = http_get(&console, "/metrics", "Authorization: Bearer scrape-me\r\n");
    assert!(status.contains("200") && body.contains("brook_brokers"), "{status}");
    let own = format!("127.0.0.1:{port}");
    let (status, body) = http_get(&own, "/metrics", "Authorization: Bearer scrape-me\r\n");
    assert!(status.contains("200") && body.contains("brook_brokers"), "{status}");
    assert!(http_get(&own, "/metrics", "").0.contains("401"));
    assert!(http_get(&own, "/api/overview", "").0.contains("404"), "only /metrics on its own listener");
}
