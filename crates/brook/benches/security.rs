//! What security costs: produce throughput over SASL_SSL (TLS 1.3, SCRAM-SHA-512) against
//! plaintext, and how fast new connections get through TCP + TLS + SCRAM, for Brook and for
//! Apache Kafka 4.4 with the same settings (BENCH_KAFKA=0 skips Kafka); and what ACLs cost:
//! produce with 10,000 ACLs present against none (BENCH_ACLS sets how many).
//!
//!   cargo bench -p brook --bench security
//!   BENCH_RECORDS=100000 BENCH_CONNECTIONS=300 cargo bench -p brook --bench security
//!   BENCH_ONLY=acls BENCH_ACLS=10000 cargo bench -p brook --bench security

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use brook_security::scram::{ScramClient, ScramMechanism, random_bytes};
use bytes::BytesMut;
use common::certs::Pki;
use common::kafka::Kafka;
use common::wire::{Conn, create_topic};
use common::{Brook, cpu_seconds, free_port};
use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, ApiKey, CreateAclsRequest, RequestHeader, ResponseHeader, ResponseKind,
    SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

const USER: &str = "bench";
const PASSWORD: &str = "bench-secret";
const ITERATIONS: i32 = 4096;
const MECHANISM: ScramMechanism = ScramMechanism::Sha512;
const RECORD_BYTES: usize = 1024;
/// Producers at once: one librdkafka producer is limited by its single thread per broker
/// connection (which also does its TLS), not by the broker.
const PRODUCERS: usize = 2;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A broker under test: its plaintext and SASL_SSL addresses, and its process.
struct Target {
    name: &'static str,
    plain: String,
    sasl_ssl: String,
    pid: u32,
}

