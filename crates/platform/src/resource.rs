//! Spring Data REST, once: a generic repository resource that gives any declared entity the whole
//! HTTP surface — HAL collection with paging and sorting, item CRUD with the reference's status
//! codes, search resources, ETags, validation errors, `/profile` (ALPS) and `/v3/api-docs`.
//!
//! A service describes an entity with a static [`ResourceSpec`] (its name, table, fields with
//! their kinds and rules, searches, seed rows) and mounts [`routes`]; nothing else is written per
//! entity. Records are handled as ordered values checked against the spec, which keeps PATCH
//! merge semantics, SQL generation and validation in one place each:
//!
//! * [`input`]: JSON bodies → validated values (and the Spring Data REST `errors` body);
//! * [`store`]: SQL over the [`Database`] (column names only ever come from the spec);
//! * [`query`]: `page`, `size`, `sort` parsing;
//! * [`config`]: the `spring.data.rest.*` settings and content negotiation;
//! * [`handlers`]: the HTTP endpoints and HAL representations;
//! * [`docs`]: the ALPS profile and the OpenAPI document.

pub mod config;
pub mod docs;
pub mod handlers;
pub mod input;
pub mod query;
pub mod store;

use std::sync::Arc;

use axum::{Router, routing::MethodRouter};

use crate::{
    db::Database,
    money::{Money, Rate},
    settings::Settings,
};

pub use config::RestConfig;
pub use handlers::routes;

/// The declaration of one exported entity.
#[derive(Debug)]
pub struct ResourceSpec {
    /// The entity's simple name, used in messages and validation errors (`Customer`).
    pub entity: &'static str,
    /// Collection path segment and rel (`customers`).
    pub collection: &'static str,
    /// Item rel (`customer`).
    pub item: &'static str,
    /// The table holding the rows; it has `id` and `version` columns besides the fields.
    pub table: &'static str,
    /// The entity's properties, in the order they are rendered.
    pub fields: &'static [Field],
    /// Exported query methods under `/{collection}/search`.
    pub searches: &'static [Search],
    /// JSON objects inserted, through the same validation as a POST, into an empty table.
    pub seed: &'static [&'static str],
    /// Collections of other entities that point at this one (a bill's product items), served
    /// at `/{collection}/{id}/{rel}` and linked from every item.
    pub children: &'static [Child],
}

/// A one-to-many association: the rows of `spec` whose `field` holds this entity's id.
#[derive(Debug)]
pub struct Child {
    /// Rel and path segment (`productItems`).
    pub rel: &'static str,
    /// The child entity.
    pub spec: &'static ResourceSpec,
    /// The child's field holding the parent id (`billId`).
    pub field: &'static str,
}

impl ResourceSpec {
    /// The field named `name` (JSON property name).
    pub fn field(&self, name: &str) -> Option<(usize, &'static Field)> {
        self.fields.iter().enumerate().find(|(_, f)| f.name == name)
    }

    /// The field a search compares: a declared one, or the entity's `id` (`findByIdIn`).
    pub fn searched_field(&self, name: &str) -> Option<&'static Field> {
        if name == "id" {
            return Some(&ID);
        }
        self.field(name).map(|(_, field)| field)
    }
}

/// The entity's id as a search compares it; it is not a declared property.
static ID: Field = Field::integer("id", 1, i64::MAX);

/// One property of an entity.
#[derive(Debug)]
pub struct Field {
    /// JSON property name (`billingDate`).
    pub name: &'static str,
    /// Column name (`billing_date`).
    pub column: &'static str,
    /// What values it holds and the rules they follow.
    pub kind: Kind,
    /// Whether null/absent is refused.
    pub required: bool,
    /// Whether a unique index guards it (a duplicate is a 409 naming this field).
    pub unique: bool,
}

impl Field {
    /// A text property of at most `max_len` characters.
    pub const fn text(name: &'static str, max_len: usize) -> Self {
        Self::new(name, name, Kind::Text { max_len })
    }

    /// An e-mail address.
    pub const fn email(name: &'static str) -> Self {
        Self::new(name, name, Kind::Email)
    }

