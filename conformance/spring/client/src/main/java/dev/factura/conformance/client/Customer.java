package dev.factura.conformance.client;

/** A customer as customer-service serves it (Spring Data REST, ids exposed). */
public record Customer(Long id, String name, String email) {}
