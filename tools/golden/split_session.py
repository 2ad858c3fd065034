import os
#!/usr/bin/env python3
# Split session.out (kscope shell output) into files, using the separator line that
# `kubectl get ns kube-public -o name` prints between commands (see gen_session.py).
out = open(os.environ.get('GOLDEN_DIR', '/tmp/golden') + '/session.out').read().split('\n')
idx = [l.split('\t') for l in open(os.environ.get('GOLDEN_DIR', '/tmp/golden') + '/session.index').read().splitlines()]
chunks, cur = [], None
for line in out:
    if line == 'namespace/kube-public':
        if cur is not None:
            chunks.append(cur)
        cur = []
    elif cur is not None:
        cur.append(line)
assert len(chunks) == len(idx), (len(chunks), len(idx))
for (name, cmd), c in zip(idx, chunks):
    open(os.environ.get('GOLDEN_DIR', '/tmp/golden') + '/' + name, 'w').write('\n'.join(c) + ('\n' if c else ''))
