//! The git backend: a clone of `spring.cloud.config.server.git.uri`, fetched in the background.
//!
//! * The repository is cloned (without a worktree checkout) when the service starts and fetched
//!   every `…git.refresh-rate` seconds (at least one second; negative means never) by one
//!   background task. Requests never touch the network: a slow or unreachable remote only
//!   delays how soon a new commit is seen, and the last good refs keep being served.
//! * A label is a remote branch, a tag, or a commit id (full or abbreviated). Branches and tags
//!   are read into an in-memory index after every fetch; commit ids are resolved on demand.
//! * Each commit's files are read once into an immutable [`Snapshot`] (cached per commit id),
//!   so every request for that commit is served from memory; `version` is the commit id.
//!
//! Remotes: `file://` and paths (the system `git upload-pack`), `ssh://` (the system `ssh`), and
//! `http://` and `https://` with `…git.username/password` sent as basic auth, as Spring's JGit
//! does (a hosted repository's token works as the password). https trusts what
//! `factura.ssl.client.*` says ([`platform::tls`]), or anything with `…git.skip-ssl-validation`.
//! Credentials never reach a log line or an error body: messages name the remote with its
//! user-info removed ([`GitOptions::shown_uri`]).
//!
//! gix's network and object access is blocking, so it runs in `spawn_blocking`; one fetch runs
//! at a time, and a fetch that hangs past `…git.timeout` is reported and left to finish on its
//! blocking thread without holding anything a request needs.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::Context as _;
use arc_swap::ArcSwapOption;
use bytes::Bytes;
use gix::ObjectId;
use tokio_util::sync::CancellationToken;

use crate::snapshot::{Location, MAX_FILE_BYTES, RepoError, RepoFile, Snapshot, Tree};

/// How the git backend is configured (Spring's `spring.cloud.config.server.git.*`).
#[derive(Debug, Clone)]
pub(crate) struct GitOptions {
    /// The remote.
    pub(crate) uri: String,
    /// `default-label`; `None` means `main`.
    pub(crate) default_label: Option<String>,
    /// `try-master-branch`: when the label asked for is the default label `main` and there is
    /// no `main`, serve `master` (Spring's default, true).
    pub(crate) try_master_branch: bool,
    /// `search-paths`: subdirectories searched after the root (`{application}`, `*` allowed).
    pub(crate) search_paths: Vec<String>,
    /// Fetch interval; `None` never fetches after the clone.
    pub(crate) refresh: Option<Duration>,
    /// Longest a clone or fetch may take before it is reported as failed.
    pub(crate) timeout: Duration,
    /// `username`/`password` for HTTP remotes.
    pub(crate) credentials: Option<(String, String)>,
    /// `basedir`: where the clone lives; a temporary directory when unset.
    pub(crate) basedir: Option<PathBuf>,
    /// The TLS client configuration for `https://` remotes (trust, `skip-ssl-validation`).
    pub(crate) tls: Arc<rustls::ClientConfig>,
}

impl GitOptions {
    /// The remote as logs and error bodies show it: any `user:password@` removed.
    pub(crate) fn shown_uri(&self) -> String {
        without_user_info(&self.uri)
    }
}

/// Points an https connection at the platform's TLS configuration (gix's reqwest transport
/// otherwise builds its own client, trusting the system's roots only).
fn use_platform_tls<T>(
    connection: &mut gix::remote::Connection<'_, '_, '_, T>,
    tls: &Arc<rustls::ClientConfig>,
    connect_timeout: Duration,
) where
    T: gix::protocol::transport::client::blocking_io::Transport,
{
    use gix::protocol::transport::client::blocking_io::http;
    let remote = connection.remote();
    let Some(url) = remote.url(gix::remote::Direction::Fetch) else {
        return;
    };
    if url.scheme != gix::url::Scheme::Https {
        return;
    }
    let url = url.to_bstring();
    let mut options = remote
        .repo()
        .transport_options(
            AsRef::<gix::bstr::BStr>::as_ref(&url),
            remote.name().map(|n| n.as_bstr()),
        )
        .ok()
        .flatten()
        .and_then(|options| options.downcast::<http::Options>().ok())
        .map(|options| *options)
        .unwrap_or_default();
    let tls = Arc::clone(tls);
    let backend = http::reqwest::Options {
        configure_client: Some(Box::new(move |builder| {
            Ok(builder
                .connect_timeout(connect_timeout)
                .tls_backend_preconfigured((*tls).clone()))
        })),
        configure_request: None,
    };
    options.backend = Some(Arc::new(Mutex::new(backend)));
    connection.set_transport_options(Box::new(options));
}

