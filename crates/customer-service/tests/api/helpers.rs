//! A running customer-service and one method per thing a test does with it.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use testkit::TestService;

pub(crate) struct TestApp {
    pub(crate) service: TestService,
    pub(crate) http: reqwest::Client,
}

impl TestApp {
    pub(crate) async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub(crate) async fn start_with(properties: &[(&str, &str)]) -> Self {
        let service = TestService::start(&customer_service::SERVICE, properties).await;
        Self {
            service,
            http: reqwest::Client::new(),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        self.service.url(path)
    }

    pub(crate) async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    pub(crate) async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("JSON body")
    }

    pub(crate) async fn post_customer(&self, body: &Value) -> Response {
        self.http
            .post(self.url("/customers"))
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// Creates a customer and returns its id.
    pub(crate) async fn create(&self, name: &str, email: &str) -> i64 {
        let response = self
            .post_customer(&json!({ "name": name, "email": email }))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["id"].as_i64().expect("id exposed")
    }

    pub(crate) async fn stop(self) {
        self.service.stop().await;
    }
}

/// The customer names of a HAL page, in order.
pub(crate) fn names(page: &Value) -> Vec<String> {
    page["_embedded"]["customers"]
        .as_array()
        .expect("_embedded.customers")
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}
