//! Invoice numbers: given at issue, sequential per year without gaps (also when an issue
//! fails), from the settings' prefix and pattern, unique across two instances issuing at once.

use std::collections::BTreeSet;

use platform::db::Backend;
use reqwest::StatusCode;
use serde_json::Value;

use crate::saga::{Fleet, lines, post_bill};

fn year() -> i32 {
    chrono::Datelike::year(&chrono::Utc::now())
}

async fn act(http: &reqwest::Client, url: String) -> (StatusCode, Value) {
    let response = http.post(url).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn issue(fleet: &Fleet, instance: usize, id: i64) -> (StatusCode, Value) {
    act(
        &fleet.http,
        fleet.billing[instance].url(&format!("/bills/{id}/issue")),
    )
    .await
}

async fn draft(fleet: &Fleet, instance: usize, product: i64) -> i64 {
    let (status, bill) = post_bill(&fleet.http, &fleet.billing[instance], &lines(product, 1)).await;
    assert_eq!(status, StatusCode::CREATED, "{bill}");
    assert_eq!(bill["status"], "DRAFT");
    assert_eq!(bill["invoiceNumber"], Value::Null, "a draft has no number");
    bill["id"].as_i64().unwrap()
}

#[tokio::test]
async fn issuing_gives_the_next_number_of_the_year_once() {
    let fleet = Fleet::start(1, 1).await;
    // Last year's series has nothing to do with this year's.
    let db = fleet.billing[0].database.open().await;
    sqlx::query(
        "INSERT INTO document_sequences (series, year, last_number) VALUES ('INVOICE', $1, 57)",
    )
    .bind(i64::from(year() - 1))
    .execute(db.pool())
    .await
    .unwrap();
    db.close().await;
    let (first, second) = (draft(&fleet, 0, 3).await, draft(&fleet, 0, 3).await);
    let (status, issued) = issue(&fleet, 0, second).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert_eq!(issued["status"], "ISSUED");
    assert_eq!(issued["invoiceNumber"], format!("FAC-{}-000001", year()));
    assert!(issued["issuedAt"].as_str().unwrap().ends_with("+00:00"));
    let (_, issued) = issue(&fleet, 0, first).await;
    assert_eq!(issued["invoiceNumber"], format!("FAC-{}-000002", year()));

    // Issuing again with the key of the first issue replays it; without, it is refused.
    let retried = |key: &'static str| {
        let (http, url) = (
            fleet.http.clone(),
            fleet.billing[0].url(&format!("/bills/{first}/issue")),
        );
        async move {
            let response = http
                .post(url)
                .header("idempotency-key", key)
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, keyed) = retried("issue-first").await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the first issue had no key: {keyed}"
    );
    let third = draft(&fleet, 0, 3).await;
    let keyed_issue = |key: &'static str| {
        let (http, url) = (
            fleet.http.clone(),
            fleet.billing[0].url(&format!("/bills/{third}/issue")),
        );
        async move {
            let response = http
                .post(url)
                .header("idempotency-key", key)
                .send()
                .await
                .unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    let once = keyed_issue("issue-third").await;
    assert_eq!(once.0, StatusCode::OK);
    assert!(
        once.1.contains(&format!("FAC-{}-000003", year())),
        "{}",
        once.1
    );
    assert_eq!(
        keyed_issue("issue-third").await,
        once,
        "replayed, not refused"
    );
    let (status, error) = issue(&fleet, 0, first).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        error["message"],
        format!("bill {first} is ISSUED: only a DRAFT bill can be issued")
    );
    let full: Value = fleet
        .http
        .get(fleet.billing[0].url(&format!("/fullBill/{first}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        full["invoiceNumber"],
        format!("FAC-{}-000002", year()),
        "kept"
    );
    assert_eq!(issue(&fleet, 0, 9999).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        act(&fleet.http, fleet.billing[0].url("/bills/x/issue"))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    fleet.stop().await;
}

#[tokio::test]
async fn an_issue_that_fails_gives_its_number_back() {
    let fleet = Fleet::start(1, 1).await;
    let (unlucky, next) = (draft(&fleet, 0, 3).await, draft(&fleet, 0, 3).await);
    // A real failure inside the issuing transaction, after the number was taken.
    let db = fleet.billing[0].database.open().await;
    let refuse: Vec<String> = match db.backend() {
        Backend::Sqlite => vec![format!(
            "CREATE TRIGGER refuse_number BEFORE UPDATE OF invoice_number ON bills \
             WHEN NEW.id = {unlucky} BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )],
        Backend::Postgres => vec![
            format!(
                "CREATE FUNCTION refuse_number() RETURNS trigger LANGUAGE plpgsql AS $f$ \
                 BEGIN IF NEW.id = {unlucky} AND NEW.invoice_number IS NOT NULL THEN \
                 RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $f$"
            ),
            "CREATE TRIGGER refuse_number BEFORE UPDATE ON bills FOR EACH ROW EXECUTE FUNCTION refuse_number()".into(),
        ],
    };
    for sql in refuse {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(db.pool())
            .await
            .unwrap();
    }
    assert_eq!(
        issue(&fleet, 0, unlucky).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let (_, issued) = issue(&fleet, 0, next).await;
    assert_eq!(issued["invoiceNumber"], format!("FAC-{}-000001", year()));
    let drop = match db.backend() {
        Backend::Sqlite => "DROP TRIGGER refuse_number",
        Backend::Postgres => "DROP TRIGGER refuse_number ON bills",
    };
    sqlx::query(drop).execute(db.pool()).await.unwrap();
    db.close().await;
    let (status, issued) = issue(&fleet, 0, unlucky).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert_eq!(issued["invoiceNumber"], format!("FAC-{}-000002", year()));
    fleet.stop().await;
}

#[tokio::test]
async fn prefix_and_pattern_come_from_the_settings() {
    let fleet = Fleet::start_with(
        1,
        1,
        &[
            ("factura.billing.invoice.prefix", "INV"),
            (
                "factura.billing.invoice.pattern",
                "{prefix}/{year}/{number:04}",
            ),
        ],
    )
    .await;
    let id = draft(&fleet, 0, 3).await;
    let (_, issued) = issue(&fleet, 0, id).await;
    assert_eq!(issued["invoiceNumber"], format!("INV/{}/0001", year()));
    fleet.stop().await;

    let database = testkit::TestDatabase::new();
    let settings = testkit::test_settings(
        &billing_service::SERVICE,
        &database,
        &[("factura.billing.invoice.pattern", "{prefix}-{number}")],
    );
    let error = (billing_service::SERVICE.build)(platform::ServiceContext::new(settings))
        .await
        .expect_err("a pattern without the year is refused");
    assert!(platform::settings::is_configuration_error(&error));
    assert!(
        format!("{error:#}").contains("factura.billing.invoice.pattern"),
        "{error:#}"
    );
    database.drop_database().await;
}

#[tokio::test]
async fn two_hundred_invoices_issued_at_once_on_two_instances_are_numbered_1_to_200() {
    // 200 bills at once on a small machine: sagas may take seconds, so none is treated as
    // abandoned here (the saga tests check that recovery).
    let fleet = std::sync::Arc::new(
        Fleet::start_with(1, 2, &[("factura.billing.saga.stale-after", "60s")]).await,
    );
    let product = fleet.product(1000).await;
    let drafts: Vec<_> = (0..200)
        .map(|i| {
            let fleet = fleet.clone();
            tokio::spawn(async move { draft(&fleet, i % 2, product).await })
        })
        .collect();
    let mut ids = Vec::new();
    for task in drafts {
        ids.push(task.await.unwrap());
    }
    let started = std::time::Instant::now();
    let issues: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let (fleet, id) = (fleet.clone(), *id);
            tokio::spawn(async move { issue(&fleet, (i + 1) % 2, id).await })
        })
        .collect();
    let prefix = format!("FAC-{}-", year());
    let mut numbers = BTreeSet::new();
    for task in issues {
        let (status, issued) = task.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{issued}");
        let number = issued["invoiceNumber"].as_str().unwrap();
        let digits = number.strip_prefix(&prefix).unwrap();
        assert_eq!(digits.len(), 6, "{number}");
        assert!(
            numbers.insert(digits.parse::<i64>().unwrap()),
            "{number} twice"
        );
    }
    eprintln!(
        "200 invoices issued concurrently on two instances in {:?}: numbers {}..{}, {} distinct",
        started.elapsed(),
        numbers.first().unwrap(),
        numbers.last().unwrap(),
        numbers.len()
    );
    assert_eq!(numbers, (1..=200).collect::<BTreeSet<_>>());
    let database = &fleet.billing[0].database;
    assert_eq!(
        database
            .count("SELECT COUNT(DISTINCT invoice_number) FROM bills")
            .await,
        200
    );
    std::sync::Arc::into_inner(fleet)
        .expect("the tasks are done")
        .stop()
        .await;
}