/// `uri` with the user-info of a URL removed (`https://user:token@host/x` → `https://host/x`).
pub(crate) fn without_user_info(uri: &str) -> String {
    match uri.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => uri.to_owned(),
            }
        }
        None => uri.to_owned(),
    }
}

/// Branches and tags as of the last successful fetch.
#[derive(Debug, Default)]
struct Refs {
    branches: HashMap<String, ObjectId>,
    tags: HashMap<String, ObjectId>,
}

/// Spring's default label, and the branch it falls back to.
const MAIN: &str = "main";
const MASTER: &str = "master";

/// The git backend.
#[derive(Debug)]
pub(crate) struct GitBackend {
    options: GitOptions,
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    refs: ArcSwapOption<Refs>,
    snapshots: RwLock<HashMap<ObjectId, Arc<Snapshot>>>,
    commit_labels: Mutex<HashMap<String, ObjectId>>,
    syncing: Arc<AtomicBool>,
    last_error: Mutex<Option<String>>,
}

const SNAPSHOT_LIMIT: usize = 64;

impl GitBackend {
    /// A backend for `options`; nothing is cloned until [`GitBackend::sync`].
    pub(crate) fn new(options: GitOptions) -> anyhow::Result<Self> {
        if options.uri.contains('{') {
            anyhow::bail!(
                "spring.cloud.config.server.git.uri with {{application}}-style placeholders is not supported"
            );
        }
        let (dir, temp) = match &options.basedir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating git basedir {}", dir.display()))?;
                (dir.clone(), None)
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("config-repo-")
                    .tempdir()
                    .context("creating a directory for the git clone")?;
                (temp.path().join("repo"), Some(temp))
            }
        };
        Ok(Self {
            options,
            dir,
            _temp: temp,
            refs: ArcSwapOption::empty(),
            snapshots: RwLock::new(HashMap::new()),
            commit_labels: Mutex::new(HashMap::new()),
            syncing: Arc::new(AtomicBool::new(false)),
            last_error: Mutex::new(None),
        })
    }

    /// The configured remote as it may be shown (no credentials).
    pub(crate) fn uri(&self) -> String {
        self.options.shown_uri()
    }

    /// `text` with the password and the remote's user-info taken out, whatever produced it
    /// (gix and reqwest errors may quote the URL they were given).
    fn redacted(&self, text: &str) -> String {
        let mut text = text.replace(&self.options.uri, &self.options.shown_uri());
        if let Some((_, password)) = &self.options.credentials
            && !password.is_empty()
        {
            text = text.replace(password.as_str(), "******");
        }
        text
    }

    /// Clones or fetches once, then swaps in the new refs. Errors are recorded and returned;
    /// the previous refs stay in force.
    pub(crate) async fn sync(self: &Arc<Self>) -> anyhow::Result<()> {
        if self.syncing.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let this = Arc::clone(self);
        let syncing = Arc::clone(&self.syncing);
        let task = tokio::task::spawn_blocking(move || {
            let result = this.sync_blocking();
            syncing.store(false, Ordering::Release);
            result
        });
        let result = match tokio::time::timeout(self.options.timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(anyhow::anyhow!("git task failed: {join}")),
            Err(_) => Err(anyhow::anyhow!(
                "git fetch from {} took longer than {:?}",
                self.options.shown_uri(),
                self.options.timeout
            )),
        };
        match result {
            Ok(refs) => {
                let refs = Arc::new(refs);
                let changed = self
                    .refs
                    .load()
                    .as_ref()
                    .is_none_or(|old| old.branches != refs.branches || old.tags != refs.tags);
                self.refs.store(Some(refs));
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                if changed {
                    tracing::info!(uri = %self.options.shown_uri(), "git repository refs updated");
                    // Warm the default label's snapshot so the next request is served from memory.
                    if let Err(error) = self.resolve(None).await {
                        tracing::warn!(%error, "default label unavailable");
                    }
                }
                Ok(())
            }
            Err(error) => {
                let message = self.redacted(&format!("{error:#}"));
                tracing::warn!(uri = %self.options.shown_uri(), error = %message, "git fetch failed; serving the last good state");
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(message.clone());
                Err(anyhow::anyhow!(message))
            }
        }
    }

    /// Fetches every refresh interval until `shutdown`.
    pub(crate) async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let Some(every) = self.options.refresh else {
            return;
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            let _ = self.sync().await;
        }
    }

    fn credentials_helper(
        &self,
    ) -> Option<
        impl FnMut(
            gix::credentials::helper::Action,
        ) -> gix::Result<Option<gix::credentials::protocol::Outcome>>
        + Clone
        + 'static,
    > {
        let (username, password) = self.options.credentials.clone()?;
        Some(move |action| match action {
            gix::credentials::helper::Action::Get(context) => {
                Ok(Some(gix::credentials::protocol::Outcome {
                    identity: gix::sec::identity::Account {
                        username: username.clone(),
                        password: password.clone(),
                        oauth_refresh_token: None,
                    },
                    next: context.into(),
                }))
            }
            _ => Ok(None),
        })
    }

    fn sync_blocking(&self) -> anyhow::Result<Refs> {
        let interrupt = AtomicBool::new(false);
        let repo = if self.dir.join(".git").exists() {
            let repo = gix::open(&self.dir).context("opening the local clone")?;
            let remote = repo
                .find_remote("origin")
                .context("the local clone has no origin")?
                .with_refspecs(["+refs/tags/*:refs/tags/*"], gix::remote::Direction::Fetch)
                .context("adding the tag refspec")?;
            let mut connection = remote
                .connect(gix::remote::Direction::Fetch)
                .with_context(|| format!("connecting to {}", self.options.shown_uri()))?;
            if let Some(helper) = self.credentials_helper() {
                connection.set_credentials(helper);
            }
            use_platform_tls(&mut connection, &self.options.tls, self.options.timeout);
            connection
                .prepare_fetch(gix::progress::Discard, Default::default())
                .with_context(|| format!("fetching from {}", self.options.shown_uri()))?
                .receive(gix::progress::Discard, &interrupt)
                .with_context(|| format!("fetching from {}", self.options.shown_uri()))?;
            repo
        } else {
            if self.dir.exists() {
                std::fs::remove_dir_all(&self.dir).ok();
            }
            let prepare = gix::prepare_clone(self.options.uri.as_str(), &self.dir)
                .with_context(|| format!("cloning {}", self.options.shown_uri()))?;
            let helper = self.credentials_helper();
            let (tls, timeout) = (Arc::clone(&self.options.tls), self.options.timeout);
            let (repo, _) = prepare
                .configure_connection(move |connection| {
                    if let Some(helper) = &helper {
                        connection.set_credentials(helper.clone());
                    }
                    use_platform_tls(connection, &tls, timeout);
                    Ok(())
                })
                .fetch_only(gix::progress::Discard, &interrupt)
                .with_context(|| format!("cloning {}", self.options.shown_uri()))?;
            repo
        };
        read_refs(&repo)
    }

    /// The snapshot for `label` (the default label when `None`).
    pub(crate) async fn resolve(
        self: &Arc<Self>,
        label: Option<&str>,
    ) -> Result<Arc<Snapshot>, RepoError> {
        let Some(refs) = self.refs.load_full() else {
            let reason = self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .unwrap_or_else(|| "the repository has not been cloned yet".into());
            return Err(RepoError::NoSuchRepository(reason));
        };
        let default_label = self.configured_default_label();
        let label = label.unwrap_or(default_label);
        let commit = match self.find_label(&refs, label).await {
            Err(RepoError::NoSuchLabel(_))
                if label == default_label && label == MAIN && self.options.try_master_branch =>
            {
                self.find_label(&refs, MASTER).await?
            }
            found => found?,
        };
        if let Some(snapshot) = self
            .snapshots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&commit)
        {
            return Ok(Arc::clone(snapshot));
        }
        let dir = self.dir.clone();
        let uri = self.options.shown_uri().trim_end_matches('/').to_owned();
        let snapshot = tokio::task::spawn_blocking(move || read_snapshot(&dir, commit, uri))
            .await
            .map_err(|e| RepoError::Internal(e.to_string()))?
            .map_err(|e| RepoError::Internal(format!("{e:#}")))?;
        let snapshot = Arc::new(snapshot);
        let mut snapshots = self.snapshots.write().unwrap_or_else(|p| p.into_inner());
        if snapshots.len() >= SNAPSHOT_LIMIT {
            snapshots.clear();
        }
        snapshots.insert(commit, Arc::clone(&snapshot));
        Ok(snapshot)
    }

    /// The commit `label` names: a branch, a tag, or a commit id.
    async fn find_label(&self, refs: &Refs, label: &str) -> Result<ObjectId, RepoError> {
        match refs.branches.get(label).or_else(|| refs.tags.get(label)) {
            Some(id) => Ok(*id),
            None => self.resolve_commit(label).await,
        }
    }

    async fn resolve_commit(&self, label: &str) -> Result<ObjectId, RepoError> {
        let looks_like_commit =
            (4..=40).contains(&label.len()) && label.bytes().all(|b| b.is_ascii_hexdigit());
        if !looks_like_commit {
            return Err(RepoError::NoSuchLabel(label.to_owned()));
        }
        if let Some(id) = self
            .commit_labels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(label)
        {
            return Ok(*id);
        }
        let dir = self.dir.clone();
        let spec = label.to_owned();
        let id = tokio::task::spawn_blocking(move || -> Option<ObjectId> {
            let repo = gix::open(dir).ok()?;
            let id = repo.rev_parse_single(spec.as_str()).ok()?;
            let commit = id.object().ok()?.peel_to_commit().ok()?;
            Some(commit.id)
        })
        .await
        .ok()
        .flatten()
        .ok_or_else(|| RepoError::NoSuchLabel(label.to_owned()))?;
        let mut labels = self.commit_labels.lock().unwrap_or_else(|p| p.into_inner());
        if labels.len() > 1024 {
            labels.clear();
        }
        labels.insert(label.to_owned(), id);
        Ok(id)
    }

    /// The root followed by the search paths, with `{application}`, `{profile}`, `{label}`
    /// substituted (one path per application and per profile of a comma list; no label means
    /// the configured default label, `main` unless set, as Spring substitutes it even when it
    /// fell back to `master`) and `*` matched against the snapshot's directories. Each
    /// directory appears once, where it first appears.
    pub(crate) fn locations(
        &self,
        snapshot: &Snapshot,
        application: &str,
        profiles: &[String],
        label: Option<&str>,
    ) -> Vec<Location> {
        let mut locations = vec![Location {
            tree: 0,
            dir: String::new(),
        }];
        let Some(tree) = snapshot.trees.first() else {
            return locations;
        };
        let label = label.unwrap_or_else(|| self.configured_default_label());
        let dirs = tree.dirs();
        let mut add = |dir: String| {
            let location = Location { tree: 0, dir };
            if !locations.contains(&location) {
                locations.push(location);
            }
        };
        for pattern in &self.options.search_paths {
            for profile in profiles {
                for app in application.split(',') {
                    let pattern = pattern
                        .replace("{application}", app)
                        .replace("{profile}", profile)
                        .replace("{label}", label);
                    let pattern = pattern.trim_matches('/');
                    if pattern.is_empty() || pattern.split('/').any(|part| part == "..") {
                        continue;
                    }
                    if pattern.contains('*') {
                        for dir in &dirs {
                            if glob_matches(pattern, dir.trim_end_matches('/')) {
                                add(dir.clone());
                            }
                        }
                    } else {
                        add(format!("{pattern}/"));
                    }
                }
            }
        }
        locations
    }

    /// `default-label` as configured; Spring's default is `main`.
    fn configured_default_label(&self) -> &str {
        self.options.default_label.as_deref().unwrap_or(MAIN)
    }
}

