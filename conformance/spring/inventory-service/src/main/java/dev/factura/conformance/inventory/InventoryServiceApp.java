package dev.factura.conformance.inventory;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;



@SpringBootApplication
public class InventoryServiceApp {
    public static void main(String[] args) {
        SpringApplication.run(InventoryServiceApp.class, args);
    }
}
