//! Calls to other services by name, the role OpenFeign + Spring Cloud LoadBalancer +
//! Resilience4j play in the original: `client.get_json("customer(1)", "/customers/1")`.
//!
//! * the instance comes from the local registry cache, round-robin ([`LoadBalancer`]);
//! * an instance that refuses the connection is skipped for the next one;
//! * a GET that times out or answers 5xx is retried once on another instance;
//! * connect and read timeouts come from Spring's Feign keys
//!   (`spring.cloud.openfeign.client.config.<name>.connect-timeout` / `read-timeout`, in ms,
//!   falling back to `….config.default.…`, then to Spring Cloud OpenFeign's own defaults,
//!   connect 10 s and read 60 s);
//! * one [`CircuitBreaker`] per remote service decides whether to call at all; its state is a
//!   health component and a Prometheus gauge. A service with no instance known is looked up
//!   in a registry fetched at once, and if still unknown answered "unavailable" without
//!   counting as a breaker failure (it has not failed, it is not there yet);
//! * the incoming request's `x-request-id` travels on every outgoing call, and so does its
//!   caller's bearer token when the service is a resource server ([`crate::security`]); a call
//!   made without a caller (a background task) carries a client-credentials token instead,
//!   when a registration is configured ([`crate::security::client`]);
//! * an instance registered with its secure port enabled is called over https, trusting what
//!   `factura.ssl.client.*` says ([`crate::tls`]); `spring.cloud.openfeign.httpclient.disable-ssl-validation`
//!   trusts any certificate, as with OpenFeign's Apache HttpClient 5.
//!
//! Errors say which service, which call and what happened ([`RemoteError`]).

use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::{
    actuator::Health,
    app::ServiceContext,
    balancer::{Candidates, LoadBalancer},
    error::ApiError,
    resilience::{BreakerConfig, CircuitBreaker, State},
    security::client::ClientCredentials,
    server::{REQUEST_ID, current_request_id},
    settings::{FromSection, Section, SettingsError},
    tls::ClientTlsSettings,
};

/// Why a remote call failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RemoteError {
    /// The remote answered 404.
    #[error("{service} {call}: not found")]
    NotFound {
        /// The remote service.
        service: String,
        /// The call, e.g. `product(7)`.
        call: String,
    },
    /// No instance could be reached, none is registered, or the breaker is open.
    #[error("{service} {call}: unavailable ({reason})")]
    Unavailable {
        /// The remote service.
        service: String,
        /// The call.
        call: String,
        /// What made it unavailable.
        reason: String,
    },
    /// The remote did not answer within the read timeout.
    #[error("{service} {call}: no answer within {after_ms} ms")]
    Timeout {
        /// The remote service.
        service: String,
        /// The call.
        call: String,
        /// The read timeout.
        after_ms: u128,
    },
    /// The remote refused the request with a 4xx other than 404 and said why (its `message`):
    /// a business refusal such as not enough stock (409), or a request it found invalid.
    #[error("{service} {call}: {message}")]
    Refused {
        /// The remote service.
        service: String,
        /// The call.
        call: String,
        /// The status it answered.
        status: u16,
        /// Its `message`.
        message: String,
    },
    /// The remote answered something unusable (a 4xx other than 404, or a body that does not
    /// decode).
    #[error("{service} {call}: bad response ({detail})")]
    BadResponse {
        /// The remote service.
        service: String,
        /// The call.
        call: String,
        /// What was wrong.
        detail: String,
    },
}

impl From<RemoteError> for ApiError {
    fn from(error: RemoteError) -> Self {
        match error {
            RemoteError::NotFound { .. } => ApiError::NotFound(error.to_string()),
            RemoteError::BadResponse { .. } | RemoteError::Refused { .. } => {
                ApiError::BadGateway(error.to_string())
            }
            RemoteError::Unavailable { .. } | RemoteError::Timeout { .. } => {
                ApiError::Unavailable(error.to_string())
            }
        }
    }
}

/// A client for one remote service, addressed by its registry name.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    service: String,
    balancer: LoadBalancer,
    http: reqwest::Client,
    read_timeout: Duration,
    breaker: CircuitBreaker,
    client_credentials: Option<ClientCredentials>,
}

/// `spring.cloud.openfeign.client.config.<service>.*`, else `….default.*`: OpenFeign's
/// timeouts (whole milliseconds, as its `Integer` properties take them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeignClientSettings {
    /// `connect-timeout` (default 10 000 ms, Spring Cloud OpenFeign's).
    pub connect_timeout: Duration,
    /// `read-timeout` (default 60 000 ms, Spring Cloud OpenFeign's).
    pub read_timeout: Duration,
}

