//! Signed outbound webhooks, after the [Standard Webhooks] scheme.
//!
//! [`WebhookSender::deliver`] POSTs one event as JSON,
//! `{"type": …, "timestamp": RFC 3339, "data": …}`, serialized once and
//! signed over exactly those bytes with [`revos_webhooks::sign`]; the
//! `webhook-id` (stable per action, so the receiver can drop a retried
//! duplicate), `webhook-timestamp` and `webhook-signature` headers go with
//! it. The receiver checks it as `revos_webhooks::verify` does.
//!
//! A `2xx` answer is a delivery. `408`, `409`, `425`, `429`, any `5xx`, a
//! timeout or a failed connection are [`DeliveryError::Transient`]: try
//! again later. Any other answer (other `4xx`, a redirect, which is never
//! followed) and a URL that is not `http(s)://` are
//! [`DeliveryError::Permanent`]. The response body is read (at most 64 KiB,
//! so the connection can be reused) and ignored.
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com/

use std::time::Duration;

use serde::Serialize;

/// The timeout [`WebhookSender::default`] uses.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// How much of a response body is read before the rest is dropped.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// One delivery to make.
#[derive(Debug, Clone, Copy)]
pub struct OutboundWebhook<'a> {
    /// Where to POST: `http://` or `https://`.
    pub url: &'a str,
    /// The endpoint's signing secret, `whsec_…`.
    pub secret: &'a str,
    /// The `webhook-id`: the same on every retry of one action.
    pub msg_id: &'a str,
    /// The event's `type`, e.g. `action.executed`.
    pub event_type: &'a str,
    /// The event's `data`.
    pub body: &'a serde_json::Value,
    /// The signing time, seconds since the epoch (also the `timestamp`
    /// of the payload).
    pub timestamp: i64,
}

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Retrying will not help: a `4xx` answer (but 408/409/425/429), a
    /// redirect, a bad URL or secret.
    #[error("{0}")]
    Permanent(String),
    /// Retrying later may help: a `5xx`, 408/409/425/429, a timeout, no
    /// connection.
    #[error("{0}")]
    Transient(String),
}

impl DeliveryError {
    /// Whether a retry may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, DeliveryError::Transient(_))
    }
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
pub struct WebhookSender {
    client: reqwest::Client,
}

impl WebhookSender {
    /// A sender whose requests time out after `timeout`, following no
    /// redirect, with the user agent `revos-webhooks/<version>`.
    pub fn new(timeout: Duration) -> Result<Self, String> {
        install_tls_provider();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("revos-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the webhook HTTP client: {e}"))?;
        Ok(WebhookSender { client })
    }

    /// POSTs one signed event; `Ok` holds the `2xx` status.
    pub async fn deliver(&self, hook: &OutboundWebhook<'_>) -> Result<u16, DeliveryError> {
        let url = reqwest::Url::parse(hook.url.trim()).map_err(|e| {
            DeliveryError::Permanent(format!("`{}` is not a URL: {e}", shown(hook.url)))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(DeliveryError::Permanent(format!(
                "`{}` is not an http:// or https:// URL",
                shown(hook.url)
            )));
        }
        let target = shown(url.as_str());
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

        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(revos_webhooks::HEADER_ID, hook.msg_id)
            .header(revos_webhooks::HEADER_TIMESTAMP, hook.timestamp.to_string())
            .header(revos_webhooks::HEADER_SIGNATURE, signature)
            .body(payload)
            .send()
            .await
            .map_err(|e| request_error(&target, e))?;
        let status = response.status();
        drain(response).await;
        let code = status.as_u16();
        if status.is_success() {
            Ok(code)
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
    /// A sender with the [`DEFAULT_TIMEOUT`].
    ///
    /// # Panics
    /// When the HTTP client cannot be built (no TLS backend): a broken
    /// build, not a runtime condition.
    fn default() -> Self {
        match WebhookSender::new(DEFAULT_TIMEOUT) {
            Ok(sender) => sender,
            Err(e) => panic!("{e}"),
        }
    }
}

/// Reads and drops up to [`MAX_RESPONSE_BYTES`] of the body.
async fn drain(mut response: reqwest::Response) {
    let mut read = 0;
    while read < MAX_RESPONSE_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            _ => break,
        }
    }
}

fn request_error(target: &str, err: reqwest::Error) -> DeliveryError {
    let err = err.without_url();
    if err.is_builder() {
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

/// Installs the process-wide rustls crypto provider (`ring`), which the
/// `reqwest` client (built with `rustls-no-provider`) needs.
fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use std::sync::{Arc, Mutex};

    /// One request the test server received, and whether it verified.
    type Delivery = (HeaderMap, Vec<u8>, Result<(), String>);

    #[derive(Clone, Default)]
    struct Seen {
        deliveries: Arc<Mutex<Vec<Delivery>>>,
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
        let sender = WebhookSender::default();
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
        WebhookSender::default()
            .deliver(&hook(&url, &other, &data))
            .await
            .unwrap();
        let deliveries = seen.deliveries.lock().unwrap();
        assert!(deliveries[0].2.is_err());
    }

    #[tokio::test]
    async fn statuses_map_to_outcomes() {
        let (base, _seen) = server().await;
        let sender = WebhookSender::default();
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
        let sender = WebhookSender::default();
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
        let sender = WebhookSender::new(Duration::from_millis(300)).unwrap();
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
}
