package dev.factura.conformance.client;

import org.springframework.cloud.openfeign.FeignClient;
import org.springframework.hateoas.PagedModel;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;

/** customer-service through discovery and the load balancer, as the seed's billing calls it. */
@FeignClient(name = "CUSTOMER-SERVICE")
public interface CustomerClient {
    @GetMapping("/customers/{id}")
    Customer byId(@PathVariable("id") long id);

    @GetMapping("/customers")
    PagedModel<Customer> all();
}
