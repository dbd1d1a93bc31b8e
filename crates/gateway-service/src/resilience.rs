//! The filters that wrap the backend call: Retry, CircuitBreaker (platform's one Resilience4j
//! breaker with its time limiter, `platform::resilience`) and RequestRateLimiter (Spring's token bucket, in memory or in
//! Redis so several gateways share one limit). Clocks come from `tokio::time`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use axum::http::{HeaderName, Method, StatusCode};
use platform::{
    Settings,
    resilience::TimeLimitedBreaker,
    settings::{FromSection, Section, SettingsError},
};
use tokio::time::Instant;

use crate::{
    args::{parse_duration, parse_status},
    definition::{Definition, DefinitionError},
};

fn bad(what: String) -> DefinitionError {
    DefinitionError(what)
}

// ---------------------------------------------------------------------------------------------
// Retry

/// `Retry`: how often and on what to call again.
#[derive(Debug, Clone)]
pub struct RetryFilter {
    /// Extra attempts after the first.
    pub retries: u32,
    statuses: Vec<StatusCode>,
    series: Vec<u16>,
    methods: Vec<Method>,
    /// Whether connection errors and timeouts are retried.
    pub on_errors: bool,
    first_backoff: Option<Duration>,
    max_backoff: Option<Duration>,
    factor: u32,
    based_on_previous: bool,
}

fn series_of(text: &str) -> Result<u16, DefinitionError> {
    Ok(match text.trim().to_ascii_uppercase().as_str() {
        "INFORMATIONAL" | "1XX" => 1,
        "SUCCESSFUL" | "2XX" => 2,
        "REDIRECTION" | "3XX" => 3,
        "CLIENT_ERROR" | "4XX" => 4,
        "SERVER_ERROR" | "5XX" => 5,
        other => return Err(bad(format!("unknown status series `{other}`"))),
    })
}

impl RetryFilter {
    /// Compiles `Retry=3,INTERNAL_SERVER_ERROR,GET,10ms,50ms,2,false` or the expanded form.
    pub fn compile(d: &Definition) -> Result<Self, DefinitionError> {
        let retries = d
            .arg(&["retries"], 0)
            .unwrap_or("3")
            .trim()
            .parse()
            .map_err(|_| bad("Retry needs a number of retries".into()))?;
        let list = |names: &[&str], pos: usize| -> Vec<String> {
            if d.is_shortcut() {
                d.arg(names, pos)
                    .map(|v| vec![v.to_owned()])
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|v| !v.is_empty())
                    .collect()
            } else {
                d.list(names, 0)
            }
        };
        let statuses = list(&["statuses"], 1)
            .iter()
            .map(|s| parse_status(s))
            .collect::<Result<_, _>>()?;
        let series = if !d.is_shortcut() && d.args.contains_key("series") {
            d.list(&["series"], 0)
                .iter()
                .map(|s| series_of(s))
                .collect::<Result<_, _>>()?
        } else {
            vec![5]
        };
        let methods = match list(&["methods"], 2) {
            m if m.is_empty() => vec![Method::GET],
            m => m
                .iter()
                .map(|m| {
                    Method::from_bytes(m.trim().to_ascii_uppercase().as_bytes())
                        .map_err(|_| bad(format!("`{m}` is not a method")))
                })
                .collect::<Result<_, _>>()?,
        };
        let duration = |names: &[&str], pos| {
            d.arg(names, pos)
                .filter(|v| !v.is_empty())
                .map(parse_duration)
                .transpose()
        };
        let first_backoff = duration(&["backoff.firstBackoff"], 3)?;
        let max_backoff = duration(&["backoff.maxBackoff"], 4)?;
        let factor = d
            .arg(&["backoff.factor"], 5)
            .and_then(|f| f.trim().parse().ok())
            .unwrap_or(2);
        let based_on_previous = d
            .arg(&["backoff.basedOnPreviousValue"], 6)
            .is_none_or(|v| !v.trim().eq_ignore_ascii_case("false"));
        let on_errors = d.list(&["exceptions"], usize::MAX).is_empty()
            || d.list(&["exceptions"], usize::MAX)
                .iter()
                .any(|e| e.contains("IOException") || e.contains("Timeout"));
        Ok(Self {
            retries,
            statuses,
            series,
            methods,
            on_errors,
            first_backoff,
            max_backoff,
            factor,
            based_on_previous,
        })
    }

    /// Whether requests with this method are retried.
    pub fn allows(&self, method: &Method) -> bool {
        self.methods.contains(method)
    }

    /// Whether a response with this status is retried.
    pub fn retries_status(&self, status: StatusCode) -> bool {
        self.statuses.contains(&status) || self.series.contains(&(status.as_u16() / 100))
    }

    /// The pause before retry number `attempt` (1-based); zero without backoff.
    pub fn delay(&self, attempt: u32) -> Duration {
        let Some(first) = self.first_backoff else {
            return Duration::ZERO;
        };
        let exponent = if self.based_on_previous {
            attempt - 1
        } else {
            0
        };
        let delay = first.saturating_mul(self.factor.saturating_pow(exponent.min(16)));
        match self.max_backoff {
            Some(max) => delay.min(max),
            None => delay,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Circuit breaker

/// `CircuitBreaker`: which breaker, where to fall back, what counts as failure.
#[derive(Debug)]
pub struct BreakerFilter {
    /// The breaker's name (defaults to the route id).
    pub name: String,
    /// `forward:/path` to re-dispatch to when the call fails or the breaker is open.
    pub fallback: Option<String>,
    /// Upstream statuses that count as failures.
    pub status_codes: Vec<StatusCode>,
    /// The breaker itself, attached when the route table is built.
    pub breaker: OnceLock<TimeLimitedBreaker>,
}

impl BreakerFilter {
    /// Compiles `CircuitBreaker=name` or the expanded form with `fallbackUri`, `statusCodes`.
    pub fn compile(d: &Definition, route_id: &str) -> Result<Self, DefinitionError> {
        let fallback = d
            .arg(&["fallbackUri"], 1)
            .filter(|f| !f.is_empty())
            .map(|f| {
                f.strip_prefix("forward:")
                    .map(str::to_owned)
                    .ok_or_else(|| bad(format!("fallbackUri `{f}` must be forward:/path")))
            })
            .transpose()?;
        let status_codes = d
            .list(&["statusCodes"], 2)
            .iter()
            .map(|s| parse_status(s))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            name: d
                .arg(&["name", "id"], 0)
                .filter(|n| !n.is_empty())
                .unwrap_or(route_id)
                .to_owned(),
            fallback,
            status_codes,
            breaker: OnceLock::new(),
        })
    }
}

