//! `pw_identity::mail` against a real SMTP server: the aiosmtpd sink that `scripts/test.sh`
//! starts (STARTTLS, implicit TLS and a plain port, its own CA, one test account). Checks
//! delivery with TLS and AUTH, that trust comes only from the configured CA or the platform
//! roots, that wrong credentials and a server without STARTTLS stop the message before it is
//! sent, and that non-ASCII text survives. Each test sends to its own recipient, so tests can
//! share the sink; the "nothing delivered" checks look for that recipient only.
#![expect(
    clippy::panic,
    reason = "a missing sink fails the test with how to start it"
)]

use std::time::Duration;

use pw_credentials::SecretString;
use pw_identity::mail::{Mail, MailError, SmtpConfig, SmtpSecurity, send_mail, validate_ca_pem};
use pw_testkit::smtp::{SmtpSink, unique_recipient};

/// How long a delivered message may take to show up, and how long to wait before
/// concluding that nothing arrived.
const ARRIVAL: Duration = Duration::from_secs(10);
const NOTHING: Duration = Duration::from_millis(500);

fn sink() -> SmtpSink {
    SmtpSink::from_env().unwrap_or_else(|e| panic!("{e}"))
}

fn config(sink: &SmtpSink, security: SmtpSecurity, port: u16) -> SmtpConfig {
    SmtpConfig {
        host: sink.host().to_owned(),
        port,
        connect_to: vec![
            sink.host()
                .parse()
                .unwrap_or_else(|e| panic!("the sink's host is not an address: {e}")),
        ],
        security,
        username: Some(sink.user().to_owned()),
        password: Some(SecretString::new(sink.password().to_owned())),
        from_name: "printwarden tests".to_owned(),
        from_address: "farm@printwarden.test".to_owned(),
        ca_cert_pem: Some(sink.ca_pem().to_owned()),
        timeout: Duration::from_secs(10),
    }
}

fn mail(to: &str) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: "Printer P1S-03 finished".to_owned(),
        text: "The job cube.3mf finished.\nSecond line.".to_owned(),
        html: Some("<p>The job <b>cube.3mf</b> finished.</p>".to_owned()),
    }
}

async fn assert_nothing_for(sink: &SmtpSink, to: &str) {
    assert!(
        sink.wait_for(to, NOTHING).await.is_none(),
        "a message for {to} reached the sink"
    );
}

fn assert_no_password(sink: &SmtpSink, err: &MailError) {
    let shown = format!("{err} / {err:?}");
    assert!(
        !shown.contains(sink.password()),
        "the password leaked: {shown}"
    );
}

#[tokio::test]
async fn starttls_with_the_sink_ca_and_auth_delivers() {
    let sink = sink();
    let to = unique_recipient("starttls");
    let reply = send_mail(
        &config(&sink, SmtpSecurity::StartTls, sink.starttls_port()),
        &mail(&to),
    )
    .await
    .unwrap();
    assert!(reply.starts_with("250"), "{reply}");

    let got = sink.wait_for(&to, ARRIVAL).await.expect("delivered");
    assert!(got.tls, "{got:?}");
    assert_eq!(got.auth.as_deref(), Some(sink.user()));
    assert_eq!(got.mail_from, "farm@printwarden.test");
    assert_eq!(got.rcpt_tos, vec![to.clone()]);
    assert_eq!(got.subject.as_deref(), Some("Printer P1S-03 finished"));
    assert_eq!(
        got.from.as_deref(),
        Some("printwarden tests <farm@printwarden.test>")
    );
    assert_eq!(
        got.text.as_deref().map(str::trim_end),
        Some("The job cube.3mf finished.\nSecond line.")
    );
    assert_eq!(
        got.html.as_deref().map(str::trim_end),
        Some("<p>The job <b>cube.3mf</b> finished.</p>")
    );
    assert!(
        got.header("content-type")
            .unwrap()
            .starts_with("multipart/alternative"),
        "{got:?}"
    );
    let id = got.header("message-id").expect("a Message-ID");
    assert!(id.ends_with("@printwarden.test>"), "{id}");
    assert!(got.header("date").is_some(), "{got:?}");
    assert_eq!(sink.all_for(&to).len(), 1);
}

