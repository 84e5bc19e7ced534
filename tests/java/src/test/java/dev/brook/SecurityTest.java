package dev.brook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.errors.SslAuthenticationException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Java client over TLS with the stores Kafka users make with Java's keytool: the broker reads
 * its PKCS12 keystore (key, certificate signed by a test CA, the CA) and trusts the CA for client
 * certificates; the client uses its own PKCS12 keystore and a PEM truststore.
 */
class SecurityTest {
    private static final String PASS = "changeit";

    private static void keytool(Path dir, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("keytool"));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), "keytool " + command + ": " + output);
    }

    /** A PKCS12 keystore `name.p12` holding a key and its certificate for `dname`, signed by the CA in ca.p12. */
    private static void signedKeystore(Path dir, String name, String dname) throws Exception {
        String store = name + ".p12";
        keytool(dir, "-genkeypair", "-alias", name, "-keyalg", "RSA", "-keysize", "2048", "-dname", dname,
                "-keystore", store, "-storetype", "PKCS12", "-storepass", PASS, "-validity", "2");
        keytool(dir, "-certreq", "-alias", name, "-keystore", store, "-storepass", PASS, "-file", name + ".csr");
        keytool(dir, "-gencert", "-alias", "ca", "-keystore", "ca.p12", "-storepass", PASS, "-infile", name + ".csr",
                "-outfile", name + ".crt", "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-validity", "2", "-rfc");
        keytool(dir, "-importcert", "-alias", "ca", "-file", "ca.pem", "-keystore", store, "-storepass", PASS, "-noprompt");
        keytool(dir, "-importcert", "-alias", name, "-file", name + ".crt", "-keystore", store, "-storepass", PASS);
    }

    /** The stores, made once for all tests (keytool starts a JVM per call). */
    private static Path pki;

    @BeforeAll
    static void makeStores() throws Exception {
        pki = makePki();
    }

    private static Path makePki() throws Exception {
        Path dir = Files.createTempDirectory("brook-pki");
        keytool(dir, "-genkeypair", "-alias", "ca", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=Test CA",
                "-ext", "bc:c", "-keystore", "ca.p12", "-storetype", "PKCS12", "-storepass", PASS, "-validity", "2");
        keytool(dir, "-exportcert", "-alias", "ca", "-keystore", "ca.p12", "-storepass", PASS, "-rfc", "-file", "ca.pem");
        signedKeystore(dir, "broker", "CN=broker,O=Brook tests");
        signedKeystore(dir, "client", "CN=analyst,O=Brook tests");
        return dir;
    }

    private static Properties client(String bootstrap, Path pki, boolean withCertificate) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("security.protocol", "SSL");
        props.put("ssl.truststore.type", "PEM");
        props.put("ssl.truststore.location", pki.resolve("ca.pem").toString());
        if (withCertificate) {
            props.put("ssl.keystore.type", "PKCS12");
            props.put("ssl.keystore.location", pki.resolve("client.p12").toString());
            props.put("ssl.keystore.password", PASS);
        }
        return props;
    }

    @Test
    void producesAndConsumesOverMutualTlsWithKeytoolStores() throws Exception {
        int port = Brook.freePort();
        try (Brook brook = Brook.start("listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:" + port,
                "ssl.keystore.type=PKCS12", "ssl.keystore.location=" + pki.resolve("broker.p12"),
                "ssl.keystore.password=" + PASS, "ssl.truststore.location=" + pki.resolve("ca.pem"),
                "ssl.client.auth=required")) {
            String bootstrap = "127.0.0.1:" + port;
            Properties producerProps = client(bootstrap, pki, true);
            producerProps.put("acks", "all");
            try (KafkaProducer<String, String> producer =
                    new KafkaProducer<>(producerProps, new StringSerializer(), new StringSerializer())) {
                for (int i = 0; i < 10; i++) {
                    producer.send(new ProducerRecord<>("tls-java", "k", "v" + i)).get(30, TimeUnit.SECONDS);
                }
            }
            Properties consumerProps = client(bootstrap, pki, true);
            consumerProps.put("group.id", "tls-java-readers");
            consumerProps.put("auto.offset.reset", "earliest");
            List<String> got = new ArrayList<>();
            try (KafkaConsumer<String, String> consumer =
                    new KafkaConsumer<>(consumerProps, new StringDeserializer(), new StringDeserializer())) {
                consumer.subscribe(List.of("tls-java"));
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (got.size() < 10 && System.nanoTime() < deadline) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                        got.add(r.value());
                    }
                }
            }
            assertEquals(List.of("v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9"), got);
            try (Admin admin = Admin.create(client(bootstrap, pki, true))) {
                int advertised = admin.describeCluster().nodes().get(30, TimeUnit.SECONDS).iterator().next().port();
                assertEquals(port, advertised, "a client on the SSL listener is told the SSL port");
            }
            // Without a client certificate: an authentication error at once, not retries.
            Properties anonymous = client(bootstrap, pki, false);
            anonymous.put("default.api.timeout.ms", "60000");
            try (Admin admin = Admin.create(anonymous)) {
                long started = System.nanoTime();
                ExecutionException e = assertThrows(ExecutionException.class,
                        () -> admin.listTopics().names().get(60, TimeUnit.SECONDS));
                assertTrue(e.getCause() instanceof SslAuthenticationException, e.toString());
                assertTrue(System.nanoTime() - started < TimeUnit.SECONDS.toNanos(20), "failed fast");
            }
        }
    }

    /** SASL/PLAIN on a SASL_PLAINTEXT listener; a wrong password fails at once with Kafka's error. */
    @Test
    void saslPlainAndAWrongPassword() throws Exception {
        int port = Brook.freePort();
        try (Brook brook = Brook.start("listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:" + port,
                "sasl.enabled.mechanisms=PLAIN", "sasl.plain.users=alice:alice-secret")) {
            Properties props = new Properties();
            props.put("bootstrap.servers", "127.0.0.1:" + port);
            props.put("security.protocol", "SASL_PLAINTEXT");
            props.put("sasl.mechanism", "PLAIN");
            props.put("sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule required "
                    + "username=\"alice\" password=\"alice-secret\";");
            try (KafkaProducer<String, String> producer =
                    new KafkaProducer<>(props, new StringSerializer(), new StringSerializer())) {
                producer.send(new ProducerRecord<>("sasl-java", "k", "v")).get(30, TimeUnit.SECONDS);
            }
            props.put("sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule required "
                    + "username=\"alice\" password=\"wrong\";");
            props.put("default.api.timeout.ms", "60000");
            try (Admin admin = Admin.create(props)) {
                long started = System.nanoTime();
                ExecutionException e = assertThrows(ExecutionException.class,
                        () -> admin.listTopics().names().get(60, TimeUnit.SECONDS));
                assertTrue(e.getCause() instanceof SaslAuthenticationException, e.toString());
                assertTrue(e.getCause().getMessage().contains("Invalid username or password"), e.toString());
                assertTrue(System.nanoTime() - started < TimeUnit.SECONDS.toNanos(20), "failed fast");
            }
        }
    }

    private static Properties plainUser(int port, String user) {
        Properties props = new Properties();
        props.put("bootstrap.servers", "127.0.0.1:" + port);
        props.put("security.protocol", "SASL_PLAINTEXT");
        props.put("sasl.mechanism", "PLAIN");
        props.put("sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule required "
                + "username=\"" + user + "\" password=\"" + user + "-secret\";");
        return props;
    }

    /**
     * ACLs through the Java Admin API: a producer without WRITE fails at once with
     * TopicAuthorizationException (no retrying), and succeeds once a super user grants it; the
     * ACL is listed back and deleted.
     */
    @Test
    void aclsFromTheAdminApi() throws Exception {
        int port = Brook.freePort();
        try (Brook brook = Brook.start("listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:" + port,
                        "sasl.enabled.mechanisms=PLAIN", "sasl.plain.users=admin:admin-secret,bob:bob-secret",
                        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                        "super.users=User:admin");
                Admin admin = Admin.create(plainUser(port, "admin"))) {
            admin.createTopics(List.of(new org.apache.kafka.clients.admin.NewTopic("ledger", 1, (short) 1)))
                    .all().get(30, TimeUnit.SECONDS);
            Properties bob = plainUser(port, "bob");
            bob.put("max.block.ms", "30000");
            try (KafkaProducer<String, String> producer =
                    new KafkaProducer<>(bob, new StringSerializer(), new StringSerializer())) {
                long started = System.nanoTime();
                ExecutionException e = assertThrows(ExecutionException.class,
                        () -> producer.send(new ProducerRecord<>("ledger", "k", "v")).get(30, TimeUnit.SECONDS));
                assertTrue(e.getCause() instanceof TopicAuthorizationException, e.toString());
                assertTrue(System.nanoTime() - started < TimeUnit.SECONDS.toNanos(15), "failed fast");
            }
            ResourcePattern ledger = new ResourcePattern(ResourceType.TOPIC, "ledger", PatternType.LITERAL);
            AclBinding write = new AclBinding(ledger,
                    new AccessControlEntry("User:bob", "*", AclOperation.WRITE, AclPermissionType.ALLOW));
            admin.createAcls(List.of(write)).all().get(30, TimeUnit.SECONDS);
            AclBindingFilter bobs = new AclBindingFilter(ResourcePatternFilter.ANY,
                    new AccessControlEntryFilter("User:bob", null, AclOperation.ANY, AclPermissionType.ANY));
            assertEquals(List.of(write), new ArrayList<>(admin.describeAcls(bobs).values().get(30, TimeUnit.SECONDS)));
            try (KafkaProducer<String, String> producer =
                    new KafkaProducer<>(bob, new StringSerializer(), new StringSerializer())) {
                producer.send(new ProducerRecord<>("ledger", "k", "v")).get(30, TimeUnit.SECONDS);
            }
            assertEquals(1, admin.deleteAcls(List.of(bobs)).all().get(30, TimeUnit.SECONDS).size());
            assertTrue(admin.describeAcls(bobs).values().get(30, TimeUnit.SECONDS).isEmpty());
        }
    }

    /**
     * What a principal may not describe stays hidden where Kafka hides it: a KIP-848 regex
     * subscription matches only topics the member may describe; describing a consumer group
     * whose assignment names a topic the caller may not describe is refused with
     * TopicAuthorizationException; describing a transaction leaves such topics out.
     */
    @Test
    void describesHideWhatThePrincipalMayNotDescribe() throws Exception {
        int port = Brook.freePort();
        try (Brook brook = Brook.start("listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:" + port,
                        "sasl.enabled.mechanisms=PLAIN",
                        "sasl.plain.users=admin:admin-secret,alice:alice-secret,bob:bob-secret",
                        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                        "super.users=User:admin", "group.initial.rebalance.delay.ms=0");
                Admin admin = Admin.create(plainUser(port, "admin"))) {
            admin.createTopics(List.of(new org.apache.kafka.clients.admin.NewTopic("orders-eu", 1, (short) 1),
                    new org.apache.kafka.clients.admin.NewTopic("orders-us", 1, (short) 1)))
                    .all().get(30, TimeUnit.SECONDS);
            ResourcePattern regional = new ResourcePattern(ResourceType.GROUP, "regional", PatternType.LITERAL);
            ResourcePattern eu = new ResourcePattern(ResourceType.TOPIC, "orders-eu", PatternType.LITERAL);
            ResourcePattern txn = new ResourcePattern(ResourceType.TRANSACTIONAL_ID, "mixed", PatternType.LITERAL);
            admin.createAcls(List.of(
                    new AclBinding(regional, new AccessControlEntry("User:alice", "*", AclOperation.READ, AclPermissionType.ALLOW)),
                    new AclBinding(eu, new AccessControlEntry("User:alice", "*", AclOperation.READ, AclPermissionType.ALLOW)),
                    new AclBinding(txn, new AccessControlEntry("User:alice", "*", AclOperation.DESCRIBE, AclPermissionType.ALLOW)),
                    new AclBinding(regional, new AccessControlEntry("User:bob", "*", AclOperation.DESCRIBE, AclPermissionType.ALLOW))))
                    .all().get(30, TimeUnit.SECONDS);

            // An open transaction over both topics.
            Properties txnProps = plainUser(port, "admin");
            txnProps.put("transactional.id", "mixed");
            try (KafkaProducer<String, String> producer =
                    new KafkaProducer<>(txnProps, new StringSerializer(), new StringSerializer())) {
                producer.initTransactions();
                producer.beginTransaction();
                producer.send(new ProducerRecord<>("orders-eu", "k", "eu")).get(30, TimeUnit.SECONDS);
                producer.send(new ProducerRecord<>("orders-us", "k", "us")).get(30, TimeUnit.SECONDS);
                try (Admin alice = Admin.create(plainUser(port, "alice"))) {
                    var described = alice.describeTransactions(List.of("mixed")).description("mixed")
                            .get(30, TimeUnit.SECONDS);
                    assertEquals(java.util.Set.of(new org.apache.kafka.common.TopicPartition("orders-eu", 0)),
                            described.topicPartitions(), "orders-us is left out for alice");
                    // describeTopics goes through DescribeTopicPartitions: orders-us is refused by
                    // name, and a listing does not show it.
                    var topics = alice.describeTopics(List.of("orders-eu", "orders-us")).topicNameValues();
                    assertEquals(1, topics.get("orders-eu").get(30, TimeUnit.SECONDS).partitions().size());
                    ExecutionException hidden = assertThrows(ExecutionException.class,
                            () -> topics.get("orders-us").get(30, TimeUnit.SECONDS));
                    assertTrue(hidden.getCause() instanceof TopicAuthorizationException, hidden.toString());
                    assertEquals(java.util.Set.of("orders-eu"), alice.listTopics().names().get(30, TimeUnit.SECONDS));
                    // ListConfigResources needs DESCRIBE_CONFIGS on the cluster, which only admin has;
                    // it lists every topic, the internal ones too, as Kafka does.
                    var topicType = java.util.Set.of(org.apache.kafka.common.config.ConfigResource.Type.TOPIC);
                    var options = new org.apache.kafka.clients.admin.ListConfigResourcesOptions();
                    ExecutionException listing = assertThrows(ExecutionException.class,
                            () -> alice.listConfigResources(topicType, options).all().get(30, TimeUnit.SECONDS));
                    assertTrue(listing.getCause() instanceof org.apache.kafka.common.errors.ClusterAuthorizationException,
                            listing.toString());
                    var listed = admin.listConfigResources(topicType, options).all().get(30, TimeUnit.SECONDS);
                    assertEquals(java.util.Set.of("orders-eu", "orders-us"), listed.stream()
                            .map(org.apache.kafka.common.config.ConfigResource::name)
                            .filter(name -> !name.startsWith("__"))
                            .collect(java.util.stream.Collectors.toSet()));
                }
                producer.commitTransaction();
            }

            // A regex subscription (the consumer protocol) is matched against what alice may describe.
            Properties consumerProps = plainUser(port, "alice");
            consumerProps.put("group.id", "regional");
            consumerProps.put("group.protocol", "consumer");
            consumerProps.put("auto.offset.reset", "earliest");
            try (KafkaConsumer<String, String> consumer =
                    new KafkaConsumer<>(consumerProps, new StringDeserializer(), new StringDeserializer())) {
                consumer.subscribe(java.util.regex.Pattern.compile("orders-.*"));
                List<String> values = new ArrayList<>();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (values.isEmpty() && System.nanoTime() < deadline) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                        values.add(r.value());
                    }
                }
                assertEquals(List.of("eu"), values);
                assertEquals(java.util.Set.of(new org.apache.kafka.common.TopicPartition("orders-eu", 0)),
                        consumer.assignment());

                // bob may describe the group but not orders-eu, which its member is assigned.
                try (Admin bob = Admin.create(plainUser(port, "bob"))) {
                    ExecutionException e = assertThrows(ExecutionException.class,
                            () -> bob.describeConsumerGroups(List.of("regional")).all().get(30, TimeUnit.SECONDS));
                    assertTrue(e.getCause() instanceof TopicAuthorizationException, e.toString());
                }
                var group = admin.describeConsumerGroups(List.of("regional")).describedGroups().get("regional")
                        .get(30, TimeUnit.SECONDS);
                assertEquals(1, group.members().size(), "the super user sees the member");
            }
        }
    }

    /**
     * SCRAM-SHA-512 over SASL_SSL: the Admin API makes the user (AlterUserScramCredentials) and
     * describes it; the producer logs in with Kafka's ScramLoginModule.
     */
    @Test
    void scramUserFromTheAdminApi() throws Exception {
        int port = Brook.freePort();
        try (Brook brook = Brook.start("listeners=PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:" + port,
                "ssl.keystore.type=PKCS12", "ssl.keystore.location=" + pki.resolve("broker.p12"),
                "ssl.keystore.password=" + PASS, "sasl.enabled.mechanisms=SCRAM-SHA-512")) {
            Properties adminProps = new Properties();
            adminProps.put("bootstrap.servers", brook.bootstrap);
            try (Admin admin = Admin.create(adminProps)) {
                admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion("dana",
                        new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), "dana-secret")))
                        .all().get(30, TimeUnit.SECONDS);
                var described = admin.describeUserScramCredentials(List.of("dana")).description("dana")
                        .get(30, TimeUnit.SECONDS);
                assertEquals(List.of(new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)),
                        described.credentialInfos());
            }
            Properties props = new Properties();
            props.put("bootstrap.servers", "127.0.0.1:" + port);
            props.put("security.protocol", "SASL_SSL");
            props.put("ssl.truststore.type", "PEM");
            props.put("ssl.truststore.location", pki.resolve("ca.pem").toString());
            props.put("sasl.mechanism", "SCRAM-SHA-512");
            props.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required "
                    + "username=\"dana\" password=\"dana-secret\";");
            try (KafkaProducer<String, String> producer =
                    new KafkaProducer<>(props, new StringSerializer(), new StringSerializer())) {
                producer.send(new ProducerRecord<>("scram-java", "k", "v")).get(30, TimeUnit.SECONDS);
            }
        }
    }
}
