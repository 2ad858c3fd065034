//! Recent network traffic, newest first, as the simulated network carried it,
//! with a toggle per message family (Raft heartbeats are off by default: ten a
//! second per follower would drown everything else).

use crate::format;
use kscope_protocol::{Fate, MessageKind, MessageView};
use std::collections::{BTreeSet, VecDeque};
use yew::prelude::*;

/// Rows shown.
const ROWS: usize = 40;

/// The families a user can toggle, with their labels.
pub const FAMILIES: [(MessageKind, &str); 8] = [
    (MessageKind::ApiRequest, "API request"),
    (MessageKind::ApiResponse, "API response"),
    (MessageKind::EtcdRequest, "etcd request"),
    (MessageKind::EtcdResponse, "etcd response"),
    (MessageKind::RaftAppend, "Raft append"),
    (MessageKind::RaftVote, "Raft vote"),
    (MessageKind::RaftHeartbeat, "Raft heartbeat"),
    (MessageKind::RaftOther, "Raft other"),
];

/// CSS class of a message family.
pub fn kind_class(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::ApiRequest => "api-request",
        MessageKind::ApiResponse => "api-response",
        MessageKind::EtcdRequest => "etcd-request",
        MessageKind::EtcdResponse => "etcd-response",
        MessageKind::RaftAppend => "raft-append",
        MessageKind::RaftVote => "raft-vote",
        MessageKind::RaftHeartbeat => "raft-heartbeat",
        MessageKind::RaftOther => "raft-other",
    }
}

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
    let hidden = use_state(|| BTreeSet::from([MessageKind::RaftHeartbeat]));
    let toggles = FAMILIES.iter().map(|(kind, label)| {
        let kind = *kind;
        let on = !hidden.contains(&kind);
        let onchange = {
            let hidden = hidden.clone();
            Callback::from(move |_: Event| {
                let mut next = (*hidden).clone();
                if !next.remove(&kind) {
                    next.insert(kind);
                }
                hidden.set(next);
            })
        };
        html! {
            <label class={classes!("toggle", kind_class(kind))}>
                <input type="checkbox" checked={on} {onchange} />{ *label }
            </label>
        }
    });
    let shown: Vec<&MessageView> =
        props.messages.iter().rev().filter(|m| !hidden.contains(&m.kind)).take(ROWS).collect();
    html! {
        <section class="traffic" aria-label="Network traffic">
            <h2>{ format!("Traffic ({} messages)", props.seen) }</h2>
            <div class="toggles" role="group" aria-label="Message kinds to show">{ for toggles }</div>
            if shown.is_empty() {
                <p class="empty">{ "No messages of the chosen kinds yet. Press Play to let time run." }</p>
            } else {
                <ol class="messages">
                    { for shown.into_iter().map(|m| {
                        let fate = match m.fate { Fate::Delivered => "", Fate::Lost => "lost", Fate::Partitioned => "cut" };
                        html! {
                            <li key={format!("{}-{}", m.id, m.deliver_ms)}
                                class={classes!("msg", kind_class(m.kind), (!fate.is_empty()).then_some("dropped"))}>
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
