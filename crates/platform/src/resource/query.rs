//! Paging and sorting parameters, parsed the way Spring Data's `Pageable` resolver does under
//! Spring Data REST.
//!
//! `page` is 0-based (negative or non-numeric → 0); `size` defaults to 20 and is clamped to 1000
//! (≤ 0 or non-numeric → the default); `sort=prop[,prop…][,asc|desc]` may repeat and applies in
//! order. A sort property the entity does not have (unknown, nested, an association, wrong
//! case) is dropped silently, as Spring Data REST's sort translation does. The parameter names
//! and sizes come from [`RestConfig`] (`spring.data.rest.*`).

use super::{ResourceSpec, config::RestConfig};

/// One sort criterion, resolved against the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortOrder {
    /// The JSON property name (`name`, or `id`).
    pub property: &'static str,
    /// The column it sorts by, taken from the spec (never from the request).
    pub column: &'static str,
    /// Descending rather than ascending.
    pub descending: bool,
}

/// A requested page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// 0-based page number.
    pub page: i64,
    /// Rows per page.
    pub size: i64,
    /// Sort criteria in order.
    pub sort: Vec<SortOrder>,
}

impl PageRequest {
    /// The `page=…&size=…[&sort=…]` query for page `page` of the same request, with the
    /// configured parameter names. Consecutive orders in the same direction fold into one
    /// `sort` value (`sort=name,id,desc`), as Spring HATEOAS writes them.
    pub fn query_for(&self, page: i64, config: &RestConfig) -> String {
        let mut query = format!(
            "{}={page}&{}={}",
            config.page_param, config.limit_param, self.size
        );
        let mut orders = self.sort.iter().peekable();
        while let Some(order) = orders.next() {
            query.push_str(&format!("&{}={}", config.sort_param, order.property));
            while let Some(next) = orders.next_if(|n| n.descending == order.descending) {
                query.push(',');
                query.push_str(next.property);
            }
            query.push_str(if order.descending { ",desc" } else { ",asc" });
        }
        query
    }

    /// Rows to skip, or `None` when the page lies beyond any possible table.
    pub fn offset(&self) -> Option<i64> {
        self.page.checked_mul(self.size)
    }
}

/// The decoded query string, in order.
pub fn decode(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of parameter `name`.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Reads the paging and sorting parameters for `spec`.
pub fn page_request(
    spec: &ResourceSpec,
    params: &[(String, String)],
    config: &RestConfig,
) -> PageRequest {
    let page = param(params, &config.page_param)
        .and_then(|p| p.trim().parse::<i64>().ok())
        .filter(|p| *p >= 0)
        .unwrap_or(0);
    let size = param(params, &config.limit_param)
        .and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|s| *s > 0)
        .map_or(config.default_page_size, |s| s.min(config.max_page_size));
    let mut sort = Vec::new();
    for (_, value) in params.iter().filter(|(k, _)| *k == config.sort_param) {
        let mut parts: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        let descending = match parts.last().map(|p| p.to_ascii_lowercase()) {
            Some(d) if d == "desc" => {
                parts.pop();
                true
            }
            Some(d) if d == "asc" => {
                parts.pop();
                false
            }
            _ => false,
        };
        sort.extend(
            parts
                .into_iter()
                .filter_map(|property| resolve(spec, property, descending)),
        );
    }
    PageRequest { page, size, sort }
}

/// The sort order on `property`, if the entity has such a sortable property.
fn resolve(spec: &ResourceSpec, property: &str, descending: bool) -> Option<SortOrder> {
    if property == "id" {
        return Some(SortOrder {
            property: "id",
            column: "id",
            descending,
        });
    }
    spec.field(property)
        .filter(|(_, field)| field.kind.is_sortable())
        .map(|(_, field)| SortOrder {
            property: field.name,
            column: field.column,
            descending,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Field;

    static SPEC: ResourceSpec = ResourceSpec {
        entity: "Customer",
        collection: "customers",
        item: "customer",
        table: "customers",
        fields: &[Field::text("name", 100), Field::email("email")],
        searches: &[],
        seed: &[],
        children: &[],
    };

    fn request(query: &str) -> Result<PageRequest, ()> {
        Ok(page_request(
            &SPEC,
            &decode(Some(query)),
            &RestConfig::default(),
        ))
    }

    #[test]
    fn lenient_page_and_size() {
        let r = request("page=-3&size=abc").unwrap();
        assert_eq!((r.page, r.size), (0, 20));
        let r = request("page=2&size=5000").unwrap();
        assert_eq!((r.page, r.size), (2, 1000));
        let r = request("size=0").unwrap();
        assert_eq!(r.size, 20);
    }

    #[test]
    fn sort_orders_in_sequence_with_directions() {
        let r = request("sort=name,DESC&sort=email&sort=id,name,asc").unwrap();
        let got: Vec<(&str, bool)> = r.sort.iter().map(|o| (o.property, o.descending)).collect();
        assert_eq!(
            got,
            vec![
                ("name", true),
                ("email", false),
                ("id", false),
                ("name", false)
            ]
        );
        assert_eq!(
            r.query_for(1, &RestConfig::default()),
            "page=1&size=20&sort=name,desc&sort=email,id,name,asc"
        );
    }

    #[test]
    fn unknown_nested_and_miscased_sort_properties_are_dropped() {
        let r = request("sort=password;drop table customers&sort=name.first,NAME&sort=email,desc")
            .unwrap();
        let got: Vec<(&str, bool)> = r.sort.iter().map(|o| (o.property, o.descending)).collect();
        assert_eq!(got, vec![("email", true)]);
    }

    #[test]
    fn huge_pages_do_not_overflow() {
        let r = request(&format!("page={}&size=1000", i64::MAX)).unwrap();
        assert_eq!(r.offset(), None);
    }
}
