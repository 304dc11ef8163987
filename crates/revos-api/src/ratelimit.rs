//! Rate limits: a budget of requests per principal and per endpoint class.
//!
//! The request layer asks [`RateLimiter::check`] once per request with the
//! caller's key and the [`EndpointClass`] of the route; a refused request is
//! answered 429 with the contract's `KernelError` body and a `Retry-After`
//! header (see [`Limited`]). Each class has its own quota in
//! [`RateLimitConfig`], so a client that floods writes still reads.
//!
//! # GCRA
//!
//! The limiter is [`governor`]'s implementation of the Generic Cell Rate
//! Algorithm. GCRA is a token bucket that stores one instant per key instead
//! of a counter and a refill timer: the *theoretical arrival time* (TAT) at
//! which the key's next request would be on schedule. With a rate of `r` per
//! minute the emission interval is `T = 60 s / r`, and a burst of `b` allows
//! a request to arrive up to `τ = (b - 1) · T` ahead of schedule. A request
//! at `now` conforms when `TAT - τ <= now`, and then moves the TAT to
//! `max(TAT, now) + T`; otherwise it is refused, and `TAT - τ - now` is how
//! long the caller must wait — the `Retry-After` we answer. So an idle key
//! has a full burst, a busy one gets exactly `r` requests a minute, and the
//! state per key is one number updated with one compare-and-swap.
//!
//! # Whose budget
//!
//! The key is the *authenticated principal*: the API key's id (`key:…`), the
//! user's subject (`user:…`), the tenant and source of a signed webhook
//! (`webhook:<tenant>/<source>`). Only requests that carry no credential are
//! keyed by the TCP peer address ([`peer_key`], `ip:…`), which the client
//! cannot choose. The key is never read from a header the client writes
//! (`X-Forwarded-For`, `X-Real-IP`, a user agent): a client could put a new
//! value in every request and never run out of budget, or put a victim's
//! address there and spend the victim's budget for them.
//!
//! # Memory
//!
//! Keys come from the network, so the set of keys must not grow without
//! bound: every [`RETAIN_EVERY`] checks the limiter drops the keys whose
//! budget is full again (governor's `retain_recent`), which leaves only the
//! keys that were active within about one burst period.

use crate::error::{ApiError, render};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{NotUntil, Quota};
use revos_contracts::ErrorKind;
use revos_kernel::Failure;
use serde::{Deserialize, Serialize};

pub(crate) use revos_kernel::config::RateLimitConfig;
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How many checks pass between two sweeps of idle keys.
///
/// A sweep walks every tracked key once, so its cost is spread over this
/// many requests; between two sweeps at most this many new keys are added.
pub(crate) const RETAIN_EVERY: u64 = 10_000;

/// Which budget a request spends: each class has its own quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EndpointClass {
    /// Requests that change nothing (`GET`, `HEAD`, `OPTIONS`).
    Read,
    /// Requests that create, change or delete.
    Write,
    /// Signed webhook deliveries, keyed by tenant and source.
    Webhook,
    /// Requests that carry no credential, keyed by the peer address.
    Unauthenticated,
    /// Public lead-form submissions, keyed by the peer address.
    Form,
}

impl EndpointClass {
    /// The class of an authenticated request with this method: `GET`,
    /// `HEAD` and `OPTIONS` read, every other method writes.
    pub(crate) fn for_method(method: &Method) -> EndpointClass {
        if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
            EndpointClass::Read
        } else {
            EndpointClass::Write
        }
    }

    /// The class's name as it appears in JSON (`read`, `write`, …).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EndpointClass::Read => "read",
            EndpointClass::Write => "write",
            EndpointClass::Webhook => "webhook",
            EndpointClass::Unauthenticated => "unauthenticated",
            EndpointClass::Form => "form",
        }
    }
}

