package dev.factura.conformance.gateway;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/**
 * Spring Cloud Gateway as the seed application runs it: routes from properties or YAML, the
 * Eureka discovery locator, global CORS and the gateway actuator, all given by the test that
 * starts it (the same properties factura's gateway gets). No local handlers: CircuitBreaker
 * fallbacks forward to routes, as they do in factura.
 */
@SpringBootApplication
public class GatewayApp {
    public static void main(String[] args) {
        SpringApplication.run(GatewayApp.class, args);
    }
}
