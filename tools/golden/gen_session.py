import os
# Generates the kscope shell session: create objects, dump JSON, run kscope describe / get -o yaml.
import re
create = open(os.environ.get('GOLDEN_DIR', '/tmp/golden') + '/create.txt').read()  # manifests: Deployment, Service, Pod, Namespace; then sim advance 30s
SEP = 'kubectl get ns kube-public -o name'
segs = []  # (name, command)
objs = [
    ('deployment', 'deployment nginx-deployment'),
    ('service', 'service my-service'),
    ('pod', 'pod liveness-http'),
    ('namespace', 'namespace prod'),
    ('node', 'node node-1'),
    ('daemonset', 'daemonset fluentd-elasticsearch -n kube-system'),
]
for n, o in objs:
    segs.append((f'{n}.json', f'kubectl get {o} -o json'))
# related objects the describers look up
for n, o in [('pods', 'pods'), ('replicasets', 'replicasets'), ('events', 'events'),
             ('endpoints', 'endpoints'), ('endpointslices', 'endpointslices'),
             ('leases', 'leases'), ('services', 'services'), ('deployments', 'deployments')]:
    segs.append((f'related/{n}.json', f'kubectl get {o} -A -o json'))
for n, o in objs:
    segs.append((f'describe-{n}.kscope.txt', f'kubectl describe {o}'))
for n in ['deployment', 'pod', 'service', 'namespace', 'node', 'daemonset']:
    o = dict(objs)[n]
    segs.append((f'yaml-{n}.kscope.txt', f'kubectl get {o} -o yaml'))
with open(os.environ.get('GOLDEN_DIR', '/tmp/golden') + '/session.txt', 'w') as f:
    f.write(create)
    for name, cmd in segs:
        f.write(SEP + '\n' + cmd + '\n')
    f.write(SEP + '\n')
with open(os.environ.get('GOLDEN_DIR', '/tmp/golden') + '/session.index', 'w') as f:
    for name, cmd in segs:
        f.write(f'{name}\t{cmd}\n')