#[tokio::test]
async fn implicit_tls_delivers() {
    let sink = sink();
    let to = unique_recipient("implicit-tls");
    let reply = send_mail(
        &config(&sink, SmtpSecurity::Tls, sink.tls_port()),
        &mail(&to),
    )
    .await
    .unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    let got = sink.wait_for(&to, ARRIVAL).await.expect("delivered");
    assert!(got.tls);
    assert_eq!(got.auth.as_deref(), Some(sink.user()));
    assert_eq!(got.subject.as_deref(), Some("Printer P1S-03 finished"));
}

#[tokio::test]
async fn without_auth_the_sink_still_accepts() {
    let sink = sink();
    let to = unique_recipient("no-auth");
    let mut c = config(&sink, SmtpSecurity::StartTls, sink.starttls_port());
    c.username = None;
    c.password = None;
    let mut m = mail(&to);
    m.html = None;
    send_mail(&c, &m).await.unwrap();
    let got = sink.wait_for(&to, ARRIVAL).await.expect("delivered");
    assert!(got.tls);
    assert_eq!(got.auth, None);
    assert_eq!(got.html, None);
    assert!(
        got.header("content-type")
            .unwrap()
            .starts_with("text/plain"),
        "{got:?}"
    );
}

#[tokio::test]
async fn without_a_configured_ca_the_sink_is_not_trusted() {
    let sink = sink();
    for (security, port) in [
        (SmtpSecurity::StartTls, sink.starttls_port()),
        (SmtpSecurity::Tls, sink.tls_port()),
    ] {
        let to = unique_recipient("untrusted");
        let mut c = config(&sink, security, port);
        c.ca_cert_pem = None; // the platform's roots, which do not know the sink's CA
        let err = send_mail(&c, &mail(&to)).await.unwrap_err();
        assert!(
            matches!(err, MailError::Certificate(_)),
            "{security:?}: {err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("the server's certificate is not trusted"),
            "{err}"
        );
        assert_no_password(&sink, &err);
        assert_nothing_for(&sink, &to).await;
    }
}

#[tokio::test]
async fn another_ca_is_not_trusted_either() {
    let sink = sink();
    let to = unique_recipient("other-ca");
    let mut c = config(&sink, SmtpSecurity::Tls, sink.tls_port());
    // A valid CA certificate that did not sign the sink's: the configured CA replaces the
    // roots, so nothing else may vouch for the server.
    c.ca_cert_pem = Some(OTHER_CA.to_owned());
    let err = send_mail(&c, &mail(&to)).await.unwrap_err();
    assert!(matches!(err, MailError::Certificate(_)), "{err:?}");
    assert!(err.to_string().contains("configured CA"), "{err}");
    assert_nothing_for(&sink, &to).await;
}

