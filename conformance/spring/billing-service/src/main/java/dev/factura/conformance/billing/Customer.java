package dev.factura.conformance.billing;

/** A customer as CUSTOMER-SERVICE serves it (links ignored). */
public record Customer(Long id, String name, String email) {}
