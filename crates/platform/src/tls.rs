//! The one TLS stack every factura server and client uses: rustls with the aws-lc-rs provider
//! (the provider reqwest, sqlx and gix use too, so the tree holds one).
//!
//! * **Servers** ([`ServerTls`]): Spring Boot's `server.ssl.*` PEM keys, or `server.ssl.bundle`
//!   naming a `spring.ssl.bundle.pem.<name>`; client certificates by `server.ssl.client-auth`
//!   (`none`, `want`, `need`), checked against the trust certificate; `server.ssl.enabled-protocols`
//!   (`TLSv1.2`, `TLSv1.3`; cipher suites are rustls's and cannot be chosen); ALPN offers `h2` when
//!   `server.http2.enabled` (Spring's default: HTTP/1.1 only). A bundle with `reload-on-update`
//!   is re-read when its files change and then stay unchanged for
//!   `spring.ssl.bundle.watch.file.quiet-period` (Spring's file watcher, done here by a periodic
//!   check); new connections get the new certificate, open ones keep theirs.
//!   [`ServerTls::acceptor`] is the handshake step of the accept loop, in front of hyper.
//! * **Clients** ([`ClientTlsSettings`]): whom to trust and which certificate to present, one
//!   section (`factura.ssl.client.*`, the role the JVM's trust store plays for a Spring fleet)
//!   under each client's own Spring keys (the gateway's `spring.cloud.gateway.httpclient.ssl.*`,
//!   the config server's `git.skip-ssl-validation`), in Spring Cloud Gateway's order: an
//!   `ssl-bundle` decides alone (its truststore, else the system's roots; its keystore is the
//!   client certificate), else `trusted-x509-certificates` (only those CAs), else
//!   `use-insecure-trust-manager` (development only), else the system's roots.
//!
//! PEM values are file locations (`file:` optional) or the PEM text itself, as Spring Boot takes
//! them. Every problem with a setting is a [`SettingsError`] naming the key, so a service with a
//! bad certificate exits with `EX_CONFIG` before it binds its port.

use std::{
    path::PathBuf,
    sync::{Arc, OnceLock},
    time::Duration,
};

use arc_swap::ArcSwap;
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime, pem::PemObject},
    server::WebPkiClientVerifier,
};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::settings::{DurationUnit, FromSection, Section, Settings, SettingsError};

/// The section every client's trust falls back to.
pub const CLIENT_PREFIX: &str = "factura.ssl.client";

/// How long a client may take over its handshake before the connection is dropped.
const SERVER_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The crypto provider, the same one for every configuration.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}

/// PEM material as a setting gives it: a file, or the PEM text itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemSource {
    /// The key it was read from, for errors.
    pub key: String,
    /// Where the PEM is.
    pub location: PemLocation,
}

/// A file, or inline PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PemLocation {
    /// A path (`file:` prefix removed).
    File(PathBuf),
    /// The PEM text of the setting itself.
    Inline(String),
}

impl PemSource {
    fn from_setting(key: String, value: String) -> Result<Self, SettingsError> {
        let trimmed = value.trim();
        let location = if trimmed.starts_with("-----BEGIN") {
            PemLocation::Inline(trimmed.to_owned())
        } else if trimmed.starts_with("classpath:") {
            return Err(SettingsError::Invalid {
                key,
                value,
                expected: "a file path or PEM text (there is no classpath)".into(),
            });
        } else {
            PemLocation::File(trimmed.strip_prefix("file:").unwrap_or(trimmed).into())
        };
        Ok(Self { key, location })
    }

    fn optional(section: &Section<'_>, field: &str) -> Result<Option<Self>, SettingsError> {
        match section.get(field).filter(|v| !v.trim().is_empty()) {
            Some(value) => Self::from_setting(section.key(field), value).map(Some),
            None => Ok(None),
        }
    }

    /// The bytes, read now.
    fn read(&self) -> Result<Vec<u8>, SettingsError> {
        match &self.location {
            PemLocation::Inline(text) => Ok(text.clone().into_bytes()),
            PemLocation::File(path) => {
                std::fs::read(path).map_err(|e| self.invalid(&format!("a readable file ({e})")))
            }
        }
    }