/// Breakers by name; kept across route rebuilds unless their settings change.
#[derive(Debug, Default)]
pub struct Breakers(Mutex<HashMap<String, TimeLimitedBreaker>>);

impl Breakers {
    /// The breaker called `name` as `settings` configure it (platform's one breaker with its
    /// time limiter; a fresh one when the settings changed). A bad value is refused by name.
    pub fn get(
        &self,
        settings: &Settings,
        name: &str,
    ) -> Result<TimeLimitedBreaker, SettingsError> {
        let wanted = TimeLimitedBreaker::from_settings(settings, name)?;
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(name) {
            Some(b) if b.same_settings(&wanted) => Ok(b.clone()),
            _ => {
                map.insert(name.to_owned(), wanted.clone());
                Ok(wanted)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rate limiter

/// How the rate limiter keys requests.
#[derive(Debug, Clone)]
pub enum KeyResolver {
    /// The client's IP address (the default here).
    RemoteAddr,
    /// A request header's value (`header:X-Api-Key`); absent ⇒ empty key.
    Header(HeaderName),
}

/// `RequestRateLimiter`'s arguments.
#[derive(Debug, Clone)]
pub struct LimiterFilter {
    /// The route the buckets belong to.
    pub route_id: String,
    /// Tokens added per second.
    pub replenish_rate: u32,
    /// Bucket size.
    pub burst_capacity: u32,
    /// Tokens one request costs.
    pub requested_tokens: u32,
    /// Status when denied (429).
    pub status: StatusCode,
    /// Whether an empty key is refused.
    pub deny_empty_key: bool,
    /// Status for an empty key (403).
    pub empty_key_status: StatusCode,
    /// How keys are made.
    pub key: KeyResolver,
}

impl LimiterFilter {
    /// Compiles the expanded form (`redis-rate-limiter.replenishRate`, `burstCapacity`, …).
    pub fn compile(d: &Definition, route_id: &str) -> Result<Self, DefinitionError> {
        let number = |names: &[&str], default: u32| -> Result<u32, DefinitionError> {
            match d.arg(names, usize::MAX) {
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| bad(format!("`{}` must be a whole number", names[0]))),
                None => Ok(default),
            }
        };
        let replenish_rate = number(
            &[
                "redis-rate-limiter.replenishRate",
                "rate-limiter.replenishRate",
                "replenishRate",
            ],
            1,
        )?;
        if replenish_rate == 0 {
            return Err(bad("replenishRate must be at least 1".into()));
        }
        let burst_capacity = number(
            &[
                "redis-rate-limiter.burstCapacity",
                "rate-limiter.burstCapacity",
                "burstCapacity",
            ],
            replenish_rate,
        )?;
        let requested_tokens = number(
            &[
                "redis-rate-limiter.requestedTokens",
                "rate-limiter.requestedTokens",
                "requestedTokens",
            ],
            1,
        )?;
        let status = |names: &[&str], default: StatusCode| {
            d.arg(names, usize::MAX)
                .map(parse_status)
                .transpose()
                .map(|s| s.unwrap_or(default))
        };
        let key = match d.arg(&["key-resolver", "keyResolver"], usize::MAX) {
            Some(k) if k.trim().to_ascii_lowercase().starts_with("header:") => {
                let name = &k.trim()[7..];
                KeyResolver::Header(
                    HeaderName::from_bytes(name.trim().as_bytes())
                        .map_err(|_| bad(format!("`{name}` is not a header name")))?,
                )
            }
            _ => KeyResolver::RemoteAddr,
        };
        Ok(Self {
            route_id: route_id.to_owned(),
            replenish_rate,
            burst_capacity,
            requested_tokens,
            status: status(
                &["status-code", "statusCode"],
                StatusCode::TOO_MANY_REQUESTS,
            )?,
            deny_empty_key: d
                .arg(&["deny-empty-key", "denyEmptyKey"], usize::MAX)
                .is_none_or(|v| !v.trim().eq_ignore_ascii_case("false")),
            empty_key_status: status(
                &["empty-key-status-code", "emptyKeyStatus"],
                StatusCode::FORBIDDEN,
            )?,
            key,
        })
    }
}

/// A limiter's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may pass.
    pub allowed: bool,
    /// Tokens left (-1 when the shared store could not be asked).
    pub remaining: i64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// `spring.data.redis.*` (else the older `spring.redis.*`): the Redis server that several
/// gateways share their rate limits through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `url` (`redis://user:password@host:port/db`), which wins over the other keys.
    pub url: Option<String>,
    /// `host`: without it (and without `url`) limits are kept in memory.
    pub host: Option<String>,
    /// `port` (6379).
    pub port: u16,
    /// `username`, for Redis ACLs.
    pub username: Option<String>,
    /// `password`.
    pub password: Option<String>,
    /// `database` (0).
    pub database: u32,
}

impl FromSection for RedisSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        Ok(Self {
            url: section.get("url").filter(|u| !u.is_empty()),
            host: section.get("host").filter(|h| !h.is_empty()),
            port: section.parse_or("port", 6379)?,
            username: section.get("username").filter(|u| !u.is_empty()),
            password: section.get("password").filter(|p| !p.is_empty()),
            database: section.parse_or("database", 0)?,
        })
    }
}

