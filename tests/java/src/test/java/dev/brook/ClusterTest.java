package dev.brook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.config.TopicConfig;
import org.junit.jupiter.api.Test;

/** The Java client against a three-node Brook cluster from three property files. */
class ClusterTest {
    /**
     * The Admin client sees three brokers and a controller among them, creates a 6-partition
     * topic led by all three (two partitions each), and describes the metadata quorum; a
     * producer bootstrapped from one node and a consumer group move records across all three.
     */
    @Test
    void threeNodes() throws Exception {
        List<Brook> nodes = Brook.startCluster(3);
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, nodes.get(1).bootstrap))) {
            long deadline = System.currentTimeMillis() + 30_000;
            Set<Integer> brokers;
            do {
                DescribeClusterResult cluster = admin.describeCluster();
                brokers = cluster.nodes().get().stream().map(Node::id).collect(Collectors.toSet());
            } while (brokers.size() < 3 && System.currentTimeMillis() < deadline);
            assertEquals(Set.of(1, 2, 3), brokers);
            assertTrue(brokers.contains(admin.describeCluster().controller().get().id()));

            admin.createTopics(List.of(new NewTopic("purchases", 6, (short) 1))).all().get();
            TopicDescription topic = admin.describeTopics(List.of("purchases")).allTopicNames().get().get("purchases");
            Map<Integer, Long> led = topic.partitions().stream()
                    .collect(Collectors.groupingBy(p -> p.leader().id(), Collectors.counting()));
            assertEquals(Map.of(1, 2L, 2, 2L, 3, 2L), led);
            for (TopicPartitionInfo p : topic.partitions()) {
                assertEquals(List.of(p.leader()), p.replicas());
            }

            var quorum = admin.describeMetadataQuorum().quorumInfo().get();
            assertTrue(Set.of(1, 2, 3).contains(quorum.leaderId()));
            assertEquals(Set.of(1, 2, 3), quorum.voters().stream().map(v -> v.replicaId()).collect(Collectors.toSet()));
        }

        Map<String, RecordMetadata> sent = new HashMap<>();
        Properties producerProps = new Properties();
        producerProps.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, nodes.get(0).bootstrap);
        producerProps.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        producerProps.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps)) {
            for (int i = 0; i < 120; i++) {
                String value = "order-" + i;
                sent.put(value, producer.send(new ProducerRecord<>("purchases", "customer-" + (i % 11), value)).get());
            }
        }
        assertTrue(sent.values().stream().map(RecordMetadata::partition).distinct().count() >= 3);

        Properties consumerProps = new Properties();
        consumerProps.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                nodes.stream().map(n -> n.bootstrap).collect(Collectors.joining(",")));
        consumerProps.put(ConsumerConfig.GROUP_ID_CONFIG, "billing");
        consumerProps.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        consumerProps.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        consumerProps.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        Map<String, Long> got = new HashMap<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerProps)) {
            consumer.subscribe(List.of("purchases"));
            long deadline = System.currentTimeMillis() + 60_000;
            while (got.size() < sent.size() && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                    assertEquals(sent.get(r.value()).partition(), r.partition());
                    got.put(r.value(), r.offset());
                }
            }
        } finally {
            for (Brook node : nodes) {
                node.close();
            }
        }
        assertEquals(sent.size(), got.size());
        sent.forEach((value, meta) -> assertEquals(meta.offset(), got.get(value)));
    }

    /**
     * Replication factor 3 with min.insync.replicas 2, as the Admin client creates it: each
     * partition lists three replicas, all in sync; an idempotent acks=all producer's records are
     * read back at their acknowledged offsets.
     */
    @Test
    void replicatedTopic() throws Exception {
        List<Brook> nodes = Brook.startCluster(3);
        String bootstrap = nodes.stream().map(n -> n.bootstrap).collect(Collectors.joining(","));
        try {
            try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
                NewTopic ledger = new NewTopic("ledger", 3, (short) 3)
                        .configs(Map.of(TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG, "2"));
                admin.createTopics(List.of(ledger)).all().get();
                long deadline = System.currentTimeMillis() + 30_000;
                boolean inSync;
                do {
                    TopicDescription topic = admin.describeTopics(List.of("ledger")).allTopicNames().get().get("ledger");
                    inSync = topic.partitions().stream()
                            .allMatch(p -> p.replicas().size() == 3 && p.isr().size() == 3);
                } while (!inSync && System.currentTimeMillis() < deadline);
                assertTrue(inSync, "every partition has three in-sync replicas");
            }

            Map<String, RecordMetadata> sent = new HashMap<>();
            Properties producerProps = new Properties();
            producerProps.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            producerProps.put(ProducerConfig.ACKS_CONFIG, "all");
            producerProps.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
            producerProps.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            producerProps.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps)) {
                for (int i = 0; i < 150; i++) {
                    String value = "entry-" + i;
                    sent.put(value, producer.send(new ProducerRecord<>("ledger", "account-" + (i % 7), value)).get());
                }
            }

            Properties consumerProps = new Properties();
            consumerProps.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            consumerProps.put(ConsumerConfig.GROUP_ID_CONFIG, "auditors");
            consumerProps.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            consumerProps.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            consumerProps.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            Map<String, Long> got = new HashMap<>();
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerProps)) {
                consumer.subscribe(List.of("ledger"));
                long deadline = System.currentTimeMillis() + 60_000;
                while (got.size() < sent.size() && System.currentTimeMillis() < deadline) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                        assertEquals(sent.get(r.value()).partition(), r.partition());
                        got.put(r.value(), r.offset());
                    }
                }
            }
            assertEquals(sent.size(), got.size());
            sent.forEach((value, meta) -> assertEquals(meta.offset(), got.get(value)));
        } finally {
            for (Brook node : nodes) {
                node.close();
            }
        }
    }

    /**
     * kill -9 of a partition leader while an idempotent acks=all producer sends: the producer
     * carries on to the new leaders without an error, and a consumer group then reads every
     * acknowledged record exactly once, in send order within each partition, its positions
     * never going backwards.
     */
    @Test
    void leaderKilledUnderLoad() throws Exception {
        List<Brook> nodes = Brook.startCluster(3, "broker.heartbeat.interval.ms=300", "broker.session.timeout.ms=2000");
        String bootstrap = nodes.stream().map(n -> n.bootstrap).collect(Collectors.joining(","));
        try {
            int leader;
            try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
                NewTopic payments = new NewTopic("payments", 3, (short) 3)
                        .configs(Map.of(TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG, "2"));
                admin.createTopics(List.of(payments)).all().get();
                long deadline = System.currentTimeMillis() + 30_000;
                TopicDescription topic;
                do {
                    topic = admin.describeTopics(List.of("payments")).allTopicNames().get().get("payments");
                } while (!topic.partitions().stream().allMatch(p -> p.isr().size() == 3 && p.leader() != null)
                        && System.currentTimeMillis() < deadline);
                assertTrue(topic.partitions().stream().allMatch(p -> p.isr().size() == 3), "every replica in sync");
                leader = topic.partitions().get(0).leader().id();
            }

            // The group consumes while the producer sends and the leader dies.
            int total = 3000;
            Properties consumerProps = new Properties();
            consumerProps.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            consumerProps.put(ConsumerConfig.GROUP_ID_CONFIG, "settlement");
            consumerProps.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            consumerProps.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            consumerProps.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            java.util.concurrent.CountDownLatch assigned = new java.util.concurrent.CountDownLatch(1);
            java.util.concurrent.CompletableFuture<Map<Integer, Long>> reading = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                Map<Integer, Long> read = new HashMap<>();
                Map<Integer, Long> position = new HashMap<>();
                Map<Integer, Integer> lastSent = new HashMap<>();
                try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerProps)) {
                    consumer.subscribe(List.of("payments"));
                    long deadline = System.currentTimeMillis() + 120_000;
                    while (read.size() < total && System.currentTimeMillis() < deadline) {
                        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                            int i = Integer.parseInt(r.value().substring("pay-".length()));
                            assertTrue(read.put(i, r.offset()) == null, "read twice: " + r.value());
                            assertTrue(position.getOrDefault(r.partition(), -1L) < r.offset(), "position went backwards");
                            position.put(r.partition(), r.offset());
                            assertTrue(lastSent.getOrDefault(r.partition(), -1) < i, "out of send order: " + r.value());
                            lastSent.put(r.partition(), i);
                        }
                        if (consumer.assignment().size() == 3) {
                            assigned.countDown();
                        }
                    }
                }
                return read;
            });
            assertTrue(assigned.await(60, java.util.concurrent.TimeUnit.SECONDS), "the group took the partitions");

            Properties producerProps = new Properties();
            producerProps.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            producerProps.put(ProducerConfig.ACKS_CONFIG, "all");
            producerProps.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
            producerProps.put(ProducerConfig.LINGER_MS_CONFIG, "5");
            producerProps.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            producerProps.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            Map<Integer, RecordMetadata> acked = new HashMap<>();
            List<java.util.concurrent.Future<RecordMetadata>> pending = new java.util.ArrayList<>();
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps)) {
                for (int i = 0; i < total; i++) {
                    if (i == total / 3) {
                        nodes.get(leader - 1).kill();
                    }
                    pending.add(producer.send(new ProducerRecord<>("payments", "account-" + (i % 11), "pay-" + i)));
                    if (i % 100 == 0) {
                        Thread.sleep(20); // a steady stream rather than one burst
                    }
                }
                producer.flush();
                for (int i = 0; i < total; i++) {
                    acked.put(i, pending.get(i).get()); // throws if the producer gave up on any
                }
            }
            Map<Integer, Long> read = reading.get();
            assertEquals(total, read.size(), "every acknowledged record read");
            acked.forEach((i, meta) -> assertEquals(meta.offset(), read.get(i), "pay-" + i + " at its acknowledged offset"));
        } finally {
            for (Brook node : nodes) {
                node.close();
            }
        }
    }
}