    /// What the setting says, for errors (never inline key material).
    fn shown(&self) -> String {
        match &self.location {
            PemLocation::File(path) => path.display().to_string(),
            PemLocation::Inline(_) => "<inline PEM>".into(),
        }
    }

    fn invalid(&self, expected: &str) -> SettingsError {
        SettingsError::Invalid {
            key: self.key.clone(),
            value: self.shown(),
            expected: expected.to_owned(),
        }
    }

    fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, SettingsError> {
        let pem = self.read()?;
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.invalid(&format!("PEM certificates ({e})")))?;
        if certificates.is_empty() {
            return Err(self.invalid("PEM with at least one CERTIFICATE block"));
        }
        Ok(certificates)
    }

    fn private_key(&self) -> Result<PrivateKeyDer<'static>, SettingsError> {
        let pem = self.read()?;
        PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
            self.invalid(&format!(
                "an unencrypted PEM private key, PKCS#8, PKCS#1 or SEC1 ({e})"
            ))
        })
    }
}

/// A certificate with its key, and the certificates trusted to sign the other side's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PemStores {
    /// The certificate chain presented (leaf first).
    pub certificate: Option<PemSource>,
    /// Its private key.
    pub private_key: Option<PemSource>,
    /// CA certificates trusted to sign the peer's certificate.
    pub trust_certificate: Option<PemSource>,
}

impl PemStores {
    fn identity(
        &self,
    ) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, SettingsError> {
        match (&self.certificate, &self.private_key) {
            (None, None) => Ok(None),
            (Some(certificate), Some(key)) => {
                Ok(Some((certificate.certificates()?, key.private_key()?)))
            }
            (Some(certificate), None) => Err(certificate.invalid(
                "a certificate with its private key (the private-key setting is missing)",
            )),
            (None, Some(key)) => Err(key.invalid(
                "a private key with its certificate (the certificate setting is missing)",
            )),
        }
    }

    fn roots(&self) -> Result<Option<RootCertStore>, SettingsError> {
        self.trust_certificate
            .as_ref()
            .map(|source| roots_from(std::slice::from_ref(source)))
            .transpose()
    }

    fn sources(&self) -> impl Iterator<Item = &PemSource> {
        [
            &self.certificate,
            &self.private_key,
            &self.trust_certificate,
        ]
        .into_iter()
        .flatten()
    }
}

fn roots_from(sources: &[PemSource]) -> Result<RootCertStore, SettingsError> {
    let mut roots = RootCertStore::empty();
    for source in sources {
        for certificate in source.certificates()? {
            roots
                .add(certificate)
                .map_err(|e| source.invalid(&format!("CA certificates ({e})")))?;
        }
    }
    Ok(roots)
}

/// `spring.ssl.bundle.pem.<name>.*`: a named key pair and trust, Spring Boot's SSL bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemBundle {
    /// The bundle's name.
    pub name: String,
    /// `keystore.certificate`, `keystore.private-key`, `truststore.certificate`.
    pub stores: PemStores,
    /// `reload-on-update` (default false): re-read the files when they change.
    pub reload_on_update: bool,
}

impl FromSection for PemBundle {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        if let Some(password) = section.get("keystore.private-key-password") {
            return Err(SettingsError::Invalid {
                key: section.key("keystore.private-key-password"),
                value: if password.is_empty() { password } else { "******".into() },
                expected: "no password: encrypted private keys are not supported, decrypt the key (openssl pkcs8 -nocrypt)".into(),
            });
        }
        Ok(Self {
            name: String::new(),
            stores: PemStores {
                certificate: PemSource::optional(section, "keystore.certificate")?,
                private_key: PemSource::optional(section, "keystore.private-key")?,
                trust_certificate: PemSource::optional(section, "truststore.certificate")?,
            },
            reload_on_update: section.flag("reload-on-update", false)?,
        })
    }
}

