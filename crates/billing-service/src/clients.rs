//! The typed clients billing uses: customer-service and inventory-service by registry name,
//! returning domain types. Balancing, failover, timeouts and breakers come from
//! [`platform::service_client`].

use platform::{
    ServiceContext,
    money::Money,
    service_client::{RemoteError, ServiceClient},
};
use serde::{Deserialize, Serialize};

/// A customer as customer-service serves it (links ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its e-mail address.
    pub email: String,
}

/// A product as inventory-service serves it (links ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its current price, exact.
    pub price: Money,
    /// Units in stock.
    pub quantity: i64,
}

/// One line of a stock reservation, as inventory-service reads and writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservedLine {
    /// The product.
    pub product_id: i64,
    /// How many units.
    pub quantity: i64,
}

/// A stock reservation in inventory-service (links ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The id billing chose.
    pub id: String,
    /// `RESERVED` or `RELEASED`.
    pub state: String,
    /// What it holds.
    pub lines: Vec<ReservedLine>,
}

/// `CUSTOMER-SERVICE`.
#[derive(Debug, Clone)]
pub struct CustomerClient(ServiceClient);

impl CustomerClient {
    /// A client balancing over the registered customer-service instances.
    pub fn new(context: &ServiceContext) -> anyhow::Result<Self> {
        Ok(Self(ServiceClient::new(context, "CUSTOMER-SERVICE")?))
    }

    /// `GET /customers/{id}`.
    pub async fn customer(&self, id: i64) -> Result<Customer, RemoteError> {
        self.0
            .get_json(&format!("customer({id})"), &format!("/customers/{id}"))
            .await
    }

    /// The underlying client (breaker state, service name).
    pub fn client(&self) -> &ServiceClient {
        &self.0
    }
}

/// `INVENTORY-SERVICE`.
#[derive(Debug, Clone)]
pub struct ProductClient(ServiceClient);

impl ProductClient {
    /// A client balancing over the registered inventory-service instances.
    pub fn new(context: &ServiceContext) -> anyhow::Result<Self> {
        Ok(Self(ServiceClient::new(context, "INVENTORY-SERVICE")?))
    }

    /// `GET /products/{id}`.
    pub async fn product(&self, id: i64) -> Result<Product, RemoteError> {
        self.0
            .get_json(&format!("product({id})"), &format!("/products/{id}"))
            .await
    }

    /// `PUT /reservations/{id}`: takes every line's quantity off the stock, all or nothing; the
    /// same call again takes nothing more. Not enough stock is [`RemoteError::Refused`] (409).
    pub async fn reserve(
        &self,
        id: &str,
        lines: &[ReservedLine],
    ) -> Result<Reservation, RemoteError> {
        self.0
            .send_idempotent(
                &format!("reserve({id})"),
                reqwest::Method::PUT,
                &format!("/reservations/{id}"),
                Some(&serde_json::json!({ "lines": lines })),
            )
            .await
    }

    /// `DELETE /reservations/{id}`: gives the stock back (once, however often it is called);
    /// an id never reserved is recorded as released so its reservation cannot arrive later.
    pub async fn release(&self, id: &str) -> Result<Reservation, RemoteError> {
        self.0
            .send_idempotent(
                &format!("release({id})"),
                reqwest::Method::DELETE,
                &format!("/reservations/{id}"),
                None,
            )
            .await
    }

    /// `GET /products`: the first page, read like Feign reads a `PagedModel` — every array
    /// under `_embedded`, whatever its rel.
    pub async fn products(&self) -> Result<Vec<Product>, RemoteError> {
        let page: serde_json::Value = self.0.get_json("products()", "/products").await?;
        let mut products = Vec::new();
        if let Some(embedded) = page.get("_embedded").and_then(|e| e.as_object()) {
            for items in embedded.values().filter_map(|v| v.as_array()) {
                for item in items {
                    let product = serde_json::from_value(item.clone()).map_err(|e| {
                        RemoteError::BadResponse {
                            service: self.0.service().to_owned(),
                            call: "products()".into(),
                            detail: format!("undecodable product: {e}"),
                        }
                    })?;
                    products.push(product);
                }
            }
        }
        Ok(products)
    }

    /// The underlying client (breaker state, service name).
    pub fn client(&self) -> &ServiceClient {
        &self.0
    }
}
