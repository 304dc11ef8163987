//! Sending e-mail over SMTP, with `lettre`.
//!
//! [`Mailer::new`] checks an [`EmailConfig`] once (the SMTP URL, the sender
//! address) and builds one pooled `lettre` transport that every
//! [`Mailer::send`] reuses. An empty `smtp_url` gives a disabled mailer:
//! sending fails with a permanent error.
//!
//! Every message carries the `Message-ID` its caller chose, so a retried
//! action sends the same id again ([`message_id_for`] makes one stable per
//! action) and the receiving side can tell duplicates apart. Failures are
//! split into [`SendError::Permanent`] (a `5xx` reply, a bad address, a
//! disabled mailer: retrying cannot help) and [`SendError::Transient`] (a
//! `4xx` reply, a refused connection, a timeout: try again later).
//!
//! Passwords from the SMTP URL never appear in `Debug` output or in error
//! messages.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use lettre::message::{Mailbox, Mailboxes, MultiPart, SinglePart};
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

/// The `[email]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// Where to send: `smtp://host:port` (plain, no TLS),
    /// `smtp+starttls://host:port` (STARTTLS required) or
    /// `smtps://host:port` (TLS from the first byte). `user:password@` in
    /// the URL logs in with `AUTH`. Empty: e-mail is disabled and every
    /// send fails with a permanent error.
    pub smtp_url: String,
    /// The sender when a message names none, e.g. `revos <no-reply@localhost>`.
    pub from: String,
    /// The host part of generated `Message-ID`s (and the name given in
    /// `EHLO`).
    pub(crate) message_id_domain: String,
    /// How long one send may take, in seconds.
    pub(crate) timeout_seconds: u64,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            smtp_url: String::new(),
            from: "revos <no-reply@localhost>".to_owned(),
            message_id_domain: "revos.local".to_owned(),
            timeout_seconds: 30,
        }
    }
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutgoingEmail {
    /// The sender; `None` uses [`EmailConfig::from`].
    pub from: Option<String>,
    /// The recipients: one address or a comma-separated list, each
    /// `user@host` or `Name <user@host>`.
    pub to: String,
    /// A `Reply-To` address.
    pub reply_to: Option<String>,
    /// The subject; line breaks in it are replaced by spaces.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// An HTML body: when given, the message is `multipart/alternative`
    /// with the text first.
    pub html: Option<String>,
    /// The `Message-ID` without angle brackets, e.g. from
    /// [`message_id_for`]; empty makes a random one.
    pub message_id: String,
    /// The `In-Reply-To` of a reply: the `Message-ID` (without angle
    /// brackets) of the message it answers.
    pub in_reply_to: Option<String>,
    /// The `References` of a reply: the thread's `Message-ID`s (without
    /// angle brackets), oldest first.
    pub references: Vec<String>,
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Sending again will fail the same way: a `5xx` reply, an address
    /// that does not parse, e-mail disabled or misconfigured.
    #[error("{0}")]
    Permanent(String),
    /// Sending again later may work: a `4xx` reply, no connection, a
    /// timeout, a TLS failure.
    #[error("{0}")]
    Transient(String),
}

/// The `Message-ID` (without angle brackets) of the e-mail an action sends:
/// `<action id>@<domain>`, the same on every retry of that action.
pub(crate) fn message_id_for(action_id: uuid::Uuid, domain: &str) -> String {
    format!("{action_id}@{domain}")
}

/// A `Message-ID` named in a threading header, without angle brackets;
/// one with spaces, brackets or control characters, or without `@`, is
/// refused (it would break the header).
fn thread_id<'a>(header: &str, id: &'a str) -> Result<&'a str, SendError> {
    let id = id.trim();
    if id.is_empty()
        || !id.contains('@')
        || id.contains(|c: char| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
    {
        return Err(SendError::Permanent(format!(
            "{header} `{id}` must look like `left@right`, without spaces or brackets"
        )));
    }
    Ok(id)
}

