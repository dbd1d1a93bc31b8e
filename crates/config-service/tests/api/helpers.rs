//! Fixtures: git repositories made with the `git` CLI, configuration folders, a running server.

use std::{path::Path, time::Duration};

use testkit::TestService;

/// A git repository in a temporary directory, used as the `file://` remote.
pub(crate) struct GitRepo {
    pub(crate) dir: tempfile::TempDir,
}

impl GitRepo {
    /// An empty repository whose first branch is `main`.
    pub(crate) fn new() -> Self {
        let repo = Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.email", "test@factura.local"]);
        repo.git(&["config", "user.name", "factura tests"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        repo
    }

    /// Runs git in the repository and returns its trimmed standard output.
    pub(crate) fn git(&self, args: &[&str]) -> String {
        testkit::git(self.dir.path(), args)
    }

    /// Writes `files` and commits them; returns the commit id.
    pub(crate) fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (path, content) in files {
            write(self.dir.path(), path, content);
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// The `file://` URL of the repository.
    pub(crate) fn uri(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }
}

/// Writes `content` to `root/path`, creating directories.
pub(crate) fn write(root: &Path, path: &str, content: &str) {
    let full = root.join(path);
    if let Some(parent) = full.parent() {
        std::fs::create_dir_all(parent).expect("create directories");
    }
    std::fs::write(full, content).expect("write file");
}

/// A configuration folder with `files`.
pub(crate) fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    for (path, content) in files {
        write(dir.path(), path, content);
    }
    dir
}

/// The config server on a folder, with extra properties.
pub(crate) async fn native_server(dir: &Path, extra: &[(&str, &str)]) -> TestService {
    let location = format!("file:{}", dir.display());
    let mut properties = vec![
        (
            "spring.cloud.config.server.native.search-locations",
            location.as_str(),
        ),
        ("spring.cloud.config.server.native.poll-interval", "200"),
    ];
    properties.extend_from_slice(extra);
    TestService::start(&config_service::SERVICE, &properties).await
}

/// The config server on a git repository, fetching every second.
pub(crate) async fn git_server(repo: &GitRepo, extra: &[(&str, &str)]) -> TestService {
    let uri = repo.uri();
    let mut properties = vec![
        ("spring.cloud.config.server.git.uri", uri.as_str()),
        ("spring.cloud.config.server.git.refresh-rate", "1"),
    ];
    properties.extend_from_slice(extra);
    TestService::start(&config_service::SERVICE, &properties).await
}

/// GET `path` and return status and body text.
pub(crate) async fn get(service: &TestService, path: &str) -> (u16, String) {
    let response = reqwest::get(service.url(path)).await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// GET `path` as JSON, asserting 200.
pub(crate) async fn get_json(service: &TestService, path: &str) -> serde_json::Value {
    let (status, body) = get(service, path).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// The names of an Environment's property sources, with `prefix` stripped.
pub(crate) fn source_names(environment: &serde_json::Value, prefix: &str) -> Vec<String> {
    environment["propertySources"]
        .as_array()
        .expect("propertySources")
        .iter()
        .map(|s| {
            let name = s["name"].as_str().expect("name");
            name.strip_prefix(prefix).unwrap_or(name).to_owned()
        })
        .collect()
}

/// The first (highest precedence) value of `key` in an Environment.
pub(crate) fn first_value(environment: &serde_json::Value, key: &str) -> Option<serde_json::Value> {
    environment["propertySources"]
        .as_array()?
        .iter()
        .find_map(|s| s["source"].get(key).cloned())
}

/// Propagation bound of the issue: a change reaches every instance within 10 s.
pub(crate) const PROPAGATION: Duration = Duration::from_secs(10);
