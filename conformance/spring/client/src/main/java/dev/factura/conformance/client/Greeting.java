package dev.factura.conformance.client;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.cloud.context.config.annotation.RefreshScope;
import org.springframework.stereotype.Component;

/** Values from the config server, rebuilt after `POST /actuator/refresh`. */
@RefreshScope
@Component
public class Greeting {
    private final String greeting;
    private final String secret;
    private final long builtAt = System.nanoTime();

    public Greeting(@Value("${client.greeting}") String greeting,
                    @Value("${client.secret}") String secret) {
        this.greeting = greeting;
        this.secret = secret;
    }

    public String greeting() { return greeting; }
    public String secret() { return secret; }
    public long builtAt() { return builtAt; }
}