#[test]
fn ca_pem_validation_accepts_real_cas() {
    validate_ca_pem(sink().ca_pem()).unwrap();
    validate_ca_pem(OTHER_CA).unwrap();
    let both = format!("{}{OTHER_CA}", sink().ca_pem());
    validate_ca_pem(&both).unwrap();
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_error_and_nothing_is_sent() {
    let sink = sink();
    let to = unique_recipient("wrong-password");
    let mut c = config(&sink, SmtpSecurity::StartTls, sink.starttls_port());
    let wrong = format!("{}-wrong", sink.password());
    c.password = Some(SecretString::new(wrong.clone()));
    let err = send_mail(&c, &mail(&to)).await.unwrap_err();
    assert!(matches!(err, MailError::Auth(_)), "{err:?}");
    let shown = err.to_string();
    assert!(shown.starts_with("authentication failed (535"), "{shown}");
    assert!(
        !shown.contains(&wrong) && !format!("{err:?}").contains(&wrong),
        "{shown}"
    );
    assert_nothing_for(&sink, &to).await;
}

#[tokio::test]
async fn starttls_never_falls_back_to_plaintext() {
    let sink = sink();
    let to = unique_recipient("no-starttls");
    let c = config(&sink, SmtpSecurity::StartTls, sink.plain_port());
    let err = send_mail(&c, &mail(&to)).await.unwrap_err();
    assert!(matches!(err, MailError::Tls(_)), "{err:?}");
    assert!(err.to_string().contains("does not offer STARTTLS"), "{err}");
    assert_no_password(&sink, &err);
    assert_nothing_for(&sink, &to).await;
}

#[tokio::test]
async fn implicit_tls_against_a_plaintext_port_fails_without_sending() {
    let sink = sink();
    let to = unique_recipient("tls-on-plain");
    let err = send_mail(
        &config(&sink, SmtpSecurity::Tls, sink.plain_port()),
        &mail(&to),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, MailError::Connect(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        MailError::unreachable(sink.host(), sink.plain_port()).to_string(),
        "no SMTP server was reached over TLS: the generic answer"
    );
    assert_nothing_for(&sink, &to).await;
}

#[tokio::test]
async fn plaintext_when_allowed_delivers_without_tls() {
    let sink = sink();
    let to = unique_recipient("plain");
    let mut c = config(&sink, SmtpSecurity::None, sink.plain_port());
    c.username = None;
    c.password = None;
    let reply = send_mail(&c, &mail(&to)).await.unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    let got = sink.wait_for(&to, ARRIVAL).await.expect("delivered");
    assert!(!got.tls, "{got:?}");
    assert_eq!(got.auth, None);
}

#[tokio::test]
async fn plaintext_with_credentials_on_a_server_without_auth_is_an_auth_error() {
    let sink = sink();
    let to = unique_recipient("plain-auth");
    let err = send_mail(
        &config(&sink, SmtpSecurity::None, sink.plain_port()),
        &mail(&to),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, MailError::Auth(_)), "{err:?}");
    assert_nothing_for(&sink, &to).await;
}

#[tokio::test]
async fn a_bad_recipient_is_an_address_error() {
    let sink = sink();
    for bad in [
        "not an address",
        "bob@",
        "",
        "a@b\r\nRCPT TO:<evil@example.net>",
    ] {
        let err = send_mail(
            &config(&sink, SmtpSecurity::StartTls, sink.starttls_port()),
            &mail(bad),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, MailError::Address(_)), "{bad:?}: {err:?}");
    }
}

#[tokio::test]
async fn non_ascii_subject_and_body_round_trip() {
    let sink = sink();
    let to = unique_recipient("utf8");
    let mut m = mail(&to);
    m.subject = "Grüße – 3D".to_owned();
    m.text = "Grüße – 3D\nDrucker „Ender“ ist fertig: 100 %".to_owned();
    m.html = Some("<p>Grüße – 3D</p>".to_owned());
    let mut c = config(&sink, SmtpSecurity::StartTls, sink.starttls_port());
    c.from_name = "Druckfarm Müller".to_owned();
    send_mail(&c, &m).await.unwrap();
    let got = sink.wait_for(&to, ARRIVAL).await.expect("delivered");
    assert_eq!(got.subject.as_deref(), Some("Grüße – 3D"));
    assert_eq!(
        got.text.as_deref().map(str::trim_end),
        Some("Grüße – 3D\nDrucker „Ender“ ist fertig: 100 %")
    );
    assert_eq!(
        got.html.as_deref().map(str::trim_end),
        Some("<p>Grüße – 3D</p>")
    );
    assert_eq!(
        got.from.as_deref(),
        Some("Druckfarm Müller <farm@printwarden.test>")
    );
}

