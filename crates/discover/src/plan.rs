//! From written paths to writable paths: which directories, seeded or empty, on disk or in
//! memory, and why. Pure: the image is seen through [`ImageView`], so the rules are unit
//! tested without an engine.
//!
//! Rules (docs/discover.md says the same in prose):
//! 1. Runtime noise is dropped: the files the engine bind-mounts or creates (`/etc/hosts`,
//!    `/etc/resolv.conf`, `/etc/hostname`, `/run/.containerenv`, `/.containerenv`,
//!    `/run/secrets`), kernel filesystems, and directories reported `changed` only because
//!    something inside them changed.
//! 2. A written path needs the directory the app wrote it in: its parent, or, when the app
//!    created that parent too, the nearest ancestor the image has.
//! 3. That directory is never a broad system directory (`/`, `/etc`, `/var`, `/var/lib`,
//!    `/usr`, ...: see [`BROAD`]): there, the app-created directory on the way down is used
//!    instead (the runtime creates its mount point); a file written directly in a broad
//!    directory cannot be made writable alone and is reported. One exception: a log file
//!    written directly in `/var/log` (`php8.2-fpm.log`) makes `/var/log` the writable path,
//!    seeded (the image's log directories and their owners stay).
//! 4. Two or more directories with the same parent collapse into the parent when it is not
//!    broad and the image holds at most [`COLLAPSE_MAX_BYTES`] there (seeding copies them).
//!    Directories inside another one are dropped.
//! 5. A private directory (owned by a user other than root, no access for others: a
//!    PostgreSQL data directory, 0700) is not a mount point: a volume's root belongs to root
//!    (the kubelet creates it, 0777) and a seed that does not run as root cannot give it to the
//!    app's user, so the app would refuse it ("data directory has wrong ownership"). Its parent
//!    is used instead, when not broad: the seed then creates the directory itself, with its
//!    owner and mode.
//! 6. Seed or empty: temporary and runtime directories (`/tmp`, `/var/tmp`, `/run`,
//!    `/var/run`) and directories the image does not have are `empty`; every
//!    other directory is seeded, also when the image's directory has no files (the copy keeps
//!    its owner and mode, which the app may rely on, for almost nothing).
//! 7. Medium: `/run`, `/var/run` (pid files, sockets) go to memory with a `sizeLimit` of the
//!    bytes written, times 4, rounded up to a power of two MiB (at least 1Mi); everything else
//!    stays on disk without a limit (logs and data grow; the comment says how much was
//!    written).
//! 8. A file the image has and the app rewrote, under `/etc` or with a config file's name, is
//!    flagged: if it comes from a ConfigMap in the cluster, it needs `--writable-volume`.

use std::collections::{BTreeMap, BTreeSet};

/// Directories that are never one writable path.
pub const BROAD: &[&str] = &[
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/sbin",
    "/srv",
    "/sys",
    "/usr",
    "/usr/bin",
    "/usr/lib",
    "/usr/lib64",
    "/usr/libexec",
    "/usr/local",
    "/usr/local/bin",
    "/usr/local/lib",
    "/usr/local/share",
    "/usr/sbin",
    "/usr/share",
    "/var",
    "/var/cache",
    "/var/lib",
    "/var/log",
    "/var/opt",
    "/var/spool",
    "/var/mail",
];

/// The one broad directory where a file written directly makes the directory writable (rule 3).
pub const LOG_DIR: &str = "/var/log";

/// A parent is not used for siblings when the image holds more than this there.
pub const COLLAPSE_MAX_BYTES: u64 = 32 << 20;

/// Where an app's runtime files go: empty, and for `/run` in memory.
const TEMP_DIRS: &[&str] = &["/tmp", "/var/tmp", "/run", "/var/run"];
const MEMORY_DIRS: &[&str] = &["/run", "/var/run"];

const CONFIG_SUFFIXES: &[&str] = &[
    ".conf",
    ".cnf",
    ".cfg",
    ".ini",
    ".yaml",
    ".yml",
    ".json",
    ".xml",
    ".properties",
    ".toml",
    ".env",
];

/// What the engine's diff (or the volume walk) says happened to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    Added,
    Changed,
    Deleted,
    /// Not seen written: named in a read-only error of a verification run.
    Refused,
}

/// One written path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub path: String,
    pub change: Change,
    /// A directory (in the container after the run; for deleted paths: in the image).
    pub is_dir: bool,
    /// Size of the file after the run (0 for directories and deleted paths).
    pub bytes: u64,
}

