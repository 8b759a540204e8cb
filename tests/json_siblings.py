"""Reading near-identical JSON items back (``extproc/compressors/_json_siblings.py``), as a reader
would: from the output alone, RFC 6901 pointers into the item named, as sent. Written apart from
the module it checks. Also a pod of one StatefulSet, the listing item such arrays hold.
"""

from __future__ import annotations

import copy
import re
from typing import Any

SAME_AS = re.compile(r"^\[trimwire: same as \[(\d+)\] of this array, except at these JSON Pointers\]$")
WITHOUT = "[trimwire: and without]"


def _tokens(pointer: str) -> list[str]:
    assert pointer.startswith("/")
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]


def _parent(document, parts):
    for part in parts[:-1]:
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


def resolve(value: Any) -> Any:
    """``value`` with every difference object put back as the whole item it stands for. A pointer
    names a place in the earlier item as sent (which may itself hold differences deeper down), so it
    is applied there first and the result read back after."""
    if isinstance(value, dict):
        return {key: resolve(child) for key, child in value.items()}
    if not isinstance(value, list):
        return value
    out = []
    for item in value:
        head = next(iter(item), None) if isinstance(item, dict) else None
        match = SAME_AS.match(head) if isinstance(head, str) else None
        if match is None:
            out.append(resolve(item))
            continue
        whole = copy.deepcopy(value[int(match.group(1))])
        assert not (isinstance(whole, dict) and isinstance(next(iter(whole), None), str)
                    and SAME_AS.match(next(iter(whole)))), "a difference names another difference"
        for pointer, new in item[head].items():
            parts = _tokens(pointer)
            parent = _parent(whole, parts)
            if isinstance(parent, list):
                index = int(parts[-1])
                parent.append(new) if index == len(parent) else parent.__setitem__(index, new)
            else:
                parent[parts[-1]] = new
        for pointer in item.get(WITHOUT, []):
            parts = _tokens(pointer)
            parent = _parent(whole, parts)
            del parent[int(parts[-1]) if isinstance(parent, list) else parts[-1]]
        out.append(resolve(whole))
    return out


def pod(name: str, ip: str, restarts: int, extra: dict | None = None) -> dict:
    """A pod of one StatefulSet, as ``kubectl get pods -o json`` lists it."""
    item = {
        "metadata": {"name": name, "namespace": "monitoring", "uid": f"uid-{name}",
                     "labels": {"app": "prometheus", "statefulset.kubernetes.io/pod-name": name},
                     "annotations": {"openshift.io/scc": "restricted", "kubectl.kubernetes.io/restartedAt": "2026-11-02"}},
        "spec": {"containers": [{"name": "prometheus", "image": "quay.io/prometheus/prometheus:v2.48.1",
                                 "args": ["--storage.tsdb.retention.time=15d", "--web.enable-lifecycle",
                                          "--config.file=/etc/prometheus/config_out/prometheus.env.yaml"],
                                 "resources": {"requests": {"cpu": "70m", "memory": "1Gi"}},
                                 "volumeMounts": [{"name": f"vol-{n}", "mountPath": f"/etc/prometheus/{n}"}
                                                  for n in range(6)]},
                                {"name": "config-reloader", "image": "quay.io/prometheus-operator/reloader:v0.70.0",
                                 "resources": {"requests": {"cpu": "1m", "memory": "10Mi"}}}],
                 "nodeSelector": {"kubernetes.io/os": "linux"}, "priorityClassName": "system-cluster-critical",
                 "nodeName": f"worker-{ip.rsplit('.', 1)[-1]}"},  # replicas on different nodes: no spec is shared
        "status": {"phase": "Running", "podIP": ip, "containerStatuses": [{"name": "prometheus", "ready": True,
                                                                           "restartCount": restarts}]},
    }
    item["metadata"].update(extra or {})
    return item
