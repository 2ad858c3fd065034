//! The keyboard help overlay (`?`): every shortcut of the page, in one list.

use yew::prelude::*;

/// The page's shortcuts: (keys, what they do). Typing in the console or the
/// editor keeps its keys, except the ones marked there.
pub const SHORTCUTS: &[(&str, &str)] = &[
    ("Space", "play or pause simulated time"),
    ("?", "show or hide this list"),
    ("/", "go to the console"),
    ("e", "go to the YAML editor"),
    ("Esc", "close this list; in the console or editor, leave it"),
    ("Enter (console)", "run the line"),
    ("↑ ↓ (console)", "walk the command history"),
    ("Ctrl+C (console)", "interrupt (stops etcdctl watch)"),
    ("Ctrl+Enter (editor)", "apply the manifest"),
];

/// Props of [`Help`].
#[derive(Properties, PartialEq)]
pub struct HelpProps {
    /// Closes the overlay.
    pub on_close: Callback<()>,
}

/// The overlay; shown while open.
#[function_component(Help)]
pub fn help(props: &HelpProps) -> Html {
    let close = use_node_ref();
    {
        // Focus moves into the dialog, to its close button, and goes back
        // where it was when the dialog closes.
        let close = close.clone();
        use_effect_with((), move |_| {
            use wasm_bindgen::JsCast;
            let previous = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.active_element())
                .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok());
            if let Some(button) = close.cast::<web_sys::HtmlElement>() {
                let _ = button.focus();
            }
            move || {
                if let Some(el) = previous {
                    let _ = el.focus();
                }
            }
        });
    }
    let on_close = props.on_close.clone();
    let on_backdrop = props.on_close.clone();
    html! {
        <div class="help-backdrop" onclick={move |_| on_backdrop.emit(())}>
            <div class="help" role="dialog" aria-modal="true" aria-labelledby="help-title" data-testid="help"
                 onclick={|e: MouseEvent| e.stop_propagation()}>
                <h2 id="help-title">{ "Keyboard shortcuts" }</h2>
                <dl>
                    { for SHORTCUTS.iter().map(|(keys, what)| html! {
                        <>
                            <dt><kbd>{ *keys }</kbd></dt>
                            <dd>{ *what }</dd>
                        </>
                    }) }
                </dl>
                <button ref={close} data-testid="help-close" onclick={move |_| on_close.emit(())}>{ "Close" }</button>
            </div>
        </div>
    }
}
