package dev.factura.conformance.client;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.cloud.context.config.annotation.RefreshScope;
import org.springframework.stereotype.Component;

/**
 * `global.params.p1`/`p2`, the seed's configuration check (its customer-service's
 * `/configtest1`), refreshed by `POST /actuator/refresh`.
 */
@RefreshScope
@Component
public class GlobalParams {
    private final int p1;
    private final int p2;

    public GlobalParams(@Value("${global.params.p1}") int p1, @Value("${global.params.p2}") int p2) {
        this.p1 = p1;
        this.p2 = p2;
    }

    public int p1() { return p1; }
    public int p2() { return p2; }
}
