//! Where configuration comes from: a folder (Spring's `native` profile) or a git repository.
//!
//! Both hand out immutable [`Snapshot`]s. The folder backend rescans its search locations every
//! `…native.poll-interval` ms (default 1000) and swaps in a new snapshot when a file was added,
//! removed or saved; the git backend is in [`crate::git`].

use std::{
    collections::BTreeMap,
    hash::{Hash as _, Hasher as _},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use arc_swap::ArcSwap;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::{
    git::GitBackend,
    snapshot::{Location, MAX_FILE_BYTES, RepoError, RepoFile, Snapshot, Tree},
};

/// The configured backend.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    /// A folder.
    Native(Arc<NativeBackend>),
    /// A git repository.
    Git(Arc<GitBackend>),
}

impl Backend {
    /// The snapshot for `label` (the default label when `None`).
    pub(crate) async fn resolve(&self, label: Option<&str>) -> Result<Arc<Snapshot>, RepoError> {
        match self {
            Backend::Native(native) => Ok(native.snapshot.load_full()),
            Backend::Git(git) => git.resolve(label).await,
        }
    }

    /// Where to look for `application`'s files in `snapshot`, lowest precedence first.
    pub(crate) fn locations(
        &self,
        snapshot: &Snapshot,
        application: &str,
        profiles: &[String],
        label: Option<&str>,
    ) -> Vec<Location> {
        match self {
            Backend::Native(native) => native.locations(snapshot, application, profiles, label),
            Backend::Git(git) => git.locations(snapshot, application, profiles, label),
        }
    }

    /// Starts an update now (a git fetch) without waiting for it; the folder backend already
    /// notices saved files by itself.
    pub(crate) fn trigger(&self) {
        if let Backend::Git(git) = self {
            let git = Arc::clone(git);
            tokio::spawn(async move {
                let _ = git.sync().await;
            });
        }
    }

    /// Keeps the backend current until `shutdown`: rescans the folder, or fetches from git.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        match self {
            Backend::Native(native) => native.run(shutdown).await,
            Backend::Git(git) => git.run(shutdown).await,
        }
    }
}

/// One native search location: a directory, plus a placeholder pattern for the part of the
/// configured path from the first `{…}` on (`file:./repo/{application}` → `./repo` + `{application}`).
#[derive(Debug, Clone)]
struct NativeLocation {
    root: PathBuf,
    pattern: String,
}

/// The folder backend.
#[derive(Debug)]
pub(crate) struct NativeBackend {
    locations: Vec<NativeLocation>,
    version: Option<String>,
    default_label: String,
    poll: Duration,
    snapshot: ArcSwap<Snapshot>,
    fingerprint: Mutex<u64>,
}

impl NativeBackend {
    /// Reads `search_locations` (`file:` URLs or paths, comma-separated in the setting).
    pub(crate) fn new(
        search_locations: &[String],
        version: Option<String>,
        default_label: String,
        poll: Duration,
    ) -> anyhow::Result<Self> {
        let mut locations = Vec::new();
        for raw in search_locations {
            if raw.starts_with("classpath:") {
                anyhow::bail!(
                    "native search location `{raw}`: classpath: locations do not exist here; use a folder"
                );
            }
            let path = raw
                .strip_prefix("file://")
                .or_else(|| raw.strip_prefix("file:"))
                .unwrap_or(raw);
            let (root, pattern) = match path.find('{') {
                Some(index) => {
                    let (root, pattern) =
                        path.split_at(path[..index].rfind('/').map_or(0, |i| i + 1));
                    (root.to_owned(), pattern.trim_matches('/').to_owned())
                }
                None => (path.to_owned(), String::new()),
            };
            let root = if root.is_empty() {
                ".".to_owned()
            } else {
                root
            };
            let root = std::path::absolute(&root).unwrap_or_else(|_| PathBuf::from(&root));
            if !root.is_dir() {
                tracing::warn!(location = %root.display(), "native search location is not a directory (yet)");
            }
            locations.push(NativeLocation { root, pattern });
        }
        let (snapshot, fingerprint) = scan(&locations, version.clone());
        Ok(Self {
            locations,
            version,
            default_label,
            poll,
            snapshot: ArcSwap::from_pointee(snapshot),
            fingerprint: Mutex::new(fingerprint),
        })
    }

