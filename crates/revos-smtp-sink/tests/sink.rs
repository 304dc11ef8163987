//! The sink against a real client (lettre) and against raw protocol
//! sessions over a TCP stream.

use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use revos_smtp_sink::{SinkConfig, SmtpSink};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn transport(sink: &SmtpSink) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(sink.addr().port())
        .timeout(Some(Duration::from_secs(5)))
        .build()
}

fn mailbox(text: &str) -> Mailbox {
    text.parse().expect("a valid mailbox")
}

#[tokio::test]
async fn lettre_delivers_multi_recipient_dot_stuffed_utf8_message() {
    let sink = SmtpSink::start().await.unwrap();
    assert_eq!(
        sink.url(),
        format!("smtp://127.0.0.1:{}", sink.addr().port())
    );
    let body = "Grüße aus Köln — ☃\r\n. leading dot\r\n..two dots\r\n.\r\nlast line\r\n";
    let message = Message::builder()
        .from(mailbox("revos <no-reply@localhost>"))
        .to(mailbox("Ann <ann@example.com>"))
        .to(mailbox("bob@example.com"))
        .cc(mailbox("carol@example.com"))
        .subject("Résumé ready ✓")
        .message_id(Some("<m-1@revos.local>".to_owned()))
        .header(ContentType::TEXT_PLAIN)
        .body(Body::new_with_encoding(body.to_owned(), ContentTransferEncoding::EightBit).unwrap())
        .unwrap();
    transport(&sink).send(message).await.unwrap();

    let messages = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(messages.len(), 1);
    let got = &messages[0];
    assert_eq!(got.from, "no-reply@localhost");
    assert_eq!(
        got.to,
        vec!["ann@example.com", "bob@example.com", "carol@example.com"]
    );
    assert_eq!(got.subject.as_deref(), Some("Résumé ready ✓"));
    assert_eq!(got.message_id.as_deref(), Some("m-1@revos.local"));
    assert_eq!(got.headers["message-id"], "<m-1@revos.local>");
    assert!(got.headers["from"].contains("no-reply@localhost"));
    assert!(got.headers.contains_key("date"));
    assert_eq!(got.header("content-transfer-encoding"), Some("8bit"));
    // Sent dot-stuffed by lettre, unstuffed by the sink: the body as given
    // (lettre ends the data with its own CRLF before the final dot).
    assert_eq!(got.body(), format!("{body}\r\n"), "raw data: {}", got.data);
}

#[tokio::test]
async fn several_messages_over_one_pooled_connection() {
    let sink = SmtpSink::start().await.unwrap();
    let mailer = transport(&sink);
    for i in 0..3 {
        let message = Message::builder()
            .from(mailbox("a@localhost"))
            .to(mailbox("b@localhost"))
            .subject(format!("n{i}"))
            .body(format!("message {i}\r\n"))
            .unwrap();
        mailer.send(message).await.unwrap();
    }
    let got = sink.wait_for(3, Duration::from_secs(5)).await;
    let subjects: Vec<_> = got.iter().map(|m| m.subject.clone().unwrap()).collect();
    assert_eq!(subjects, ["n0", "n1", "n2"]);
    sink.clear();
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn wait_for_times_out_with_what_arrived() {
    let sink = SmtpSink::start().await.unwrap();
    let waiter = {
        let sink = sink.clone();
        tokio::spawn(async move { sink.wait_for(1, Duration::from_millis(100)).await })
    };
    assert!(waiter.await.unwrap().is_empty());
}

#[tokio::test]
async fn injected_failures_are_transient_and_not_stored() {
    let sink = SmtpSink::start().await.unwrap();
    sink.fail_next_data(2, 451);
    let mailer = transport(&sink);
    let message = || {
        Message::builder()
            .from(mailbox("a@localhost"))
            .to(mailbox("b@localhost"))
            .subject("retry me")
            .body("hello\r\n".to_owned())
            .unwrap()
    };
    for _ in 0..2 {
        let err = mailer.send(message()).await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        assert_eq!(err.status().map(u16::from), Some(451));
    }
    assert!(sink.messages().is_empty());
    mailer.send(message()).await.unwrap();
    assert_eq!(sink.wait_for(1, Duration::from_secs(5)).await.len(), 1);

    sink.fail_next_data(1, 554);
    let err = mailer.send(message()).await.unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(sink.messages().len(), 1);
}

/// A raw SMTP client: sends lines, reads whole (multi-line) replies.
struct Raw {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    async fn connect(sink: &SmtpSink) -> Raw {
        let stream = TcpStream::connect(sink.addr()).await.unwrap();
        let (reader, writer) = stream.into_split();
        let mut raw = Raw {
            reader: BufReader::new(reader),
            writer,
        };
        let greeting = raw.reply().await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        raw
    }

    async fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).await.unwrap();
    }

    /// The full reply text; the code is the first three characters.
    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(5), self.reader.read_line(&mut line))
                .await
                .expect("a reply in time")
                .unwrap();
            assert!(n > 0, "connection closed; got so far: {all}");
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> u16 {
        self.send(&format!("{line}\r\n")).await;
        let reply = self.reply().await;
        reply[..3].parse().unwrap()
    }
}

