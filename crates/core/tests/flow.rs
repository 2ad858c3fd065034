//! The 11 steps from `kubectl create` to a running container appear in the
//! trace as labelled Flow events, in order, each taken by the component the
//! step belongs to; `sim flow` narrates them.

use kscope_core::duration::Duration;
use kscope_core::trace::TraceKind;
use kscope_core::{Cluster, Scenario};

mod common;

#[test]
fn a_pod_takes_the_eleven_steps_in_order() {
    let mut c = Cluster::new(Scenario::default()).unwrap();
    c.advance(Duration::from_secs(3)).unwrap();
    c.simulation_mut().trace_mut().set_recording(true);
    common::ok(&mut c, "kubectl run web --image=nginx");
    c.advance(Duration::from_secs(6)).unwrap();
    let steps: Vec<(u8, u64, String)> = c
        .simulation_mut()
        .trace_mut()
        .drain()
        .into_iter()
        .filter_map(|e| match e.what {
            TraceKind::Flow { component, step, pod } if pod == "default/web" => {
                Some((step, e.at_ms, component.to_string()))
            }
            _ => None,
        })
        .collect();
    let order: Vec<u8> = steps.iter().map(|s| s.0).collect();
    assert_eq!(order, (1..=11).collect::<Vec<u8>>(), "{steps:?}");
    assert!(steps.windows(2).all(|w| w[0].1 <= w[1].1), "times never go back: {steps:?}");
    let by: Vec<&str> = steps.iter().map(|s| s.2.as_str()).collect();
    let node = by[6];
    assert!(node.starts_with("kubelet/"), "{by:?}");
    let api = "kube-apiserver";
    assert_eq!(by, [api, api, api, "kube-scheduler", "kube-scheduler", api, node, node, node, api, api]);
    // The kubelet's runtime work takes time: the image pull.
    assert!(steps[8].1 > steps[7].1);

    let text = common::ok(&mut c, "sim flow pod/web");
    assert_eq!(text.lines().count(), 13, "{text}");
    assert!(text.contains("bind"), "{text}");
    assert!(text.ends_with(&format!(
        "pod default/web went from create to running in {}\n",
        Duration::from_millis(steps[10].1 - steps[0].1)
    )));
}

#[test]
fn a_pending_pod_shows_the_steps_still_to_come() {
    let mut c = Cluster::new(Scenario::default()).unwrap();
    c.advance(Duration::from_secs(3)).unwrap();
    common::ok(
        &mut c,
        "kubectl apply -f - <<EOF
apiVersion: v1
kind: Pod
metadata: {name: big}
spec:
  containers:
  - name: big
    image: nginx
    resources: {requests: {cpu: \"500\"}}
EOF",
    );
    c.advance(Duration::from_secs(5)).unwrap();
    let text = common::ok(&mut c, "sim flow big");
    assert!(text.ends_with("not yet taken: step 5, 6, 7, 8, 9, 10, 11\n"), "{text}");
    let out = c.exec("sim flow svc/big");
    assert!(!out.ok);
    assert_eq!(out.text, "error: sim flow follows pods, not \"svc\": use pod/NAME\n");
}
