//! Delegation tokens (KIP-48): the four APIs answered as Kafka 4.4 answers them, a SCRAM login
//! with a token, and what Brook alone checks (tokens survive a restart, expired ones are swept,
//! no secret key means tokens are off).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use brook_security::scram::{ScramClient, ScramMechanism};
use kafka_protocol::messages::create_delegation_token_request::CreatableRenewers;
use kafka_protocol::messages::describe_delegation_token_request::DescribeDelegationTokenOwner;
use kafka_protocol::messages::{
    ApiKey, CreateDelegationTokenRequest, DescribeDelegationTokenRequest, ExpireDelegationTokenRequest,
    RenewDelegationTokenRequest, ResponseKind, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::StrBytes;

use crate::common::kafka::Kafka;
use crate::common::wire::{Conn, now_ms};
use crate::common::{self, Brook};
use crate::differential::assert_same;

const PLAIN_JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
    user_alice=\"alice-secret\" user_carol=\"carol-secret\";";

/// The lines both brokers get; Kafka also needs its SCRAM mechanism's JAAS line.
fn lines() -> Vec<String> {
    vec![
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256".into(),
        format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={PLAIN_JAAS}"),
        "delegation.token.secret.key=differential-secret".into(),
        "delegation.token.max.lifetime.ms=3600000".into(),
        "delegation.token.expiry.time.ms=60000".into(),
    ]
}

const KAFKA_SCRAM_JAAS: &str = "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=\
    org.apache.kafka.common.security.scram.ScramLoginModule required;";

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A connection to the SASL listener logged in with PLAIN.
fn plain_login(addr: &str, user: &str, password: &str) -> Conn {
    let mut conn = Conn::open(addr);
    let handshake = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN"));
    conn.call(ApiKey::SaslHandshake, 1, &handshake);
    let token = format!("\0{user}\0{password}").into_bytes();
    let ResponseKind::SaslAuthenticate(r) =
        conn.call(ApiKey::SaslAuthenticate, 2, &SaslAuthenticateRequest::default().with_auth_bytes(token.into()))
    else {
        panic!("a SaslAuthenticate answer")
    };
    assert_eq!(r.error_code, 0, "{user} logs in: {:?}", r.error_message);
    conn
}

/// A SCRAM-SHA-256 login with a token: the answer to the final message (or the refusal of
/// the first), and the connection.
fn token_login(addr: &str, token_id: &str, hmac: &[u8]) -> (String, Conn) {
    let mut conn = Conn::open(addr);
    let handshake = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("SCRAM-SHA-256"));
    conn.call(ApiKey::SaslHandshake, 1, &handshake);
    let password = brook_security::token::password(hmac);
    let mut client = ScramClient::new(ScramMechanism::Sha256, token_id, &password).with_token();
    let step = |conn: &mut Conn, bytes: Vec<u8>| {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(bytes.into());
        match conn.try_call(ApiKey::SaslAuthenticate, 2, &request) {
            Some(ResponseKind::SaslAuthenticate(r)) => {
                let message = r.error_message.map(|m| m.to_string());
                (format!("{} {message:?}", r.error_code), r.auth_bytes.to_vec(), r.session_lifetime_ms)
            }
            other => (format!("{other:?}"), vec![], 0),
        }
    };
    let (first, server_first, _) = step(&mut conn, client.first());
    let Ok(last) = client.final_message(&server_first) else { return (format!("first refused: {first}"), conn) };
    let (outcome, server_final, lifetime) = step(&mut conn, last);
    if outcome.starts_with("0 ") {
        client.verify(&server_final).expect("the broker proves it knows the token");
        // The session lasts until the token expires (about a minute here), not forever.
        assert!((1..=60_000).contains(&lifetime), "session lifetime {lifetime}");
    }
    (outcome, conn)
}

/// What a token answer looks like, with its times relative to the asker's clock: `now+N`
/// seconds (a server's clock is this machine's).
fn relative(at: i64, before: i64, after: i64) -> String {
    if at <= 0 {
        return at.to_string();
    }
    let seconds = (at - before) / 1000;
    match (at - after..=at - before).contains(&(seconds * 1000)) {
        true => format!("now+{seconds}s"),
        false => format!("{at} (asked at {before}..{after})"),
    }
}

