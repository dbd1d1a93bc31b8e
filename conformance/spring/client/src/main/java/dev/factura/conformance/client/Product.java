package dev.factura.conformance.client;

/** A product as inventory-service serves it (Spring Data REST, ids exposed). */
public record Product(Long id, String name, Double price, Integer quantity) {}
