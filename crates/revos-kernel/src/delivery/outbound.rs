//! Signed outbound webhooks, after the [Standard Webhooks] scheme.
//!
//! [`WebhookSender::deliver`] POSTs one event as JSON,
//! `{"type": …, "timestamp": RFC 3339, "data": …}`, serialized once and
//! signed over exactly those bytes with [`revos_webhooks::sign`]; the
//! `webhook-id` (stable per action, so the receiver can drop a retried
//! duplicate), `webhook-timestamp` and `webhook-signature` headers go with
//! it. The receiver checks it as `revos_webhooks::verify` does.
//!
//! Requests go through the [`crate::outbound_http`] client, under the
//! outbound address policy: a target it refuses (an internal address, plain
//! `http://` to an address not allowed) is never contacted, and the
//! failure says "refused by the outbound policy".
//!
//! A `2xx` answer is a delivery. `408`, `409`, `425`, `429`, any `5xx`, a
//! timeout or a failed connection are [`DeliveryError::Transient`]: try
//! again later. Any other answer (other `4xx`, a redirect, which is never
//! followed), a refused target and a URL that is not `http(s)://` are
//! [`DeliveryError::Permanent`]. Only the status is kept: the response
//! body is read (at most 64 KiB, so the connection can be reused) and
//! ignored, never copied into an error.
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com/

use std::time::Duration;

use crate::outbound_http::{ClientOptions, OutboundClient, OutboundPolicy, TargetError};
use serde::Serialize;

/// The timeout [`WebhookSender::default`] uses.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// How much of a response body is read before the rest is dropped.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The largest reply kept as a subsystem's acknowledgement.
const MAX_REPLY_BYTES: usize = 16 * 1024;

/// One delivery to make.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutboundWebhook<'a> {
    /// Where to POST: `http://` or `https://`.
    pub(crate) url: &'a str,
    /// The endpoint's signing secret, `whsec_…`.
    pub(crate) secret: &'a str,
    /// The `webhook-id`: the same on every retry of one action.
    pub(crate) msg_id: &'a str,
    /// The event's `type`, e.g. `action.executed`.
    pub(crate) event_type: &'a str,
    /// The event's `data`.
    pub(crate) body: &'a serde_json::Value,
    /// The signing time, seconds since the epoch (also the `timestamp`
    /// of the payload).
    pub(crate) timestamp: i64,
}

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DeliveryError {
    /// Retrying will not help: a `4xx` answer (but 408/409/425/429), a
    /// redirect, a bad URL or secret.
    #[error("{0}")]
    Permanent(String),
    /// Retrying later may help: a `5xx`, 408/409/425/429, a timeout, no
    /// connection.
    #[error("{0}")]
    Transient(String),
}

/// The JSON sent: field order as in the Standard Webhooks examples.
#[derive(Serialize)]
struct Payload<'a> {
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: String,
    data: &'a serde_json::Value,
}

/// Sends webhooks through one HTTP client (connections are pooled).
#[derive(Debug, Clone)]
pub(crate) struct WebhookSender {
    client: OutboundClient,
}

impl WebhookSender {
    /// A sender under the outbound `policy` whose requests time out after
    /// `timeout`, following no redirect, with the user agent
    /// `revos-webhooks/<version>`.
    pub(crate) fn new(timeout: Duration, policy: &OutboundPolicy) -> Result<Self, String> {
        let client = policy.client(ClientOptions {
            timeout,
            user_agent: concat!("revos-webhooks/", env!("CARGO_PKG_VERSION")).to_owned(),
        })?;
        Ok(WebhookSender { client })
    }

    /// POSTs one signed event; `Ok` holds the `2xx` status.
    pub(crate) async fn deliver(&self, hook: &OutboundWebhook<'_>) -> Result<u16, DeliveryError> {
        self.send(hook, false).await.map(|(code, _)| code)
    }

