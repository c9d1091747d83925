"""What the real server does for particular built-in kinds beyond schema validation:
Service defaults, cluster IP allocation and immutability rules, Secret stringData folding,
Namespace phases and finalizers, CustomResourceDefinition naming checks."""
import base64
import ipaddress
import random
import threading

from . import status


CRD_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


class IpAllocator:
    """Cluster IPs from 10.96.0.0/12 (10.96.0.1 is the kubernetes Service) and node ports."""

    def __init__(self):
        self._lock = threading.Lock()
        self._net = ipaddress.ip_network("10.96.0.0/12")
        self._used = set()  # the seeded kubernetes Service takes 10.96.0.1
        self._ports = set()

    def ip(self):
        with self._lock:
            while True:
                cand = str(self._net[random.randrange(16, self._net.num_addresses - 1)])
                if cand not in self._used:
                    self._used.add(cand)
                    return cand

    def take(self, ip):
        with self._lock:
            if ip in self._used:
                return False
            self._used.add(ip)
            return True

    def check(self, ip):
        """Why a client's own cluster IP cannot be had, or None (as the real allocator says)."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None  # the schema rules report the syntax
        with self._lock:
            if addr not in self._net:
                return "the provided network does not match the current range"
            if ip in self._used:
                return "provided IP is already allocated"
        return None

    def release(self, ip):
        with self._lock:
            if ip != "10.96.0.1":
                self._used.discard(ip)

    def check_node_port(self, port):
        """Why a client's own node port cannot be had, or None."""
        with self._lock:
            if not 30000 <= port <= 32767:
                return "provided port is not in the valid range. The range of valid ports is 30000-32767"
            if port in self._ports:
                return "provided port is already allocated"
        return None

    def take_node_port(self, port):
        with self._lock:
            self._ports.add(port)

    def release_node_port(self, port):
        with self._lock:
            self._ports.discard(port)

    def node_port(self):
        with self._lock:
            while True:
                p = random.randint(30000, 32767)
                if p not in self._ports:
                    self._ports.add(p)
                    return p


def _cause(reason, field, message):
    return {"reason": reason, "field": field, "message": message}


def _service_defaults(old, svc, creating):
    """What the Service defaulting functions set while decoding: credited to the writer."""
    spec = svc.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    t = spec["type"]
    ospec = (old or {}).get("spec", {})
    if t == "ExternalName":
        # dropTypeDependentFields: switching to ExternalName clears what the client left as-is
        if old is not None and spec.get("clusterIP") == ospec.get("clusterIP"):
            for k in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
                spec.pop(k, None)
        if old is not None and spec.get("internalTrafficPolicy") == ospec.get("internalTrafficPolicy"):
            spec.pop("internalTrafficPolicy", None)
    else:
        spec.setdefault("internalTrafficPolicy", "Cluster")
    spec.setdefault("sessionAffinity", "None")
    for p in spec.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")
            p.setdefault("targetPort", p.get("port"))
    if t in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if t == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    if creating:
        svc["status"] = {"loadBalancer": {}}


def _service_allocate(api, old, svc, dry_run):
    """What the Service storage fills in after ownership is recorded (cluster IPs, IP families,
    node ports): no manager owns these unless a client sets them itself."""
    spec = svc.setdefault("spec", {})
    t = spec.get("type", "ClusterIP")
    ospec = (old or {}).get("spec", {})
    if t == "ExternalName":
        return
    if old is not None and not spec.get("clusterIP") and ospec.get("clusterIP"):
        spec["clusterIP"] = ospec["clusterIP"]
        spec["clusterIPs"] = ospec.get("clusterIPs", [ospec["clusterIP"]])
    if not spec.get("clusterIP"):
        spec["clusterIP"] = api.ips.ip()
    elif old is None and spec["clusterIP"] != "None":
        why = api.ips.check(spec["clusterIP"])
        if why:
            raise status.invalid(api.reg.get("", "v1", "services"), svc["metadata"].get("name", ""), [
                _cause("FieldValueInvalid", "spec.clusterIPs", 'Invalid value: ["%s"]: failed to allocate IP %s: %s'
                       % (spec["clusterIP"], spec["clusterIP"], why))])
        if not dry_run:
            api.ips.take(spec["clusterIP"])
    spec.setdefault("clusterIPs", [spec["clusterIP"]])
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    held = {q.get("nodePort") for q in ospec.get("ports") or [] if isinstance(q, dict)}
    for i, p in enumerate(spec.get("ports") or []):
        if not isinstance(p, dict) or t not in ("NodePort", "LoadBalancer"):
            continue
        if not p.get("nodePort"):
            old_np = [q.get("nodePort") for q in ospec.get("ports") or []
                      if isinstance(q, dict) and q.get("port") == p.get("port") and q.get("nodePort")]
            p["nodePort"] = old_np[0] if old_np else api.ips.node_port()
        elif isinstance(p["nodePort"], int) and p["nodePort"] not in held:
            why = api.ips.check_node_port(p["nodePort"])
            if why:
                raise status.invalid(api.reg.get("", "v1", "services"), svc["metadata"].get("name", ""), [
                    _cause("FieldValueInvalid", "spec.ports[%d].nodePort" % i,
                           "Invalid value: %d: %s" % (p["nodePort"], why))])
            if not dry_run:
                api.ips.take_node_port(p["nodePort"])


