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
    printwarden::install_crypto_provider();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("certificate");
    let config = printwarden::tls::server_config_from_pem(
        cert.cert.pem().as_bytes(),
        cert.signing_key.serialize_pem().as_bytes(),
    )
    .expect("TLS config");
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
