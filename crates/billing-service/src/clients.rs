//! The typed clients billing uses: customer-service and inventory-service by registry name,
//! returning domain types. Balancing, failover, timeouts and breakers come from
//! [`platform::service_client`].

use platform::{
    ServiceContext,
    money::Money,
    service_client::{RemoteError, ServiceClient},
};
use std::collections::BTreeMap;

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

/// A HAL page or list of products, read like Feign reads a `PagedModel` or `CollectionModel`:
/// every array under `_embedded`, whatever its rel.
#[derive(Debug, Deserialize)]
struct ProductList {
    #[serde(rename = "_embedded", default)]
    embedded: BTreeMap<String, Vec<Product>>,
}

impl ProductList {
    fn into_products(self) -> impl Iterator<Item = Product> {
        self.embedded.into_values().flatten()
    }
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

    /// Every product of `ids` in one call, `GET /products/search/byIdIn?ids=1,2,3`, keyed by
    /// id: an id inventory does not know is a [`RemoteError::NotFound`], and a call that fails
    /// fails every id alike. No call is made for no ids.
    pub async fn products_by_id(&self, ids: &[i64]) -> BTreeMap<i64, Result<Product, RemoteError>> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return BTreeMap::new();
        }
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        let list = list.join(",");
        let call = format!("products({list})");
        let found = self
            .0
            .get_json::<ProductList>(&call, &format!("/products/search/byIdIn?ids={list}"))
            .await
            .map(|list| {
                list.into_products()
                    .map(|product| (product.id, product))
                    .collect::<BTreeMap<_, _>>()
            });
        ids.into_iter()
            .map(|id| {
                let product = match &found {
                    Ok(found) => found
                        .get(&id)
                        .cloned()
                        .ok_or_else(|| RemoteError::NotFound {
                            service: self.0.service().to_owned(),
                            call: format!("product({id})"),
                        }),
                    Err(error) => Err(error.clone()),
                };
                (id, product)
            })
            .collect()
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

    /// `GET /products`: the first page.
    pub async fn products(&self) -> Result<Vec<Product>, RemoteError> {
        let page: ProductList = self.0.get_json("products()", "/products").await?;
        Ok(page.into_products().collect())
    }

    /// The underlying client (breaker state, service name).
    pub fn client(&self) -> &ServiceClient {
        &self.0
    }
}
