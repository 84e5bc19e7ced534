package dev.brook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;

/**
 * Client metrics (KIP-714): a subscription made with the Admin API asks Java producers for their
 * metrics every second; the producer pushes them (GetTelemetrySubscriptions, PushTelemetry) and
 * Brook's /metrics exports them under the producer's client instance id. A consumer the
 * subscription does not match pushes nothing.
 */
class ClientMetricsTest {
    @Test
    void producersPushTheirMetricsToMetricsEndpoint() throws Exception {
        int consolePort;
        try (ServerSocket socket = new ServerSocket(0)) {
            consolePort = socket.getLocalPort();
        }
        try (Brook brook = Brook.start("console.listener=127.0.0.1:" + consolePort);
                Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap))) {
            admin.createTopics(List.of(new NewTopic("measured", 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
            ConfigResource subscription = new ConfigResource(ConfigResource.Type.CLIENT_METRICS, "producers");
            admin.incrementalAlterConfigs(Map.of(subscription, List.of(
                    new AlterConfigOp(new ConfigEntry("metrics", "org.apache.kafka.producer."), AlterConfigOp.OpType.SET),
                    new AlterConfigOp(new ConfigEntry("interval.ms", "1000"), AlterConfigOp.OpType.SET),
                    new AlterConfigOp(new ConfigEntry("match", "client_id=shop-.*"), AlterConfigOp.OpType.SET))))
                    .all().get(30, TimeUnit.SECONDS);
            Map<String, String> described = admin.describeConfigs(List.of(subscription)).all().get(30, TimeUnit.SECONDS)
                    .get(subscription).entries().stream()
                    .collect(java.util.stream.Collectors.toMap(ConfigEntry::name, ConfigEntry::value));
            assertEquals(Map.of("metrics", "org.apache.kafka.producer.", "interval.ms", "1000", "match", "client_id=shop-.*"),
                    described);

            Properties producerProps = new Properties();
            producerProps.put("bootstrap.servers", brook.bootstrap);
            producerProps.put("client.id", "shop-checkout");
            Properties consumerProps = new Properties();
            consumerProps.put("bootstrap.servers", brook.bootstrap);
            consumerProps.put("client.id", "reporting");
            consumerProps.put("group.id", "reporting");
            try (KafkaProducer<byte[], byte[]> producer =
                            new KafkaProducer<>(producerProps, new ByteArraySerializer(), new ByteArraySerializer());
                    KafkaConsumer<byte[], byte[]> consumer =
                            new KafkaConsumer<>(consumerProps, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
                for (int i = 0; i < 25; i++) {
                    producer.send(new ProducerRecord<>("measured", ("purchase-" + i).getBytes())).get(30, TimeUnit.SECONDS);
                }
                Uuid producerId = producer.clientInstanceId(Duration.ofSeconds(30));
                consumer.subscribe(List.of("measured"));
                consumer.poll(Duration.ofSeconds(2));
                Uuid consumerId = consumer.clientInstanceId(Duration.ofSeconds(30));
                String series = "org_apache_kafka_producer_record_send_total{client_instance_id=\"" + producerId + "\"";
                HttpClient http = HttpClient.newHttpClient();
                HttpRequest get = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + consolePort + "/metrics")).build();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                double sent = 0;
                String page = "";
                while (sent < 25 && System.nanoTime() < deadline) {
                    page = http.send(get, HttpResponse.BodyHandlers.ofString()).body();
                    sent = page.lines().filter(l -> l.startsWith(series))
                            .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
                    Thread.sleep(200);
                }
                String shown = String.join("\n", page.lines().filter(l -> l.contains("record_send")).toList());
                assertEquals(25.0, sent, "the producer's pushed record-send total on /metrics: " + shown);
                assertTrue(page.contains("# TYPE org_apache_kafka_producer_record_send_total counter"), page);
                assertFalse(page.contains(consumerId.toString()), "the unmatched consumer pushed nothing");
            }
        }
    }
}
