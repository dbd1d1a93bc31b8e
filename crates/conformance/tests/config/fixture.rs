//! The configuration repository both config servers read: one set of files written to a folder
//! (the native backend) or committed to a git repository with branches, a tag and a commit the
//! test names as labels (the git backend). Both servers read the very same directory, so
//! source names and `version` must agree without normalisation.

use std::path::Path;

/// The symmetric key both servers are started with.
pub(crate) const ENCRYPT_KEY: &str = "conformance-key";

/// The files of the repository's `main` branch (and of the folder), `{cipher}` filled in by
/// [`files`].
const FILES: &[(&str, &str)] = &[
    (
        "application.yml",
        "shared:\n  greeting: hello from application\n  list: [a, b]\nserver:\n  shutdown: graceful\n\
         info:\n  app: ${app.name:none}\n  missing: ${no.such.key}\n",
    ),
    (
        "application-dev.yml",
        "shared:\n  greeting: hello dev\n  list: [dev-only]\n",
    ),
    (
        "application.properties",
        "shared.from-properties=application.properties\n",
    ),
    (
        "app.yml",
        "app:\n  name: app\n  port: 8080\n  yes-flag: yes\n  no-flag: no\n  on-flag: on\n  off-flag: OFF\n\
         \x20 y-letter: y\n  octal: 010\n  octal-like: 09\n  hex: 0x1F\n  binary: 0b1010\n  underscore: 1_000\n\
         \x20 plus: +12\n  sexagesimal: 1:30\n  long: 9223372036854775807\n  u64: 18446744073709551615\n  tilde: ~\n\
         \x20 null-word: null\n  date: 2024-01-15\n  datetime: 2024-01-15T10:00:00Z\n  float: 1.5e3\n\
         \x20 plain-float: 0.10\n  quoted: \"yes\"\n  single: 'on'\n  dollar: $5\n  colon: 'a: b'\n\
         \x20 hash: 'x #y'\n  tab: \"a\\tb\"\n  long-text: lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore\n\
         \x20 empty-list: []\n  empty-map: {}\n  nested:\n    - x: 1\n    - [1, 2]\n\
         \x20 greeting: \"${shared.greeting} world\"\n  escaped: \"\\\\${shared.greeting}\"\n\
         \x20 defaulted: ${no.such:fallback}\n  secret: '{cipher}CIPHER'\n  bad-secret: '{cipher}00ff'\n\
         \x20 multiline: |\n    line one\n    line two\n\
         ---\nspring.config.activate.on-profile: prod\napp:\n  name: app (prod document)\n  in-prod-doc: true\n\
         ---\nspring.config.activate.on-profile: '!dev'\napp.not-dev: true\n",
    ),
    (
        "app-dev.yml",
        "app:\n  name: app dev\n  dev-only: true\n  octal: 0o17\n  list: [1, 2, 3]\n",
    ),
    (
        "app-prod.properties",
        "app.name=app prod\napp.rate=0.19\napp.yes-flag=yes\napp.big=123456789012345678901234567890\n\
         app.unicode=caf\\u00e9\napp.list[0]=p\n",
    ),
    ("app.json", "{\"app\": {\"from-json\": true}}\n"),
    (
        "numbers.yml",
        "numbers:\n  big: 123456789012345678901234567890\n  negative-big: -98765432109876543210\n\
         \x20 infinity: .inf\n  negative-infinity: -.inf\n  not-a-number: .NaN\n",
    ),
    ("other.yml", "other:\n  value: 1\napp.name: other\n"),
    (
        "nginx.conf",
        "server {\n    listen ${app.port};\n    server_name ${app.name};\n    # ${no.such.key}\n}\n",
    ),
    (
        "nginx-dev.conf",
        "server {\n    listen ${app.port};\n    server_name dev-${app.name};\n}\n",
    ),
    (
        "nginx-prod.conf",
        "server {\n    listen 443;\n    server_name prod-${app.name};\n}\n",
    ),
    ("templates/page.txt", "page for ${app.name}\n"),
    ("templates/page-dev.txt", "dev page for ${app.name}\n"),
    (
        "apps/app/app.yml",
        "app:\n  from-application-dir: true\n  name: app from apps/app\n",
    ),
    (
        "apps/other/other.yml",
        "other:\n  from-application-dir: true\n",
    ),
    ("profiles/dev/app.yml", "app:\n  from-profile-dir: dev\n"),
    ("profiles/prod/app.yml", "app:\n  from-profile-dir: prod\n"),
    ("labels/main/app.yml", "app:\n  from-label-dir: main\n"),
    ("labels/master/app.yml", "app:\n  from-label-dir: master\n"),
    ("master/app.yml", "app:\n  from-native-label-dir: master\n"),
];

