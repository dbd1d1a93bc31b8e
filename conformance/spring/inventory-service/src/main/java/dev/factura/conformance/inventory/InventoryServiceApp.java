package dev.factura.conformance.inventory;

import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Bean;

/** The seed's inventory-service: Spring Data REST over JPA/H2, seeded with three products. */
@SpringBootApplication
public class InventoryServiceApp {
    public static void main(String[] args) {
        SpringApplication.run(InventoryServiceApp.class, args);
    }

    /** Seeds during start-up, before the web server accepts requests (runners come after it). */
    @Bean
    SmartInitializingSingleton seed(ProductRepository products) {
        return () -> {
            if (products.count() == 0) {
                products.save(new Product("Computer Desk", 890, 12));
                products.save(new Product("Printer", 420, 8));
                products.save(new Product("Smartphone", 240, 20));
            }
        };
    }
}