impl fmt::Display for EndpointClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rate-limit key of a request without credentials: its TCP peer
/// address, never an address a header claims.
///
/// An IPv6 peer is keyed by its /64 network, the block a single subscriber
/// is usually given: keying by the full address would let one client rotate
/// through 2^64 addresses, each with a fresh budget. An IPv4-mapped IPv6
/// address is keyed as the IPv4 address it is.
pub(crate) fn peer_key(addr: IpAddr) -> String {
    match addr.to_canonical() {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => {
            let network = std::net::Ipv6Addr::from_bits(v6.to_bits() & !((1u128 << 64) - 1));
            format!("ip:{network}/64")
        }
    }
}

/// A refused request: which budget ran out and when to come back.
///
/// Becomes a 429 either as an [`ApiError`] (`?` in a handler) or directly as
/// a response ([`IntoResponse`], which also sets `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limited {
    /// How long to wait before the next request of this class can pass,
    /// in whole seconds (rounded up, at least 1 s).
    pub(crate) retry_after: Duration,
    /// The class whose budget ran out.
    pub(crate) class: EndpointClass,
}

impl Limited {
    /// [`retry_after`](Self::retry_after) in seconds, as sent in the
    /// `Retry-After` header.
    pub(crate) fn retry_after_seconds(&self) -> u64 {
        self.retry_after.as_secs()
    }

    /// The 429 failure: `INVALID_INPUT` with `details.kind = "rate_limited"`,
    /// the class and the seconds to wait.
    fn failure(&self) -> Failure {
        let seconds = self.retry_after_seconds();
        Failure::of(ErrorKind::RateLimited, self.to_string())
            .with_detail("class", self.class.as_str())
            .with_detail("retry_after_seconds", seconds)
    }
}

impl fmt::Display for Limited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "too many {} requests from this caller; retry in {} s",
            self.class,
            self.retry_after_seconds()
        )
    }
}

impl std::error::Error for Limited {}

impl From<Limited> for ApiError {
    fn from(limited: Limited) -> Self {
        ApiError(limited.failure())
    }
}

impl IntoResponse for Limited {
    /// 429 with the `KernelError` body and `Retry-After: <seconds>`.
    fn into_response(self) -> Response {
        let failure = self.failure();
        let mut response = render(failure.status, &failure.body);
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(self.retry_after_seconds()),
        );
        response
    }
}

/// One class's GCRA state: principal key → theoretical arrival time.
type Keyed<C> = governor::RateLimiter<
    String,
    DashMapStateStore<String>,
    C,
    NoOpMiddleware<<C as Clock>::Instant>,
>;

/// The per-class limiters of an enabled [`RateLimiter`].
struct Classes<C: Clock> {
    read: Keyed<C>,
    write: Keyed<C>,
    webhook: Keyed<C>,
    unauthenticated: Keyed<C>,
    form: Keyed<C>,
}

impl<C: Clock> Classes<C> {
    fn get(&self, class: EndpointClass) -> &Keyed<C> {
        match class {
            EndpointClass::Read => &self.read,
            EndpointClass::Write => &self.write,
            EndpointClass::Webhook => &self.webhook,
            EndpointClass::Unauthenticated => &self.unauthenticated,
            EndpointClass::Form => &self.form,
        }
    }

    fn all(&self) -> [&Keyed<C>; 5] {
        [
            &self.read,
            &self.write,
            &self.webhook,
            &self.unauthenticated,
            &self.form,
        ]
    }
}

/// Per-principal, per-class GCRA rate limiting (see the module docs).
///
/// The budget of a request is keyed by `(principal key, class)`: two
/// principals never share a budget, and one principal's reads and writes are
/// counted apart. Shared by all requests (wrap it in an `Arc`); checks are
/// lock-free per key.
///
/// `C` is the clock: the real monotonic clock in the server, governor's
/// `FakeRelativeClock` in tests, which advance it instead of sleeping.
pub(crate) struct RateLimiter<C: Clock = DefaultClock> {
    /// `None` when limits are disabled: every check passes.
    classes: Option<Classes<C>>,
    /// The clock the limiters read, to turn a refusal into a wait.
    clock: C,
    /// Checks so far, to sweep idle keys every [`RETAIN_EVERY`].
    checks: AtomicU64,
}