fn main() {
    let records = env("BENCH_RECORDS", 100_000);
    let connections = env("BENCH_CONNECTIONS", 300);
    let pki = Pki::new("bench");
    if std::env::var("BENCH_ONLY").as_deref() == Ok("acls") {
        return acl_cost(records, env("BENCH_ACLS", 10_000), &pki);
    }
    let keystore = pki.server_pem("broker");
    let sasl_port = free_port();
    let brook = Brook::start(&[
        &format!("listeners=PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:{sasl_port}"),
        &format!("ssl.keystore.location={}", keystore.display()),
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
    ]);
    let mut targets = vec![Target {
        name: "Brook",
        plain: brook.addr.clone(),
        sasl_ssl: format!("127.0.0.1:{sasl_port}"),
        pid: brook.pid(),
    }];
    let kafka = (std::env::var("BENCH_KAFKA").as_deref() != Ok("0")).then(|| {
        let port = free_port();
        let lines = [
            "sasl.enabled.mechanisms=SCRAM-SHA-512".to_string(),
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;".to_string(),
            "ssl.keystore.type=PEM".to_string(),
            format!("ssl.keystore.location={}", keystore.display()),
        ];
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let kafka = Kafka::start_with(&[("SASL_SSL", port, "SASL_SSL")], &lines);
        targets.push(Target {
            name: "Kafka 4.4",
            plain: kafka.addr.clone(),
            sasl_ssl: format!("127.0.0.1:{port}"),
            pid: kafka.pid(),
        });
        kafka
    });
    println!(
        "produce: {records} records of {RECORD_BYTES} B from {PRODUCERS} librdkafka producers, acks=all; SASL_SSL is \
         TLS 1.3 + SCRAM-SHA-512"
    );
    let mut sasl_rates = Vec::new();
    for target in &targets {
        add_user(&target.plain);
        let mut conn = Conn::open(&target.plain);
        create_topic(&mut conn, "plain", 3);
        create_topic(&mut conn, "secured", 3);
        // The broker's CPU per GB tells its own cost from the client's (both share 2 cores).
        let cpu = cpu_seconds(target.pid);
        let plain = produce(&client(&target.plain, None, &pki), "plain", records);
        let (cpu, plain_cpu) = (cpu_seconds(target.pid), cpu_seconds(target.pid) - cpu);
        let secured = produce(&client(&target.sasl_ssl, Some(&pki), &pki), "secured", records);
        let secured_cpu = cpu_seconds(target.pid) - cpu;
        let gb = (records * RECORD_BYTES) as f64 / 1e9;
        println!(
            "  {:<9} plaintext {plain:7.1} MB/s ({:.1} broker CPU s/GB)   SASL_SSL {secured:7.1} MB/s ({:.1} s/GB)   \
             SASL_SSL / plaintext {:.2}",
            target.name,
            plain_cpu / gb,
            secured_cpu / gb,
            secured / plain
        );
        sasl_rates.push(secured);
    }
    if let [brook, kafka] = sasl_rates[..] {
        println!("  SASL_SSL Brook / Kafka: {:.2}", brook / kafka);
    }
    println!(
        "new connections: TCP + TLS 1.3 + SaslHandshake + SCRAM-SHA-512 (two SaslAuthenticate), {connections} in a row"
    );
    for target in &targets {
        let (per_second, p50, p99) = handshakes(&target.sasl_ssl, &pki, connections);
        println!(
            "  {:<9} {per_second:7.0} connections/s   p50 {:.2} ms   p99 {:.2} ms",
            target.name,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    drop(kafka);
    acl_cost(records, env("BENCH_ACLS", 10_000), &pki);
}

const AUTHORIZER: &str = "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// Produce records/s through Brook's authorizer with no ACLs (everyone allowed) and with
/// `count` ACLs: literal and prefixed, for other principals, many on names sharing the
/// topic's prefixes, and the one that lets the producer write. The two brokers take turns,
/// five rounds each, and the medians are compared, as this machine's speed drifts.
fn acl_cost(records: usize, count: usize, pki: &Pki) {
    const ROUNDS: usize = 5;
    println!(
        "ACL check cost: {records} records of {RECORD_BYTES} B, acks=all, through the authorizer, {ROUNDS} rounds"
    );
    let brokers: Vec<(usize, Brook)> = [0, count]
        .into_iter()
        .map(|acls| (acls, Brook::start(&[AUTHORIZER, "allow.everyone.if.no.acl.found=true"])))
        .collect();
    for (acls, brook) in &brokers {
        let mut conn = Conn::open(&brook.addr);
        create_topic(&mut conn, "acl-bench", 3);
        if *acls == 0 {
            continue;
        }
        let mut all: Vec<AclCreation> = vec![acl("acl-bench", 3, "User:ANONYMOUS")];
        for i in 1..*acls {
            // Half literal names, half prefixes of the topic's own name or of others.
            let (name, pattern) = match i % 2 {
                0 => (format!("topic-{i}"), 3),
                _ => (format!("{}{i}", &"acl-bench"[..1 + i % 8]), 4),
            };
            all.push(acl(&name, pattern, &format!("User:user-{i}")));
        }
        for chunk in all.chunks(1000) {
            let request = CreateAclsRequest::default().with_creations(chunk.to_vec());
            let ResponseKind::CreateAcls(response) = conn.call(ApiKey::CreateAcls, 3, &request) else {
                panic!("CreateAcls")
            };
            assert!(response.results.iter().all(|r| r.error_code == 0), "ACLs created");
        }
    }
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); brokers.len()];
    for _ in 0..ROUNDS {
        for (i, (_, brook)) in brokers.iter().enumerate() {
            let mb_per_s = produce(&client(&brook.addr, None, pki), "acl-bench", records);
            rates[i].push(mb_per_s * 1e6 / RECORD_BYTES as f64);
        }
    }
    let medians: Vec<f64> = rates
        .iter_mut()
        .map(|r| {
            r.sort_by(f64::total_cmp);
            r[r.len() / 2]
        })
        .collect();
    for ((acls, _), median) in brokers.iter().zip(&medians) {
        println!("  {acls:>6} ACLs   {median:9.0} records/s (median)");
    }
    if let [none, many] = medians[..] {
        println!("  with {count} ACLs / with none: {:.3}", many / none);
    }
    check_cost(count);
}

