#!/usr/bin/env python3
"""Unified diff real kubectl vs kscope, ignoring lines that differ only in an age/relative time."""
import difflib, re, sys
AGE = re.compile(r'(?<![\w.:-])(\d+(y|d|h|m|s)(\d+(d|h|m|s))?|<unknown>|<invalid>)(?![\w.:-])')
def norm(l):
    # pairing key: age tokens masked, runs of blanks collapsed
    return re.sub(r'\s+', ' ', AGE.sub('<AGE>', l)).rstrip()
def age_only(r, k):
    # same text once ages are masked, and the age tokens themselves differ
    return norm(r) == norm(k) and [m.group(0) for m in AGE.finditer(r)] != [m.group(0) for m in AGE.finditer(k)]
def compare(real_path, ks_path, real_label, ks_label):
    real = open(real_path).read().splitlines(keepends=True)
    ks = open(ks_path).read().splitlines(keepends=True)
    sm = difflib.SequenceMatcher(a=[norm(l) for l in real], b=[norm(l) for l in ks], autojunk=False)
    # lines equal under norm() but not age_only() are emitted as-is, so alignment differences stay visible
    adjusted, ignored = [], []
    for op, a1, a2, b1, b2 in sm.get_opcodes():
        if op == 'equal':
            for i, j in zip(range(a1, a2), range(b1, b2)):
                if real[i] != ks[j] and age_only(real[i], ks[j]):
                    ignored.append((real[i], ks[j]))
                    adjusted.append(real[i])  # age-only difference: treat as equal
                else:
                    adjusted.append(ks[j])
        else:
            adjusted.extend(ks[b1:b2])
    # note: whitespace-only alignment differences are NOT ignored (norm is only used for pairing)
    d = list(difflib.unified_diff(real, adjusted, real_label, ks_label))
    return d, ignored
if __name__ == '__main__':
    d, ignored = compare(*sys.argv[1:5])
    sys.stdout.writelines(d)
    for r, k in ignored:
        print(f'# ignored age-only difference: {r.rstrip()!r} vs {k.rstrip()!r}')