impl FromSection for FeignClientSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        Ok(Self {
            connect_timeout: Duration::from_millis(section.parse_or("connect-timeout", 10_000)?),
            read_timeout: Duration::from_millis(section.parse_or("read-timeout", 60_000)?),
        })
    }
}

/// How one attempt on one instance ended.
enum Attempt {
    Done(reqwest::Response),
    Refused(String),
    Retryable(RemoteError),
}

impl ServiceClient {
    /// A client for `service` (e.g. `CUSTOMER-SERVICE`) balancing over `context`'s registry,
    /// with its breaker registered as a health component and a gauge.
    pub fn new(context: &ServiceContext, service: &str) -> anyhow::Result<Self> {
        let settings = context.settings.current();
        let service = service.to_ascii_uppercase();
        let FeignClientSettings {
            connect_timeout,
            read_timeout,
        } = settings
            .section(&format!("spring.cloud.openfeign.client.config.{service}"))
            .or("spring.cloud.openfeign.client.config.default")
            .bind()?;
        let mut tls = ClientTlsSettings::platform(&settings)?;
        // OpenFeign's Apache HttpClient 5 switch, honoured the same way.
        tls.skip_validation = settings.flag(
            "spring.cloud.openfeign.httpclient.disable-ssl-validation",
            false,
        )?;
        let http = tls
            .reqwest_builder()?
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        let breaker =
            CircuitBreaker::new(&service, BreakerConfig::from_settings(&settings, &service)?);
        let client = Self {
            balancer: LoadBalancer::new(context.discovery.clone()),
            service,
            http,
            read_timeout,
            breaker,
            client_credentials: context.client_credentials()?,
        };
        client.register_observability(context);
        Ok(client)
    }

    fn register_observability(&self, context: &ServiceContext) {
        let breaker = self.breaker.clone();
        let component = format!("circuitBreaker-{}", self.service.to_ascii_lowercase());
        context.health.register(&component, move || {
            let breaker = breaker.clone();
            // An open breaker protects this service; it does not make it unhealthy (Spring's
            // default `allowHealthIndicatorToFail=false`), so the state is a detail.
            async move {
                let failure_rate = breaker
                    .failure_rate()
                    .map_or("-1.0%".to_owned(), |r| format!("{r:.1}%"));
                Health::up(
                    json!({ "state": breaker.state().to_string(), "failureRate": failure_rate }),
                )
            }
        });
        let breaker = self.breaker.clone();
        context.metrics.add_gauges(std::sync::Arc::new(move || {
            let current = breaker.state();
            [State::Closed, State::Open, State::HalfOpen]
                .into_iter()
                .map(|state| {
                    let name = format!(
                        "resilience4j_circuitbreaker_state{{name=\"{}\",state=\"{}\"}}",
                        breaker.name(),
                        state.to_string().to_ascii_lowercase()
                    );
                    (name, if state == current { 1.0 } else { 0.0 })
                })
                .collect()
        }));
    }

