//! A small, real SMTP server that keeps every message it accepts in memory,
//! for tests and local development of revos's e-mail.
//!
//! [`SmtpSink::start`] binds `127.0.0.1:0` and serves each connection on
//! its own tokio task until [`SmtpSink::shutdown`] (or until the last
//! handle is dropped). It speaks the part of [RFC 5321] real clients such
//! as `lettre` use:
//!
//! - a `220` greeting; `EHLO` (advertising `8BITMIME`, `SIZE <max>` and
//!   `PIPELINING`, all three really supported) and `HELO`;
//! - `MAIL FROM` (with the `SIZE=` and `BODY=7BIT|8BITMIME` parameters),
//!   `RCPT TO` (many, up to [`SinkConfig::max_recipients`]), `DATA` with
//!   dot-unstuffing up to the `<CRLF>.<CRLF>` that ends it;
//! - `RSET`, `NOOP`, `QUIT`, `HELP`, `VRFY` (`252`: it never tells);
//! - `500` for an unknown command or a line longer than
//!   [`SinkConfig::max_line_length`], `501` for bad arguments, `503` for a
//!   command out of order (`RCPT` before `MAIL`, `DATA` before `RCPT`, …),
//!   `552` for a message larger than [`SinkConfig::max_message_size`].
//!
//! No TLS and no `AUTH`: neither is advertised. Each accepted message is
//! stored as a [`ReceivedMessage`] (envelope, raw data, parsed headers).
//! [`SmtpSink::fail_next_data`] makes the next messages fail with a code of
//! the test's choosing, to exercise a sender's retries.
//!
//! Why not an existing crate: `mailin-embedded` runs its own thread pool
//! (not tokio) and does not let a test inject failures; the protocol subset
//! a sink needs is small enough to write and test here directly.
//!
//! [RFC 5321]: https://www.rfc-editor.org/rfc/rfc5321

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The largest message (after dot-unstuffing) accepted by default: 10 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 10 * 1024 * 1024;

/// The longest line, in octets including its CRLF, accepted by default:
/// RFC 5321's limit for a line of text (4.5.3.1.6).
pub const DEFAULT_MAX_LINE_LENGTH: usize = 1000;

/// How many recipients one message may have by default (RFC 5321's
/// minimum a server must accept, 4.5.3.1.8).
pub const DEFAULT_MAX_RECIPIENTS: usize = 100;

/// The limits and the name of a sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkConfig {
    /// The name the server gives in its greeting and `EHLO` reply.
    pub hostname: String,
    /// The largest message in octets; advertised as `SIZE`, a larger one
    /// gets `552`.
    pub max_message_size: usize,
    /// The longest command or data line in octets, CRLF included; a longer
    /// one gets `500`.
    pub max_line_length: usize,
    /// How many `RCPT TO` one message may have; more get `452`.
    pub max_recipients: usize,
    /// A connection silent for this long is closed with `421`.
    pub idle_timeout: Duration,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            hostname: "localhost".to_owned(),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_line_length: DEFAULT_MAX_LINE_LENGTH,
            max_recipients: DEFAULT_MAX_RECIPIENTS,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// One message the sink accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The envelope sender (`MAIL FROM`), without the angle brackets; empty
    /// for the null reverse path `<>`.
    pub from: String,
    /// The envelope recipients (`RCPT TO`) in the order given, without the
    /// angle brackets.
    pub to: Vec<String>,
    /// The message as sent after `DATA`, dot-unstuffed, with its line
    /// endings as received (CRLF), without the final `.` line. Bytes that
    /// are not UTF-8 are replaced by U+FFFD.
    pub data: String,
    /// The header fields: lower-cased names, the first occurrence of each,
    /// unfolded and trimmed, otherwise as sent (encoded words are kept).
    pub headers: BTreeMap<String, String>,
    /// `Subject`, with its RFC 2047 encoded words (`=?utf-8?b?…?=`)
    /// decoded.
    pub subject: Option<String>,
    /// `Message-ID` without its angle brackets.
    pub message_id: Option<String>,
    /// When the end of the data arrived.
    pub received_at: chrono::DateTime<chrono::Utc>,
}

