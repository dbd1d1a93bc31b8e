package dev.factura.conformance.eureka;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.cloud.netflix.eureka.server.EnableEurekaServer;

/**
 * The reference Eureka server: Spring Cloud Netflix's own {@code @EnableEurekaServer} with no
 * code of ours in the request path, so what it answers is what Spring users get. Standalone or a
 * peer is decided by the properties a test passes (see application.yml).
 */
@EnableEurekaServer
@SpringBootApplication
public class EurekaServerApp {
    public static void main(String[] args) {
        SpringApplication.run(EurekaServerApp.class, args);
    }
}