impl RateLimiter {
    /// A limiter on the real clock. Call [`RateLimitConfig::validate`]
    /// first: a zero rate or burst is read as 1.
    pub(crate) fn new(config: &RateLimitConfig) -> RateLimiter {
        RateLimiter::with_clock(config, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    /// A limiter on the given clock (tests pass a `FakeRelativeClock` and
    /// keep a clone to advance).
    pub(crate) fn with_clock(config: &RateLimitConfig, clock: C) -> RateLimiter<C> {
        let keyed = |class| Keyed::<C>::dashmap_with_clock(quota(config, class), clock.clone());
        let classes = config.enabled.then(|| Classes {
            read: keyed(EndpointClass::Read),
            write: keyed(EndpointClass::Write),
            webhook: keyed(EndpointClass::Webhook),
            unauthenticated: keyed(EndpointClass::Unauthenticated),
            form: keyed(EndpointClass::Form),
        });
        RateLimiter {
            classes,
            clock,
            checks: AtomicU64::new(0),
        }
    }

    /// Spends one request of `key`'s budget for `class`, or says how long to
    /// wait. `key` is the authenticated principal (`key:<id>`, `user:<sub>`,
    /// `webhook:<tenant>/<source>`) or, without credentials, [`peer_key`] —
    /// never a value from a request header.
    ///
    /// A refused request spends nothing. Every [`RETAIN_EVERY`]th check
    /// also drops the keys whose budget is full again.
    pub(crate) fn check(&self, key: &str, class: EndpointClass) -> Result<(), Limited> {
        let Some(classes) = &self.classes else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
            for limiter in classes.all() {
                limiter.retain_recent();
            }
        }
        classes
            .get(class)
            .check_key(&key.to_owned())
            .map_err(|refusal| Limited {
                retry_after: self.wait(&refusal),
                class,
            })
    }

    /// The wait a refusal asks for, rounded up to whole seconds (the unit of
    /// `Retry-After`), at least 1 s.
    fn wait(&self, refusal: &NotUntil<C::Instant>) -> Duration {
        let wait = refusal.wait_time_from(self.clock.now());
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Duration::from_secs(seconds.max(1))
    }

    /// How many keys the limiter tracks over all classes.
    #[cfg(test)]
    fn tracked_keys(&self) -> usize {
        self.classes
            .as_ref()
            .map_or(0, |classes| classes.all().iter().map(|l| l.len()).sum())
    }
}

/// The sustained rate and the burst of a class.
fn limits(config: &RateLimitConfig, class: EndpointClass) -> (u32, u32) {
    match class {
        EndpointClass::Read => (config.read_per_minute, config.read_burst),
        EndpointClass::Write => (config.write_per_minute, config.write_burst),
        EndpointClass::Webhook => (config.webhook_per_minute, config.webhook_burst),
        EndpointClass::Unauthenticated => (
            config.unauthenticated_per_minute,
            config.unauthenticated_burst,
        ),
        EndpointClass::Form => (config.form_per_minute, config.form_burst),
    }
}

/// The GCRA quota of a class. A zero (which
/// [`RateLimitConfig::validate`] rejects) is read as 1 rather than
/// panicking.
fn quota(config: &RateLimitConfig, class: EndpointClass) -> Quota {
    let (rate, burst) = limits(config, class);
    let at_least_one = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(at_least_one(rate)).allow_burst(at_least_one(burst))
}

impl<C: Clock> fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("enabled", &self.classes.is_some())
            .field("checks", &self.checks.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use governor::clock::FakeRelativeClock;
    use revos_contracts::{ErrorCode, KernelError};

    /// Small budgets so a burst is quick to exhaust: writes 60/min (one per
    /// second) with a burst of 5, reads 600/min with a burst of 10.
    fn config() -> RateLimitConfig {
        RateLimitConfig {
            read_per_minute: 600,
            read_burst: 10,
            write_per_minute: 60,
            write_burst: 5,
            ..RateLimitConfig::default()
        }
    }

    fn limiter() -> (RateLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (RateLimiter::with_clock(&config(), clock.clone()), clock)
    }

    /// Spends `n` requests, asserting that each passes.
    fn spend(limiter: &RateLimiter<FakeRelativeClock>, key: &str, class: EndpointClass, n: u32) {
        for i in 0..n {
            assert_eq!(
                limiter.check(key, class),
                Ok(()),
                "request {i} of {key} ({class})"
            );
        }
    }

    #[test]
    fn a_burst_passes_then_the_next_request_waits_for_the_interval() {
        let (limiter, clock) = limiter();
        spend(&limiter, "key:a", EndpointClass::Write, 5);

        let limited = limiter
            .check("key:a", EndpointClass::Write)
            .expect_err("the sixth write in a burst of 5 is limited");
        assert_eq!(limited.class, EndpointClass::Write);
        assert_eq!(limited.retry_after, Duration::from_secs(1));
        // A refused request spends nothing: it is still refused, no later.
        assert_eq!(limiter.check("key:a", EndpointClass::Write), Err(limited));

        clock.advance(limited.retry_after);
        assert_eq!(limiter.check("key:a", EndpointClass::Write), Ok(()));
        // One interval bought one request, not a new burst.
        assert!(limiter.check("key:a", EndpointClass::Write).is_err());
    }

    #[test]
    fn retry_after_is_rounded_up_to_whole_seconds() {
        let (limiter, clock) = limiter();
        // Reads: one every 100 ms; the wait is 100 ms, answered as 1 s.
        spend(&limiter, "key:a", EndpointClass::Read, 10);
        let limited = limiter.check("key:a", EndpointClass::Read).unwrap_err();
        assert_eq!(limited.retry_after, Duration::from_secs(1));

        // Writes at 1 per 1.5 s: waiting 1.5 s is answered as 2 s.
        let slow = RateLimitConfig {
            write_per_minute: 40,
            write_burst: 1,
            ..config()
        };
        let limiter = RateLimiter::with_clock(&slow, clock.clone());
        limiter.check("key:a", EndpointClass::Write).unwrap();
        let limited = limiter.check("key:a", EndpointClass::Write).unwrap_err();
        assert_eq!(limited.retry_after, Duration::from_secs(2));
        clock.advance(Duration::from_millis(1400));
        assert!(limiter.check("key:a", EndpointClass::Write).is_err());
        clock.advance(limited.retry_after - Duration::from_millis(1400));
        assert_eq!(limiter.check("key:a", EndpointClass::Write), Ok(()));
    }

    #[test]
    fn principals_have_independent_budgets() {
        let (limiter, _clock) = limiter();
        spend(&limiter, "key:a", EndpointClass::Write, 5);
        assert!(limiter.check("key:a", EndpointClass::Write).is_err());
        spend(&limiter, "key:b", EndpointClass::Write, 5);
        spend(&limiter, "user:a", EndpointClass::Write, 5);
    }

    #[test]
    fn classes_have_independent_budgets() {
        let (limiter, _clock) = limiter();
        spend(&limiter, "key:a", EndpointClass::Write, 5);
        assert!(limiter.check("key:a", EndpointClass::Write).is_err());
        spend(&limiter, "key:a", EndpointClass::Read, 10);
        assert!(limiter.check("key:a", EndpointClass::Read).is_err());
        spend(&limiter, "key:a", EndpointClass::Webhook, 100);
        spend(&limiter, "key:a", EndpointClass::Unauthenticated, 20);
        assert!(
            limiter
                .check("key:a", EndpointClass::Unauthenticated)
                .is_err()
        );
    }

    #[test]
    fn a_disabled_config_never_limits() {
        let disabled = RateLimitConfig {
            enabled: false,
            write_per_minute: 0,
            write_burst: 0,
            ..config()
        };
        assert_eq!(disabled.validate(), Ok(()));
        let limiter = RateLimiter::with_clock(&disabled, FakeRelativeClock::default());
        spend(&limiter, "key:a", EndpointClass::Write, 1000);
        assert_eq!(limiter.tracked_keys(), 0);
    }

    #[test]
    fn the_real_clock_limits_too() {
        let limiter = RateLimiter::new(&config());
        for _ in 0..5 {
            limiter.check("key:a", EndpointClass::Write).unwrap();
        }
        let limited = limiter.check("key:a", EndpointClass::Write).unwrap_err();
        assert!(limited.retry_after >= Duration::from_secs(1));
    }

    #[test]
    fn idle_keys_are_swept() {
        let (limiter, clock) = limiter();
        let total = u32::try_from(RETAIN_EVERY).unwrap() - 1;
        for i in 0..total {
            limiter
                .check(
                    &format!("ip:10.0.{}.{}", i / 256, i % 256),
                    EndpointClass::Read,
                )
                .unwrap();
        }
        assert_eq!(limiter.tracked_keys(), total as usize);
        // Every key's budget is full again a minute later: the next check is
        // the RETAIN_EVERY-th and sweeps them all.
        clock.advance(Duration::from_secs(60));
        limiter.check("key:busy", EndpointClass::Write).unwrap();
        assert!(limiter.tracked_keys() <= 1, "{}", limiter.tracked_keys());
    }

    #[tokio::test]
    async fn a_limited_request_is_answered_429_with_retry_after_and_a_kernel_error() {
        let (limiter, _clock) = limiter();
        spend(&limiter, "key:a", EndpointClass::Write, 5);
        let limited = limiter.check("key:a", EndpointClass::Write).unwrap_err();

        let response = limited.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .unwrap();
        let body: KernelError = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body.code, ErrorCode::InvalidInput);
        let details = body.details.unwrap();
        assert_eq!(details["kind"], "rate_limited");
        assert_eq!(details["class"], "write");
        assert_eq!(details["retry_after_seconds"], 1);
        assert_eq!(
            body.message,
            "too many write requests from this caller; retry in 1 s"
        );
    }

