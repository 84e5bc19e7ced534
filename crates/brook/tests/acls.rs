//! ACLs with real clients: a broker with Kafka's StandardAuthorizer and SASL/PLAIN users, ACLs
//! managed with `brook acls` and with Kafka's own kafka-acls, and librdkafka clients allowed
//! and refused as Kafka would: topics, groups, prefixes, deny over allow, super users,
//! Metadata hiding what a principal may not describe, and the ACLs kept across a restart. The
//! web console behind a login with the same users, acting as each under the same ACLs, over
//! its API and in Chromium.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use crate::common::http;
use crate::common::wire::Conn;
use crate::common::{Brook, brook_bin, eventually, free_port};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, DescribeAclsRequest, ResponseKind};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(30);
const AUTHORIZER: &str = "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// A broker whose SASL_PLAINTEXT listener knows admin (a super user), alice and bob.
struct Secured {
    brook: Brook,
    addr: String,
    dir: tempfile::TempDir,
}

impl Secured {
    fn start() -> Secured {
        Secured::start_with(&[])
    }

    /// With more broker settings.
    fn start_with(extra: &[&str]) -> Secured {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let settings = Secured::settings(port);
        let brook = Brook::start_in(
            &dir.path().join("data"),
            &settings.iter().map(String::as_str).chain(extra.iter().copied()).collect::<Vec<_>>(),
        );
        for user in ["admin", "alice", "bob"] {
            let properties = format!(
                "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"{user}\" password=\"{user}-secret\";\n"
            );
            std::fs::write(dir.path().join(format!("{user}.properties")), properties).expect("client properties");
        }
        Secured { brook, addr: format!("127.0.0.1:{port}"), dir }
    }

    fn settings(port: u16) -> Vec<String> {
        vec![
            format!("listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:{port}"),
            "sasl.enabled.mechanisms=PLAIN".into(),
            "sasl.plain.users=admin:admin-secret,alice:alice-secret,bob:bob-secret".into(),
            AUTHORIZER.into(),
            "super.users=User:admin".into(),
        ]
    }

    fn restart(&mut self) {
        self.brook.stop();
        let port: u16 = self.addr.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
        let settings = Secured::settings(port);
        self.brook =
            Brook::start_in(&self.dir.path().join("data"), &settings.iter().map(String::as_str).collect::<Vec<_>>());
    }

    fn properties(&self, user: &str) -> PathBuf {
        self.dir.path().join(format!("{user}.properties"))
    }

    /// Runs a Brook tool as `user`: (success, stdout, stderr).
    fn tool(&self, user: &str, tool: &str, args: &[&str]) -> (bool, String, String) {
        let config = self.properties(user);
        let config_flag = if tool == "console-producer" { "--producer.config" } else { "--command-config" };
        let output = Command::new(brook_bin())
            .arg(tool)
            .args(["--bootstrap-server", &self.addr, config_flag, path(&config)])
            .args(args)
            .output()
            .expect("run brook tool");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (output.status.success(), text(&output.stdout), text(&output.stderr))
    }

    /// Runs `brook acls` as `user` with the whitespace-separated `args`; its output.
    fn acls(&self, user: &str, args: &str) -> String {
        let args: Vec<&str> = args.split_whitespace().collect();
        let (ok, stdout, stderr) = self.tool(user, "acls", &args);
        assert!(ok, "brook acls {args:?} as {user} failed: {stderr}");
        stdout
    }

    fn client(&self, user: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.addr)
            .set("security.protocol", "sasl_plaintext")
            .set("sasl.mechanism", "PLAIN")
            .set("sasl.username", user)
            .set("sasl.password", format!("{user}-secret"))
            .set("message.timeout.ms", "10000")
            .set("socket.timeout.ms", "5000");
        config
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// Delivery errors, as librdkafka reports them.
#[derive(Default)]
struct Deliveries(Mutex<Vec<KafkaError>>);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.0.lock().expect("deliveries").push(e.clone());
        }
    }
}

/// Produces `count` records and waits for every acknowledgement; the first delivery error.
fn produce(config: &ClientConfig, topic: &str, count: usize) -> Result<(), KafkaError> {
    let producer: BaseProducer<Deliveries> = config.create_with_context(Deliveries::default()).expect("producer");
    for i in 0..count {
        let value = format!("v{i}");
        producer.send(BaseRecord::<(), _>::to(topic).payload(&value)).map_err(|(e, _)| e)?;
    }
    producer.flush(TIMEOUT)?;
    match producer.context().0.lock().expect("deliveries").first() {
        Some(e) => Err(e.clone()),
        None => Ok(()),
    }
}

