package dev.brook;

import java.time.Duration;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * A share consumer in a JVM of its own, to be killed while it holds records: it polls until it
 * gets some, prints "got <value>" for each, then holds them without acknowledging.
 * Arguments: bootstrap servers, group, topic.
 */
public final class ShareWorker {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("group.id", args[1]);
        props.put("share.acknowledgement.mode", "explicit");
        KafkaShareConsumer<String, String> consumer =
                new KafkaShareConsumer<>(props, new StringDeserializer(), new StringDeserializer());
        consumer.subscribe(List.of(args[2]));
        while (true) {
            var batch = consumer.poll(Duration.ofMillis(100));
            if (!batch.isEmpty()) {
                for (ConsumerRecord<String, String> r : batch) {
                    System.out.println("got " + r.value());
                }
                System.out.println("holding");
                System.out.flush();
                Thread.sleep(Long.MAX_VALUE);
            }
        }
    }
}
