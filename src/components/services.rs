//! The Services: how each is reached (type, cluster IP, ports) and the
//! endpoints it sends to, ready ones in green, from its Endpoints object.

use kscope_protocol::ServiceView;
use yew::prelude::*;

/// Props of [`Services`].
#[derive(Properties, PartialEq)]
pub struct ServicesProps {
    /// The Services, by namespace and name.
    pub services: Vec<ServiceView>,
}

/// What a Service's card says about its endpoints.
pub fn endpoint_summary(service: &ServiceView) -> String {
    let ready = service.endpoints.iter().filter(|e| e.ready).count();
    let not_ready = service.endpoints.len() - ready;
    match (ready, not_ready) {
        (0, 0) => "no endpoints: nothing matches its selector yet".to_string(),
        (r, 0) => format!("{r} ready endpoint{}", if r == 1 { "" } else { "s" }),
        (r, n) => format!("{r} ready, {n} not ready"),
    }
}

/// The Services section.
#[function_component(Services)]
pub fn services(props: &ServicesProps) -> Html {
    html! {
        <section class="services" aria-label="Services">
            <h2>{ format!("Services ({})", props.services.len()) }</h2>
            if props.services.is_empty() {
                <p class="empty">{ "No Services yet. Try kubectl expose deployment web --port=80 in the console." }</p>
            } else {
                <div class="service-grid">
                    { for props.services.iter().map(|svc| {
                        let key = format!("{}/{}", svc.namespace, svc.name);
                        let ip = if svc.cluster_ip.is_empty() { "<none>".to_string() } else { svc.cluster_ip.clone() };
                        html! {
                            <article class="service-card" key={key.clone()} data-service={key}>
                                <div class="service-head">
                                    <h3>{ &svc.name }</h3>
                                    <span class="service-ns">{ &svc.namespace }</span>
                                </div>
                                <p class="service-addr">{ format!("{} {} · {}", svc.kind, ip, svc.ports) }</p>
                                <p class="service-summary" data-testid="endpoint-summary">{ endpoint_summary(svc) }</p>
                                if !svc.endpoints.is_empty() {
                                    <ul class="endpoints" aria-label={format!("Endpoints of {}", svc.name)}>
                                        { for svc.endpoints.iter().map(|e| {
                                            let title = format!("{} {}{}", e.ip,
                                                if e.pod.is_empty() { String::new() } else { format!("pod {}", e.pod) },
                                                if e.node.is_empty() { String::new() } else { format!(" on {}", e.node) });
                                            html! {
                                                <li class={classes!("endpoint", if e.ready { "ready" } else { "not-ready" })}
                                                    title={title.clone()} aria-label={title} data-endpoint={e.ip.clone()}>
                                                    { &e.ip }
                                                </li>
                                            }
                                        }) }
                                    </ul>
                                }
                            </article>
                        }
                    }) }
                </div>
            }
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kscope_protocol::EndpointView;

    fn service(endpoints: &[bool]) -> ServiceView {
        ServiceView {
            namespace: "default".into(),
            name: "web".into(),
            kind: "ClusterIP".into(),
            cluster_ip: "10.96.0.20".into(),
            ports: "80/TCP".into(),
            endpoints: endpoints
                .iter()
                .enumerate()
                .map(|(i, ready)| EndpointView {
                    ip: format!("10.244.1.{i}"),
                    pod: String::new(),
                    node: String::new(),
                    ready: *ready,
                })
                .collect(),
        }
    }

    #[test]
    fn the_summary_counts_ready_and_not_ready_endpoints() {
        assert_eq!(endpoint_summary(&service(&[])), "no endpoints: nothing matches its selector yet");
        assert_eq!(endpoint_summary(&service(&[true])), "1 ready endpoint");
        assert_eq!(endpoint_summary(&service(&[true, true])), "2 ready endpoints");
        assert_eq!(endpoint_summary(&service(&[true, false, false])), "1 ready, 2 not ready");
    }
}
