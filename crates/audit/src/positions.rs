//! Where a node of a manifest stream is written: line and column (1-based) of a container or
//! of a field, for SARIF regions and the table's `file:line:column`.
//!
//! The stream is split into documents exactly as `rofs patch` splits it
//! ([`rofs_manifest::yaml::split_documents`] for YAML; serde_json's stream reader for a JSON
//! stream), so document numbers agree with every other message of rofs. Each document is read
//! again, only when a finding needs a position, by granit-parser: the YAML parser serde-saphyr
//! (rofs's YAML reader) is built on, whose events carry source markers. JSON documents are read
//! by the same parser (JSON is YAML's flow style), placed at their offset in the stream.
//!
//! What the positions mean:
//! - lines and columns are 1-based; columns count Unicode code points (SARIF
//!   `columnKind: unicodeCodePoints`); an end is exclusive (the column after the last
//!   character); a `\r\n` line end is one line break;
//! - a list item's region starts at its `-` indicator (a container's `- name: web` line);
//! - a map entry's region runs from its key to the end of its value;
//! - a path that goes through an alias (`*base`) continues in the anchored node (`&base`),
//!   where the text to change is, and says so ([`Located::via_alias`]); `<<: *base` merge keys
//!   are followed the same way;
//! - a path that does not exist in full (a container without `securityContext`) gives the
//!   region of its deepest existing node and says how much of it was found
//!   ([`Located::found`]).
//!
//! Helm: a document rendered by Helm starts with `# Source: CHART/templates/FILE.yaml`.
//! [`template_region`] maps a container to its line in that template file when the file can
//! be found and the container recognised in its text (templates are not YAML until rendered,
//! so this is a text search, and says so); otherwise the caller keeps the rendered stream's
//! region.

use std::path::{Path, PathBuf};

use granit_parser::{Event, Marker, Parser, StructureStyle};
use rofs_core::error::Segment;
use rofs_manifest::yaml::{MAX_DEPTH, RawDocument, leading_comments, split_documents};
use serde::Serialize;

/// A region of a text: 1-based lines and columns (Unicode code points), end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Region {
    pub start_line: usize,
    pub start_column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

/// Where a path was found in a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    pub region: Region,
    /// How many segments of the path exist: all of them, or the region is that of the
    /// deepest existing node (the field to add is missing).
    pub found: usize,
    /// Whether the whole path was found.
    pub exact: bool,
    /// The path went through an alias or a merge key: the region is in the anchored node.
    pub via_alias: bool,
}

/// A position as the parser reports it, made global: 1-based line, 0-based column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
struct Pos {
    line: usize,
    col: usize,
}

#[derive(Debug)]
enum Kind {
    Scalar(String),
    Seq {
        block: bool,
        items: Vec<usize>,
    },
    Map(Vec<(usize, usize)>),
    Alias(usize),
    /// An alias whose anchor is unknown (the document was refused elsewhere).
    Dangling,
}

#[derive(Debug)]
struct Node {
    start: Pos,
    end: Pos,
    kind: Kind,
}

/// The nodes of one document with their positions (built from the parser's events without
/// recursion: documents may be nested 1,000 levels deep).
#[derive(Debug)]
pub struct DocTree {
    nodes: Vec<Node>,
    root: Option<usize>,
    /// The document's first and last content positions.
    start: Pos,
    end: Pos,
    /// The template named by a `# Source:` comment before the content (Helm output).
    helm_source: Option<String>,
}

/// Every document of one input text, indexed on demand.
pub struct SourceIndex<'a> {
    text: &'a str,
    /// Byte offset of the start of every line.
    line_starts: Vec<usize>,
    docs: Vec<DocSlice<'a>>,
}

/// One document: its text and where that text starts in the input.
struct DocSlice<'a> {
    text: &'a str,
    /// Global 1-based line and 0-based column (in code points) of `text`'s first character.
    line: usize,
    col: usize,
    /// The comment lines before the content (where Helm's `# Source:` is).
    comments: &'a str,
}

