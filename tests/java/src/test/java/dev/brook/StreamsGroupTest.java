package dev.brook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.function.Predicate;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.StreamsGroupDescription;
import org.apache.kafka.clients.admin.StreamsGroupMemberAssignment;
import org.apache.kafka.clients.admin.StreamsGroupMemberDescription;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.junit.jupiter.api.Test;

/**
 * Kafka Streams with the streams rebalance protocol (KIP-1071, `group.protocol=streams`): the
 * broker checks the topology, creates its internal topics and assigns the tasks.
 */
class StreamsGroupTest {
    private static final String APP = "purchase-counter";

    private static StreamsGroupDescription describe(Admin admin) throws Exception {
        return admin.describeStreamsGroups(List.of(APP)).describedGroups().get(APP).get();
    }

    /** Waits until the group's description satisfies `check`; returns it. */
    private static StreamsGroupDescription awaitGroup(Admin admin, String what, Predicate<StreamsGroupDescription> check)
            throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        StreamsGroupDescription group = describe(admin);
        while (!check.test(group)) {
            assertTrue(System.nanoTime() < deadline, what + ": " + group);
            Thread.sleep(200);
            group = describe(admin);
        }
        return group;
    }

    private static Set<String> tasks(Collection<StreamsGroupMemberDescription> members) {
        Set<String> out = new HashSet<>();
        for (StreamsGroupMemberDescription m : members) {
            for (String id : ids(m.assignment().activeTasks())) {
                assertTrue(out.add(id), "task " + id + " active on two members");
            }
        }
        return out;
    }

    /** Task ids as `subtopology_partition`, each once. */
    private static Set<String> ids(List<StreamsGroupMemberAssignment.TaskIds> tasks) {
        Set<String> out = new HashSet<>();
        for (StreamsGroupMemberAssignment.TaskIds t : tasks) {
            for (int p : t.partitions()) {
                assertTrue(out.add(t.subtopologyId() + "_" + p), "task " + t.subtopologyId() + "_" + p + " twice");
            }
        }
        return out;
    }

    private static boolean stableWith(StreamsGroupDescription g, int members) {
        return g.groupState() == GroupState.STABLE && g.members().size() == members
                && g.members().stream().allMatch(m -> !m.assignment().activeTasks().isEmpty());
    }

    /**
     * The overview's purchases counted per customer by two Streams processes sharing the
     * tasks, each keeping a standby copy of the other's counting tasks (the group config
     * `streams.num.standby.replicas=1`); one is killed (kill -9) in the middle of a burst, the
     * other takes over its tasks once the session times out, and the counts read with
     * read_committed stay exact.
     */
    @Test
    void twoInstancesOneKilled() throws Exception {
        try (Brook brook = Brook.start("group.streams.min.session.timeout.ms=1000",
                "group.streams.session.timeout.ms=6000", "group.streams.min.heartbeat.interval.ms=500",
                "group.streams.heartbeat.interval.ms=1000");
                Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap))) {
            admin.createTopics(List.of(new NewTopic("purchases", 4, (short) 1),
                    new NewTopic("purchase-counts", 4, (short) 1))).all().get();
            ConfigResource groupConfigs = new ConfigResource(ConfigResource.Type.GROUP, APP);
            AlterConfigOp oneStandby = new AlterConfigOp(new ConfigEntry("streams.num.standby.replicas", "1"),
                    AlterConfigOp.OpType.SET);
            admin.incrementalAlterConfigs(Map.of(groupConfigs, List.of(oneStandby))).all().get();
            Map<String, Long> expected = new HashMap<>();
            TransactionsTest.purchases(brook, 0, 200, expected);
            List<Process> apps = new ArrayList<>();
            try {
                apps.add(TransactionsTest.countingProcess(brook, brook.data.resolve("app-1").toString(), "streams"));
                apps.add(TransactionsTest.countingProcess(brook, brook.data.resolve("app-2").toString(), "streams"));
                TransactionsTest.awaitCounts(brook, () -> apps.stream().allMatch(Process::isAlive), expected);

                // The broker created the internal topics, with the source topic's partitions.
                Set<String> topics = admin.listTopics().names().get();
                assertTrue(topics.contains(APP + "-KSTREAM-AGGREGATE-STATE-STORE-0000000002-changelog"), topics.toString());
                assertTrue(topics.contains(APP + "-KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition"), topics.toString());
                StreamsGroupDescription group = awaitGroup(admin, "two members share the tasks", g -> stableWith(g, 2));
                assertEquals(Set.of("0_0", "0_1", "0_2", "0_3", "1_0", "1_1", "1_2", "1_3"), tasks(group.members()));
                assertEquals(2, group.subtopologies().size(), group.toString());
                // Subtopology 1 counts (it has a state store): each of its tasks has a standby on
                // the other process; subtopology 0 is stateless and has none.
                Set<String> standbys = new HashSet<>();
                for (StreamsGroupMemberDescription m : group.members()) {
                    Set<String> mine = ids(m.assignment().standbyTasks());
                    assertTrue(mine.stream().allMatch(t -> t.startsWith("1_")), mine.toString());
                    assertTrue(mine.stream().noneMatch(ids(m.assignment().activeTasks())::contains), group.toString());
                    standbys.addAll(mine);
                }
                assertEquals(Set.of("1_0", "1_1", "1_2", "1_3"), standbys, group.toString());
                Collection<GroupListing> listed = admin.listGroups(ListGroupsOptions.forStreamsGroups()).all().get();
                assertEquals(1, listed.size(), listed.toString());
                assertEquals(GroupType.STREAMS, listed.iterator().next().type().orElseThrow());

                TransactionsTest.purchases(brook, 200, 1000, expected);
                apps.get(0).destroyForcibly().waitFor();
                TransactionsTest.purchases(brook, 1200, 100, expected);
                group = awaitGroup(admin, "the survivor takes every task", g -> stableWith(g, 1));
                assertEquals(8, tasks(group.members()).size(), group.toString());
                TransactionsTest.awaitCounts(brook, apps.get(1)::isAlive, expected);
            } finally {
                for (Process app : apps) {
                    app.destroyForcibly().waitFor();
                }
            }
        }
    }

    /**
     * The broker is killed (kill -9) while the streams group counts a burst of purchases: the
     * restarted broker reads the group back from __consumer_offsets, the member carries on with
     * its tasks, and the counts read with read_committed are exact.
     */
    @Test
    void brokerKilledUnderAStreamsGroup() throws Exception {
        String[] settings = {"group.streams.min.session.timeout.ms=1000", "group.streams.session.timeout.ms=6000",
            "group.streams.min.heartbeat.interval.ms=500", "group.streams.heartbeat.interval.ms=1000"};
        Brook brook = Brook.start(settings);
        try {
            try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap))) {
                admin.createTopics(List.of(new NewTopic("purchases", 2, (short) 1),
                        new NewTopic("purchase-counts", 2, (short) 1))).all().get();
            }
            Map<String, Long> expected = new HashMap<>();
            TransactionsTest.purchases(brook, 0, 200, expected);
            Properties props = CountPurchasesApp.streamsProtocolConfig(brook.bootstrap, brook.data.resolve("streams").toString());
            try (KafkaStreams streams = new KafkaStreams(CountPurchasesApp.topology().build(), props)) {
                streams.setUncaughtExceptionHandler(e -> {
                    e.printStackTrace();
                    return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
                });
                streams.start();
                TransactionsTest.awaitCounts(brook, () -> streams.state() != KafkaStreams.State.ERROR, expected);
                TransactionsTest.purchases(brook, 200, 300, expected);
                brook.kill();
                brook = brook.restart(settings);
                TransactionsTest.purchases(brook, 500, 100, expected);
                TransactionsTest.awaitCounts(brook, () -> streams.state() != KafkaStreams.State.ERROR, expected);
            }
        } finally {
            brook.close();
        }
    }
}
