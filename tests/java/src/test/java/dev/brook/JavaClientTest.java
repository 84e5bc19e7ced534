package dev.brook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.InvalidReplicationFactorException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

class JavaClientTest {
    private static Admin admin(Brook brook) {
        return Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap));
    }

    private static KafkaProducer<String, String> producer(Brook brook, Map<String, Object> extra) {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.putAll(extra);
        return new KafkaProducer<>(props);
    }

    /** Reads `count` records from every partition of `topic`, from the beginning. */
    private static List<ConsumerRecord<String, String>> consume(Brook brook, String topic, int partitions, int count) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        List<ConsumerRecord<String, String>> got = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
            List<TopicPartition> assignment =
                    IntStream.range(0, partitions).mapToObj(p -> new TopicPartition(topic, p)).toList();
            consumer.assign(assignment);
            consumer.seekToBeginning(assignment);
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (got.size() < count && System.nanoTime() < deadline) {
                consumer.poll(Duration.ofMillis(200)).forEach(got::add);
            }
        }
        return got;
    }

    /** The overview's walk with the producer's defaults (idempotence on, acks=all). */
    @Test
    void producerDefaultsAndConsumer() throws Exception {
        try (Brook brook = Brook.start(); Admin admin = admin(brook)) {
            admin.createTopics(List.of(new NewTopic("purchases", 3, (short) 1))).all().get();
            Map<String, Integer> partitionOf = new HashMap<>();
            try (KafkaProducer<String, String> producer = producer(brook, Map.of())) {
                for (int i = 0; i < 60; i++) {
                    String key = "customer-" + (i % 7);
                    RecordMetadata md = producer.send(new ProducerRecord<>("purchases", key, "transaction-" + i)).get();
                    Integer before = partitionOf.putIfAbsent(key, md.partition());
                    assertTrue(before == null || before == md.partition(), key + " moved partitions");
                }
            }
            List<ConsumerRecord<String, String>> got = consume(brook, "purchases", 3, 60);
            assertEquals(60, got.size());
            for (int p = 0; p < 3; p++) {
                int partition = p;
                List<ConsumerRecord<String, String>> inPartition =
                        got.stream().filter(r -> r.partition() == partition).toList();
                for (int i = 0; i < inPartition.size(); i++) {
                    ConsumerRecord<String, String> r = inPartition.get(i);
                    assertEquals(i, r.offset());
                    assertEquals(partition, partitionOf.get(r.key()));
                }
            }
        }
    }

    /** lz4 and zstd batches from the Java producer are stored and served back intact. */
    @Test
    void compressedProducers() throws Exception {
        try (Brook brook = Brook.start(); Admin admin = admin(brook)) {
            admin.createTopics(List.of(new NewTopic("compressed", 1, (short) 1))).all().get();
            for (String codec : List.of("lz4", "zstd")) {
                try (KafkaProducer<String, String> producer =
                        producer(brook, Map.of(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec, ProducerConfig.LINGER_MS_CONFIG, 10))) {
                    List<java.util.concurrent.Future<RecordMetadata>> sent = new ArrayList<>();
                    for (int i = 0; i < 100; i++) {
                        sent.add(producer.send(new ProducerRecord<>("compressed", null, codec + "-" + i + "-" + "x".repeat(50))));
                    }
                    for (var f : sent) {
                        f.get();
                    }
                }
            }
            List<String> values = consume(brook, "compressed", 1, 200).stream().map(ConsumerRecord::value).toList();
            assertEquals(200, values.size());
            for (String codec : List.of("lz4", "zstd")) {
                assertEquals(100, values.stream().filter(v -> v.startsWith(codec + "-")).count(), codec);
            }
        }
    }

    /** The Admin client: create, describe, configs, delete, and Kafka's errors. */
    @Test
    void adminClient() throws Exception {
        try (Brook brook = Brook.start(); Admin admin = admin(brook)) {
            admin.createTopics(List.of(new NewTopic("admin-topic", 2, (short) 1)
                    .configs(Map.of("retention.ms", "3600000")))).all().get();
            TopicDescription description = admin.describeTopics(List.of("admin-topic")).allTopicNames().get().get("admin-topic");
            assertEquals(2, description.partitions().size());
            assertEquals(1, description.partitions().get(0).replicas().size());

            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, "admin-topic");
            Config config = admin.describeConfigs(List.of(resource)).all().get().get(resource);
            assertEquals("3600000", config.get("retention.ms").value());
            assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, config.get("retention.ms").source());
            assertEquals("delete", config.get("cleanup.policy").value());

            admin.incrementalAlterConfigs(Map.of(resource, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", "60000"), AlterConfigOp.OpType.SET),
                    new AlterConfigOp(new ConfigEntry("segment.bytes", "1048576"), AlterConfigOp.OpType.SET)))).all().get();
            config = admin.describeConfigs(List.of(resource)).all().get().get(resource);
            assertEquals("60000", config.get("retention.ms").value());
            assertEquals("1048576", config.get("segment.bytes").value());

            ExecutionException rf = assertThrows(ExecutionException.class, () ->
                    admin.createTopics(List.of(new NewTopic("replicated", 1, (short) 3))).all().get());
            assertInstanceOf(InvalidReplicationFactorException.class, rf.getCause());
            ExecutionException exists = assertThrows(ExecutionException.class, () ->
                    admin.createTopics(List.of(new NewTopic("admin-topic", 1, (short) 1))).all().get());
            assertInstanceOf(TopicExistsException.class, exists.getCause());

            Collection<String> before = admin.listTopics().names().get();
            assertTrue(before.contains("admin-topic"));
            admin.deleteTopics(List.of("admin-topic")).all().get();
            Set<String> after = admin.listTopics().names().get();
            assertTrue(!after.contains("admin-topic"), "deleted topic still listed: " + after);
            ExecutionException missing = assertThrows(ExecutionException.class, () ->
                    admin.deleteTopics(List.of("admin-topic")).all().get());
            assertInstanceOf(UnknownTopicOrPartitionException.class, missing.getCause());
            assertEquals(Set.of(), after.stream().filter(t -> t.equals("admin-topic")).collect(Collectors.toSet()));
        }
    }

    /** Admin.listOffsets with every spec the Java client has, KIP-734's max timestamp included. */
    @Test
    void listOffsetsSpecs() throws Exception {
        try (Brook brook = Brook.start(); Admin admin = admin(brook)) {
            admin.createTopics(List.of(new NewTopic("times", 1, (short) 1))).all().get();
            long base = System.currentTimeMillis() - 60_000;
            Properties props = new Properties();
            props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap);
            try (KafkaProducer<String, String> producer =
                    new KafkaProducer<>(props, new StringSerializer(), new StringSerializer())) {
                // The newest timestamp is the second record's, not the last one's.
                for (long offsetMs : new long[] {0, 20_000, 10_000}) {
                    producer.send(new ProducerRecord<>("times", 0, base + offsetMs, "k", "v")).get();
                }
            }
            TopicPartition tp = new TopicPartition("times", 0);
            Map<String, OffsetSpec> specs = Map.of(
                    "earliest", OffsetSpec.earliest(),
                    "latest", OffsetSpec.latest(),
                    "maxTimestamp", OffsetSpec.maxTimestamp(),
                    "forTimestamp", OffsetSpec.forTimestamp(base + 5_000),
                    "earliestLocal", OffsetSpec.earliestLocal(),
                    "latestTiered", OffsetSpec.latestTiered());
            Map<String, Long> offsets = new HashMap<>();
            for (Map.Entry<String, OffsetSpec> spec : specs.entrySet()) {
                ListOffsetsResultInfo info = admin.listOffsets(Map.of(tp, spec.getValue())).partitionResult(tp).get();
                offsets.put(spec.getKey(), info.offset());
                if (spec.getKey().equals("maxTimestamp")) {
                    assertEquals(base + 20_000, info.timestamp());
                }
            }
            assertEquals(Map.of("earliest", 0L, "latest", 3L, "maxTimestamp", 1L, "forTimestamp", 1L,
                    "earliestLocal", 0L, "latestTiered", -1L), offsets);
        }
    }
}