impl<'a> SourceIndex<'a> {
    /// Split `text` into documents as `rofs patch` does (a JSON stream when it is one, YAML
    /// otherwise). Nothing is parsed yet.
    pub fn new(text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let mut index = SourceIndex {
            text,
            line_starts,
            docs: Vec::new(),
        };
        index.docs = match json_slices(text) {
            Some(slices) => slices
                .into_iter()
                .map(|(start, end)| {
                    let (line, col) = index.line_col(start);
                    DocSlice {
                        text: &text[start..end],
                        line,
                        col,
                        comments: "",
                    }
                })
                .collect(),
            None => split_documents(text)
                .into_iter()
                .map(|raw: RawDocument<'a>| DocSlice {
                    text: raw.chunk,
                    line: raw.chunk_line,
                    col: 0,
                    comments: leading_comments(raw.text),
                })
                .collect(),
        };
        index
    }

    /// How many documents the text holds (empty and comment-only ones count, as in rofs patch).
    pub fn documents(&self) -> usize {
        self.docs.len()
    }

    /// The nodes of document `n` (1-based); `None` when there is no such document or the
    /// parser refuses it (rofs patch would have refused it first).
    pub fn document(&self, n: usize) -> Option<DocTree> {
        let slice = self.docs.get(n.checked_sub(1)?)?;
        let mut tree = build(slice, |line| self.line_text(line))?;
        tree.helm_source = helm_source(slice.comments);
        Some(tree)
    }

    /// Line `line` (1-based) without its line break.
    fn line_text(&self, line: usize) -> &'a str {
        let Some(&start) = self.line_starts.get(line.wrapping_sub(1)) else {
            return "";
        };
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }

    /// 1-based line and 0-based column (code points) of byte `offset`.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        (line, self.text[start..offset].chars().count())
    }
}

/// The nodes of one document given as its own text (a [`crate::model::Document`]'s), whose
/// first line is line `first_line` of its file. `None` when the parser refuses it.
pub fn document_at(text: &str, first_line: usize) -> Option<DocTree> {
    let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    let first = first_line.max(1);
    let slice = DocSlice {
        text,
        line: first,
        col: 0,
        comments: head(text),
    };
    let mut tree = build(&slice, |line| {
        line.checked_sub(first)
            .and_then(|i| lines.get(i))
            .copied()
            .unwrap_or("")
    })?;
    tree.helm_source = helm_source(slice.comments);
    Some(tree)
}

/// The byte ranges of the documents of a JSON stream, or `None` when `text` is not one (it is
/// then read as YAML, as rofs patch does).
fn json_slices(text: &str) -> Option<Vec<(usize, usize)>> {
    if !text.trim_start().starts_with(['{', '[']) {
        return None;
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let mut stream = de.into_iter::<serde::de::IgnoredAny>();
    let mut out = Vec::new();
    loop {
        let before = stream.byte_offset();
        match stream.next() {
            None => return Some(out),
            Some(Ok(_)) => {
                let skipped = text[before..].len() - text[before..].trim_start().len();
                out.push((before + skipped, stream.byte_offset()));
            }
            Some(Err(_)) => return None,
        }
    }
}

/// The lines of a document's text before its content: blank, comment, directive and `---`
/// lines.
fn head(text: &str) -> &str {
    let mut end = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with('%') || t == "---" {
            end += line.len();
        } else {
            break;
        }
    }
    &text[..end]
}

/// The template of a Helm `# Source: chart/templates/x.yaml` comment.
fn helm_source(comments: &str) -> Option<String> {
    comments.lines().find_map(|l| {
        let rest = l.trim().strip_prefix('#')?.trim_start();
        let path = rest.strip_prefix("Source:")?.trim();
        (!path.is_empty()).then(|| path.to_string())
    })
}

