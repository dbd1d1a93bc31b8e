//! Static routes: predicates, filters, regex dialect, encodings, forwarded headers, CORS,
//! errors and the actuator, with the discovery locator's default routes beside them.

use conformance::compare::{Differential, Probe, Rules};
use serde_json::json;

use super::fleet::{Fleet, Properties};

fn route_table(echo: &str, dead: &str, p: &mut Properties) {
    p.gateway("discovery.locator.enabled", "true");
    // The seed gateway's global CORS (shared/reference/spring-conformance.md).
    let cors = "globalcors.cors-configurations.[/**]";
    p.gateway(&format!("{cors}.allowed-origins"), "http://localhost:4200");
    for (i, m) in ["GET", "POST", "PUT", "DELETE"].iter().enumerate() {
        p.gateway(&format!("{cors}.allowed-methods[{i}]"), m);
    }
    p.gateway(&format!("{cors}.allowed-headers[0]"), "*");
    p.gateway(&format!("{cors}.allow-credentials"), "true");

    // Predicates, shortcut form.
    p.shortcut("path", echo, &["Path=/p/basic/**"], &[]);
    p.shortcut("path-two", echo, &["Path=/p/one/**, /p/two/{id}"], &[]);
    p.shortcut(
        "path-vars",
        echo,
        &["Path=/p/vars/{id}/{*rest}"],
        &["SetPath=/vars/{id}{rest}"],
    );
    p.shortcut("path-regex-var", echo, &["Path=/p/num/{n:\\d+}"], &[]);
    p.shortcut("path-strict", echo, &["Path=/p/strict/x, false"], &[]);
    p.shortcut(
        "method",
        echo,
        &["Path=/p/method/**", "Method=GET,POST"],
        &[],
    );
    p.shortcut(
        "header",
        echo,
        &["Path=/p/header/**", "Header=X-Req, \\d+"],
        &[],
    );
    p.shortcut(
        "header-present",
        echo,
        &["Path=/p/header-any/**", "Header=X-Any"],
        &[],
    );
    p.shortcut(
        "query",
        echo,
        &["Path=/p/query/**", "Query=color, gr(?=een)een"],
        &[],
    );
    p.shortcut(
        "query-present",
        echo,
        &["Path=/p/query-any/**", "Query=flag"],
        &[],
    );
    p.shortcut(
        "cookie",
        echo,
        &["Path=/p/cookie/**", "Cookie=chocolate, ch.p"],
        &[],
    );
    p.shortcut(
        "host",
        echo,
        &["Path=/p/host/**", "Host=**.example.org, {sub}.test.local"],
        &[],
    );
    p.shortcut(
        "after",
        echo,
        &[
            "Path=/p/time/**",
            "After=2017-01-20T17:42:47.789-07:00[America/Denver]",
        ],
        &[],
    );
    p.shortcut(
        "before",
        echo,
        &[
            "Path=/p/before/**",
            "Before=2017-01-20T17:42:47.789-07:00[America/Denver]",
        ],
        &[],
    );
    p.shortcut("between", echo, &["Path=/p/between/**", "Between=2017-01-20T17:42:47.789-07:00[America/Denver], 2117-01-21T17:42:47.789-07:00[America/Denver]"], &[]);
    p.shortcut(
        "remote",
        echo,
        &["Path=/p/remote/**", "RemoteAddr=127.0.0.1/32, 10.0.0.0/8"],
        &[],
    );
    p.shortcut(
        "remote-no",
        echo,
        &["Path=/p/remote-no/**", "RemoteAddr=10.0.0.0/8"],
        &[],
    );
    p.shortcut(
        "xff",
        echo,
        &["Path=/p/xff/**", "XForwardedRemoteAddr=10.1.0.0/16"],
        &[],
    );
    p.shortcut(
        "weight",
        echo,
        &["Path=/p/weight/**", "Weight=only, 5"],
        &[],
    );

    // Predicates, expanded form.
    p.route(
        "x-path",
        echo,
        &[
            ("predicates[0].name", "Path"),
            ("predicates[0].args.patterns[0]", "/x/one/**"),
            ("predicates[0].args.patterns[1]", "/x/two/**"),
            ("predicates[0].args.matchTrailingSlash", "false"),
        ],
    );
    p.route(
        "x-header",
        echo,
        &[
            ("predicates[0].name", "Path"),
            ("predicates[0].args.patterns", "/x/header/**"),
            ("predicates[1].name", "Header"),
            ("predicates[1].args.header", "X-Full"),
            ("predicates[1].args.regexp", "(?<v>a+)b"),
        ],
    );
    p.route(
        "x-query",
        echo,
        &[
            ("predicates[0].name", "Path"),
            ("predicates[0].args.pattern", "/x/query/**"),
            ("predicates[1].name", "Query"),
            ("predicates[1].args.param", "size"),
            ("predicates[1].args.regexp", "(?!0)\\d+"),
        ],
    );
    p.route(
        "x-method",
        echo,
        &[
            ("predicates[0].name", "Path"),
            ("predicates[0].args.patterns", "/x/method/**"),
            ("predicates[1].name", "Method"),
            ("predicates[1].args.methods[0]", "PUT"),
        ],
    );
    p.route(
        "x-cookie",
        echo,
        &[
            ("predicates[0]", "Path=/x/cookie/**"),
            ("predicates[1].name", "Cookie"),
            ("predicates[1].args.name", "flavour"),
            ("predicates[1].args.regexp", "mint|lime"),
        ],
    );

    // Filters, shortcut form.
    let f = |p: &mut Properties, id: &str, filters: &[&str]| {
        let path = format!("Path=/f/{id}/**");
        p.shortcut(&format!("f-{id}"), echo, &[&path], filters);
    };
    f(p, "strip", &["StripPrefix=2"]);
    f(p, "prefix", &["PrefixPath=/pre"]);
    f(
        p,
        "rewrite",
        &["RewritePath=/f/rewrite/(?<seg>.*), /$\\{seg}"],
    );
    f(
        p,
        "rewrite-plain",
        &["RewritePath=/f/rewrite-plain/(?<seg>.*), /${seg}"],
    );
    f(
        p,
        "rewrite-numbered",
        &["RewritePath=/f/rewrite-numbered/(\\w+)/(\\w+), /$2/$1"],
    );
    f(
        p,
        "rewrite-lookbehind",
        &["RewritePath=(?<=/f/rewrite-lookbehind/)old, new"],
    );
    f(
        p,
        "rewrite-lookahead",
        &["RewritePath=/f/rewrite-lookahead/(?!keep)\\w+, /gone"],
    );
    f(p, "add-req-header", &["AddRequestHeader=X-Added, added"]);
    f(
        p,
        "add-req-if-absent",
        &["AddRequestHeadersIfNotPresent=X-A:1,X-B:2"],
    );
    f(p, "set-req-header", &["SetRequestHeader=X-Set, new"]);
    f(p, "remove-req-header", &["RemoveRequestHeader=X-Gone"]);
    f(p, "map-req-header", &["MapRequestHeader=X-From, X-To"]);
    f(p, "add-param", &["AddRequestParameter=added, yes"]);
    f(p, "remove-param", &["RemoveRequestParameter=gone"]);
    f(p, "add-resp-header", &["AddResponseHeader=X-Resp, r"]);
    f(
        p,
        "set-resp-header",
        &["SetResponseHeader=X-Backend-Url, replaced"],
    );
    f(
        p,
        "remove-resp-header",
        &["RemoveResponseHeader=X-Backend-Url"],
    );
    f(
        p,
        "rewrite-resp-header",
        &["RewriteResponseHeader=X-Backend-Url, password=[^&]+, password=***"],
    );
    f(p, "dedupe", &["DedupeResponseHeader=X-Dup"]);
    f(
        p,
        "dedupe-unique",
        &["DedupeResponseHeader=X-Dup, RETAIN_UNIQUE"],
    );
    f(
        p,
        "dedupe-last",
        &["DedupeResponseHeader=X-Dup, RETAIN_LAST"],
    );
    f(p, "set-status", &["SetStatus=201"]);
    f(p, "set-status-name", &["SetStatus=BAD_REQUEST"]);
    f(
        p,
        "redirect",
        &["RedirectTo=302, https://example.org/target"],
    );
    f(p, "preserve-host", &["PreserveHostHeader"]);
    f(p, "set-host", &["SetRequestHostHeader=forced.example"]);
    f(p, "secure", &["SecureHeaders"]);
    f(p, "request-size", &["RequestSize=10B"]);
    p.route(
        "x-request-size",
        echo,
        &[
            ("predicates[0]", "Path=/xf/request-size/**"),
            ("filters[0].name", "RequestSize"),
            ("filters[0].args.maxSize", "10B"),
        ],
    );
    f(p, "header-size", &["RequestHeaderSize=200B"]);
    f(p, "retry", &["Retry=2"]);
    f(p, "limiter", &["RequestRateLimiter"]);
    p.shortcut(
        "f-path-template",
        echo,
        &["Path=/f/tpl/{seg}"],
        &[
            "AddRequestHeader=X-Seg, v-{seg}",
            "SetResponseHeader=X-Seg, r-{seg}",
            "SetPath=/tpl/{seg}/done",
        ],
    );

    // Filters, expanded form.
    p.route(
        "x-strip",
        echo,
        &[
            ("predicates[0]", "Path=/xf/strip/**"),
            ("filters[0].name", "StripPrefix"),
            ("filters[0].args.parts", "2"),
        ],
    );
    p.route(
        "x-rewrite",
        echo,
        &[
            ("predicates[0]", "Path=/xf/rewrite/**"),
            ("filters[0].name", "RewritePath"),
            (
                "filters[0].args.regexp",
                "/xf/rewrite/(?<first>[^/]+)(?<rest>.*)",
            ),
            ("filters[0].args.replacement", "/${first}-x${rest}"),
        ],
    );
    p.route(
        "x-add-resp",
        echo,
        &[
            ("predicates[0]", "Path=/xf/add-resp/**"),
            ("filters[0].name", "AddResponseHeader"),
            ("filters[0].args.name", "X-Dup"),
            ("filters[0].args.value", "c"),
        ],
    );
    p.route(
        "x-retry",
        echo,
        &[
            ("predicates[0]", "Path=/xf/retry/**"),
            ("filters[0].name", "Retry"),
            ("filters[0].args.retries", "3"),
            ("filters[0].args.statuses", "INTERNAL_SERVER_ERROR"),
            ("filters[0].args.methods", "GET,POST"),
        ],
    );
    p.route(
        "x-breaker",
        dead,
        &[
            ("predicates[0]", "Path=/xf/breaker/**"),
            ("filters[0].name", "CircuitBreaker"),
            ("filters[0].args.name", "deadBreaker"),
            ("filters[0].args.fallbackUri", "forward:/fallback/dead"),
        ],
    );
    p.route(
        "x-breaker-none",
        dead,
        &[
            ("predicates[0]", "Path=/xf/breaker-none/**"),
            ("filters[0].name", "CircuitBreaker"),
            ("filters[0].args.name", "plainBreaker"),
        ],
    );
    p.shortcut("fallback", echo, &["Path=/fallback/**"], &[]);

    // Failures.
    p.shortcut("dead", dead, &["Path=/e/dead/**"], &[]);
    p.shortcut(
        "unknown-service",
        "lb://NOT-REGISTERED",
        &["Path=/e/unknown/**"],
        &[],
    );
    p.route(
        "slow",
        echo,
        &[
            ("predicates[0]", "Path=/e/slow/**"),
            ("metadata.response-timeout", "300"),
        ],
    );
    p.shortcut(
        "balanced",
        "lb://ECHO-SERVICE",
        &["Path=/lb/**"],
        &["StripPrefix=1"],
    );
    // Last, so the actuator's route indices above stay put.
    p.shortcut(
        "path-lookahead-var",
        echo,
        &["Path=/p/la/{name:(?!admin)[a-z]+}"],
        &["SetPath=/user/{name}"],
    );
}