    #[test]
    fn as_an_api_error_it_is_a_429_kernel_error() {
        let limited = Limited {
            retry_after: Duration::from_secs(3),
            class: EndpointClass::Read,
        };
        let ApiError(failure) = ApiError::from(limited);
        assert_eq!(failure.status, 429);
        assert_eq!(failure.body.code, ErrorCode::InvalidInput);
        let details = failure.body.details.unwrap();
        assert_eq!(details["kind"], "rate_limited");
        assert_eq!(details["class"], "read");
        assert_eq!(details["retry_after_seconds"], 3);
    }

    #[test]
    fn methods_map_to_classes() {
        for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert_eq!(EndpointClass::for_method(&method), EndpointClass::Read);
        }
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert_eq!(EndpointClass::for_method(&method), EndpointClass::Write);
        }
    }

    #[test]
    fn an_enabled_config_rejects_zero_rates() {
        assert_eq!(RateLimitConfig::default().validate(), Ok(()));
        let bad = RateLimitConfig {
            write_per_minute: 0,
            unauthenticated_burst: 0,
            ..RateLimitConfig::default()
        };
        let err = bad.validate().unwrap_err();
        assert!(err.contains("write_per_minute"), "{err}");
        assert!(err.contains("unauthenticated_burst"), "{err}");
        assert!(!err.contains("read_burst"), "{err}");
    }

    #[test]
    fn config_fields_default_and_unknown_fields_are_rejected() {
        let partial: RateLimitConfig = serde_json::from_str(r#"{"write_per_minute": 10}"#).unwrap();
        assert_eq!(
            partial,
            RateLimitConfig {
                write_per_minute: 10,
                ..RateLimitConfig::default()
            }
        );
        assert!(serde_json::from_str::<RateLimitConfig>(r#"{"writes": 10}"#).is_err());
        assert_eq!(
            serde_json::to_value(EndpointClass::Unauthenticated).unwrap(),
            "unauthenticated"
        );
    }

    #[test]
    fn peer_keys_use_the_address_and_an_ipv6_network() {
        assert_eq!(peer_key("192.0.2.7".parse().unwrap()), "ip:192.0.2.7");
        assert_eq!(
            peer_key("::ffff:192.0.2.7".parse().unwrap()),
            "ip:192.0.2.7"
        );
        assert_eq!(
            peer_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().unwrap()),
            "ip:2001:db8:1:2::/64"
        );
        assert_eq!(
            peer_key("2001:db8:1:2::1".parse().unwrap()),
            peer_key("2001:db8:1:2:ffff::9".parse().unwrap())
        );
    }
}
