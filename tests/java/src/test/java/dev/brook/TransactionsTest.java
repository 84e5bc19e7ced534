package dev.brook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.Stores;
import org.junit.jupiter.api.Test;

/**
 * Transactions are not built yet: every client that needs them must fail at once with a message
 * that says so, not retry the transaction coordinator's lookup until a timeout.
 */
class TransactionsTest {
    private static final String REFUSAL = "Transactions are not supported by Brook yet";
    private static final Duration AT_ONCE = Duration.ofSeconds(10);

    /** The message of `e` and of every cause under it. */
    private static String messages(Throwable e) {
        StringBuilder all = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            all.append(t).append('\n');
        }
        return all.toString();
    }

    @Test
    void initTransactionsFailsAtOnce() throws Exception {
        try (Brook brook = Brook.start()) {
            Properties props = new Properties();
            props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap);
            props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "payments");
            props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
                long started = System.nanoTime();
                KafkaException refused = assertThrows(KafkaException.class, producer::initTransactions);
                Duration took = Duration.ofNanos(System.nanoTime() - started);
                assertTrue(messages(refused).contains(REFUSAL), messages(refused));
                assertTrue(took.compareTo(AT_ONCE) < 0, "refused after " + took);
            }
        }
    }

    @Test
    void describeTransactionsFailsAtOnce() throws Exception {
        try (Brook brook = Brook.start();
                Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap))) {
            long started = System.nanoTime();
            ExecutionException refused = assertThrows(ExecutionException.class,
                    () -> admin.describeTransactions(List.of("payments")).all().get());
            Duration took = Duration.ofNanos(System.nanoTime() - started);
            assertTrue(took.compareTo(AT_ONCE) < 0, "refused after " + took + ": " + messages(refused));
            assertTrue(!messages(refused).contains("TimeoutException"), messages(refused));
        }
    }

    /** Kafka Streams with exactly_once_v2 stops in ERROR, its stream thread's failure saying why. */
    @Test
    void exactlyOnceStreamsFailAtOnce() throws Exception {
        try (Brook brook = Brook.start();
                Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap))) {
            admin.createTopics(List.of(new NewTopic("purchases", 1, (short) 1))).all().get();
            StreamsBuilder builder = new StreamsBuilder();
            builder.stream("purchases", Consumed.with(Serdes.String(), Serdes.String())).groupByKey()
                    .count(Materialized.<String, Long>as(Stores.inMemoryKeyValueStore("counts")))
                    .toStream().to("purchase-counts", Produced.with(Serdes.String(), Serdes.Long()));
            Properties props = new Properties();
            props.put(StreamsConfig.APPLICATION_ID_CONFIG, "purchase-counter");
            props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap);
            props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
            props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
            props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
            props.put(StreamsConfig.STATE_DIR_CONFIG, brook.data.resolve("streams").toString());
            AtomicReference<Throwable> failure = new AtomicReference<>();
            try (KafkaStreams streams = new KafkaStreams(builder.build(), props)) {
                streams.setUncaughtExceptionHandler(e -> {
                    failure.set(e);
                    return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
                });
                long started = System.nanoTime();
                streams.start();
                long deadline = started + Duration.ofSeconds(60).toNanos();
                while (streams.state() != KafkaStreams.State.ERROR && System.nanoTime() < deadline) {
                    Thread.sleep(50);
                }
                Duration took = Duration.ofNanos(System.nanoTime() - started);
                assertEquals(KafkaStreams.State.ERROR, streams.state(), "state after " + took);
                assertTrue(failure.get() != null && messages(failure.get()).contains(REFUSAL), messages(failure.get()));
                assertTrue(took.compareTo(Duration.ofSeconds(30)) < 0, "failed after " + took);
            }
        }
    }
}
