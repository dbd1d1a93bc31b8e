package dev.factura.conformance.billing;

import java.util.Date;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.cloud.openfeign.EnableFeignClients;
import org.springframework.context.annotation.Bean;
import org.springframework.context.ApplicationListener;

/**
 * The seed's billing-service: bills and product items over Spring Data REST, the full bill
 * through OpenFeign. The first bill (customer 1, every product of the first inventory page,
 * quantities 1, 2, 3…, no discount — as factura seeds it) is made in the background once the other
 * services answer, so start-up never waits for them.
 */
@EnableFeignClients
@SpringBootApplication
public class BillingServiceApp {
    private static final Logger LOG = LoggerFactory.getLogger(BillingServiceApp.class);

    public static void main(String[] args) {
        SpringApplication.run(BillingServiceApp.class, args);
    }

    @Bean
    ApplicationListener<ApplicationReadyEvent> seed(BillRepository bills, ProductItemRepository items,
            CustomerRestClient customers, ProductRestClient products) {
        return event -> {
            Thread seeder = new Thread(() -> {
                long delay = 500;
                while (bills.count() == 0) {
                    try {
                        customers.findCustomerById(1L);
                        List<Product> all = List.copyOf(products.allProducts().getContent());
                        if (!all.isEmpty()) {
                            Bill bill = new Bill();
                            bill.setBillingDate(new Date());
                            bill.setCustomerId(1L);
                            bill = bills.save(bill);
                            for (int i = 0; i < all.size(); i++) {
                                Product product = all.get(i);
                                ProductItem item = new ProductItem();
                                item.setProductId(product.id());
                                item.setQuantity(i % 5 + 1);
                                item.setPrice(product.price());
                                item.setDiscount(0.0);
                                item.setBill(bill);
                                items.save(item);
                            }
                            LOG.info("seeded the first bill");
                            return;
                        }
                    } catch (RuntimeException e) {
                        LOG.debug("first bill not seeded yet: {}", e.toString());
                    }
                    try {
                        Thread.sleep(delay);
                    } catch (InterruptedException e) {
                        return;
                    }
                    delay = Math.min(delay * 2, 10_000);
                }
            }, "first-bill-seeder");
            seeder.setDaemon(true);
            seeder.start();
        };
    }
}
