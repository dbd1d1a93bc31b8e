//! A circuit breaker with Resilience4j's semantics, as Spring Cloud CircuitBreaker users
//! configure it (`resilience4j.circuitbreaker.instances.<name>.*`, falling back to
//! `resilience4j.circuitbreaker.configs.default.*`):
//!
//! * **closed**: calls pass; the last `sliding-window-size` outcomes are kept, and once at least
//!   `minimum-number-of-calls` are known and the failure rate reaches `failure-rate-threshold`
//!   percent, the breaker opens;
//! * **open**: calls are refused at once for `wait-duration-in-open-state`;
//! * **half-open**: `permitted-number-of-calls-in-half-open-state` trial calls pass; if their
//!   failure rate reaches the threshold the breaker opens again, otherwise it closes.
//!
//! [`TimeLimitedBreaker`] adds Resilience4j's time limiter (`resilience4j.timelimiter.*`), the
//! form Spring Cloud Gateway's `CircuitBreaker` filter uses. This is the one breaker of every
//! factura crate: billing's outbound clients and the gateway's routes read the same keys the same
//! way and refuse a bad value the same way (naming key, value and expected form).
//!
//! Time comes from `tokio::time`, so tests drive it on a paused clock.

use std::{
    collections::VecDeque,
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::Instant;

use crate::settings::{DurationUnit, FromSection, Section, Settings, SettingsError};

/// The tunables, with Resilience4j's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// Outcomes remembered while closed.
    pub sliding_window_size: usize,
    /// Outcomes needed before the failure rate is judged.
    pub minimum_number_of_calls: usize,
    /// Failure percentage that opens the breaker.
    pub failure_rate_threshold: f64,
    /// How long an open breaker refuses calls.
    pub wait_duration_in_open_state: Duration,
    /// Trial calls let through while half-open.
    pub permitted_calls_in_half_open_state: usize,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            sliding_window_size: 100,
            minimum_number_of_calls: 100,
            failure_rate_threshold: 50.0,
            wait_duration_in_open_state: Duration::from_secs(60),
            permitted_calls_in_half_open_state: 10,
        }
    }
}

impl BreakerConfig {
    /// The configuration of breaker `name`: its instance keys
    /// (`resilience4j.circuitbreaker.instances.<name>.*`), else the default config's
    /// (`resilience4j.circuitbreaker.configs.default.*`), else Resilience4j's defaults.
    pub fn from_settings(settings: &Settings, name: &str) -> Result<Self, SettingsError> {
        settings
            .section(&format!("resilience4j.circuitbreaker.instances.{name}"))
            .or("resilience4j.circuitbreaker.configs.default")
            .bind()
    }
}

impl FromSection for BreakerConfig {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        let defaults = Self::default();
        Ok(Self {
            sliding_window_size: section
                .parse_or("sliding-window-size", defaults.sliding_window_size)?
                .max(1),
            minimum_number_of_calls: section
                .parse_or("minimum-number-of-calls", defaults.minimum_number_of_calls)?
                .max(1),
            failure_rate_threshold: section
                .parse_or("failure-rate-threshold", defaults.failure_rate_threshold)?,
            wait_duration_in_open_state: section.duration_or(
                "wait-duration-in-open-state",
                DurationUnit::Millis,
                defaults.wait_duration_in_open_state,
            )?,
            permitted_calls_in_half_open_state: section
                .parse_or(
                    "permitted-number-of-calls-in-half-open-state",
                    defaults.permitted_calls_in_half_open_state,
                )?
                .max(1),
        })
    }
}

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Calls pass.
    Closed,
    /// Calls are refused.
    Open,
    /// A few trial calls pass.
    HalfOpen,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Closed => "CLOSED",
            State::Open => "OPEN",
            State::HalfOpen => "HALF_OPEN",
        })
    }
}

#[derive(Debug)]
struct Inner {
    state: State,
    /// Closed: recent outcomes; half-open: the trial outcomes (true = failure).
    outcomes: VecDeque<bool>,
    opened_at: Instant,
    trials_issued: usize,
}

/// One breaker, shared by every call to one remote service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    name: Arc<str>,
    config: Arc<BreakerConfig>,
    inner: Arc<Mutex<Inner>>,
}