    /// An exact amount of money, at least `min`.
    pub const fn money(name: &'static str, min: Money) -> Self {
        Self::new(name, name, Kind::Money { min })
    }

    /// A whole number within `min..=max`.
    pub const fn integer(name: &'static str, min: i64, max: i64) -> Self {
        Self::new(name, name, Kind::Integer { min, max })
    }

    /// A to-one association with an item of `collection` (stored in `table`) of the same
    /// service: rendered as the link `…/{id}/{name}`, written as the item's URI
    /// (`"bill": "http://…/bills/1"`), served at `/{collection}/{id}/{name}`.
    pub const fn reference(
        name: &'static str,
        collection: &'static str,
        table: &'static str,
    ) -> Self {
        Self::new(name, name, Kind::Reference { collection, table })
    }

    /// An exact rate within `0..=max`, four decimals (a discount).
    pub const fn rate(name: &'static str, max: Rate) -> Self {
        Self::new(name, name, Kind::Rate { max })
    }

    /// A point in time, rendered as ISO-8601 UTC.
    pub const fn timestamp(name: &'static str, column: &'static str) -> Self {
        Self::new(name, column, Kind::Timestamp)
    }

    const fn new(name: &'static str, column: &'static str, kind: Kind) -> Self {
        Self {
            name,
            column,
            kind,
            required: false,
            unique: false,
        }
    }

    /// Refuse null and absent values (blank text too).
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Declare the unique index on this field.
    pub const fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// Store under a column name that differs from the JSON name.
    pub const fn column(mut self, column: &'static str) -> Self {
        self.column = column;
        self
    }
}

/// The kinds of values a field can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text of bounded length.
    Text {
        /// Maximum number of characters.
        max_len: usize,
    },
    /// A well-formed e-mail address (stored as text).
    Email,
    /// Exact money, stored in cents.
    Money {
        /// The smallest accepted amount.
        min: Money,
    },
    /// A whole number.
    Integer {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// A timestamp, stored as epoch milliseconds.
    Timestamp,
    /// An exact rate in `0..=max`, stored in ten-thousandths.
    Rate {
        /// The largest accepted rate.
        max: Rate,
    },
    /// The id of an item of another resource of the same service (an association).
    Reference {
        /// The target's collection (`bills`).
        collection: &'static str,
        /// The target's table (`bills`).
        table: &'static str,
    },
}

impl Kind {
    /// Whether the value is a property of the representation (associations are links).
    pub fn is_property(self) -> bool {
        !matches!(self, Kind::Reference { .. })
    }

    /// Whether collections can be sorted by it (Spring Data REST drops association sorts).
    pub fn is_sortable(self) -> bool {
        self.is_property()
    }
}

/// An exported query method.
#[derive(Debug)]
pub struct Search {
    /// Path segment and rel (`byName`).
    pub path: &'static str,
    /// The query parameter carrying the value (`name`).
    pub param: &'static str,
    /// The JSON name of the field compared.
    pub field: &'static str,
    /// How it compares.
    pub matching: Matching,
}

impl Search {
    /// The templated path of this search under `spec`, e.g.
    /// `/customers/search/byName{?name,page,size,sort*}` (no paging for a unique match or a
    /// list).
    pub fn template(&self, spec: &ResourceSpec, config: &RestConfig) -> String {
        let paging = if self.matching.is_paged() {
            format!(",{}", config.paging_template())
        } else {
            String::new()
        };
        format!(
            "{}/{}/search/{}{{?{}{paging}}}",
            config.base_path, spec.collection, self.path, self.param
        )
    }
}

/// How a search compares its parameter with the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matching {
    /// Case-insensitive substring; answers a page.
    ContainsIgnoreCase,
    /// Equality; answers a page.
    Equals,
    /// Equality on a unique field; answers one item or 404.
    Unique,
    /// Membership in a list of values, given comma-separated or repeated (`?ids=1,2&ids=3`);
    /// answers every match in id order, without paging (a `List` in Spring Data REST).
    In,
}

