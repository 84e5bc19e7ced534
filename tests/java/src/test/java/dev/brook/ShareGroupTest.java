package dev.brook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ListShareGroupOffsetsSpec;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ShareGroupDescription;
import org.apache.kafka.clients.admin.SharePartitionOffsetInfo;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * Share groups (KIP-932, queues) with the Java client's KafkaShareConsumer: members share one
 * partition, each record is acknowledged on its own, and what is not accepted comes back.
 */
class ShareGroupTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    /**
     * A share consumer polling in its own thread (KafkaShareConsumer is single-threaded). Each
     * record goes through `decide` (null: accept implicitly on the next poll); the values it
     * was given are counted in `seen`, with their delivery counts in `deliveries`.
     */
    private static final class Member implements AutoCloseable {
        final Map<String, Integer> seen;
        final Map<String, Integer> deliveries = new ConcurrentHashMap<>();
        final AtomicInteger polled = new AtomicInteger();
        private volatile boolean running = true;
        /** Stop polling without closing: what a killed process leaves behind. */
        private volatile boolean frozen = false;
        private final Thread thread;

        Member(Brook brook, String group, String topic, Map<String, Integer> seen,
                Function<ConsumerRecord<String, String>, AcknowledgeType> decide) {
            this(brook, group, topic, seen, decide, false);
        }

        /** `oneBatch`: closes after the first poll that returned a job. */
        Member(Brook brook, String group, String topic, Map<String, Integer> seen,
                Function<ConsumerRecord<String, String>, AcknowledgeType> decide, boolean oneBatch) {
            this.seen = seen;
            Properties props = new Properties();
            props.put("bootstrap.servers", brook.bootstrap);
            props.put("group.id", group);
            if (decide != null) {
                props.put("share.acknowledgement.mode", "explicit");
            }
            thread = new Thread(() -> {
                KafkaShareConsumer<String, String> consumer =
                        new KafkaShareConsumer<>(props, new StringDeserializer(), new StringDeserializer());
                consumer.subscribe(List.of(topic));
                while (running && !frozen) {
                    var batch = consumer.poll(Duration.ofMillis(100));
                    polled.incrementAndGet();
                    for (ConsumerRecord<String, String> r : batch) {
                        seen.merge(r.value(), 1, Integer::sum);
                        deliveries.put(r.value(), r.deliveryCount().orElse((short) -1).intValue());
                        if (decide != null) {
                            consumer.acknowledge(r, decide.apply(r));
                        }
                    }
                    if (decide != null && !batch.isEmpty()) {
                        consumer.commitSync();
                    }
                    boolean hadJob = false;
                    for (ConsumerRecord<String, String> r : batch) {
                        hadJob |= r.value().startsWith("job-");
                    }
                    if (oneBatch && hadJob) {
                        break;
                    }
                }
                if (!frozen) {
                    consumer.close();
                }
            });
            thread.start();
        }

        void freeze() throws InterruptedException {
            frozen = true;
            thread.join(TIMEOUT.toMillis());
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

    private static Admin admin(Brook brook) {
        return Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap));
    }

    private static KafkaProducer<String, String> producer(Brook brook) {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        return new KafkaProducer<>(props);
    }

    /**
     * A new share-partition starts at the end of the log (`share.auto.offset.reset=latest`):
     * warm-up records are produced until a member got one, so the share-partition exists
     * before the records under test are written.
     */
    private static void warmUp(KafkaProducer<String, String> producer, String topic, List<Member> members)
            throws Exception {
        warmUp(producer, topic, members, 1);
    }

    /** As above, for each of the topic's `partitions`. */
    private static void warmUp(KafkaProducer<String, String> producer, String topic, List<Member> members,
            int partitions) throws Exception {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        for (int p = 0; p < partitions; p++) {
            String prefix = "warm-" + p + "-";
            while (members.stream().noneMatch(m -> m.seen.keySet().stream().anyMatch(v -> v.startsWith(prefix)))) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("no member received a warm-up record of partition " + p);
                }
                producer.send(new ProducerRecord<>(topic, p, "warm", prefix + System.nanoTime())).get();
                Thread.sleep(200);
            }
        }
    }

    private static void createTopic(Brook brook, String topic) throws Exception {
        createTopic(brook, topic, 1, (short) 1);
    }

    private static void createTopic(Brook brook, String topic, int partitions, short replicas) throws Exception {
        try (Admin admin = admin(brook)) {
            admin.createTopics(List.of(new NewTopic(topic, partitions, replicas))).all().get();
        }
    }

    private static Map<TopicPartition, SharePartitionOffsetInfo> shareOffsets(Admin admin, String group)
            throws Exception {
        return admin.listShareGroupOffsets(Map.of(group, new ListShareGroupOffsetsSpec()))
                .partitionsToOffsetInfo(group)
                .get();
    }

    private static long jobsSeen(Map<String, Integer> seen) {
        return seen.keySet().stream().filter(v -> v.startsWith("job-")).count();
    }

    /** Five members share a one-partition topic and process each of 10,000 records once. */
    @Test
    void fiveMembersShareOnePartitionAndProcessEachRecordOnce() throws Exception {
        try (Brook brook = Brook.start()) {
            createTopic(brook, "jobs");
            Map<String, Integer> seen = new ConcurrentHashMap<>();
            List<Member> members = new ArrayList<>();
            try (KafkaProducer<String, String> producer = producer(brook)) {
                for (int i = 0; i < 5; i++) {
                    members.add(new Member(brook, "workers", "jobs", seen, null));
                }
                warmUp(producer, "jobs", members);
                for (int i = 0; i < 10_000; i++) {
                    producer.send(new ProducerRecord<>("jobs", "customer-" + (i % 17), "job-" + i));
                }
                producer.flush();
            }
            eventually("every job delivered", () -> jobsSeen(seen) == 10_000);
            try (Admin admin = admin(brook)) {
                ShareGroupDescription group =
                        admin.describeShareGroups(List.of("workers")).all().get().get("workers");
                assertEquals(GroupState.STABLE, group.groupState());
                var listed = admin.listGroups().all().get().stream()
                        .filter(g -> g.groupId().equals("workers")).findFirst().orElseThrow();
                assertEquals(java.util.Optional.of(org.apache.kafka.common.GroupType.SHARE), listed.type());
                assertEquals(5, group.members().size());
                group.members().forEach(m -> assertEquals(
                        Set.of(0), m.assignment().topicPartitions().stream().map(tp -> tp.partition())
                                .collect(java.util.stream.Collectors.toSet())));
            }
            // Accepted on the next poll: wait until every member polled again, then nothing more comes.
            for (Member m : members) {
                int now = m.polled.get();
                eventually("another poll", () -> m.polled.get() > now + 2);
            }
            for (Member m : members) {
                m.close();
            }
            seen.forEach((value, count) -> {
                if (value.startsWith("job-")) {
                    assertEquals(1, count, value + " delivered " + count + " times");
                }
            });
            long sharing = members.stream().filter(m -> m.deliveries.keySet().stream().anyMatch(v -> v.startsWith("job-")))
                    .count();
            assertTrue(sharing >= 2, "only " + sharing + " member(s) got jobs");
        }
    }

    /**
     * Released records come back to another member with a higher delivery count; rejected
     * ones never come back; records held by a member that stopped (as if killed) return after
     * the lock duration; and accepted records stay accepted across a broker restart.
     */
    @Test
    void releasedRejectedAndAbandonedRecordsAndARestart() throws Exception {
        Brook brook = Brook.start("group.share.record.lock.duration.ms=2000");
        try {
            createTopic(brook, "tasks");
            Map<String, Integer> seen = new ConcurrentHashMap<>();
            try (KafkaProducer<String, String> producer = producer(brook)) {
                // One batch: releases jobs ending in 1, rejects those ending in 2, accepts the rest.
                Map<String, Integer> first = new ConcurrentHashMap<>();
                Member picky = new Member(brook, "queue", "tasks", first, r -> r.value().endsWith("1")
                        ? AcknowledgeType.RELEASE
                        : r.value().endsWith("2") ? AcknowledgeType.REJECT : AcknowledgeType.ACCEPT, true);
                warmUp(producer, "tasks", List.of(picky));
                for (int i = 0; i < 100; i++) {
                    producer.send(new ProducerRecord<>("tasks", "k", "job-" + i));
                }
                producer.flush();
                eventually("the picky member's batch", () -> jobsSeen(first) > 0);
                picky.close();
                Map<String, Integer> second = new ConcurrentHashMap<>();
                Member accepting = new Member(brook, "queue", "tasks", second, r -> AcknowledgeType.ACCEPT);
                // Everything but what the picky member accepted or rejected comes to the second.
                long done = first.keySet().stream().filter(v -> v.startsWith("job-") && !v.endsWith("1")).count();
                eventually("every job not done by the first member", () -> jobsSeen(second) == 100 - done);
                accepting.close();
                for (int i = 0; i < 100; i++) {
                    String v = "job-" + i;
                    boolean picked = first.containsKey(v);
                    if (picked && v.endsWith("1")) {
                        // The picky member may poll it again before it closes, releasing it each
                        // time: the accepting member's delivery is the next one.
                        assertEquals(first.get(v) + 1, accepting.deliveries.get(v), v + " released: its next delivery");
                    } else if (picked) {
                        assertTrue(!second.containsKey(v), v + " was accepted or rejected, yet delivered again");
                    } else {
                        assertEquals(1, second.get(v), v + " delivered " + second.get(v) + " times");
                        assertEquals(1, accepting.deliveries.get(v));
                    }
                }

                // A member in its own JVM, killed (-9) while it holds records: they come back
                // to another member once their lock runs out.
                String javaBin = ProcessHandle.current().info().command().orElse("java");
                Process worker = new ProcessBuilder(javaBin, "-cp", System.getProperty("java.class.path"),
                        ShareWorker.class.getName(), brook.bootstrap, "queue", "tasks")
                        .redirectError(ProcessBuilder.Redirect.DISCARD)
                        .start();
                Set<String> held = new java.util.HashSet<>();
                try {
                    BufferedReader out = new BufferedReader(
                            new InputStreamReader(worker.getInputStream(), StandardCharsets.UTF_8));
                    // Written until the worker got its batch (its first fetch starts at the end).
                    Thread feeder = new Thread(() -> {
                        int i = 100;
                        while (worker.isAlive() && held.isEmpty() && i < 1000) {
                            producer.send(new ProducerRecord<>("tasks", "k", "job-" + i++));
                            producer.flush();
                            try {
                                Thread.sleep(100);
                            } catch (InterruptedException e) {
                                return;
                            }
                        }
                    });
                    feeder.start();
                    String line;
                    Set<String> got = new java.util.HashSet<>();
                    while ((line = out.readLine()) != null && !line.equals("holding")) {
                        if (line.startsWith("got ")) {
                            got.add(line.substring(4));
                        }
                    }
                    held.addAll(got);
                    feeder.join();
                    assertTrue(!held.isEmpty(), "the worker got no records");
                } finally {
                    worker.destroyForcibly().waitFor();
                }
                long killedAt = System.nanoTime();
                Map<String, Integer> fourth = new ConcurrentHashMap<>();
                try (Member rescuer = new Member(brook, "queue", "tasks", fourth, r -> AcknowledgeType.ACCEPT)) {
                    eventually("the killed worker's records delivered again", () -> fourth.keySet().containsAll(held));
                    long tookMs = (System.nanoTime() - killedAt) / 1_000_000;
                    System.out.println("share group: redelivery " + tookMs + " ms after kill -9 (lock 2000 ms)");
                    held.forEach(v -> assertEquals(2, rescuer.deliveries.get(v), v + ": its second delivery"));
                }
            }
            // Restart: accepted and rejected jobs stay done; a new member gets only new records.
            brook.close();
            brook = brook.restart("group.share.record.lock.duration.ms=2000");
            Map<String, Integer> after = new ConcurrentHashMap<>();
            try (KafkaProducer<String, String> producer = producer(brook);
                    Member member = new Member(brook, "queue", "tasks", after, r -> AcknowledgeType.ACCEPT)) {
                producer.send(new ProducerRecord<>("tasks", "k", "after-restart")).get();
                eventually("the record written after the restart", () -> after.containsKey("after-restart"));
                assertEquals(0, jobsSeen(after), "jobs delivered again after the restart: " + after.keySet());
            }
        } finally {
            brook.close();
        }
    }

    /**
     * Three brokers: share-partitions are led on one broker and their state kept by the share
     * coordinator on another (Read/WriteShareGroupState between them); three members process
     * each record of a six-partition, three-replica topic once.
     */
    @Test
    void aClusterKeepsShareStateOnOtherBrokers() throws Exception {
        List<Brook> nodes = Brook.startCluster(3);
        try {
            Brook first = nodes.get(0);
            createTopic(first, "orders", 6, (short) 3);
            Map<String, Integer> seen = new ConcurrentHashMap<>();
            List<Member> members = new ArrayList<>();
            try (KafkaProducer<String, String> producer = producer(first)) {
                for (int i = 0; i < 3; i++) {
                    members.add(new Member(nodes.get(i), "shipping", "orders", seen, r -> AcknowledgeType.ACCEPT));
                }
                warmUp(producer, "orders", members, 6);
                for (int i = 0; i < 3_000; i++) {
                    producer.send(new ProducerRecord<>("orders", "customer-" + (i % 101), "job-" + i));
                }
                producer.flush();
            }
            eventually("every order delivered", () -> jobsSeen(seen) == 3_000);
            for (Member m : members) {
                m.close();
            }
            seen.forEach((value, count) -> {
                if (value.startsWith("job-")) {
                    assertEquals(1, count, value + " delivered " + count + " times");
                }
            });
            // The group's offsets, kept by share coordinators on other brokers than its group
            // coordinator: everything accepted (no lag), then reset to the start, then deleted.
            try (Admin admin = admin(nodes.get(2))) {
                Map<TopicPartition, SharePartitionOffsetInfo> offsets = shareOffsets(admin, "shipping");
                assertEquals(6, offsets.size(), offsets.toString());
                Map<TopicPartition, Long> toStart = new HashMap<>();
                long total = 0;
                for (Map.Entry<TopicPartition, SharePartitionOffsetInfo> e : offsets.entrySet()) {
                    assertEquals(Optional.of(0L), e.getValue().lag(), e.toString());
                    total += e.getValue().startOffset();
                    toStart.put(e.getKey(), 0L);
                }
                assertTrue(total >= 3_000, "the starts are past every order: " + offsets);
                admin.alterShareGroupOffsets("shipping", toStart).all().get();
                long lag = 0;
                for (SharePartitionOffsetInfo info : shareOffsets(admin, "shipping").values()) {
                    assertEquals(0, info.startOffset(), info.toString());
                    lag += info.lag().orElseThrow();
                }
                assertEquals(total, lag, "everything is to be delivered again");
                admin.deleteShareGroups(List.of("shipping")).all().get();
                assertTrue(admin.listGroups().all().get().stream().noneMatch(g -> g.groupId().equals("shipping")));
            }
        } finally {
            for (Brook node : nodes) {
                node.close();
            }
        }
    }

    /**
     * Group configs (kafka-configs --entity-type groups) apply to their group only:
     * `share.auto.offset.reset=earliest` delivers what was written before the group existed,
     * `share.record.lock.duration.ms` brings abandoned records back sooner than the broker's
     * 30 s, and `share.delivery.count.limit=2` archives a record released on its second delivery.
     */
    @Test
    void groupConfigsApplyToTheirGroup() throws Exception {
        try (Brook brook = Brook.start("group.share.min.record.lock.duration.ms=1000")) {
            createTopic(brook, "backlog");
            try (KafkaProducer<String, String> producer = producer(brook)) {
                for (int i = 0; i < 20; i++) {
                    producer.send(new ProducerRecord<>("backlog", "k", "old-" + i));
                }
                producer.flush();
                try (Admin admin = admin(brook)) {
                    var resource = new ConfigResource(ConfigResource.Type.GROUP, "replay");
                    var ops = List.of(
                            new AlterConfigOp(new ConfigEntry("share.auto.offset.reset", "earliest"), AlterConfigOp.OpType.SET),
                            new AlterConfigOp(new ConfigEntry("share.record.lock.duration.ms", "1000"), AlterConfigOp.OpType.SET),
                            new AlterConfigOp(new ConfigEntry("share.delivery.count.limit", "2"), AlterConfigOp.OpType.SET));
                    admin.incrementalAlterConfigs(Map.of(resource, ops)).all().get();
                    var described = admin.describeConfigs(List.of(resource)).all().get().get(resource);
                    assertEquals("earliest", described.get("share.auto.offset.reset").value());
                }
                Properties props = new Properties();
                props.put("bootstrap.servers", brook.bootstrap);
                props.put("group.id", "replay");
                props.put("share.acknowledgement.mode", "explicit");
                var deserializer = new StringDeserializer();
                // The first member takes a batch of the old records and abandons it.
                Set<String> abandoned = new java.util.HashSet<>();
                try (var first = new KafkaShareConsumer<>(props, deserializer, deserializer);
                        var second = new KafkaShareConsumer<>(props, deserializer, deserializer)) {
                    first.subscribe(List.of("backlog"));
                    long deadline = System.nanoTime() + TIMEOUT.toNanos();
                    while (abandoned.isEmpty() && System.nanoTime() < deadline) {
                        first.poll(Duration.ofMillis(200)).forEach(r -> abandoned.add(r.value()));
                    }
                    assertTrue(abandoned.stream().allMatch(v -> v.startsWith("old-")), "not the old records: " + abandoned);
                    long abandonedAt = System.nanoTime();
                    // The second gets them back once their 1 s lock ran out, and releases
                    // them on that second delivery: the limit archives them.
                    second.subscribe(List.of("backlog"));
                    Set<String> redelivered = new java.util.HashSet<>();
                    while (!redelivered.containsAll(abandoned) && System.nanoTime() < deadline) {
                        for (ConsumerRecord<String, String> r : second.poll(Duration.ofMillis(200))) {
                            boolean again = r.deliveryCount().orElse((short) 0) == 2;
                            if (again) {
                                redelivered.add(r.value());
                            }
                            second.acknowledge(r, again ? AcknowledgeType.RELEASE : AcknowledgeType.ACCEPT);
                        }
                        second.commitSync();
                    }
                    assertEquals(abandoned, redelivered, "abandoned records delivered a second time");
                    long tookMs = (System.nanoTime() - abandonedAt) / 1_000_000;
                    assertTrue(tookMs < 15_000, "redelivered after " + tookMs + " ms: the group's 1 s lock was not applied");
                }
                // A third member reads past them to a new record and never gets them.
                producer.send(new ProducerRecord<>("backlog", "k", "marker")).get();
                Map<String, Integer> third = new ConcurrentHashMap<>();
                try (Member member = new Member(brook, "replay", "backlog", third, r -> AcknowledgeType.ACCEPT)) {
                    eventually("the marker", () -> third.containsKey("marker"));
                }
                abandoned.forEach(v -> assertTrue(!third.containsKey(v), v + " delivered past its limit"));
            }
        }
    }

    /**
     * `share.isolation.level=read_committed` (a group config): the group reads below the last
     * stable offset, so an open transaction holds back what follows it, and records of an
     * aborted transaction are archived, never delivered. A read_uncommitted group sees all.
     */
    @Test
    void readCommittedGroupsSkipAbortedAndWaitForOpenTransactions() throws Exception {
        try (Brook brook = Brook.start()) {
            createTopic(brook, "payments");
            try (Admin admin = admin(brook)) {
                for (String group : List.of("committed", "everything")) {
                    var ops = new ArrayList<AlterConfigOp>();
                    ops.add(new AlterConfigOp(new ConfigEntry("share.auto.offset.reset", "earliest"), AlterConfigOp.OpType.SET));
                    if (group.equals("committed")) {
                        ops.add(new AlterConfigOp(new ConfigEntry("share.isolation.level", "read_committed"), AlterConfigOp.OpType.SET));
                    }
                    admin.incrementalAlterConfigs(Map.of(new ConfigResource(ConfigResource.Type.GROUP, group), ops)).all().get();
                }
                Properties props = new Properties();
                props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap);
                props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "payments-writer");
                try (var transactional = new KafkaProducer<>(props, new StringSerializer(), new StringSerializer());
                        KafkaProducer<String, String> plain = producer(brook)) {
                    transactional.initTransactions();
                    // Offsets 0-4 committed (marker 5), 6-10 aborted (marker 11), 12-14 open, 15 plain.
                    for (String kind : List.of("committed", "aborted", "open")) {
                        transactional.beginTransaction();
                        for (int i = 0; i < (kind.equals("open") ? 3 : 5); i++) {
                            transactional.send(new ProducerRecord<>("payments", "k", kind + "-" + i));
                        }
                        transactional.flush();
                        if (kind.equals("committed")) {
                            transactional.commitTransaction();
                        } else if (kind.equals("aborted")) {
                            transactional.abortTransaction();
                        }
                    }
                    plain.send(new ProducerRecord<>("payments", "k", "plain-0")).get();
                    Map<String, Integer> committed = new ConcurrentHashMap<>();
                    Map<String, Integer> everything = new ConcurrentHashMap<>();
                    try (Member reader = new Member(brook, "committed", "payments", committed, r -> AcknowledgeType.ACCEPT);
                            Member all = new Member(brook, "everything", "payments", everything, r -> AcknowledgeType.ACCEPT)) {
                        eventually("every record for the read_uncommitted group", () -> everything.containsKey("plain-0"));
                        assertTrue(everything.keySet().containsAll(List.of("aborted-0", "open-2")), "everything: " + everything);
                        // The committed group's start offset reaches the open transaction and stays:
                        // its markers were acknowledged as gaps and the aborted records archived.
                        eventually("the committed group at the open transaction",
                                () -> startOffset(admin, "committed", "payments") == 12);
                        assertEquals(Set.of("committed-0", "committed-1", "committed-2", "committed-3", "committed-4"),
                                committed.keySet(), "before the commit");
                        transactional.commitTransaction();
                        eventually("the records after the commit", () -> committed.containsKey("plain-0"));
                        eventually("the committed group at the end", () -> startOffset(admin, "committed", "payments") == 17);
                    }
                    assertTrue(committed.keySet().stream().noneMatch(v -> v.startsWith("aborted-")), "committed: " + committed);
                    assertEquals(9, committed.size(), "committed: " + committed);
                    assertTrue(committed.values().stream().allMatch(n -> n == 1), "delivered twice: " + committed);
                }
            }
        }
    }

    private static long startOffset(Admin admin, String group, String topic) {
        try {
            SharePartitionOffsetInfo info = shareOffsets(admin, group).get(new TopicPartition(topic, 0));
            return info == null ? -1 : info.startOffset();
        } catch (Exception e) {
            return -1;
        }
    }
}