    /// Delivers `hook` like [`WebhookSender::deliver`] and answers, with a
    /// 2xx status, the receiver's reply when it is a JSON document of at
    /// most 16 KiB (a subsystem's acknowledgement of a change).
    pub(crate) async fn deliver_for_reply(
        &self,
        hook: &OutboundWebhook<'_>,
    ) -> Result<(u16, Option<serde_json::Value>), DeliveryError> {
        self.send(hook, true).await
    }

    async fn send(
        &self,
        hook: &OutboundWebhook<'_>,
        keep_reply: bool,
    ) -> Result<(u16, Option<serde_json::Value>), DeliveryError> {
        let target = shown(hook.url);
        let request = self
            .client
            .request(reqwest::Method::POST, hook.url)
            .map_err(|e| match e {
                TargetError::Invalid(message) => {
                    DeliveryError::Permanent(format!("`{target}`: {message}"))
                }
                TargetError::Refused(refused) => refused_error(&target, &refused),
            })?;
        let secret = revos_webhooks::Secret::parse(hook.secret)
            .map_err(|e| DeliveryError::Permanent(format!("the endpoint's secret: {e}")))?;
        let timestamp = chrono::DateTime::<chrono::Utc>::from_timestamp(hook.timestamp, 0)
            .ok_or_else(|| {
                DeliveryError::Permanent(format!("timestamp {} is out of range", hook.timestamp))
            })?;
        let payload = serde_json::to_vec(&Payload {
            event_type: hook.event_type,
            timestamp: timestamp.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            data: hook.body,
        })
        .map_err(|e| DeliveryError::Permanent(format!("cannot serialize the event: {e}")))?;
        let signature = revos_webhooks::sign(&secret, hook.msg_id, hook.timestamp, &payload);

        let response = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(revos_webhooks::HEADER_ID, hook.msg_id)
            .header(revos_webhooks::HEADER_TIMESTAMP, hook.timestamp.to_string())
            .header(revos_webhooks::HEADER_SIGNATURE, signature)
            .body(payload)
            .send()
            .await
            .map_err(|e| request_error(&target, e))?;
        let status = response.status();
        let reply = if keep_reply && status.is_success() {
            let body = crate::outbound_http::read_body(response, MAX_REPLY_BYTES + 1).await;
            (body.len() <= MAX_REPLY_BYTES)
                .then(|| serde_json::from_slice::<serde_json::Value>(&body).ok())
                .flatten()
        } else {
            crate::outbound_http::drain(response, MAX_RESPONSE_BYTES).await;
            None
        };
        let code = status.as_u16();
        if status.is_success() {
            Ok((code, reply))
        } else if matches!(code, 408 | 409 | 425 | 429) || status.is_server_error() {
            Err(DeliveryError::Transient(format!(
                "{target} answered {status}"
            )))
        } else if status.is_redirection() {
            Err(DeliveryError::Permanent(format!(
                "{target} answered {status}; redirects are not followed"
            )))
        } else {
            Err(DeliveryError::Permanent(format!(
                "{target} answered {status}"
            )))
        }
    }
}

impl Default for WebhookSender {
    /// A sender with the [`DEFAULT_TIMEOUT`] under the default outbound
    /// policy.
    ///
    /// # Panics
    /// When the HTTP client cannot be built (no TLS backend): a broken
    /// build, not a runtime condition.
    fn default() -> Self {
        match WebhookSender::new(DEFAULT_TIMEOUT, &OutboundPolicy::default()) {
            Ok(sender) => sender,
            Err(e) => panic!("{e}"),
        }
    }
}

/// A target the outbound policy refuses: logged, and never retried.
fn refused_error(target: &str, refused: &crate::outbound_http::Refused) -> DeliveryError {
    tracing::warn!(target = %target, reason = %refused.reason, "webhook refused by the outbound policy");
    DeliveryError::Permanent(format!("{target}: {refused}"))
}

fn request_error(target: &str, err: reqwest::Error) -> DeliveryError {
    let err = err.without_url();
    if let Some(refused) = crate::outbound_http::refusal(&err) {
        refused_error(target, refused)
    } else if err.is_builder() {
        DeliveryError::Permanent(format!("cannot send to {target}: {err}"))
    } else if err.is_timeout() {
        DeliveryError::Transient(format!("{target} did not answer in time"))
    } else if err.is_connect() {
        DeliveryError::Transient(format!("cannot connect to {target}: {}", chain(&err)))
    } else {
        DeliveryError::Transient(format!("sending to {target} failed: {}", chain(&err)))
    }
}