/// A call was refused because the breaker is open (or its half-open trials are taken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(name: &str, config: BreakerConfig) -> Self {
        Self {
            name: name.into(),
            config: Arc::new(config),
            inner: Arc::new(Mutex::new(Inner {
                state: State::Closed,
                outcomes: VecDeque::new(),
                opened_at: Instant::now(),
                trials_issued: 0,
            })),
        }
    }

    /// The breaker's name (the remote service).
    pub fn name(&self) -> &str {
        &self.name
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current state (an open breaker whose wait is over reports half-open).
    pub fn state(&self) -> State {
        let mut inner = self.lock();
        self.advance(&mut inner);
        inner.state
    }

    /// The failure percentage over the remembered outcomes, if enough are known.
    pub fn failure_rate(&self) -> Option<f64> {
        let inner = self.lock();
        (inner.outcomes.len()
            >= self
                .config
                .minimum_number_of_calls
                .min(self.config.sliding_window_size))
        .then(|| rate(&inner.outcomes))
    }

    fn advance(&self, inner: &mut Inner) {
        if inner.state == State::Open
            && inner.opened_at.elapsed() >= self.config.wait_duration_in_open_state
        {
            inner.state = State::HalfOpen;
            inner.outcomes.clear();
            inner.trials_issued = 0;
        }
    }

    /// Asks to make a call; `Err` means fail fast.
    pub fn try_acquire(&self) -> Result<(), Refused> {
        let mut inner = self.lock();
        self.advance(&mut inner);
        match inner.state {
            State::Closed => Ok(()),
            State::Open => Err(Refused),
            State::HalfOpen
                if inner.trials_issued < self.config.permitted_calls_in_half_open_state =>
            {
                inner.trials_issued += 1;
                Ok(())
            }
            State::HalfOpen => Err(Refused),
        }
    }

    /// Records how an acquired call ended.
    pub fn record(&self, success: bool) {
        let mut inner = self.lock();
        let config = &self.config;
        match inner.state {
            State::Closed => {
                inner.outcomes.push_back(!success);
                while inner.outcomes.len() > config.sliding_window_size {
                    inner.outcomes.pop_front();
                }
                let judged = inner.outcomes.len()
                    >= config
                        .minimum_number_of_calls
                        .min(config.sliding_window_size);
                if judged && rate(&inner.outcomes) >= config.failure_rate_threshold {
                    tracing::warn!(breaker = %self.name, "circuit breaker opened");
                    open(&mut inner);
                }
            }
            State::HalfOpen => {
                inner.outcomes.push_back(!success);
                if inner.outcomes.len() >= config.permitted_calls_in_half_open_state {
                    if rate(&inner.outcomes) >= config.failure_rate_threshold {
                        tracing::warn!(breaker = %self.name, "circuit breaker re-opened after trial calls");
                        open(&mut inner);
                    } else {
                        tracing::info!(breaker = %self.name, "circuit breaker closed");
                        inner.state = State::Closed;
                        inner.outcomes.clear();
                    }
                }
            }
            // A call acquired before the breaker opened finished late: nothing to learn.
            State::Open => {}
        }
    }
}

/// Resilience4j's time limiter around a [`CircuitBreaker`], as Spring Cloud Gateway's
/// `CircuitBreaker` filter applies it: a call that outlasts `timeout` counts as a failure.
#[derive(Debug, Clone)]
pub struct TimeLimitedBreaker {
    /// The breaker deciding whether calls go ahead.
    pub breaker: CircuitBreaker,
    /// The time limiter's limit on one call.
    pub timeout: Duration,
}

impl TimeLimitedBreaker {
    /// Breaker `name` from its settings (see [`BreakerConfig::from_settings`]) with
    /// `resilience4j.timelimiter.instances.<name>.timeout-duration`, else
    /// `resilience4j.timelimiter.configs.default.timeout-duration`, else Resilience4j's 1 s.
    pub fn from_settings(settings: &Settings, name: &str) -> Result<Self, SettingsError> {
        let limiter = settings
            .section(&format!("resilience4j.timelimiter.instances.{name}"))
            .or("resilience4j.timelimiter.configs.default");
        Ok(Self {
            breaker: CircuitBreaker::new(name, BreakerConfig::from_settings(settings, name)?),
            timeout: limiter.duration_or(
                "timeout-duration",
                DurationUnit::Millis,
                Duration::from_secs(1),
            )?,
        })
    }

    /// Whether both were built from the same settings (the gateway keeps a breaker, and its
    /// state, across route rebuilds unless its settings change).
    pub fn same_settings(&self, other: &Self) -> bool {
        self.breaker.config == other.breaker.config && self.timeout == other.timeout
    }

    /// See [`CircuitBreaker::try_acquire`].
    pub fn try_acquire(&self) -> Result<(), Refused> {
        self.breaker.try_acquire()
    }