fn build<'t>(slice: &DocSlice<'_>, line_text: impl Fn(usize) -> &'t str) -> Option<DocTree> {
    let global = |m: &Marker| Pos {
        line: (slice.line + m.line()).saturating_sub(1).max(1),
        col: if m.line() <= 1 {
            slice.col + m.col()
        } else {
            m.col()
        },
    };
    let mut nodes: Vec<Node> = Vec::new();
    let mut anchors: std::collections::HashMap<usize, usize> = Default::default();
    // Open collections: node index, flow (its end event spans the closing bracket).
    let mut stack: Vec<(usize, bool)> = Vec::new();
    // For an open map: a key read, waiting for its value.
    let mut pending_key: Vec<Option<usize>> = Vec::new();
    let mut root = None;
    let mut doc_start: Option<Pos> = None;
    let mut doc_end = Pos::default();

    let mut attach =
        |nodes: &mut Vec<Node>, stack: &[(usize, bool)], pending: &mut Vec<Option<usize>>, id| {
            let Some(&(parent, _)) = stack.last() else {
                root = Some(id);
                return;
            };
            match &mut nodes[parent].kind {
                Kind::Seq { items, .. } => items.push(id),
                Kind::Map(entries) => {
                    let slot = pending.last_mut().expect("a map has a key slot");
                    match slot.take() {
                        None => *slot = Some(id),
                        Some(key) => entries.push((key, id)),
                    }
                }
                _ => {}
            }
        };

    // As rofs's YAML reader reads (rofs_manifest::yaml): the same nesting limit and strict
    // indentation; no comment events (they are not needed, and a long run of them is limited).
    let mut options = granit_parser::options! {
        strict_indentation: true,
        flow_nesting_limit: MAX_DEPTH,
        block_nesting_limit: MAX_DEPTH,
    };
    options.set_emit_comments(false);
    for event in Parser::new_from_str_with_options(slice.text, options) {
        let (event, span) = event.ok()?;
        let (start, end) = (global(&span.start), global(&span.end));
        match event {
            Event::Scalar(value, _, anchor, _) => {
                let id = nodes.len();
                nodes.push(Node {
                    start,
                    end,
                    kind: Kind::Scalar(value.into_owned()),
                });
                if anchor != 0 {
                    anchors.insert(anchor, id);
                }
                doc_start.get_or_insert(start);
                doc_end = doc_end.max(end);
                attach(&mut nodes, &stack, &mut pending_key, id);
            }
            Event::Alias(anchor) => {
                let id = nodes.len();
                let kind = anchors
                    .get(&anchor)
                    .map_or(Kind::Dangling, |&t| Kind::Alias(t));
                nodes.push(Node { start, end, kind });
                doc_start.get_or_insert(start);
                doc_end = doc_end.max(end);
                attach(&mut nodes, &stack, &mut pending_key, id);
            }
            Event::SequenceStart(style, anchor, _) | Event::MappingStart(style, anchor, _) => {
                let id = nodes.len();
                let flow = style == StructureStyle::Flow;
                let kind = if matches!(event, Event::SequenceStart(..)) {
                    Kind::Seq {
                        block: !flow,
                        items: Vec::new(),
                    }
                } else {
                    Kind::Map(Vec::new())
                };
                nodes.push(Node {
                    start,
                    end: start,
                    kind,
                });
                if anchor != 0 {
                    anchors.insert(anchor, id);
                }
                doc_start.get_or_insert(start);
                attach(&mut nodes, &stack, &mut pending_key, id);
                stack.push((id, flow));
                // Sequences take no keys; their slot keeps the two stacks in step.
                pending_key.push(None);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (id, flow) = stack.pop()?;
                pending_key.pop();
                let last_child = match &nodes[id].kind {
                    Kind::Seq { items, .. } => items.last().copied(),
                    Kind::Map(entries) => entries.last().map(|&(_, v)| v),
                    _ => None,
                };
                let mut e = last_child.map_or(nodes[id].start, |c| nodes[c].end);
                if flow {
                    e = e.max(end);
                }
                nodes[id].end = e;
                doc_end = doc_end.max(e);
            }
            _ => {}
        }
    }
    let start = doc_start.unwrap_or(Pos {
        line: slice.line,
        col: slice.col,
    });
    let mut tree = DocTree {
        nodes,
        root,
        start,
        end: doc_end.max(start),
        helm_source: None,
    };
    tree.fix_item_starts(&line_text);
    tree.trim_ends(&line_text);
    Some(tree)
}

