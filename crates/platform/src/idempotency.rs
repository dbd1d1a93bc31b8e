//! Idempotent POSTs: a request carrying `Idempotency-Key` is done once, and every later request
//! with the same key and the same content gets the first one's response replayed (status,
//! headers, body, plus `Idempotent-Replayed: true`) without the work being done again.
//!
//! The keys live in the service's own database (table `idempotency_keys`, created by the
//! platform's migrations), so every instance of a service sees the same keys:
//!
//! * the first request *claims* its key with one `INSERT … ON CONFLICT DO NOTHING` — of any
//!   number of concurrent duplicates on any number of instances, exactly one wins and does the
//!   work; the others wait for its response (at most `lock-timeout`, then 409) and replay it;
//! * a key sent again with a different method, path, content type or body is refused with 422;
//! * only successful (2xx/3xx) responses are kept: a request that failed did nothing, so its
//!   key is released and the client may retry (or correct the body) with the same key;
//! * kept responses expire after `retention`; expired rows are purged as requests come.
//!
//! [`guard`] is the middleware; the generic resource puts it on every collection `POST`
//! (including a service's own creators, such as billing's `POST /bills`).

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    extract::{FromRequest as _, Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;

use crate::{
    ApiError,
    db::Database,
    settings::{DurationUnit, FromSection, Section, Settings, SettingsError},
};

/// The request header naming the key (Stripe's and the IETF draft's name).
pub const HEADER: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on a replayed response.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// How often expired keys are purged, at most.
const PURGE_EVERY_MS: i64 = 60_000;
/// How often a duplicate looks whether the first request has answered.
const POLL: Duration = Duration::from_millis(25);

/// `factura.idempotency.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencySettings {
    /// `factura.idempotency.retention`: how long a key and its response are kept (24 h;
    /// a bare number is seconds).
    pub retention: Duration,
    /// `factura.idempotency.lock-timeout`: how long a first request that has not answered
    /// holds its key (60 s, longer than `server.request-timeout-ms`); duplicates wait that
    /// long at most, and a key held longer (its instance died) is free again.
    pub lock_timeout: Duration,
}

impl FromSection for IdempotencySettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        Ok(Self {
            retention: section.duration_or(
                "retention",
                DurationUnit::Seconds,
                Duration::from_secs(24 * 3600),
            )?,
            lock_timeout: section.duration_or(
                "lock-timeout",
                DurationUnit::Seconds,
                Duration::from_secs(60),
            )?,
        })
    }
}

/// The key store of one service.
#[derive(Debug, Clone)]
pub struct Idempotency {
    db: Database,
    settings: IdempotencySettings,
    last_purge: Arc<AtomicI64>,
}

/// What claiming a key found.
enum Claim {
    /// This request holds the key now: do the work.
    Taken,
    /// A request with the same content answered already: replay it.
    Replay(Response),
    /// The same key came with different content.
    Mismatch,
    /// The first request has not answered yet.
    InProgress,
}

impl Idempotency {
    /// The store in `db` with `settings`.
    pub fn new(db: Database, settings: IdempotencySettings) -> Self {
        Self {
            db,
            settings,
            last_purge: Arc::new(AtomicI64::new(0)),
        }
    }

    /// The store in `db`, with `factura.idempotency.*` bound from `settings`.
    pub fn from_settings(db: Database, settings: &Settings) -> Result<Self, SettingsError> {
        Ok(Self::new(db, settings.bind("factura.idempotency")?))
    }

    fn millis(duration: Duration) -> i64 {
        i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
    }

    async fn claim(&self, key: &str, fingerprint: &str) -> Result<Claim, sqlx::Error> {
        loop {
            let now = crate::time::now_millis();
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (idempotency_key, fingerprint, locked_until, expires_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (idempotency_key) DO NOTHING",
            )
            .bind(key)
            .bind(fingerprint)
            .bind(now.saturating_add(Self::millis(self.settings.lock_timeout)))
            .bind(now.saturating_add(Self::millis(self.settings.retention)))
            .execute(self.db.pool())
            .await?
            .rows_affected();
            if inserted == 1 {
                return Ok(Claim::Taken);
            }
            let Some(row) = sqlx::query(
                "SELECT fingerprint, status, headers, body, locked_until, expires_at \
                 FROM idempotency_keys WHERE idempotency_key = $1",
            )
            .bind(key)
            .fetch_optional(self.db.pool())
            .await?
            else {
                continue; // released a moment ago: claim again
            };
            let status: Option<i64> = row.try_get(1)?;
            let locked_until: i64 = row.try_get(4)?;
            let expires_at: i64 = row.try_get(5)?;
            let abandoned = status.is_none() && locked_until <= now;
            if expires_at <= now || abandoned {
                // Free it, unless someone else did (and perhaps claimed it) first.
                sqlx::query(
                    "DELETE FROM idempotency_keys WHERE idempotency_key = $1 \
                     AND locked_until = $2 AND expires_at = $3",
                )
                .bind(key)
                .bind(locked_until)
                .bind(expires_at)
                .execute(self.db.pool())
                .await?;
                continue;
            }
            if row.try_get::<String, _>(0)? != fingerprint {
                return Ok(Claim::Mismatch);
            }
            let Some(status) = status else {
                return Ok(Claim::InProgress);
            };
            let headers: Option<String> = row.try_get(2)?;
            let body: Option<Vec<u8>> = row.try_get(3)?;
            return Ok(Claim::Replay(replay(
                status,
                headers.as_deref().unwrap_or("[]"),
                body.unwrap_or_default(),
            )));
        }
    }

