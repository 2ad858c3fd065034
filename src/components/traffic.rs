//! Recent network traffic, newest first, as the simulated network carried it.

use crate::format;
use kscope_protocol::{Fate, MessageKind, MessageView};
use std::collections::VecDeque;
use yew::prelude::*;

/// Rows shown.
const ROWS: usize = 40;

/// Props of [`Traffic`].
#[derive(Properties, PartialEq)]
pub struct TrafficProps {
    /// Recent messages, oldest first.
    pub messages: VecDeque<MessageView>,
    /// Messages seen since the page connected.
    pub seen: u64,
}

/// The traffic panel.
#[function_component(Traffic)]
pub fn traffic(props: &TrafficProps) -> Html {
    html! {
        <section class="traffic" aria-label="Network traffic">
            <h2>{ format!("Traffic ({} messages)", props.seen) }</h2>
            if props.messages.is_empty() {
                <p class="empty">{ "No messages yet. Press Play to let time run." }</p>
            } else {
                <ol class="messages">
                    { for props.messages.iter().rev().take(ROWS).map(|m| {
                        let kind = match m.kind { MessageKind::ApiRequest => "request", MessageKind::ApiResponse => "response" };
                        let fate = match m.fate { Fate::Delivered => "", Fate::Lost => "lost", Fate::Partitioned => "cut" };
                        html! {
                            <li key={format!("{}-{}", m.id, m.deliver_ms)} class={classes!("msg", kind, (!fate.is_empty()).then_some("dropped"))}>
                                <span class="at">{ format::clock(m.sent_ms) }</span>
                                <span class="route">{ format!("{} → {}", m.from, m.to) }</span>
                                <span class="summary">{ &m.summary }</span>
                                if !fate.is_empty() { <span class="fate">{ fate }</span> }
                            </li>
                        }
                    }) }
                </ol>
            }
        </section>
    }
}
