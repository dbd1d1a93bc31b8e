//! A test-own OpenID provider on loopback, for crafted tokens: OIDC discovery, a JWK set whose
//! keys a test rotates, a client-credentials token endpoint, and the signing keys themselves
//! (RSA for RS256/PS256, P-256 for ES256), so a test can sign what a real provider would —
//! and what an attacker would (expired, tampered, `alg: none`, HS256 with the public key).
//! It can be stopped mid-test to play a key server that is down.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{Json, Router, extract::State, routing::get};
use base64::Engine as _;
pub use jsonwebtoken::Algorithm;
use jsonwebtoken::{EncodingKey, Header, jwk::Jwk};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// One signing key and its public half as a JWK.
#[derive(Clone)]
pub struct SigningKey {
    /// Its `kid`.
    pub kid: String,
    /// The algorithm it signs with.
    pub algorithm: Algorithm,
    encoding: EncodingKey,
    jwk: Jwk,
    public_pem: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh key for `algorithm` (RS*, PS* or ES256).
    pub fn generate(kid: &str, algorithm: Algorithm) -> Self {
        let rcgen_alg = match algorithm {
            Algorithm::ES256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            _ => &rcgen::PKCS_RSA_SHA256,
        };
        let pair = rcgen::KeyPair::generate_for(rcgen_alg).expect("a key pair");
        let pem = pair.serialize_pem();
        let encoding = match algorithm {
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
        }
        .expect("an encoding key");
        let mut jwk = Jwk::from_encoding_key(&encoding, algorithm).expect("a JWK");
        jwk.common.key_id = Some(kid.to_owned());
        Self {
            kid: kid.to_owned(),
            algorithm,
            encoding,
            jwk,
            public_pem: pair.public_key_pem(),
        }
    }

    /// `claims` signed with this key, its `kid` in the header.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("a signed token")
    }

    /// The public key in PEM, as an attacker would find it.
    pub fn public_key_pem(&self) -> &str {
        &self.public_pem
    }
}

/// `{"alg":"none"}` tokens: the claims with no signature at all.
pub fn unsigned_token(claims: &Value) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(claims)
    )
}

/// `token` with its claims replaced by `claims` and its signature kept: a forgery.
pub fn tampered(token: &str, claims: &Value) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    parts.join(".")
}

/// HS256 signed with `secret` as the HMAC key (the algorithm-confusion attack uses the public
/// key's PEM), with `kid`.
pub fn hs256_token(claims: &Value, secret: &[u8], kid: &str) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret).expect("an HMAC key"),
    )
    .expect("a token")
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[derive(Debug)]
struct Shared {
    issuer: String,
    keys: Mutex<Vec<SigningKey>>,
    jwks_fetches: AtomicUsize,
    token_requests: AtomicUsize,
    token_lifetime: std::sync::atomic::AtomicI64,
    client: (String, String),
}

/// The provider, serving until dropped or [`TestIssuer::stop`].
#[derive(Debug)]
pub struct TestIssuer {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl TestIssuer {
    /// A provider with one RS256 key (`kid` `k1`) and a confidential client
    /// `billing-service`/`billing-secret` for the client-credentials grant.
    pub async fn start() -> Self {
        Self::with_key(SigningKey::generate("k1", Algorithm::RS256)).await
    }