/// An error with its sources, `a: b: c`.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A URL as shown in messages: without user info, query or fragment, which
/// may hold credentials.
fn shown(raw: &str) -> String {
    match reqwest::Url::parse(raw.trim()) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        Err(_) => raw.split(['?', '#']).next().unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use std::sync::{Arc, Mutex};

    impl DeliveryError {
        fn is_transient(&self) -> bool {
            matches!(self, DeliveryError::Transient(_))
        }
    }

    /// One request the test server received, and whether it verified.
    type Delivery = (HeaderMap, Vec<u8>, Result<(), String>);

    #[derive(Clone, Default)]
    struct Seen {
        deliveries: Arc<Mutex<Vec<Delivery>>>,
    }

    /// The policy that lets the tests reach their servers on 127.0.0.1.
    fn loopback() -> OutboundPolicy {
        OutboundPolicy::new(&crate::outbound_http::OutboundConfig {
            allow: vec!["127.0.0.0/8".into()],
        })
        .unwrap()
    }

    fn local() -> WebhookSender {
        WebhookSender::new(DEFAULT_TIMEOUT, &loopback()).unwrap()
    }

    fn secret() -> revos_webhooks::Secret {
        revos_webhooks::Secret::from_key([7; 32])
    }

    async fn receive(
        State(seen): State<Seen>,
        Path(code): Path<u16>,
        headers: HeaderMap,
        body: Bytes,
    ) -> (StatusCode, String) {
        let lookup = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let verified = revos_webhooks::verify(
            &[secret()],
            &revos_webhooks::WebhookHeaders::from_lookup(lookup),
            &body,
            chrono::Utc::now().timestamp(),
        )
        .map_err(|e| e.to_string());
        seen.deliveries
            .lock()
            .unwrap()
            .push((headers.clone(), body.to_vec(), verified));
        if code == 299 {
            // A large body the sender must not choke on.
            return (StatusCode::OK, "x".repeat(1 << 20));
        }
        if code == 999 {
            tokio::time::sleep(Duration::from_secs(3)).await;
            return (StatusCode::OK, String::new());
        }
        let status = StatusCode::from_u16(code).unwrap();
        let mut response = (status, "ignored".to_owned());
        if status.is_redirection() {
            response.1 = String::new();
        }
        response
    }

    async fn server() -> (String, Seen) {
        let seen = Seen::default();
        let app = axum::Router::new()
            .route("/hook/{code}", post(receive))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), seen)
    }

    fn hook<'a>(url: &'a str, secret: &'a str, body: &'a serde_json::Value) -> OutboundWebhook<'a> {
        OutboundWebhook {
            url,
            secret,
            msg_id: "msg_action-1",
            event_type: "action.executed",
            body,
            timestamp: chrono::Utc::now().timestamp(),
        }
    }

    #[tokio::test]
    async fn delivers_a_signed_event() {
        let (base, seen) = server().await;
        let sender = local();
        let whsec = secret().to_whsec();
        let data = serde_json::json!({"action_id": "a1", "amount": 12.5, "ünï": "✓"});
        let url = format!("{base}/hook/200");
        let delivery = hook(&url, &whsec, &data);
        assert_eq!(sender.deliver(&delivery).await, Ok(200));

        let deliveries = seen.deliveries.lock().unwrap();
        let (headers, body, verified) = &deliveries[0];
        assert_eq!(verified, &Ok(()));
        assert_eq!(headers["webhook-id"], "msg_action-1");
        assert_eq!(
            headers["webhook-timestamp"],
            delivery.timestamp.to_string().as_str()
        );
        assert_eq!(headers["content-type"], "application/json");
        assert!(
            headers["user-agent"]
                .to_str()
                .unwrap()
                .starts_with("revos-webhooks/")
        );
        let text = std::str::from_utf8(body).unwrap();
        assert!(
            text.starts_with(r#"{"type":"action.executed","timestamp":""#),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(json["data"], data);
        let stamp =
            chrono::DateTime::parse_from_rfc3339(json["timestamp"].as_str().unwrap()).unwrap();
        assert_eq!(stamp.timestamp(), delivery.timestamp);
    }

    #[tokio::test]
    async fn a_wrong_secret_does_not_verify() {
        let (base, seen) = server().await;
        let other = revos_webhooks::Secret::from_key([8; 32]).to_whsec();
        let data = serde_json::json!({});
        let url = format!("{base}/hook/200");
        local().deliver(&hook(&url, &other, &data)).await.unwrap();
        let deliveries = seen.deliveries.lock().unwrap();
        assert!(deliveries[0].2.is_err());
    }

    #[tokio::test]
    async fn statuses_map_to_outcomes() {
        let (base, _seen) = server().await;
        let sender = local();
        let whsec = secret().to_whsec();
        let data = serde_json::json!({"n": 1});
        for (code, want) in [
            (200, Ok(200)),
            (204, Ok(204)),
            (299, Ok(200)),
            (500, Err(true)),
            (503, Err(true)),
            (429, Err(true)),
            (408, Err(true)),
            (409, Err(true)),
            (400, Err(false)),
            (404, Err(false)),
            (410, Err(false)),
            (302, Err(false)),
        ] {
            let url = format!("{base}/hook/{code}");
            let got = sender
                .deliver(&hook(&url, &whsec, &data))
                .await
                .map_err(|e| e.is_transient());
            assert_eq!(got, want, "status {code}");
        }
    }

    #[tokio::test]
    async fn bad_targets_and_secrets() {
        let sender = local();
        let whsec = secret().to_whsec();
        let data = serde_json::json!(null);
        for url in ["ftp://example.com/x", "not a url", "file:///etc/passwd"] {
            let err = sender.deliver(&hook(url, &whsec, &data)).await.unwrap_err();
            assert!(!err.is_transient(), "{url}: {err}");
        }
        let err = sender
            .deliver(&hook("http://127.0.0.1:9/x", "nope", &data))
            .await
            .unwrap_err();
        assert!(!err.is_transient(), "{err}");
        assert!(err.to_string().contains("whsec_"), "{err}");

        // Nobody listens: transient, and the query (may hold a token) is hidden.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}/x?token=s3cret");
        let err = sender
            .deliver(&hook(&url, &whsec, &data))
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[tokio::test]
    async fn a_slow_endpoint_times_out_transiently() {
        let (base, _seen) = server().await;
        let sender = WebhookSender::new(Duration::from_millis(300), &loopback()).unwrap();
        let whsec = secret().to_whsec();
        let data = serde_json::json!({});
        let url = format!("{base}/hook/999");
        let err = sender
            .deliver(&hook(&url, &whsec, &data))
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(err.to_string().contains("in time"), "{err}");
    }

    #[tokio::test]
    async fn the_default_policy_contacts_no_internal_address() {
        let (base, seen) = server().await;
        let port = base.rsplit(':').next().unwrap().to_owned();
        let sender = WebhookSender::default();
        let whsec = secret().to_whsec();
        let data = serde_json::json!({});
        for url in [
            format!("{base}/hook/200"),
            format!("https://127.0.0.1:{port}/hook/200"),
            format!("https://localhost:{port}/hook/200"),
            format!("http://localhost:{port}/hook/200"),
            format!("https://[::ffff:127.0.0.1]:{port}/hook/200"),
            "http://169.254.169.254/latest/meta-data/".to_owned(),
        ] {
            let err = sender
                .deliver(&hook(&url, &whsec, &data))
                .await
                .unwrap_err();
            assert!(!err.is_transient(), "{url}: {err}");
            assert!(
                err.to_string().contains("refused by the outbound policy"),
                "{url}: {err}"
            );
        }
        assert!(seen.deliveries.lock().unwrap().is_empty());
    }
}
