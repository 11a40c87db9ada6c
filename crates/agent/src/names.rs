//! Names the agent derives from paths: one hash and one way to make a path
//! a file name, shared by the seed markers and the sync state files.

/// 64-bit FNV-1a: tiny, stable across builds (markers and state files
/// outlive a container restart), good enough to tell configs and paths
/// apart.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn update(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    pub fn finish(self) -> u64 {
        self.0
    }
}

/// Hash of a byte string.
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h = Fnv::default();
    h.update(bytes);
    h.finish()
}

/// A readable, collision-safe file name for a path: its bytes with anything
/// but ASCII letters, digits, `-` and `.` turned into `_`, trimmed of `_`,
/// its last 80 characters, then `-` and the FNV-1a hash of the exact bytes
/// (`/.rofs/dst/config` → `.rofs_dst_config-<16 hex digits>`).
pub fn path_as_file_name(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    let readable: String = bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' {
                b as char
            } else {
                '_'
            }
        })
        .collect();
    let readable = readable.trim_matches('_');
    let short = &readable[readable.len().saturating_sub(80)..];
    format!("{short}-{:016x}", fnv(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_published_test_vectors() {
        assert_eq!(fnv(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn a_path_becomes_a_readable_name() {
        let p = std::path::Path::new("/.rofs/dst/rofs-copy-config");
        let name = path_as_file_name(p);
        let (readable, hash) = name.rsplit_once('-').expect("dash");
        assert_eq!(readable, ".rofs_dst_rofs-copy-config");
        assert_eq!(
            hash,
            format!("{:016x}", fnv(b"/.rofs/dst/rofs-copy-config"))
        );
        let long = std::path::PathBuf::from(format!("/{}", "x".repeat(300)));
        assert_eq!(path_as_file_name(&long).len(), 80 + 1 + 16);
    }
}
