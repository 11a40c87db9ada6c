//! `install DIR`: the agent copies its own executable to `DIR/rofs-agent`,
//! atomically (a temporary file in DIR with a random name, created with
//! `O_EXCL|O_NOFOLLOW`, fsync, chmod 0755, rename, fsync DIR), so a
//! restarted install container never leaves a truncated binary behind. Works
//! as any user when DIR is writable (the shared emptyDir is world-writable).

use std::fs::File;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{AgentError, IoContext};

/// Name of the installed binary inside DIR.
pub const INSTALLED_NAME: &str = "rofs-agent";

fn ctx<T>(r: io::Result<T>, op: &'static str, path: &Path) -> Result<T, AgentError> {
    r.ctx(op, || path.to_path_buf())
}

/// Copies the running executable to `dir/rofs-agent`; returns that path.
pub fn run(dir: &Path) -> Result<PathBuf, AgentError> {
    // /proc/self/exe opens the running image even if its path is gone.
    let self_exe = Path::new("/proc/self/exe");
    let (mut src, src_path) = match File::open(self_exe) {
        Ok(f) => (f, self_exe.to_path_buf()),
        Err(_) => {
            let p = ctx(std::env::current_exe(), "find own executable", self_exe)?;
            (ctx(File::open(&p), "open", &p)?, p)
        }
    };
    ctx(std::fs::create_dir_all(dir), "create directory", dir)?;
    let dest = dir.join(INSTALLED_NAME);
    // DIR is shared (a 0777 emptyDir): a random name, created exclusively.
    let (mut out, tmp) = ctx(
        crate::safefile::create_new(dir, &format!(".{INSTALLED_NAME}."), ".tmp", 0o700),
        "create a temporary file in",
        dir,
    )?;
    let result = (|| {
        ctx(io::copy(&mut src, &mut out), "copy", &src_path)?;
        ctx(out.sync_all(), "sync", &tmp)?;
        ctx(
            out.set_permissions(std::fs::Permissions::from_mode(0o755)),
            "chmod",
            &tmp,
        )?;
        drop(out);
        ctx(std::fs::rename(&tmp, &dest), "rename", &dest)?;
        ctx(File::open(dir).and_then(|d| d.sync_all()), "sync", dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| dest)
}