impl Matching {
    /// Whether the search answers a page (and so takes the paging parameters).
    pub fn is_paged(self) -> bool {
        matches!(self, Self::ContainsIgnoreCase | Self::Equals)
    }
}

/// A stored value of one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// No value.
    Null,
    /// Text or e-mail.
    Text(String),
    /// A whole number.
    Integer(i64),
    /// Money.
    Money(Money),
    /// Epoch milliseconds.
    Timestamp(i64),
    /// A rate.
    Rate(Rate),
}

impl Value {
    /// The JSON rendering Spring would give this value.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Text(s) => serde_json::Value::String(s.clone()),
            Value::Integer(i) => serde_json::Value::from(*i),
            Value::Money(m) => m.to_json_number(),
            Value::Rate(r) => r.to_json_number(),
            Value::Timestamp(ms) => chrono::DateTime::from_timestamp_millis(*ms)
                .map(|t| serde_json::Value::String(crate::time::format_iso(t)))
                .unwrap_or(serde_json::Value::Null),
        }
    }
}

/// One stored entity: its id, its version (the ETag) and one value per spec field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The generated id.
    pub id: i64,
    /// Incremented by every update; sent as `ETag: "<version>"`.
    pub version: i64,
    /// Values in the order of [`ResourceSpec::fields`].
    pub values: Vec<Value>,
}

impl Record {
    /// The value of the field named `name`.
    pub fn get(&self, spec: &ResourceSpec, name: &str) -> Option<&Value> {
        spec.field(name).map(|(i, _)| &self.values[i])
    }

    /// The entity's properties as a JSON object (`id` first, then the fields), without links
    /// and without associations (which are links).
    pub fn to_json(&self, spec: &ResourceSpec) -> serde_json::Map<String, serde_json::Value> {
        let mut map = serde_json::Map::with_capacity(spec.fields.len() + 2);
        map.insert("id".into(), self.id.into());
        for (field, value) in spec.fields.iter().zip(&self.values) {
            if field.kind.is_property() {
                map.insert(field.name.into(), value.to_json());
            }
        }
        map
    }
}

/// One entity exported over HTTP: its spec, the database holding it, and the service's
/// `spring.data.rest.*` settings.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The declaration.
    pub spec: &'static ResourceSpec,
    /// Where its rows live.
    pub db: Database,
    /// Base path, paging parameters, body and media-type rules.
    pub config: Arc<RestConfig>,
}

impl Resource {
    /// Inserts the spec's seed rows when the table is empty.
    pub async fn seed_if_empty(&self) -> anyhow::Result<()> {
        store::seed_if_empty(self).await
    }
}

/// Mounts every resource, the root, `/profile` and `/v3/api-docs`, seeding empty tables first;
/// `settings` gives the `spring.data.rest.*` keys.
pub async fn mount(
    specs: &[&'static ResourceSpec],
    db: &Database,
    settings: &Settings,
    title: &str,
) -> anyhow::Result<Router> {
    mount_with_creators(specs, db, settings, title, Vec::new(), &[]).await
}

/// Like [`mount`], except that the collections named in `creators` answer `POST` with the
/// given handler instead of the generic create (billing builds bills from other services' data).
/// Every collection `POST`, generic or not, honours `Idempotency-Key` ([`crate::idempotency`]).
/// The collections in `read_only` map no generic write (see [`routes`]).
pub async fn mount_with_creators(
    specs: &[&'static ResourceSpec],
    db: &Database,
    settings: &Settings,
    title: &str,
    creators: Vec<(&'static str, MethodRouter)>,
    read_only: &[&str],
) -> anyhow::Result<Router> {
    let config = Arc::new(RestConfig::from_settings(settings)?);
    let resources: Vec<Resource> = specs
        .iter()
        .map(|spec| Resource {
            spec,
            db: db.clone(),
            config: config.clone(),
        })
        .collect();
    for resource in &resources {
        resource.seed_if_empty().await?;
    }
    let idempotency = crate::idempotency::Idempotency::from_settings(db.clone(), settings)?;
    Ok(routes(
        Arc::new(resources),
        title,
        creators,
        read_only,
        idempotency,
    ))
}
