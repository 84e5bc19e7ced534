package dev.brook;

import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Produced;

/**
 * The overview's stream processing as its own process, for tests that kill it: purchases
 * (order id -> customer) counted per customer with exactly_once_v2, until killed. Prints
 * "RUNNING" once the application runs. Arguments: bootstrap servers, state directory, and
 * optionally "streams" for the streams rebalance protocol (KIP-1071) instead of the classic one.
 */
public final class CountPurchasesApp {
    private CountPurchasesApp() {}

    static StreamsBuilder topology() {
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream("purchases", Consumed.with(Serdes.String(), Serdes.String()))
                .groupBy((order, customer) -> customer, Grouped.with(Serdes.String(), Serdes.String()))
                .count()
                .toStream()
                .to("purchase-counts", Produced.with(Serdes.String(), Serdes.Long()));
        return builder;
    }

    static Properties config(String bootstrap, String stateDir) {
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "purchase-counter");
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 200);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        // A killed instance's partitions move to the next one within seconds, not 45.
        props.put(StreamsConfig.consumerPrefix("session.timeout.ms"), 6000);
        props.put(StreamsConfig.consumerPrefix("heartbeat.interval.ms"), 1000);
        return props;
    }

    /** As `config`, with the streams rebalance protocol: the broker assigns the tasks. */
    static Properties streamsProtocolConfig(String bootstrap, String stateDir) {
        Properties props = config(bootstrap, stateDir);
        // The broker's group configs set the session timeout and heartbeat interval.
        props.remove(StreamsConfig.consumerPrefix("session.timeout.ms"));
        props.remove(StreamsConfig.consumerPrefix("heartbeat.interval.ms"));
        props.put(StreamsConfig.GROUP_PROTOCOL_CONFIG, "streams");
        return props;
    }

    public static void main(String[] args) throws InterruptedException {
        boolean streamsProtocol = args.length > 2 && args[2].equals("streams");
        Properties props = streamsProtocol ? streamsProtocolConfig(args[0], args[1]) : config(args[0], args[1]);
        KafkaStreams streams = new KafkaStreams(topology().build(), props);
        CountDownLatch running = new CountDownLatch(1);
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.RUNNING) {
                running.countDown();
            }
        });
        streams.start();
        running.await();
        System.out.println("RUNNING");
        System.out.flush();
        new CountDownLatch(1).await();
    }
}
