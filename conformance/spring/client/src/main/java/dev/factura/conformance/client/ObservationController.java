package dev.factura.conformance.client;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.springframework.cloud.client.ServiceInstance;
import org.springframework.cloud.client.discovery.DiscoveryClient;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RestController;

/** What the conformance tests observe of this app: config values, Feign results, discovery. */
@RestController
public class ObservationController {
    private final Greeting greeting;
    private final GlobalParams params;
    private final CustomerClient customers;
    private final ProductClient products;
    private final DiscoveryClient discovery;

    public ObservationController(Greeting greeting, GlobalParams params, CustomerClient customers,
                                 ProductClient products, DiscoveryClient discovery) {
        this.greeting = greeting;
        this.params = params;
        this.customers = customers;
        this.products = products;
        this.discovery = discovery;
    }

    @GetMapping("/greeting")
    public Map<String, Object> greeting() {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("greeting", greeting.greeting());
        body.put("secret", greeting.secret());
        body.put("builtAt", greeting.builtAt());
        return body;
    }

    @GetMapping("/configtest1")
    public Map<String, Object> configTest() {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("p1", params.p1());
        body.put("p2", params.p2());
        return body;
    }

    @GetMapping("/customer/{id}")
    public Customer customer(@PathVariable long id) {
        return customers.byId(id);
    }

    @GetMapping("/customers")
    public Map<String, Object> customers() {
        var page = customers.all();
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("customers", List.copyOf(page.getContent()));
        body.put("page", page.getMetadata());
        return body;
    }

    @GetMapping("/product/{id}")
    public Product product(@PathVariable long id) {
        return products.byId(id);
    }

    @GetMapping("/instances/{service}")
    public List<Map<String, Object>> instances(@PathVariable String service) {
        return discovery.getInstances(service).stream().map(ObservationController::describe).toList();
    }

    private static Map<String, Object> describe(ServiceInstance instance) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("instanceId", instance.getInstanceId());
        body.put("serviceId", instance.getServiceId());
        body.put("host", instance.getHost());
        body.put("port", instance.getPort());
        body.put("uri", instance.getUri().toString());
        body.put("metadata", instance.getMetadata());
        return body;
    }
}
