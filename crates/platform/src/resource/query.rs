//! Paging and sorting parameters, parsed the way Spring Data's `Pageable` resolver does, except
//! that an unknown sort property is a 400 naming the allowed ones instead of being dropped.
//!
//! `page` is 0-based (negative or non-numeric → 0); `size` defaults to 20 and is clamped to 1000
//! (≤ 0 or non-numeric → 20); `sort=prop[,prop…][,asc|desc]` may repeat and applies in order.

use super::ResourceSpec;
use crate::error::ApiError;

/// Spring Data REST's default page size.
pub const DEFAULT_PAGE_SIZE: i64 = 20;
/// Spring Data REST's largest page size.
pub const MAX_PAGE_SIZE: i64 = 1000;

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
    /// The `page=…&size=…[&sort=…]` query for page `page` of the same request.
    pub fn query_for(&self, page: i64) -> String {
        let mut query = format!("page={page}&size={}", self.size);
        for order in &self.sort {
            let direction = if order.descending { "desc" } else { "asc" };
            query.push_str(&format!("&sort={},{direction}", order.property));
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

/// Reads `page`, `size` and `sort` for `spec`.
pub fn page_request(
    spec: &ResourceSpec,
    params: &[(String, String)],
) -> Result<PageRequest, ApiError> {
    let page = param(params, "page")
        .and_then(|p| p.trim().parse::<i64>().ok())
        .filter(|p| *p >= 0)
        .unwrap_or(0);
    let size = param(params, "size")
        .and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|s| *s > 0)
        .map_or(DEFAULT_PAGE_SIZE, |s| s.min(MAX_PAGE_SIZE));
    let mut sort = Vec::new();
    for (_, value) in params.iter().filter(|(k, _)| k == "sort") {
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
        for property in parts {
            sort.push(resolve(spec, property, descending)?);
        }
    }
    Ok(PageRequest { page, size, sort })
}

fn resolve(spec: &ResourceSpec, property: &str, descending: bool) -> Result<SortOrder, ApiError> {
    if property == "id" {
        return Ok(SortOrder {
            property: "id",
            column: "id",
            descending,
        });
    }
    match spec.field(property) {
        Some((_, field)) => Ok(SortOrder {
            property: field.name,
            column: field.column,
            descending,
        }),
        None => {
            let allowed: Vec<&str> = std::iter::once("id")
                .chain(spec.fields.iter().map(|f| f.name))
                .collect();
            let shown: String = property.chars().take(64).collect();
            Err(ApiError::bad_request(format!(
                "cannot sort {} by unknown property '{shown}'; sortable properties: {}",
                spec.entity,
                allowed.join(", ")
            )))
        }
    }
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

    fn request(query: &str) -> Result<PageRequest, ApiError> {
        page_request(&SPEC, &decode(Some(query)))
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
            r.query_for(1),
            "page=1&size=20&sort=name,desc&sort=email,asc&sort=id,asc&sort=name,asc"
        );
    }

    #[test]
    fn unknown_sort_property_is_a_400_naming_it() {
        let err = request("sort=password;drop table customers").unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown property 'password;drop table customers'")
        );
    }

    #[test]
    fn huge_pages_do_not_overflow() {
        let r = request(&format!("page={}&size=1000", i64::MAX)).unwrap();
        assert_eq!(r.offset(), None);
    }
}