    async fn complete(
        &self,
        key: &str,
        fingerprint: &str,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), sqlx::Error> {
        let kept: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(name, _)| kept_header(name))
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        let headers = serde_json::to_string(&kept).unwrap_or_else(|_| "[]".into());
        let now = crate::time::now_millis();
        sqlx::query(
            "UPDATE idempotency_keys SET status = $1, headers = $2, body = $3, expires_at = $4 \
             WHERE idempotency_key = $5 AND fingerprint = $6 AND status IS NULL",
        )
        .bind(i64::from(status.as_u16()))
        .bind(headers)
        .bind(body.to_vec())
        .bind(now.saturating_add(Self::millis(self.settings.retention)))
        .bind(key)
        .bind(fingerprint)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    async fn release(&self, key: &str, fingerprint: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE idempotency_key = $1 AND fingerprint = $2 \
             AND status IS NULL",
        )
        .bind(key)
        .bind(fingerprint)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Deletes expired keys, at most once a minute per instance.
    async fn purge_now_and_then(&self) {
        let now = crate::time::now_millis();
        let last = self.last_purge.load(Ordering::Relaxed);
        if now - last < PURGE_EVERY_MS
            || self
                .last_purge
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if let Err(error) = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= $1")
            .bind(now)
            .execute(self.db.pool())
            .await
        {
            tracing::warn!(%error, "purging expired idempotency keys failed");
        }
    }
}

/// Response headers that are the answer's own (not the connection's or this exchange's).
fn kept_header(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "date" | "content-length" | "transfer-encoding" | "connection" | "x-request-id"
    )
}

fn replay(status: i64, headers: &str, body: Vec<u8>) -> Response {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut response = (status, body).into_response();
    let stored: Vec<(String, String)> = serde_json::from_str(headers).unwrap_or_default();
    let map = response.headers_mut();
    map.remove(header::CONTENT_TYPE);
    for (name, value) in stored {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(&value),
        ) {
            map.append(name, value);
        }
    }
    map.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

/// The key of a request: the header's value (a bare token, or the IETF draft's quoted
/// string), 1 to [`MAX_KEY_LEN`] visible ASCII characters.
fn parse_key(raw: &HeaderValue) -> Result<String, ApiError> {
    let text = raw.to_str().unwrap_or("").trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if text.is_empty()
        || text.len() > MAX_KEY_LEN
        || !text.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    {
        return Err(ApiError::bad_request(format!(
            "the Idempotency-Key header must be 1 to {MAX_KEY_LEN} visible ASCII characters"
        )));
    }
    Ok(text.to_owned())
}

/// What makes two requests "the same": method, path and query, content type, body.
fn fingerprint(request: &axum::http::request::Parts, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(request.method.as_str().as_bytes());
    hash.update(b"\n");
    hash.update(request.uri.path().as_bytes());
    hash.update(b"?");
    hash.update(request.uri.query().unwrap_or("").as_bytes());
    hash.update(b"\n");
    if let Some(content_type) = request.headers.get(header::CONTENT_TYPE) {
        hash.update(content_type.as_bytes());
    }
    hash.update(b"\n");
    hash.update(body);
    hex::encode(hash.finalize())
}

/// Releases a claimed key if the request never got to answer (its future was dropped by the
/// request timeout or a closed connection), so a retry need not wait for `lock-timeout`.
struct Held {
    store: Idempotency,
    key: String,
    fingerprint: String,
    settled: bool,
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (store, key, fingerprint) = (
                self.store.clone(),
                std::mem::take(&mut self.key),
                std::mem::take(&mut self.fingerprint),
            );
            runtime.spawn(async move {
                let _ = store.release(&key, &fingerprint).await;
            });
        }
    }
}

