package dev.factura.conformance.billing;

/** A product as INVENTORY-SERVICE serves it (links ignored). */
public record Product(Long id, String name, Double price, Integer quantity) {}