    /// See [`CircuitBreaker::record`]; a timed-out call is recorded as a failure.
    pub fn record(&self, success: bool) {
        self.breaker.record(success);
    }
}

fn open(inner: &mut Inner) {
    inner.state = State::Open;
    inner.opened_at = Instant::now();
    inner.outcomes.clear();
    inner.trials_issued = 0;
}

fn rate(outcomes: &VecDeque<bool>) -> f64 {
    if outcomes.is_empty() {
        return 0.0;
    }
    outcomes.iter().filter(|failed| **failed).count() as f64 * 100.0 / outcomes.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(
            "INVENTORY-SERVICE",
            BreakerConfig {
                sliding_window_size: 4,
                minimum_number_of_calls: 4,
                failure_rate_threshold: 50.0,
                wait_duration_in_open_state: Duration::from_secs(10),
                permitted_calls_in_half_open_state: 2,
            },
        )
    }

    fn call(breaker: &CircuitBreaker, success: bool) -> Result<(), Refused> {
        breaker.try_acquire()?;
        breaker.record(success);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn opens_at_the_threshold_refuses_then_half_opens_after_the_wait() {
        let b = breaker();
        for success in [true, false, true] {
            call(&b, success).unwrap();
        }
        assert_eq!(
            b.state(),
            State::Closed,
            "three outcomes are below the minimum"
        );
        call(&b, false).unwrap();
        assert_eq!(b.state(), State::Open, "2 of 4 failed = 50%");
        assert_eq!(b.try_acquire(), Err(Refused));

        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(b.try_acquire(), Err(Refused));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(b.state(), State::HalfOpen);
        b.try_acquire().unwrap();
        b.try_acquire().unwrap();
        assert_eq!(
            b.try_acquire(),
            Err(Refused),
            "only the permitted trials pass"
        );
        b.record(true);
        b.record(true);
        assert_eq!(b.state(), State::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_trials_reopen_for_another_full_wait() {
        let b = breaker();
        for _ in 0..4 {
            call(&b, false).unwrap();
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        call(&b, false).unwrap();
        call(&b, true).unwrap();
        assert_eq!(b.state(), State::Open, "1 of 2 trials failed = 50%");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(b.try_acquire(), Err(Refused));
    }

    #[test]
    fn time_limiter_reads_its_keys_and_bad_values_are_refused_by_name() {
        use crate::settings::PropertySource;
        let settings = |pairs: &[(&str, &str)]| {
            Settings::from_sources(vec![PropertySource::new(
                "test",
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            )])
        };
        let limited = TimeLimitedBreaker::from_settings(
            &settings(&[(
                "resilience4j.timelimiter.instances.slow.timeoutDuration",
                "PT0.25S",
            )]),
            "slow",
        )
        .unwrap();
        assert_eq!(limited.timeout, Duration::from_millis(250));
        assert_eq!(
            TimeLimitedBreaker::from_settings(&settings(&[]), "x")
                .unwrap()
                .timeout,
            Duration::from_secs(1)
        );
        let error = TimeLimitedBreaker::from_settings(
            &settings(&[(
                "resilience4j.circuitbreaker.configs.default.failure-rate-threshold",
                "half",
            )]),
            "x",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "property `resilience4j.circuitbreaker.configs.default.failure-rate-threshold` = \
             `half`: expected a number (invalid float literal)"
        );
    }

    #[test]
    fn config_reads_instance_then_default_keys() {
        use crate::settings::PropertySource;
        let settings = Settings::from_sources(vec![PropertySource::new(
            "test",
            [
                (
                    "resilience4j.circuitbreaker.configs.default.sliding-window-size",
                    "10",
                ),
                (
                    "resilience4j.circuitbreaker.instances.INVENTORY-SERVICE.slidingWindowSize",
                    "6",
                ),
                (
                    "resilience4j.circuitbreaker.configs.default.wait-duration-in-open-state",
                    "PT5S",
                ),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        )]);
        let inventory = BreakerConfig::from_settings(&settings, "INVENTORY-SERVICE").unwrap();
        assert_eq!(inventory.sliding_window_size, 6);
        assert_eq!(
            inventory.wait_duration_in_open_state,
            Duration::from_secs(5)
        );
        let customer = BreakerConfig::from_settings(&settings, "CUSTOMER-SERVICE").unwrap();
        assert_eq!(customer.sliding_window_size, 10);
        assert_eq!(customer.minimum_number_of_calls, 100);
    }
}
