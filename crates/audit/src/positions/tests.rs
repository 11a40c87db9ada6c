//! Positions checked against the text by hand: every expected line and column below was
//! counted in the fixture text, not taken from the code's output.

use super::*;

fn path(p: &[&str]) -> Vec<Segment> {
    p.iter()
        .map(|s| match s.parse::<usize>() {
            Ok(i) => Segment::Index(i),
            Err(_) => Segment::Key(s.to_string()),
        })
        .collect()
}

fn at(text: &str, doc: usize, p: &[&str]) -> Located {
    SourceIndex::new(text)
        .document(doc)
        .unwrap_or_else(|| panic!("document {doc} parses"))
        .locate(&path(p))
}

fn r(start_line: usize, start_column: usize, end_line: usize, end_column: usize) -> Region {
    Region {
        start_line,
        start_column,
        end_line,
        end_column,
    }
}

const DEPLOY: &str = "\
# leading comment
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
---
# Source: web/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # a comment
spec:
  template:
    spec:
      containers:
        # the app
        - name: app
          image: nginx
          securityContext:
            readOnlyRootFilesystem: false
        - name: side
          image: busybox
";

#[test]
fn container_starts_at_its_dash_in_a_later_document() {
    let c = ["spec", "template", "spec", "containers", "0"];
    let l = at(DEPLOY, 2, &c);
    assert!(l.exact && !l.via_alias);
    // `        - name: app` is line 16, `-` in column 9; the item ends after `false` (line 19).
    assert_eq!(l.region, r(16, 9, 19, 42));
    let side = at(DEPLOY, 2, &["spec", "template", "spec", "containers", "1"]);
    assert_eq!(side.region, r(20, 9, 21, 25));
}

#[test]
fn field_region_runs_from_key_to_value() {
    let l = at(
        DEPLOY,
        2,
        &[
            "spec",
            "template",
            "spec",
            "containers",
            "0",
            "securityContext",
            "readOnlyRootFilesystem",
        ],
    );
    assert!(l.exact);
    assert_eq!(l.region, r(19, 13, 19, 42));
}

#[test]
fn missing_field_gives_the_deepest_existing_node() {
    let l = at(
        DEPLOY,
        2,
        &[
            "spec",
            "template",
            "spec",
            "containers",
            "1",
            "securityContext",
            "readOnlyRootFilesystem",
        ],
    );
    assert!(!l.exact);
    assert_eq!(l.found, 5);
    assert_eq!(l.region, r(20, 9, 21, 25));
    // A list index past the end: the list (from its key).
    let l = at(DEPLOY, 2, &["spec", "template", "spec", "containers", "7"]);
    assert_eq!(
        (l.found, l.region.start_line, l.region.start_column),
        (4, 14, 7)
    );
}

#[test]
fn helm_source_comment_is_read() {
    let idx = SourceIndex::new(DEPLOY);
    assert_eq!(idx.documents(), 2);
    assert_eq!(
        idx.document(1)
            .and_then(|d| d.helm_source().map(String::from)),
        None
    );
    assert_eq!(
        idx.document(2)
            .and_then(|d| d.helm_source().map(String::from)),
        Some("web/templates/deployment.yaml".into())
    );
}

#[test]
fn flow_style_items_start_at_their_brace() {
    let text = "kind: Pod\nspec: {containers: [{name: a, image: x}, {name: b, image: y}]}\n";
    let l = at(text, 1, &["spec", "containers", "1"]);
    // `{name: b, image: y}` starts at column 42 of line 2 and ends before column 61.
    assert_eq!(l.region, r(2, 42, 2, 61));
    let l = at(text, 1, &["spec", "containers", "0", "image"]);
    assert_eq!(l.region, r(2, 31, 2, 39));
}

#[test]
fn aliases_lead_to_the_anchored_text() {
    let text = "\
kind: Pod
spec:
  initContainers:
    - &base
      name: init
      securityContext:
        readOnlyRootFilesystem: true
  containers:
    - *base
    - <<: *base
      name: app
";
    // The alias item itself is where this container is written.
    let l = at(text, 1, &["spec", "containers", "0"]);
    assert_eq!(l.region, r(9, 5, 9, 12));
    // Its field is in the anchored mapping.
    let l = at(
        text,
        1,
        &[
            "spec",
            "containers",
            "0",
            "securityContext",
            "readOnlyRootFilesystem",
        ],
    );
    assert!(l.exact && l.via_alias);
    assert_eq!(l.region, r(7, 9, 7, 37));
    // A merge key: own keys first, the rest from the merged map.
    let l = at(text, 1, &["spec", "containers", "1", "name"]);
    assert!(l.exact && !l.via_alias);
    assert_eq!(l.region, r(11, 7, 11, 16));
    let l = at(text, 1, &["spec", "containers", "1", "securityContext"]);
    assert!(l.exact && l.via_alias);
    assert_eq!(l.region.start_line, 6);
}

#[test]
fn json_stream_documents_are_placed_in_the_stream() {
    let text = "{\"kind\": \"ConfigMap\"}\n  {\"kind\": \"Pod\",\n   \"spec\": {\"containers\": [{\"name\": \"a\"}]}}\n";
    let idx = SourceIndex::new(text);
    assert_eq!(idx.documents(), 2);
    let l = at(text, 2, &["kind"]);
    assert_eq!(l.region, r(2, 4, 2, 17));
    let l = at(text, 2, &["spec", "containers", "0"]);
    // `{"name": "a"}` on line 3, columns 28..41.
    assert_eq!(l.region, r(3, 28, 3, 41));
    // Two documents on one line: the second's columns count from the line start.
    let l = at("{\"a\": 1}{\"kind\": \"Pod\"}", 2, &["kind"]);
    assert_eq!(l.region, r(1, 10, 1, 23));
}

