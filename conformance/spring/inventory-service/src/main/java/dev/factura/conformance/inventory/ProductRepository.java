package dev.factura.conformance.inventory;

import org.springframework.data.domain.Page;
import org.springframework.data.domain.Pageable;
import org.springframework.data.jpa.repository.JpaRepository;
import org.springframework.data.repository.query.Param;
import org.springframework.data.rest.core.annotation.RepositoryRestResource;
import org.springframework.data.rest.core.annotation.RestResource;

/** {@code /products} with factura's search {@code byName} (a page). */
@RepositoryRestResource
public interface ProductRepository extends JpaRepository<Product, Long> {
    @RestResource(path = "byName", rel = "byName")
    Page<Product> findByNameContainsIgnoreCase(@Param("name") String name, Pageable pageable);
}
