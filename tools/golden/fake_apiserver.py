import os
#!/usr/bin/env python3
"""Minimal fake kube-apiserver (plain HTTP, read-only) for producing golden kubectl output.

Serves objects dumped from a kscope shell session (`kubectl get X -o json`) at their REST
paths, legacy (non-aggregated) discovery, filtered lists (labelSelector / fieldSelector), and
404 Status JSON for anything else.  Every request is logged (one JSON line per request) to the
file given by --log, with a note saying how it was answered:
  store-get      an object from the dumps
  store-list     a list built from the dumps (possibly empty after filtering)
  empty-list     a known resource that kscope does not have at all (e.g. resourcequotas)
  discovery      /api, /apis, /api/v1, /apis/G/V, /version
  404            anything else

Usage: fake_apiserver.py --port 0 --portfile F --log L OBJ.json... [--related LIST.json...]
Single-object files given on the command line win over items of the same identity found in
list files.
"""
import argparse
import copy
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

# (group, version, resource, kind, namespaced, shortNames, singular)
RESOURCES = [
    ('', 'v1', 'bindings', 'Binding', True, [], 'binding'),
    ('', 'v1', 'componentstatuses', 'ComponentStatus', False, ['cs'], 'componentstatus'),
    ('', 'v1', 'configmaps', 'ConfigMap', True, ['cm'], 'configmap'),
    ('', 'v1', 'endpoints', 'Endpoints', True, ['ep'], 'endpoints'),
    ('', 'v1', 'events', 'Event', True, ['ev'], 'event'),
    ('', 'v1', 'limitranges', 'LimitRange', True, ['limits'], 'limitrange'),
    ('', 'v1', 'namespaces', 'Namespace', False, ['ns'], 'namespace'),
    ('', 'v1', 'nodes', 'Node', False, ['no'], 'node'),
    ('', 'v1', 'persistentvolumeclaims', 'PersistentVolumeClaim', True, ['pvc'], 'persistentvolumeclaim'),
    ('', 'v1', 'persistentvolumes', 'PersistentVolume', False, ['pv'], 'persistentvolume'),
    ('', 'v1', 'pods', 'Pod', True, ['po'], 'pod'),
    ('', 'v1', 'podtemplates', 'PodTemplate', True, [], 'podtemplate'),
    ('', 'v1', 'replicationcontrollers', 'ReplicationController', True, ['rc'], 'replicationcontroller'),
    ('', 'v1', 'resourcequotas', 'ResourceQuota', True, ['quota'], 'resourcequota'),
    ('', 'v1', 'secrets', 'Secret', True, [], 'secret'),
    ('', 'v1', 'serviceaccounts', 'ServiceAccount', True, ['sa'], 'serviceaccount'),
    ('', 'v1', 'services', 'Service', True, ['svc'], 'service'),
    ('apps', 'v1', 'controllerrevisions', 'ControllerRevision', True, [], 'controllerrevision'),
    ('apps', 'v1', 'daemonsets', 'DaemonSet', True, ['ds'], 'daemonset'),
    ('apps', 'v1', 'deployments', 'Deployment', True, ['deploy'], 'deployment'),
    ('apps', 'v1', 'replicasets', 'ReplicaSet', True, ['rs'], 'replicaset'),
    ('apps', 'v1', 'statefulsets', 'StatefulSet', True, ['sts'], 'statefulset'),
    ('autoscaling', 'v2', 'horizontalpodautoscalers', 'HorizontalPodAutoscaler', True, ['hpa'], 'horizontalpodautoscaler'),
    ('autoscaling', 'v1', 'horizontalpodautoscalers', 'HorizontalPodAutoscaler', True, ['hpa'], 'horizontalpodautoscaler'),
    ('batch', 'v1', 'cronjobs', 'CronJob', True, ['cj'], 'cronjob'),
    ('batch', 'v1', 'jobs', 'Job', True, [], 'job'),
    ('coordination.k8s.io', 'v1', 'leases', 'Lease', True, [], 'lease'),
    ('discovery.k8s.io', 'v1', 'endpointslices', 'EndpointSlice', True, [], 'endpointslice'),
    ('events.k8s.io', 'v1', 'events', 'Event', True, ['ev'], 'event'),
    ('networking.k8s.io', 'v1', 'ingresses', 'Ingress', True, ['ing'], 'ingress'),
    ('networking.k8s.io', 'v1', 'networkpolicies', 'NetworkPolicy', True, ['netpol'], 'networkpolicy'),
    ('policy', 'v1', 'poddisruptionbudgets', 'PodDisruptionBudget', True, ['pdb'], 'poddisruptionbudget'),
    ('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings', 'ClusterRoleBinding', False, [], 'clusterrolebinding'),
    ('rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', False, [], 'clusterrole'),
    ('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding', True, [], 'rolebinding'),
    ('rbac.authorization.k8s.io', 'v1', 'roles', 'Role', True, [], 'role'),
    ('scheduling.k8s.io', 'v1', 'priorityclasses', 'PriorityClass', False, ['pc'], 'priorityclass'),
    ('storage.k8s.io', 'v1', 'storageclasses', 'StorageClass', False, ['sc'], 'storageclass'),
]
# Resources that the kscope dumps cover: lists of these are answered from the store.
# Lists of any other known resource are answered "empty-list" (noted specially in the log).
STORE_RESOURCES = set()