impl RedisSettings {
    /// The server's URL, when one is configured.
    pub fn url(&self) -> Option<String> {
        if let Some(url) = &self.url {
            return Some(url.clone());
        }
        let host = self.host.as_ref()?;
        let encode = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let credentials = match (&self.username, &self.password) {
            (user, Some(password)) => format!(
                "{}:{}@",
                user.as_deref().map(encode).unwrap_or_default(),
                encode(password)
            ),
            (Some(user), None) => format!("{}@", encode(user)),
            (None, None) => String::new(),
        };
        Some(format!(
            "redis://{credentials}{host}:{}/{}",
            self.port, self.database
        ))
    }
}

/// Where the buckets live: this process, or a Redis shared by every gateway.
#[derive(Debug)]
pub struct RateLimiter {
    memory: Mutex<HashMap<String, Bucket>>,
    redis: Option<RedisLimiter>,
}

const MAX_MEMORY_BUCKETS: usize = 100_000;

impl RateLimiter {
    /// In-process buckets.
    pub fn in_memory() -> Self {
        Self {
            memory: Mutex::default(),
            redis: None,
        }
    }

    /// Buckets in the Redis at `url` (`redis://127.0.0.1:6379`).
    pub fn redis(url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            memory: Mutex::default(),
            redis: Some(RedisLimiter::new(url)?),
        })
    }

    /// From settings: Redis when `spring.data.redis.*` (or the older `spring.redis.*`) names a
    /// server, memory otherwise.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let redis: RedisSettings = settings
            .section("spring.data.redis")
            .or("spring.redis")
            .bind()?;
        match redis.url() {
            Some(url) => Self::redis(&url),
            None => Ok(Self::in_memory()),
        }
    }

    /// Takes `filter.requested_tokens` from the bucket of `(route, key)` if it has them.
    pub async fn check(&self, filter: &LimiterFilter, key: &str) -> Decision {
        let rate = f64::from(filter.replenish_rate);
        let capacity = f64::from(filter.burst_capacity);
        let requested = f64::from(filter.requested_tokens);
        if let Some(redis) = &self.redis {
            return redis.check(filter, key).await;
        }
        let now = Instant::now();
        let mut buckets = self.memory.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_MEMORY_BUCKETS {
            // Forget buckets that have refilled completely: they are indistinguishable from new.
            buckets.retain(|_, b| (now - b.at).as_secs_f64() * rate < capacity);
        }
        let bucket = buckets
            .entry(format!("{}.{key}", filter.route_id))
            .or_insert(Bucket {
                tokens: capacity,
                at: now,
            });
        let elapsed = (now - bucket.at).as_secs_f64();
        let available = (bucket.tokens + elapsed * rate).min(capacity);
        let allowed = available >= requested;
        bucket.tokens = if allowed {
            available - requested
        } else {
            available
        };
        bucket.at = now;
        Decision {
            allowed,
            remaining: bucket.tokens.floor() as i64,
        }
    }
}