/// Sends e-mail through one SMTP server; cheap to clone (the connection
/// pool is shared).
#[derive(Clone)]
pub struct Mailer {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    /// The checked settings of the transport.
    builder: AsyncSmtpTransportBuilder,
    /// The pooled transport, built on the first send: `lettre` spawns its
    /// pool's tasks on the current tokio runtime, so building it needs one,
    /// while [`Mailer::new`] may run anywhere.
    transport: OnceLock<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    domain: String,
    timeout: Duration,
    /// The SMTP URL with its password replaced by `***`.
    redacted_url: String,
    /// The password, to scrub it from error messages.
    password: Option<String>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            None => f.write_str("Mailer(disabled)"),
            Some(inner) => f
                .debug_struct("Mailer")
                .field("smtp_url", &inner.redacted_url)
                .field("from", &inner.from.to_string())
                .field("message_id_domain", &inner.domain)
                .field("timeout", &inner.timeout)
                .finish(),
        }
    }
}

/// How the connection to the server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    Plain,
    StartTls,
    Implicit,
}

impl Mailer {
    /// Checks `config` and prepares the transport (no connection is made
    /// yet; the connection pool starts with the first send, so this may
    /// run outside a tokio runtime). The error says what is wrong, without
    /// the password.
    pub(crate) fn new(config: &EmailConfig) -> Result<Mailer, String> {
        let raw = config.smtp_url.trim();
        if raw.is_empty() {
            return Ok(Mailer { inner: None });
        }
        crate::outbound_http::install_tls_provider();
        let url = url::Url::parse(raw)
            .map_err(|e| format!("email.smtp_url `{}` is not a URL: {e}", redact(raw)))?;
        let redacted_url = redact_url(&url);
        let bad = |why: &str| format!("email.smtp_url `{redacted_url}`: {why}");
        let (security, default_port) = match url.scheme() {
            "smtp" => (Security::Plain, 25),
            "smtp+starttls" => (Security::StartTls, 587),
            "smtps" => (Security::Implicit, 465),
            other => {
                return Err(bad(&format!(
                    "unknown scheme `{other}`: use smtp://, smtp+starttls:// or smtps://"
                )));
            }
        };
        let host = match url.host() {
            Some(url::Host::Domain(name)) if !name.is_empty() => name.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(bad("no host")),
        };
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(bad(
                "only scheme, user, password, host and port are allowed",
            ));
        }
        let port = url.port().unwrap_or(default_port);
        let timeout = match config.timeout_seconds {
            0 => return Err("email.timeout_seconds must be at least 1".to_owned()),
            secs => Duration::from_secs(secs),
        };
        let from: Mailbox = config
            .from
            .trim()
            .parse()
            .map_err(|e| format!("email.from `{}` is not an address: {e}", config.from))?;
        let domain = config.message_id_domain.trim().to_owned();
        if domain.is_empty()
            || domain
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '<' | '>' | '@'))
        {
            return Err(format!(
                "email.message_id_domain `{domain}` must be a host name"
            ));
        }

        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .timeout(Some(timeout))
            .hello_name(ClientId::Domain(domain.clone()));
        if security != Security::Plain {
            let tls = TlsParameters::new(host.clone())
                .map_err(|e| bad(&format!("cannot set up TLS: {e}")))?;
            builder = builder.tls(match security {
                Security::Implicit => Tls::Wrapper(tls),
                _ => Tls::Required(tls),
            });
        }
        let password = match url.password() {
            Some(p) => Some(percent_decode(p).map_err(|_| bad("the password is not UTF-8"))?),
            None => None,
        };
        if !url.username().is_empty() {
            let user = percent_decode(url.username()).map_err(|_| bad("the user is not UTF-8"))?;
            builder =
                builder.credentials(Credentials::new(user, password.clone().unwrap_or_default()));
        }
        Ok(Mailer {
            inner: Some(Arc::new(Inner {
                builder,
                transport: OnceLock::new(),
                from,
                domain,
                timeout,
                redacted_url,
                password: password.filter(|p| !p.is_empty()),
            })),
        })
    }

    /// Sends one message, waiting for the server to accept it.
    pub async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        let Some(inner) = &self.inner else {
            return Err(SendError::Permanent(
                "e-mail is disabled: set email.smtp_url to send".to_owned(),
            ));
        };
        let message = inner.message(email)?;
        let transport = inner
            .transport
            .get_or_init(|| inner.builder.clone().build());
        match tokio::time::timeout(inner.timeout, transport.send(message)).await {
            Err(_) => Err(SendError::Transient(format!(
                "the SMTP server at {} did not accept the message within {} s",
                inner.redacted_url,
                inner.timeout.as_secs()
            ))),
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(e)) => Err(inner.classify(&e)),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping `lettre`'s pool spawns a task, which panics outside a
        // tokio runtime (a mailer dropped after its runtime ended): leak
        // the idle connections instead, the process is ending anyway.
        if tokio::runtime::Handle::try_current().is_err()
            && let Some(transport) = self.transport.take()
        {
            std::mem::forget(transport);
        }
    }
}