impl ReceivedMessage {
    /// Builds a message from its envelope and data, parsing the headers.
    pub fn parse(from: String, to: Vec<String>, data: String) -> ReceivedMessage {
        let headers = parse_headers(&data);
        let subject = headers.get("subject").map(|s| decode_encoded_words(s));
        let message_id = headers.get("message-id").map(|id| {
            id.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        });
        ReceivedMessage {
            from,
            to,
            data,
            headers,
            subject,
            message_id,
            received_at: chrono::Utc::now(),
        }
    }

    /// A header by name (any case): its first occurrence, unfolded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Everything after the blank line that ends the headers (empty when
    /// there is none).
    pub fn body(&self) -> &str {
        if let Some(i) = self.data.find("\r\n\r\n") {
            &self.data[i + 4..]
        } else if let Some(i) = self.data.find("\n\n") {
            &self.data[i + 2..]
        } else {
            ""
        }
    }
}

/// What the connections and the handles share.
struct Shared {
    config: SinkConfig,
    messages: Mutex<Vec<ReceivedMessage>>,
    /// The number of stored messages, watched by [`SmtpSink::wait_for`].
    count: watch::Sender<usize>,
    /// How many of the next messages fail, and with which code.
    failures: Mutex<(usize, u16)>,
    /// Set to `true` once to stop the listener and every connection.
    stop: watch::Sender<bool>,
}

/// Locks a mutex, ignoring poisoning: every value behind these locks stays
/// consistent whatever a panicking holder was doing.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn store(&self, message: ReceivedMessage) {
        let mut messages = lock(&self.messages);
        messages.push(message);
        self.count.send_replace(messages.len());
    }

    /// The code the next message fails with, if it must fail.
    fn take_failure(&self) -> Option<u16> {
        let mut failures = lock(&self.failures);
        if failures.0 == 0 {
            None
        } else {
            failures.0 -= 1;
            Some(failures.1)
        }
    }
}

/// Stops the server when the last [`SmtpSink`] clone is dropped.
struct Owner {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.stop.send_replace(true);
    }
}

/// A running sink; clones are handles to the same server. The server stops
/// on [`SmtpSink::shutdown`] or when the last handle is dropped.
#[derive(Clone)]
pub struct SmtpSink {
    owner: Arc<Owner>,
}

impl std::fmt::Debug for SmtpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSink")
            .field("addr", &self.owner.addr)
            .field("messages", &lock(&self.owner.shared.messages).len())
            .finish()
    }
}

impl SmtpSink {
    /// Starts a sink on `127.0.0.1` at a free port.
    pub async fn start() -> std::io::Result<SmtpSink> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts a sink on `addr` with the default [`SinkConfig`].
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<SmtpSink> {
        Self::start_with(addr, SinkConfig::default()).await
    }

    /// Starts a sink on `addr` with the given limits.
    pub async fn start_with(addr: SocketAddr, config: SinkConfig) -> std::io::Result<SmtpSink> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            messages: Mutex::new(Vec::new()),
            count: watch::Sender::new(0),
            failures: Mutex::new((0, 451)),
            stop: watch::Sender::new(false),
        });
        tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(SmtpSink {
            owner: Arc::new(Owner { shared, addr }),
        })
    }

    fn shared(&self) -> &Shared {
        &self.owner.shared
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.owner.addr
    }

    /// `smtp://IP:PORT` of the server.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.owner.addr)
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        lock(&self.shared().messages).clone()
    }

    /// Forgets the messages accepted so far.
    pub fn clear(&self) {
        let mut messages = lock(&self.shared().messages);
        messages.clear();
        self.shared().count.send_replace(0);
    }

    /// Waits until at least `n` messages are stored or `timeout` passes,
    /// then returns what is stored (possibly fewer than `n`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMessage> {
        let mut count = self.shared().count.subscribe();
        let _ = tokio::time::timeout(timeout, count.wait_for(|stored| *stored >= n)).await;
        self.messages()
    }

    /// Makes the next `n` messages fail: their end of data is answered with
    /// `code` (e.g. `451`, or a `5xx` for a permanent failure) and they are
    /// not stored. The whole message is read first, so the connection stays
    /// usable. Replaces any earlier setting; `n = 0` cancels it.
    ///
    /// # Panics
    /// When `code` is not a failure code (`400..=599`).
    pub fn fail_next_data(&self, n: usize, code: u16) {
        assert!(
            (400..=599).contains(&code),
            "fail_next_data needs a 4xx or 5xx code, got {code}"
        );
        *lock(&self.shared().failures) = (n, code);
    }

    /// Stops accepting connections and closes the open ones. Messages
    /// already stored stay readable.
    pub fn shutdown(&self) {
        self.shared().stop.send_replace(true);
    }
}