/// The token bucket as one atomic Redis script; keys and arithmetic follow Spring's
/// `request_rate_limiter.{id}.tokens` / `.timestamp` layout, time from the Redis server.
const TOKEN_BUCKET_SCRIPT: &str = r"
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local requested = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local ttl = math.floor(capacity / rate * 2)
local tokens = tonumber(redis.call('GET', KEYS[1])) or capacity
local stamp = tonumber(redis.call('GET', KEYS[2])) or 0
local available = math.min(capacity, tokens + math.max(0, now - stamp) * rate)
local allowed = 0
if available >= requested then
  available = available - requested
  allowed = 1
end
if ttl > 0 then
  redis.call('SETEX', KEYS[1], ttl, tostring(available))
  redis.call('SETEX', KEYS[2], ttl, tostring(now))
end
return { allowed, math.floor(available) }
";

/// A lazily connected, self-healing Redis connection for the limiter.
struct RedisLimiter {
    client: redis::Client,
    script: redis::Script,
    connection: arc_swap::ArcSwapOption<redis::aio::ConnectionManager>,
    last_attempt: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("connected", &self.connection.load().is_some())
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    fn new(url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            client: redis::Client::open(url)?,
            script: redis::Script::new(TOKEN_BUCKET_SCRIPT),
            connection: arc_swap::ArcSwapOption::empty(),
            last_attempt: Mutex::new(None),
        })
    }

    async fn connection(&self) -> Option<redis::aio::ConnectionManager> {
        if let Some(c) = self.connection.load_full() {
            return Some((*c).clone());
        }
        {
            // At most one connection attempt per second while Redis is away.
            let mut last = self.last_attempt.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if last.is_some_and(|t| now - t < Duration::from_secs(1)) {
                return None;
            }
            *last = Some(now);
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)));
        match self.client.get_connection_manager_with_config(config).await {
            Ok(c) => {
                self.connection.store(Some(Arc::new(c.clone())));
                Some(c)
            }
            Err(e) => {
                tracing::warn!(error = %e, "rate limiter cannot reach Redis; allowing requests");
                None
            }
        }
    }

    async fn check(&self, filter: &LimiterFilter, key: &str) -> Decision {
        let fail_open = Decision {
            allowed: true,
            remaining: -1,
        };
        let Some(mut connection) = self.connection().await else {
            return fail_open;
        };
        let id = format!("request_rate_limiter.{{{}.{key}}}", filter.route_id);
        let result: redis::RedisResult<(i64, i64)> = self
            .script
            .key(format!("{id}.tokens"))
            .key(format!("{id}.timestamp"))
            .arg(filter.replenish_rate)
            .arg(filter.burst_capacity)
            .arg(filter.requested_tokens)
            .invoke_async(&mut connection)
            .await;
        match result {
            Ok((allowed, remaining)) => Decision {
                allowed: allowed == 1,
                remaining,
            },
            Err(e) => {
                tracing::warn!(error = %e, "rate limiter script failed; allowing the request");
                fail_open
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redis(pairs: &[(&str, &str)]) -> Option<String> {
        Settings::from_pairs(pairs)
            .section("spring.data.redis")
            .or("spring.redis")
            .bind::<RedisSettings>()
            .unwrap()
            .url()
    }

    #[test]
    fn redis_comes_from_springs_keys_new_or_old() {
        assert_eq!(redis(&[]), None);
        assert_eq!(
            redis(&[("spring.data.redis.host", "cache")]).as_deref(),
            Some("redis://cache:6379/0")
        );
        assert_eq!(
            redis(&[
                ("spring.redis.host", "old"),
                ("spring.redis.port", "6380"),
                ("spring.data.redis.password", "p@ss"),
                ("spring.data.redis.database", "2"),
            ])
            .as_deref(),
            Some("redis://:p%40ss@old:6380/2")
        );
        assert_eq!(
            redis(&[
                ("spring.data.redis.url", "redis://u:p@h:1/3"),
                ("spring.data.redis.host", "ignored"),
            ])
            .as_deref(),
            Some("redis://u:p@h:1/3")
        );
    }

    fn limiter(rate: u32, burst: u32) -> LimiterFilter {
        let d = Definition::expanded(
            "RequestRateLimiter",
            [
                (
                    "redis-rate-limiter.replenishRate".to_owned(),
                    rate.to_string(),
                ),
                (
                    "redis-rate-limiter.burstCapacity".to_owned(),
                    burst.to_string(),
                ),
            ],
        );
        LimiterFilter::compile(&d, "r").unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn memory_bucket_refills_at_the_replenish_rate() {
        let store = RateLimiter::in_memory();
        let f = limiter(2, 3);
        let mut remaining = Vec::new();
        for _ in 0..4 {
            let d = store.check(&f, "1.2.3.4").await;
            remaining.push((d.allowed, d.remaining));
        }
        assert_eq!(remaining, [(true, 2), (true, 1), (true, 0), (false, 0)]);
        assert!(
            store.check(&f, "5.6.7.8").await.allowed,
            "keys have their own buckets"
        );
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(
            store.check(&f, "1.2.3.4").await,
            Decision {
                allowed: true,
                remaining: 0
            }
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(
            store.check(&f, "1.2.3.4").await.remaining,
            2,
            "capped at the burst"
        );
    }

    #[test]
    fn breakers_are_kept_until_their_settings_change() {
        use platform::settings::PropertySource;
        let settings = |wait: &str| {
            let instance = "resilience4j.circuitbreaker.instances.cb";
            Settings::from_sources(vec![PropertySource::new(
                "test",
                [
                    (
                        format!("{instance}.waitDurationInOpenState"),
                        wait.to_owned(),
                    ),
                    (format!("{instance}.slidingWindowSize"), "1".to_owned()),
                    (format!("{instance}.minimumNumberOfCalls"), "1".to_owned()),
                ],
            )])
        };
        let breakers = Breakers::default();
        let first = breakers.get(&settings("PT10S"), "cb").unwrap();
        first.try_acquire().unwrap();
        first.record(false);
        assert!(first.try_acquire().is_err(), "one failure of one opens it");
        let again = breakers.get(&settings("10s"), "cb").unwrap();
        assert!(again.try_acquire().is_err(), "the same breaker, still open");
        let changed = breakers.get(&settings("20s"), "cb").unwrap();
        assert!(
            changed.try_acquire().is_ok(),
            "new settings, a new closed breaker"
        );
        let error = breakers.get(&settings("10 seconds"), "cb").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("wait-duration-in-open-state` = `10 seconds`"),
            "{error}"
        );
    }

    #[test]
    fn retry_shortcut_and_backoff() {
        let d = Definition::parse_shortcut("Retry=3,INTERNAL_SERVER_ERROR,GET,10ms,50ms,2,true")
            .unwrap();
        let r = RetryFilter::compile(&d).unwrap();
        assert_eq!(r.retries, 3);
        assert!(r.retries_status(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(
            r.retries_status(StatusCode::BAD_GATEWAY),
            "the 5xx series by default"
        );
        assert!(!r.retries_status(StatusCode::NOT_FOUND));
        assert!(r.allows(&Method::GET) && !r.allows(&Method::POST));
        let delays: Vec<u128> = (1..=4).map(|a| r.delay(a).as_millis()).collect();
        assert_eq!(delays, [10, 20, 40, 50]);
    }
}
