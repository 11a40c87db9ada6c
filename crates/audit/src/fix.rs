//! The fix of a finding: the `rofs patch` command line, and what it writes (the document's
//! replacement and its unified diff).

use rofs_core::Settings;
use rofs_manifest::{Format, Input};
use similar::{ChangeTag, TextDiff};

/// `s` as one shell word (single-quoted when it holds anything but `[A-Za-z0-9_./=:@,+-]`).
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./=:@,+-".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `rofs patch FLAGS FILE` (`-` for stdin).
pub fn patch_command(flags: &[String], file: &str) -> String {
    let mut words = vec!["rofs".to_string(), "patch".to_string()];
    words.extend(flags.iter().map(|f| shell_word(f)));
    words.push(if file == crate::STDIN {
        "-".into()
    } else {
        shell_word(file)
    });
    words.join(" ")
}

/// What `rofs patch` writes for one document's text (`None`: it refuses the document). The
/// same library call as `rofs patch`; `json`: the document is in a JSON stream (written back
/// as JSON, as rofs patch does for a JSON input).
pub fn replacement(file: &str, text: &str, json: bool, settings: &Settings) -> Option<String> {
    let format = if json { Format::Json } else { Format::Yaml };
    let input = Input { name: file, text };
    rofs_manifest::patch(&[input], settings, format)
        .ok()
        .map(|p| p.output)
}

/// The unified diff of `old` (the text at line `first_line` of `file`) against `new`, with the
/// file's line numbers: `patch -p0` applies it to the file. Empty when they are equal.
pub fn unified_diff(file: &str, first_line: usize, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let offset = first_line.saturating_sub(1);
    let diff = TextDiff::from_lines(old, new);
    let name = if file == crate::STDIN { "-" } else { file };
    let mut out = format!("--- {name}\n+++ {name}\n");
    for group in diff.grouped_ops(3) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            hunk_range(old_range.start + offset, old_range.len()),
            hunk_range(new_range.start + offset, new_range.len())
        ));
        for op in &group {
            for change in diff.iter_changes(op) {
                let sign = match change.tag() {
                    ChangeTag::Equal => ' ',
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                };
                out.push(sign);
                let line = change.value();
                out.push_str(line);
                if !line.ends_with('\n') {
                    out.push_str("\n\\ No newline at end of file\n");
                }
            }
        }
    }
    out
}

/// `START,LEN` of a hunk header (0-based `start`): 1-based, and for an empty range the line
/// before it, as diff(1) writes them.
fn hunk_range(start: usize, len: usize) -> String {
    match len {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        _ => format!("{},{len}", start + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_the_shell() {
        assert_eq!(shell_word("deploy.yaml"), "deploy.yaml");
        assert_eq!(shell_word("web=nginx"), "web=nginx");
        assert_eq!(shell_word("my file's.yaml"), r"'my file'\''s.yaml'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(
            patch_command(&["--profile".into(), "web=nginx".into()], "a b.yaml"),
            "rofs patch --profile web=nginx 'a b.yaml'"
        );
        assert_eq!(patch_command(&[], crate::STDIN), "rofs patch -");
    }

    #[test]
    fn hunks_carry_the_file_line_numbers() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\ni\n";
        // The document starts at line 10 of the file: its line 5 is the file's line 14.
        assert_eq!(
            unified_diff("f.yaml", 10, old, new),
            "--- f.yaml\n+++ f.yaml\n@@ -11,7 +11,8 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n+i\n"
        );
        assert_eq!(unified_diff("f.yaml", 1, old, old), "");
        assert_eq!(
            unified_diff("f.yaml", 1, "a", "b\n"),
            "--- f.yaml\n+++ f.yaml\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+b\n"
        );
    }
}
