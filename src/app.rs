//! The root component: starts the simulation worker, keeps the read model, and
//! lays out the panels.

use crate::components::console::Console;
use crate::components::control_plane::ControlPlane;
use crate::components::editor::{apply_command, Editor};
use crate::components::help::Help;
use crate::components::nodes::Nodes;
use crate::components::services::Services;
use crate::components::status_bar::StatusBar;
use crate::components::traffic::Traffic;
use crate::state::{Action, Connection, State};
use crate::worker::SimWorker;
use gloo_events::{EventListener, EventListenerOptions};
use gloo_timers::callback::{Interval, Timeout};
use gloo_worker::{Spawnable, WorkerBridge};
use kscope_protocol::{ToWorker, PROTOCOL_VERSION};
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// How long the page waits for the worker's first state before explaining.
const WORKER_START_TIMEOUT_MS: u32 = 15_000;
/// How often the page checks that a running simulation still answers.
const WATCHDOG_PERIOD_MS: u32 = 4_000;

/// The kscope page.
#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(State::default);
    let bridge = use_mut_ref(|| None::<WorkerBridge<SimWorker>>);

    {
        let dispatcher = state.dispatcher();
        let bridge = bridge.clone();
        use_effect_with((), move |_| {
            let on_message = dispatcher.clone();
            let spawned = SimWorker::spawner()
                .callback(move |msg| on_message.dispatch(Action::Worker(msg)))
                .with_loader(true)
                .as_module(false)
                .spawn("/worker_loader.js");
            spawned.send(ToWorker::Hello { protocol: PROTOCOL_VERSION });
            *bridge.borrow_mut() = Some(spawned);
            let watchdog = {
                let dispatcher = dispatcher.clone();
                Interval::new(WATCHDOG_PERIOD_MS, move || dispatcher.dispatch(Action::WatchdogTick))
            };
            let timeout = Timeout::new(WORKER_START_TIMEOUT_MS, move || dispatcher.dispatch(Action::WorkerTimedOut));
            move || {
                drop(timeout);
                drop(watchdog);
                bridge.borrow_mut().take();
            }
        });
    }

    let send = {
        let bridge = bridge.clone();
        Callback::from(move |msg: ToWorker| {
            if let Some(b) = bridge.borrow().as_ref() {
                b.send(msg);
            }
        })
    };
    let on_toggle = {
        let send = send.clone();
        let running = state.meta.running;
        Callback::from(move |()| send.emit(if running { ToWorker::Pause } else { ToWorker::Play }))
    };
    let on_speed = {
        let send = send.clone();
        Callback::from(move |percent| send.emit(ToWorker::SetSpeed { percent }))
    };
    let on_submit = {
        let send = send.clone();
        let dispatcher = state.dispatcher();
        let id = state.next_exec_id;
        Callback::from(move |line: String| {
            dispatcher.dispatch(Action::ConsoleSubmitted(line.clone()));
            send.emit(ToWorker::Exec { id, line });
        })
    };

    let on_apply = {
        let send = send.clone();
        let dispatcher = state.dispatcher();
        let id = state.next_exec_id;
        Callback::from(move |text: String| {
            let line = apply_command(&text);
            dispatcher.dispatch(Action::EditorApplied { line: line.clone(), text });
            send.emit(ToWorker::Exec { id, line });
        })
    };

    // The keyboard (the help overlay lists it): Space plays and pauses, `?`
    // shows the shortcuts, `/` goes to the console, `e` to the editor, Esc
    // closes the overlay or leaves a text field. Keys typed into a field stay
    // the field's.
    let help_open = use_state(|| false);
    {
        let on_toggle = on_toggle.clone();
        let help_open = help_open.clone();
        let ready = state.connection == Connection::Ready;
        use_effect_with((ready, state.meta.running, *help_open), move |_| {
            let document = web_sys::window().and_then(|w| w.document());
            let listener = document.map(|doc| {
                let doc2 = doc.clone();
                EventListener::new_with_options(
                    &doc,
                    "keydown",
                    EventListenerOptions::enable_prevent_default(),
                    move |event| {
                        let Some(key) = event.dyn_ref::<KeyboardEvent>() else { return };
                        if key.ctrl_key() || key.alt_key() || key.meta_key() {
                            return;
                        }
                        let target = event.target().and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok());
                        let tag = target.as_ref().map(|el| el.tag_name()).unwrap_or_default();
                        let typing = matches!(tag.as_str(), "INPUT" | "SELECT" | "TEXTAREA");
                        let focus = |selector: &str| {
                            if let Some(el) = doc2
                                .query_selector(selector)
                                .ok()
                                .flatten()
                                .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok())
                            {
                                key.prevent_default();
                                let _ = el.focus();
                            }
                        };
                        match key.key().as_str() {
                            "Escape" if *help_open => help_open.set(false),
                            "Escape" if typing => {
                                if let Some(el) = &target {
                                    let _ = el.blur();
                                }
                            }
                            _ if typing => {}
                            "?" => {
                                key.prevent_default();
                                help_open.set(!*help_open);
                            }
                            _ if *help_open => {}
                            "/" => focus("[data-testid=console-input]"),
                            "e" => focus("[data-testid=yaml-editor]"),
                            " " if ready && tag != "BUTTON" => {
                                key.prevent_default();
                                on_toggle.emit(());
                            }
                            _ => {}
                        }
                    },
                )
            });
            move || drop(listener)
        });
    }
    let on_close_help = {
        let help_open = help_open.clone();
        Callback::from(move |()| help_open.set(false))
    };
    let on_help = {
        let help_open = help_open.clone();
        Callback::from(move |()| help_open.set(true))
    };

    let ready = state.connection == Connection::Ready;
    let (node_components, cp_components): (Vec<_>, Vec<_>) =
        state.components.values().cloned().partition(|c| c.node.is_some());
    html! {
        <div class="app">
            <StatusBar meta={state.meta.clone()} {ready} {on_toggle} {on_speed} {on_help} />
            {
                match &state.connection {
                    Connection::Connecting => html! {
                        <p class="banner" role="status" data-testid="connecting">{ "Starting the simulation…" }</p>
                    },
                    Connection::Failed(message) => html! {
                        <p class="banner error" role="alert" data-testid="worker-error">{ message }</p>
                    },
                    Connection::Ready if state.stalled => html! {
                        <p class="banner" role="status" data-testid="worker-stalled">
                            { "The simulation has not answered for a few seconds: it may be busy with a long command \
                               (a big sim advance, say). This note goes away when it answers; if it stays, reload the page." }
                        </p>
                    },
                    Connection::Ready => html! {},
                }
            }
            <main class="layout">
                <div class="diagram">
                    <ControlPlane components={cp_components} />
                    <Nodes nodes={state.nodes.values().cloned().collect::<Vec<_>>()} components={node_components} unscheduled={state.unscheduled.clone()} on_command={on_submit.clone()} />
                    <Services services={state.services.values().cloned().collect::<Vec<_>>()} />
                </div>
                <aside class="side">
                    <Editor result={state.editor_result.clone()} pending={state.editor_pending.is_some()} {on_apply} />
                    <Traffic messages={state.messages.clone()} seen={state.messages_seen} />
                </aside>
            </main>
            <Console lines={state.console.clone()} {on_submit} />
            if *help_open {
                <Help on_close={on_close_help} />
            }
        </div>
    }
}