def _service_causes(old, svc):
    """The Service rules that need the stored object or the defaulted type; kal.schema
    reports the rest (type, ports, port names and numbers, externalName)."""
    spec = svc.get("spec", {})
    ospec = (old or {}).get("spec", {})
    t = spec.get("type")
    out = []
    if t not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        return out
    if t == "ExternalName" and spec.get("clusterIP") and spec.get("clusterIP") != "None":
        out.append(_cause("FieldValueForbidden", "spec.clusterIPs",
                          "Forbidden: may not be set for ExternalName services"))
    if old is not None:
        if ospec.get("clusterIP") and spec.get("clusterIP") and spec["clusterIP"] != ospec["clusterIP"] \
                and t != "ExternalName":
            out.append(_cause("FieldValueInvalid", "spec.clusterIPs[0]",
                              'Invalid value: []string{"%s"}: may not change once set' % spec["clusterIP"]))
        if ospec.get("loadBalancerClass") != spec.get("loadBalancerClass") and \
                ospec.get("type") == "LoadBalancer" and t == "LoadBalancer":
            out.append(_cause("FieldValueInvalid", "spec.loadBalancerClass",
                              "Invalid value: %s: may not change once set" %
                              ('"%s"' % spec["loadBalancerClass"] if spec.get("loadBalancerClass") else "null")))
    if spec.get("loadBalancerClass") and t != "LoadBalancer":
        out.append(_cause("FieldValueForbidden", "spec.loadBalancerClass",
                          "Forbidden: may only be used when `type` is 'LoadBalancer'"))
    return out


DATA_MAX = 1024 * 1024  # ConfigMap and Secret payloads (core validation's MaxSecretSize)


def _data_size(obj, binary_fields):
    size = 0
    for fld in ("data", "binaryData"):
        for k, v in (obj.get(fld) or {}).items() if isinstance(obj.get(fld), dict) else ():
            n = len(str(v or "").encode())
            if fld in binary_fields:
                try:
                    n = len(base64.b64decode(v or "", validate=True))
                except (ValueError, TypeError):
                    pass  # reported as bad base64
            size += len(k.encode()) + n
    return size


def _configmap_causes(old, cm):
    out = _immutable_causes(old, cm, ("data", "binaryData"))
    if _data_size(cm, ("binaryData",)) > DATA_MAX:
        # the real server reports the whole object (an empty field path)
        out.append(_cause("FieldValueTooLong", "[]", "Too long: may not be more than %d bytes" % DATA_MAX))
    return out


def _immutable_causes(old, obj, fields):
    """An object stored with immutable: true keeps its payload and the flag."""
    if old is None or not old.get("immutable"):
        return []
    out = [_cause("FieldValueForbidden", f, "Forbidden: field is immutable when `immutable` is set")
           for f in fields if (old.get(f) or {}) != (obj.get(f) or {})]
    if not obj.get("immutable"):
        out.append(_cause("FieldValueForbidden", "immutable", "Forbidden: field is immutable when `immutable` is set"))
    return out


