//! Spring's symmetric `{cipher}` format, shared by the config-service (which decrypts values it
//! serves and offers `/encrypt` and `/decrypt`) and any client that holds the key.
//!
//! The format is spring-security-crypto's `Encryptors.text(password, salt)`, which Spring Cloud's
//! `encrypt.key` selects: the AES-256 key is PBKDF2-HMAC-SHA1 over the UTF-8 password with the
//! hex-decoded salt (`encrypt.salt`, default `deadbeef`), 1024 iterations; the cipher is
//! AES-256-CBC with PKCS#5 padding and a random 16-byte IV; the text is the lowercase hex of
//! IV ‖ ciphertext. Values encrypted by a Spring server decrypt here and vice versa.
//!
//! CBC is not authenticated: a tampered value usually fails its padding check, but may instead
//! decrypt to garbage; a result that is not UTF-8 is reported as a failure too, as Java's
//! `String` decoding would not be.

use aes::cipher::{
    BlockModeDecrypt as _, BlockModeEncrypt as _, KeyIvInit as _, block_padding::Pkcs7,
};

use crate::settings::{FromSection, Section, SettingsError};

/// The salt Spring uses when `encrypt.salt` is not set (hex).
pub const DEFAULT_SALT: &str = "deadbeef";

/// `encrypt.*`: the symmetric key of `{cipher}` values, when one is configured.
#[derive(Debug, Clone)]
pub struct EncryptSettings {
    /// The encryptor for `encrypt.key` and `encrypt.salt`; `None` without a key.
    pub encryptor: Option<TextEncryptor>,
}

impl FromSection for EncryptSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        let Some(key) = section.get("key").filter(|k| !k.is_empty()) else {
            return Ok(Self { encryptor: None });
        };
        if key.contains("RSA PRIVATE KEY") || key.starts_with("ssh-") {
            return Err(SettingsError::Invalid {
                key: section.key("key"),
                value: "(an asymmetric key)".into(),
                expected: "a symmetric key: RSA and ssh keys are not supported".into(),
            });
        }
        let salt = section.get_or("salt", DEFAULT_SALT);
        let encryptor = TextEncryptor::new(&key, &salt).map_err(|_| SettingsError::Invalid {
            key: section.key("salt"),
            value: salt.clone(),
            expected: "hexadecimal".into(),
        })?;
        Ok(Self {
            encryptor: Some(encryptor),
        })
    }
}

const ITERATIONS: u32 = 1024;
const IV_LEN: usize = 16;

/// Why a value could not be encrypted or decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// `encrypt.salt` is not hex.
    #[error("encrypt.salt must be hexadecimal")]
    BadSalt,
    /// The text is not hex, too short, or does not decrypt under this key.
    #[error("Text not encrypted with this key")]
    NotEncryptedWithThisKey,
}

/// A symmetric text encryptor in Spring's `Encryptors.text` format.
#[derive(Clone)]
pub struct TextEncryptor {
    key: [u8; 32],
}

impl std::fmt::Debug for TextEncryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TextEncryptor(..)")
    }
}

impl TextEncryptor {
    /// Derives the key from `password` and the hex `salt` as Spring does.
    pub fn new(password: &str, salt_hex: &str) -> Result<Self, CipherError> {
        let salt = hex::decode(salt_hex).map_err(|_| CipherError::BadSalt)?;
        let mut key = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password.as_bytes(), &salt, ITERATIONS, &mut key);
        Ok(Self { key })
    }

    /// Encrypts `plain` with a fresh random IV; returns hex without the `{cipher}` prefix.
    pub fn encrypt(&self, plain: &str) -> String {
        let mut iv = [0u8; IV_LEN];
        rand::fill(&mut iv);
        let encrypted = cbc::Encryptor::<aes::Aes256>::new(&self.key.into(), &iv.into())
            .encrypt_padded_vec::<Pkcs7>(plain.as_bytes());
        let mut out = Vec::with_capacity(IV_LEN + encrypted.len());
        out.extend_from_slice(&iv);
        out.extend_from_slice(&encrypted);
        hex::encode(out)
    }

    /// Decrypts hex text (without `{cipher}`) produced by [`TextEncryptor::encrypt`] or Spring.
    pub fn decrypt(&self, text: &str) -> Result<String, CipherError> {
        let bytes = hex::decode(text.trim()).map_err(|_| CipherError::NotEncryptedWithThisKey)?;
        if bytes.len() < 2 * IV_LEN || bytes.len() % IV_LEN != 0 {
            return Err(CipherError::NotEncryptedWithThisKey);
        }
        let (iv, body) = bytes.split_at(IV_LEN);
        let iv: [u8; IV_LEN] = iv
            .try_into()
            .map_err(|_| CipherError::NotEncryptedWithThisKey)?;
        let plain = cbc::Decryptor::<aes::Aes256>::new(&self.key.into(), &iv.into())
            .decrypt_padded_vec::<Pkcs7>(body)
            .map_err(|_| CipherError::NotEncryptedWithThisKey)?;
        String::from_utf8(plain).map_err(|_| CipherError::NotEncryptedWithThisKey)
    }
}

