//! Immutable snapshots of a configuration repository and the Environment built from them.
//!
//! A [`Snapshot`] is every file of one repository state (one git commit, or the folder as it
//! was when last scanned), with the configuration files already parsed into flat documents
//! (through [`platform::settings::parse_yaml_documents`], the same flattening services use for
//! their local files). Requests only ever read a snapshot; backends build a new one and swap
//! it in, so a slow fetch never blocks a request the last snapshot can answer. [`RepoError`]
//! says why a backend could not hand one out; it lives here, below both backends, so that
//! `backend` (which picks one) and `git` (which implements one) do not import each other.
//!
//! [`Snapshot::environment`] reproduces the property-source precedence of Spring Cloud Config
//! (Boot's ConfigData with `spring.config.name=application,<app>`), highest first:
//! `X-p2`, `application-p2`, `X-p1`, `application-p1`, `X`, `application`; within one file
//! `.properties` before `.yml` before `.yaml`, and the later documents of a multi-document file
//! first; later search locations before earlier ones.

use std::{
    collections::{BTreeMap, HashMap},
    sync::RwLock,
};

use bytes::Bytes;
use indexmap::IndexMap;
use platform::{
    config_client::{Environment, EnvironmentPropertySource},
    settings::{YamlDocument, parse_yaml_documents},
};
use serde_json::Value;

/// The configuration file extensions, highest precedence first within one name.
pub(crate) const CONFIG_EXTENSIONS: [&str; 3] = ["properties", "yml", "yaml"];

/// Files larger than this are not loaded (a configuration repository is small).
pub(crate) const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// One file of a snapshot.
#[derive(Debug)]
pub(crate) struct RepoFile {
    /// The raw bytes (for the plain-text resource endpoint).
    pub(crate) bytes: Bytes,
    /// For `.yml`/`.yaml`/`.properties`: the parsed documents, or why they failed to parse.
    pub(crate) documents: Option<Result<Vec<YamlDocument>, String>>,
}

impl RepoFile {
    /// A file, parsed when its name says it is configuration.
    pub(crate) fn new(path: &str, bytes: Bytes) -> Self {
        let extension = path.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
        let documents = match extension {
            "yml" | "yaml" => Some(
                std::str::from_utf8(&bytes)
                    .map_err(|_| "not UTF-8".to_owned())
                    .and_then(parse_yaml_documents),
            ),
            "properties" => Some(parse_properties(&bytes)),
            _ => None,
        };
        Self { bytes, documents }
    }
}

