"""Decoding of the Kubernetes protobuf request encoding for the few kinds typed clients send.

Typed clients (helm's release storage, `kubectl create configmap|secret|namespace`) encode request
bodies as `application/vnd.kubernetes.protobuf` and do not fall back to JSON, so the server
decodes these kinds into their JSON form. Responses stay JSON, which every such client accepts.
Envelope: the bytes `k8s\\0`, then a runtime.Unknown {1: typeMeta{1: apiVersion, 2: kind},
2: raw object, 3: contentEncoding, 4: contentType}."""
import base64
import datetime

MAGIC = b"k8s\x00"


class ProtoError(ValueError):
    pass


def _varint(buf, i):
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ProtoError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 70:
            raise ProtoError("varint too long")


def fields(buf):
    """Yields (field number, wire type, value) with value an int or bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise ProtoError("truncated field %d" % num)
            v, i = buf[i:i + n], i + n
        elif wt == 1:
            v, i = int.from_bytes(buf[i:i + 8], "little"), i + 8
        elif wt == 5:
            v, i = int.from_bytes(buf[i:i + 4], "little"), i + 4
        else:
            raise ProtoError("unsupported wire type %d" % wt)
        yield num, wt, v


def _signed(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def _time(buf):
    secs = 0
    for num, _, v in fields(buf):
        if num == 1:
            secs = _signed(v)
    return datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _map(buf, value_bytes):
    k = v = None
    for num, _, val in fields(buf):
        if num == 1:
            k = val.decode()
        elif num == 2:
            v = val
    v = v or b""
    return k, base64.b64encode(v).decode() if value_bytes else v.decode()


# message name -> {field number: (json name, kind, sub message)}
SCHEMAS = {
    "TypeMeta": {1: ("apiVersion", "string", None), 2: ("kind", "string", None)},
    "ObjectMeta": {
        1: ("name", "string", None), 2: ("generateName", "string", None),
        3: ("namespace", "string", None), 5: ("uid", "string", None),
        6: ("resourceVersion", "string", None), 7: ("generation", "int", None),
        11: ("labels", "map_s", None), 12: ("annotations", "map_s", None),
        13: ("ownerReferences", "rep_msg", "OwnerReference"), 14: ("finalizers", "rep_string", None),
    },
    "OwnerReference": {1: ("kind", "string", None), 3: ("name", "string", None), 4: ("uid", "string", None),
                       5: ("apiVersion", "string", None), 6: ("controller", "bool", None),
                       7: ("blockOwnerDeletion", "bool", None)},
    "Secret": {1: ("metadata", "msg", "ObjectMeta"), 2: ("data", "map_b", None), 3: ("type", "string", None),
               4: ("stringData", "map_s", None), 5: ("immutable", "bool", None)},
    "ConfigMap": {1: ("metadata", "msg", "ObjectMeta"), 2: ("data", "map_s", None),
                  3: ("binaryData", "map_b", None), 4: ("immutable", "bool", None)},
    "Namespace": {1: ("metadata", "msg", "ObjectMeta"), 2: ("spec", "msg", "NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "rep_string", None)},
    "Service": {1: ("metadata", "msg", "ObjectMeta"), 2: ("spec", "msg", "ServiceSpec")},
    "ServiceSpec": {1: ("ports", "rep_msg", "ServicePort"), 2: ("selector", "map_s", None),
                    3: ("clusterIP", "string", None), 4: ("type", "string", None),
                    5: ("externalIPs", "rep_string", None), 7: ("sessionAffinity", "string", None),
                    8: ("loadBalancerIP", "string", None), 10: ("externalName", "string", None),
                    11: ("externalTrafficPolicy", "string", None)},
    "ServicePort": {1: ("name", "string", None), 2: ("protocol", "string", None), 3: ("port", "int", None),
                    4: ("targetPort", "intorstr", None), 5: ("nodePort", "int", None),
                    6: ("appProtocol", "string", None)},
    "SelfSubjectAccessReview": {1: ("metadata", "msg", "ObjectMeta"), 2: ("spec", "msg", "SSARSpec")},
    "SSARSpec": {1: ("resourceAttributes", "msg", "ResourceAttributes"),
                 2: ("nonResourceAttributes", "msg", "NonResourceAttributes")},
    "ResourceAttributes": {1: ("namespace", "string", None), 2: ("verb", "string", None),
                           3: ("group", "string", None), 4: ("version", "string", None),
                           5: ("resource", "string", None), 6: ("subresource", "string", None),
                           7: ("name", "string", None)},
    "NonResourceAttributes": {1: ("path", "string", None), 2: ("verb", "string", None)},
    "DeleteOptions": {1: ("gracePeriodSeconds", "int", None), 2: ("preconditions", "msg", "Preconditions"),
                      3: ("orphanDependents", "bool", None), 4: ("propagationPolicy", "string", None),
                      5: ("dryRun", "rep_string", None)},
    "Preconditions": {1: ("uid", "string", None), 2: ("resourceVersion", "string", None)},
}


def decode_message(buf, name):
    schema = SCHEMAS[name]
    out = {}
    for num, _, v in fields(buf):
        spec = schema.get(num)
        if spec is None:
            continue  # fields this emulation does not know are dropped, like unknown JSON fields
        key, kind, sub = spec
        # proto2 sends zero values; the JSON form omits them (omitempty)
        if kind == "string":
            if v:
                out[key] = v.decode()
        elif kind == "int":
            if v:
                out[key] = _signed(v)
        elif kind == "bool":
            if v:
                out[key] = True
        elif kind == "intorstr":
            parts = {n: val for n, _, val in fields(v)}
            out[key] = parts.get(3, b"").decode() if parts.get(1) == 1 else _signed(parts.get(2, 0))
        elif kind == "msg":
            out[key] = decode_message(v, sub)
        elif kind == "time":
            out[key] = _time(v)
        elif kind == "rep_string":
            if v:
                out.setdefault(key, []).append(v.decode())
        elif kind == "rep_msg":
            out.setdefault(key, []).append(decode_message(v, sub))
        elif kind in ("map_s", "map_b"):
            k, val = _map(v, kind == "map_b")
            out.setdefault(key, {})[k] = val
    return out


def decode(body):
    """Returns the JSON form of a protobuf-encoded object of a supported kind."""
    if not body.startswith(MAGIC):
        raise ProtoError("missing the k8s protobuf prefix")
    type_meta, raw = {}, b""
    for num, _, v in fields(body[len(MAGIC):]):
        if num == 1:
            type_meta = decode_message(v, "TypeMeta")
        elif num == 2:
            raw = v
    kind = type_meta.get("kind")
    if kind not in SCHEMAS or kind in ("TypeMeta", "ObjectMeta"):
        raise ProtoError("protobuf encoding of %s is not supported by this test server" % kind)
    obj = {"apiVersion": type_meta.get("apiVersion", "v1"), "kind": kind}
    obj.update(decode_message(raw, kind))
    return obj


def dump(buf, depth=0):
    """Debug aid: the raw field tree of a message."""
    out = []
    for num, wt, v in fields(buf):
        if wt == 2:
            try:
                out.append((num, dump(v, depth + 1)))
            except Exception:
                out.append((num, v))
        else:
            out.append((num, v))
    return out
