//! Image-name patterns: which catalog entries `--profile auto` picks for a container's image.
//!
//! The rule: an image reference `[HOST[:PORT]/]PATH[:TAG][@DIGEST]` is reduced to its
//! repository PATH (the registry host, the tag and the digest removed; the first component is
//! a host when it has a `.` or a `:` or is `localhost`, as container engines read it). A
//! pattern is one or more `/`-separated components; it matches when it equals the **last**
//! components of PATH, component by component, where `*` in a component stands for any run of
//! characters within that component (never a `/`). So `nginx` matches `nginx:1.27`,
//! `HOST/library/nginx:1.27` and `localhost/nginx@sha256:...`, but not
//! `nginx-prometheus-exporter`, not `nginx/nginx-ingress`; `*/nginx` needs a component before
//! `nginx` (`library/nginx`, not plain `nginx`).

use std::fmt;

/// A checked image-name pattern (see the module documentation for the rule).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImagePattern(String);

impl ImagePattern {
    /// Check a pattern: lowercase repository-name characters (`a-z`, `0-9`, `.`, `_`, `-`) and
    /// `*`, `/` between non-empty components; no tag, digest or host port (`:` and `@`), and
    /// not only `*` (a pattern must name something).
    pub fn parse(text: &str) -> Result<ImagePattern, String> {
        if text.is_empty() {
            return Err("empty image pattern".to_string());
        }
        if text.contains([':', '@']) {
            return Err(format!(
                "image pattern {text:?} has a `:` or `@`: patterns name repositories; tags, digests and registry hosts are not matched"
            ));
        }
        if let Some(c) = text
            .chars()
            .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._-*/".contains(c)))
        {
            return Err(format!(
                "image pattern {text:?} has {c:?}: expected lowercase letters, digits, `.`, `_`, `-`, `*` and `/`"
            ));
        }
        if text.split('/').any(str::is_empty) {
            return Err(format!(
                "image pattern {text:?} has an empty component (a leading, trailing or double `/`)"
            ));
        }
        if text.split('/').all(|c| c.chars().all(|c| c == '*')) {
            return Err(format!(
                "image pattern {text:?} matches every image: name the repository"
            ));
        }
        Ok(ImagePattern(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Does this pattern match the image reference `image` (as written in a pod)?
    pub fn matches(&self, image: &str) -> bool {
        let path: Vec<&str> = repository(image).split('/').collect();
        let pattern: Vec<&str> = self.0.split('/').collect();
        if repository(image).is_empty() || pattern.len() > path.len() {
            return false;
        }
        let tail = &path[path.len() - pattern.len()..];
        pattern.iter().zip(tail).all(|(p, c)| glob(p, c))
    }
}

impl fmt::Display for ImagePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The repository path of an image reference: without the registry host, the tag and the
/// digest. `HOST:5000/team/app:1.2@sha256:...` -> `team/app`; `nginx` -> `nginx`.
pub fn repository(image: &str) -> &str {
    let image = image.trim();
    let no_digest = image.split_once('@').map_or(image, |(name, _)| name);
    // A tag is a `:` after the last `/` (a `:` before it is a host's port).
    let last = no_digest.rfind('/').map_or(0, |i| i + 1);
    let no_tag = match no_digest[last..].find(':') {
        Some(i) => &no_digest[..last + i],
        None => no_digest,
    };
    match no_tag.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => rest,
        _ => no_tag,
    }
}

/// Glob match: `*` any run of characters, `?` one character, everything else literal.
/// The matcher of the webhook's `imageProfiles` (over the whole image reference) and of
/// catalog patterns (over one component at a time).
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it currently stands for.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories() {
        for (image, repo) in [
            ("nginx", "nginx"),
            ("nginx:1.27", "nginx"),
            ("nginx@sha256:0123abcd", "nginx"),
            ("nginx:1.27@sha256:0123abcd", "nginx"),
            ("registry.example/library/nginx:1.27", "library/nginx"),
            ("registry.example:5000/team/app:1.2", "team/app"),
            ("registry:5000/app", "app"),
            ("localhost/rofs-e2e-nginx:bookworm", "rofs-e2e-nginx"),
            // No `.`, `:` or `localhost`: a path component, not a host.
            ("team/app:1", "team/app"),
            ("  app:1 ", "app"),
            ("", ""),
        ] {
            assert_eq!(repository(image), repo, "{image}");
        }
    }

    /// Reviewed by hand: each row says what `--profile auto` must do for that image.
    #[test]
    fn patterns_match_the_last_components_of_the_repository() {
        let table: &[(&str, &str, bool)] = &[
            ("nginx", "nginx", true),
            ("nginx", "nginx:1.27", true),
            ("nginx", "registry.example/library/nginx:1.27", true),
            (
                "nginx",
                "registry.example/library/nginx@sha256:0123abcd",
                true,
            ),
            (
                "nginx",
                "registry.example:5000/team/nginx:1.27-bookworm",
                true,
            ),
            ("nginx", "localhost/nginx", true),
            ("nginx", "nginx-prometheus-exporter:1.1", false),
            ("nginx", "nginx/nginx-prometheus-exporter:1.1", false),
            ("nginx", "nginx/nginx-ingress:3.4", false),
            ("nginx", "my-nginx", false),
            ("nginx", "nginx.example/app", false),
            ("nginx", "nginx/app", false),
            ("nginx", "", false),
            ("*/nginx", "nginx", false),
            ("*/nginx", "registry.example/library/nginx:1", true),
            ("library/nginx", "registry.example/library/nginx:1", true),
            ("library/nginx", "team/nginx", false),
            ("rofs-e2e-nginx", "localhost/rofs-e2e-nginx:bookworm", true),
            (
                "rofs-e2e-tomcat",
                "localhost/rofs-e2e-tomcat-war:bookworm",
                false,
            ),
            ("tomcat*", "tomcat10", true),
            ("tomcat*", "tomcat", true),
            ("tomcat*", "team/tomcat-native:1", true),
            ("tomcat*", "apache-tomcat", false),
            ("*-exporter", "nginx-prometheus-exporter", true),
            // A tag or a host never takes part: the pattern cannot match them.
            ("bookworm", "localhost/rofs-e2e-nginx:bookworm", false),
            ("localhost", "localhost/app", false),
        ];
        for &(pattern, image, want) in table {
            let p = ImagePattern::parse(pattern).expect(pattern);
            assert_eq!(p.matches(image), want, "{pattern} vs {image}");
        }
    }

    #[test]
    fn bad_patterns_are_refused_with_the_reason() {
        for (pattern, needle) in [
            ("", "empty"),
            ("nginx:1.27", "tags"),
            ("nginx@sha256:0", "digests"),
            ("Nginx", "'N'"),
            ("ngi nx", "' '"),
            ("/nginx", "empty component"),
            ("library//nginx", "empty component"),
            ("*", "every image"),
            ("*/**", "every image"),
        ] {
            let e = ImagePattern::parse(pattern).expect_err(pattern);
            assert!(e.contains(needle), "{pattern}: {e}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob("*nginx*", "nginx"));
        assert!(glob(
            "*nginx*",
            "registry.example/library/nginx:1.27@sha256:abc"
        ));
        assert!(glob("nginx:1.2?", "nginx:1.27"));
        assert!(!glob("nginx:1.2?", "nginx:1.2"));
        assert!(glob("registry.example.com/*", "registry.example.com/a/b:1"));
        assert!(!glob(
            "registry.example.com/*",
            "other.example/registry.example.com"
        ));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXbYbZc"));
        assert!(!glob("a*b*c", "aXbYbZ"));
        assert!(glob("é*", "éa"));
    }
}