/// The departures every gateway comparison keeps (rows of the README's Deliberate departures table).
pub(crate) fn departures(rules: Rules) -> Rules {
    rules
        .depart("*", "body/headers/x-request-id", "factura gives every request an id that crosses the hop, so logs of gateway and backend correlate without a tracing stack")
        .depart("*", "body/headers/user-agent", "factura forwards the client's headers as sent; Spring's HTTP client adds its own User-Agent when the client sent none")
}

const FALLBACK_DEPARTURE: &str = "a CircuitBreaker fallback forwarded to a route keeps the client's scheme and port in X-Forwarded-*/Forwarded; Spring's re-dispatched request has lost them (proto=null, port 80)";
const REQUEST_SIZE_DEPARTURE: &str = "factura applies the shortcut form RequestSize=10B; Spring's factory has no shortcut fields and silently keeps its 5 MB default";
const LAMBDA_DEPARTURE: &str = "where Spring's actuator prints a Java lambda's class name (XForwardedRemoteAddr, RequestRateLimiter), factura describes the predicate or filter with its arguments";
const EXPANDED_LIST_DEPARTURE: &str = "an expanded list argument given as indexed properties (args.patterns[0], args.patterns[1]) binds as that list; Spring's Map<String,String> args take every value, the flag included, as a pattern";
const IDENTITY_DEPARTURE: &str = "Spring keys these maps by Java object identities (class@hash, config class names) that change on every start and lists factories factura does not implement; factura lists what it implements by the same simple names";
const FORWARDED_DEPARTURE: &str = "factura replaces X-Forwarded-*/Forwarded from untrusted peers instead of appending to them, so a client cannot spoof its address, host or scheme (Spring fixed the same in 4.1.8/4.2.3 by adding none)";
const BAD_GATEWAY_DEPARTURE: &str = "a fixed backend that refuses connections is a 502 Bad Gateway (RFC 9110), not a 500, so clients and monitors can tell an unreachable backend from a gateway fault";
const ENCODED_SLASH_DEPARTURE: &str = "factura refuses encoded slashes and backslashes in paths (400): a backend that decodes them could serve a path the route's predicates never saw";

