"""Object metadata rules the real server enforces for every kind: names, labels, owner
references and finalizer names (apimachinery and core validation)."""
import re

_NAME_RULES = {
    "subdomain": (r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", 253,
                  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                  "'-' or '.', and must start and end with an alphanumeric character (e.g. "
                  "'example.com', regex used for validation is "
                  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
    "label": (r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", 63,
              "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
              "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
              "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"),
    "label1035": (r"^[a-z]([-a-z0-9]*[a-z0-9])?$", 63,
                  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                  "start with an alphabetic character, and end with an alphanumeric character "
                  "(e.g. 'my-name',  or 'abc-123', regex used for validation is "
                  "'[a-z]([-a-z0-9]*[a-z0-9])?')"),
}

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def name_causes(res, name):
    rx, maxlen, msg = _NAME_RULES[res.name_rule]
    out = []
    if len(name) > maxlen:
        out.append({"reason": "FieldValueInvalid", "field": "metadata.name",
                    "message": 'Invalid value: "%s": must be no more than %d characters' % (name, maxlen)})
    if not re.match(rx, name):
        out.append({"reason": "FieldValueInvalid", "field": "metadata.name",
                    "message": 'Invalid value: "%s": %s' % (name, msg)})
    return out


def label_causes(md):
    out = []
    for k, v in (md.get("labels") or {}).items():
        name = k.split("/", 1)[-1]
        if not _LABEL_NAME.match(name) or len(name) > 63:
            out.append({"reason": "FieldValueInvalid", "field": "metadata.labels",
                        "message": 'Invalid value: "%s": name part must consist of alphanumeric '
                        "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                        "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                        "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')" % k})
        if not isinstance(v, str) or len(v) > 63 or not _LABEL_VALUE.match(v):
            out.append({"reason": "FieldValueInvalid", "field": "metadata.labels",
                        "message": 'Invalid value: "%s": a valid label must be an empty string or '
                        "consist of alphanumeric characters, '-', '_' or '.', and must start and "
                        "end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                        "'12345', regex used for validation is "
                        "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')" % v})
    return out


ANNOTATIONS_MAX = 256 * 1024


def annotation_causes(md):
    """The total size of keys and values (apimachinery's TotalAnnotationSizeLimitB)."""
    ann = md.get("annotations") or {}
    if not isinstance(ann, dict):
        return []
    size = sum(len(k.encode()) + len(str(v).encode()) for k, v in ann.items())
    if size > ANNOTATIONS_MAX:
        return [{"reason": "FieldValueTooLong", "field": "metadata.annotations",
                 "message": "Too long: may not be more than %d bytes" % ANNOTATIONS_MAX}]
    return []


STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")
_QUALIFIED = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/"
                        r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def finalizer_checks(res, md, ctx):
    """Core kinds reject finalizer names that are neither standard nor domain-qualified; custom
    resources only warn (core ValidateFinalizerName / apiextensions warnings)."""
    out = []
    for i, f in enumerate(md.get("finalizers") or []):
        if f in STANDARD_FINALIZERS or (isinstance(f, str) and _QUALIFIED.match(f) and "." in f.split("/")[0]):
            continue
        if res.group == "":  # core validation; other built-in groups do not check names
            out.append({"reason": "FieldValueInvalid", "field": "metadata.finalizers[%d]" % i,
                        "message": 'Invalid value: "%s": name is neither a standard finalizer name nor is it '
                                   "fully qualified" % f})
        elif not res.builtin:
            ctx.warnings.append('metadata.finalizers: "%s": prefer a domain-qualified finalizer name to avoid '
                                "accidental conflicts with other finalizer writers" % f)
    return out


def owner_causes(md):
    out = []
    for i, ref in enumerate(md.get("ownerReferences") or []):
        for key, what in (("apiVersion", "version"), ("kind", "kind"), ("name", "name"), ("uid", "uid")):
            if not isinstance(ref, dict) or not ref.get(key):
                out.append({"reason": "FieldValueInvalid", "field": "metadata.ownerReferences.%s" % key,
                            "message": 'Invalid value: "": %s must not be empty' % what})
    controllers = [r for r in md.get("ownerReferences") or [] if isinstance(r, dict) and r.get("controller")]
    if len(controllers) > 1:
        out.append({"reason": "FieldValueInvalid", "field": "metadata.ownerReferences",
                    "message": "Invalid value: []v1.OwnerReference{...}: Only one reference can have Controller "
                               "set to true"})
    return out
