package dev.factura.conformance.customer;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.GeneratedValue;
import jakarta.persistence.GenerationType;
import jakarta.persistence.Id;
import jakarta.persistence.Version;
import jakarta.validation.constraints.Email;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.Size;

/**
 * The seed's {@code Customer {id, name, email}} with factura's rules: name required (at most 255
 * characters), e-mail required, well-formed and unique. {@code @Version} (which the seed lacks)
 * gives the ETag factura sends for every entity, so conditional requests can be compared; products
 * and bills stay unversioned, as in the seed.
 */
@Entity
public class Customer {
    @Id
    @GeneratedValue(strategy = GenerationType.IDENTITY)
    private Long id;

    @NotBlank
    @Size(max = 255)
    private String name;

    @NotBlank
    @Email
    @Column(unique = true)
    private String email;

    @Version
    private Long version;

    public Customer() {}

    public Customer(String name, String email) {
        this.name = name;
        this.email = email;
    }

    public Long getId() { return id; }
    public void setId(Long id) { this.id = id; }
    public String getName() { return name; }
    public void setName(String name) { this.name = name; }
    public String getEmail() { return email; }
    public void setEmail(String email) { this.email = email; }
    public Long getVersion() { return version; }
    public void setVersion(Long version) { this.version = version; }
}
