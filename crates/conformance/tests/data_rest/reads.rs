//! Reads: the root, collections with every paging and sorting edge, items, conditional GETs,
//! content negotiation, searches, `/profile`, and paths or methods nothing serves.

use conformance::compare::{Differential, Probe};
use reqwest::Method;

/// `GET` each path on both sides, one scenario per path.
pub(crate) async fn gets(d: &Differential, paths: &[&str]) {
    for path in paths {
        d.check(&format!("GET {path}"), Probe::get(path)).await;
    }
}

/// Paging and sorting edges on a collection (or a paged search) at `base`.
pub(crate) async fn paging_and_sorting(d: &Differential, base: &str, first_property: &str) {
    let join = if base.contains('?') { '&' } else { '?' };
    let mut paths = Vec::new();
    for query in [
        "",
        "page=0&size=2",
        "page=1&size=2",
        "page=1&size=1",
        "page=7&size=2",
        "page=-1&size=2",
        "page=abc",
        "size=0",
        "size=-5",
        "size=abc",
        "size=1000",
        "size=5000",
        "page=99999999999999999999",
        "size=99999999999999999999",
        "page=2147483647&size=1000",
        "sort=id,desc",
        "sort=name",
        "sort=name,desc",
        "sort=name,DESC&size=2",
        "sort=name,desc&sort=id",
        "sort=id&sort=name,desc",
        "sort=name,id,desc",
        "sort=name,asc&sort=name,desc",
        "sort=unknown",
        "sort=unknown,desc&sort=name,desc",
        "sort=bill.id",
        "sort=name.first",
        "sort=",
        "sort=,desc",
        "sort=desc",
        "sort=name,sideways",
        "sort=NAME",
        "sort=_links",
        "sort=version",
        "page=1&size=2&sort=name,desc",
    ] {
        let query = query.replace("name", first_property);
        paths.push(if query.is_empty() {
            base.to_owned()
        } else {
            format!("{base}{join}{query}")
        });
    }
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    gets(d, &paths).await;
}

/// Items: found, missing, malformed ids; conditional GETs; HEAD and OPTIONS; negotiation.
pub(crate) async fn item_edges(d: &Differential, collection: &str) {
    let item = format!("/{collection}/1");
    gets(
        d,
        &[
            &item,
            &format!("/{collection}/2"),
            &format!("/{collection}/99"),
            &format!("/{collection}/0"),
            &format!("/{collection}/-1"),
            &format!("/{collection}/abc"),
            &format!("/{collection}/1.5"),
            &format!("/{collection}/99999999999999999999"),
            &format!("/{collection}/1/"),
            &format!("/{collection}/"),
            &format!("/{collection}/1/nothing"),
        ],
    )
    .await;
    for tag in ["\"0\"", "\"1\"", "W/\"0\"", "*", "\"1\", \"0\"", "0"] {
        d.check(
            &format!("GET {item} If-None-Match {tag}"),
            Probe::get(&item).header("if-none-match", tag),
        )
        .await;
    }
    for accept in [
        "application/json",
        "application/hal+json",
        "application/json, text/plain, */*",
        "application/prs.hal-forms+json",
        "text/html",
        "application/xml",
        "text/uri-list",
    ] {
        d.check(
            &format!("GET {item} Accept {accept}"),
            Probe::get(&item).header("accept", accept),
        )
        .await;
        d.check(
            &format!("GET /{collection} Accept {accept}"),
            Probe::get(&format!("/{collection}")).header("accept", accept),
        )
        .await;
    }
    d.check(
        &format!("GET {item} without Accept"),
        Probe::get(&item).without_accept(),
    )
    .await;
    for (method, path) in [
        (Method::HEAD, item.clone()),
        (Method::HEAD, format!("/{collection}")),
        (Method::HEAD, format!("/{collection}/99")),
        (Method::OPTIONS, item.clone()),
        (Method::OPTIONS, format!("/{collection}")),
        (Method::OPTIONS, format!("/{collection}/search")),
        (Method::DELETE, format!("/{collection}")),
        (Method::PUT, format!("/{collection}")),
        (Method::PATCH, format!("/{collection}")),
        (Method::POST, item.clone()),
    ] {
        d.check(
            &format!("{method} {path}"),
            Probe::new(method.clone(), &path),
        )
        .await;
    }
}

pub(crate) async fn customers(d: &Differential) {
    gets(d, &["/", "/customers"]).await;
    paging_and_sorting(d, "/customers", "name").await;
    paging_and_sorting(d, "/customers/search/byName?name=a", "name").await;
    item_edges(d, "customers").await;
    gets(
        d,
        &[
            "/customers/search",
            "/customers/search/",
            "/customers/search/byName?name=a",
            "/customers/search/byName?name=A&size=1",
            "/customers/search/byName?name=",
            "/customers/search/byName?name=%25",
            "/customers/search/byName?name=_",
            "/customers/search/byName",
            "/customers/search/byName?nom=a",
            "/customers/search/byEmail?email=ali@mail.com",
            "/customers/search/byEmail?email=ALI@mail.com",
            "/customers/search/byEmail?email=nobody@mail.com",
            "/customers/search/byEmail",
            "/customers/search/byEmail?email=ali@mail.com&size=1",
            "/customers/search/nope",
            "/customers/search/findByNameContainsIgnoreCase?name=a",
        ],
    )
    .await;
    profile(d, "customers").await;
}

pub(crate) async fn products(d: &Differential) {
    gets(d, &["/", "/products"]).await;
    paging_and_sorting(d, "/products", "price").await;
    paging_and_sorting(d, "/products", "quantity").await;
    item_edges(d, "products").await;
    gets(
        d,
        &[
            "/products/search",
            "/products/search/byName?name=er",
            "/products/search/byName?name=ER&sort=price,desc",
            "/products/search/byName",
            "/products/search/byEmail?email=x",
            "/products/search/byIdIn?ids=1,2",
            "/products/search/byIdIn?ids=1&ids=3",
            "/products/search/byIdIn?ids=2,1,2",
            "/products/search/byIdIn?ids=1,%202",
            "/products/search/byIdIn?ids=1,,2",
            "/products/search/byIdIn?ids=1&size=1",
            "/products/search/byIdIn?ids=99",
            "/products/search/byIdIn?ids=",
            "/products/search/byIdIn",
            "/products/search/byIdIn?ids=x",
        ],
    )
    .await;
    profile(d, "products").await;
}

async fn profile(d: &Differential, collection: &str) {
    let path = format!("/profile/{collection}");
    gets(d, &["/profile", &path, "/profile/nope"]).await;
    for accept in [
        "application/alps+json",
        "application/schema+json",
        "application/json",
        "application/hal+json",
    ] {
        d.check(
            &format!("GET {path} Accept {accept}"),
            Probe::get(&path).header("accept", accept),
        )
        .await;
    }
    d.check(
        &format!("OPTIONS {path}"),
        Probe::new(Method::OPTIONS, &path),
    )
    .await;
}

/// Paths no resource serves, and the root's other methods.
pub(crate) async fn common(d: &Differential) {
    gets(
        d,
        &["/nope", "/nope/1", "/customers/1/customer", "/profile/"],
    )
    .await;
    for method in [Method::HEAD, Method::OPTIONS, Method::POST, Method::DELETE] {
        d.check(&format!("{method} /"), Probe::new(method.clone(), "/"))
            .await;
    }
}