/// Parses a `.properties` file; `#---` (or `!---`) lines split it into documents, as Boot does.
/// Each value's origin is the `line:column` where it starts (1-based, file-wide), as Boot's
/// origin tracking reports it.
fn parse_properties(bytes: &[u8]) -> Result<Vec<YamlDocument>, String> {
    let text = String::from_utf8_lossy(bytes);
    let mut documents = Vec::new();
    let mut current = String::new();
    let mut first_line = 1;
    let mut flush = |chunk: &str, first_line: usize| -> Result<(), String> {
        let map = java_properties::read(chunk.as_bytes()).map_err(|e| e.to_string())?;
        // java_properties returns a HashMap; keep the file order by re-reading the keys.
        let mut ordered = IndexMap::new();
        let mut origins = IndexMap::new();
        let mut continued = false;
        for (index, raw) in chunk.lines().enumerate() {
            let is_continuation = continued;
            let trailing_backslashes = raw.len() - raw.trim_end_matches('\\').len();
            continued = trailing_backslashes % 2 == 1;
            let line = raw.trim_start();
            if is_continuation || line.starts_with('#') || line.starts_with('!') || line.is_empty()
            {
                continue;
            }
            let indent = raw.len() - line.len();
            let key_end = line
                .find(|c: char| c == '=' || c == ':' || c.is_whitespace())
                .unwrap_or(line.len());
            let key = line[..key_end].replace('\\', "");
            let rest = &line[key_end..];
            let after_space = rest.trim_start();
            let after_separator = after_space
                .strip_prefix(['=', ':'])
                .map_or(after_space, str::trim_start);
            let column = indent + line.len() - after_separator.len() + 1;
            if let Some(value) = map.get(&key) {
                origins.insert(key.clone(), format!("{}:{column}", first_line + index));
                ordered.insert(key, value.clone());
            }
        }
        for (key, value) in map {
            ordered.entry(key).or_insert(value);
        }
        if !ordered.is_empty() {
            documents.push(YamlDocument::from_flat(ordered, origins));
        }
        Ok(())
    };
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed == "#---" || trimmed == "!---" {
            flush(&current, first_line)?;
            current.clear();
            first_line = index + 2;
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    flush(&current, first_line)?;
    Ok(documents)
}

/// One root of files: a git tree, or one native search location.
#[derive(Debug)]
pub(crate) struct Tree {
    /// Prefix of the property-source names (`file:/abs/dir`, the git URI), no trailing `/`.
    pub(crate) name: String,
    /// Whether the documents of a multi-document file are named as Boot's ConfigData names
    /// them (`Config resource 'file [/abs/x.yml]' via location 'file:/abs/' (document #0)`,
    /// what Spring's native backend serves) rather than `<name>/<path> (document #0)`.
    pub(crate) config_data_names: bool,
    /// Files by `/`-separated path relative to the root.
    pub(crate) files: BTreeMap<String, RepoFile>,
}

impl Tree {
    /// Whether `dir` (ending in `/`, or empty for the root) holds any file.
    pub(crate) fn has_dir(&self, dir: &str) -> bool {
        dir.is_empty()
            || self
                .files
                .range(dir.to_owned()..)
                .next()
                .is_some_and(|(path, _)| path.starts_with(dir))
    }

    /// The directories directly or indirectly under the root, with trailing `/`.
    pub(crate) fn dirs(&self) -> Vec<String> {
        let mut dirs: Vec<String> = self
            .files
            .keys()
            .filter_map(|p| p.rsplit_once('/').map(|(d, _)| format!("{d}/")))
            .collect();
        dirs.dedup();
        dirs.sort();
        dirs.dedup();
        dirs
    }
}

/// A place to look for configuration files: a directory of one tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    /// Index into [`Snapshot::trees`].
    pub(crate) tree: usize,
    /// Directory prefix, empty or ending in `/`.
    pub(crate) dir: String,
}

/// Why a snapshot could not be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RepoError {
    /// The git label is neither a branch, a tag nor a commit.
    #[error("No such label: {0}")]
    NoSuchLabel(String),
    /// The git repository could not be cloned.
    #[error("No such repository: {0}")]
    NoSuchRepository(String),
    /// Reading the repository failed.
    #[error("{0}")]
    Internal(String),
}

/// Why an Environment could not be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BuildError {
    /// A configuration file in the repository does not parse.
    #[error("cannot parse configuration file {file}: {reason}")]
    Parse {
        /// Repository-relative file name.
        file: String,
        /// The parser's message.
        reason: String,
    },
}

/// Where each value of one property source starts in its file (`line:column`, 1-based).
pub(crate) type Origins = IndexMap<String, String>;

/// An Environment and, for each of its property sources (same order), its values' origins:
/// what the v2 media type serves as `{"value", "origin"}`.
#[derive(Debug)]
pub(crate) struct ServedEnvironment {
    /// The Environment.
    pub(crate) environment: Environment,
    /// The origins, one map per property source.
    pub(crate) origins: Vec<Origins>,
}

impl ServedEnvironment {
    /// The Environment as the v2 media type carries it: each value that came from a file as
    /// `{"value": v, "origin": "line:col"}`; decrypted values and overrides stay plain.
    pub(crate) fn v2_json(&self) -> Value {
        let mut json = serde_json::to_value(&self.environment).unwrap_or_default();
        let sources = json
            .get_mut("propertySources")
            .and_then(Value::as_array_mut);
        for (source, origins) in sources.into_iter().flatten().zip(&self.origins) {
            let Some(map) = source.get_mut("source").and_then(Value::as_object_mut) else {
                continue;
            };
            for (key, value) in map.iter_mut() {
                if let Some(origin) = origins.get(key) {
                    *value = serde_json::json!({"value": value.take(), "origin": origin});
                }
            }
        }
        json
    }
}

/// One immutable state of the configuration repository.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// The roots files are read from.
    pub(crate) trees: Vec<Tree>,
    /// The `version` reported (git commit id, or the native version setting).
    pub(crate) version: Option<String>,
    /// Rendered responses for this snapshot, by request; cleared when it grows too large.
    cache: RwLock<HashMap<String, Bytes>>,
}

const CACHE_LIMIT: usize = 4096;