    /// The remote service's registry name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The breaker guarding calls to this service.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// `GET path` on some instance, decoded from JSON. `call` names the call in errors.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        call: &str,
        path: &str,
    ) -> Result<T, RemoteError> {
        let response = self.guarded(call, reqwest::Method::GET, path, None).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.bad(call, format!("reading the body: {e}")))?;
        serde_json::from_slice(&bytes).map_err(|e| self.bad(call, format!("undecodable JSON: {e}")))
    }

    /// `method path` with an optional JSON body on some instance, decoded from JSON; a 4xx with
    /// a `message` (a 409, a 400) comes back as [`RemoteError::Refused`].
    ///
    /// Only for requests the remote makes idempotent (`PUT`/`DELETE` of a resource whose id the
    /// caller chose): like a GET, a call that times out or fails with 5xx is sent once more to
    /// another instance.
    pub async fn send_idempotent<T: DeserializeOwned>(
        &self,
        call: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, RemoteError> {
        let response = self.guarded(call, method, path, body).await?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.bad(call, format!("reading the body: {e}")))?;
        if status.is_client_error() {
            let message = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
                .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
            return Err(RemoteError::Refused {
                service: self.service.clone(),
                call: call.to_owned(),
                status: status.as_u16(),
                message,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| self.bad(call, format!("undecodable JSON: {e}")))
    }

    /// One call through the breaker, with failover over the instances.
    ///
    /// No instance known is not the remote's failure (it may not have registered yet): it is
    /// answered before the breaker is asked and never counts against it. Of the rest only the
    /// remote's own trouble counts (a 404 or a refusal is an answer).
    async fn guarded(
        &self,
        call: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<reqwest::Response, RemoteError> {
        let candidates = self.balancer.candidates_or_fetch(&self.service).await;
        if candidates.is_empty() {
            return Err(self.unavailable(call, "no instance is registered and UP"));
        }
        // No token for a call without a caller is not the remote's failure either.
        // Where the token endpoint is and what it said go to the log only.
        let token = self.bearer_token().await.map_err(|reason| {
            tracing::warn!(service = %self.service, %reason, "no access token for the call");
            self.unavailable(
                call,
                "no access token (the client-credentials grant failed)",
            )
        })?;
        if self.breaker.try_acquire().is_err() {
            return Err(self.unavailable(call, "circuit breaker open"));
        }
        let result = self
            .with_failover(call, method, path, body, token.as_deref(), &candidates)
            .await;
        let remote_failed = matches!(
            result,
            Err(RemoteError::Unavailable { .. } | RemoteError::Timeout { .. })
        ) || matches!(&result, Err(RemoteError::BadResponse { detail, .. }) if detail.starts_with("HTTP 5"));
        self.breaker.record(!remote_failed);
        result
    }

    async fn with_failover(
        &self,
        call: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        token: Option<&str>,
        candidates: &Candidates,
    ) -> Result<reqwest::Response, RemoteError> {
        let writes = method != reqwest::Method::GET;
        let mut retried = false;
        let mut last = None;
        for instance in candidates.iter() {
            let url = format!("{}{path}", instance.base_url());
            match self.attempt(call, method.clone(), &url, body, token).await {
                // A write's 4xx carries the remote's reason, read by the caller.
                Attempt::Done(response) if writes && response.status().is_client_error() => {
                    if response.status() == StatusCode::NOT_FOUND {
                        return self.classify(call, response);
                    }
                    return Ok(response);
                }
                Attempt::Done(response) => return self.classify(call, response),
                Attempt::Refused(reason) => last = Some(self.unavailable(call, &reason)),
                Attempt::Retryable(error) => {
                    last = Some(error);
                    if retried {
                        break;
                    }
                    retried = true;
                }
            }
        }
        Err(last.unwrap_or_else(|| self.unavailable(call, "no instance answered")))
    }

    async fn attempt(
        &self,
        call: &str,
        method: reqwest::Method,
        url: &str,
        body: Option<&serde_json::Value>,
        token: Option<&str>,
    ) -> Attempt {
        let mut request = self
            .http
            .request(method, url)
            .timeout(self.read_timeout)
            .header(
                reqwest::header::ACCEPT,
                "application/hal+json, application/json",
            );
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(id) = current_request_id() {
            request = request.header(REQUEST_ID, id);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        // The instance's address and the HTTP client's words go to the log only: these
        // errors reach response bodies (a 503's message, the full bill's `missing` reasons).
        match request.send().await {
            Ok(response) if response.status().is_server_error() => {
                let status = response.status().as_u16();
                tracing::warn!(service = %self.service, %url, status, "remote call failed");
                Attempt::Retryable(self.bad(call, format!("HTTP {status} from an instance")))
            }
            Ok(response) => Attempt::Done(response),
            Err(e) if e.is_connect() => {
                tracing::warn!(service = %self.service, %url, error = %e, "remote call refused");
                Attempt::Refused("an instance refused the connection".to_owned())
            }
            Err(e) if e.is_timeout() => Attempt::Retryable(RemoteError::Timeout {
                service: self.service.clone(),
                call: call.to_owned(),
                after_ms: self.read_timeout.as_millis(),
            }),
            Err(e) => {
                tracing::warn!(service = %self.service, %url, error = %e, "remote call failed");
                Attempt::Retryable(self.unavailable(call, "the call to an instance failed"))
            }
        }
    }

    /// The caller's token, else one from the client-credentials grant, else none.
    async fn bearer_token(&self) -> Result<Option<std::sync::Arc<str>>, String> {
        if let Some(token) = crate::security::caller_token() {
            return Ok(Some(token));
        }
        match &self.client_credentials {
            Some(client) => client.token().await.map(Some),
            None => Ok(None),
        }
    }

    fn classify(
        &self,
        call: &str,
        response: reqwest::Response,
    ) -> Result<reqwest::Response, RemoteError> {
        match response.status() {
            status if status.is_success() => Ok(response),
            StatusCode::NOT_FOUND => Err(RemoteError::NotFound {
                service: self.service.clone(),
                call: call.to_owned(),
            }),
            status => Err(self.bad(call, format!("HTTP {}", status.as_u16()))),
        }
    }

    fn unavailable(&self, call: &str, reason: &str) -> RemoteError {
        RemoteError::Unavailable {
            service: self.service.clone(),
            call: call.to_owned(),
            reason: reason.to_owned(),
        }
    }

    fn bad(&self, call: &str, detail: String) -> RemoteError {
        RemoteError::BadResponse {
            service: self.service.clone(),
            call: call.to_owned(),
            detail,
        }
    }
}
