package dev.brook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.SubscriptionPattern;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.GroupNotEmptyException;
import org.apache.kafka.common.errors.GroupSubscribedToTopicException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/** Consumer groups with the Java client, Kafka's reference implementation (classic protocol). */
class GroupTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    /** A consumer polling in its own thread (KafkaConsumer is single-threaded), committing synchronously. */
    private static final class Member implements AutoCloseable {
        final Set<Integer> assigned = ConcurrentHashMap.newKeySet();
        final List<String> records = Collections.synchronizedList(new ArrayList<>());
        private volatile boolean running = true;
        private final Thread thread;

        Member(Brook brook, String group, String topic) {
            this(brook, group, topic, Map.of(
                    ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "3000",
                    ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "200"));
        }

        Member(Brook brook, String group, String topic, Map<String, String> extra) {
            Properties props = new Properties();
            props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap);
            props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
            props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            props.putAll(extra);
            props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            thread = new Thread(() -> {
                try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
                    consumer.subscribe(List.of(topic));
                    while (running) {
                        var batch = consumer.poll(Duration.ofMillis(100));
                        for (ConsumerRecord<String, String> r : batch) {
                            records.add(r.partition() + "@" + r.offset());
                        }
                        if (!batch.isEmpty()) {
                            consumer.commitSync();
                        }
                        Set<Integer> now = consumer.assignment().stream()
                                .map(TopicPartition::partition).collect(Collectors.toSet());
                        assigned.retainAll(now);
                        assigned.addAll(now);
                    }
                }
            });
            thread.start();
        }

        @Override
        public void close() throws InterruptedException {
            running = false;
            thread.join(TIMEOUT.toMillis());
        }
    }

    private static void eventually(String what, BooleanSupplier check) throws InterruptedException {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (!check.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for: " + what);
            }
            Thread.sleep(20);
        }
    }

    private static ConsumerGroupDescription describe(Admin admin, String group) {
        try {
            return admin.describeConsumerGroups(List.of(group)).all().get().get(group);
        } catch (InterruptedException | ExecutionException e) {
            throw new AssertionError(e);
        }
    }

    private static void produce(Brook brook, String topic, int count) throws Exception {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            for (int i = 0; i < count; i++) {
                producer.send(new ProducerRecord<>(topic, "customer-" + (i % 17), "purchase-" + i));
            }
            producer.flush();
        }
    }

    /**
     * Three members share three partitions and read every record once; a fourth stays idle;
     * the Admin client sees the group, its members and offsets, and cannot delete it while active.
     */
    @Test
    void membersShareWorkAndAdminSeesTheGroup() throws Exception {
        try (Brook brook = Brook.start("group.initial.rebalance.delay.ms=0", "group.min.session.timeout.ms=1000");
                Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap))) {
            admin.createTopics(List.of(new NewTopic("orders", 3, (short) 1))).all().get();
            List<Member> members = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                members.add(new Member(brook, "billing", "orders"));
            }
            eventually("one partition each", () -> members.stream().allMatch(m -> m.assigned.size() == 1));
            produce(brook, "orders", 300);
            eventually("300 records", () -> members.stream().mapToInt(m -> m.records.size()).sum() >= 300);
            Set<String> all = new HashSet<>();
            members.forEach(m -> all.addAll(m.records));
            assertEquals(300, all.size());
            assertEquals(300, members.stream().mapToInt(m -> m.records.size()).sum(), "a record was read twice");

            members.add(new Member(brook, "billing", "orders"));
            eventually("the group stable with four members", () -> {
                ConsumerGroupDescription d = describe(admin, "billing");
                return d.groupState() == GroupState.STABLE && d.members().size() == 4;
            });
            ConsumerGroupDescription description = describe(admin, "billing");
            assertEquals(List.of(0, 1, 1, 1), description.members().stream()
                    .map(m -> m.assignment().topicPartitions().size()).sorted().toList());
            eventually("the members' own view agrees: one idle", () -> members.stream()
                    .map(m -> m.assigned.size()).sorted().toList().equals(List.of(0, 1, 1, 1)));
            assertTrue(admin.listConsumerGroups().all().get().stream().anyMatch(g -> g.groupId().equals("billing")));
            Map<TopicPartition, OffsetAndMetadata> offsets =
                    admin.listConsumerGroupOffsets("billing").partitionsToOffsetAndMetadata().get();
            assertEquals(300, offsets.values().stream().mapToLong(OffsetAndMetadata::offset).sum());

            ExecutionException busy = assertThrows(ExecutionException.class,
                    () -> admin.deleteConsumerGroups(List.of("billing")).all().get());
            assertInstanceOf(GroupNotEmptyException.class, busy.getCause());
            ExecutionException subscribed = assertThrows(ExecutionException.class, () -> admin
                    .deleteConsumerGroupOffsets("billing", Set.of(new TopicPartition("orders", 0))).all().get());
            assertInstanceOf(GroupSubscribedToTopicException.class, subscribed.getCause());
            for (Member m : members) {
                m.close();
            }
            // Empty now: one partition's offset can go, then the whole group.
            admin.deleteConsumerGroupOffsets("billing", Set.of(new TopicPartition("orders", 0))).all().get();
            Map<TopicPartition, OffsetAndMetadata> left =
                    admin.listConsumerGroupOffsets("billing").partitionsToOffsetAndMetadata().get();
            assertEquals(Set.of(new TopicPartition("orders", 1), new TopicPartition("orders", 2)), left.keySet());
            admin.deleteConsumerGroups(List.of("billing")).all().get();
            assertTrue(admin.listConsumerGroupOffsets("billing").partitionsToOffsetAndMetadata().get().isEmpty());
        }
    }

    /**
     * The consumer protocol (KIP-848, group.protocol=consumer): the server assigns, the members
     * read every record once, and the Admin client describes the group with ConsumerGroupDescribe.
     */
    @Test
    void consumerProtocolSharesWork() throws Exception {
        try (Brook brook = Brook.start("group.consumer.heartbeat.interval.ms=200");
                Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap))) {
            admin.createTopics(List.of(new NewTopic("events", 3, (short) 1))).all().get();
            Map<String, String> kip848 = Map.of(
                    ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer",
                    ConsumerConfig.GROUP_REMOTE_ASSIGNOR_CONFIG, "uniform");
            List<Member> members = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                members.add(new Member(brook, "kip848", "events", kip848));
            }
            eventually("one partition each", () -> members.stream().allMatch(m -> m.assigned.size() == 1));
            produce(brook, "events", 300);
            eventually("300 records", () -> members.stream().mapToInt(m -> m.records.size()).sum() >= 300);
            Set<String> all = new HashSet<>();
            members.forEach(m -> all.addAll(m.records));
            assertEquals(300, all.size());
            assertEquals(300, members.stream().mapToInt(m -> m.records.size()).sum(), "a record was read twice");
            ConsumerGroupDescription description = describe(admin, "kip848");
            assertEquals(GroupState.STABLE, description.groupState());
            assertEquals(org.apache.kafka.common.GroupType.CONSUMER, description.type());
            assertEquals(3, description.members().size());
            assertEquals(300, admin.listConsumerGroupOffsets("kip848").partitionsToOffsetAndMetadata().get()
                    .values().stream().mapToLong(OffsetAndMetadata::offset).sum());
            for (Member m : members) {
                m.close();
            }
        }
    }

    /**
     * A server-side regex subscription (KIP-848's SubscriptionPattern): the broker matches
     * whole topic names, including a topic created after the member joined.
     */
    @Test
    void consumerProtocolRegexSubscription() throws Exception {
        try (Brook brook = Brook.start("group.consumer.heartbeat.interval.ms=200");
                Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap))) {
            for (String topic : List.of("sales-eu", "sales-us", "sales-eu-archive", "audit")) {
                produce(brook, topic, 5);
            }
            Properties props = new Properties();
            props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap);
            props.put(ConsumerConfig.GROUP_ID_CONFIG, "sales");
            props.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
            props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            Map<String, Integer> read = new HashMap<>();
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
                consumer.subscribe(new SubscriptionPattern("sales-[a-z]+"));
                BooleanSupplier poll = () -> {
                    consumer.poll(Duration.ofMillis(100)).forEach(r -> read.merge(r.topic(), 1, Integer::sum));
                    return true;
                };
                eventually("both sales topics read", () -> poll.getAsBoolean()
                        && read.getOrDefault("sales-eu", 0) == 5 && read.getOrDefault("sales-us", 0) == 5);
                produce(brook, "sales-apac", 5);
                eventually("the new topic read", () -> poll.getAsBoolean() && read.getOrDefault("sales-apac", 0) == 5);
            }
            assertEquals(Set.of("sales-eu", "sales-us", "sales-apac"), read.keySet(), "whole names only");
            assertEquals(15, read.values().stream().mapToInt(Integer::intValue).sum(), "each record once");
        }
    }
}