/// What an Environment is asked for.
#[derive(Debug, Clone)]
pub(crate) struct Request<'a> {
    /// The application name(s), comma-separated.
    pub(crate) application: &'a str,
    /// The profiles, in request order.
    pub(crate) profiles: &'a [String],
    /// The label as requested.
    pub(crate) label: Option<&'a str>,
}

impl Snapshot {
    /// A snapshot of these trees.
    pub(crate) fn new(trees: Vec<Tree>, version: Option<String>) -> Self {
        Self {
            trees,
            version,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// A cached rendering for `key`, or the one `render` makes (which is then cached).
    pub(crate) fn cached<E>(
        &self,
        key: String,
        render: impl FnOnce() -> Result<Bytes, E>,
    ) -> Result<Bytes, E> {
        if let Some(hit) = self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(hit.clone());
        }
        let rendered = render()?;
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, rendered.clone());
        Ok(rendered)
    }

    /// The property sources for `request`, searched in `locations` (lowest precedence first),
    /// highest precedence first, each with its values' origins.
    pub(crate) fn property_sources(
        &self,
        request: &Request<'_>,
        locations: &[Location],
    ) -> Result<(Vec<EnvironmentPropertySource>, Vec<Origins>), BuildError> {
        let mut names = vec!["application"];
        if request.application != "application" {
            names.extend(
                request
                    .application
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty() && *n != "application"),
            );
        }
        let mut sources = (Vec::new(), Vec::new());
        for profile in request.profiles.iter().rev() {
            for location in locations.iter().rev() {
                for name in names.iter().rev() {
                    self.push_file_sources(
                        &mut sources,
                        location,
                        &format!("{name}-{profile}"),
                        request.profiles,
                    )?;
                }
            }
        }
        for location in locations.iter().rev() {
            for name in names.iter().rev() {
                self.push_file_sources(&mut sources, location, name, request.profiles)?;
            }
        }
        Ok(sources)
    }

    fn push_file_sources(
        &self,
        sources: &mut (Vec<EnvironmentPropertySource>, Vec<Origins>),
        location: &Location,
        base: &str,
        profiles: &[String],
    ) -> Result<(), BuildError> {
        let Some(tree) = self.trees.get(location.tree) else {
            return Ok(());
        };
        for extension in CONFIG_EXTENSIONS {
            let path = format!("{}{base}.{extension}", location.dir);
            let Some(file) = tree.files.get(&path) else {
                continue;
            };
            let Some(documents) = &file.documents else {
                continue;
            };
            let documents = documents.as_ref().map_err(|reason| BuildError::Parse {
                file: path.clone(),
                reason: reason.clone(),
            })?;
            let multi = documents.len() > 1;
            for (index, document) in documents.iter().enumerate().rev() {
                if !document.applies_to(profiles) {
                    continue;
                }
                let name = match (multi, tree.config_data_names) {
                    (false, _) => format!("{}/{path}", tree.name),
                    (true, false) => format!("{}/{path} (document #{index})", tree.name),
                    (true, true) => format!(
                        "Config resource 'file [{root}/{path}]' via location '{name}/{dir}' (document #{index})",
                        root = tree.name.strip_prefix("file:").unwrap_or(&tree.name),
                        name = tree.name,
                        dir = location.dir,
                    ),
                };
                // The profile condition stays in the source, as Spring serves it.
                let source = document.typed.clone();
                sources.0.push(EnvironmentPropertySource { name, source });
                sources.1.push(document.origins.clone());
            }
        }
        Ok(())
    }

    /// The Environment for `request`, with its values' origins.
    pub(crate) fn environment(
        &self,
        request: &Request<'_>,
        locations: &[Location],
    ) -> Result<ServedEnvironment, BuildError> {
        let (property_sources, origins) = self.property_sources(request, locations)?;
        Ok(ServedEnvironment {
            environment: Environment {
                name: request.application.to_owned(),
                // Spring answers the comma list as one element (`["dev,prod"]`).
                profiles: vec![request.profiles.join(",")],
                label: request.label.map(str::to_owned),
                version: self.version.clone(),
                state: None,
                property_sources,
            },
            origins,
        })
    }

    /// The plain-text resource `path` for `request`, found as Spring's resource repository
    /// finds it: the locations in search order (the repository root first, so the root's file
    /// wins over a search path's), and in each `name-<profile>.ext` for every profile in request
    /// order (`default` meaning `name.ext` itself) and then `name.ext`.
    pub(crate) fn find_resource(
        &self,
        path: &str,
        profiles: &[String],
        locations: &[Location],
    ) -> Option<&RepoFile> {
        let (dir, file) = match path.rsplit_once('/') {
            Some((dir, file)) => (format!("{dir}/"), file),
            None => (String::new(), path),
        };
        let (stem, extension) = match file.rsplit_once('.') {
            Some((stem, ext)) => (stem, format!(".{ext}")),
            None => (file, String::new()),
        };
        let mut candidates: Vec<String> = Vec::with_capacity(profiles.len() + 1);
        for profile in profiles {
            let candidate = if profile == "default" {
                format!("{dir}{file}")
            } else {
                format!("{dir}{stem}-{profile}{extension}")
            };
            if !candidates.contains(&candidate) {
                candidates.push(candidate);
            }
        }
        candidates.push(format!("{dir}{file}"));
        locations.iter().find_map(|location| {
            let tree = self.trees.get(location.tree)?;
            candidates
                .iter()
                .find_map(|candidate| tree.files.get(&format!("{}{candidate}", location.dir)))
        })
    }
}

