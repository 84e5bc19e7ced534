package dev.brook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TransactionalIdNotFoundException;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.junit.jupiter.api.Test;

/** Kafka transactions with the Java client and Kafka Streams exactly_once_v2. */
class TransactionsTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private static KafkaProducer<String, String> transactional(Brook brook, String id) {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap);
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, id);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return new KafkaProducer<>(props);
    }

    /** Every record of `topic` from the start to its end as `isolation` reads it: key -> values. */
    private static <V> Map<String, List<V>> readAll(Brook brook, String topic, String isolation,
            Class<?> valueDeserializer) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap);
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, valueDeserializer.getName());
        Map<String, List<V>> got = new HashMap<>();
        try (KafkaConsumer<String, V> consumer = new KafkaConsumer<>(props)) {
            List<TopicPartition> partitions = new ArrayList<>();
            consumer.partitionsFor(topic, TIMEOUT).forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> ends = consumer.endOffsets(partitions, TIMEOUT);
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            while (partitions.stream().anyMatch(p -> consumer.position(p, TIMEOUT) < ends.get(p))) {
                assertTrue(System.nanoTime() < deadline, "read to the end of " + topic);
                for (ConsumerRecord<String, V> r : consumer.poll(Duration.ofMillis(200))) {
                    got.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(r.value());
                }
            }
        }
        return got;
    }

    @Test
    void commitAbortReadCommittedAndFencing() throws Exception {
        try (Brook brook = Brook.start();
                Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap))) {
            admin.createTopics(List.of(new NewTopic("payments", 2, (short) 1))).all().get();
            KafkaProducer<String, String> first = transactional(brook, "payments-app");
            first.initTransactions();
            first.beginTransaction();
            first.send(new ProducerRecord<>("payments", "alice", "c1"));
            first.send(new ProducerRecord<>("payments", "bob", "c2"));
            first.commitTransaction();
            first.beginTransaction();
            first.send(new ProducerRecord<>("payments", "alice", "a1"));
            first.flush();
            first.abortTransaction();
            // Transactions version 2 (KIP-890), as with Kafka 4: partitions are added by their
            // leaders, and every commit or abort bumps the epoch (0 after init, 2 now).
            TransactionDescription ended =
                    admin.describeTransactions(List.of("payments-app")).description("payments-app").get();
            assertEquals(2, ended.producerEpoch(), ended.toString());

            // A second producer with the id fences the first: the zombie's write is refused
            // (INVALID_PRODUCER_EPOCH, abortable), its commit fails, and its abort learns that
            // it was fenced, for good.
            try (KafkaProducer<String, String> second = transactional(brook, "payments-app")) {
                second.initTransactions();
                first.beginTransaction();
                first.send(new ProducerRecord<>("payments", "alice", "zombie"));
                KafkaException failed = assertThrows(KafkaException.class, first::commitTransaction);
                if (!isFenced(failed)) {
                    KafkaException fenced = assertThrows(KafkaException.class, first::abortTransaction);
                    assertTrue(isFenced(fenced), fenced.toString());
                }
                first.close(Duration.ZERO);
                second.beginTransaction();
                second.send(new ProducerRecord<>("payments", "bob", "c3"));
                second.commitTransaction();
            }

            Map<String, List<String>> committed = readAll(brook, "payments", "read_committed", StringDeserializer.class);
            assertEquals(Map.of("alice", List.of("c1"), "bob", List.of("c2", "c3")), committed);
            Map<String, List<String>> everything =
                    readAll(brook, "payments", "read_uncommitted", StringDeserializer.class);
            assertEquals(List.of("c1", "a1"), everything.get("alice").subList(0, 2));
        }
    }

    private static boolean isFenced(KafkaException e) {
        return e instanceof ProducerFencedException || e.getCause() instanceof ProducerFencedException;
    }

    /** Admin.describeTransactions and listTransactions, which `kafka-transactions` uses. */
    @Test
    void describeAndListTransactions() throws Exception {
        try (Brook brook = Brook.start();
                Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap));
                KafkaProducer<String, String> producer = transactional(brook, "audit-app")) {
            admin.createTopics(List.of(new NewTopic("audit", 2, (short) 1))).all().get();
            producer.initTransactions();
            producer.beginTransaction();
            producer.send(new ProducerRecord<>("audit", 1, "k", "v")).get();
            TransactionDescription open = admin.describeTransactions(List.of("audit-app")).description("audit-app").get();
            assertEquals(TransactionState.ONGOING, open.state());
            assertEquals(Set.of(new TopicPartition("audit", 1)), open.topicPartitions());
            assertTrue(open.transactionStartTimeMs().isPresent(), open.toString());
            assertEquals(1, open.coordinatorId(), "node.id 1, the only broker");
            List<TransactionListing> listed = new ArrayList<>(admin.listTransactions().all().get());
            assertEquals(1, listed.size(), listed.toString());
            assertEquals("audit-app", listed.get(0).transactionalId());
            assertEquals(open.producerId(), listed.get(0).producerId());
            assertEquals(TransactionState.ONGOING, listed.get(0).state());
            producer.commitTransaction();
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            while (admin.describeTransactions(List.of("audit-app")).description("audit-app").get().state()
                    != TransactionState.COMPLETE_COMMIT) {
                assertTrue(System.nanoTime() < deadline, "the commit completes");
                Thread.sleep(50);
            }
            ExecutionException unknown = assertThrows(ExecutionException.class,
                    () -> admin.describeTransactions(List.of("nobody")).all().get());
            assertTrue(unknown.getCause() instanceof TransactionalIdNotFoundException, unknown.toString());
        }
    }

    /** Sends `count` purchases keyed by order id, each naming one of seven customers. */
    static void purchases(Brook brook, int from, int count, Map<String, Long> expected) {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            for (int i = from; i < from + count; i++) {
                String customer = "customer-" + (i % 7);
                // Keyed by order; the topology re-keys by customer (a repartition step).
                producer.send(new ProducerRecord<>("purchases", "order-" + i, customer));
                expected.merge(customer, 1L, Long::sum);
            }
        }
    }

    /** Waits until the latest count per customer that read_committed shows is `expected`. */
    private static void awaitCounts(Brook brook, KafkaStreams streams, Map<String, Long> expected) throws Exception {
        awaitCounts(brook, () -> streams.state() != KafkaStreams.State.ERROR, expected);
    }

    static void awaitCounts(Brook brook, BooleanSupplier alive, Map<String, Long> expected)
            throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        Map<String, Long> latest = new HashMap<>();
        while (!latest.equals(expected)) {
            assertTrue(alive.getAsBoolean(), "the Streams application failed");
            assertTrue(System.nanoTime() < deadline, "counts " + latest + ", expected " + expected);
            Thread.sleep(200);
            Map<String, List<Long>> counts = readAll(brook, "purchase-counts", "read_committed", LongDeserializer.class);
            latest.clear();
            counts.forEach((customer, values) -> latest.put(customer, values.get(values.size() - 1)));
        }
    }

    /**
     * The overview's stream processing with exactly_once_v2: purchases counted per customer
     * through a repartition topic and a state store; the counts read with read_committed are
     * exactly the number of purchases per customer, also across a kill -9 of the broker in
     * the middle of the stream.
     */
    @Test
    void exactlyOnceStreamsCountPurchases() throws Exception {
        Brook brook = Brook.start();
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap))) {
            admin.createTopics(List.of(new NewTopic("purchases", 2, (short) 1),
                    new NewTopic("purchase-counts", 2, (short) 1))).all().get();
        }
        Map<String, Long> expected = new HashMap<>();
        purchases(brook, 0, 200, expected);
        Properties props = CountPurchasesApp.config(brook.bootstrap, brook.data.resolve("streams").toString());
        try (KafkaStreams streams = new KafkaStreams(CountPurchasesApp.topology().build(), props)) {
            streams.start();
            awaitCounts(brook, streams, expected);
            // kill -9 of the broker while the application is counting a burst of purchases
            // (in the middle of its transactions), then more purchases after the restart.
            purchases(brook, 200, 300, expected);
            brook.kill();
            brook = brook.restart();
            purchases(brook, 500, 100, expected);
            awaitCounts(brook, streams, expected);
        } finally {
            brook.close();
        }
    }

    /** `CountPurchasesApp` in a JVM of its own, once it runs. */
    static Process countingProcess(Brook brook, String stateDir, String... protocol) throws Exception {
        String javaBin = ProcessHandle.current().info().command().orElse("java");
        List<String> command = new ArrayList<>(List.of(javaBin, "-cp", System.getProperty("java.class.path"),
                CountPurchasesApp.class.getName(), brook.bootstrap, stateDir));
        command.addAll(List.of(protocol));
        Process app = new ProcessBuilder(command)
                .redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
        BufferedReader out = new BufferedReader(new InputStreamReader(app.getInputStream(), StandardCharsets.UTF_8));
        String line;
        while ((line = out.readLine()) != null && !line.equals("RUNNING")) {
            // SLF4J's notices come first.
        }
        assertEquals("RUNNING", line, "the Streams process started");
        return app;
    }

    /**
     * kill -9 of the Streams process itself in the middle of a burst of purchases (with
     * transactions open): a new process with the same state directory takes over (fencing the
     * dead one's transactional id and aborting what it left open), and the counts read with
     * read_committed are exact.
     */
    @Test
    void exactlyOnceSurvivesKillOfTheStreamsProcess() throws Exception {
        try (Brook brook = Brook.start()) {
            try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap))) {
                admin.createTopics(List.of(new NewTopic("purchases", 2, (short) 1),
                        new NewTopic("purchase-counts", 2, (short) 1))).all().get();
            }
            String stateDir = brook.data.resolve("streams-app").toString();
            Map<String, Long> expected = new HashMap<>();
            purchases(brook, 0, 200, expected);
            Process first = countingProcess(brook, stateDir);
            Process second = null;
            try {
                awaitCounts(brook, first::isAlive, expected);
                purchases(brook, 200, 2000, expected);
                first.destroyForcibly().waitFor();
                second = countingProcess(brook, stateDir);
                purchases(brook, 2200, 100, expected);
                awaitCounts(brook, second::isAlive, expected);
            } finally {
                first.destroyForcibly().waitFor();
                if (second != null) {
                    second.destroyForcibly().waitFor();
                }
            }
        }
    }
}
