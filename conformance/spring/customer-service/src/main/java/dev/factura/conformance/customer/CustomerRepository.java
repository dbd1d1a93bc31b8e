package dev.factura.conformance.customer;

import org.springframework.data.domain.Page;
import org.springframework.data.domain.Pageable;
import org.springframework.data.jpa.repository.JpaRepository;
import org.springframework.data.repository.query.Param;
import org.springframework.data.rest.core.annotation.RepositoryRestResource;
import org.springframework.data.rest.core.annotation.RestResource;

/** {@code /customers} with factura's searches: {@code byName} (a page) and {@code byEmail} (one). */
@RepositoryRestResource
public interface CustomerRepository extends JpaRepository<Customer, Long> {
    @RestResource(path = "byName", rel = "byName")
    Page<Customer> findByNameContainsIgnoreCase(@Param("name") String name, Pageable pageable);

    @RestResource(path = "byEmail", rel = "byEmail")
    Customer findByEmail(@Param("email") String email);
}
