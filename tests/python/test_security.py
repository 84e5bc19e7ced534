"""TLS with Python clients: kafka-python (Python's own ssl module) and confluent-kafka
(librdkafka over OpenSSL) produce and consume over an SSL listener with mutual TLS; a
client without a certificate is refused. Certificates come from the openssl command."""

import subprocess
import time

import pytest
from confluent_kafka import Consumer, Producer
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaTimeoutError

from conftest import Brook, free_port


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture
def pki(tmp_path):
    """A CA, a server keystore (key then certificate, as Kafka's PEM keystore file holds
    them) for 127.0.0.1, and a client certificate for CN=analyst."""
    d = tmp_path / "pki"
    d.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test CA",
            "-keyout", d / "ca.key", "-out", d / "ca.pem")
    for name, cn in [("server", "broker"), ("client", "analyst")]:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/O=Brook tests/CN={cn}",
                "-keyout", d / f"{name}.key", "-out", d / f"{name}.csr")
        (d / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        openssl("x509", "-req", "-in", d / f"{name}.csr", "-CA", d / "ca.pem", "-CAkey", d / "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", d / f"{name}.ext", "-out", d / f"{name}.pem")
    (d / "keystore.pem").write_text((d / "server.key").read_text() + (d / "server.pem").read_text())
    return d


@pytest.fixture
def tls_brook(tmp_path, pki):
    port = free_port()
    b = Brook(tmp_path / "data", f"listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:{port}",
              f"ssl.keystore.location={pki / 'keystore.pem'}", f"ssl.truststore.location={pki / 'ca.pem'}",
              "ssl.client.auth=required")
    b.tls_bootstrap = f"127.0.0.1:{port}"
    yield b
    b.kill()


def consume_values(bootstrap, topic, count, **config):
    """The first `count` values of `topic`, read by a kafka-python group member."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"{topic}-readers",
                             auto_offset_reset="earliest", consumer_timeout_ms=1000, **config)
    got, deadline = [], time.time() + 30
    while len(got) < count and time.time() < deadline:
        got += [m.value.decode() for m in consumer]
    consumer.close()
    return got


def test_kafka_python_over_mutual_tls(tls_brook, pki):
    ssl = dict(security_protocol="SSL", ssl_cafile=str(pki / "ca.pem"), ssl_certfile=str(pki / "client.pem"),
               ssl_keyfile=str(pki / "client.key"))
    producer = KafkaProducer(bootstrap_servers=tls_brook.tls_bootstrap, acks="all", **ssl)
    for i in range(20):
        producer.send("tls-python", key=b"k", value=f"v{i}".encode()).get(timeout=10)
    producer.close()
    assert consume_values(tls_brook.tls_bootstrap, "tls-python", 20, **ssl) == [f"v{i}" for i in range(20)]
    # Without a client certificate the handshake fails: no broker is reachable.
    with pytest.raises(KafkaTimeoutError):
        KafkaProducer(bootstrap_servers=tls_brook.tls_bootstrap, security_protocol="SSL",
                      ssl_cafile=str(pki / "ca.pem"), bootstrap_timeout_ms=3000)


def test_confluent_kafka_over_mutual_tls(tls_brook, pki):
    ssl = {"security.protocol": "ssl", "ssl.ca.location": str(pki / "ca.pem"),
           "ssl.certificate.location": str(pki / "client.pem"), "ssl.key.location": str(pki / "client.key")}
    producer = Producer({"bootstrap.servers": tls_brook.tls_bootstrap, **ssl})
    delivered = []
    for i in range(20):
        producer.produce("tls-confluent", value=f"v{i}".encode(),
                         on_delivery=lambda err, msg: delivered.append(err))
    assert producer.flush(30) == 0
    assert delivered == [None] * 20
    consumer = Consumer({"bootstrap.servers": tls_brook.tls_bootstrap, "group.id": "tls-readers",
                         "auto.offset.reset": "earliest", **ssl})
    consumer.subscribe(["tls-confluent"])
    got, deadline = [], time.time() + 30
    while len(got) < 20 and time.time() < deadline:
        m = consumer.poll(0.5)
        if m is not None and m.error() is None:
            got.append(m.value().decode())
    consumer.close()
    assert got == [f"v{i}" for i in range(20)]


@pytest.fixture
def sasl_brook(tmp_path, pki):
    port = free_port()
    jaas = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
            'user_alice="alice-secret";')
    b = Brook(tmp_path / "data", f"listeners=PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:{port}",
              f"ssl.keystore.location={pki / 'keystore.pem'}", "sasl.enabled.mechanisms=PLAIN",
              f"listener.name.sasl_ssl.plain.sasl.jaas.config={jaas}")
    b.sasl_bootstrap = f"127.0.0.1:{port}"
    yield b
    b.kill()


def test_kafka_python_sasl_plain_over_tls(sasl_brook, pki, caplog):
    sasl = dict(security_protocol="SASL_SSL", ssl_cafile=str(pki / "ca.pem"), sasl_mechanism="PLAIN",
                sasl_plain_username="alice", sasl_plain_password="alice-secret")
    producer = KafkaProducer(bootstrap_servers=sasl_brook.sasl_bootstrap, acks="all", **sasl)
    for i in range(10):
        producer.send("sasl-python", value=f"v{i}".encode()).get(timeout=10)
    producer.close()
    assert consume_values(sasl_brook.sasl_bootstrap, "sasl-python", 10, **sasl) == [f"v{i}" for i in range(10)]
    # A wrong password: Kafka's SASL_AUTHENTICATION_FAILED, which kafka-python logs and retries
    # until its bootstrap timeout.
    wrong = dict(sasl, sasl_plain_password="wrong")
    with pytest.raises(KafkaTimeoutError):
        KafkaProducer(bootstrap_servers=sasl_brook.sasl_bootstrap, bootstrap_timeout_ms=3000, **wrong)
    assert "SaslAuthenticationFailedError: Authentication failed: Invalid username or password" in caplog.text


def test_scram_users_from_confluent_admin_and_kafka_python_login(tmp_path, pki):
    """confluent-kafka's admin API (librdkafka's AlterUserScramCredentials) makes a SCRAM user;
    kafka-python logs in with SCRAM-SHA-256 over SASL_SSL, a wrong password is refused."""
    from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                       UserScramCredentialUpsertion)
    port = free_port()
    b = Brook(tmp_path / "data", f"listeners=PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:{port}",
              f"ssl.keystore.location={pki / 'keystore.pem'}", "sasl.enabled.mechanisms=SCRAM-SHA-256")
    try:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096)
        futures = admin.alter_user_scram_credentials([UserScramCredentialUpsertion("carol", info, b"carol-secret")])
        futures["carol"].result(timeout=30)
        described = admin.describe_user_scram_credentials(["carol"])["carol"].result(timeout=30)
        assert [(i.mechanism, i.iterations) for i in described.scram_credential_infos] == \
            [(ScramMechanism.SCRAM_SHA_256, 4096)]

        sasl = dict(security_protocol="SASL_SSL", ssl_cafile=str(pki / "ca.pem"), sasl_mechanism="SCRAM-SHA-256",
                    sasl_plain_username="carol", sasl_plain_password="carol-secret")
        bootstrap = f"127.0.0.1:{port}"
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", **sasl)
        for i in range(5):
            producer.send("scram-python", value=f"v{i}".encode()).get(timeout=10)
        producer.close()
        assert consume_values(bootstrap, "scram-python", 5, **sasl) == [f"v{i}" for i in range(5)]
        with pytest.raises(KafkaTimeoutError):
            KafkaProducer(bootstrap_servers=bootstrap, bootstrap_timeout_ms=3000,
                          **dict(sasl, sasl_plain_password="wrong"))
    finally:
        b.kill()


def test_acls_from_confluent_admin_enforced_on_kafka_python(tmp_path):
    """confluent-kafka's admin API (a super user) creates a topic and ACLs; kafka-python as
    alice is refused with Kafka's TopicAuthorizationFailedError until they exist, then writes
    and reads in the group the ACLs name."""
    from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType,
                                       AdminClient, NewTopic, ResourcePatternType, ResourceType)
    from kafka.errors import TopicAuthorizationFailedError
    port = free_port()
    b = Brook(tmp_path / "data", f"listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:{port}",
              "sasl.enabled.mechanisms=PLAIN", "sasl.plain.users=admin:admin-secret,alice:alice-secret",
              "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
              "super.users=User:admin")
    bootstrap = f"127.0.0.1:{port}"
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT",
                             "sasl.mechanism": "PLAIN", "sasl.username": "admin", "sasl.password": "admin-secret"})
        admin.create_topics([NewTopic("receipts", 1, 1)])["receipts"].result(timeout=30)
        alice = dict(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                     sasl_plain_username="alice", sasl_plain_password="alice-secret")
        producer = KafkaProducer(bootstrap_servers=bootstrap, max_block_ms=10000, **alice)
        with pytest.raises(TopicAuthorizationFailedError):
            producer.send("receipts", value=b"refused").get(timeout=10)
        producer.close()

        def allow(kind, name, operation):
            return AclBinding(kind, name, ResourcePatternType.LITERAL, "User:alice", "*", operation,
                              AclPermissionType.ALLOW)
        acls = [allow(ResourceType.TOPIC, "receipts", AclOperation.WRITE),
                allow(ResourceType.TOPIC, "receipts", AclOperation.READ),
                allow(ResourceType.GROUP, "receipts-readers", AclOperation.READ)]
        for future in admin.create_acls(acls).values():
            future.result(timeout=30)
        everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                      AclOperation.ANY, AclPermissionType.ANY)
        listed = admin.describe_acls(everything).result(timeout=30)
        assert sorted((a.name, a.operation) for a in listed) == sorted((a.name, a.operation) for a in acls)

        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", **alice)
        for i in range(5):
            producer.send("receipts", value=f"r{i}".encode()).get(timeout=10)
        producer.close()
        assert consume_values(bootstrap, "receipts", 5, **alice) == [f"r{i}" for i in range(5)]
    finally:
        b.kill()