/// Resolves once the sink is told to stop.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let stop = stopped(shared.stop.subscribe());
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = stopped(shared.stop.subscribe()) => {}
                            _ = serve(&shared, stream) => {}
                        }
                    });
                }
                // Out of file descriptors and the like: try again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
}

/// One line read from the client.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// A whole line, its line ending included.
    Text(Vec<u8>),
    /// A line longer than the limit; it was read and thrown away.
    TooLong,
    /// The client closed the connection (a partial last line is dropped).
    Eof,
}

/// Reads one line ending in LF, keeping at most `max` octets of it.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, max: usize) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(Line::Eof);
        }
        let (used, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if !too_long {
            if line.len() + used > max {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(&available[..used]);
            }
        }
        reader.consume(used);
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Text(line)
            });
        }
    }
}

/// Writes one reply; `text` may hold several lines (a multi-line reply).
async fn reply<W: AsyncWrite + Unpin>(
    writer: &mut W,
    code: u16,
    text: &str,
) -> std::io::Result<()> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
        out.push_str(&format!("{code}{sep}{line}\r\n"));
    }
    if lines.is_empty() {
        out = format!("{code} \r\n");
    }
    writer.write_all(out.as_bytes()).await?;
    writer.flush().await
}

/// The state of one SMTP session.
#[derive(Default)]
struct Session {
    /// The name given by `EHLO`/`HELO`, once given.
    client: Option<String>,
    /// The reverse path of the open transaction.
    from: Option<String>,
    recipients: Vec<String>,
}

impl Session {
    fn reset(&mut self) {
        self.from = None;
        self.recipients.clear();
    }
}

/// How reading a message's data ended.
enum Data {
    /// The data, dot-unstuffed.
    Complete(Vec<u8>),
    /// The message was larger than allowed (it was read and dropped).
    TooLarge,
    /// A line was longer than allowed (the message was read and dropped).
    LineTooLong,
    /// The connection closed before the end of the data.
    Eof,
    /// The client stayed silent too long.
    Idle,
}

