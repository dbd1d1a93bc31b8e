package dev.factura.conformance.client;

import org.springframework.cloud.openfeign.FallbackFactory;
import org.springframework.cloud.openfeign.FeignClient;
import org.springframework.stereotype.Component;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;

/**
 * inventory-service through discovery and the load balancer, behind a Resilience4j circuit
 * breaker whose fallback says why it was taken (so a test sees a 404 mapped by Feign).
 */
@FeignClient(name = "INVENTORY-SERVICE", fallbackFactory = ProductClient.Fallback.class)
public interface ProductClient {
    @GetMapping("/products/{id}")
    Product byId(@PathVariable("id") long id);

    @Component
    class Fallback implements FallbackFactory<ProductClient> {
        @Override
        public ProductClient create(Throwable cause) {
            // Resilience4j hands over the Feign exception wrapped (ExecutionException).
            Throwable root = cause;
            while (!(root instanceof feign.FeignException) && root.getCause() != null) {
                root = root.getCause();
            }
            String why = root.getClass().getSimpleName()
                    + (root instanceof feign.FeignException f ? " " + f.status() : "");
            return id -> new Product(id, "fallback: " + why, null, null);
        }
    }
}
