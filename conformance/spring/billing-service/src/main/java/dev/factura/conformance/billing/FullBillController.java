package dev.factura.conformance.billing;

import java.util.Date;
import java.util.List;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RestController;

/**
 * The seed's {@code GET /fullBill/{id}}: the bill with its customer and each item's product
 * filled in through Feign. An unknown id fails as the seed's does (a 500 from Boot's error page).
 */
@RestController
public class FullBillController {
    /** One line of a full bill. */
    public record FullItem(Long id, Long productId, Integer quantity, Double price, Double discount, Product product) {}

    /** The full bill. */
    public record FullBill(Long id, Date billingDate, Long customerId, List<FullItem> productItems, Customer customer) {}

    private final BillRepository bills;
    private final CustomerRestClient customers;
    private final ProductRestClient products;

    public FullBillController(BillRepository bills, CustomerRestClient customers, ProductRestClient products) {
        this.bills = bills;
        this.customers = customers;
        this.products = products;
    }

    @GetMapping("/fullBill/{id}")
    public FullBill fullBill(@PathVariable("id") Long id) {
        Bill bill = bills.findById(id).get();
        Customer customer = customers.findCustomerById(bill.getCustomerId());
        List<FullItem> items = bill.getProductItems().stream()
                .sorted((a, b) -> a.getId().compareTo(b.getId()))
                .map(item -> new FullItem(item.getId(), item.getProductId(), item.getQuantity(), item.getPrice(),
                        item.getDiscount(), products.findProductById(item.getProductId())))
                .toList();
        return new FullBill(bill.getId(), bill.getBillingDate(), bill.getCustomerId(), items, customer);
    }
}
