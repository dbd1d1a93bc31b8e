package dev.factura.conformance.billing;

import org.springframework.data.domain.Page;
import org.springframework.data.domain.Pageable;
import org.springframework.data.jpa.repository.JpaRepository;
import org.springframework.data.repository.query.Param;
import org.springframework.data.rest.core.annotation.RepositoryRestResource;
import org.springframework.data.rest.core.annotation.RestResource;

/** {@code /bills} with the seed's search {@code byCustomerId}. */
@RepositoryRestResource
public interface BillRepository extends JpaRepository<Bill, Long> {
    @RestResource(path = "byCustomerId", rel = "byCustomerId")
    Page<Bill> findByCustomerId(@Param("customerId") Long customerId, Pageable pageable);
}