fn rules() -> Rules {
    departures(Rules::default())
        .depart("forwarded headers appended", "body/headers/x-forwarded-*", FORWARDED_DEPARTURE)
        .depart("forwarded headers appended", "body/headers/forwarded*", FORWARDED_DEPARTURE)
        .depart("XForwardedRemoteAddr match", "body/headers/x-forwarded-for*", FORWARDED_DEPARTURE)
        .depart("backend down", "status", BAD_GATEWAY_DEPARTURE)
        .depart("backend down", "body/status", BAD_GATEWAY_DEPARTURE)
        .depart("backend down", "body/error", BAD_GATEWAY_DEPARTURE)
        .depart("CircuitBreaker without fallback", "status", BAD_GATEWAY_DEPARTURE)
        .depart("CircuitBreaker without fallback", "body/status", BAD_GATEWAY_DEPARTURE)
        .depart("CircuitBreaker without fallback", "body/error", BAD_GATEWAY_DEPARTURE)
        .depart("encoded /p/basic/a%2Fb", "*", ENCODED_SLASH_DEPARTURE)
        .depart("encoded /f/strip/a%2Fb/c", "*", ENCODED_SLASH_DEPARTURE)
        .depart("encoded /p/vars/a%2Fb/c%20d", "*", ENCODED_SLASH_DEPARTURE)
        .depart("CircuitBreaker fallback", "body/headers/forwarded*", FALLBACK_DEPARTURE)
        .depart("CircuitBreaker fallback", "body/headers/x-forwarded-p*", FALLBACK_DEPARTURE)
        // The actuator's view of the same two departures.
        .depart("actuator routes", "body/52/filters/0", REQUEST_SIZE_DEPARTURE)
        .depart("actuator routes", "body/56/filters/0", LAMBDA_DEPARTURE)
        .depart("actuator routes", "body/18/predicate", LAMBDA_DEPARTURE)
        .depart("actuator routes", "body/20/predicate", EXPANDED_LIST_DEPARTURE)
        .depart("actuator globalfilters", "*", IDENTITY_DEPARTURE)
        .depart("actuator routefilters", "*", IDENTITY_DEPARTURE)
        .depart("actuator routepredicates", "*", IDENTITY_DEPARTURE)
        .depart("RequestSize large", "*", REQUEST_SIZE_DEPARTURE)
        .depart("AddRequestHeader", "body/headers/x-added/*", "when the client already sent the header, Spring 4.1 forwards the client's and the added values twice over; factura sends each once")
        .depart("RequestRateLimiter without a key", "*", "without a key-resolver factura keys the limiter by client address; Spring's default resolver needs a Spring Security principal and refuses every request (403) without one")
        .header("x-resp")
        .header("x-seg")
        .header("x-backend-url")
        .header("x-dup")
        .header("errormessage")
        .header("x-xss-protection")
        .header("strict-transport-security")
        .header("x-frame-options")
        .header("x-content-type-options")
        .header("referrer-policy")
        .header("content-security-policy")
        .header("x-download-options")
        .header("x-permitted-cross-domain-policies")
        .header("vary")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_routes_answer_as_spring_cloud_gateway_does() {
    // Held but not listening: connections to it are refused.
    let held = testkit::ReservedPort::new();
    let dead_port = held.port();
    let fleet = Fleet::start(
        "gateway-routes",
        &[("ECHO-SERVICE", json!({ "zone": "one" }))],
        |echo, p| route_table(&echo.base(), &format!("http://127.0.0.1:{dead_port}"), p),
    )
    .await;
    fleet.wait_for("/ECHO-SERVICE/ready", 200).await;
    let d = fleet.differential("gateway", rules());

    predicates(&d).await;
    filters(&d).await;
    encodings(&d).await;
    forwarded(&d).await;
    cors(&d).await;
    failures(&d).await;
    locator_defaults(&d).await;
    actuator(&d).await;
    d.finish();
}

async fn predicates(d: &Differential) {
    for path in [
        "/p/basic",
        "/p/basic/",
        "/p/basic/a/b?x=1&y=two",
        "/p/basics",
    ] {
        d.check(&format!("Path {path}"), Probe::get(path)).await;
    }
    for path in [
        "/p/one/a",
        "/p/two/7",
        "/p/two/7/8",
        "/p/vars/3/a/b",
        "/p/vars/3",
    ] {
        d.check(&format!("Path list/vars {path}"), Probe::get(path))
            .await;
    }
    for path in [
        "/p/num/42",
        "/p/num/4x",
        "/p/strict/x",
        "/p/strict/x/",
        "/p/la/ann",
        "/p/la/admin",
    ] {
        d.check(&format!("Path {path}"), Probe::get(path)).await;
    }
    d.check("Method GET", Probe::get("/p/method/a")).await;
    d.check(
        "Method POST",
        Probe::post("/p/method/a").body_with_type("text/plain", "hi"),
    )
    .await;
    d.check("Method DELETE", Probe::delete("/p/method/a")).await;
    for value in ["123", "12a", ""] {
        let probe = Probe::get("/p/header/a");
        let probe = if value.is_empty() {
            probe
        } else {
            probe.header("x-req", value)
        };
        d.check(&format!("Header X-Req={value}"), probe).await;
    }
    d.check(
        "Header present",
        Probe::get("/p/header-any/a").header("x-any", ""),
    )
    .await;
    d.check("Header absent", Probe::get("/p/header-any/a"))
        .await;
    for query in ["color=green", "color=grey", "other=1", "color=gr"] {
        d.check(
            &format!("Query {query}"),
            Probe::get(&format!("/p/query/a?{query}")),
        )
        .await;
    }
    d.check("Query present", Probe::get("/p/query-any/a?flag"))
        .await;
    d.check("Query absent", Probe::get("/p/query-any/a?nope=1"))
        .await;
    for cookie in [
        "chocolate=chip",
        "chocolate=chop; other=1",
        "chocolate=mint",
        "x=chip",
    ] {
        d.check(
            &format!("Cookie {cookie}"),
            Probe::get("/p/cookie/a").header("cookie", cookie),
        )
        .await;
    }
    for host in [
        "a.b.example.org",
        "example.org",
        "shop.test.local",
        "a.b.test.local",
    ] {
        d.check(
            &format!("Host {host}"),
            Probe::get("/p/host/a").header("host", host),
        )
        .await;
    }
    for path in ["/p/time/a", "/p/before/a", "/p/between/a"] {
        d.check(&format!("datetime {path}"), Probe::get(path)).await;
    }
    d.check("RemoteAddr match", Probe::get("/p/remote/a")).await;
    d.check("RemoteAddr no match", Probe::get("/p/remote-no/a"))
        .await;
    d.check(
        "XForwardedRemoteAddr match",
        Probe::get("/p/xff/a").header("x-forwarded-for", "10.1.2.3"),
    )
    .await;
    d.check(
        "XForwardedRemoteAddr last entry",
        Probe::get("/p/xff/a").header("x-forwarded-for", "10.1.2.3, 192.168.0.1"),
    )
    .await;
    d.check("XForwardedRemoteAddr absent", Probe::get("/p/xff/a"))
        .await;
    d.check("Weight single member", Probe::get("/p/weight/a"))
        .await;

    for path in ["/x/one/a", "/x/two/b", "/x/two/b/", "/x/three"] {
        d.check(&format!("expanded Path {path}"), Probe::get(path))
            .await;
    }
    d.check(
        "expanded Header aab",
        Probe::get("/x/header/a").header("x-full", "aab"),
    )
    .await;
    d.check(
        "expanded Header b",
        Probe::get("/x/header/a").header("x-full", "b"),
    )
    .await;
    d.check("expanded Query size=5", Probe::get("/x/query/a?size=5"))
        .await;
    d.check("expanded Query size=05", Probe::get("/x/query/a?size=05"))
        .await;
    d.check("expanded Method PUT", Probe::put("/x/method/a"))
        .await;
    d.check("expanded Method GET", Probe::get("/x/method/a"))
        .await;
    d.check(
        "expanded Cookie",
        Probe::get("/x/cookie/a").header("cookie", "flavour=lime"),
    )
    .await;
    d.check(
        "expanded Cookie no",
        Probe::get("/x/cookie/a").header("cookie", "flavour=limes"),
    )
    .await;
}

async fn filters(d: &Differential) {
    let get = |path: &str| Probe::get(path);
    for (scenario, probe) in [
        ("StripPrefix", get("/f/strip/a/b?q=1")),
        ("StripPrefix all", get("/f/strip")),
        ("PrefixPath", get("/f/prefix/a")),
        ("RewritePath $\\{}", get("/f/rewrite/a/b")),
        ("RewritePath ${}", get("/f/rewrite-plain/a/b")),
        ("RewritePath $1 $2", get("/f/rewrite-numbered/one/two")),
        (
            "RewritePath look-behind",
            get("/f/rewrite-lookbehind/old/old"),
        ),
        (
            "RewritePath look-ahead drop",
            get("/f/rewrite-lookahead/other"),
        ),
        (
            "RewritePath look-ahead keep",
            get("/f/rewrite-lookahead/keepme"),
        ),
        (
            "AddRequestHeader",
            get("/f/add-req-header/a").header("x-added", "mine"),
        ),
        (
            "AddRequestHeadersIfNotPresent",
            get("/f/add-req-if-absent/a").header("x-a", "mine"),
        ),
        (
            "SetRequestHeader",
            get("/f/set-req-header/a").header("x-set", "old"),
        ),
        (
            "RemoveRequestHeader",
            get("/f/remove-req-header/a").header("x-gone", "x"),
        ),
        (
            "MapRequestHeader",
            get("/f/map-req-header/a").header("x-from", "v"),
        ),
        ("MapRequestHeader absent", get("/f/map-req-header/a")),
        ("AddRequestParameter", get("/f/add-param/a?x=1")),
        ("AddRequestParameter no query", get("/f/add-param/a")),
        (
            "RemoveRequestParameter",
            get("/f/remove-param/a?gone=1&kept=2&gone=3"),
        ),
        ("AddResponseHeader", get("/f/add-resp-header/a")),
        ("SetResponseHeader", get("/f/set-resp-header/a")),
        ("RemoveResponseHeader", get("/f/remove-resp-header/a")),
        ("RewriteResponseHeader", get("/f/rewrite-resp-header/a")),
        ("DedupeResponseHeader", get("/f/dedupe/a")),
        (
            "DedupeResponseHeader RETAIN_UNIQUE",
            get("/f/dedupe-unique/a"),
        ),
        ("DedupeResponseHeader RETAIN_LAST", get("/f/dedupe-last/a")),
        ("SetStatus", get("/f/set-status/a")),
        ("SetStatus name", get("/f/set-status-name/a")),
        ("RedirectTo", get("/f/redirect/a?x=1")),
        (
            "PreserveHostHeader",
            get("/f/preserve-host/a").header("host", "client.example"),
        ),
        ("SetRequestHostHeader", get("/f/set-host/a")),
        ("SecureHeaders", get("/f/secure/a")),
        (
            "RequestSize small",
            Probe::post("/f/request-size/a").body_with_type("text/plain", "tiny"),
        ),
        (
            "RequestSize large",
            Probe::post("/f/request-size/a").body_with_type("text/plain", "x".repeat(100)),
        ),
        (
            "expanded RequestSize large",
            Probe::post("/xf/request-size/a").body_with_type("text/plain", "x".repeat(100)),
        ),
        ("RequestHeaderSize small", get("/f/header-size/a")),
        (
            "RequestHeaderSize large",
            get("/f/header-size/a").header("x-big", &"y".repeat(300)),
        ),
        ("RequestRateLimiter without a key", get("/f/limiter/a")),
        ("path template vars", get("/f/tpl/seven")),
        ("expanded StripPrefix", get("/xf/strip/a/b")),
        ("expanded RewritePath", get("/xf/rewrite/a/b/c")),
        ("expanded AddResponseHeader", get("/xf/add-resp/a")),
        ("CircuitBreaker fallback", get("/xf/breaker/a?x=1")),
        ("CircuitBreaker without fallback", get("/xf/breaker-none/a")),
    ] {
        d.check(scenario, probe).await;
    }
    // Retry: the backend fails the first calls of a key; each side gets its own key.
    for (scenario, query, method) in [
        ("Retry recovers", "fail=2", reqwest::Method::GET),
        ("Retry gives up", "fail=5", reqwest::Method::GET),
        ("Retry skips POST", "fail=1", reqwest::Method::POST),
    ] {
        retry(d, scenario, &format!("/f/retry/a?{query}"), method.clone()).await;
    }
    retry(
        d,
        "expanded Retry POST",
        "/xf/retry/a?fail=2",
        reqwest::Method::POST,
    )
    .await;
}

async fn retry(d: &Differential, scenario: &str, path: &str, method: reqwest::Method) {
    let key = scenario.replace(' ', "-");
    let a = d
        .send(
            &d.ours,
            &Probe::new(method.clone(), &format!("{path}&key=ours-{key}")),
        )
        .await;
    let b = d
        .send(
            &d.spring,
            &Probe::new(method, &format!("{path}&key=spring-{key}")),
        )
        .await;
    let normalise = |mut e: conformance::compare::Exchange| {
        let text = e
            .body
            .to_string()
            .replace("ours-", "K-")
            .replace("spring-", "K-");
        e.body = serde_json::from_str(&text).unwrap_or(e.body);
        e
    };
    d.record(scenario, &normalise(a), &normalise(b));
}

async fn encodings(d: &Differential) {
    for path in [
        "/p/basic/a%2Fb",
        "/p/basic/a%20b",
        "/p/basic/a+b",
        "/p/basic/a%252Fb",
        "/p/basic/caf%C3%A9",
        "/p/basic/a;b=c",
        "/p/basic/a/../b",
        "/p/basic/a?q=a%20b&r=a+b&s=%2F&t=%25",
        "/p/basic/a?empty=&novalue&x=%E2%82%AC",
        "/f/strip/a%2Fb/c",
        "/f/rewrite/a%20b",
        "/f/tpl/a%20b",
        "/f/add-param/a?x=a%20b",
        "/p/vars/a%2Fb/c%20d",
    ] {
        d.check(&format!("encoded {path}"), Probe::get(path)).await;
    }
}

async fn forwarded(d: &Differential) {
    d.check("forwarded headers added", Probe::get("/p/basic/fwd"))
        .await;
    d.check(
        "forwarded headers appended",
        Probe::get("/p/basic/fwd")
            .header("x-forwarded-for", "10.9.9.9")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "front.example")
            .header("x-forwarded-port", "443")
            .header("forwarded", "for=10.9.9.9;proto=https"),
    )
    .await;
    d.check(
        "forwarded prefix after StripPrefix",
        Probe::get("/f/strip/a/b"),
    )
    .await;
    d.check(
        "forwarded prefix after RewritePath",
        Probe::get("/f/rewrite/a/b"),
    )
    .await;
    d.check(
        "hop-by-hop headers dropped",
        Probe::get("/p/basic/hop")
            .header("connection", "x-secret")
            .header("x-secret", "s")
            .header("keep-alive", "timeout=5")
            .header("te", "trailers")
            .header("proxy-authorization", "Basic eA=="),
    )
    .await;
}