/// Names of the topics the client's Metadata lists.
fn listed_topics(config: &ClientConfig) -> Vec<String> {
    let consumer: BaseConsumer = config.create().expect("client");
    let metadata = consumer.fetch_metadata(None, TIMEOUT).expect("metadata");
    let mut names: Vec<String> = metadata.topics().iter().map(|t| t.name().to_string()).collect();
    names.sort();
    names
}

/// Consumes `count` records of `topic` in group `group`, committing; or the first error.
fn consume(config: &ClientConfig, group: &str, topic: &str, count: usize) -> Result<usize, KafkaError> {
    let mut config = config.clone();
    config.set("group.id", group).set("auto.offset.reset", "earliest").set("enable.auto.commit", "false");
    let consumer: BaseConsumer = config.create().expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = std::time::Instant::now() + TIMEOUT;
    let mut seen = 0;
    while seen < count {
        assert!(std::time::Instant::now() < deadline, "consumed {seen} of {count} before the deadline");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                assert!(m.payload().is_some());
                seen += 1;
            }
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    consumer.commit_consumer_state(CommitMode::Sync)?;
    Ok(seen)
}

/// Who may do what, as each client sees it, and the ACLs after a restart.
#[test]
fn acl_matrix_with_real_clients() {
    let mut s = Secured::start();
    for topic in ["orders", "pay-eu", "payments"] {
        let (ok, _, stderr) = s.tool("admin", "topics", &["--create", "--topic", topic, "--partitions", "1"]);
        assert!(ok, "admin creates {topic}: {stderr}");
    }
    let (alice, bob) = (s.client("alice"), s.client("bob"));

    // No ACL: nothing is visible, nothing may be written or read.
    assert_eq!(listed_topics(&bob), Vec::<String>::new(), "Metadata hides topics bob may not describe");
    let refused = produce(&bob, "orders", 1).expect_err("bob may not write");
    assert_eq!(refused.rdkafka_error_code(), Some(RDKafkaErrorCode::TopicAuthorizationFailed), "{refused}");

    s.acls("admin", "--add --allow-principal User:alice --operation Write --operation Read --topic orders");
    s.acls(
        "admin",
        "--add --allow-principal User:alice --operation Read --group app- --resource-pattern-type prefixed",
    );
    s.acls("admin", "--add --allow-principal User:bob --producer --topic pay- --resource-pattern-type prefixed");
    produce(&alice, "orders", 10).expect("alice writes orders");
    assert_eq!(listed_topics(&alice), vec!["orders".to_string()], "alice sees only what she may describe");
    assert_eq!(consume(&alice, "app-billing", "orders", 10).expect("alice reads in group app-billing"), 10);
    let group_refused = consume(&alice, "reports", "orders", 1).expect_err("no ACL on group reports");
    assert_eq!(group_refused.rdkafka_error_code(), Some(RDKafkaErrorCode::GroupAuthorizationFailed), "{group_refused}");

    // A prefix names pay-eu, not payments.
    produce(&bob, "pay-eu", 3).expect("bob writes pay-eu through the prefix");
    let refused = produce(&bob, "payments", 1).expect_err("pay- does not name payments");
    assert_eq!(refused.rdkafka_error_code(), Some(RDKafkaErrorCode::TopicAuthorizationFailed));

    // Deny beats allow, even through a wildcard principal.
    s.acls("admin", "--add --deny-principal User:* --operation Write --topic orders");
    let denied = produce(&alice, "orders", 1).expect_err("a deny wins over alice's allow");
    assert_eq!(denied.rdkafka_error_code(), Some(RDKafkaErrorCode::TopicAuthorizationFailed));
    produce(&s.client("admin"), "orders", 1).expect("a super user passes every ACL");

    // Administration needs its own ACLs.
    let (ok, _, stderr) = s.tool("alice", "topics", &["--delete", "--topic", "orders"]);
    assert!(!ok && stderr.contains("TopicAuthorizationFailed"), "alice may not delete orders: {stderr}");
    let (ok, _, stderr) = s.tool("alice", "acls", &["--add", "--allow-principal", "User:alice", "--cluster"]);
    assert!(!ok && stderr.contains("ClusterAuthorizationFailed"), "alice may not grant herself: {stderr}");
    let (ok, _, stderr) = s.tool("bob", "topics", &["--create", "--topic", "bobs", "--partitions", "1"]);
    assert!(!ok && stderr.contains("TopicAuthorizationFailed"), "bob may not create topics: {stderr}");

    // The ACLs are metadata: a restart keeps them, and removing one takes effect.
    s.restart();
    let listed = s.acls("admin", "--list --topic orders");
    assert!(listed.contains("(principal=User:*, host=*, operation=WRITE, permissionType=DENY)"), "{listed}");
    let alice = s.client("alice");
    assert_eq!(
        produce(&alice, "orders", 1).expect_err("still denied").rdkafka_error_code(),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed)
    );
    let removed = s.acls("admin", "--remove --deny-principal User:* --operation Write --topic orders");
    assert!(removed.contains("Removing ACLs"), "{removed}");
    eventually(TIMEOUT, "alice writes again", || produce(&alice, "orders", 1).ok());
}