async fn serve(shared: &Shared, stream: TcpStream) -> std::io::Result<()> {
    let config = &shared.config;
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    reply(
        &mut writer,
        220,
        &format!("{} ESMTP revos-smtp-sink ready", config.hostname),
    )
    .await?;
    let mut session = Session::default();
    loop {
        let line = match tokio::time::timeout(
            config.idle_timeout,
            read_line(&mut reader, config.max_line_length),
        )
        .await
        {
            Ok(line) => line?,
            Err(_) => {
                reply(&mut writer, 421, "idle for too long, closing connection").await?;
                return Ok(());
            }
        };
        let line = match line {
            Line::Eof => return Ok(()),
            Line::TooLong => {
                reply(&mut writer, 500, "line too long").await?;
                continue;
            }
            Line::Text(line) => line,
        };
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches(['\r', '\n']);
        let (verb, args) = match line.split_once(' ') {
            Some((verb, args)) => (verb, args.trim()),
            None => (line, ""),
        };
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" if args.is_empty() => {
                reply(&mut writer, 501, "a domain or address literal is required").await?;
            }
            "EHLO" => {
                session.reset();
                session.client = Some(args.to_owned());
                let text = format!(
                    "{} greets {args}\n8BITMIME\nSIZE {}\nPIPELINING\nHELP",
                    config.hostname, config.max_message_size
                );
                reply(&mut writer, 250, &text).await?;
            }
            "HELO" => {
                session.reset();
                session.client = Some(args.to_owned());
                reply(
                    &mut writer,
                    250,
                    &format!("{} greets {args}", config.hostname),
                )
                .await?;
            }
            "MAIL" => {
                let (code, text) = mail(config, &mut session, args);
                reply(&mut writer, code, &text).await?;
            }
            "RCPT" => {
                let (code, text) = rcpt(config, &mut session, args);
                reply(&mut writer, code, &text).await?;
            }
            "DATA" => {
                if !args.is_empty() {
                    reply(&mut writer, 501, "DATA takes no arguments").await?;
                    continue;
                }
                let Some(from) = session.from.clone() else {
                    reply(&mut writer, 503, "bad sequence of commands: MAIL first").await?;
                    continue;
                };
                if session.recipients.is_empty() {
                    reply(&mut writer, 503, "bad sequence of commands: RCPT first").await?;
                    continue;
                }
                reply(&mut writer, 354, "start mail input; end with <CRLF>.<CRLF>").await?;
                let data = read_data(config, &mut reader).await?;
                let to = std::mem::take(&mut session.recipients);
                session.reset();
                let (code, text) = match data {
                    Data::Eof => return Ok(()),
                    Data::Idle => {
                        reply(&mut writer, 421, "idle for too long, closing connection").await?;
                        return Ok(());
                    }
                    Data::TooLarge => (552, "message exceeds fixed maximum message size".into()),
                    Data::LineTooLong => (500, "line too long".into()),
                    Data::Complete(data) => match shared.take_failure() {
                        Some(code) => (
                            code,
                            "requested action aborted (failure injected by the sink)".into(),
                        ),
                        None => {
                            let message = ReceivedMessage::parse(
                                from,
                                to,
                                String::from_utf8_lossy(&data).into_owned(),
                            );
                            let text = format!(
                                "OK: queued {}",
                                message.message_id.as_deref().unwrap_or("(no Message-ID)")
                            );
                            shared.store(message);
                            (250, text)
                        }
                    },
                };
                reply(&mut writer, code, &text).await?;
            }
            "RSET" => {
                session.reset();
                reply(&mut writer, 250, "OK").await?;
            }
            "NOOP" => reply(&mut writer, 250, "OK").await?,
            "QUIT" => {
                reply(
                    &mut writer,
                    221,
                    &format!("{} closing connection", config.hostname),
                )
                .await?;
                return Ok(());
            }
            "VRFY" => {
                reply(
                    &mut writer,
                    252,
                    "cannot VRFY user, but will accept message and attempt delivery",
                )
                .await?;
            }
            "HELP" => {
                reply(
                    &mut writer,
                    214,
                    "commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP",
                )
                .await?;
            }
            _ => reply(&mut writer, 500, "syntax error, command unrecognized").await?,
        }
    }
}

/// Reads the lines after `354` up to the lone `.`, dot-unstuffing them.
async fn read_data<R: AsyncBufRead + Unpin>(
    config: &SinkConfig,
    reader: &mut R,
) -> std::io::Result<Data> {
    let mut data = Vec::new();
    let mut too_large = false;
    let mut too_long = false;
    loop {
        let line = match tokio::time::timeout(
            config.idle_timeout,
            read_line(reader, config.max_line_length),
        )
        .await
        {
            Ok(line) => line?,
            Err(_) => return Ok(Data::Idle),
        };
        let line = match line {
            Line::Eof => return Ok(Data::Eof),
            Line::TooLong => {
                too_long = true;
                continue;
            }
            Line::Text(line) => line,
        };
        if line == b".\r\n" || line == b".\n" {
            break;
        }
        let line = line.strip_prefix(b".").unwrap_or(&line);
        if data.len() + line.len() > config.max_message_size {
            too_large = true;
        } else if !too_large {
            data.extend_from_slice(line);
        }
    }
    Ok(if too_large {
        Data::TooLarge
    } else if too_long {
        Data::LineTooLong
    } else {
        Data::Complete(data)
    })
}

/// Splits `FROM:<path> PARAMS` (or `TO:…`) after `keyword`, case-blind.
/// Returns the path without its brackets and the parameters.
fn path_and_params<'a>(args: &'a str, keyword: &str) -> Option<(String, Vec<&'a str>)> {
    let head = args.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = args[keyword.len()..].trim_start();
    let (path, params) = if let Some(inner) = rest.strip_prefix('<') {
        let end = inner.find('>')?;
        (&inner[..end], &inner[end + 1..])
    } else {
        // Lenient: a bare address up to the first space.
        match rest.split_once(' ') {
            Some((path, params)) => (path, params),
            None => (rest, ""),
        }
    };
    if path.contains(char::is_whitespace) {
        return None;
    }
    // An obsolete source route, `@a,@b:user@host`, is dropped.
    let path = match path.strip_prefix('@') {
        Some(routed) => routed.split_once(':')?.1,
        None => path,
    };
    Some((path.to_owned(), params.split_whitespace().collect()))
}