impl DocTree {
    /// The template file named by the document's Helm `# Source:` comment, as written there.
    pub fn helm_source(&self) -> Option<&str> {
        self.helm_source.as_deref()
    }

    /// The region of the whole document's content.
    pub fn region(&self) -> Region {
        region(self.start, self.end)
    }

    /// Find `path` (from the document's root). Never fails: a path not found in full gives the
    /// region of its deepest existing node, the document's for an empty path.
    pub fn locate(&self, path: &[Segment]) -> Located {
        let Some(mut node) = self.root else {
            return Located {
                region: self.region(),
                found: 0,
                exact: path.is_empty(),
                via_alias: false,
            };
        };
        let mut start = self.nodes[node].start;
        let mut end = self.nodes[node].end;
        let mut via_alias = false;
        let mut found = 0;
        for seg in path {
            let (target, aliased) = self.resolve(node);
            via_alias |= aliased;
            let next = match (seg, &self.nodes[target].kind) {
                (Segment::Index(i), Kind::Seq { items, .. }) => {
                    items.get(*i).map(|&item| (self.nodes[item].start, item))
                }
                (Segment::Key(k), Kind::Map(_)) => {
                    self.entry(target, k).map(|(key, value, merged)| {
                        via_alias |= merged;
                        (self.nodes[key].start, value)
                    })
                }
                // A pointer's number in a map is a key (`"8080": ...`).
                (Segment::Index(i), Kind::Map(_)) => {
                    self.entry(target, &i.to_string())
                        .map(|(key, value, merged)| {
                            via_alias |= merged;
                            (self.nodes[key].start, value)
                        })
                }
                _ => None,
            };
            let Some((s, value)) = next else {
                break;
            };
            start = s;
            end = self.nodes[value].end.max(s);
            node = value;
            found += 1;
        }
        Located {
            region: region(start, end),
            found,
            exact: found == path.len(),
            via_alias,
        }
    }

    /// [`Self::locate`] for an RFC 6901 JSON pointer (`/spec/containers/0`): a step that is a
    /// number is a list index in a list and a key in a map.
    pub fn locate_pointer(&self, pointer: &str) -> Located {
        let path: Vec<Segment> = pointer
            .split('/')
            .skip(1)
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .map(|t| match t.parse::<usize>() {
                Ok(i) if t == i.to_string() => Segment::Index(i),
                _ => Segment::Key(t),
            })
            .collect();
        self.locate(&path)
    }

    /// Follow aliases to the anchored node (bounded: aliases only point backwards).
    fn resolve(&self, mut node: usize) -> (usize, bool) {
        let mut aliased = false;
        while let Kind::Alias(t) = self.nodes[node].kind {
            if t >= node {
                break;
            }
            node = t;
            aliased = true;
        }
        (node, aliased)
    }

    /// The entry `key` of map `map`: (key node, value node, found through a merge key).
    /// Own keys win over merged ones; merged maps are searched in order (YAML 1.1 merge).
    fn entry(&self, map: usize, key: &str) -> Option<(usize, usize, bool)> {
        // Maps still to search: (map, reached through a merge key).
        let mut todo = vec![(map, false)];
        let mut seen = 0usize;
        while let Some((m, merged)) = todo.pop() {
            seen += 1;
            if seen > 1_000 {
                return None;
            }
            let Kind::Map(entries) = &self.nodes[m].kind else {
                continue;
            };
            let scalar = |n: usize| match &self.nodes[n].kind {
                Kind::Scalar(s) => Some(s.as_str()),
                _ => None,
            };
            if let Some(&(k, v)) = entries.iter().find(|&&(k, _)| scalar(k) == Some(key)) {
                return Some((k, v, merged));
            }
            // `<<: *a` or `<<: [*a, *b]`: the first listed wins, so push in reverse.
            for &(k, v) in entries.iter().rev() {
                if scalar(k) != Some("<<") {
                    continue;
                }
                let (v, _) = self.resolve(v);
                match &self.nodes[v].kind {
                    Kind::Seq { items, .. } => {
                        for &item in items.iter().rev() {
                            todo.push((self.resolve(item).0, true));
                        }
                    }
                    _ => todo.push((v, true)),
                }
            }
        }
        None
    }

