//! The small argument reader that `seed` and `sync` share (no clap: the agent stays small).

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Walks the arguments: options one by one (`--name value`, `--name=value`, `-q`), paths
/// collected into [`Args::positional`], everything after `--` a path.
pub(crate) struct Args {
    it: std::vec::IntoIter<OsString>,
    options_done: bool,
    pub positional: Vec<PathBuf>,
}

/// One option: its name and the value given inline with `=`, if any.
pub(crate) struct Opt {
    pub name: String,
    inline: Option<OsString>,
}

impl Args {
    pub fn new(args: Vec<OsString>) -> Self {
        Args {
            it: args.into_iter(),
            options_done: false,
            positional: Vec::new(),
        }
    }

    /// The next option, or `None` when the arguments are used up.
    pub fn next_option(&mut self) -> Result<Option<Opt>, String> {
        for a in self.it.by_ref() {
            let bytes = a.as_os_str().as_bytes();
            if self.options_done || !bytes.starts_with(b"-") || bytes == b"-" {
                self.positional.push(PathBuf::from(a));
                continue;
            }
            if bytes == b"--" {
                self.options_done = true;
                continue;
            }
            let Some(s) = a.to_str() else {
                return Err(format!("unknown option {a:?}"));
            };
            return Ok(Some(match s.split_once('=') {
                Some((n, v)) if n.starts_with("--") => Opt {
                    name: n.to_string(),
                    inline: Some(OsString::from(v)),
                },
                _ => Opt {
                    name: s.to_string(),
                    inline: None,
                },
            }));
        }
        Ok(None)
    }

    /// The value of `opt`: given inline, or the next argument.
    pub fn value(&mut self, opt: &mut Opt) -> Result<OsString, String> {
        opt.inline
            .take()
            .or_else(|| self.it.next())
            .ok_or_else(|| format!("{} needs a value", opt.name))
    }
}

/// `SRC DST [SRC DST ...]` into pairs: at least one, complete, each DST once.
pub(crate) fn pairs(positional: &[PathBuf]) -> Result<Vec<(PathBuf, PathBuf)>, String> {
    if positional.is_empty() {
        return Err("missing SRC DST".into());
    }
    if positional.len() % 2 != 0 {
        return Err(format!(
            "SRC and DST come in pairs; got {} paths (the last SRC has no DST)",
            positional.len()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(positional.len() / 2);
    for pair in positional.chunks(2) {
        if !seen.insert(&pair[1]) {
            return Err(format!("DST {} is given twice", pair[1].display()));
        }
        out.push((pair[0].clone(), pair[1].clone()));
    }
    Ok(out)
}