fn mail(config: &SinkConfig, session: &mut Session, args: &str) -> (u16, String) {
    if session.client.is_none() {
        return (503, "bad sequence of commands: EHLO/HELO first".into());
    }
    if session.from.is_some() {
        return (
            503,
            "bad sequence of commands: a transaction is open".into(),
        );
    }
    let Some((path, params)) = path_and_params(args, "FROM:") else {
        return (501, "syntax: MAIL FROM:<address> [parameters]".into());
    };
    for param in params {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        match name.to_ascii_uppercase().as_str() {
            "SIZE" => match value.parse::<u64>() {
                Ok(size) if size > config.max_message_size as u64 => {
                    return (552, "message exceeds fixed maximum message size".into());
                }
                Ok(_) => {}
                Err(_) => return (501, "SIZE takes a number of octets".into()),
            },
            "BODY"
                if value.eq_ignore_ascii_case("7BIT") || value.eq_ignore_ascii_case("8BITMIME") => {
            }
            _ => return (555, format!("parameter {param} not recognized")),
        }
    }
    session.from = Some(path.clone());
    (250, format!("OK: sender <{path}>"))
}

fn rcpt(config: &SinkConfig, session: &mut Session, args: &str) -> (u16, String) {
    if session.from.is_none() {
        return (503, "bad sequence of commands: MAIL first".into());
    }
    let Some((path, params)) = path_and_params(args, "TO:") else {
        return (501, "syntax: RCPT TO:<address>".into());
    };
    if let Some(param) = params.first() {
        return (555, format!("parameter {param} not recognized"));
    }
    if path.is_empty() {
        return (501, "an empty recipient is not allowed".into());
    }
    if session.recipients.len() >= config.max_recipients {
        return (452, "too many recipients".into());
    }
    session.recipients.push(path.clone());
    (250, format!("OK: recipient <{path}>"))
}

/// The header fields of a message: lower-cased names, first occurrence of
/// each, unfolded (the CRLF before a continuation line removed) and trimmed.
pub fn parse_headers(data: &str) -> BTreeMap<String, String> {
    let mut headers = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    let mut flush = |current: &mut Option<(String, String)>| {
        if let Some((name, value)) = current.take() {
            headers
                .entry(name)
                .or_insert_with(|| value.trim().to_owned());
        }
    };
    for line in data.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.as_mut() {
                value.push_str(line);
            }
            continue;
        }
        flush(&mut current);
        if let Some((name, value)) = line.split_once(':') {
            current = Some((name.trim().to_ascii_lowercase(), value.to_owned()));
        }
    }
    flush(&mut current);
    headers
}

/// Decodes the RFC 2047 encoded words (`=?charset?B|Q?text?=`) of a header
/// value; the white space between two adjacent encoded words is dropped.
/// UTF-8, US-ASCII and ISO-8859-1 are understood; a word in another charset
/// or malformed is kept as it is.
pub fn decode_encoded_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    // The bytes of adjacent encoded words in the same charset are decoded
    // together, in case a character is split between two words.
    let mut pending: Option<(String, Vec<u8>)> = None;
    let flush = |pending: &mut Option<(String, Vec<u8>)>, out: &mut String| {
        if let Some((charset, bytes)) = pending.take() {
            out.push_str(&decode_charset(&charset, &bytes));
        }
    };
    while let Some(start) = rest.find("=?") {
        let (before, word) = rest.split_at(start);
        match encoded_word(word) {
            Some((charset, bytes, used)) => {
                let adjacent = pending.is_some() && before.chars().all(char::is_whitespace);
                if !adjacent {
                    flush(&mut pending, &mut out);
                    out.push_str(before);
                }
                match pending.as_mut() {
                    Some((open, buffered)) if *open == charset => buffered.extend(bytes),
                    _ => {
                        flush(&mut pending, &mut out);
                        pending = Some((charset, bytes));
                    }
                }
                rest = &word[used..];
            }
            None => {
                flush(&mut pending, &mut out);
                out.push_str(before);
                out.push_str("=?");
                rest = &word[2..];
            }
        }
    }
    flush(&mut pending, &mut out);
    out.push_str(rest);
    out
}