/// What marks an encrypted property value.
pub const CIPHER_PREFIX: &str = "{cipher}";

impl TextEncryptor {
    /// The plain text of a property value: `None` when it is not a `{cipher}` value, else the
    /// decryption of what follows `{cipher}` and any `{key:…}` prefixes.
    pub fn decrypt_property(&self, value: &str) -> Option<Result<String, CipherError>> {
        let cipher = value.strip_prefix(CIPHER_PREFIX)?;
        let (_, text) = split_prefixes(cipher);
        Some(self.decrypt(text))
    }
}

/// Splits the `{key:alias}`/`{secret:…}` prefixes off a value (after `{cipher}`), as Spring's
/// `CipherEnvironmentEncryptor` reads them: `{plain}` ends the list. Returns the prefixes as
/// written (to echo back) and the remaining text.
pub fn split_prefixes(text: &str) -> (&str, &str) {
    let mut rest = text;
    loop {
        if let Some(after) = rest.strip_prefix("{plain}") {
            let consumed = text.len() - after.len();
            return (&text[..consumed], after);
        }
        let Some(end) = rest.strip_prefix('{').and_then(|r| r.find('}')) else {
            break;
        };
        let inner = &rest[1..=end];
        if !inner.contains(':') {
            break;
        }
        rest = &rest[end + 2..];
    }
    let consumed = text.len() - rest.len();
    (&text[..consumed], rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decrypts_springs_own_test_vector() {
        let encryptor = TextEncryptor::new("mykey", DEFAULT_SALT).unwrap();
        assert_eq!(
            encryptor
                .decrypt("6defc102cd76752fcf4c78231ed82ead85133a09741d9a1442595b4800e2b3d1")
                .unwrap(),
            "password"
        );
    }

    #[test]
    fn round_trips_with_a_random_iv() {
        let encryptor = TextEncryptor::new("s3cr3t", DEFAULT_SALT).unwrap();
        let a = encryptor.encrypt("hello wörld");
        let b = encryptor.encrypt("hello wörld");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(encryptor.decrypt(&a).unwrap(), "hello wörld");
        assert_eq!(encryptor.decrypt(&b).unwrap(), "hello wörld");
    }

    #[test]
    fn wrong_key_or_tampered_text_is_rejected() {
        let encryptor = TextEncryptor::new("one", DEFAULT_SALT).unwrap();
        let other = TextEncryptor::new("two", DEFAULT_SALT).unwrap();
        let text = encryptor.encrypt("value");
        assert_eq!(
            other.decrypt(&text),
            Err(CipherError::NotEncryptedWithThisKey)
        );
        assert!(encryptor.decrypt("zz").is_err());
        assert!(encryptor.decrypt(&text[..30]).is_err());
        assert!(TextEncryptor::new("k", "not hex").is_err());
    }

    #[test]
    fn prefixes_are_split_off() {
        assert_eq!(
            split_prefixes("{key:a}{secret:b}abc"),
            ("{key:a}{secret:b}", "abc")
        );
        assert_eq!(split_prefixes("abc"), ("", "abc"));
        assert_eq!(split_prefixes("{plain}{x}"), ("{plain}", "{x}"));
    }
}
