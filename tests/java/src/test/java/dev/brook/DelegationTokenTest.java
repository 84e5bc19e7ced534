package dev.brook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.CreateDelegationTokenOptions;
import org.apache.kafka.clients.admin.ExpireDelegationTokenOptions;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.DelegationTokenNotFoundException;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.UnsupportedByAuthenticationException;
import org.apache.kafka.common.security.auth.KafkaPrincipal;
import org.apache.kafka.common.security.token.delegation.DelegationToken;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * Delegation tokens as a Java application uses them: a user makes a token with the Admin API,
 * hands it to a producer and a consumer that log in with SCRAM and tokenauth=true, and expires it.
 */
class DelegationTokenTest {
    private static Properties plain(String bootstrap) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("security.protocol", "SASL_PLAINTEXT");
        props.put("sasl.mechanism", "PLAIN");
        props.put("sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule required "
                + "username=\"alice\" password=\"alice-secret\";");
        return props;
    }

    /** A client logging in with the token, as Kafka's documentation shows. */
    private static Properties withToken(String bootstrap, DelegationToken token) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("security.protocol", "SASL_PLAINTEXT");
        props.put("sasl.mechanism", "SCRAM-SHA-256");
        props.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required "
                + "username=\"" + token.tokenInfo().tokenId() + "\" password=\"" + token.hmacAsBase64String()
                + "\" tokenauth=\"true\";");
        return props;
    }

    @Test
    void aTokenMadeWithTheAdminApiProducesAndConsumes() throws Exception {
        int port = Brook.freePort();
        String bootstrap = "127.0.0.1:" + port;
        try (Brook brook = Brook.start("listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:" + port,
                "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256", "sasl.plain.users=alice:alice-secret",
                "delegation.token.secret.key=java-secret");
                Admin admin = Admin.create(plain(bootstrap))) {
            DelegationToken token = admin.createDelegationToken(new CreateDelegationTokenOptions()
                    .renewers(List.of(new KafkaPrincipal("User", "bob")))).delegationToken().get(30, TimeUnit.SECONDS);
            assertEquals(new KafkaPrincipal("User", "alice"), token.tokenInfo().owner());
            assertEquals(List.of(new KafkaPrincipal("User", "bob")), token.tokenInfo().renewers());
            List<DelegationToken> described = admin.describeDelegationToken().delegationTokens().get(30, TimeUnit.SECONDS);
            assertEquals(1, described.size());
            assertEquals(token.tokenInfo().tokenId(), described.get(0).tokenInfo().tokenId());
            long renewed = admin.renewDelegationToken(token.hmac()).expiryTimestamp().get(30, TimeUnit.SECONDS);
            assertTrue(renewed >= token.tokenInfo().expiryTimestamp(), "renewed to " + renewed);

            Properties producerProps = withToken(bootstrap, token);
            producerProps.put("key.serializer", StringSerializer.class.getName());
            producerProps.put("value.serializer", StringSerializer.class.getName());
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps)) {
                for (int i = 0; i < 10; i++) {
                    producer.send(new ProducerRecord<>("token-java", "k" + i, "v" + i)).get(30, TimeUnit.SECONDS);
                }
            }
            Properties consumerProps = withToken(bootstrap, token);
            consumerProps.put("group.id", "token-readers");
            consumerProps.put("auto.offset.reset", "earliest");
            consumerProps.put("key.deserializer", StringDeserializer.class.getName());
            consumerProps.put("value.deserializer", StringDeserializer.class.getName());
            List<String> values = new ArrayList<>();
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerProps)) {
                consumer.subscribe(List.of("token-java"));
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (values.size() < 10 && System.nanoTime() < deadline) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                        values.add(r.value());
                    }
                }
                consumer.commitSync();
            }
            assertEquals(10, values.size(), "read with the token: " + values);

            // A token may not make tokens (Kafka's rule: it could outlive its own expiry).
            try (Admin asToken = Admin.create(withToken(bootstrap, token))) {
                ExecutionException refused = assertThrows(ExecutionException.class,
                        () -> asToken.createDelegationToken().delegationToken().get(30, TimeUnit.SECONDS));
                assertInstanceOf(UnsupportedByAuthenticationException.class, refused.getCause());
            }

            // Expired at once: removed, and no longer a password.
            admin.expireDelegationToken(token.hmac(), new ExpireDelegationTokenOptions().expiryTimePeriodMs(-1))
                    .expiryTimestamp().get(30, TimeUnit.SECONDS);
            ExecutionException gone = assertThrows(ExecutionException.class,
                    () -> admin.renewDelegationToken(token.hmac()).expiryTimestamp().get(30, TimeUnit.SECONDS));
            assertInstanceOf(DelegationTokenNotFoundException.class, gone.getCause());
            producerProps.put("max.block.ms", "10000");
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps)) {
                ExecutionException failed = assertThrows(ExecutionException.class,
                        () -> producer.send(new ProducerRecord<>("token-java", "k", "late")).get(30, TimeUnit.SECONDS));
                assertInstanceOf(SaslAuthenticationException.class, failed.getCause());
            }
        }
    }
}