/// Parses one encoded word at the start of `word`: its lower-cased charset,
/// its decoded bytes and its length. `None` when it is not one this sink
/// understands.
fn encoded_word(word: &str) -> Option<(String, Vec<u8>, usize)> {
    let inner = word.strip_prefix("=?")?;
    let (charset, rest) = inner.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let text = &rest[..end];
    if text.contains(char::is_whitespace) {
        return None;
    }
    // RFC 2231 adds `*language` to the charset.
    let charset = charset.split('*').next()?.to_ascii_lowercase();
    if !matches!(
        charset.as_str(),
        "utf-8" | "utf8" | "us-ascii" | "iso-8859-1" | "latin1"
    ) {
        return None;
    }
    let bytes = match encoding {
        "B" | "b" => base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .ok()?,
        "Q" | "q" => decode_q(text)?,
        _ => return None,
    };
    // `rest` is a tail of `word`: the word ends two bytes after the text.
    let used = word.len() - rest.len() + end + 2;
    Some((charset, bytes, used))
}

/// The `Q` encoding: `_` is a space, `=XX` a byte in hex.
fn decode_q(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

fn decode_charset(charset: &str, bytes: &[u8]) -> String {
    match charset {
        "iso-8859-1" | "latin1" => bytes.iter().map(|&b| char::from(b)).collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_unfolded_lowercased_first_wins() {
        let data = "Subject: hello\r\n  world\r\nX-A: 1\r\nx-a: 2\r\nMessage-ID: <m1@x>\r\n\r\nBody: no\r\n";
        let headers = parse_headers(data);
        assert_eq!(headers["subject"], "hello  world");
        assert_eq!(headers["x-a"], "1");
        assert_eq!(headers["message-id"], "<m1@x>");
        assert!(!headers.contains_key("body"));
        let message = ReceivedMessage::parse("a@x".into(), vec!["b@y".into()], data.into());
        assert_eq!(message.message_id.as_deref(), Some("m1@x"));
        assert_eq!(message.body(), "Body: no\r\n");
        assert_eq!(message.header("X-A"), Some("1"));
    }

    #[test]
    fn encoded_words_decode() {
        assert_eq!(decode_encoded_words("plain"), "plain");
        assert_eq!(decode_encoded_words("=?utf-8?b?SMOpbGxv?="), "Héllo");
        assert_eq!(
            decode_encoded_words("=?UTF-8?Q?caf=C3=A9_au_lait?= ok"),
            "café au lait ok"
        );
        // Adjacent words join, a character split between them survives.
        assert_eq!(
            decode_encoded_words("=?utf-8?b?SMM=?= =?utf-8?b?qWxsbw==?="),
            "Héllo"
        );
        assert_eq!(
            decode_encoded_words("a =?x-unknown?q?z?= b"),
            "a =?x-unknown?q?z?= b"
        );
        assert_eq!(decode_encoded_words("=?iso-8859-1?q?=E9t=E9?="), "été");
    }

    #[test]
    fn paths_parse() {
        assert_eq!(
            path_and_params("FROM:<a@x> BODY=8BITMIME SIZE=10", "FROM:"),
            Some(("a@x".to_owned(), vec!["BODY=8BITMIME", "SIZE=10"]))
        );
        assert_eq!(
            path_and_params("from: <>", "FROM:"),
            Some((String::new(), vec![]))
        );
        assert_eq!(
            path_and_params("TO:<@relay:b@y>", "TO:"),
            Some(("b@y".to_owned(), vec![]))
        );
        assert_eq!(path_and_params("TO:<b@y", "TO:"), None);
        assert_eq!(path_and_params("FROM <a@x>", "FROM:"), None);
    }

    #[tokio::test]
    async fn long_lines_are_refused_and_skipped() {
        let input: &[u8] = b"short\r\nthis line is far too long\r\nnext\r\npartial";
        let mut reader = BufReader::with_capacity(4, input);
        assert_eq!(
            read_line(&mut reader, 10).await.unwrap(),
            Line::Text(b"short\r\n".to_vec())
        );
        assert_eq!(read_line(&mut reader, 10).await.unwrap(), Line::TooLong);
        assert_eq!(
            read_line(&mut reader, 10).await.unwrap(),
            Line::Text(b"next\r\n".to_vec())
        );
        assert_eq!(read_line(&mut reader, 10).await.unwrap(), Line::Eof);
    }
}