/// One authorization decision in process, with `count` ACLs like the broker's above.
fn check_cost(count: usize) {
    use brook_security::acl::{self, Acl, AclSet, AuthorizerSettings, Operation, Requester, ResourceType};
    let mut set = AclSet::default();
    for i in 0..count {
        let (name, pattern) = match i % 2 {
            _ if i == 0 => ("acl-bench".to_string(), 3),
            0 => (format!("topic-{i}"), 3),
            _ => (format!("{}{i}", &"acl-bench"[..1 + i % 8]), 4),
        };
        let principal = if i == 0 { "User:ANONYMOUS".to_string() } else { format!("User:user-{i}") };
        let acl = Acl::from_wire(2, &name, pattern, &principal, "*", 4, 3).expect("valid ACL");
        set.insert(uuid::Uuid::new_v4(), acl);
    }
    let settings = AuthorizerSettings::default();
    let who = Requester { user: "ANONYMOUS", host: "127.0.0.1" };
    let checks = 1_000_000;
    let started = Instant::now();
    let allowed = (0..checks)
        .filter(|_| acl::authorize(&settings, &set, who, Operation::Write, ResourceType::Topic, "acl-bench"))
        .count();
    assert_eq!(allowed, checks);
    println!("  one check with {count} ACLs: {:.0} ns", started.elapsed().as_nanos() as f64 / checks as f64);
}

/// An ACL allowing WRITE on a topic name (`pattern` 3 literal, 4 prefixed).
fn acl(name: &str, pattern: i8, principal: &str) -> AclCreation {
    AclCreation::default()
        .with_resource_type(2)
        .with_resource_name(StrBytes::from_string(name.to_string()))
        .with_resource_pattern_type(pattern)
        .with_principal(StrBytes::from_string(principal.to_string()))
        .with_host(StrBytes::from_static_str("*"))
        .with_operation(4)
        .with_permission_type(3)
}

/// Gives `USER` a SCRAM-SHA-512 credential (the same request kafka-configs sends).
fn add_user(addr: &str) {
    let salt = random_bytes(24);
    let salted = MECHANISM.salted_password(PASSWORD, &salt, ITERATIONS.unsigned_abs());
    let request = AlterUserScramCredentialsRequest::default().with_upsertions(vec![
        ScramCredentialUpsertion::default()
            .with_name(StrBytes::from_static_str(USER))
            .with_mechanism(MECHANISM.wire_type())
            .with_iterations(ITERATIONS)
            .with_salt(salt.into())
            .with_salted_password(salted.into()),
    ]);
    match Conn::open(addr).call(ApiKey::AlterUserScramCredentials, 0, &request) {
        ResponseKind::AlterUserScramCredentials(r) => assert_eq!(r.results[0].error_code, 0, "{r:?}"),
        other => panic!("unexpected {other:?}"),
    }
}

fn client(bootstrap: &str, sasl: Option<&Pki>, pki: &Pki) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap).set("acks", "all").set("linger.ms", "5");
    if sasl.is_some() {
        config
            .set("security.protocol", "sasl_ssl")
            .set("ssl.ca.location", pki.ca_file.to_str().expect("utf8"))
            .set("sasl.mechanism", MECHANISM.name())
            .set("sasl.username", USER)
            .set("sasl.password", PASSWORD);
    }
    config
}

/// MB/s for `PRODUCERS` producers (each its own connection, as separate applications) to
/// produce `records` records between them and have every one acknowledged.
fn produce(config: &ClientConfig, topic: &str, records: usize) -> f64 {
    let ready = Arc::new(std::sync::Barrier::new(PRODUCERS + 1));
    let threads: Vec<_> = (0..PRODUCERS)
        .map(|_| {
            let (config, topic, ready) = (config.clone(), topic.to_string(), ready.clone());
            std::thread::spawn(move || {
                let producer: BaseProducer = config.create().expect("producer");
                let value = vec![b'x'; RECORD_BYTES];
                // The first record opens the connection (and authenticates), before the clock.
                producer.send(BaseRecord::<(), _>::to(&topic).payload(&value)).expect("send");
                producer.flush(Duration::from_secs(30)).expect("first record acknowledged");
                ready.wait();
                for _ in 0..records / PRODUCERS {
                    let mut record = BaseRecord::<(), _>::to(&topic).payload(&value);
                    while let Err((_, back)) = producer.send(record) {
                        // The client's queue is full: let it deliver.
                        producer.poll(Duration::from_millis(1));
                        record = back;
                    }
                }
                producer.flush(Duration::from_secs(120)).expect("every record acknowledged");
            })
        })
        .collect();
    ready.wait();
    let started = Instant::now();
    for thread in threads {
        thread.join().expect("producer");
    }
    (records / PRODUCERS * PRODUCERS * RECORD_BYTES) as f64 / started.elapsed().as_secs_f64() / 1e6
}