impl Inner {
    fn message(&self, email: &OutgoingEmail) -> Result<Message, SendError> {
        let from = match &email.from {
            Some(from) => mailbox("from", from)?,
            None => self.from.clone(),
        };
        let to: Mailboxes = email.to.trim().parse().map_err(|e| {
            SendError::Permanent(format!("to `{}` is not an address: {e}", email.to))
        })?;
        if to.iter().next().is_none() {
            return Err(SendError::Permanent("the message has no recipient".into()));
        }
        let id = email.message_id.trim();
        let id = if id.is_empty() {
            message_id_for(uuid::Uuid::new_v4(), &self.domain)
        } else if id.contains(|c: char| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
            || !id.contains('@')
        {
            return Err(SendError::Permanent(format!(
                "message id `{id}` must look like `left@right`, without spaces or brackets"
            )));
        } else {
            id.to_owned()
        };
        let subject: String = email
            .subject
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        let mut builder = Message::builder()
            .from(from)
            .subject(subject)
            .message_id(Some(format!("<{id}>")))
            .date_now();
        for mailbox in to {
            builder = builder.to(mailbox);
        }
        if let Some(reply_to) = &email.reply_to {
            builder = builder.reply_to(mailbox("reply_to", reply_to)?);
        }
        if let Some(parent) = &email.in_reply_to {
            builder = builder.in_reply_to(format!("<{}>", thread_id("in_reply_to", parent)?));
        }
        if !email.references.is_empty() {
            let ids = email
                .references
                .iter()
                .map(|r| thread_id("references", r).map(|id| format!("<{id}>")))
                .collect::<Result<Vec<_>, _>>()?;
            builder = builder.references(ids.join(" "));
        }
        let built = match &email.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                html.clone(),
            )),
            None => builder.singlepart(SinglePart::plain(email.text.clone())),
        };
        built.map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))
    }

    /// Sorts a `lettre` error into permanent or transient, scrubbing the
    /// password from its text.
    fn classify(&self, err: &lettre::transport::smtp::Error) -> SendError {
        let mut text = format!("SMTP server {}: {err}", self.redacted_url);
        if let Some(password) = &self.password {
            text = text.replace(password.as_str(), "***");
        }
        if err.is_permanent() || err.is_client() {
            SendError::Permanent(text)
        } else {
            SendError::Transient(text)
        }
    }
}

fn mailbox(field: &str, text: &str) -> Result<Mailbox, SendError> {
    text.trim()
        .parse()
        .map_err(|e| SendError::Permanent(format!("{field} `{text}` is not an address: {e}")))
}

/// Decodes `%XX` escapes (user and password in a URL).
fn percent_decode(text: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out)
}

/// The URL with its password replaced by `***`.
fn redact_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