/// Without an authorizer the ACL APIs answer SECURITY_DISABLED (as Kafka's), and `brook acls`
/// says so instead of retrying.
#[test]
fn acl_apis_without_authorizer_are_security_disabled() {
    let brook = Brook::start(&[]);
    let mut conn = Conn::open(&brook.addr);
    let request = DescribeAclsRequest::default()
        .with_resource_type_filter(1)
        .with_pattern_type_filter(1)
        .with_operation(1)
        .with_permission_type(1);
    let ResponseKind::DescribeAcls(response) = conn.call(ApiKey::DescribeAcls, 3, &request) else {
        panic!("DescribeAcls")
    };
    assert_eq!(response.error_code, ResponseError::SecurityDisabled.code());
    let output = Command::new(brook_bin())
        .args(["acls", "--bootstrap-server", &brook.addr, "--list"])
        .output()
        .expect("run brook acls");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("SecurityDisabled"), "{stderr}");
}

/// Kafka's own kafka-acls adds, lists and removes ACLs on Brook, and its ACLs take effect.
#[test]
fn kafka_acls_tool_runs_unchanged() {
    let s = Secured::start();
    let (ok, _, stderr) = s.tool("admin", "topics", &["--create", "--topic", "audit", "--partitions", "1"]);
    assert!(ok, "{stderr}");
    let kafka_acls = |args: &[&str]| {
        let output = Command::new("java")
            .args(["-cp", &common::kafka::classpath(), "org.apache.kafka.tools.AclCommand"])
            .args(["--bootstrap-server", &s.addr, "--command-config", path(&s.properties("admin"))])
            .args(args)
            .output()
            .expect("run kafka-acls");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "kafka-acls {args:?}: {stdout}{}", String::from_utf8_lossy(&output.stderr));
        stdout
    };
    kafka_acls(&["--add", "--allow-principal", "User:bob", "--producer", "--topic", "audit"]);
    let listed = kafka_acls(&["--list", "--topic", "audit"]);
    for op in ["WRITE", "DESCRIBE", "CREATE"] {
        assert!(
            listed.contains(&format!("(principal=User:bob, host=*, operation={op}, permissionType=ALLOW)")),
            "{listed}"
        );
    }
    produce(&s.client("bob"), "audit", 5).expect("bob writes with kafka-acls' ACLs");
    kafka_acls(&["--remove", "--force", "--allow-principal", "User:bob", "--producer", "--topic", "audit"]);
    let listed = s.acls("admin", "--list --topic audit");
    assert!(!listed.contains("User:bob"), "{listed}");
    let refused = produce(&s.client("bob"), "audit", 1).expect_err("the ACLs are gone");
    assert_eq!(refused.rdkafka_error_code(), Some(RDKafkaErrorCode::TopicAuthorizationFailed));
}

