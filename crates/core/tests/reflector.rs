//! A component keeping a mirror of a collection with a Reflector (list, then
//! watch) stays in step with kube-apiserver through writes, an apiserver
//! crash and restart, and a compaction that expires its watch.

use kscope_core::component::{Component, Context, Envelope};
use kscope_core::component_id::ComponentId;
use kscope_core::duration::Duration;
use kscope_core::message::Payload;
use kscope_core::reflector::{Change, Reflector, RETRY_MS};
use kscope_core::{Cluster, Scenario};
use kscope_protocol::ComponentKind;

const TIMER_CHECK: u64 = 1;
const TIMER_RETRY: u64 = 2;

struct Mirror {
    reflector: Reflector,
    next_id: u64,
    changes: u64,
}

impl Mirror {
    fn new() -> Self {
        Mirror { reflector: Reflector::new("/api/v1/namespaces/default/configmaps", "", ""), next_id: 0, changes: 0 }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

impl Component for Mirror {
    fn kind(&self) -> ComponentKind {
        ComponentKind::ControllerManager
    }

    fn start(&mut self, ctx: &mut Context<'_>) {
        self.reflector.reset();
        let id = self.id();
        ctx.send(ComponentId::ApiServer, Payload::ApiRequest(self.reflector.start(id)));
        ctx.set_timer(10_000, TIMER_CHECK);
    }

    fn receive(&mut self, ctx: &mut Context<'_>, envelope: Envelope) {
        let Payload::ApiResponse(response) = envelope.payload else { return };
        if !self.reflector.owns(response.request_id) {
            return;
        }
        let id = self.id();
        let step = self.reflector.handle(&response, id, ctx.now_ms());
        for change in &step.changes {
            self.changes += 1;
            let name = |o: &serde_json::Value| o["metadata"]["name"].as_str().unwrap_or_default().to_string();
            ctx.record(match change {
                Change::Added(o) => format!("mirror: added {}", name(o)),
                Change::Modified(_, o) => format!("mirror: modified {}", name(o)),
                Change::Deleted(o) => format!("mirror: deleted {}", name(o)),
            });
        }
        if let Some(request) = step.send {
            ctx.send(ComponentId::ApiServer, Payload::ApiRequest(request));
        }
        if step.retry_later {
            ctx.set_timer(RETRY_MS, TIMER_RETRY);
        }
    }

    fn timer(&mut self, ctx: &mut Context<'_>, token: u64) {
        let id = self.id();
        let request = match token {
            TIMER_CHECK => {
                ctx.set_timer(10_000, TIMER_CHECK);
                self.reflector.check(ctx.now_ms(), id)
            }
            _ => self.reflector.retry(id),
        };
        if let Some(request) = request {
            ctx.send(ComponentId::ApiServer, Payload::ApiRequest(request));
        }
    }

    fn details(&self) -> Vec<(String, String)> {
        vec![("mirrored".into(), self.reflector.store().len().to_string())]
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn mirrored(c: &Cluster) -> Vec<String> {
    let (_, mirror, _) = c.simulation().components().find(|(id, _, _)| **id == ComponentId::ControllerManager).unwrap();
    let mirror = mirror.as_any().downcast_ref::<Mirror>().unwrap();
    mirror.reflector.store().values().map(|o| format!("{}={}", o["metadata"]["name"], o["data"]["v"])).collect()
}

fn served(c: &mut Cluster) -> Vec<String> {
    let out = c.exec("kubectl get cm -o json");
    assert!(out.ok, "{}", out.text);
    let list: serde_json::Value = serde_json::from_str(&out.text).unwrap();
    list["items"].as_array().unwrap().iter().map(|o| format!("{}={}", o["metadata"]["name"], o["data"]["v"])).collect()
}

fn run(c: &mut Cluster, line: &str) {
    let out = c.exec(line);
    assert!(out.ok, "{line}: {}", out.text);
}

#[test]
fn a_mirror_follows_writes_an_apiserver_restart_and_an_expired_watch() {
    let mut c = Cluster::new(Scenario::default()).unwrap();
    c.simulation_mut().replace(&ComponentId::ControllerManager, Box::new(Mirror::new()));
    c.advance(Duration::from_secs(3)).unwrap();
    run(&mut c, "kubectl create cm a --from-literal=v=1");
    run(&mut c, "kubectl create cm b --from-literal=v=1");
    c.advance(Duration::from_secs(1)).unwrap();
    assert_eq!(mirrored(&c), served(&mut c));

    // The apiserver crashes; its watches die with it, silently.
    run(&mut c, "sim kill kube-apiserver");
    c.advance(Duration::from_secs(5)).unwrap();
    run(&mut c, "sim start kube-apiserver");
    c.advance(Duration::from_secs(5)).unwrap();
    run(&mut c, "kubectl create cm c --from-literal=v=1");
    run(&mut c, "kubectl delete cm a");
    // The silent watch is noticed and restarted from the last resourceVersion.
    c.advance(Duration::from_secs(120)).unwrap();
    assert_eq!(mirrored(&c), served(&mut c));

    // A short cut loses a message of the stream; the next one shows the gap,
    // and the mirror watches again at once (well before the 90 s silence check).
    run(&mut c, "sim partition kube-controller-manager");
    run(&mut c, "kubectl create cm d --from-literal=v=1");
    run(&mut c, "sim heal");
    run(&mut c, "kubectl create cm e --from-literal=v=1");
    c.advance(Duration::from_secs(2)).unwrap();
    assert_eq!(mirrored(&c), served(&mut c));

    // Many changes push the mirror's resourceVersion out of the watch cache's
    // window while the mirror is cut off: it gets 410 Expired and lists again.
    run(&mut c, "sim partition kube-controller-manager");
    for i in 0..kscope_core::kube_apiserver::watch_cache::WINDOW + 10 {
        let out = c.exec(&format!("kubectl label cm b --overwrite v={i}"));
        assert!(out.ok, "{}", out.text);
    }
    run(&mut c, "kubectl delete cm c");
    run(&mut c, "sim heal");
    c.advance(Duration::from_secs(120)).unwrap();
    assert_eq!(mirrored(&c), served(&mut c));
}