    /// A block list item starts at its `-`: move the start of every item of a block sequence
    /// back to its indicator.
    fn fix_item_starts<'t>(&mut self, line_text: &impl Fn(usize) -> &'t str) {
        let items: Vec<usize> = self
            .nodes
            .iter()
            .filter_map(|n| match &n.kind {
                Kind::Seq { block: true, items } => Some(items.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        for item in items {
            let Pos { line, col } = self.nodes[item].start;
            let before: Vec<char> = line_text(line).chars().take(col).collect();
            let trimmed = before
                .iter()
                .rposition(|c| !matches!(c, ' ' | '\t'))
                .map(|i| (i, before[i]));
            if let Some((i, '-')) = trimmed {
                self.nodes[item].start.col = i;
            }
        }
    }

    /// An end at column 0 of a later line (after a block scalar's last line break) ends at the
    /// end of the line before instead.
    fn trim_ends<'t>(&mut self, line_text: &impl Fn(usize) -> &'t str) {
        let fix = |p: &mut Pos, start: Pos| {
            while p.col == 0 && p.line > start.line {
                p.line -= 1;
                p.col = line_text(p.line).chars().count();
            }
        };
        for n in &mut self.nodes {
            let start = n.start;
            fix(&mut n.end, start);
        }
        let start = self.start;
        fix(&mut self.end, start);
    }
}

fn region(start: Pos, end: Pos) -> Region {
    Region {
        start_line: start.line,
        start_column: start.col + 1,
        end_line: end.line,
        end_column: end.col + 1,
    }
}

// -------------------------------------------------------------------------------------------
// Helm templates

/// Where a rendered container was found in its Helm template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateLocated {
    /// The template file, as found on disk.
    pub file: PathBuf,
    pub region: Region,
    /// How the container was recognised: `name` (its `- name: NAME` item, the only one with
    /// that name in the file) or `only-item` (the only item of that list in the file, its
    /// name being a template expression).
    pub matched_by: &'static str,
    /// The field's own line was found below the container (else: the container's region).
    pub field_found: bool,
}

/// The template file of a `# Source:` path: tried below each root, as written
/// (`chart/templates/x.yaml` under the chart's parent directory) and without its first
/// component (under the chart directory itself).
pub fn find_template(source: &str, roots: &[PathBuf]) -> Option<PathBuf> {
    let rel = Path::new(source);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| c == std::path::Component::ParentDir)
    {
        return None;
    }
    let mut comps = rel.components();
    comps.next();
    let inner = comps.as_path().to_path_buf();
    roots
        .iter()
        .flat_map(|root| [root.join(rel), root.join(&inner)])
        .find(|p| p.is_file())
}

/// The region of container `name` of list `list` (`containers`, `initContainers`,
/// `ephemeralContainers`) in a Helm template's text, and of `field` (keys below the
/// container, e.g. `["securityContext", "readOnlyRootFilesystem"]`) when its line is there.
///
/// Templates are not YAML before rendering, so this reads lines: the list's key line, then its
/// items (`- ` lines one indentation deeper). A container is recognised by its `name:`
/// (only when exactly one item of such lists in the file has that name), or, when the names
/// are template expressions, as the only item of that list in the file. Anything less certain
/// gives `None`: the caller then keeps the rendered stream's region.
pub fn template_region(text: &str, list: &str, name: &str, field: &[&str]) -> Option<Region> {
    template_match(text, list, name, field).map(|(r, _, _)| r)
}

