//! The top bar: scenario, play/pause, speed, simulated time, seed, trace hash.

use crate::format;
use kscope_protocol::SimMeta;
use web_sys::HtmlSelectElement;
use yew::prelude::*;

/// Speeds offered, in percent of real time.
pub const SPEEDS: [u32; 9] = [10, 25, 50, 100, 200, 500, 1_000, 2_500, 10_000];

/// Props of [`StatusBar`].
#[derive(Properties, PartialEq)]
pub struct StatusBarProps {
    /// Clock, seed and playback state.
    pub meta: SimMeta,
    /// Whether the worker is ready (controls are disabled until then).
    pub ready: bool,
    /// Toggle play/pause.
    pub on_toggle: Callback<()>,
    /// New speed in percent.
    pub on_speed: Callback<u32>,
    /// Show the keyboard shortcuts.
    pub on_help: Callback<()>,
}

/// The status bar.
#[function_component(StatusBar)]
pub fn status_bar(props: &StatusBarProps) -> Html {
    let meta = &props.meta;
    let on_toggle = {
        let cb = props.on_toggle.clone();
        Callback::from(move |_: MouseEvent| cb.emit(()))
    };
    let on_speed = {
        let cb = props.on_speed.clone();
        Callback::from(move |e: Event| {
            let select: HtmlSelectElement = e.target_unchecked_into();
            if let Ok(percent) = select.value().parse() {
                cb.emit(percent);
            }
        })
    };
    let (label, title) = if meta.running { ("❚❚ Pause", "Pause (Space)") } else { ("▶ Play", "Play (Space)") };
    html! {
        <header class="status-bar">
            <span class="brand">{ "kscope" }</span>
            <span class="scenario" title="Scenario">{ &meta.scenario }</span>
            <button class="play" data-testid="play-pause" title={title} aria-keyshortcuts="Space"
                disabled={!props.ready} onclick={on_toggle}>{ label }</button>
            <label class="speed">{ "speed " }
                <select data-testid="speed" onchange={on_speed} disabled={!props.ready}>
                    { for SPEEDS.iter().map(|p| html! {
                        <option value={p.to_string()} selected={*p == meta.speed_percent}>{ format::speed(*p) }</option>
                    }) }
                </select>
            </label>
            <span class="clock" data-testid="sim-time" data-ms={meta.time_ms.to_string()} title="Simulated time">
                { format!("t={}", format::clock(meta.time_ms)) }
            </span>
            <span class="state" data-testid="run-state">{ if meta.running { "running" } else { "paused" } }</span>
            <span class="seed" data-testid="seed">{ format!("seed {}", meta.seed) }</span>
            <span class="trace" data-testid="trace-hash" data-hash={meta.trace_hash.clone()}
                title="Trace hash: same scenario and seed give the same hash">
                { format!("trace {} · {} events", meta.trace_hash, meta.trace_len) }
            </span>
            <button class="help-button" data-testid="help-button" title="Keyboard shortcuts (?)" aria-keyshortcuts="?"
                onclick={let cb = props.on_help.clone(); move |_| cb.emit(())}>{ "?" }</button>
        </header>
    }
}
