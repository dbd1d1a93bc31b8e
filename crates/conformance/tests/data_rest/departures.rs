//! The differences from Spring Data REST that factura keeps on purpose, each with the reason
//! users gain from it; the README's Deliberate departures table has the same rows.
//!
//! Some follow from how the reference apps differ from each other on purpose: the Spring
//! customers carry `@Version` (so ETags and `If-Match` are compared against Spring's), while
//! products and bills are unversioned as in the seed.

use conformance::compare::Rules;

/// Which comparison the rules are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// customer-service (versioned on both sides).
    Customers,
    /// inventory-service (unversioned in Spring).
    Products,
    /// billing-service (unversioned in Spring).
    Billing,
    /// customer-service with `spring.data.rest.*` settings (versioned on both sides).
    Settings,
}

const BOOT_MESSAGE: &str = "factura's Spring Boot error bodies say what was wrong in `message` \
    (Boot's `server.error.include-message=always`); Spring's default leaves it out";
const METHOD_NOT_ALLOWED: &str = "a method the resource does not have is a 405 whose `Allow` \
    lists the ones it has; Spring Data REST answers 404, as if the resource did not exist";
const BAD_ID: &str = "a malformed id or search parameter is the client's error: a 400 saying \
    so, where Spring fails with a 500 (a conversion failure)";
const PAGE_OVERFLOW: &str = "a page beyond any possible table is an empty page; Spring's \
    offset overflows into a 500";
const UNQUOTED_TAG: &str = "an unquoted entity tag in If-None-Match is read as the tag; Spring \
    fails with a 500";
const BARE_406: &str = "an Accept naming nothing factura produces gets a bare 406; Spring \
    renders an error page in a type the client did not ask for (HTML, or JSON labelled \
    HAL-FORMS)";
const PROFILE: &str = "the profile of an unknown collection is a 404 and OPTIONS on a profile \
    is answered; Spring fails with a 500 and a 406";
const CURRENT_ETAG: &str = "a 412 carries the item's current ETag, so the client can retry \
    without another GET; Spring echoes the client's own If-Match";
const TRAILING: &str = "text after the JSON document makes the body malformed (a 400); Jackson \
    reads the first value and ignores the rest";
const CAUSE: &str = "Spring Data REST's error bodies nest the exception chain (Java class \
    names, SQL statements); factura's `message` says what was wrong without internals \
    (Spring Data REST itself drops `cause` from 4.5.12/5.0.6 on)";
const VERSION_PROPERTY: &str = "`version` is not a property of factura's representation (it is \
    the ETag), so it is neither sortable nor in the ALPS descriptors; Spring lists and sorts \
    by a `@Version` field";
const VERSIONED_CREATE: &str = "PUT on an absent id creates, and an id in a POST body is \
    ignored, as Spring Data REST does for unversioned entities (compared on products); for a \
    `@Version` entity Spring fails with 409 (Hibernate refuses a detached entity without a \
    version)";
const ALWAYS_VERSIONED: &str = "factura versions every entity, so every item has an ETag and \
    If-Match/If-None-Match work; the seed's products and bills have no @Version, so Spring \
    sends no ETag, ignores If-None-Match and refuses every If-Match";
const FRACTION: &str = "a fractional quantity is refused rather than truncated (Jackson turns \
    1.5 into 1), and a price with sub-cent digits is refused rather than rounded: money and \
    stock stay exact";
const FULL_BILL: &str = "the full bill adds each line's amount, the exact total, and which \
    parts could not be filled in while a service is down; the seed's has neither";
const BILL_LIFECYCLE: &str = "the full bill says where the bill is in its lifecycle (`status`: \
    DRAFT, ISSUED, PAID or CANCELLED), once issued its invoice number and date, the amounts paid \
    and still due, the credit note that cancelled it, and VAT (each line's rate, the tax per \
    rate, totals before and after tax); the seed's bills have no lifecycle and no tax";
const FULL_BILL_404: &str = "an unknown bill is a 404; the seed's controller fails with a 500 \
    (NoSuchElementException)";