async fn cors(d: &Differential) {
    let origin = "http://localhost:4200";
    let preflight = |path: &str, origin: &str, method: &str| {
        Probe::new(reqwest::Method::OPTIONS, path)
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "content-type, x-custom")
    };
    d.check(
        "CORS preflight allowed",
        preflight("/p/basic/a", origin, "POST"),
    )
    .await;
    d.check(
        "CORS preflight method refused",
        preflight("/p/basic/a", origin, "PATCH"),
    )
    .await;
    d.check(
        "CORS preflight origin refused",
        preflight("/p/basic/a", "http://evil.example", "GET"),
    )
    .await;
    d.check(
        "CORS preflight no route",
        preflight("/nowhere", origin, "GET"),
    )
    .await;
    d.check(
        "CORS actual allowed",
        Probe::get("/p/basic/a").header("origin", origin),
    )
    .await;
    d.check(
        "CORS actual refused",
        Probe::get("/p/basic/a").header("origin", "http://evil.example"),
    )
    .await;
    d.check(
        "CORS same origin",
        Probe::get("/p/basic/a").header("origin", "http://127.0.0.1"),
    )
    .await;
    d.check(
        "CORS plain OPTIONS",
        Probe::new(reqwest::Method::OPTIONS, "/p/basic/a"),
    )
    .await;
}