/// `*` matches any run of characters except `/`.
fn glob_matches(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|i| rest.is_char_boundary(*i))
                .take_while(|i| !rest[..*i].contains('/'))
                .any(|i| glob_matches(tail, &rest[i..]))
        }
    }
}

fn read_refs(repo: &gix::Repository) -> anyhow::Result<Refs> {
    let mut refs = Refs::default();
    let platform = repo.references().context("reading references")?;
    for reference in platform.remote_branches().context("reading branches")? {
        let Ok(mut reference) = reference else {
            continue;
        };
        let name = reference.name().as_bstr().to_string();
        let Some(branch) = name.strip_prefix("refs/remotes/origin/") else {
            continue;
        };
        if branch == "HEAD" {
            continue;
        }
        if let Ok(id) = reference.peel_to_id() {
            refs.branches.insert(branch.to_owned(), id.detach());
        }
    }
    for reference in platform.tags().context("reading tags")? {
        let Ok(mut reference) = reference else {
            continue;
        };
        let name = reference.name().as_bstr().to_string();
        let Some(tag) = name.strip_prefix("refs/tags/") else {
            continue;
        };
        let commit = reference
            .peel_to_id()
            .ok()
            .and_then(|id| id.object().ok())
            .and_then(|object| object.peel_to_commit().ok());
        if let Some(commit) = commit {
            refs.tags.insert(tag.to_owned(), commit.id);
        }
    }
    Ok(refs)
}

