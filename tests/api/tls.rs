//! TLS and mutual TLS on the gRPC port (`--tls-cert`, `--tls-key`, `--tls-client-ca`), with a
//! certificate authority, a server and clients made on the spot.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use feedbackd::config::Config;
use feedbackd::domain::clock::SystemClock;
use feedbackd::server::RunningServer;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::both;
use crate::support::{Backend, TestDb};

both!(
    tls_serves_only_clients_that_speak_it,
    mutual_tls_serves_only_clients_with_a_certificate_of_its_authority
);

/// A certificate and its key, in PEM.
struct Pem {
    cert: String,
    key: String,
}

/// A certificate authority, and what it signs: a certificate for `localhost` or a client's.
struct Authority(CertifiedIssuer<'static, KeyPair>);

impl Authority {
    fn new(name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        Authority(CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap())
    }

    fn sign(&self, name: &str, usage: ExtendedKeyUsagePurpose) -> Pem {
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.0).unwrap();
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn pem(&self) -> String {
        self.0.pem()
    }
}

/// A server on `backend` over TLS with the certificate `server`, requiring clients signed by
/// `clients` when given. (Not a `TestServer`: that connects a plaintext client.)
async fn start(
    backend: Backend,
    dir: &Path,
    server: &Pem,
    clients: Option<&Authority>,
) -> (RunningServer, TestDb) {
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let db = TestDb::new(backend).await;
    let mut config = Config::with_database(db.url.clone());
    config.tls_cert = Some(write("server.pem", &server.cert));
    config.tls_key = Some(write("server.key", &server.key));
    config.tls_client_ca = clients.map(|ca| write("clients.pem", &ca.pem()));
    config.admin_key_file = Some(db.admin_key_file());
    let running = RunningServer::start_with_clock(config, Arc::new(SystemClock))
        .await
        .expect("server starts");
    (running, db)
}

/// A call over a channel to `s` trusting `ca`, with `identity` if given; a refused
/// handshake may show as a call that never gets its answer, so it has 5 s.
async fn call(s: &RunningServer, ca: &Authority, identity: Option<&Pem>) -> Result<(), String> {
    match tokio::time::timeout(Duration::from_secs(5), try_call(s, ca, identity)).await {
        Ok(result) => result,
        Err(_) => Err("no answer in 5 s".into()),
    }
}

async fn try_call(s: &RunningServer, ca: &Authority, identity: Option<&Pem>) -> Result<(), String> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca.pem()))
        .domain_name("localhost");
    if let Some(pem) = identity {
        tls = tls.identity(Identity::from_pem(&pem.cert, &pem.key));
    }
    let channel = Endpoint::from_shared(format!("https://localhost:{}", s.addr.port()))
        .unwrap()
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    check(channel).await
}

/// A health check: the call that needs no credentials, so only the transport decides.
async fn check(channel: Channel) -> Result<(), String> {
    tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .map(drop)
        .map_err(|status| format!("{status:?}"))
}

/// A call in plaintext.
async fn plaintext(s: &RunningServer) -> Result<(), String> {
    let attempt = async {
        match Endpoint::from_shared(s.url()).unwrap().connect().await {
            Ok(channel) => check(channel).await,
            Err(e) => Err(format!("connect: {e:?}")),
        }
    };
    tokio::time::timeout(Duration::from_secs(5), attempt)
        .await
        .unwrap_or_else(|_| Err("no answer in 5 s".into()))
}

async fn tls_serves_only_clients_that_speak_it(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::new("feedbackd test CA");
    let server = ca.sign("localhost", ExtendedKeyUsagePurpose::ServerAuth);
    let (s, _db) = start(backend, dir.path(), &server, None).await;
    call(&s, &ca, None).await.expect("a TLS client is served");
    assert!(plaintext(&s).await.is_err(), "plaintext is not served");
    let stranger = Authority::new("another CA");
    assert!(
        call(&s, &stranger, None).await.is_err(),
        "a client that does not trust the server's CA does not connect"
    );
    s.shutdown().await.expect("clean shutdown");
}

async fn mutual_tls_serves_only_clients_with_a_certificate_of_its_authority(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::new("feedbackd test CA");
    let server = ca.sign("localhost", ExtendedKeyUsagePurpose::ServerAuth);
    let (s, _db) = start(backend, dir.path(), &server, Some(&ca)).await;
    let desk = ca.sign("agent-desktop", ExtendedKeyUsagePurpose::ClientAuth);
    call(&s, &ca, Some(&desk))
        .await
        .expect("a client with a certificate of the CA is served");
    let refused = call(&s, &ca, None).await;
    assert!(
        refused.is_err(),
        "a client without a certificate is refused"
    );
    let forged =
        Authority::new("another CA").sign("agent-desktop", ExtendedKeyUsagePurpose::ClientAuth);
    let refused = call(&s, &ca, Some(&forged)).await;
    assert!(refused.is_err(), "a certificate of another CA is refused");
    s.shutdown().await.expect("clean shutdown");
}