/// A text that failed to parse as a URL, with whatever sits between `:` and
/// `@` after the scheme hidden.
fn redact(raw: &str) -> String {
    match (raw.find("://"), raw.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            let userinfo = &raw[start + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &raw[..start + 3], &raw[at..]),
                None => raw.to_owned(),
            }
        }
        _ => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use revos_smtp_sink::SmtpSink;

    impl SendError {
        fn is_transient(&self) -> bool {
            matches!(self, SendError::Transient(_))
        }

        fn message(&self) -> &str {
            match self {
                SendError::Permanent(m) | SendError::Transient(m) => m,
            }
        }
    }

    impl Mailer {
        fn is_enabled(&self) -> bool {
            self.inner.is_some()
        }
    }

    fn config(url: &str) -> EmailConfig {
        EmailConfig {
            smtp_url: url.to_owned(),
            timeout_seconds: 5,
            ..EmailConfig::default()
        }
    }

    fn email(id: &str) -> OutgoingEmail {
        OutgoingEmail {
            to: "Ann <ann@example.com>, bob@example.com".to_owned(),
            subject: "Budget moved ✓".to_owned(),
            text: "Hello Ann,\n. a dotted line\nGrüße\n".to_owned(),
            message_id: id.to_owned(),
            ..OutgoingEmail::default()
        }
    }

    #[test]
    fn defaults_and_unknown_fields() {
        let config: EmailConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, EmailConfig::default());
        assert_eq!(config.from, "revos <no-reply@localhost>");
        assert_eq!(config.message_id_domain, "revos.local");
        assert_eq!(config.timeout_seconds, 30);
        assert!(serde_json::from_str::<EmailConfig>(r#"{"smtp":"x"}"#).is_err());
    }

    #[test]
    fn message_ids_are_stable_per_action() {
        let action = uuid::Uuid::from_u128(7);
        assert_eq!(
            message_id_for(action, "revos.local"),
            "00000000-0000-0000-0000-000000000007@revos.local"
        );
        assert_eq!(
            message_id_for(action, "revos.local"),
            message_id_for(action, "revos.local")
        );
    }

    #[test]
    fn bad_configs_are_explained_without_the_password() {
        let err = Mailer::new(&config("http://u:hunter2@x")).unwrap_err();
        assert!(err.contains("unknown scheme `http`"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = Mailer::new(&config("smtp://u:hunter2@x/path")).unwrap_err();
        assert!(!err.contains("hunter2") && err.contains("***"), "{err}");
        let err = Mailer::new(&config("smtp://u:hunter2@[bad")).unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let err = Mailer::new(&EmailConfig {
            from: "not an address".into(),
            ..config("smtp://localhost:2525")
        })
        .unwrap_err();
        assert!(err.contains("email.from"), "{err}");
        let err = Mailer::new(&EmailConfig {
            timeout_seconds: 0,
            ..config("smtp://localhost:2525")
        })
        .unwrap_err();
        assert!(err.contains("timeout_seconds"), "{err}");

        for ok in [
            "smtp://localhost:2525",
            "smtp+starttls://user:p%40ss@mail.example.com",
            "smtps://mail.example.com:465",
            "smtp://[::1]:2525",
        ] {
            let mailer = Mailer::new(&config(ok)).unwrap();
            assert!(mailer.is_enabled());
            let shown = format!("{mailer:?}");
            assert!(
                !shown.contains("p%40ss") && !shown.contains("p@ss"),
                "{shown}"
            );
        }
        assert_eq!(percent_decode("p%40ss%zz").unwrap(), "p@ss%zz");
    }

    #[test]
    fn a_mailer_may_outlive_its_runtime() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mailer = runtime.block_on(async {
            let sink = SmtpSink::start().await.unwrap();
            let mailer = Mailer::new(&config(&sink.url())).unwrap();
            mailer.send(&email("a@b")).await.unwrap();
            assert_eq!(sink.wait_for(1, Duration::from_secs(5)).await.len(), 1);
            mailer
        });
        drop(runtime);
        drop(mailer);
    }

    #[tokio::test]
    async fn disabled_mailer_fails_permanently() {
        let mailer = Mailer::new(&EmailConfig::default()).unwrap();
        assert!(!mailer.is_enabled());
        let err = mailer.send(&email("a@b")).await.unwrap_err();
        assert!(!err.is_transient());
        assert!(err.message().contains("disabled"), "{err}");
    }

    #[tokio::test]
    async fn sends_plain_text_with_the_given_message_id() {
        let sink = SmtpSink::start().await.unwrap();
        let mailer = Mailer::new(&config(&sink.url())).unwrap();
        let id = message_id_for(uuid::Uuid::from_u128(1), "revos.local");
        mailer.send(&email(&id)).await.unwrap();
        let got = sink.wait_for(1, Duration::from_secs(5)).await;
        assert_eq!(got.len(), 1);
        let got = &got[0];
        assert_eq!(got.message_id.as_deref(), Some(id.as_str()));
        assert_eq!(got.from, "no-reply@localhost");
        assert_eq!(got.to, ["ann@example.com", "bob@example.com"]);
        assert_eq!(got.subject.as_deref(), Some("Budget moved ✓"));
        assert!(got.headers.contains_key("date"));
        assert!(got.headers["content-type"].starts_with("text/plain"));
        assert!(!got.headers.contains_key("reply-to"));
    }

    #[tokio::test]
    async fn sends_html_as_multipart_alternative() {
        let sink = SmtpSink::start().await.unwrap();
        let mailer = Mailer::new(&config(&sink.url())).unwrap();
        let message = OutgoingEmail {
            from: Some("Ops <ops@example.com>".into()),
            reply_to: Some("help@example.com".into()),
            subject: "two\r\nlines".into(),
            html: Some("<p>Hello</p>".into()),
            ..email("")
        };
        mailer.send(&message).await.unwrap();
        let got = &sink.wait_for(1, Duration::from_secs(5)).await[0];
        assert_eq!(got.from, "ops@example.com");
        assert_eq!(got.subject.as_deref(), Some("two  lines"));
        assert!(got.headers["content-type"].starts_with("multipart/alternative"));
        assert!(got.headers["reply-to"].contains("help@example.com"));
        assert!(got.data.contains("<p>Hello</p>"));
        assert!(got.message_id.as_deref().unwrap().ends_with("@revos.local"));
    }

    #[tokio::test]
    async fn replies_carry_threading_headers() {
        let sink = SmtpSink::start().await.unwrap();
        let mailer = Mailer::new(&config(&sink.url())).unwrap();
        let reply = OutgoingEmail {
            in_reply_to: Some("m2@client.example".into()),
            references: vec!["m1@client.example".into(), "m2@client.example".into()],
            ..email("r1@revos.local")
        };
        mailer.send(&reply).await.unwrap();
        let got = &sink.wait_for(1, Duration::from_secs(5)).await[0];
        assert_eq!(got.headers["in-reply-to"], "<m2@client.example>");
        assert_eq!(
            got.headers["references"],
            "<m1@client.example> <m2@client.example>"
        );
        let bad = OutgoingEmail {
            in_reply_to: Some("no brackets> <please@x".into()),
            ..email("r2@revos.local")
        };
        assert!(!mailer.send(&bad).await.unwrap_err().is_transient());
    }

    #[tokio::test]
    async fn smtp_failures_are_classified() {
        let sink = SmtpSink::start().await.unwrap();
        let mailer = Mailer::new(&config(&sink.url())).unwrap();
        sink.fail_next_data(1, 451);
        let err = mailer.send(&email("t@x")).await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        sink.fail_next_data(1, 554);
        let err = mailer.send(&email("p@x")).await.unwrap_err();
        assert!(!err.is_transient(), "{err:?}");
        assert!(sink.messages().is_empty());
        // The same mailer (and pool) works afterwards.
        mailer.send(&email("ok@x")).await.unwrap();
        assert_eq!(sink.wait_for(1, Duration::from_secs(5)).await.len(), 1);

        let bad = OutgoingEmail {
            to: "not an address".into(),
            ..email("x@y")
        };
        assert!(!mailer.send(&bad).await.unwrap_err().is_transient());
        let bad_id = email("has space@x");
        assert!(!mailer.send(&bad_id).await.unwrap_err().is_transient());
    }

    #[tokio::test]
    async fn unreachable_server_is_transient_and_redacted() {
        // A port nobody listens on: bind, note it, close.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let mailer = Mailer::new(&config(&format!("smtp://u:hunter2@127.0.0.1:{port}"))).unwrap();
        let err = mailer.send(&email("a@b")).await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        assert!(!err.message().contains("hunter2"), "{err}");
    }
}