struct Created {
    code: i16,
    token_id: String,
    hmac: Vec<u8>,
}

fn create(conn: &mut Conn, owner: Option<&str>, renewers: &[(&str, &str)], max_ms: i64) -> (String, Created) {
    let request = CreateDelegationTokenRequest::default()
        .with_owner_principal_type(owner.map(|_| text("User")))
        .with_owner_principal_name(owner.map(text))
        .with_renewers(
            renewers
                .iter()
                .map(|(kind, name)| {
                    CreatableRenewers::default().with_principal_type(text(kind)).with_principal_name(text(name))
                })
                .collect(),
        )
        .with_max_lifetime_ms(max_ms);
    let before = now_ms();
    let ResponseKind::CreateDelegationToken(r) = conn.call(ApiKey::CreateDelegationToken, 3, &request) else {
        panic!("a CreateDelegationToken answer")
    };
    let after = now_ms();
    let seen = format!(
        "{} owner {}:{} by {}:{} issued {} expires {} max {} id {} hmac {} bytes",
        r.error_code,
        r.principal_type,
        r.principal_name,
        r.token_requester_principal_type,
        r.token_requester_principal_name,
        relative(r.issue_timestamp_ms, before, after),
        relative(r.expiry_timestamp_ms, before, after),
        relative(r.max_timestamp_ms, before, after),
        if r.token_id.is_empty() { "empty" } else { "set" },
        r.hmac.len(),
    );
    (seen, Created { code: r.error_code, token_id: r.token_id.to_string(), hmac: r.hmac.to_vec() })
}

fn renew(conn: &mut Conn, hmac: &[u8], period_ms: i64) -> String {
    let request =
        RenewDelegationTokenRequest::default().with_hmac(hmac.to_vec().into()).with_renew_period_ms(period_ms);
    let before = now_ms();
    let ResponseKind::RenewDelegationToken(r) = conn.call(ApiKey::RenewDelegationToken, 2, &request) else {
        panic!("a RenewDelegationToken answer")
    };
    format!("{} expires {}", r.error_code, relative(r.expiry_timestamp_ms, before, now_ms()))
}

fn expire(conn: &mut Conn, hmac: &[u8], period_ms: i64) -> String {
    let request =
        ExpireDelegationTokenRequest::default().with_hmac(hmac.to_vec().into()).with_expiry_time_period_ms(period_ms);
    let before = now_ms();
    let ResponseKind::ExpireDelegationToken(r) = conn.call(ApiKey::ExpireDelegationToken, 2, &request) else {
        panic!("an ExpireDelegationToken answer")
    };
    format!("{} expires {}", r.error_code, relative(r.expiry_timestamp_ms, before, now_ms()))
}

/// The tokens a DescribeDelegationToken shows, owners' names standing for the ids.
fn describe(conn: &mut Conn, owners: Option<&[&str]>) -> String {
    let owners = owners.map(|owners| {
        owners
            .iter()
            .map(|o| {
                DescribeDelegationTokenOwner::default().with_principal_type(text("User")).with_principal_name(text(o))
            })
            .collect()
    });
    let request = DescribeDelegationTokenRequest::default().with_owners(owners);
    let ResponseKind::DescribeDelegationToken(r) = conn.call(ApiKey::DescribeDelegationToken, 3, &request) else {
        panic!("a DescribeDelegationToken answer")
    };
    let mut tokens: Vec<String> = r
        .tokens
        .iter()
        .map(|t| {
            let renewers: Vec<String> =
                t.renewers.iter().map(|r| format!("{}:{}", r.principal_type, r.principal_name)).collect();
            format!(
                "{}:{} by {}:{} renewers {renewers:?} lifetime {} hmac {} bytes",
                t.principal_type,
                t.principal_name,
                t.token_requester_principal_type,
                t.token_requester_principal_name,
                t.max_timestamp - t.issue_timestamp,
                t.hmac.len()
            )
        })
        .collect();
    tokens.sort();
    format!("{} {tokens:?}", r.error_code)
}

