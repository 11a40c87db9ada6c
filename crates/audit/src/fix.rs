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

/// The diff of one document against its replacement, with up to three lines around it as
/// context: the end of `before` (what precedes the document in the file) and the start of
/// `after` (what follows it). `line`: the document's first line. Hunks at the document's
/// edges so get context on both sides, as patch(1) needs to place them inside a file.
pub fn document_diff(
    file: &str,
    line: usize,
    before: &str,
    doc: &str,
    after: &str,
    replacement: &str,
) -> String {
    // Up to three whole lines before the document (it starts at a line start)...
    let mut from = before.len();
    for _ in 0..3 {
        match before[..from.saturating_sub(1)].rfind('\n') {
            Some(i) if from > 0 => from = i + 1,
            _ => {
                from = 0;
                break;
            }
        }
    }
    // ...and up to three after it.
    let mut to = 0;
    for _ in 0..3 {
        match after[to..].find('\n') {
            Some(i) => to += i + 1,
            None => {
                to = after.len();
                break;
            }
        }
    }
    let (head, tail) = (&before[from..], &after[..to]);
    let first_line = line.saturating_sub(head.matches('\n').count()).max(1);
    let old = format!("{head}{doc}{tail}");
    let new = format!("{head}{replacement}{tail}");
    unified_diff(file, first_line, &old, &new)
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
        // A document in the middle of a file: context from its neighbours on both sides.
        let (before, doc, after) = ("a: 1\nb: 2\n", "---\nc: 3\nd: 4\n", "---\ne: 5\n");
        assert_eq!(
            document_diff("f.yaml", 3, before, doc, after, "---\nc: 3\nd: 5\n"),
            "--- f.yaml\n+++ f.yaml\n@@ -2,6 +2,6 @@\n b: 2\n ---\n c: 3\n-d: 4\n+d: 5\n ---\n e: 5\n"
        );
        assert_eq!(
            unified_diff("f.yaml", 1, "a", "b\n"),
            "--- f.yaml\n+++ f.yaml\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+b\n"
        );
    }
}