/// Opens `count` connections one after another, each authenticated to the end: connections
/// per second and the p50 and p99 time per connection.
fn handshakes(addr: &str, pki: &Pki, count: usize) -> (f64, Duration, Duration) {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls_pki_types_certs(&pki.ca_file) {
        roots.add(certificate).expect("CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    // A client salts the password once per salt; so does this one, to measure the broker.
    let mut salted: Option<(Vec<u8>, Vec<u8>)> = None;
    let started = Instant::now();
    let mut times: Vec<Duration> = (0..count)
        .map(|_| {
            let began = Instant::now();
            login(addr, &config, &mut salted);
            began.elapsed()
        })
        .collect();
    let per_second = count as f64 / started.elapsed().as_secs_f64();
    times.sort();
    (per_second, times[times.len() / 2], times[(times.len() * 99 / 100).min(times.len() - 1)])
}

fn rustls_pki_types_certs(path: &std::path::Path) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_file_iter(path).expect("CA file").map(|c| c.expect("CA")).collect()
}

/// One connection: TLS, then SCRAM to the end, then closed.
fn login(addr: &str, config: &Arc<rustls::ClientConfig>, salted: &mut Option<(Vec<u8>, Vec<u8>)>) {
    let socket = TcpStream::connect(addr).expect("connect");
    socket.set_nodelay(true).expect("nodelay");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let connection = rustls::ClientConnection::new(config.clone(), name).expect("TLS client");
    let mut tls = rustls::StreamOwned::new(connection, socket);
    let mut correlation = 0;
    let mut call = |api_key: ApiKey, version: i16, body: &dyn Fn(&mut BytesMut)| -> ResponseKind {
        correlation += 1;
        let mut frame = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(StrBytes::from_static_str("bench")))
            .encode(&mut frame, api_key.request_header_version(version))
            .expect("header");
        body(&mut frame);
        let mut out = (frame.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&frame);
        tls.write_all(&out).expect("send");
        let mut size = [0u8; 4];
        tls.read_exact(&mut size).expect("response size");
        let mut response = vec![0u8; u32::from_be_bytes(size) as usize];
        tls.read_exact(&mut response).expect("response");
        let mut response = bytes::Bytes::from(response);
        ResponseHeader::decode(&mut response, api_key.response_header_version(version)).expect("header");
        ResponseKind::decode(api_key, &mut response, version).expect("body")
    };
    let handshake = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(MECHANISM.name()));
    match call(ApiKey::SaslHandshake, 1, &|f| handshake.encode(f, 1).expect("encode")) {
        ResponseKind::SaslHandshake(r) => assert_eq!(r.error_code, 0),
        other => panic!("unexpected {other:?}"),
    }
    let mut scram = ScramClient::new(MECHANISM, USER, PASSWORD);
    let first = SaslAuthenticateRequest::default().with_auth_bytes(scram.first().into());
    let server_first = match call(ApiKey::SaslAuthenticate, 2, &|f| first.encode(f, 2).expect("encode")) {
        ResponseKind::SaslAuthenticate(r) => {
            assert_eq!(r.error_code, 0, "{:?}", r.error_message);
            r.auth_bytes
        }
        other => panic!("unexpected {other:?}"),
    };
    let last = scram
        .final_message_with(&server_first, |salt, iterations| match salted {
            Some((s, key)) if s == salt => key.clone(),
            _ => {
                let key = MECHANISM.salted_password(PASSWORD, salt, iterations);
                *salted = Some((salt.to_vec(), key.clone()));
                key
            }
        })
        .expect("final message");
    let last = SaslAuthenticateRequest::default().with_auth_bytes(last.into());
    match call(ApiKey::SaslAuthenticate, 2, &|f| last.encode(f, 2).expect("encode")) {
        ResponseKind::SaslAuthenticate(r) => {
            assert_eq!(r.error_code, 0, "{:?}", r.error_message);
            scram.verify(&r.auth_bytes).expect("the broker's signature");
        }
        other => panic!("unexpected {other:?}"),
    }
}