/// What the rules need to know about the image.
pub trait ImageView {
    /// The image has a directory at `path` (symlinks are not directories).
    fn is_dir(&self, path: &str) -> bool;
    /// Files and directories under `path` in the image, and their bytes.
    fn content(&self, path: &str) -> (usize, u64);
    /// Owner uid and mode of `path` in the image.
    fn owner_mode(&self, path: &str) -> Option<(u32, u32)>;
}

/// A proposed writable path with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Proposal {
    pub path: String,
    pub seed: bool,
    pub memory: bool,
    /// Kubernetes quantity, only for memory.
    pub size_limit: Option<String>,
    /// Files added or changed, directories created, paths deleted.
    pub files: usize,
    pub dirs: usize,
    pub deleted: usize,
    pub bytes: u64,
    /// The image's files under the path (for seeded paths) and their bytes.
    pub image_entries: usize,
    pub image_bytes: u64,
    pub owner_mode: Option<(u32, u32)>,
    /// A few written paths, relative to `path`, for the comment.
    pub examples: Vec<String>,
    /// Added by the verification loop (the read-only run failed without it), not the diff.
    pub from_verification: Option<String>,
    /// Set by the minimality check: the app was ready without this path.
    pub not_needed_for_readiness: bool,
    /// Rule 5: the private directory written in, mounted here one level up (its name, owner
    /// uid and mode).
    pub private_child: Option<(String, u32, u32)>,
}

impl Proposal {
    /// `PATH[:memory][:SIZE][:empty]`, the `-w` spelling.
    pub fn spec(&self) -> String {
        let mut s = self.path.clone();
        if self.memory {
            s.push_str(":memory");
        }
        if let Some(l) = &self.size_limit {
            s.push(':');
            s.push_str(l);
        }
        if !self.seed {
            s.push_str(":empty");
        }
        s
    }
}

/// The result of the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub paths: Vec<Proposal>,
    /// Writes rofs cannot make writable by themselves (a file directly in `/etc`...).
    pub unplaceable: Vec<String>,
    /// Config files the image has and the app rewrote.
    pub rewritten_configs: Vec<String>,
}

impl Plan {
    /// A plan of bare proposals at `paths` (tests).
    #[cfg(test)]
    pub(crate) fn of_paths(paths: &[&str]) -> Plan {
        Plan {
            paths: paths
                .iter()
                .map(|p| Proposal {
                    path: p.to_string(),
                    ..Proposal::default()
                })
                .collect(),
            ..Plan::default()
        }
    }
}

pub fn is_noise(path: &str) -> bool {
    const FILES: &[&str] = &[
        "/etc/hosts",
        "/etc/resolv.conf",
        "/etc/hostname",
        "/etc/mtab",
        "/run/.containerenv",
        "/.containerenv",
        "/.dockerenv",
    ];
    const TREES: &[&str] = &["/proc", "/sys", "/dev", "/run/secrets", "/.rofs"];
    FILES.contains(&path)
        || TREES.iter().any(|t| within(path, t))
        // podman's own mount points for its files (empty files it creates in the layer).
        || path == "/run/secrets"
}

