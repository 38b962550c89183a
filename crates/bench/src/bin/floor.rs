//! The benchmark floor: the barest HTTPS "hello" server this stack can make (hyper + rustls
//! with ring, a self-signed certificate, no middleware). `scripts/bench.sh` measures
//! `/healthz` against it, so the ratio shows what printwarden's own layers cost.
//!
//! Prints `LISTENING 127.0.0.1:PORT` once it accepts connections; stops on Ctrl-C/SIGTERM.
#![expect(
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark fixture, not a request path"
)]

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;

#[tokio::main]
async fn main() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("certificate");
    // The server's TLS set-up (`printwarden::tls::server_config_from_pem`): ring, TLS 1.3 and
    // 1.2, ALPN h2 then http/1.1. Repeated here so this crate does not depend on the server.
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).expect("key");
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .expect("TLS config");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let config = Arc::new(config);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    println!("LISTENING {}", listener.local_addr().expect("address"));
    let serve = async {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service =
                    hyper::service::service_fn(|_req: Request<hyper::body::Incoming>| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
                    });
                let _ = Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    };
    tokio::select! {
        () = serve => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
