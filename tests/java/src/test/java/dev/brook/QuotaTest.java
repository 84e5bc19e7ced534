package dev.brook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;

/**
 * Client quotas through the Java Admin API (AlterClientQuotas, DescribeClientQuotas), and a
 * Java producer over its quota told to back off (its produce-throttle-time metric).
 */
class QuotaTest {
    @Test
    void quotasFromTheAdminApiThrottleAProducer() throws Exception {
        try (Brook brook = Brook.start("quota.window.num=2", "quota.window.size.seconds=1");
                Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap))) {
            admin.createTopics(List.of(new NewTopic("quoted", 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
            ClientQuotaEntity slow = new ClientQuotaEntity(Map.of(ClientQuotaEntity.CLIENT_ID, "slow-writer"));
            admin.alterClientQuotas(List.of(new ClientQuotaAlteration(slow,
                            List.of(new ClientQuotaAlteration.Op("producer_byte_rate", 50_000.0)))))
                    .all().get(30, TimeUnit.SECONDS);
            ClientQuotaFilter filter = ClientQuotaFilter.containsOnly(
                    List.of(ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.CLIENT_ID, "slow-writer")));
            assertEquals(Map.of(slow, Map.of("producer_byte_rate", 50_000.0)),
                    admin.describeClientQuotas(filter).entities().get(30, TimeUnit.SECONDS));

            Properties props = new Properties();
            props.put("bootstrap.servers", brook.bootstrap);
            props.put("client.id", "slow-writer");
            byte[] value = new byte[10_000];
            long started = System.nanoTime();
            try (KafkaProducer<byte[], byte[]> producer =
                    new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer())) {
                // 500 KB at 50 KB/s: about ten seconds less the first window's burst.
                for (int i = 0; i < 50; i++) {
                    producer.send(new ProducerRecord<>("quoted", value)).get(60, TimeUnit.SECONDS);
                }
                double throttled = 0;
                for (Map.Entry<MetricName, ? extends Metric> m : producer.metrics().entrySet()) {
                    if (m.getKey().name().equals("produce-throttle-time-max")) {
                        throttled = Math.max(throttled, (Double) m.getValue().metricValue());
                    }
                }
                assertTrue(throttled > 0, "the producer was told to back off");
            }
            double seconds = (System.nanoTime() - started) / 1e9;
            assertTrue(seconds > 6, "500 KB at 50 KB/s took " + seconds + " s");
        }
    }
}