fn read_snapshot(dir: &Path, commit: ObjectId, uri: String) -> anyhow::Result<Snapshot> {
    let repo = gix::open(dir).context("opening the local clone")?;
    let tree = repo
        .find_object(commit)
        .context("finding the commit")?
        .peel_to_commit()
        .context("reading the commit")?
        .tree()
        .context("reading the commit's tree")?;
    let mut recorder = gix::traverse::tree::Recorder::default();
    tree.traverse()
        .breadthfirst(&mut recorder)
        .context("walking the tree")?;
    let mut files = std::collections::BTreeMap::new();
    let mut total = 0usize;
    for entry in recorder.records {
        if !entry.mode.is_blob() {
            continue;
        }
        let object = repo.find_object(entry.oid).context("reading a blob")?;
        if object.data.len() > MAX_FILE_BYTES {
            continue;
        }
        total += object.data.len();
        if total > 64 * MAX_FILE_BYTES {
            anyhow::bail!("the repository is too large to serve from memory");
        }
        let path = entry.filepath.to_string();
        let file = RepoFile::new(&path, Bytes::from(object.data.clone()));
        files.insert(path, file);
    }
    Ok(Snapshot::new(
        vec![Tree {
            name: uri,
            config_data_names: false,
            files,
        }],
        Some(commit.to_string()),
    ))
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn search_path_globs() {
        assert!(glob_matches("bar*", "barn"));
        assert!(glob_matches("a/*/c", "a/b/c"));
        assert!(!glob_matches("bar*", "bar/x"));
        assert!(!glob_matches("bar*", "foo"));
    }
}