async fn failures(d: &Differential) {
    d.check("no route", Probe::get("/nowhere/at/all")).await;
    d.check(
        "no route POST",
        Probe::post("/nowhere").json(&json!({"a": 1})),
    )
    .await;
    d.check("backend down", Probe::get("/e/dead/a")).await;
    d.check("service not registered", Probe::get("/e/unknown/a"))
        .await;
    d.check("response timeout", Probe::get("/e/slow/a?sleep=2000"))
        .await;
    d.check(
        "backend error passes through",
        Probe::get("/p/basic/a?status=503"),
    )
    .await;
    d.check("lb route", Probe::get("/lb/a")).await;
}

async fn locator_defaults(d: &Differential) {
    for path in [
        "/ECHO-SERVICE/a/b?x=1",
        "/ECHO-SERVICE",
        "/ECHO-SERVICE/",
        "/echo-service/a",
    ] {
        d.check(&format!("locator {path}"), Probe::get(path)).await;
    }
}

async fn actuator(d: &Differential) {
    d.check("actuator routes", Probe::get("/actuator/gateway/routes"))
        .await;
    d.check(
        "actuator route",
        Probe::get("/actuator/gateway/routes/f-strip"),
    )
    .await;
    d.check(
        "actuator route missing",
        Probe::get("/actuator/gateway/routes/nope"),
    )
    .await;
    d.check(
        "actuator globalfilters",
        Probe::get("/actuator/gateway/globalfilters"),
    )
    .await;
    d.check(
        "actuator routefilters",
        Probe::get("/actuator/gateway/routefilters"),
    )
    .await;
    d.check(
        "actuator routepredicates",
        Probe::get("/actuator/gateway/routepredicates"),
    )
    .await;
    let route = json!({
        "uri": "http://127.0.0.1:1",
        "predicates": ["Path=/posted/**"],
        "filters": ["StripPrefix=1"],
        "order": 3
    });
    d.check(
        "actuator POST route",
        Probe::post("/actuator/gateway/routes/posted").json(&route),
    )
    .await;
    d.check(
        "actuator POST bad predicate",
        Probe::post("/actuator/gateway/routes/bad")
            .json(&json!({"uri": "http://127.0.0.1:1", "predicates": ["Nope=1"]})),
    )
    .await;
    d.check(
        "actuator POST no scheme",
        Probe::post("/actuator/gateway/routes/bad")
            .json(&json!({"uri": "localhost", "predicates": ["Path=/x"]})),
    )
    .await;
    // Not compared before the refresh: Spring's gateway also refreshes its routes on the
    // discovery client's heartbeat when the registry changed, so whether a posted route shows
    // before `POST /actuator/gateway/refresh` depends on when its last registry fetch was.
    d.check("actuator refresh", Probe::post("/actuator/gateway/refresh"))
        .await;
    d.check(
        "actuator route after refresh",
        Probe::get("/actuator/gateway/routes/posted"),
    )
    .await;
    d.check(
        "actuator DELETE route",
        Probe::delete("/actuator/gateway/routes/posted"),
    )
    .await;
    d.check(
        "actuator DELETE missing",
        Probe::delete("/actuator/gateway/routes/posted"),
    )
    .await;
    d.check(
        "actuator DELETE config route",
        Probe::delete("/actuator/gateway/routes/f-strip"),
    )
    .await;
    d.check(
        "actuator refresh again",
        Probe::post("/actuator/gateway/refresh"),
    )
    .await;
    d.check(
        "actuator route gone",
        Probe::get("/actuator/gateway/routes/posted"),
    )
    .await;
}
