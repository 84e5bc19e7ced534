import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Produced;

/**
 * The overview's stream processing for the streams bench: purchases (keyed by order, valued by
 * customer) counted per customer through a repartition topic and a state store, until the
 * latest counts, read with read_committed, add up to every purchase. Prints the time from
 * start() to that point. Arguments: bootstrap, purchases expected, state dir, guarantee.
 */
public class CountPurchases {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        long expected = Long.parseLong(args[1]);
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream("purchases", Consumed.with(Serdes.String(), Serdes.String()))
                .groupBy((order, customer) -> customer, Grouped.with(Serdes.String(), Serdes.String()))
                .count()
                .toStream()
                .to("purchase-counts", Produced.with(Serdes.String(), Serdes.Long()));
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "purchase-counter");
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, args[3]);
        props.put(StreamsConfig.STATE_DIR_CONFIG, args[2]);
        // exactly_once_v2's default; at_least_once's (30 s) would measure the wait, not the work.
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        Properties reader = new Properties();
        reader.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        reader.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        reader.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        reader.put(ConsumerConfig.GROUP_ID_CONFIG, "count-reader");
        reader.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        reader.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, LongDeserializer.class.getName());
        try (KafkaStreams streams = new KafkaStreams(builder.build(), props);
                KafkaConsumer<String, Long> counts = new KafkaConsumer<>(reader)) {
            counts.subscribe(List.of("purchase-counts"));
            long started = System.nanoTime();
            streams.start();
            Map<String, Long> latest = new HashMap<>();
            long total = 0;
            long deadline = started + Duration.ofMinutes(10).toNanos();
            while (total != expected) {
                if (streams.state() == KafkaStreams.State.ERROR || System.nanoTime() > deadline) {
                    throw new IllegalStateException("counted " + total + " of " + expected + " in state " + streams.state());
                }
                for (ConsumerRecord<String, Long> r : counts.poll(Duration.ofMillis(100))) {
                    Long before = latest.put(r.key(), r.value());
                    total += r.value() - (before == null ? 0 : before);
                }
            }
            System.out.println("elapsed_ms=" + (System.nanoTime() - started) / 1_000_000);
        }
    }
}