    /// Spring's native search order, lowest precedence first: each location with
    /// `{application}`, `{profile}` and `{label}` substituted (one location per application and
    /// profile of a comma list; no label means the default label), then `<location>/<label>/`
    /// for the locations without placeholders. Locations that are not directories are skipped;
    /// each appears once, where it first appears.
    fn locations(
        &self,
        snapshot: &Snapshot,
        application: &str,
        profiles: &[String],
        label: Option<&str>,
    ) -> Vec<Location> {
        let label = label.unwrap_or(&self.default_label).trim();
        let mut out: Vec<Location> = Vec::new();
        let mut add = |tree: usize, dir: String| {
            let exists = snapshot.trees.get(tree).is_some_and(|t| t.has_dir(&dir));
            let location = Location { tree, dir };
            if exists && !out.contains(&location) {
                out.push(location);
            }
        };
        for (index, location) in self.locations.iter().enumerate() {
            for profile in profiles {
                for app in application.split(',') {
                    let dir = location
                        .pattern
                        .replace("{application}", app)
                        .replace("{profile}", profile)
                        .replace("{label}", label);
                    let dir = dir.trim_matches('/');
                    if dir.split('/').any(|part| part == "..") {
                        continue;
                    }
                    add(
                        index,
                        if dir.is_empty() {
                            String::new()
                        } else {
                            format!("{dir}/")
                        },
                    );
                }
            }
        }
        for (index, location) in self.locations.iter().enumerate() {
            if location.pattern.is_empty() && !label.is_empty() && !label.contains("..") {
                add(index, format!("{label}/"));
            }
        }
        out
    }

    async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.poll) => {}
            }
            let this = Arc::clone(&self);
            let rescan = tokio::task::spawn_blocking(move || {
                let current = fingerprint(&this.locations);
                let previous = *this.fingerprint.lock().unwrap_or_else(|p| p.into_inner());
                if current == previous {
                    return false;
                }
                let (snapshot, fingerprint) = scan(&this.locations, this.version.clone());
                this.snapshot.store(Arc::new(snapshot));
                *this.fingerprint.lock().unwrap_or_else(|p| p.into_inner()) = fingerprint;
                true
            });
            if let Ok(true) = rescan.await {
                tracing::info!("configuration folder changed; new snapshot in force");
            }
        }
    }
}

/// Every regular file under `root` (hidden entries such as `.git` skipped), relative paths
/// with `/` separators, with size and modification time.
fn walk(root: &Path) -> Vec<(String, PathBuf, std::fs::Metadata)> {
    let mut out = Vec::new();
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            let relative = format!("{prefix}{name}");
            if metadata.is_dir() {
                pending.push((entry.path(), format!("{relative}/")));
            } else if metadata.is_file() {
                out.push((relative, entry.path(), metadata));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn fingerprint(locations: &[NativeLocation]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for location in locations {
        for (relative, _, metadata) in walk(&location.root) {
            relative.hash(&mut hasher);
            metadata.len().hash(&mut hasher);
            metadata.modified().ok().hash(&mut hasher);
        }
    }
    hasher.finish()
}

fn scan(locations: &[NativeLocation], version: Option<String>) -> (Snapshot, u64) {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut trees = Vec::with_capacity(locations.len());
    for location in locations {
        let mut files = BTreeMap::new();
        for (relative, path, metadata) in walk(&location.root) {
            relative.hash(&mut hasher);
            metadata.len().hash(&mut hasher);
            metadata.modified().ok().hash(&mut hasher);
            if metadata.len() > MAX_FILE_BYTES as u64 {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let file = RepoFile::new(&relative, Bytes::from(bytes));
            files.insert(relative, file);
        }
        trees.push(Tree {
            name: format!("file:{}", location.root.display())
                .trim_end_matches('/')
                .to_owned(),
            config_data_names: true,
            files,
        });
    }
    (Snapshot::new(trees, version), hasher.finish())
}