/// Replaces every `{cipher}` value by its plain text; a value that does not decrypt becomes
/// `invalid.<key>: <n/a>`, so a lower source's plain value shows through (Spring's rule).
/// Like Spring, the decrypted (and invalid) keys move to the end of their source, in order,
/// which is where the flat renderings list them.
///
/// Without a key (`encryptor` is `None`) no value decrypts, so every `{cipher}` value becomes
/// `invalid.<key>`, as Spring serves it.
pub(crate) fn decrypt_sources(
    sources: &mut [EnvironmentPropertySource],
    origins: &mut [Origins],
    encryptor: Option<&platform::cipher::TextEncryptor>,
) {
    for (index, source) in sources.iter_mut().enumerate() {
        if !source
            .source
            .values()
            .any(|v| v.as_str().is_some_and(|s| s.starts_with("{cipher}")))
        {
            continue;
        }
        let mut plain_values = IndexMap::with_capacity(source.source.len());
        let mut decrypted = IndexMap::new();
        for (key, value) in std::mem::take(&mut source.source) {
            let Some(cipher) = value.as_str().and_then(|s| s.strip_prefix("{cipher}")) else {
                plain_values.insert(key, value);
                continue;
            };
            // A decrypted value is served plain, without an origin (as Spring does).
            if let Some(origins) = origins.get_mut(index) {
                origins.shift_remove(&key);
            }
            let (_, text) = platform::cipher::split_prefixes(cipher);
            let plain = match encryptor {
                Some(encryptor) => encryptor.decrypt(text).map_err(|e| e.to_string()),
                None => Err("no encrypt.key is configured".to_owned()),
            };
            match plain {
                Ok(plain) => {
                    decrypted.insert(key, Value::String(plain));
                }
                Err(error) => {
                    tracing::warn!(key = %key, source = %source.name, %error, "cannot decrypt a {{cipher}} value");
                    decrypted.insert(format!("invalid.{key}"), Value::String("<n/a>".into()));
                }
            }
        }
        plain_values.extend(decrypted);
        source.source = plain_values;
    }
}

#[cfg(test)]
mod tests {
    use platform::settings::ON_PROFILE;

    use super::*;

    fn tree(files: &[(&str, &str)]) -> Tree {
        Tree {
            name: "file:/repo".into(),
            config_data_names: false,
            files: files
                .iter()
                .map(|(p, t)| {
                    (
                        (*p).to_owned(),
                        RepoFile::new(p, Bytes::from(t.to_string())),
                    )
                })
                .collect(),
        }
    }

    fn names(sources: &[EnvironmentPropertySource]) -> Vec<&str> {
        sources
            .iter()
            .map(|s| s.name.strip_prefix("file:/repo/").unwrap_or(&s.name))
            .collect()
    }

