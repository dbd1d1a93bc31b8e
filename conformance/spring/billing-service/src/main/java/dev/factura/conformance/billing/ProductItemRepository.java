package dev.factura.conformance.billing;

import org.springframework.data.jpa.repository.JpaRepository;
import org.springframework.data.rest.core.annotation.RepositoryRestResource;

/** {@code /productItems}. */
@RepositoryRestResource
public interface ProductItemRepository extends JpaRepository<ProductItem, Long> {}
