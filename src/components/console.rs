//! The console: type the same commands as `kscope shell` (`help` lists them).
//! Enter runs a line; ↑ and ↓ walk the history; Ctrl-C interrupts (stops
//! `etcdctl watch`).

use crate::state::{ConsoleKind, ConsoleLine};
use std::collections::VecDeque;
use web_sys::HtmlInputElement;
use yew::prelude::*;

/// Props of [`Console`].
#[derive(Properties, PartialEq)]
pub struct ConsoleProps {
    /// Transcript, oldest first.
    pub lines: VecDeque<ConsoleLine>,
    /// Runs a line.
    pub on_submit: Callback<String>,
}

/// The console panel.
#[function_component(Console)]
pub fn console(props: &ConsoleProps) -> Html {
    let input = use_node_ref();
    let output = use_node_ref();
    let history_pos = use_mut_ref(|| None::<usize>);
    {
        let output = output.clone();
        use_effect_with(props.lines.len(), move |_| {
            if let Some(el) = output.cast::<web_sys::Element>() {
                el.set_scroll_top(el.scroll_height());
            }
        });
    }
    let history: Vec<String> = props
        .lines
        .iter()
        .filter(|l| l.kind == ConsoleKind::Input && !l.text.trim().is_empty())
        .map(|l| l.text.clone())
        .collect();
    let onkeydown = {
        let input = input.clone();
        let on_submit = props.on_submit.clone();
        Callback::from(move |e: KeyboardEvent| {
            let Some(el) = input.cast::<HtmlInputElement>() else { return };
            let mut pos = history_pos.borrow_mut();
            match e.key().as_str() {
                // Ctrl-C with nothing selected interrupts, as in a terminal.
                "c" if e.ctrl_key() && el.selection_start().ok().flatten() == el.selection_end().ok().flatten() => {
                    e.prevent_default();
                    on_submit.emit("sim interrupt".into());
                    el.set_value("");
                }
                "Enter" => {
                    // Blank lines go through too, as in a terminal: they end the
                    // sections of an `etcdctl txn`.
                    on_submit.emit(el.value());
                    el.set_value("");
                    *pos = None;
                }
                "ArrowUp" | "ArrowDown" if !history.is_empty() => {
                    e.prevent_default();
                    let last = history.len() - 1;
                    let next = match (e.key().as_str(), *pos) {
                        ("ArrowUp", None) => Some(last),
                        ("ArrowUp", Some(i)) => Some(i.saturating_sub(1)),
                        ("ArrowDown", Some(i)) if i < last => Some(i + 1),
                        _ => None,
                    };
                    el.set_value(next.map_or("", |i| history[i].as_str()));
                    *pos = next;
                }
                _ => {}
            }
        })
    };
    html! {
        <section class="console" aria-label="Console">
            <div class="console-output" data-testid="console-output" ref={output} role="log" aria-live="polite">
                if props.lines.is_empty() {
                    <p class="empty">{ "Type a command below, for example sim status. help lists them all." }</p>
                }
                { for props.lines.iter().map(|line| {
                    let class = match line.kind {
                        ConsoleKind::Input => "in",
                        ConsoleKind::Output => "out",
                        ConsoleKind::Error => "err",
                    };
                    let text = if line.kind == ConsoleKind::Input { format!("$ {}", line.text) } else { line.text.clone() };
                    html! { <pre class={class}>{ text }</pre> }
                }) }
            </div>
            <label class="prompt">
                <span aria-hidden="true">{ "$" }</span>
                <input ref={input} data-testid="console-input" type="text" spellcheck="false" autocomplete="off"
                    aria-label="Console command" placeholder="sim status" {onkeydown} />
            </label>
        </section>
    }
}