/// The middleware: requests without the header pass straight through.
pub async fn guard(State(store): State<Idempotency>, request: Request, next: Next) -> Response {
    let Some(raw) = request.headers().get(&HEADER) else {
        return next.run(request).await;
    };
    let key = match parse_key(raw) {
        Ok(key) => key,
        Err(error) => return error.into_response(),
    };
    let (parts, body) = request.into_parts();
    // Read within the service's body limit (a larger body is the usual 413).
    let body = match Bytes::from_request(Request::from_parts(parts.clone(), body), &()).await {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    let fingerprint = fingerprint(&parts, &body);
    store.purge_now_and_then().await;
    let started = tokio::time::Instant::now();
    loop {
        match store.claim(&key, &fingerprint).await {
            Err(error) => return ApiError::from(error).into_response(),
            Ok(Claim::Taken) => break,
            Ok(Claim::Replay(response)) => return response,
            Ok(Claim::Mismatch) => {
                return ApiError::Unprocessable(format!(
                    "Idempotency-Key '{key}' was already used for a different request; \
                     send a new key with a new request"
                ))
                .into_response();
            }
            Ok(Claim::InProgress) if started.elapsed() >= store.settings.lock_timeout => {
                return ApiError::Conflict(format!(
                    "a request with Idempotency-Key '{key}' is still being processed; retry later"
                ))
                .into_response();
            }
            Ok(Claim::InProgress) => tokio::time::sleep(POLL).await,
        }
    }
    let mut held = Held {
        store: store.clone(),
        key,
        fingerprint,
        settled: false,
    };
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let status = response.status();
    if !(status.is_success() || status.is_redirection()) {
        if let Err(error) = store.release(&held.key, &held.fingerprint).await {
            tracing::warn!(%error, "releasing an idempotency key failed");
        }
        held.settled = true;
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "reading a response to keep it for its idempotency key");
            return ApiError::Internal(anyhow::anyhow!("response body unreadable")).into_response();
        }
    };
    if let Err(error) = store
        .complete(&held.key, &held.fingerprint, status, &parts.headers, &body)
        .await
    {
        // The work is done; only its replay is lost. Say so loudly, answer normally.
        tracing::error!(%error, key = %held.key, "keeping the response of an idempotent request failed");
    }
    held.settled = true;
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_tokens_or_quoted_strings_of_bounded_length() {
        let key = |s: &str| parse_key(&HeaderValue::from_str(s).unwrap());
        assert_eq!(key("abc-123").unwrap(), "abc-123");
        assert_eq!(key("\"8e03978e-40d5\"").unwrap(), "8e03978e-40d5");
        assert!(key("").is_err());
        assert!(key("\"\"").is_err());
        assert!(key(&"k".repeat(MAX_KEY_LEN + 1)).is_err());
        assert!(key(&"k".repeat(MAX_KEY_LEN)).is_ok());
    }

    #[test]
    fn the_fingerprint_covers_path_content_type_and_body() {
        let parts = |uri: &str, ct: &str| {
            let (parts, ()) = axum::http::Request::post(uri)
                .header("content-type", ct)
                .body(())
                .unwrap()
                .into_parts();
            parts
        };
        let a = fingerprint(&parts("/bills", "application/json"), b"{}");
        assert_eq!(a, fingerprint(&parts("/bills", "application/json"), b"{}"));
        assert_ne!(a, fingerprint(&parts("/bills", "application/json"), b"{ }"));
        assert_ne!(
            a,
            fingerprint(&parts("/products", "application/json"), b"{}")
        );
        assert_ne!(a, fingerprint(&parts("/bills", "text/plain"), b"{}"));
    }

    #[test]
    fn settings_bind_with_defaults_and_refuse_bad_values() {
        let settings = Settings::from_sources(Vec::new());
        let bound: IdempotencySettings = settings.bind("factura.idempotency").unwrap();
        assert_eq!(bound.retention, Duration::from_secs(86_400));
        assert_eq!(bound.lock_timeout, Duration::from_secs(60));
        let settings = settings
            .with_override("factura.idempotency.retention", "2h")
            .with_override("factura.idempotency.lock-timeout", "1500ms");
        let bound: IdempotencySettings = settings.bind("factura.idempotency").unwrap();
        assert_eq!(bound.retention, Duration::from_secs(7200));
        assert_eq!(bound.lock_timeout, Duration::from_millis(1500));
        let bad = settings.with_override("factura.idempotency.retention", "soon");
        let error = bad
            .bind::<IdempotencySettings>("factura.idempotency")
            .unwrap_err()
            .to_string();
        assert!(error.contains("factura.idempotency.retention"), "{error}");
    }
}