    /// A provider whose JWK set holds `key`.
    pub async fn with_key(key: SigningKey) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("an address");
        let shared = Arc::new(Shared {
            issuer: format!("http://{addr}/realms/test"),
            keys: Mutex::new(vec![key]),
            jwks_fetches: AtomicUsize::new(0),
            token_requests: AtomicUsize::new(0),
            token_lifetime: std::sync::atomic::AtomicI64::new(300),
            client: ("billing-service".into(), "billing-secret".into()),
        });
        let router = Router::new()
            .route(
                "/realms/test/.well-known/openid-configuration",
                get(discovery),
            )
            .route("/realms/test/certs", get(jwks))
            .route(
                "/realms/test/token",
                axum::routing::post(client_credentials),
            )
            .with_state(shared.clone());
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(stopped.cancelled_owned())
                .await;
        });
        Self { addr, shared, stop }
    }

    /// The `issuer-uri` (and every token's `iss`).
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// The `jwk-set-uri`.
    pub fn jwk_set_uri(&self) -> String {
        format!("{}/certs", self.shared.issuer)
    }

    /// The token endpoint (client credentials).
    pub fn token_uri(&self) -> String {
        format!("{}/token", self.shared.issuer)
    }

    /// The key tokens are signed with now (the last one added).
    pub fn current_key(&self) -> SigningKey {
        self.shared
            .keys
            .lock()
            .expect("keys")
            .last()
            .cloned()
            .expect("a key")
    }

    /// Replaces every key by `key`: a rotation.
    pub fn rotate(&self, key: SigningKey) {
        *self.shared.keys.lock().expect("keys") = vec![key];
    }

    /// The claims of a valid token for `sub` with these realm roles, merged with `extra`
    /// (a `null` in `extra` removes the claim).
    pub fn claims(&self, sub: &str, roles: &[&str], extra: Value) -> Value {
        let now = now();
        let mut claims = json!({
            "iss": self.issuer(),
            "sub": sub,
            "iat": now,
            "exp": now + 300,
            "scope": "profile email",
            "realm_access": {"roles": roles},
        });
        if let (Some(claims), Value::Object(extra)) = (claims.as_object_mut(), extra) {
            for (name, value) in extra {
                if value.is_null() {
                    claims.remove(&name);
                } else {
                    claims.insert(name, value);
                }
            }
        }
        claims
    }

    /// A valid token for `sub` with these realm roles, signed with the current key.
    pub fn token(&self, sub: &str, roles: &[&str]) -> String {
        self.current_key()
            .sign(&self.claims(sub, roles, Value::Null))
    }

    /// How often the JWK set was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.shared.jwks_fetches.load(Ordering::SeqCst)
    }

    /// How many client-credentials tokens were handed out.
    pub fn token_requests(&self) -> usize {
        self.shared.token_requests.load(Ordering::SeqCst)
    }

    /// How long client-credentials tokens live from now on (300 s by default).
    pub fn set_token_lifetime(&self, seconds: i64) {
        self.shared.token_lifetime.store(seconds, Ordering::SeqCst);
    }

    /// Stops serving: the provider is down from now on.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({
        "issuer": shared.issuer,
        "jwks_uri": format!("{}/certs", shared.issuer),
        "token_endpoint": format!("{}/token", shared.issuer),
        "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
    }))
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Json<Value> {
    shared.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let keys: Vec<Value> = shared
        .keys
        .lock()
        .expect("keys")
        .iter()
        .map(|k| serde_json::to_value(&k.jwk).expect("a JWK as JSON"))
        .collect();
    Json(json!({ "keys": keys }))
}

/// `grant_type=client_credentials` with the client's Basic credentials: a token for the
/// client's service account, realm role `ADMIN`, valid for 300 s (or what the test set).
async fn client_credentials(
    State(shared): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    body: String,
) -> (axum::http::StatusCode, Json<Value>) {
    let (id, secret) = &shared.client;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    );
    let authorized = headers
        .get(axum::http::header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    if !authorized || !body.contains("grant_type=client_credentials") {
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        );
    }
    shared.token_requests.fetch_add(1, Ordering::SeqCst);
    let key = shared
        .keys
        .lock()
        .expect("keys")
        .last()
        .cloned()
        .expect("a key");
    let now = now();
    let lifetime = shared.token_lifetime.load(Ordering::SeqCst);
    let token = key.sign(&json!({
        "iss": shared.issuer,
        "sub": format!("service-account-{id}"),
        "azp": id,
        "iat": now,
        "exp": now + lifetime,
        "realm_access": {"roles": ["ADMIN"]},
    }));
    (
        axum::http::StatusCode::OK,
        Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": lifetime})),
    )
}
