//! The YAML editor: write or paste manifests and apply them as `kubectl apply
//! -f -` would (the command goes through the console, so its transcript shows
//! it). Ctrl+Enter applies. A failed apply marks the line it is about when the
//! error names one (kubectl's `yaml: line N`) or a field the manifest spells
//! out (`unknown field "spec.containers[0].imag"`, `spec.replicas: Invalid
//! value`), and "Go to line" selects it.

use crate::state::EditorResult;
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

/// What the editor holds when the page opens: the Deployment of the
/// Kubernetes documentation's "Deployments" page, with a resource request so
/// the scheduler has something to weigh.
pub const EXAMPLE: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  labels:
    app: nginx
spec:
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports:
        - containerPort: 80
        resources:
          requests:
            cpu: 100m
";

/// The console command that applies `text`: a here-document whose delimiter
/// is not a line of the manifest (the console ends a here-document at a line
/// that is the delimiter once trimmed).
pub fn apply_command(text: &str) -> String {
    let mut delimiter = "EOF".to_string();
    while text.lines().any(|l| l.trim() == delimiter) {
        delimiter.push('_');
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    format!("kubectl apply -f - <<{delimiter}\n{body}\n{delimiter}")
}

/// The line of `text` (1-based) that `error`, kubectl's answer to applying
/// it, is about, if it says.
pub fn error_line(text: &str, error: &str) -> Option<usize> {
    let lines = text.lines().count();
    // A syntax error: `... yaml: line 9: did not find expected key`.
    if let Some(rest) = error.split("yaml: line ").nth(1) {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        return digits.parse().ok().filter(|n| (1..=lines).contains(n));
    }
    // A field: `unknown field "spec.containers[0].imag"` (strict decoding) or
    // `spec.replicas: Invalid value: -1: ...` (validation).
    let path = if let Some(rest) = error.split("unknown field \"").nth(1) {
        rest.split('"').next()?
    } else {
        [": Invalid value", ": Unsupported value", ": Duplicate value", ": Forbidden"].iter().find_map(|m| {
            let (before, _) = error.split_once(m)?;
            // The path is the last word before the marker: `... is invalid: spec.replicas`.
            before.rsplit([' ', ',']).next()
        })?
    };
    field_line(text, path)
}

/// The line where the field at `path` (`spec.template.spec.containers[0].image`)
/// is written in `text`: each key of the path is looked for below the line of
/// the one before, and the last one found is the answer.
fn field_line(text: &str, path: &str) -> Option<usize> {
    let keys: Vec<String> =
        path.split('.').map(|k| k.split('[').next().unwrap_or(k).to_string()).filter(|k| !k.is_empty()).collect();
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    let mut found = None;
    for key in &keys {
        let wanted = format!("{key}:");
        let at = lines.iter().enumerate().skip(from).find_map(|(i, l)| {
            let word = l.trim_start().trim_start_matches("- ").trim_start();
            word.starts_with(&wanted).then_some(i)
        });
        match at {
            Some(i) => {
                found = Some(i + 1);
                from = i + 1;
            }
            // An unknown key is not written as the path says (a typo's
            // parent is the best guess); a missing one is not written at all.
            None => break,
        }
    }
    found
}

/// Props of [`Editor`].
#[derive(Properties, PartialEq)]
pub struct EditorProps {
    /// The answer to the last apply.
    pub result: Option<EditorResult>,
    /// An apply is waiting for its answer.
    pub pending: bool,
    /// Applies a manifest.
    pub on_apply: Callback<String>,
}

/// The YAML editor panel.
#[function_component(Editor)]
pub fn editor(props: &EditorProps) -> Html {
    let text = use_state(|| EXAMPLE.to_string());
    let area = use_node_ref();
    let gutter = use_node_ref();

    let apply = {
        let text = text.clone();
        let on_apply = props.on_apply.clone();
        Callback::from(move |()| {
            if !text.trim().is_empty() {
                on_apply.emit((*text).clone());
            }
        })
    };
    let oninput = {
        let text = text.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(el) = e.target_dyn_into::<HtmlTextAreaElement>() {
                text.set(el.value());
            }
        })
    };
    let onkeydown = {
        let apply = apply.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Enter" && (e.ctrl_key() || e.meta_key()) {
                e.prevent_default();
                apply.emit(());
            }
        })
    };
    // The line numbers scroll with the text.
    let onscroll = {
        let area = area.clone();
        let gutter = gutter.clone();
        Callback::from(move |_: Event| {
            if let (Some(a), Some(g)) = (area.cast::<web_sys::Element>(), gutter.cast::<web_sys::Element>()) {
                g.set_scroll_top(a.scroll_top());
            }
        })
    };

    // The error's line, while the text is still the one applied.
    let bad_line =
        props.result.as_ref().filter(|r| !r.ok && r.text == *text).and_then(|r| error_line(&r.text, &r.output));
    let go_to_line = {
        let area = area.clone();
        let text = text.clone();
        Callback::from(move |line: usize| {
            let Some(el) = area.cast::<HtmlTextAreaElement>() else { return };
            // Offsets in UTF-16 units, as the DOM counts them.
            let start: usize = text.split('\n').take(line - 1).map(|l| l.encode_utf16().count() + 1).sum();
            let len = text.split('\n').nth(line - 1).map_or(0, |l| l.encode_utf16().count());
            let _ = el.focus();
            let _ = el.set_selection_range(start as u32, (start + len) as u32);
        })
    };
    let count = text.split('\n').count().max(1);

    html! {
        <section class="editor" aria-labelledby="editor-title">
            <h2 id="editor-title">{ "Apply YAML" }</h2>
            <div class="editor-box">
                <pre class="gutter" ref={gutter} aria-hidden="true">
                    { for (1..=count).map(|n| html! {
                        <span class={classes!((Some(n) == bad_line).then_some("bad"))} data-line={n.to_string()}>{ format!("{n}\n") }</span>
                    }) }
                </pre>
                <textarea
                    ref={area}
                    data-testid="yaml-editor"
                    aria-label="Manifest (YAML)"
                    aria-invalid={bad_line.is_some().to_string()}
                    spellcheck="false"
                    autocomplete="off"
                    value={(*text).clone()}
                    {oninput}
                    {onkeydown}
                    {onscroll}
                />
            </div>
            <div class="editor-actions">
                <button data-testid="apply-yaml" onclick={let apply = apply.clone(); move |_| apply.emit(())}
                        disabled={props.pending || text.trim().is_empty()}>
                    { if props.pending { "Applying…" } else { "Apply" } }
                </button>
                <span class="hint">{ "Ctrl+Enter applies, like kubectl apply -f -" }</span>
            </div>
            {
                match &props.result {
                    None => html! {},
                    Some(r) if r.ok => html! {
                        <pre class="editor-result ok" role="status" data-testid="apply-result">{ r.output.trim_end() }</pre>
                    },
                    Some(r) => html! {
                        <div class="editor-result error" role="alert" data-testid="apply-result">
                            if let Some(line) = bad_line {
                                <button class="go-to-line" data-testid="go-to-line" onclick={move |_| go_to_line.emit(line)}>
                                    { format!("Go to line {line}") }
                                </button>
                            }
                            <pre>{ r.output.trim_end() }</pre>
                        </div>
                    },
                }
            }
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kscope_core::{Cluster, Scenario};

    /// Applies `text` through the console command the editor sends, in a real
    /// cluster, and returns (ok, output).
    fn apply(text: &str) -> (bool, String) {
        let mut cluster = Cluster::new(Scenario::default()).unwrap();
        let out = cluster.exec(&apply_command(text));
        (out.ok, out.text)
    }

    #[test]
    fn the_example_applies() {
        let (ok, out) = apply(EXAMPLE);
        assert!(ok, "{out}");
        assert_eq!(out, "deployment.apps/nginx-deployment created\n");
    }

    #[test]
    fn a_manifest_holding_the_delimiter_still_applies_whole() {
        let text =
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  k: |\n    first\n    EOF\n    last\n";
        assert!(apply_command(text).starts_with("kubectl apply -f - <<EOF_\n"));
        let mut cluster = Cluster::new(Scenario::default()).unwrap();
        let out = cluster.exec(&apply_command(text));
        assert!(out.ok, "{}", out.text);
        let got = cluster.exec("kubectl get configmap c -o jsonpath={.data.k}");
        assert_eq!(got.text, "first\nEOF\nlast\n");
    }

    #[test]
    fn a_syntax_error_points_at_its_line() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n  - name: a\n    image: nginx\n   bad: : :\n";
        let (ok, out) = apply(text);
        assert!(!ok);
        assert_eq!(error_line(text, &out), Some(9), "{out}");
    }

    #[test]
    fn an_unknown_field_points_at_its_line() {
        let text =
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n  - name: a\n    imag: nginx\n";
        let (ok, out) = apply(text);
        assert!(!ok);
        assert!(out.contains("unknown field \"spec.containers[0].imag\""), "{out}");
        assert_eq!(error_line(text, &out), Some(8), "{out}");
    }

    #[test]
    fn an_invalid_value_points_at_its_field() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: w\nspec:\n  selector: {matchLabels: {a: b}}\n  replicas: -1\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: c, image: nginx}]\n";
        let (ok, out) = apply(text);
        assert!(!ok);
        assert!(out.contains("spec.replicas: Invalid value: -1"), "{out}");
        assert_eq!(error_line(text, &out), Some(7), "{out}");
    }

    #[test]
    fn errors_without_a_place_point_nowhere() {
        assert_eq!(error_line("a: b\n", "error: the server doesn't have a resource type \"x\""), None);
        // A line number past the text is not trusted.
        assert_eq!(error_line("a: b\n", "yaml: line 40: oops"), None);
    }
}