    #[test]
    fn precedence_follows_spring_boot_config_data() {
        let snapshot = Snapshot::new(
            vec![tree(&[
                ("application.yml", "a: 1\n"),
                ("application.properties", "a=2\n"),
                ("application-p1.yml", "a: 3\n"),
                ("application-p2.yml", "a: 4\n"),
                (
                    "x.yml",
                    "a: 5\n---\nspring.config.activate.on-profile: p1\na: 6\n---\nspring.config.activate.on-profile: nope\na: 7\n",
                ),
                ("x-p1.yml", "a: 8\n"),
                ("x-p2.properties", "a=9\n"),
                ("x-p2.yml", "a: 10\n"),
                ("y.yml", "a: 11\n"),
            ])],
            None,
        );
        let profiles = vec!["p1".to_owned(), "p2".to_owned()];
        let request = Request {
            application: "x",
            profiles: &profiles,
            label: None,
        };
        let locations = [Location {
            tree: 0,
            dir: String::new(),
        }];
        let (sources, origins) = snapshot.property_sources(&request, &locations).unwrap();
        assert_eq!(origins[1]["a"], "1:4");
        assert_eq!(
            names(&sources),
            vec![
                "x-p2.properties",
                "x-p2.yml",
                "application-p2.yml",
                "x-p1.yml",
                "application-p1.yml",
                "x.yml (document #1)",
                "x.yml (document #0)",
                "application.properties",
                "application.yml",
            ]
        );
        assert_eq!(sources[5].source[ON_PROFILE], "p1");
        assert_eq!(sources[0].source["a"], Value::String("9".into()));
        assert_eq!(sources[1].source["a"], Value::from(10));
    }

    #[test]
    fn properties_files_keep_order_and_split_documents() {
        let file = RepoFile::new(
            "a.properties",
            Bytes::from(
                "b=2\na=1\nlong=x\\\n  y\n#---\nspring.config.activate.on-profile=dev\nc=3\n",
            ),
        );
        let docs = file.documents.unwrap().unwrap();
        assert_eq!(docs.len(), 2);
        let keys: Vec<&String> = docs[0].properties.keys().collect();
        assert_eq!(keys, ["b", "a", "long"]);
        assert_eq!(docs[0].properties["long"], "xy");
        assert_eq!(docs[1].on_profile.as_deref(), Some("dev"));
    }

    #[test]
    fn resources_prefer_profile_variants_and_broken_yaml_is_reported() {
        let snapshot = Snapshot::new(
            vec![tree(&[
                ("nginx.conf", "plain"),
                ("nginx-dev.conf", "dev"),
                ("bad.yml", "a: [1\n"),
            ])],
            None,
        );
        let locations = [Location {
            tree: 0,
            dir: String::new(),
        }];
        let dev = vec!["dev".to_owned()];
        let other = vec!["prod".to_owned()];
        let found = snapshot
            .find_resource("nginx.conf", &dev, &locations)
            .unwrap();
        assert_eq!(&found.bytes[..], b"dev");
        let found = snapshot
            .find_resource("nginx.conf", &other, &locations)
            .unwrap();
        assert_eq!(&found.bytes[..], b"plain");
        // Each profile in request order, then the plain file; `default` means the plain file.
        let both = vec!["prod".to_owned(), "dev".to_owned()];
        let found = snapshot
            .find_resource("nginx.conf", &both, &locations)
            .unwrap();
        assert_eq!(&found.bytes[..], b"dev");
        let default_first = vec!["default".to_owned(), "dev".to_owned()];
        let found = snapshot
            .find_resource("nginx.conf", &default_first, &locations)
            .unwrap();
        assert_eq!(&found.bytes[..], b"plain");
        let request = Request {
            application: "bad",
            profiles: &other,
            label: None,
        };
        assert!(matches!(
            snapshot.property_sources(&request, &locations),
            Err(BuildError::Parse { .. })
        ));
    }

    #[test]
    fn undecryptable_values_become_invalid_keys() {
        let encryptor = platform::cipher::TextEncryptor::new("k", "deadbeef").unwrap();
        let good = format!("{{cipher}}{}", encryptor.encrypt("secret"));
        let mut sources = vec![EnvironmentPropertySource {
            name: "s".into(),
            source: [
                ("a".to_owned(), Value::String(good)),
                ("b".to_owned(), Value::String("{cipher}00ff".into())),
                ("c".to_owned(), Value::from(1)),
            ]
            .into_iter()
            .collect(),
        }];
        decrypt_sources(&mut sources, &mut [Origins::new()], Some(&encryptor));
        assert_eq!(sources[0].source["a"], "secret");
        assert_eq!(sources[0].source["invalid.b"], "<n/a>");
        assert!(!sources[0].source.contains_key("b"));
    }
}