VERBS_NS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']


def gv_str(group, version):
    return f'{group}/{version}' if group else version


def res_info(group, version, resource):
    for r in RESOURCES:
        if r[0] == group and r[1] == version and r[2] == resource:
            return r
    return None


def kind_to_resource(api_version, kind):
    group, _, version = api_version.rpartition('/')
    for r in RESOURCES:
        if r[0] == group and r[1] == version and r[3] == kind:
            return r
    return None


class Store:
    def __init__(self):
        self.objs = {}  # (group, version, resource, ns, name) -> obj

    def add(self, obj, override):
        r = kind_to_resource(obj['apiVersion'], obj['kind'])
        if r is None:
            print(f'warning: unknown kind {obj["apiVersion"]} {obj["kind"]}', file=sys.stderr)
            return
        md = obj.get('metadata', {})
        key = (r[0], r[1], r[2], md.get('namespace', '') if r[4] else '', md['name'])
        if override or key not in self.objs:
            self.objs[key] = obj
        STORE_RESOURCES.add((r[0], r[1], r[2]))

    def load(self, path, override):
        data = json.load(open(path))
        if data.get('kind') == 'List' or data.get('kind', '').endswith('List'):
            for item in data.get('items', []):
                self.add(item, override)
            # A dump named <resource>.json covers that resource even when it is empty (kscope's
            # `kubectl get events -A -o json` lists core/v1 Events, so prefer the core group).
            base = path.rsplit('/', 1)[-1].rsplit('.', 1)[0]
            for r in RESOURCES:
                if r[2] == base:
                    STORE_RESOURCES.add((r[0], r[1], r[2]))
                    break
            return
        self.add(data, override)


