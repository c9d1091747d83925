"""Status objects shaped like the real kube-apiserver's (apimachinery pkg/api/errors)."""

REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
    415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests",
    500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}


class ApiError(Exception):
    """A failure answered with a Status object whose code equals the HTTP code."""

    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = dict(headers or {})

    def status(self):
        st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": self.message}
        if self.reason:
            st["reason"] = self.reason
        if self.details:
            st["details"] = self.details
        st["code"] = self.code
        return st


def qualified(res):
    """`configmaps` for the core group, `meshclusters.mesh.example.com` otherwise."""
    return res.plural if not res.group else "%s.%s" % (res.plural, res.group)


def _details(res, name):
    d = {}
    if name:
        d["name"] = name
    if res.group:
        d["group"] = res.group
    d["kind"] = res.plural
    return d


def not_found(res, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (qualified(res), name), _details(res, name))


def namespace_not_found(ns):
    return ApiError(404, "NotFound", 'namespaces "%s" not found' % ns,
                    {"name": ns, "kind": "namespaces"})


def already_exists(res, name):
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (qualified(res), name),
                    _details(res, name))


def conflict(res, name, why="the object has been modified; please apply your changes to the latest version and try again"):
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s'
                    % (qualified(res), name, why), _details(res, name))


def invalid(res, name, causes):
    """422 with field causes; message lists `field: message` like field.ErrorList."""
    parts = ["%s: %s" % (c["field"], c["message"]) if c.get("field") else c["message"] for c in causes]
    body = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    kind = res.kind if not res.group else "%s.%s" % (res.kind, res.group)
    d = {"name": name} if name else {}
    if res.group:
        d["group"] = res.group
    d["kind"] = res.kind
    d["causes"] = causes
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (kind, name, body), d)


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def forbidden(res_plural, group, name, user, verb, ns, why=None, sub=None):
    what = res_plural if not name else '%s "%s"' % (res_plural if not group else res_plural + "." + group, name)
    if not name and group:
        what = res_plural + "." + group
    resource = res_plural + ("/" + sub if sub else "")
    scope = 'in the namespace "%s"' % ns if ns else "at the cluster scope"
    msg = why or 'User "%s" cannot %s resource "%s" in API group "%s" %s' % (user, verb, resource, group, scope)
    d = {"kind": res_plural}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    return ApiError(403, "Forbidden", "%s is forbidden: %s" % (what, msg), d)


def unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def expired(message):
    return ApiError(410, "Expired", message)


CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can start "
    "a new list without the continue parameter, or use the continue token in this response to "
    "retrieve the remainder of the results. Continuing with the provided token results in an "
    "inconsistent list - objects that were created, modified, or deleted between the time the "
    "first chunk was returned and now may show up in the list.")


def generic(code, message=None, retry_after=None):
    reason = REASONS.get(code, "")
    msg = message or {
        429: "Too many requests, please try again later.",
        500: "Internal error occurred: injected failure",
        503: "The server is currently unable to handle the request",
        504: "The server was unable to return a response in the time allotted, but may still be processing the request",
    }.get(code, reason or "injected failure")
    details = None
    headers = {}
    if retry_after:
        details = {"retryAfterSeconds": int(retry_after)}
        headers["Retry-After"] = str(int(retry_after))
    if code == 500:
        reason = "InternalError"
        details = dict(details or {}, causes=[{"message": "injected failure"}])
    return ApiError(code, reason, msg, details, headers)


def success(res, name, uid):
    d = _details(res, name)
    if uid:
        d["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": d}


def invalid_plain(field, message):
    """422 for bad list/watch options, as ValidateListOptions reports them."""
    reason = "FieldValueRequired" if message.startswith("Required value") else \
        "FieldValueNotSupported" if message.startswith("Unsupported value") else "FieldValueForbidden"
    return ApiError(422, "Invalid", 'ListOptions.meta.k8s.io "" is invalid: %s: %s' % (field, message),
                    {"group": "meta.k8s.io", "kind": "ListOptions",
                     "causes": [{"reason": reason, "message": message, "field": field}]})