impl PemBundle {
    /// The bundle called `name`, read from `key` (which names it in errors).
    pub fn named(settings: &Settings, key: &str, name: &str) -> Result<Self, SettingsError> {
        let prefix = format!("spring.ssl.bundle.pem.{name}");
        if settings.with_prefix(&prefix).is_empty() {
            let jks = !settings
                .with_prefix(&format!("spring.ssl.bundle.jks.{name}"))
                .is_empty();
            return Err(SettingsError::Invalid {
                key: key.to_owned(),
                value: name.to_owned(),
                expected: if jks {
                    "a PEM bundle (spring.ssl.bundle.pem.<name>); JKS/PKCS#12 bundles are not supported".into()
                } else {
                    format!("the name of an SSL bundle, but no {prefix}.* is set")
                },
            });
        }
        let mut bundle: Self = settings.bind(&prefix)?;
        bundle.name = name.to_owned();
        Ok(bundle)
    }
}

/// `server.ssl.client-auth`: whether a server asks its clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No client certificate asked for (default).
    #[default]
    None,
    /// Asked for, checked when given, not required.
    Want,
    /// Required: a client without a trusted certificate fails the handshake.
    Need,
}

/// A server's `server.ssl.*` and `server.http2.enabled`, bound from the `server` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSslSettings {
    /// Whether TLS is on: some key material is configured and `server.ssl.enabled` is not
    /// false (Spring Boot's `Ssl.enabled` defaults to true once `server.ssl` is configured).
    pub enabled: bool,
    /// `server.ssl.bundle`: the SSL bundle to serve with, instead of the PEM keys below.
    pub bundle: Option<PemBundle>,
    /// `server.ssl.certificate`, `server.ssl.certificate-private-key`,
    /// `server.ssl.trust-certificate`.
    pub stores: PemStores,
    /// `server.ssl.client-auth` (default `none`).
    pub client_auth: ClientAuth,
    /// `server.http2.enabled` (default false, as Spring Boot): offer `h2` by ALPN.
    pub http2: bool,
    /// `spring.ssl.bundle.watch.file.quiet-period` (default 10 s): how long changed files must
    /// stay unchanged before a bundle is reloaded.
    pub quiet_period: Duration,
    /// `server.ssl.enabled-protocols` (`TLSv1.2`, `TLSv1.3`; default both).
    pub enabled_protocols: Vec<&'static rustls::SupportedProtocolVersion>,
}