/// Polls `f` until its answer contains `until` or 10 s have passed; the last answer.
fn await_answer(until: &str, mut f: impl FnMut() -> String) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = f();
        if answer.contains(until) || Instant::now() >= deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The whole life of two tokens on a broker with a PLAINTEXT listener at `plain` and a
/// SASL_PLAINTEXT one at `sasl`: step -> answer.
fn scenario(plain: &str, sasl: &str) -> BTreeMap<String, String> {
    let mut seen = BTreeMap::new();
    let mut anonymous = Conn::open(plain);
    seen.insert("create on PLAINTEXT".into(), create(&mut anonymous, None, &[], 0).0);
    seen.insert("renew on PLAINTEXT".into(), renew(&mut anonymous, b"x", 0));
    seen.insert("expire on PLAINTEXT".into(), expire(&mut anonymous, b"x", 0));
    seen.insert("describe on PLAINTEXT".into(), describe(&mut anonymous, None));

    let mut alice = plain_login(sasl, "alice", "alice-secret");
    let (answer, mine) = create(&mut alice, None, &[], 0);
    seen.insert("alice creates".into(), answer);
    seen.insert("a renewer that is no user".into(), create(&mut alice, None, &[("Group", "g")], 0).0);
    let (answer, bobs) = create(&mut alice, Some("bob"), &[("User", "alice")], 600_000);
    seen.insert("alice creates for bob, shorter".into(), answer);
    assert_eq!((mine.code, bobs.code), (0, 0), "{seen:?}");
    // Kafka's broker learns of tokens from the metadata after the controller answered.
    let all = await_answer("User:bob", || describe(&mut alice, None));
    seen.insert("describe all".into(), all);
    seen.insert("describe no owners".into(), describe(&mut alice, Some(&[])));
    seen.insert("describe bob's".into(), describe(&mut alice, Some(&["bob"])));

    seen.insert("renew an unknown hmac".into(), renew(&mut alice, b"not a token", 0));
    seen.insert("renew by default".into(), renew(&mut alice, &mine.hmac, 0));
    seen.insert("renew shorter".into(), renew(&mut alice, &mine.hmac, 20_000));
    seen.insert("renew longer than allowed".into(), renew(&mut alice, &mine.hmac, 7_200_000));
    seen.insert("a renewer renews".into(), renew(&mut alice, &bobs.hmac, 0));
    let mut carol = plain_login(sasl, "carol", "carol-secret");
    seen.insert("carol renews alice's".into(), renew(&mut carol, &mine.hmac, 0));
    seen.insert("carol expires alice's".into(), expire(&mut carol, &mine.hmac, -1));
    seen.insert("carol describes".into(), describe(&mut carol, None));

    // The token logs in over SCRAM as its owner, and may not manage tokens.
    // The token reaches the listener's broker through the metadata: wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (outcome, mut as_token) = loop {
        let (outcome, conn) = token_login(sasl, &mine.token_id, &mine.hmac);
        if outcome.starts_with("0 ") || Instant::now() >= deadline {
            break (outcome, conn);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    seen.insert("log in with the token".into(), outcome);
    seen.insert("the token creates".into(), create(&mut as_token, None, &[], 0).0);
    seen.insert("the token describes".into(), describe(&mut as_token, None));
    seen.insert("log in with a wrong hmac".into(), token_login(sasl, &mine.token_id, b"wrong").0);
    seen.insert("log in with an unknown token".into(), token_login(sasl, "no-such-token", &mine.hmac).0);

    seen.insert("expire in a second".into(), expire(&mut alice, &mine.hmac, 1_000));
    seen.insert("renew once expired".into(), await_answer("74 ", || renew(&mut alice, &mine.hmac, 0)));
    seen.insert("expire once expired".into(), expire(&mut alice, &mine.hmac, 1_000));
    seen.insert("log in once expired".into(), token_login(sasl, &mine.token_id, &mine.hmac).0);
    seen.insert("expire bob's now".into(), expire(&mut alice, &bobs.hmac, -1));
    // Kafka's controller reads tokens from a cache its metadata publisher fills after the
    // commit, so a renew right after the removal can still find (and so re-create) the token.
    // A stranger's renew changes nothing either way: await its TOKEN_NOT_FOUND first.
    seen.insert("carol renews bob's once removed".into(), await_answer("62 ", || renew(&mut carol, &bobs.hmac, 0)));
    seen.insert("renew bob's once removed".into(), renew(&mut alice, &bobs.hmac, 0));
    seen
}

/// Every step answered as Kafka 4.4 answers it, codes and times alike.
#[test]
fn delegation_tokens_answer_like_kafka() {
    let lines = lines();
    let port = common::free_port();
    let mut kafka_lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    kafka_lines.push(KAFKA_SCRAM_JAAS);
    let kafka = Kafka::start_with(&[("SASL_PLAINTEXT", port, "SASL_PLAINTEXT")], &kafka_lines);
    let kafka_seen = scenario(&kafka.addr, &format!("127.0.0.1:{port}"));
    drop(kafka);
    let port = common::free_port();
    let mut overrides = vec![format!("listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:{port}")];
    overrides.extend(lines);
    let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
    let brook = Brook::start(&refs);
    let brook_seen = scenario(&brook.addr, &format!("127.0.0.1:{port}"));
    assert!(kafka_seen.len() >= 25, "{kafka_seen:?}");
    assert_same(&kafka_seen, &brook_seen);
}

/// A broker with PLAIN and SCRAM on a SASL listener at `port`, and `extra` lines.
fn brook_lines(port: u16, extra: &[&str]) -> Vec<String> {
    let mut lines = vec![
        format!("listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:{port}"),
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256".into(),
        format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={PLAIN_JAAS}"),
    ];
    lines.extend(extra.iter().map(|l| l.to_string()));
    lines
}

/// Without delegation.token.secret.key tokens are off: every API says so, as Kafka does.
#[test]
fn tokens_are_off_without_a_secret_key() {
    let port = common::free_port();
    let lines = brook_lines(port, &[]);
    let _brook = Brook::start(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    let mut alice = plain_login(&format!("127.0.0.1:{port}"), "alice", "alice-secret");
    let (created, _) = create(&mut alice, None, &[], 0);
    assert!(created.starts_with("61 "), "create: {created}");
    assert!(renew(&mut alice, b"x", 0).starts_with("61 "));
    assert!(expire(&mut alice, b"x", 0).starts_with("61 "));
    assert!(describe(&mut alice, None).starts_with("61 "));
}

/// Tokens live in the metadata: a token made before a restart still logs in after it, and
/// the controller's sweep removes it once it has expired.
#[test]
fn tokens_survive_a_restart_and_are_swept_once_expired() {
    let port = common::free_port();
    let lines = brook_lines(
        port,
        &[
            "delegation.token.secret.key=restart-secret",
            "delegation.token.expiry.time.ms=60000",
            "delegation.token.expiry.check.interval.ms=300",
        ],
    );
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let sasl = format!("127.0.0.1:{port}");
    let mut brook = Brook::start(&lines);
    let mut alice = plain_login(&sasl, "alice", "alice-secret");
    let (answer, token) = create(&mut alice, None, &[], 0);
    assert_eq!(token.code, 0, "{answer}");
    let login = await_answer("0 ", || token_login(&sasl, &token.token_id, &token.hmac).0);
    assert!(login.starts_with("0 "), "login before the restart: {login}");

    let dir = brook.take_dir().expect("dir");
    brook.stop();
    let mut brook = Brook::start_in(dir.path(), &lines);
    let (login, _) = token_login(&sasl, &token.token_id, &token.hmac);
    assert!(login.starts_with("0 "), "login after the restart: {login}");
    let mut alice = plain_login(&sasl, "alice", "alice-secret");
    let listed = describe(&mut alice, None);
    assert!(listed.starts_with("0 [\"User:alice"), "{listed}");

    // Expired in a second, then swept: gone from Describe and refused at login.
    assert!(expire(&mut alice, &token.hmac, 1_000).starts_with("0 "));
    let listed = await_answer("0 []", || describe(&mut alice, None));
    assert_eq!(listed, "0 []", "the sweep removes the expired token");
    let (login, _) = token_login(&sasl, &token.token_id, &token.hmac);
    assert!(!login.starts_with("0 "), "an expired token logs in: {login}");
    assert!(renew(&mut alice, &token.hmac, 0).starts_with("62 "), "a swept token is not found");
    brook.stop();
}