/// `path` is `dir` or inside it.
pub fn within(path: &str, dir: &str) -> bool {
    dir == "/"
        || path == dir
        || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

fn is_broad(dir: &str) -> bool {
    BROAD.contains(&dir)
}

pub fn is_temp(dir: &str) -> bool {
    TEMP_DIRS.iter().any(|t| within(dir, t))
}

fn is_memory(dir: &str) -> bool {
    MEMORY_DIRS.iter().any(|t| within(dir, t))
}

/// The directory a written path needs (rules 2 and 3), or `None` when it has none rofs can
/// make writable.
pub fn target_dir(w: &Write, image: &dyn ImageView) -> Option<String> {
    let mut child = w.path.as_str();
    let mut dir = parent(child);
    while dir != "/" && !image.is_dir(dir) {
        child = dir;
        dir = parent(dir);
    }
    if !is_broad(dir) {
        return Some(dir.to_string());
    }
    // In a broad directory: the directory the app created (or, for a written directory,
    // that directory), never a lone file; except a log file directly in /var/log.
    let child_is_dir = child != w.path || w.is_dir;
    if !child_is_dir && dir == LOG_DIR {
        return Some(LOG_DIR.to_string());
    }
    (child_is_dir && child != "/").then(|| child.to_string())
}

/// Rule 5: a private directory of a user other than root is mounted one level up (when its
/// parent is not broad), so the seed creates it with its owner and mode.
pub fn private_parent(dir: &str, image: &dyn ImageView) -> Option<String> {
    let (uid, mode) = image.owner_mode(dir)?;
    let up = parent(dir);
    (uid != 0 && mode & 0o007 == 0 && !is_broad(up) && image.is_dir(up)).then(|| up.to_string())
}

/// Apply the rules to the writes.
pub fn plan(writes: &[Write], image: &dyn ImageView) -> Plan {
    let mut out = Plan::default();
    let writes: Vec<&Write> = writes
        .iter()
        .filter(|w| !is_noise(&w.path))
        // A directory "changed": something in it changed (reported on its own).
        .filter(|w| !(w.change == Change::Changed && w.is_dir))
        .collect();
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    for w in &writes {
        match target_dir(w, image) {
            Some(d) => {
                dirs.insert(d);
            }
            None => out.unplaceable.push(w.path.clone()),
        }
        if w.change == Change::Changed && !w.is_dir && is_config_file(&w.path) {
            out.rewritten_configs.push(w.path.clone());
        }
    }
    let mut private = BTreeMap::new();
    let dirs = collapse(dirs, image)
        .into_iter()
        .map(|d| match private_parent(&d, image) {
            Some(up) => {
                if let Some((uid, mode)) = image.owner_mode(&d) {
                    private.insert(
                        up.clone(),
                        (d[up.len()..].trim_start_matches('/').to_string(), uid, mode),
                    );
                }
                up
            }
            None => d,
        })
        .collect();
    let dirs = drop_nested(dirs);
    let mut by_dir: BTreeMap<String, Proposal> = dirs
        .iter()
        .map(|d| {
            let mut p = classify(d, image);
            p.private_child = private.get(d).cloned();
            (d.clone(), p)
        })
        .collect();
    for w in &writes {
        let Some(p) = by_dir
            .iter_mut()
            .find(|(d, _)| within(&w.path, d) && w.path != **d)
            .map(|(_, p)| p)
        else {
            continue;
        };
        match (w.change, w.is_dir) {
            (Change::Refused, _) => continue,
            (Change::Deleted, _) => p.deleted += 1,
            (_, true) => p.dirs += 1,
            (_, false) => p.files += 1,
        }
        p.bytes += w.bytes;
        if p.examples.len() < 3 {
            p.examples
                .push(w.path[p.path.len()..].trim_start_matches('/').to_string());
        }
    }
    for p in by_dir.values_mut() {
        if p.memory {
            p.size_limit = Some(memory_limit(
                p.bytes + if p.seed { p.image_bytes } else { 0 },
            ));
        }
    }
    out.paths = by_dir.into_values().collect();
    out
}

/// Rule 4: siblings into their parent, then drop directories inside others.
pub fn collapse(mut dirs: BTreeSet<String>, image: &dyn ImageView) -> BTreeSet<String> {
    loop {
        let mut parents: BTreeMap<&str, usize> = BTreeMap::new();
        for d in &dirs {
            *parents.entry(parent(d)).or_default() += 1;
        }
        let merge: Vec<String> = parents
            .into_iter()
            .filter(|(p, n)| *n >= 2 && !is_broad(p) && image.content(p).1 <= COLLAPSE_MAX_BYTES)
            .map(|(p, _)| p.to_string())
            .collect();
        if merge.is_empty() {
            break;
        }
        for p in merge {
            dirs.retain(|d| parent(d) != p);
            dirs.insert(p);
        }
    }
    drop_nested(dirs)
}

/// Directories inside another one of the set are dropped.
fn drop_nested(mut dirs: BTreeSet<String>) -> BTreeSet<String> {
    let all = dirs.clone();
    dirs.retain(|d| !all.iter().any(|o| o != d && within(d, o)));
    dirs
}

fn classify(dir: &str, image: &dyn ImageView) -> Proposal {
    let in_image = image.is_dir(dir);
    let seed = in_image && !is_temp(dir);
    let (image_entries, image_bytes) = if in_image { image.content(dir) } else { (0, 0) };
    Proposal {
        path: dir.to_string(),
        seed,
        memory: is_memory(dir),
        image_entries,
        image_bytes,
        owner_mode: if in_image {
            image.owner_mode(dir)
        } else {
            None
        },
        ..Proposal::default()
    }
}

/// bytes * 4, rounded up to a power of two MiB, at least 1Mi.
pub fn memory_limit(bytes: u64) -> String {
    let mib = (bytes.saturating_mul(4)).div_ceil(1 << 20).max(1);
    format!("{}Mi", mib.next_power_of_two())
}

fn is_config_file(path: &str) -> bool {
    within(path, "/etc") || CONFIG_SUFFIXES.iter().any(|s| path.ends_with(s))
}

/// `1.2 KiB`-style sizes for comments.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An image given as its directories (with file count and bytes) and owners (root, 0755
    /// unless listed).
    struct Fake(
        BTreeMap<&'static str, (usize, u64)>,
        BTreeMap<&'static str, (u32, u32)>,
    );

    impl ImageView for Fake {
        fn is_dir(&self, path: &str) -> bool {
            self.0.contains_key(path)
        }
        fn content(&self, path: &str) -> (usize, u64) {
            self.0.get(path).copied().unwrap_or_default()
        }
        fn owner_mode(&self, path: &str) -> Option<(u32, u32)> {
            self.is_dir(path)
                .then(|| self.1.get(path).copied().unwrap_or((0, 0o755)))
        }
    }

    fn debian() -> Fake {
        let dirs = [
            "/",
            "/etc",
            "/etc/nginx",
            "/var",
            "/var/lib",
            "/var/lib/nginx",
            "/var/log",
            "/var/log/nginx",
            "/run",
            "/run/lock",
            "/tmp",
            "/usr",
            "/usr/share",
            "/opt",
            "/opt/app",
            "/opt/app/data",
            "/opt/app/logs",
            "/opt/big",
            "/opt/big/a",
            "/opt/big/b",
            "/var/cache",
            "/var/lib/postgresql",
            "/var/lib/postgresql/15",
            "/var/lib/postgresql/15/main",
            "/var/lib/private",
            "/opt/shared",
        ];
        let mut m: BTreeMap<&'static str, (usize, u64)> =
            dirs.iter().map(|d| (*d, (0, 0))).collect();
        m.insert("/var/log/nginx", (2, 0));
        m.insert("/opt/app", (3, 1000));
        m.insert("/opt/big", (1000, 1 << 30));
        let owners = [
            ("/var/lib/postgresql", (101, 0o755)),
            ("/var/lib/postgresql/15", (101, 0o755)),
            ("/var/lib/postgresql/15/main", (101, 0o700)),
            ("/var/lib/private", (101, 0o700)),
            ("/opt/shared", (101, 0o770)),
        ];
        Fake(m, owners.into_iter().collect())
    }

    fn w(path: &str, change: Change, is_dir: bool, bytes: u64) -> Write {
        Write {
            path: path.into(),
            change,
            is_dir,
            bytes,
        }
    }

    fn specs(p: &Plan) -> Vec<String> {
        p.paths.iter().map(Proposal::spec).collect()
    }

    /// The nginx run seen by podman: the expected result is the nginx profile's paths.
    #[test]
    fn nginx_writes_give_the_nginx_profile() {
        use Change::*;
        let writes = [
            w("/etc", Changed, true, 0),
            w("/etc/hosts", Added, false, 200),
            w("/var", Changed, true, 0),
            w("/var/lib", Changed, true, 0),
            w("/var/lib/nginx", Changed, true, 0),
            w("/var/lib/nginx/body", Added, true, 0),
            w("/var/lib/nginx/proxy", Added, true, 0),
            w("/var/log/nginx/access.log", Changed, false, 120),
            w("/var/log/nginx/error.log", Changed, false, 0),
            w("/run/nginx.pid", Added, false, 3),
            w("/run/.containerenv", Added, false, 0),
        ];
        let p = plan(&writes, &debian());
        assert_eq!(
            specs(&p),
            ["/run:memory:1Mi:empty", "/var/lib/nginx", "/var/log/nginx"]
        );
        assert!(p.unplaceable.is_empty());
        assert!(p.rewritten_configs.is_empty());
        let logs = &p.paths[2];
        assert_eq!((logs.files, logs.bytes, logs.image_entries), (2, 120, 2));
        assert_eq!(p.paths[1].dirs, 2);
    }

    #[test]
    fn app_created_dirs_under_broad_dirs_are_their_own_path() {
        use Change::*;
        let writes = [
            w("/var/cache/myapp", Added, true, 0),
            w("/var/cache/myapp/x/y.bin", Added, false, 10),
            w("/var/lib/newapp/state/db", Added, false, 10),
            w("/data", Added, true, 0),
            w("/data/f", Added, false, 1),
        ];
        let p = plan(&writes, &debian());
        assert_eq!(
            specs(&p),
            [
                "/data:empty",
                "/var/cache/myapp:empty",
                "/var/lib/newapp:empty"
            ]
        );
    }

    #[test]
    fn lone_files_in_broad_dirs_are_reported_not_proposed() {
        use Change::*;
        let writes = [
            w("/etc/app.conf", Changed, false, 10),
            w("/var/lock-file", Added, false, 0),
            w("/etc/nginx/nginx.conf", Changed, false, 10),
        ];
        let p = plan(&writes, &debian());
        assert_eq!(specs(&p), ["/etc/nginx"]);
        assert_eq!(p.unplaceable, ["/etc/app.conf", "/var/lock-file"]);
        assert_eq!(
            p.rewritten_configs,
            ["/etc/app.conf", "/etc/nginx/nginx.conf"]
        );
    }

    /// Rule 3's exception: a log file directly in /var/log makes /var/log writable, seeded;
    /// the app's own log directory under it is then inside it.
    #[test]
    fn a_log_file_directly_in_var_log_makes_var_log_writable() {
        use Change::*;
        let writes = [
            w("/var/log/php8.2-fpm.log", Added, false, 300),
            w("/var/log/nginx/error.log", Changed, false, 10),
            w("/var/cache-file", Added, false, 0),
        ];
        let p = plan(&writes, &debian());
        assert_eq!(specs(&p), ["/var/log"]);
        assert_eq!((p.paths[0].files, p.paths[0].bytes), (2, 310));
        assert_eq!(p.unplaceable, ["/var/cache-file"]);
    }

    /// Rule 5: PostgreSQL's data directory (postgres, 0700) is created by the seed one level
    /// up; a private directory whose parent is broad stays (nothing better), and a directory
    /// others may enter (0770: group) is not private.
    #[test]
    fn private_directories_are_mounted_one_level_up() {
        use Change::*;
        let writes = [
            w(
                "/var/lib/postgresql/15/main/postmaster.pid",
                Added,
                false,
                90,
            ),
            w(
                "/var/lib/postgresql/15/main/base/1/112",
                Changed,
                false,
                8192,
            ),
            w("/var/lib/private/state", Added, false, 1),
            w("/opt/shared/f", Added, false, 1),
        ];
        let p = plan(&writes, &debian());
        assert_eq!(
            specs(&p),
            ["/opt/shared", "/var/lib/postgresql/15", "/var/lib/private"]
        );
        let pg = &p.paths[1];
        assert_eq!((pg.files, pg.owner_mode), (2, Some((101, 0o755))));
        assert_eq!(pg.private_child, Some(("main".to_string(), 101, 0o700)));
        assert_eq!(p.paths[2].private_child, None);
    }

    #[test]
    fn siblings_collapse_unless_the_parent_is_big_or_broad() {
        use Change::*;
        let writes = [
            w("/opt/app/data/a", Added, false, 1),
            w("/opt/app/logs/b", Added, false, 1),
            w("/opt/big/a/x", Added, false, 1),
            w("/opt/big/b/x", Added, false, 1),
            w("/tmp/t", Added, false, 1),
        ];
        let p = plan(&writes, &debian());
        assert_eq!(
            specs(&p),
            ["/opt/app", "/opt/big/a", "/opt/big/b", "/tmp:empty"]
        );
    }

    #[test]
    fn deletions_count_and_nested_dirs_merge() {
        use Change::*;
        let writes = [
            w("/opt/app/data/old", Deleted, false, 0),
            w("/opt/app/data", Changed, true, 0),
            w("/opt/app/new.txt", Added, false, 5),
        ];
        let p = plan(&writes, &debian());
        assert_eq!(specs(&p), ["/opt/app"]);
        assert_eq!((p.paths[0].deleted, p.paths[0].files), (1, 1));
    }

    /// A path a read-only run refused is placed like a write but counts as none.
    #[test]
    fn refused_paths_are_placed_not_counted() {
        let writes = [
            w("/opt/app/(a file)", Change::Refused, false, 0),
            w("/var/lib/newapp/x", Change::Refused, false, 0),
        ];
        let p = plan(&writes, &debian());
        assert_eq!(specs(&p), ["/opt/app", "/var/lib/newapp:empty"]);
        assert_eq!((p.paths[0].files, p.paths[0].dirs), (0, 0));
        assert!(p.paths[0].examples.is_empty());
    }

    #[test]
    fn memory_limits() {
        assert_eq!(memory_limit(0), "1Mi");
        assert_eq!(memory_limit(300 << 10), "2Mi");
        assert_eq!(memory_limit(3 << 20), "16Mi");
    }

    #[test]
    fn noise() {
        for n in [
            "/etc/hosts",
            "/run/.containerenv",
            "/proc/1",
            "/run/secrets/x",
        ] {
            assert!(is_noise(n), "{n}");
        }
        assert!(!is_noise("/etc/hosts.allow"));
        assert!(!is_noise("/run/nginx.pid"));
    }
}
