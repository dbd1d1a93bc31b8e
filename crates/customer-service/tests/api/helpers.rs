//! A running customer-service and one method per thing a test does with it.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

/// testkit's [`testkit::TestApp`] on customer-service, with what customer tests add.
pub(crate) struct TestApp(testkit::TestApp);

impl std::ops::Deref for TestApp {
    type Target = testkit::TestApp;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl TestApp {
    pub(crate) async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub(crate) async fn start_with(properties: &[(&str, &str)]) -> Self {
        Self(testkit::TestApp::start(&customer_service::SERVICE, properties).await)
    }

    pub(crate) async fn post_customer(&self, body: &Value) -> Response {
        self.post_json("/customers", body).await
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
        self.0.stop().await;
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