/// [`template_region`] with how the container was matched and whether the field was found.
pub fn template_match(
    text: &str,
    list: &str,
    name: &str,
    field: &[&str],
) -> Option<(Region, &'static str, bool)> {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    // Items of the list: (line index, indent of `-`, name as written).
    let mut items: Vec<(usize, usize, Option<String>)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        let indent = indent_of(l);
        let t = l.trim_start();
        if t.strip_prefix(list)
            .and_then(|r| r.strip_prefix(':'))
            .is_some_and(|r| r.trim().is_empty() || r.trim_start().starts_with('#'))
        {
            // The list's items: `-` lines at the first deeper-or-equal indentation seen.
            let mut j = i + 1;
            let mut item_indent = None;
            while j < lines.len() {
                let lj = lines[j];
                let tj = lj.trim_start();
                if tj.is_empty() || tj.starts_with('#') || tj.starts_with("{{") {
                    j += 1;
                    continue;
                }
                let ij = indent_of(lj);
                let marker = ij == 0 && (tj.starts_with("---") || tj.starts_with("..."));
                if marker || ij < indent || (ij == indent && !tj.starts_with('-')) {
                    break;
                }
                if tj.starts_with("- ") || tj == "-" {
                    let want = *item_indent.get_or_insert(ij);
                    if ij == want {
                        items.push((j, ij, item_name(&lines, j, ij)));
                    }
                }
                j += 1;
            }
            i = j;
            continue;
        }
        i += 1;
    }
    let named: Vec<_> = items
        .iter()
        .filter(|(_, _, n)| n.as_deref() == Some(name))
        .collect();
    let (item, how) = match named.as_slice() {
        [one] => (*one, "name"),
        [] if items.len() == 1 && items[0].2.as_deref().is_none_or(|n| n.contains("{{")) => {
            (&items[0], "only-item")
        }
        _ => return None,
    };
    let (line, dash, _) = *item;
    let end = item_end(&lines, line, dash);
    let item_region = Region {
        start_line: line + 1,
        start_column: dash + 1,
        end_line: end + 1,
        end_column: lines[end].chars().count() + 1,
    };
    match field_line(&lines, line, end, dash, field) {
        Some(r) => Some((r, how, true)),
        None => Some((item_region, how, field.is_empty())),
    }
}

fn indent_of(line: &str) -> usize {
    line.chars().take_while(|&c| c == ' ').count()
}

/// The `name:` of the item starting at line `at` (`- name: x` or a `name:` line of the item).
fn item_name(lines: &[&str], at: usize, dash: usize) -> Option<String> {
    let end = item_end(lines, at, dash);
    let first = lines[at].trim_start().strip_prefix('-')?.trim_start();
    let key_indent = dash + (lines[at].trim_start().len() - first.len());
    std::iter::once(first)
        .chain(
            lines[at + 1..=end]
                .iter()
                .filter(|l| indent_of(l) == key_indent)
                .map(|l| l.trim_start()),
        )
        .find_map(|l| l.strip_prefix("name:"))
        .map(|v| unquote(v.split(" #").next().unwrap_or(v).trim()))
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    v.to_string()
}

/// The last line of the item starting at `at` whose `-` is at column `dash`.
fn item_end(lines: &[&str], at: usize, dash: usize) -> usize {
    let mut end = at;
    for (k, l) in lines.iter().enumerate().skip(at + 1) {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if indent_of(l) <= dash && !t.starts_with("{{") {
            break;
        }
        end = k;
    }
    end
}

/// The line of `field` (keys, each nested below the previous) within lines `from..=to`.
fn field_line(
    lines: &[&str],
    from: usize,
    to: usize,
    dash: usize,
    field: &[&str],
) -> Option<Region> {
    if field.is_empty() {
        return None;
    }
    let mut lo = from;
    let mut min_indent = dash + 1;
    let mut hit = None;
    for key in field {
        let pat = format!("{key}:");
        let (k, col) = (lo..=to).find_map(|k| {
            let l = lines[k];
            let t = l.trim_start();
            let t = t.strip_prefix("- ").map_or(t, str::trim_start);
            let col = l.chars().count() - t.chars().count();
            (col >= min_indent && t.starts_with(&pat)).then_some((k, col))
        })?;
        hit = Some((k, col));
        lo = k + 1;
        min_indent = col + 1;
    }
    let (k, col) = hit?;
    Some(Region {
        start_line: k + 1,
        start_column: col + 1,
        end_line: k + 1,
        end_column: lines[k].chars().count() + 1,
    })
}

#[cfg(test)]
mod tests;
