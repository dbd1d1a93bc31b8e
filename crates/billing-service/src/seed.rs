//! The first bill, as the reference application seeds it: one bill for customer 1 with every
//! product (the first page of inventory), created in the background once customer-service and
//! inventory-service answer — startup never waits for them. Retries with backoff until it
//! succeeds, finds a bill already there, or the service stops.

use std::{sync::Arc, time::Duration};

use platform::money::Rate;
use tokio_util::sync::CancellationToken;

use crate::{
    Billing,
    repo::{self, NewBill, NewItem, When},
};

/// The customer the first bill is for.
const SEED_CUSTOMER: i64 = 1;

/// Runs until the first bill exists (or the service stops).
pub async fn seed_first_bill(billing: Arc<Billing>, shutdown: CancellationToken) {
    let mut delay = Duration::from_millis(500);
    loop {
        match try_seed(&billing).await {
            Ok(Some(id)) => {
                tracing::info!(bill = id, "seeded the first bill");
                return;
            }
            Ok(None) => return,
            Err(reason) => tracing::debug!(%reason, "first bill not seeded yet"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// `Ok(None)` when a bill already exists.
async fn try_seed(billing: &Billing) -> Result<Option<i64>, String> {
    if repo::load(&billing.db, 1)
        .await
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Ok(None);
    }
    let (customer, products) = tokio::join!(
        billing.customers.customer(SEED_CUSTOMER),
        billing.products.products()
    );
    customer.map_err(|e| e.to_string())?;
    let products = products.map_err(|e| e.to_string())?;
    if products.is_empty() {
        return Err("inventory has no products yet".into());
    }
    let items = products
        .iter()
        .enumerate()
        .map(|(i, product)| NewItem {
            product_id: product.id,
            quantity: (i as i64 % 5) + 1,
            price: product.price,
            discount: Rate::default(),
            vat_rate: billing.vat.default_rate,
        })
        .collect();
    let bill = NewBill {
        billing_date: platform::time::now_millis(),
        customer_id: SEED_CUSTOMER,
        items,
    };
    repo::insert(&billing.db, &bill, When::TableEmpty)
        .await
        .map_err(|e| e.to_string())
}