impl FromSection for ServerSslSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        let settings = section.settings();
        if section.get("ssl.key-password").is_some() {
            return Err(SettingsError::Invalid {
                key: section.key("ssl.key-password"),
                value: "******".into(),
                expected: "no password: encrypted private keys are not supported, decrypt the key (openssl pkcs8 -nocrypt)".into(),
            });
        }
        if let Some(value) = section.get("ssl.ciphers") {
            return Err(SettingsError::Invalid {
                key: section.key("ssl.ciphers"),
                value,
                expected: "nothing: cipher suites are rustls's safe defaults and cannot be chosen"
                    .into(),
            });
        }
        let mut enabled_protocols = Vec::new();
        for protocol in section.list("ssl.enabled-protocols") {
            enabled_protocols.push(match protocol.to_ascii_uppercase().as_str() {
                "TLSV1.2" => &rustls::version::TLS12,
                "TLSV1.3" => &rustls::version::TLS13,
                _ => {
                    return Err(SettingsError::Invalid {
                        key: section.key("ssl.enabled-protocols"),
                        value: protocol,
                        expected: "TLSv1.2 and/or TLSv1.3".into(),
                    });
                }
            });
        }
        if enabled_protocols.is_empty() {
            enabled_protocols = rustls::DEFAULT_VERSIONS.to_vec();
        }
        for unsupported in ["ssl.key-store", "ssl.trust-store"] {
            if let Some(value) = section.get(unsupported) {
                return Err(SettingsError::Invalid {
                    key: section.key(unsupported),
                    value,
                    expected: "nothing: JKS/PKCS#12 stores are not supported, use server.ssl.certificate / certificate-private-key (PEM) or server.ssl.bundle".into(),
                });
            }
        }
        let bundle = match section.get("ssl.bundle").filter(|b| !b.trim().is_empty()) {
            Some(name) => Some(PemBundle::named(
                settings,
                &section.key("ssl.bundle"),
                name.trim(),
            )?),
            None => None,
        };
        let stores = PemStores {
            certificate: PemSource::optional(section, "ssl.certificate")?,
            private_key: PemSource::optional(section, "ssl.certificate-private-key")?,
            trust_certificate: PemSource::optional(section, "ssl.trust-certificate")?,
        };
        let configured =
            bundle.is_some() || stores.certificate.is_some() || stores.private_key.is_some();
        let enabled_key = section.key("ssl.enabled");
        let enabled = section.flag("ssl.enabled", true)? && configured;
        if !configured && settings.flag(&enabled_key, false)? {
            return Err(SettingsError::Invalid {
                key: enabled_key,
                value: "true".into(),
                expected: "false, or server.ssl.certificate and server.ssl.certificate-private-key (or server.ssl.bundle) set".into(),
            });
        }
        let client_auth = match section
            .get_or("ssl.client-auth", "none")
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "none" => ClientAuth::None,
            "want" => ClientAuth::Want,
            "need" => ClientAuth::Need,
            _ => {
                return Err(SettingsError::Invalid {
                    key: section.key("ssl.client-auth"),
                    value: section.get_or("ssl.client-auth", ""),
                    expected: "none, want or need".into(),
                });
            }
        };
        Ok(Self {
            enabled,
            bundle,
            stores,
            client_auth,
            http2: section.flag("http2.enabled", false)?,
            enabled_protocols,
            quiet_period: settings.duration_or(
                "spring.ssl.bundle.watch.file.quiet-period",
                DurationUnit::Millis,
                Duration::from_secs(10),
            )?,
        })
    }
}

impl ServerSslSettings {
    /// The key material in force: the bundle's, else the `server.ssl.*` files.
    fn stores(&self) -> &PemStores {
        self.bundle.as_ref().map_or(&self.stores, |b| &b.stores)
    }

    /// A rustls configuration read from the files now.
    fn server_config(&self) -> Result<ServerConfig, SettingsError> {
        let stores = self.stores();
        let certificate_key = if self.bundle.is_some() {
            "server.ssl.bundle"
        } else {
            "server.ssl.certificate"
        };
        let (chain, key) = stores.identity()?.ok_or_else(|| SettingsError::Invalid {
            key: certificate_key.into(),
            value: String::new(),
            expected: "a certificate and its private key".into(),
        })?;
        let builder = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&self.enabled_protocols)
            .map_err(|e| invalid_tls("server.ssl", &e))?;
        let builder = match self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            want_or_need => {
                let roots = stores.roots()?.ok_or_else(|| SettingsError::Invalid {
                    key: "server.ssl.client-auth".into(),
                    value: format!("{want_or_need:?}").to_ascii_lowercase(),
                    expected: "none, unless server.ssl.trust-certificate (or the bundle's truststore.certificate) names the CAs client certificates are checked against".into(),
                })?;
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
                let verifier = if want_or_need == ClientAuth::Want {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                builder.with_client_cert_verifier(
                    verifier
                        .build()
                        .map_err(|e| invalid_tls("server.ssl.trust-certificate", &e))?,
                )
            }
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|e| {
            let key = stores
                .private_key
                .as_ref()
                .map_or(certificate_key.into(), |k| k.key.clone());
            SettingsError::Invalid {
                value: stores
                    .private_key
                    .as_ref()
                    .map(PemSource::shown)
                    .unwrap_or_default(),
                key,
                expected: format!("the private key of the certificate ({e})"),
            }
        })?;
        config.alpn_protocols = if self.http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        Ok(config)
    }
}

fn invalid_tls(key: &str, error: &dyn std::fmt::Display) -> SettingsError {
    SettingsError::Invalid {
        key: key.into(),
        value: String::new(),
        expected: format!("a usable TLS configuration ({error})"),
    }
}

