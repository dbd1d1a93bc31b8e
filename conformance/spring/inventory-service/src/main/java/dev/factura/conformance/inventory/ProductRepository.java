package dev.factura.conformance.inventory;

import java.util.Collection;
import java.util.List;
import org.springframework.data.domain.Page;
import org.springframework.data.domain.Pageable;
import org.springframework.data.jpa.repository.JpaRepository;
import org.springframework.data.repository.query.Param;
import org.springframework.data.rest.core.annotation.RepositoryRestResource;
import org.springframework.data.rest.core.annotation.RestResource;

/**
 * {@code /products} with factura's searches: {@code byName} (a page) and {@code byIdIn} (the
 * batch lookup billing makes for a whole bill: a list, no paging).
 */
@RepositoryRestResource
public interface ProductRepository extends JpaRepository<Product, Long> {
    @RestResource(path = "byName", rel = "byName")
    Page<Product> findByNameContainsIgnoreCase(@Param("name") String name, Pageable pageable);

    @RestResource(path = "byIdIn", rel = "byIdIn")
    List<Product> findByIdIn(@Param("ids") Collection<Long> ids);
}