#[test]
fn windows_line_endings_are_one_break() {
    let text = DEPLOY.replace('\n', "\r\n");
    let l = at(&text, 2, &["spec", "template", "spec", "containers", "0"]);
    assert_eq!(l.region, r(16, 9, 19, 42));
}

#[test]
fn columns_count_code_points() {
    let text = "kind: Pod\nmetadata: {annotations: {é: ü}, name: x}\n";
    let l = at(text, 1, &["metadata", "name"]);
    // `name` is the 33rd character of line 2 (é and ü are one each, two bytes each).
    assert_eq!(l.region, r(2, 33, 2, 40));
}

#[test]
fn directives_and_explicit_ends() {
    let text = "a: 1\n...\n%YAML 1.2\n---\nkind: Pod\nspec:\n  x: |\n    text\n    more\n...\n";
    let idx = SourceIndex::new(text);
    assert_eq!(idx.documents(), 2);
    let l = at(text, 2, &["spec", "x"]);
    // A block scalar ends at the end of its last line, not at column 1 of the next one.
    assert_eq!(l.region, r(7, 3, 9, 9));
}

#[test]
fn no_such_document_or_unparsable_is_none() {
    let idx = SourceIndex::new("a: [1\n");
    assert!(idx.document(1).is_none());
    assert!(idx.document(2).is_none());
    assert!(SourceIndex::new("a: 1\n").document(0).is_none());
}

#[test]
fn deep_nesting_does_not_recurse() {
    // rofs reads documents up to rofs_manifest::yaml::MAX_DEPTH (1,000) levels deep.
    let text = format!("a: {}{}\n", "[".repeat(999), "]".repeat(999));
    let tree = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || {
            let idx = SourceIndex::new(&text);
            idx.document(1).map(|d| {
                d.locate(&[Segment::Key("a".into()), Segment::Index(0)])
                    .exact
            })
        })
        .expect("thread")
        .join()
        .expect("no stack overflow");
    assert_eq!(tree, Some(true));
}

const TEMPLATE: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include \"web.fullname\" . }}
spec:
  template:
    spec:
      {{- with .Values.initContainers }}
      initContainers:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .Chart.Name }}-sidecar
          image: busybox
        - name: \"app\"
          image: \"{{ .Values.image }}\"
          securityContext:
            {{- if .Values.ro }}
            readOnlyRootFilesystem: true
            {{- end }}
";

#[test]
fn template_container_found_by_name() {
    let (region, how, field) = template_match(
        TEMPLATE,
        "containers",
        "app",
        &["securityContext", "readOnlyRootFilesystem"],
    )
    .expect("found");
    assert_eq!((how, field), ("name", true));
    assert_eq!(region, r(19, 13, 19, 41));
    let (region, _, field) = template_match(TEMPLATE, "containers", "app", &[]).expect("found");
    assert!(field);
    assert_eq!(region, r(15, 9, 20, 23));
}

#[test]
fn template_names_that_are_expressions_are_not_guessed() {
    // Two items, one named by an expression: `web-sidecar` cannot be told apart for sure.
    assert_eq!(
        template_region(TEMPLATE, "containers", "web-sidecar", &[]),
        None
    );
    // The only item of its list may be taken, saying so.
    let one = "spec:\n  containers:\n  - name: {{ .Chart.Name }}\n    image: x\n";
    let (region, how, _) = template_match(one, "containers", "web", &[]).expect("only item");
    assert_eq!(how, "only-item");
    assert_eq!(region, r(3, 3, 4, 13));
    // A plain name that is not there: no match.
    let named = "spec:\n  containers:\n  - name: other\n";
    assert_eq!(template_region(named, "containers", "web", &[]), None);
    // The same name in two templates' lists of one file: ambiguous.
    let twice = "containers:\n- name: a\n---\ncontainers:\n- name: a\n";
    assert_eq!(template_region(twice, "containers", "a", &[]), None);
}

#[test]
fn template_file_is_found_under_a_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = dir.path().join("web");
    std::fs::create_dir_all(chart.join("templates")).expect("mkdir");
    std::fs::write(chart.join("templates/deployment.yaml"), TEMPLATE).expect("write");
    let src = "web/templates/deployment.yaml";
    // The chart's parent directory, or the chart directory itself.
    assert_eq!(
        find_template(src, &[dir.path().to_path_buf()]),
        Some(chart.join("templates/deployment.yaml"))
    );
    assert_eq!(
        find_template(src, std::slice::from_ref(&chart)),
        Some(chart.join("templates/deployment.yaml"))
    );
    assert_eq!(find_template(src, &[chart.join("templates")]), None);
    assert_eq!(
        find_template("../etc/passwd", std::slice::from_ref(&chart)),
        None
    );
    assert_eq!(find_template("/etc/passwd", &[chart]), None);
}

#[test]
fn long_runs_of_comments_are_read() {
    // The parser buffers at most 96 comment events when it emits them; rofs's reader takes
    // any number of comments, so positions must too.
    let text = format!(
        "kind: Pod\nspec:\n  containers:\n{}  - name: a\n",
        "  # a comment\n".repeat(200)
    );
    let l = at(&text, 1, &["spec", "containers", "0"]);
    assert_eq!(l.region, r(204, 3, 204, 12));
}