/// A server's TLS in force: the configuration new connections are accepted with, swapped when
/// a reloadable bundle changes on disk. Cheap to clone (every serving thread holds one).
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ArcSwap<ServerConfig>>,
    settings: Arc<ServerSslSettings>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// The TLS a service serves with, or `None` when `server.ssl` is not configured.
    pub fn from_settings(settings: &Settings) -> Result<Option<Self>, SettingsError> {
        let ssl: ServerSslSettings = settings.bind("server")?;
        if !ssl.enabled {
            return Ok(None);
        }
        let config = ssl.server_config()?;
        Ok(Some(Self {
            config: Arc::new(ArcSwap::from_pointee(config)),
            settings: Arc::new(ssl),
        }))
    }

    /// The acceptor for the next connection, with the certificate in force now.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor(tokio_rustls::TlsAcceptor::from(self.config.load_full()))
    }

    /// Whether [`Self::watch`] has anything to do (a bundle with `reload-on-update`).
    pub fn reloads(&self) -> bool {
        self.settings
            .bundle
            .as_ref()
            .is_some_and(|b| b.reload_on_update)
    }

    /// Reloads the certificate when the bundle's files change, until `shutdown`: a change is
    /// applied once the files have stayed the same for the quiet period (a certificate and its
    /// key are often written one after the other). A change that does not load (a half-written
    /// file, a key that does not match) is reported and the certificate in force kept.
    pub async fn watch(self, shutdown: CancellationToken) {
        let Some(bundle) = self.settings.bundle.clone().filter(|b| b.reload_on_update) else {
            return;
        };
        let quiet = self.settings.quiet_period;
        let every = (quiet / 2).clamp(Duration::from_millis(20), Duration::from_secs(1));
        let contents =
            || -> Vec<Option<Vec<u8>>> { bundle.stores.sources().map(|s| s.read().ok()).collect() };
        let mut loaded = contents();
        let mut pending: Option<(Vec<Option<Vec<u8>>>, tokio::time::Instant)> = None;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            let now = contents();
            if now == loaded {
                pending = None;
                continue;
            }
            match &pending {
                Some((seen, since)) if *seen == now => {
                    if since.elapsed() < quiet {
                        continue;
                    }
                }
                _ => {
                    pending = Some((now, tokio::time::Instant::now()));
                    continue;
                }
            }
            pending = None;
            match self.settings.server_config() {
                Ok(config) => {
                    self.config.store(Arc::new(config));
                    tracing::info!(bundle = %bundle.name, "SSL bundle reloaded: new connections get the new certificate");
                }
                Err(error) => {
                    tracing::warn!(bundle = %bundle.name, %error, "SSL bundle changed but does not load; keeping the certificate in force");
                }
            }
            loaded = now;
        }
    }
}

/// Terminates TLS on one accepted connection.
#[derive(Clone)]
pub struct TlsAcceptor(tokio_rustls::TlsAcceptor);

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsAcceptor(..)")
    }
}

impl TlsAcceptor {
    /// The handshake, bounded by a timeout so that a silent client costs its own task only.
    pub async fn handshake(&self, tcp: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        tokio::time::timeout(SERVER_HANDSHAKE_TIMEOUT, self.0.accept(tcp))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
            })?
    }
}

/// Whom a client trusts and which certificate it presents: `factura.ssl.client.*`, under a
/// client's own keys where it has them (same field names: Spring Cloud Gateway's
/// `spring.cloud.gateway.httpclient.ssl.*`). The default trusts the system's roots.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientTlsSettings {
    /// `use-insecure-trust-manager` (default false): accept any server certificate.
    /// For development only; a warning is logged when a client is built with it.
    pub use_insecure_trust_manager: bool,
    /// `trusted-x509-certificates`: PEM CA files (a list); when set (and no bundle), the only
    /// CAs trusted.
    pub trusted_x509_certificates: Vec<PemSource>,
    /// `ssl-bundle`: its truststore is trusted (the system's roots when it has none) and its
    /// keystore is the client certificate presented to servers that ask.
    pub ssl_bundle: Option<PemBundle>,
    /// Set by a client's own switch (`git.skip-ssl-validation`, OpenFeign's
    /// `disable-ssl-validation`): any server certificate passes, whatever else is configured;
    /// the bundle's client certificate is still presented.
    pub skip_validation: bool,
}