#[tokio::test]
async fn protocol_errors_and_order() {
    let sink = SmtpSink::start().await.unwrap();
    let mut c = Raw::connect(&sink).await;
    assert_eq!(c.cmd("MAIL FROM:<a@x>").await, 503, "MAIL before EHLO");
    assert_eq!(c.cmd("FROBNICATE").await, 500);
    assert_eq!(c.cmd("").await, 500);
    assert_eq!(c.cmd("EHLO").await, 501);
    c.send("EHLO client.test\r\n").await;
    let ehlo = c.reply().await;
    assert!(ehlo.contains("250-8BITMIME"), "{ehlo}");
    assert!(ehlo.contains("SIZE 10485760"), "{ehlo}");
    assert!(ehlo.contains("PIPELINING"), "{ehlo}");
    assert!(
        !ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"),
        "{ehlo}"
    );
    assert_eq!(c.cmd("RCPT TO:<b@y>").await, 503, "RCPT before MAIL");
    assert_eq!(c.cmd("DATA").await, 503, "DATA before MAIL");
    assert_eq!(c.cmd("MAIL FROM:a@x").await, 250, "bare path accepted");
    assert_eq!(c.cmd("MAIL FROM:<a@x>").await, 503, "nested MAIL");
    assert_eq!(c.cmd("DATA").await, 503, "DATA before RCPT");
    assert_eq!(c.cmd("RCPT TO:<b@y").await, 501);
    assert_eq!(c.cmd("RCPT TO:<b@y> NOTIFY=NEVER").await, 555);
    assert_eq!(c.cmd("RSET").await, 250);
    assert_eq!(
        c.cmd("RCPT TO:<b@y>").await,
        503,
        "RSET closed the transaction"
    );
    assert_eq!(c.cmd("MAIL FROM:<a@x> SIZE=99999999999").await, 552);
    assert_eq!(c.cmd("MAIL FROM:<a@x> FOO=1").await, 555);
    assert_eq!(c.cmd("VRFY someone").await, 252);
    assert_eq!(c.cmd("NOOP").await, 250);
    assert_eq!(c.cmd("HELP").await, 214);
    let long = format!("NOOP {}", "x".repeat(2000));
    assert_eq!(c.cmd(&long).await, 500, "line too long");
    assert_eq!(c.cmd("NOOP").await, 250, "still in sync after a long line");
    assert_eq!(c.cmd("QUIT").await, 221);
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn raw_session_with_pipelining_and_dot_unstuffing() {
    let sink = SmtpSink::start().await.unwrap();
    let mut c = Raw::connect(&sink).await;
    assert_eq!(c.cmd("HELO client.test").await, 250);
    // Pipelined: everything up to DATA in one write, replies in order.
    c.send("MAIL FROM:<> BODY=8BITMIME\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@z>\r\nDATA\r\n")
        .await;
    for want in ["250", "250", "250", "354"] {
        let got = c.reply().await;
        assert!(got.starts_with(want), "want {want}, got {got}");
    }
    c.send(
        "Subject: =?utf-8?q?h=C3=A9?=\r\n =?utf-8?q?llo?=\r\nMessage-ID: <raw@x>\r\n\r\n..dot\r\n.\r\n",
    )
    .await;
    assert!(c.reply().await.starts_with("250"));
    let got = &sink.messages()[0];
    assert_eq!(got.from, "");
    assert_eq!(got.to, ["b@y", "c@z"]);
    assert_eq!(got.subject.as_deref(), Some("héllo"));
    assert_eq!(got.body(), ".dot\r\n");
    assert_eq!(c.cmd("DATA").await, 503, "the transaction ended");
}

#[tokio::test]
async fn size_and_line_limits_refuse_the_message() {
    let config = SinkConfig {
        max_message_size: 100,
        ..SinkConfig::default()
    };
    let sink = SmtpSink::start_with("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let mut c = Raw::connect(&sink).await;
    assert_eq!(c.cmd("EHLO client.test").await, 250);
    assert_eq!(c.cmd("MAIL FROM:<a@x>").await, 250);
    assert_eq!(c.cmd("RCPT TO:<b@y>").await, 250);
    assert_eq!(c.cmd("DATA").await, 354);
    for _ in 0..10 {
        c.send("0123456789012345678901234567890123456789\r\n").await;
    }
    assert_eq!(c.cmd(".").await, 552);
    assert_eq!(c.cmd("MAIL FROM:<a@x>").await, 250, "usable after 552");
    assert_eq!(c.cmd("RCPT TO:<b@y>").await, 250);
    assert_eq!(c.cmd("DATA").await, 354);
    c.send(&format!("{}\r\n", "y".repeat(1200))).await;
    assert_eq!(c.cmd(".").await, 500);
    assert!(sink.messages().is_empty());

    // Too many recipients.
    let small = SinkConfig {
        max_recipients: 2,
        ..SinkConfig::default()
    };
    let sink = SmtpSink::start_with("127.0.0.1:0".parse().unwrap(), small)
        .await
        .unwrap();
    let mut c = Raw::connect(&sink).await;
    assert_eq!(c.cmd("EHLO client.test").await, 250);
    assert_eq!(c.cmd("MAIL FROM:<a@x>").await, 250);
    assert_eq!(c.cmd("RCPT TO:<b@y>").await, 250);
    assert_eq!(c.cmd("RCPT TO:<c@y>").await, 250);
    assert_eq!(c.cmd("RCPT TO:<d@y>").await, 452);
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let sink = SmtpSink::start().await.unwrap();
    let mut c = Raw::connect(&sink).await;
    sink.shutdown();
    // The open connection is closed…
    let mut line = String::new();
    let n = tokio::time::timeout(Duration::from_secs(5), c.reader.read_line(&mut line))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0, "{line}");
    // …and no new one is served.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let refused = match TcpStream::connect(sink.addr()).await {
        Err(_) => true,
        Ok(stream) => {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            matches!(
                tokio::time::timeout(Duration::from_secs(2), reader.read_line(&mut line)).await,
                Ok(Ok(0)) | Ok(Err(_))
            )
        }
    };
    assert!(refused);
}
