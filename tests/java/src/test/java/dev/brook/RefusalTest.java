package dev.brook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.errors.SecurityDisabledException;
import org.apache.kafka.common.errors.UnsupportedByAuthenticationException;
import org.apache.kafka.common.errors.IllegalSaslStateException;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.junit.jupiter.api.Test;

/**
 * What Brook does not have yet is refused so that the client fails at once, with an error that
 * names it, instead of retrying until a timeout. Each case fails with a timeout (not the error
 * asserted) if Brook answered it with something the client retries.
 */
class RefusalTest {
    /** The first of `e`'s causes (itself included) of the expected type. */
    private static <T extends Throwable> T causeOf(Throwable e, Class<T> type) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
        }
        throw new AssertionError("expected " + type.getSimpleName() + " among the causes of " + e, e);
    }

    /** A producer configured for SASL, on a listener without it: Kafka's ILLEGAL_SASL_STATE. */
    @Test
    void saslClientOnAPlaintextListener() throws Exception {
        try (Brook brook = Brook.start()) {
            Properties props = new Properties();
            props.put("bootstrap.servers", brook.bootstrap);
            props.put("security.protocol", "SASL_PLAINTEXT");
            props.put("sasl.mechanism", "PLAIN");
            props.put("sasl.jaas.config",
                    "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\";");
            props.put("max.block.ms", 30_000);
            try (KafkaProducer<String, String> producer =
                    new KafkaProducer<>(props, new StringSerializer(), new StringSerializer())) {
                Exception e = assertThrows(Exception.class, () -> producer.send(new ProducerRecord<>("t", "v")).get());
                Throwable cause = causeOf(e, IllegalSaslStateException.class);
                assertTrue(cause.getMessage().contains("enabled mechanisms are []"), cause.getMessage());
            }
        }
    }

    /**
     * Delegation tokens on a PLAINTEXT listener and ACLs without an authorizer fail at once,
     * as Kafka's do (DELEGATION_TOKEN_REQUEST_NOT_ALLOWED, SECURITY_DISABLED).
     */
    @Test
    void adminApisNotServed() throws Exception {
        try (Brook brook = Brook.start();
                Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brook.bootstrap))) {
            ExecutionException tokens = assertThrows(ExecutionException.class,
                    () -> admin.describeDelegationToken().delegationTokens().get());
            // Tokens are managed only over authenticated connections, as on Kafka.
            assertInstanceOf(UnsupportedByAuthenticationException.class, tokens.getCause());
            assertTrue(tokens.getCause().getMessage().contains("not allowed on PLAINTEXT"), tokens.getCause().getMessage());
            ExecutionException acls =
                    assertThrows(ExecutionException.class, () -> admin.describeAcls(AclBindingFilter.ANY).values().get());
            assertInstanceOf(SecurityDisabledException.class, acls.getCause());
            assertEquals("No Authorizer is configured.", acls.getCause().getMessage());
        }
    }
}
