package dev.brook;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Share-group throughput for scripts/bench-share: `consumers` members of one share group (one
 * thread and KafkaShareConsumer each, implicit acknowledgement, so every record is accepted by
 * the member's next poll) take the `records` records already in a one-partition topic. Prints
 * "share-bench records=N seconds=S rate=R duplicates=D" once every offset was delivered
 * (duplicates: records delivered again, which only a lock timeout or a failure should cause).
 * Arguments: bootstrap servers, topic, records, consumers.
 */
public final class ShareBench {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        long records = Long.parseLong(args[2]);
        int consumers = Integer.parseInt(args[3]);
        String group = "share-bench-" + System.nanoTime();
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
            ConfigResource resource = new ConfigResource(ConfigResource.Type.GROUP, group);
            AlterConfigOp earliest =
                    new AlterConfigOp(new ConfigEntry("share.auto.offset.reset", "earliest"), AlterConfigOp.OpType.SET);
            admin.incrementalAlterConfigs(Map.of(resource, List.of(earliest))).all().get();
        }
        Set<Long> seen = ConcurrentHashMap.newKeySet();
        long[] duplicates = new long[consumers];
        AtomicBoolean done = new AtomicBoolean();
        CountDownLatch all = new CountDownLatch(1);
        long[] firstAt = {0};
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < consumers; i++) {
            int index = i;
            Thread t = new Thread(() -> {
                Properties props = new Properties();
                props.put("bootstrap.servers", bootstrap);
                props.put("group.id", group);
                try (var consumer = new KafkaShareConsumer<byte[], byte[]>(
                        props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
                    consumer.subscribe(List.of(topic));
                    while (!done.get()) {
                        var batch = consumer.poll(Duration.ofMillis(100));
                        for (ConsumerRecord<byte[], byte[]> r : batch) {
                            synchronized (firstAt) {
                                if (firstAt[0] == 0) {
                                    firstAt[0] = System.nanoTime();
                                }
                            }
                            if (!seen.add(r.offset())) {
                                duplicates[index]++;
                            }
                        }
                        if (seen.size() >= records) {
                            all.countDown();
                        }
                    }
                    // Accepts what the last poll gave (close alone would release it).
                    consumer.commitSync();
                }
            });
            t.start();
            threads.add(t);
        }
        all.await(10, TimeUnit.MINUTES);
        long end = System.nanoTime();
        done.set(true);
        for (Thread t : threads) {
            t.join();
        }
        if (seen.size() < records) {
            throw new IllegalStateException("only " + seen.size() + " of " + records + " records delivered");
        }
        double seconds = (end - firstAt[0]) / 1e9;
        long dup = 0;
        for (long d : duplicates) {
            dup += d;
        }
        System.out.printf("share-bench records=%d seconds=%.2f rate=%.0f duplicates=%d%n",
                records, seconds, records / seconds, dup);
    }
}
