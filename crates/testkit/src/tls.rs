//! Test certificates: a throw-away CA made with rcgen, and server and client certificates it
//! signs, written as PEM files into a temporary directory (what `server.ssl.*` and the SSL
//! bundles point at); clients that trust the CA and may present a certificate.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A certificate and its key on disk.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The PEM certificate.
    pub certificate: PathBuf,
    /// The PEM private key (PKCS#8).
    pub private_key: PathBuf,
}

impl CertFiles {
    /// `server.ssl.certificate` and `server.ssl.certificate-private-key` for this pair.
    pub fn server_ssl(&self) -> Vec<(String, String)> {
        vec![
            (
                "server.ssl.certificate".into(),
                self.certificate.display().to_string(),
            ),
            (
                "server.ssl.certificate-private-key".into(),
                self.private_key.display().to_string(),
            ),
        ]
    }

    /// The certificate and key as one PEM (what `reqwest::Identity::from_pem` takes).
    pub fn identity_pem(&self) -> Vec<u8> {
        let mut pem = std::fs::read(&self.certificate).expect("certificate readable");
        pem.extend(std::fs::read(&self.private_key).expect("key readable"));
        pem
    }
}

/// A certificate authority of a test, with the files it issued in its own temporary directory.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate (PEM), what clients and servers are told to trust.
    pub certificate: PathBuf,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("certificate", &self.certificate)
            .finish_non_exhaustive()
    }
}

impl TestCa {
    /// A new CA called `name`.
    pub fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let certificate = params.self_signed(&key).expect("CA certificate");
        let path = dir.path().join(format!("{name}-ca.pem"));
        std::fs::write(&path, certificate.pem()).expect("CA written");
        Self {
            issuer: Issuer::new(params, key),
            certificate: path,
            dir,
        }
    }

    /// The directory the files are written to.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A server certificate for `localhost` and `127.0.0.1`, written as `<file>.pem` and
    /// `<file>-key.pem` (overwriting earlier ones: a rotation).
    pub fn server(&self, file: &str) -> CertFiles {
        self.issue(file, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate with common name `file`.
    pub fn client(&self, file: &str) -> CertFiles {
        self.issue(file, ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn issue(&self, file: &str, usage: ExtendedKeyUsagePurpose) -> CertFiles {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("certificate parameters");
        params.distinguished_name.push(DnType::CommonName, file);
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().expect("key");
        let certificate = params.signed_by(&key, &self.issuer).expect("certificate");
        let files = CertFiles {
            certificate: self.dir.path().join(format!("{file}.pem")),
            private_key: self.dir.path().join(format!("{file}-key.pem")),
        };
        // Key first, certificate last, each through a rename: a watcher never reads half a file.
        write_atomically(&files.private_key, key.serialize_pem().as_bytes());
        write_atomically(&files.certificate, certificate.pem().as_bytes());
        files
    }

    /// The settings of a service in an all-TLS fleet of this CA: it serves https with a
    /// certificate of its own, asks callers for a client certificate (`client_auth`: `none`,
    /// `want` or `need`) checked against this CA, and its own clients (discovery, config,
    /// service calls) trust only this CA and present a client certificate of `name`.
    pub fn service_settings(&self, name: &str, client_auth: &str) -> Vec<(String, String)> {
        let server = self.server(name);
        let client = self.client(&format!("{name}-client"));
        let ca = self.certificate.display().to_string();
        let bundle = format!("spring.ssl.bundle.pem.{name}-client");
        let mut settings = server.server_ssl();
        settings.extend([
            ("server.ssl.client-auth".to_owned(), client_auth.to_owned()),
            ("server.ssl.trust-certificate".to_owned(), ca.clone()),
            (
                "factura.ssl.client.ssl-bundle".to_owned(),
                format!("{name}-client"),
            ),
            (
                format!("{bundle}.keystore.certificate"),
                client.certificate.display().to_string(),
            ),
            (
                format!("{bundle}.keystore.private-key"),
                client.private_key.display().to_string(),
            ),
            (format!("{bundle}.truststore.certificate"), ca),
        ]);
        settings
    }

    /// A client trusting only this CA (and presenting `identity` when given), HTTP/1.1 or h2
    /// by ALPN.
    pub fn client_trusting(&self, identity: Option<&CertFiles>) -> reqwest::Client {
        let ca = std::fs::read(&self.certificate).expect("CA readable");
        let mut builder = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("CA certificate")])
            .timeout(std::time::Duration::from_secs(10));
        if let Some(identity) = identity {
            builder = builder.identity(
                reqwest::Identity::from_pem(&identity.identity_pem()).expect("client identity"),
            );
        }
        builder.build().expect("https client")
    }
}

fn write_atomically(path: &Path, contents: &[u8]) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, contents).expect("file written");
    std::fs::rename(&temporary, path).expect("file renamed");
}

/// `https://127.0.0.1:<port><path>`.
pub fn https_url(addr: std::net::SocketAddr, path: &str) -> String {
    format!("https://127.0.0.1:{}{path}", addr.port())
}