/// Closed, silent, not an SMTP server: one answer, so the test mail is no port scanner (audit
/// finding 2). The causes go to the log.
#[tokio::test]
async fn every_way_of_not_reaching_a_server_reads_the_same() {
    let sink = sink();
    // Bind and drop: the port was just free, so nothing listens there now.
    let closed = {
        let l = std::net::TcpListener::bind((sink.host(), 0)).unwrap();
        l.local_addr().unwrap().port()
    };
    // Accepts and never says a word.
    let silent = tokio::net::TcpListener::bind((sink.host(), 0))
        .await
        .unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    // Speaks, but not SMTP.
    let http = tokio::net::TcpListener::bind((sink.host(), 0))
        .await
        .unwrap();
    let http_port = http.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt as _;
        while let Ok((mut s, _)) = http.accept().await {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    for (port, security) in [
        (closed, SmtpSecurity::StartTls),
        (silent_port, SmtpSecurity::StartTls),
        (silent_port, SmtpSecurity::Tls),
        (http_port, SmtpSecurity::StartTls),
        (http_port, SmtpSecurity::Tls),
    ] {
        let mut c = config(&sink, security, port);
        c.timeout = Duration::from_millis(700);
        let err = send_mail(&c, &mail(&unique_recipient("unreachable")))
            .await
            .unwrap_err();
        assert!(matches!(err, MailError::Connect(_)), "{port}: {err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "could not reach a mail server at {}:{port}; check the server, port and \
                 connection security (a mail server on your own network must also be on the \
                 allowed private hosts, Settings → Security)",
                sink.host()
            ),
            "{security:?}"
        );
    }
    // The check is live: the same settings on the sink's port get through.
    let c = config(&sink, SmtpSecurity::StartTls, sink.starttls_port());
    send_mail(&c, &mail(&unique_recipient("reached")))
        .await
        .unwrap();
}

#[tokio::test]
async fn without_a_checked_address_nothing_is_attempted() {
    let sink = sink();
    let mut c = config(&sink, SmtpSecurity::StartTls, sink.starttls_port());
    c.connect_to.clear();
    let err = send_mail(&c, &mail(&unique_recipient("unchecked")))
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Config(_)), "{err:?}");
}

/// A self-signed CA (P-256, `openssl req -x509`, valid until 2126) that has nothing to do with
/// the sink; its key was thrown away.
const OTHER_CA: &str = "-----BEGIN CERTIFICATE-----
MIIB1zCCAX2gAwIBAgIURecxLXfkrPV0+B+Zj8V8yUQ/KO8wCgYIKoZIzj0EAwIw
ODEaMBgGA1UEAwwRdW5yZWxhdGVkIHRlc3QgQ0ExGjAYBgNVBAoMEXByaW50d2Fy
ZGVuIHRlc3RzMCAXDTI2MTEzMDExMjIwM1oYDzIxMjYxMTA2MTEyMjAzWjA4MRow
GAYDVQQDDBF1bnJlbGF0ZWQgdGVzdCBDQTEaMBgGA1UECgwRcHJpbnR3YXJkZW4g
dGVzdHMwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATR0rtORZ0vo6l9dOo+m4ug
3aGCLYNOtjpEQSlkNU3/b67c1nqFiuexXae2LosndRekUWP2xiTcUWhB/LsxjR0Q
o2MwYTAdBgNVHQ4EFgQU8XtaoQpBQSRXdlbEKC9E8ENfxiQwHwYDVR0jBBgwFoAU
8XtaoQpBQSRXdlbEKC9E8ENfxiQwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8E
BAMCAQYwCgYIKoZIzj0EAwIDSAAwRQIgIO7q6fau5lOa02FdSzOl56V2ibzp6B9u
TiIm5C/SwfICIQDzAvRdl9XGXE4VAAvkbikZo514F3D9VmN8erAody4+Sw==
-----END CERTIFICATE-----
";
