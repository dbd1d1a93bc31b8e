package dev.factura.conformance.billing;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.cloud.openfeign.EnableFeignClients;

@EnableFeignClients
@SpringBootApplication
public class BillingServiceApp {
    public static void main(String[] args) {
        SpringApplication.run(BillingServiceApp.class, args);
    }
}
