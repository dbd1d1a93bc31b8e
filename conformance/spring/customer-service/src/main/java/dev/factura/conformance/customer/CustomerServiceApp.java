package dev.factura.conformance.customer;

import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Bean;

/** The seed's customer-service: Spring Data REST over JPA/H2, seeded with three customers. */
@SpringBootApplication
public class CustomerServiceApp {
    public static void main(String[] args) {
        SpringApplication.run(CustomerServiceApp.class, args);
    }

    /** Seeds during start-up, before the web server accepts requests (runners come after it). */
    @Bean
    SmartInitializingSingleton seed(CustomerRepository customers) {
        return () -> {
            if (customers.count() == 0) {
                customers.save(new Customer("Hassan", "hassan@mail.com"));
                customers.save(new Customer("Mohamed", "mohamed@mail.com"));
                customers.save(new Customer("Ali", "ali@mail.com"));
            }
        };
    }
}