/// The console's API once the broker has an authorizer: a login with a SASL user (PLAIN from
/// the configuration, SCRAM from the metadata), wrong ones refused; then the user's ACLs, as a
/// Kafka client's; writes only with the session's CSRF token and a JSON body; logout ends it.
#[test]
fn console_logins_act_as_the_user_under_acls() {
    let s = Secured::start();
    let base = s.brook.console.clone().expect("console");
    let (ok, _, stderr) = s.tool(
        "admin",
        "configs",
        &[
            "--alter",
            "--entity-type",
            "users",
            "--entity-name",
            "carol",
            "--add-config",
            "SCRAM-SHA-256=[password=carol-pw]",
        ],
    );
    assert!(ok, "{stderr}");

    // Nothing without a login; the page itself loads (it shows the login form).
    let anonymous = http::get(&base, "/api/topics");
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert_eq!(anonymous.json()["login_required"], true);
    assert_eq!(http::get(&base, "/").status, 200);
    assert_eq!(http::get(&base, "/api/session").status, 401);
    for (user, password) in [("alice", "wrong"), ("mallory", "alice-secret"), ("carol", "carol-secret"), ("", "")] {
        let refused = login(&base, user, password);
        assert_eq!(refused.status, 401, "{user}: {}", refused.body);
        assert!(refused.header("set-cookie").is_none(), "no session for {user}");
    }

    let admin = Login::new(&base, "admin", "admin-secret");
    assert!(admin.cookie_attributes.contains("HttpOnly") && admin.cookie_attributes.contains("SameSite=Strict"));
    for topic in ["orders", "secret"] {
        let created = admin.send("POST", "/api/topics", Some(&format!(r#"{{"name":"{topic}","partitions":1}}"#)));
        assert_eq!(created.status, 201, "{}", created.body);
    }
    // Writes need the CSRF token and a JSON body: a cross-site form or script has neither.
    let body = Some(r#"{"name":"forged"}"#);
    let cookie = [("cookie", admin.cookie.as_str()), ("content-type", "application/json")];
    assert_eq!(http::request_with(&base, "POST", "/api/topics", body, &cookie).status, 403, "no CSRF token");
    let wrong = [("cookie", admin.cookie.as_str()), ("content-type", "application/json"), ("x-csrf-token", "guess")];
    assert_eq!(http::request_with(&base, "POST", "/api/topics", body, &wrong).status, 403, "a wrong CSRF token");
    let form = [("cookie", admin.cookie.as_str()), ("x-csrf-token", &admin.csrf), ("content-type", "text/plain")];
    assert_eq!(http::request_with(&base, "POST", "/api/topics", body, &form).status, 415, "a text body");
    assert_eq!(http::request_with(&base, "DELETE", "/api/topics/orders", None, &cookie[..1]).status, 403);
    let names = |login: &Login| -> Vec<String> {
        let list = login.send("GET", "/api/topics", None).json();
        list["topics"].as_array().expect("topics").iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names(&admin), ["orders", "secret"], "nothing forged was created");

    // bob has no ACL: sees nothing, may do nothing, whether the topic exists or not.
    let bob = Login::new(&base, "bob", "bob-secret");
    assert_eq!(names(&bob), Vec::<String>::new());
    for (method, path, body) in [
        ("DELETE", "/api/topics/orders", None),
        ("GET", "/api/topics/orders", None),
        ("GET", "/api/topics/nowhere", None),
        ("GET", "/api/topics/orders/messages", None),
        ("POST", "/api/topics/orders/messages", Some(r#"{"value":"x"}"#)),
        ("POST", "/api/topics", Some(r#"{"name":"bobs"}"#)),
    ] {
        let refused = bob.send(method, path, body);
        assert_eq!(refused.status, 403, "{method} {path}: {}", refused.body);
        assert_eq!(refused.json()["kafka_error"], "TOPIC_AUTHORIZATION_FAILED", "{method} {path}");
    }
    assert_eq!(bob.send("GET", "/api/overview", None).json()["topics"], 0, "the overview counts what bob sees");

    // With READ on orders, bob sees and reads it; deleting and writing still need their ACLs.
    s.acls("admin", "--add --allow-principal User:bob --operation Read --topic orders");
    let produced = admin.send("POST", "/api/topics/orders/messages", Some(r#"{"key":"k","value":"paid"}"#));
    assert_eq!(produced.status, 200, "{}", produced.body);
    eventually(TIMEOUT, "bob sees orders", || (names(&bob) == ["orders"]).then_some(()));
    let read = bob.send("GET", "/api/topics/orders/messages?offset=0", None);
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.json()["messages"][0]["value"]["text"], "paid", "{}", read.body);
    assert_eq!(bob.send("GET", "/api/topics/orders", None).json()["configs"], Value::Null, "no DESCRIBE_CONFIGS");
    assert_eq!(bob.send("DELETE", "/api/topics/orders", None).status, 403);
    assert_eq!(bob.send("PUT", "/api/topics/orders/configs", Some(r#"{"configs":{"retention.ms":"1"}}"#)).status, 403);
    s.acls("admin", "--add --allow-principal User:bob --operation Delete --topic orders");
    let deleted = eventually(TIMEOUT, "bob's DELETE ACL applies", || {
        Some(bob.send("DELETE", "/api/topics/orders", None)).filter(|r| r.status != 403)
    });
    assert_eq!(deleted.status, 204, "{}", deleted.body);

    // A SCRAM user from the metadata logs in with its password.
    let carol = Login::new(&base, "carol", "carol-pw");
    assert_eq!(names(&carol), Vec::<String>::new());

    // Logging out ends the session: its cookie no longer works.
    assert_eq!(bob.send("POST", "/api/logout", None).status, 204);
    assert_eq!(bob.send("GET", "/api/topics", None).status, 401);
    assert_eq!(names(&admin), ["secret"], "other sessions go on");
}

/// A console session: its cookie (`name=value`) and CSRF token.
struct Login {
    base: String,
    cookie: String,
    cookie_attributes: String,
    csrf: String,
}

fn login(base: &str, user: &str, password: &str) -> http::Response {
    let body = serde_json::json!({ "username": user, "password": password }).to_string();
    http::post(base, "/api/login", &body)
}

impl Login {
    fn new(base: &str, user: &str, password: &str) -> Login {
        let response = login(base, user, password);
        assert_eq!(response.status, 200, "{user} logs in: {}", response.body);
        let set_cookie = response.header("set-cookie").expect("a session cookie").to_string();
        let (cookie, attributes) = set_cookie.split_once(';').expect("cookie attributes");
        let csrf = response.json()["csrf_token"].as_str().expect("a CSRF token").to_string();
        Login { base: base.to_string(), cookie: cookie.to_string(), cookie_attributes: attributes.to_string(), csrf }
    }

    fn send(&self, method: &str, path: &str, body: Option<&str>) -> http::Response {
        let headers = [
            ("cookie", self.cookie.as_str()),
            ("x-csrf-token", self.csrf.as_str()),
            ("content-type", "application/json"),
        ];
        http::request_with(&self.base, method, path, body, &headers[..if body.is_some() { 3 } else { 2 }])
    }
}

/// The console behind a login in Chromium, over HTTPS: login required, a wrong password
/// refused, bob (DESCRIBE but no DELETE on orders) cannot delete it from the console, a write
/// without the CSRF token refused, the cookie Secure and HttpOnly, logout, admin deletes it.
#[test]
fn console_login_in_a_browser() {
    let pki = common::certs::Pki::new("console");
    let keystore = pki.server_pem("console");
    let s = Secured::start_with(&[&format!("console.ssl.keystore.location={}", path(&keystore))]);
    let base = s.brook.console.clone().expect("console");
    assert!(base.starts_with("https://"), "{base}");
    let (ok, _, stderr) = s.tool("admin", "topics", &["--create", "--topic", "orders", "--partitions", "1"]);
    assert!(ok, "{stderr}");
    s.acls("admin", "--add --allow-principal User:bob --operation Describe --topic orders");

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    assert!(
        root.join("tests/browser/node_modules/playwright-core").exists(),
        "run `npm ci --prefix tests/browser` (./scripts/test does) to install playwright-core"
    );
    let status = Command::new("node")
        .arg(root.join("tests/browser/login.mjs"))
        .env("BROOK_CONSOLE", &base)
        .env("SCREENSHOTS", root.join("target/console-screenshots"))
        .status()
        .expect("run node");
    assert!(status.success(), "the browser test failed: {status}");

    // What the browser did, seen by a Kafka client: admin's delete happened, bob's and the
    // forged create did not.
    let topics = eventually(TIMEOUT, "orders deleted", || {
        Some(listed_topics(&s.client("admin"))).filter(|t| !t.contains(&"orders".to_string()))
    });
    assert!(!topics.contains(&"forged".to_string()), "{topics:?}");
}