# Keys a Secret of a given type must carry (core validation's ValidateSecret).
SECRET_TYPE_KEYS = {"kubernetes.io/tls": ("tls.crt", "tls.key"), "kubernetes.io/ssh-auth": ("ssh-privatekey",),
                    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",), "kubernetes.io/dockercfg": (".dockercfg",)}


def _event_causes(ev):
    """core/v1 Events: involvedObject.namespace must be the Event's (an empty one only in
    `default` or for a cluster-scoped event), as the v1 legacy validation says."""
    ns = ev["metadata"].get("namespace") or ""
    ins = (ev.get("involvedObject") or {}).get("namespace") or ""
    if (not ins and ns not in ("", "default")) or (ins and ins != ns):
        return [_cause("FieldValueInvalid", "involvedObject.namespace",
                       'Invalid value: "%s": does not match event.namespace' % ins)]
    return []


def _lease_causes(lease):
    spec = lease.get("spec") or {}
    out = []
    for fld, least in (("leaseDurationSeconds", 1), ("leaseTransitions", 0)):
        v = spec.get(fld)
        if isinstance(v, int) and not isinstance(v, bool) and v < least:
            out.append(_cause("FieldValueInvalid", "spec." + fld, "Invalid value: %d: must be %s" % (
                v, "greater than 0" if least else "greater than or equal to 0")))
    return out


def _fold_string_data(secret):
    sd = secret.pop("stringData", None)
    if isinstance(sd, dict):
        data = secret.setdefault("data", {}) or {}
        secret["data"] = data
        for k, v in sd.items():
            data[k] = base64.b64encode(str(v).encode()).decode()
    secret.setdefault("type", "Opaque")


def _secret_causes(old, secret):
    out = []
    if _data_size(secret, ("data",)) > DATA_MAX:
        out.append(_cause("FieldValueTooLong", "data", "Too long: may not be more than %d bytes" % DATA_MAX))
    for k, v in (secret.get("data") or {}).items():
        try:
            base64.b64decode(v or "", validate=True)
        except Exception:
            out.append(_cause("FieldValueInvalid", "data[%s]" % k, "Invalid value: illegal base64 data"))
    if old is not None and old.get("type", "Opaque") != secret.get("type", "Opaque"):
        out.append(_cause("FieldValueInvalid", "type", 'Invalid value: "%s": field is immutable'
                          % secret.get("type")))
    out += _immutable_causes(old, secret, ("data",))
    for key in SECRET_TYPE_KEYS.get(secret.get("type"), ()):
        if key not in (secret.get("data") or {}):
            out.append(_cause("FieldValueRequired", "data[%s]" % key, "Required value"))
    return out


def _crd_causes(old, crd):
    out = []
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    name = crd["metadata"].get("name", "")
    want = "%s.%s" % (names.get("plural", ""), spec.get("group", ""))
    if name != want:
        out.append(_cause("FieldValueInvalid", "metadata.name",
                          'Invalid value: "%s": must be spec.names.plural+"."+spec.group' % name))
    versions = spec.get("versions") or []
    storage = [v for v in versions if isinstance(v, dict) and v.get("storage")]
    if len(storage) != 1:
        out.append(_cause("FieldValueInvalid", "spec.versions",
                          "Invalid value: []apiextensions.CustomResourceDefinitionVersion{...}: "
                          "must have exactly one version marked as storage version"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        out.append(_cause("FieldValueNotSupported", "spec.scope",
                          'Unsupported value: "%s": supported values: "Cluster", "Namespaced"' % spec.get("scope")))
    for i, v in enumerate(versions):
        if isinstance(v, dict) and not ((v.get("schema") or {}).get("openAPIV3Schema")):
            out.append(_cause("FieldValueRequired", "spec.versions[%d].schema.openAPIV3Schema" % i,
                              "Required value: schemas are required"))
    if old is not None and (old.get("spec") or {}).get("scope") != spec.get("scope"):
        out.append(_cause("FieldValueInvalid", "spec.scope", 'Invalid value: "%s": field is immutable'
                          % spec.get("scope")))
    return out


def validate(api, res, old, obj):
    """Built-in semantic rules; also applies the defaults that go with them."""
    if not res.builtin:
        return []
    gr = res.gr
    if gr == ("", "services"):
        _service_defaults(old, obj, old is None)
        return _service_causes(old, obj)
    if gr == ("", "secrets"):
        _fold_string_data(obj)
        return _secret_causes(old, obj)
    if gr == ("apiextensions.k8s.io", "customresourcedefinitions"):
        return _crd_causes(old, obj)
    if gr == ("", "configmaps"):
        return _configmap_causes(old, obj)
    if gr == ("", "events"):
        return _event_causes(obj)
    if gr == ("coordination.k8s.io", "leases"):
        return _lease_causes(obj)
    if gr == ("", "namespaces"):
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        if old is None:
            obj["status"] = {"phase": "Active"}
        labels = obj["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    return []


def allocate(api, res, old, obj, dry_run=False):
    """Values the registry assigns after managedFields are recorded (no manager owns them)."""
    if res.gr == ("", "services"):
        _service_allocate(api, old, obj, dry_run)


def on_removed(api, res, obj):
    """Gives back what allocate took once the object is gone."""
    if res.gr == ("", "services"):
        ip = (obj.get("spec") or {}).get("clusterIP")
        if ip and ip != "None":
            api.ips.release(ip)
        for p in (obj.get("spec") or {}).get("ports") or []:
            if isinstance(p, dict) and isinstance(p.get("nodePort"), int):
                api.ips.release_node_port(p["nodePort"])


def on_create(api, res, obj):
    if res.gr == ("apiextensions.k8s.io", "customresourcedefinitions"):
        spec = obj.get("spec", {})
        fins = obj["metadata"].setdefault("finalizers", [])
        if CRD_FINALIZER not in fins:
            fins.append(CRD_FINALIZER)
        obj["status"] = {"conditions": [], "acceptedNames": {"plural": "", "kind": ""},
                         "storedVersions": [v["name"] for v in spec.get("versions", []) if v.get("storage")]}


def pending_finalization(res, obj):
    """Namespaces wait for their spec.finalizers (the namespace controller's work)."""
    return res.gr == ("", "namespaces") and bool((obj.get("spec") or {}).get("finalizers"))


def on_delete_pending(res, obj):
    if res.gr == ("", "namespaces"):
        obj.setdefault("status", {})["phase"] = "Terminating"