const URI_REGRESSION: &str = "association URIs in request bodies (`\"bill\": \"…/bills/1\"`) \
    are read as Spring Data REST documents and does outside 4.3.5; 4.3.5, the seed's line, \
    refuses them (spring-data-rest#2425), so what follows from the item it did not store \
    differs too";
const OBJECT_ASSOCIATION: &str = "associations are written as URIs only; Jackson builds a \
    detached Bill from {\"id\": 1}";
const BILL_CREATE: &str = "POST /bills creates a whole bill: it checks the customer and \
    products with their services, prices the lines from inventory, reserves their stock there \
    and stores bill and lines in one transaction; Spring Data REST's generic POST stores a \
    bare bill";
const INT_RANGE: &str = "a quantity beyond the 32-bit range is a validation error naming the \
    property and its bound; Jackson fails to parse the body";
const JSON_DEFAULT: &str = "with default-media-type application/json, Spring renders the \
    profile index in a non-HAL `links` array labelled application/schema+json; factura keeps \
    the HAL index";

/// `rules` with every departure declared for `part`.
pub(crate) fn apply(rules: Rules, part: Part) -> Rules {
    let mut rules = rules.depart("*", "body/cause*", CAUSE);
    let collections: &[&str] = match part {
        Part::Customers | Part::Settings => &["customers"],
        Part::Products => &["products"],
        Part::Billing => &["bills", "productItems"],
    };
    for c in collections {
        for scenario in [
            format!("GET /{c}/1/"),
            format!("GET /{c}/"),
            format!("GET /{c}/search/"),
        ] {
            rules = rules.depart(&scenario, "body/message", BOOT_MESSAGE);
        }
        for scenario in [
            format!("DELETE /{c}"),
            format!("PUT /{c}"),
            format!("PATCH /{c}"),
            format!("POST /{c}/1"),
        ] {
            rules = rules.depart(&scenario, "*", METHOD_NOT_ALLOWED);
        }
        for scenario in [
            format!("GET /{c}/abc"),
            format!("GET /{c}/1.5"),
            format!("GET /{c}/99999999999999999999"),
        ] {
            rules = rules.depart(&scenario, "*", BAD_ID);
        }
        for scenario in [
            format!("GET /{c}?page=2147483647&size=1000"),
            format!("GET /{c}/search/byName?name=a&page=2147483647&size=1000"),
        ] {
            rules = rules.depart(&scenario, "*", PAGE_OVERFLOW);
        }
        rules = rules
            .depart(&format!("GET /{c}/1 If-None-Match 0"), "*", UNQUOTED_TAG)
            .depart(&format!("OPTIONS /profile/{c}"), "*", PROFILE);
        for accept in ["application/prs.hal-forms+json", "text/html"] {
            rules = rules
                .depart(&format!("GET /{c}/1 Accept {accept}"), "*", BARE_406)
                .depart(&format!("GET /{c} Accept {accept}"), "*", BARE_406);
        }
    }
    for scenario in [
        "GET /nope",
        "GET /nope/1",
        "GET /profile/",
        "GET /fullBill/abc",
    ] {
        rules = rules.depart(scenario, "body/message", BOOT_MESSAGE);
    }
    for scenario in [
        "POST /",
        "DELETE /",
        "OPTIONS /productItems/1/bill",
        "OPTIONS /bills/1/productItems",
    ] {
        rules = rules.depart(scenario, "*", METHOD_NOT_ALLOWED);
    }
    for scenario in [
        "DELETE a bad id",
        "PUT a bad id",
        "GET /bills/search/byCustomerId?customerId=abc",
        "GET /products/search/byIdIn?ids=x",
    ] {
        rules = rules.depart(scenario, "*", BAD_ID);
    }
    for scenario in [
        "PUT If-Match stale",
        "PATCH If-Match stale",
        "DELETE If-Match stale",
        "PUT If-Match garbage",
        "PUT If-Match on an absent id",
    ] {
        rules = rules.depart(scenario, "header etag", CURRENT_ETAG);
    }
    rules = rules.depart("GET /profile/nope", "*", PROFILE).depart(
        "POST trailing garbage",
        "*",
        TRAILING,
    );
    match part {
        Part::Customers | Part::Settings => {
            for scenario in [
                "GET /customers?sort=version",
                "GET /customers/search/byName?name=a&sort=version",
            ] {
                rules = rules.depart(scenario, "*", VERSION_PROPERTY);
            }
            for scenario in [
                "GET /profile/customers",
                "GET /profile/customers Accept application/alps+json",
                "GET /profile/customers Accept application/json",
                "GET /profile/customers Accept application/hal+json",
                "GET /api/profile/customers",
            ] {
                // The descriptor list is one shorter, and the report names the extra item.
                for path in [
                    "body/alps/descriptor/0/descriptor/length",
                    "body/alps/descriptor/0/descriptor/3",
                ] {
                    rules = rules.depart(scenario, path, VERSION_PROPERTY);
                }
            }
            for scenario in [
                "PUT creating an absent id",
                "PUT creating an absent id without Accept",
                "GET after PUT-create",
                "POST an id, links and unknown properties",
                "PUT creating, return-body-on-create=false",
            ] {
                rules = rules.depart(scenario, "*", VERSIONED_CREATE);
            }
            rules = rules
                .depart("GET /", "body/message", BOOT_MESSAGE)
                .depart("GET /customers", "body/message", BOOT_MESSAGE)
                .depart("GET /profile", "body/message", BOOT_MESSAGE)
                .depart("GET /api/profile", "*", JSON_DEFAULT)
                .depart(
                    "GET /api/customers/1 Accept application/hal+json",
                    "*",
                    BARE_406,
                );
        }
        Part::Products | Part::Billing => {
            rules = rules.depart("*", "header etag", ALWAYS_VERSIONED);
            for scenario in [
                "GET /products/1 If-None-Match \"0\"",
                "GET /products/1 If-None-Match W/\"0\"",
                "GET /products/1 If-None-Match \"1\", \"0\"",
                "PATCH If-Match current",
            ] {
                rules = rules.depart(scenario, "*", ALWAYS_VERSIONED);
            }
            rules = rules.depart("POST quantity beyond int", "*", INT_RANGE);
            for scenario in [
                "POST quantity with a fraction",
                "POST price with a tenth of a cent",
                "GET the collection at the end",
            ] {
                rules = rules.depart(scenario, "*", FRACTION);
            }
        }
    }
    if part == Part::Billing {
        for path in [
            "body/productItems/*/amount",
            "body/total",
            "body/complete",
            "body/missing",
        ] {
            rules = rules.depart("*", path, FULL_BILL);
        }
        for scenario in [
            "GET /fullBill/1",
            "GET the full bill after the POST",
            "GET the full bill at the end",
            "POST a bill with its lines",
        ] {
            for path in [
                "body/status",
                "body/invoiceNumber",
                "body/issuedAt",
                "body/creditNoteNumber",
                "body/amountPaid",
                "body/amountDue",
                "body/totalBeforeTax",
                "body/taxes",
                "body/totalTax",
                "body/totalAfterTax",
                "body/productItems/*/vatRate",
            ] {
                rules = rules.depart(scenario, path, BILL_LIFECYCLE);
            }
        }
        rules = rules.depart("GET /fullBill/99", "*", FULL_BILL_404);
        for scenario in [
            "POST a product item linking its bill by URI",
            "POST an item linking its bill by path",
            "POST an item linking a missing bill",
            "GET the new item's bill",
            "GET the bill's items after the POST",
            "GET the full bill after the POST",
            "PUT an item's bill as text/uri-list",
            "PATCH an item's quantity",
            "DELETE a product item",
            "GET the full bill at the end",
            "POST an item with a discount above 1",
            "POST an item with quantity 0",
        ] {
            rules = rules.depart(scenario, "*", URI_REGRESSION);
        }
        rules = rules
            .depart(
                "POST an item with an object for its bill",
                "*",
                OBJECT_ASSOCIATION,
            )
            .depart("POST a bill as Spring Data REST takes it", "*", BILL_CREATE)
            .depart("POST a bill with its lines", "*", BILL_CREATE);
    }
    rules
}
