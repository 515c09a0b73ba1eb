//! The HTTPS listener's limits against a real listener on port 0: a client that never
//! finishes its headers (slowloris) or never says anything is disconnected, and
//! connections over the per-address cap are closed while the admitted one still works.

use axum::Router;
use axum::routing::get;
use mailward_net::HttpLimits;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Far longer than any limit below: only a server that never closes hits it.
const DEADLINE: Duration = Duration::from_secs(20);

struct Server {
    addr: SocketAddr,
    connector: TlsConnector,
    _dir: tempfile::TempDir,
}

async fn start(limits: HttpLimits) -> Server {
    mailward_net::install_crypto_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = mailward_net::ca::ensure(dir.path(), &[], mailward_types::clock::now()).expect("ca");
    let tls = mailward_net::server_config(&ca.server_cert, &ca.server_key).expect("tls");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = Router::new().route("/", get(|| async { "hello" }));
    tokio::spawn(mailward_net::serve_https_with(
        listener,
        tls,
        router,
        limits,
        std::future::pending(),
    ));
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&ca.ca_cert).expect("ca pem");
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.expect("cert")).expect("root");
    }
    let mut cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Server {
        addr,
        connector: TlsConnector::from(Arc::new(cfg)),
        _dir: dir,
    }
}

impl Server {
    async fn tls(&self) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr).await?;
        let name = ServerName::try_from("localhost").expect("name");
        self.connector.connect(name, tcp).await
    }
}

/// Reads until the server closes; panics if it has not within [`DEADLINE`].
async fn until_closed(s: &mut TlsStream<TcpStream>) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(DEADLINE, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server must close the connection");
    got
}

async fn get_root(s: &mut TlsStream<TcpStream>) -> String {
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    String::from_utf8_lossy(&until_closed(s).await).into_owned()
}

#[tokio::test]
async fn unfinished_headers_and_silent_connections_are_closed() {
    let server = start(HttpLimits {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(300),
        ..HttpLimits::default()
    })
    .await;
    // Slowloris: a request line and one header, never the blank line.
    let mut slow = server.tls().await.expect("handshake");
    slow.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .expect("send");
    let answer = until_closed(&mut slow).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("hello"),
        "{answer:?}"
    );
    // Nothing at all after the handshake.
    let mut silent = server.tls().await.expect("handshake");
    until_closed(&mut silent).await;
    // A complete request is still served.
    let mut ok = server.tls().await.expect("handshake");
    let answer = get_root(&mut ok).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_closed() {
    let server = start(HttpLimits {
        max_connections_per_address: 2,
        ..HttpLimits::default()
    })
    .await;
    let mut first = server.tls().await.expect("first");
    let _second = server.tls().await.expect("second");
    // The third gets no handshake.
    assert!(server.tls().await.is_err());
    let answer = get_root(&mut first).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The first connection's slot is free again once it closed: a new one is served. The
    // server frees the slot when its task ends, so retry until it has.
    let fourth = tokio::time::timeout(DEADLINE, async {
        loop {
            if let Ok(s) = server.tls().await {
                return s;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("a slot frees up");
    let mut fourth = fourth;
    let answer = get_root(&mut fourth).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