/// The repository's files, with a `{cipher}` value made with [`ENCRYPT_KEY`] by factura's
/// encryptor (so Spring decrypting it is part of the comparison).
pub(crate) fn files() -> Vec<(&'static str, String)> {
    let encryptor =
        platform::cipher::TextEncryptor::new(ENCRYPT_KEY, platform::cipher::DEFAULT_SALT)
            .expect("a valid key");
    let cipher = encryptor.encrypt("s3cret");
    FILES
        .iter()
        .map(|(path, text)| (*path, text.replace("CIPHER", &cipher)))
        .collect()
}

/// Writes `content` to `root/path`, creating directories.
pub(crate) fn write(root: &Path, path: &str, content: &str) {
    let full = root.join(path);
    if let Some(parent) = full.parent() {
        std::fs::create_dir_all(parent).expect("create directories");
    }
    std::fs::write(full, content).expect("write file");
}

/// A folder holding [`files`].
pub(crate) fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    for (path, content) in files() {
        write(dir.path(), path, &content);
    }
    dir
}

/// A git repository made with the `git` command.
pub(crate) struct GitRepo {
    /// Its working tree (Spring's JGit reads a `file:` repository in place).
    pub(crate) dir: tempfile::TempDir,
}

/// The commits a test refers to by id.
pub(crate) struct Commits {
    /// The first commit (tagged `v1`).
    pub(crate) first: String,
    /// `main`'s head.
    pub(crate) main: String,
}

impl GitRepo {
    /// An empty repository whose first branch is `branch`.
    pub(crate) fn new(branch: &str) -> Self {
        let repo = Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        };
        repo.git(&["init", "-q", "-b", branch]);
        repo.git(&["config", "user.email", "conformance@factura.local"]);
        repo.git(&["config", "user.name", "factura conformance"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        repo
    }

    /// The repository of [`files`]: `main` with two commits (the first tagged `v1`, also as
    /// the annotated `v1-annotated`), `master` and `feature/x` branching off it.
    pub(crate) fn standard() -> (Self, Commits) {
        let repo = Self::new("main");
        let mut first_files = files();
        first_files.retain(|(path, _)| *path != "app-dev.yml");
        for (path, content) in &first_files {
            write(repo.dir.path(), path, content);
        }
        write(
            repo.dir.path(),
            "app-dev.yml",
            "app:\n  name: app dev at v1\n",
        );
        let first = repo.commit("first");
        repo.git(&["tag", "v1"]);
        repo.git(&["tag", "-a", "v1-annotated", "-m", "annotated"]);
        for (path, content) in files() {
            write(repo.dir.path(), path, &content);
        }
        let main = repo.commit("second");
        repo.git(&["checkout", "-q", "-b", "master"]);
        write(repo.dir.path(), "app.yml", "app:\n  name: app on master\n");
        repo.commit("master");
        repo.git(&["checkout", "-q", "-b", "feature/x", "main"]);
        write(
            repo.dir.path(),
            "app-dev.yml",
            "app:\n  name: app dev on feature/x\n",
        );
        repo.commit("feature");
        repo.git(&["checkout", "-q", "main"]);
        (repo, Commits { first, main })
    }

    /// A repository with only a `master` branch.
    pub(crate) fn master_only() -> Self {
        let repo = Self::new("master");
        for (path, content) in files() {
            write(repo.dir.path(), path, &content);
        }
        repo.commit("only");
        repo
    }

    /// Runs git in the repository and returns its trimmed standard output.
    pub(crate) fn git(&self, args: &[&str]) -> String {
        testkit::git(self.dir.path(), args)
    }

    fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// `file://…` of the repository.
    pub(crate) fn uri(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }
}
