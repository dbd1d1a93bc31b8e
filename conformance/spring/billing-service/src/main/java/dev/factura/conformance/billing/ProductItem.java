package dev.factura.conformance.billing;

import jakarta.persistence.Entity;
import jakarta.persistence.GeneratedValue;
import jakarta.persistence.GenerationType;
import jakarta.persistence.Id;
import jakarta.persistence.ManyToOne;
import jakarta.validation.constraints.DecimalMax;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.PositiveOrZero;

/**
 * The seed's {@code ProductItem {id, productId, quantity, price, discount, bill}}: the bill is an
 * association (a link in the representation, a URI in request bodies). The seed marks it
 * {@code @JsonProperty(access = WRITE_ONLY)}, which makes Spring Data REST refuse bill URIs in
 * request bodies; Spring Data REST renders associations as links either way, so it is left out.
 */
@Entity
public class ProductItem {
    @Id
    @GeneratedValue(strategy = GenerationType.IDENTITY)
    private Long id;

    @NotNull
    @Min(1)
    private Long productId;

    @NotNull
    @Min(1)
    @Max(1_000_000)
    private Integer quantity;

    @NotNull
    @PositiveOrZero
    private Double price;

    @PositiveOrZero
    @DecimalMax("1")
    private Double discount;

    @NotNull
    @ManyToOne
    private Bill bill;

    // Only the no-argument constructor: with parameter names compiled in, Jackson would pick a
    // many-argument one as its creator and bypass Spring Data REST's URI-to-entity resolution.
    public ProductItem() {}

    public Long getId() { return id; }
    public void setId(Long id) { this.id = id; }
    public Long getProductId() { return productId; }
    public void setProductId(Long productId) { this.productId = productId; }
    public Integer getQuantity() { return quantity; }
    public void setQuantity(Integer quantity) { this.quantity = quantity; }
    public Double getPrice() { return price; }
    public void setPrice(Double price) { this.price = price; }
    public Double getDiscount() { return discount; }
    public void setDiscount(Double discount) { this.discount = discount; }
    public Bill getBill() { return bill; }
    public void setBill(Bill bill) { this.bill = bill; }
}