# ---------------------------------------------------------------- selectors
def split_top(s):
    parts, depth, cur = [], 0, ''
    for ch in s:
        if ch == '(':
            depth += 1
        elif ch == ')':
            depth -= 1
        if ch == ',' and depth == 0:
            parts.append(cur)
            cur = ''
        else:
            cur += ch
    if cur:
        parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def label_match(sel, labels):
    for req in split_top(sel):
        m = re.match(r'^(\S+)\s+(in|notin)\s+\((.*)\)$', req)
        if m:
            k, op, vals = m.group(1), m.group(2), [v.strip() for v in m.group(3).split(',')]
            if op == 'in' and labels.get(k) not in vals:
                return False
            if op == 'notin' and k in labels and labels[k] in vals:
                return False
            continue
        if '!=' in req:
            k, v = req.split('!=', 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif '==' in req or '=' in req:
            k, v = re.split(r'==?', req, 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif req.startswith('!'):
            if req[1:] in labels:
                return False
        else:
            if req not in labels:
                return False
    return True


def field_value(obj, path):
    cur = obj
    for p in path.split('.'):
        if not isinstance(cur, dict):
            return ''
        cur = cur.get(p)
        if cur is None:
            return ''
    return str(cur)


def field_match(sel, obj):
    for req in split_top(sel):
        if '!=' in req:
            k, v = req.split('!=', 1)
            if field_value(obj, k) == v:
                return False
        else:
            k, v = re.split(r'==?', req, 1)
            if field_value(obj, k) != v:
                return False
    return True


# ---------------------------------------------------------------- handler
class Handler(BaseHTTPRequestHandler):
    store = None
    logf = None
    lock = threading.Lock()

    def log_message(self, fmt, *args):
        pass

    def log_req(self, status, note):
        entry = {'method': self.command, 'path': self.path, 'status': status, 'note': note,
                 'accept': self.headers.get('Accept'), 'user_agent': self.headers.get('User-Agent')}
        with self.lock:
            self.logf.write(json.dumps(entry) + '\n')
            self.logf.flush()

    def send_json(self, status, body, note):
        data = json.dumps(body, indent=2).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.log_req(status, note)

    def not_found(self, note='404', details=None, message=None):
        body = {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
                'message': message or 'the server could not find the requested resource',
                'reason': 'NotFound', 'code': 404}
        if details:
            body['details'] = details
        self.send_json(404, body, note)

    def do_GET(self):
        u = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        parts = [p for p in u.path.split('/') if p]
        if u.path == '/version':
            return self.send_json(200, {
                'major': '1', 'minor': '32', 'gitVersion': 'v1.32.0', 'gitCommit': 'fake',
                'gitTreeState': 'clean', 'buildDate': '2025-01-01T00:00:00Z', 'goVersion': 'go1.23.4',
                'compiler': 'gc', 'platform': 'linux/amd64'}, 'discovery')
        if parts == ['api']:
            return self.send_json(200, {
                'kind': 'APIVersions', 'versions': ['v1'],
                'serverAddressByClientCIDRs': [{'clientCIDR': '0.0.0.0/0', 'serverAddress': '127.0.0.1:6443'}]},
                'discovery')
        if parts == ['apis']:
            groups = {}
            for r in RESOURCES:
                if r[0]:
                    groups.setdefault(r[0], [])
                    if r[1] not in groups[r[0]]:
                        groups[r[0]].append(r[1])
            body = {'kind': 'APIGroupList', 'apiVersion': 'v1', 'groups': [
                {'name': g, 'versions': [{'groupVersion': f'{g}/{v}', 'version': v} for v in vs],
                 'preferredVersion': {'groupVersion': f'{g}/{vs[0]}', 'version': vs[0]}}
                for g, vs in groups.items()]}
            return self.send_json(200, body, 'discovery')
        if parts[:1] == ['api'] and len(parts) >= 2:
            group, version, rest = '', parts[1], parts[2:]
        elif parts[:1] == ['apis'] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return self.not_found()
        known = [r for r in RESOURCES if r[0] == group and r[1] == version]
        if not known:
            return self.not_found()
        if not rest:
            body = {'kind': 'APIResourceList', 'apiVersion': 'v1', 'groupVersion': gv_str(group, version),
                    'resources': []}
            for r in known:
                e = {'name': r[2], 'singularName': r[6], 'namespaced': r[4], 'kind': r[3], 'verbs': VERBS_NS}
                if r[5]:
                    e['shortNames'] = r[5]
                if r[2] == 'pods':
                    e['categories'] = ['all']
                body['resources'].append(e)
                if r[2] in ('deployments', 'replicasets', 'statefulsets', 'replicationcontrollers'):
                    body['resources'].append({'name': r[2] + '/scale', 'singularName': '', 'namespaced': True,
                                              'group': 'autoscaling', 'version': 'v1', 'kind': 'Scale',
                                              'verbs': ['get', 'patch', 'update']})
                if r[2] in ('pods', 'deployments', 'replicasets', 'services', 'nodes', 'namespaces'):
                    body['resources'].append({'name': r[2] + '/status', 'singularName': '',
                                              'namespaced': r[4], 'kind': r[3],
                                              'verbs': ['get', 'patch', 'update']})
            return self.send_json(200, body, 'discovery')
        ns = None
        if rest[0] == 'namespaces' and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        resource = rest[0]
        name = rest[1] if len(rest) > 1 else None
        if len(rest) > 2:
            return self.not_found()
        r = res_info(group, version, resource)
        if r is None:
            return self.not_found()
        if name is not None:
            key = (group, version, resource, (ns or '') if r[4] else '', name)
            obj = self.store.objs.get(key)
            if obj is None:
                return self.not_found(details={'name': name, 'group': group, 'kind': resource},
                                      message=f'{resource}{"." + group if group else ""} "{name}" not found')
            return self.send_json(200, obj, 'store-get')
        # list
        items = []
        for (g, v, res, ons, oname), obj in sorted(self.store.objs.items()):
            if (g, v, res) != (group, version, resource):
                continue
            if ns is not None and ons != ns:
                continue
            md = obj.get('metadata', {})
            if 'labelSelector' in q and not label_match(q['labelSelector'], md.get('labels') or {}):
                continue
            if 'fieldSelector' in q and not field_match(q['fieldSelector'], obj):
                continue
            it = copy.deepcopy(obj)
            # a real apiserver leaves apiVersion/kind out of list items
            it.pop('apiVersion', None)
            it.pop('kind', None)
            items.append(it)
        note = 'store-list' if (group, version, resource) in STORE_RESOURCES else 'empty-list'
        if note == 'store-list' and not items:
            note = 'store-list(empty)'
        body = {'kind': r[3] + 'List', 'apiVersion': gv_str(group, version),
                'metadata': {'resourceVersion': '100'}, 'items': items}
        return self.send_json(200, body, note)

    def do_POST(self):
        self.not_found()

    do_PUT = do_PATCH = do_DELETE = do_POST


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--portfile')
    ap.add_argument('--log', default=os.environ.get('GOLDEN_DIR', '/tmp/golden') + '/requests.log')
    ap.add_argument('--related', nargs='*', default=[], help='List dumps (lower priority)')
    ap.add_argument('objects', nargs='*')
    a = ap.parse_args()
    store = Store()
    for p in a.objects:
        store.load(p, override=True)
    for p in a.related:
        store.load(p, override=False)
    Handler.store = store
    Handler.logf = open(a.log, 'a')
    srv = ThreadingHTTPServer(('127.0.0.1', a.port), Handler)
    port = srv.server_address[1]
    if a.portfile:
        with open(a.portfile, 'w') as f:
            f.write(str(port))
    print(f'listening on 127.0.0.1:{port}', flush=True)
    srv.serve_forever()


if __name__ == '__main__':
    main()