impl FromSection for ClientTlsSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        let field = "trusted-x509-certificates";
        let mut trusted = Vec::new();
        // Both Spring list forms: `a,b` and `x[0]=a`, `x[1]=b`.
        for path in section.list(field) {
            trusted.push(PemSource::from_setting(section.key(field), path)?);
        }
        for i in 0.. {
            let indexed = format!("{field}[{i}]");
            let Some(path) = section.get(&indexed) else {
                break;
            };
            trusted.push(PemSource::from_setting(section.key(&indexed), path)?);
        }
        let ssl_bundle = match section.get("ssl-bundle").filter(|b| !b.trim().is_empty()) {
            Some(name) => Some(PemBundle::named(
                section.settings(),
                &section.key("ssl-bundle"),
                name.trim(),
            )?),
            None => None,
        };
        Ok(Self {
            use_insecure_trust_manager: section.flag("use-insecure-trust-manager", false)?,
            trusted_x509_certificates: trusted,
            ssl_bundle,
            skip_validation: false,
        })
    }
}

impl ClientTlsSettings {
    /// Binds the client section: `prefixes` first (a client's own keys), then
    /// [`CLIENT_PREFIX`], field by field.
    pub fn bind(settings: &Settings, prefixes: &[&str]) -> Result<Self, SettingsError> {
        let mut section = settings.section(prefixes.first().copied().unwrap_or(CLIENT_PREFIX));
        for prefix in prefixes.iter().skip(1).copied().chain([CLIENT_PREFIX]) {
            section = section.or(prefix);
        }
        section.bind()
    }

    /// The platform-wide client trust (`factura.ssl.client.*`), for clients without keys of
    /// their own (discovery, config, service clients).
    pub fn platform(settings: &Settings) -> Result<Self, SettingsError> {
        Self::bind(settings, &[])
    }

    /// A rustls client configuration (no ALPN set; HTTP clients set their own).
    pub fn client_config(&self) -> Result<ClientConfig, SettingsError> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid_tls(CLIENT_PREFIX, &e))?;
        let bundle_roots = match &self.ssl_bundle {
            Some(bundle) => bundle.stores.roots()?,
            None => None,
        };
        // Spring Cloud Gateway's order (HttpClientSslConfigurer): a bundle decides alone (its
        // truststore, else the system's roots); else the listed CAs; else the insecure manager.
        let builder = if self.skip_validation {
            tracing::warn!("TLS client skips certificate validation; for development only");
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
        } else if let Some(roots) = bundle_roots {
            builder.with_root_certificates(roots)
        } else if self.ssl_bundle.is_none() && !self.trusted_x509_certificates.is_empty() {
            builder.with_root_certificates(roots_from(&self.trusted_x509_certificates)?)
        } else if self.ssl_bundle.is_none() && self.use_insecure_trust_manager {
            tracing::warn!(
                "TLS client trusts any server certificate (use-insecure-trust-manager); for development only"
            );
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
        } else {
            let verifier = rustls_platform_verifier::Verifier::new(provider())
                .map_err(|e| invalid_tls(CLIENT_PREFIX, &e))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
        };
        let identity = match &self.ssl_bundle {
            Some(bundle) => bundle.stores.identity()?,
            None => None,
        };
        match identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| invalid_tls("ssl-bundle", &e)),
            None => Ok(builder.with_no_client_auth()),
        }
    }

    /// A reqwest client builder using this trust (ALPN offers h2 and HTTP/1.1).
    pub fn reqwest_builder(&self) -> Result<reqwest::ClientBuilder, SettingsError> {
        let mut config = self.client_config()?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(reqwest::Client::builder().tls_backend_preconfigured(config))
    }
}

/// `use-insecure-trust-manager`: any certificate passes, but the handshake's signatures are
/// still checked (the peer must hold the key of the certificate it sent).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
