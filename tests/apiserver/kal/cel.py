"""A subset of CEL for CRD `x-kubernetes-validations`: enough for the rules CRDs in this
project write (field access, has(), comparisons, boolean logic, arithmetic, `in`, ?:, size,
string functions, the all/exists/exists_one/filter/map macros, oldSelf for transition rules).

A rule this subset cannot parse, or whose evaluation fails (a missing key, a type mismatch, an
unknown function), is not judged: the lite server accepts what it cannot check rather than
reject what the real server might accept. As on the real server: rules run only when the
schema checks found no blocking error (the caller decides), a rule with oldSelf runs only on
update, and on update a value equal to the stored one is not judged again (ratcheting)."""
import functools
import re


class Unsupported(Exception):
    """The rule uses CEL this subset does not parse."""


class EvalError(Exception):
    """Evaluation failed (CEL's error value)."""


_TOKEN = re.compile(r"""\s*(?:
    (?P<num>\d+\.\d+|\d+[uU]?)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[-+*/%<>!?:.,()\[\]{}])
)""", re.X)

_BINARY = [("||",), ("&&",), ("==", "!=", "<", "<=", ">", ">=", "in"), ("+", "-"), ("*", "/", "%")]
_MACROS = ("all", "exists", "exists_one", "filter", "map")


def _tokens(src):
    out, pos = [], 0
    src = src.strip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise Unsupported("cannot read %r" % src[pos:pos + 10])
        pos = m.end()
        kind = m.lastgroup
        text = m.group(kind)
        if kind == "str":
            body = text[1:-1]
            if "\\" in body:
                if not body.isascii():
                    raise Unsupported("escapes beside non-ASCII text")
                body = body.encode().decode("unicode_escape")
            out.append(("lit", body))
        elif kind == "num":
            out.append(("lit", float(text) if "." in text else int(text.rstrip("uU"))))
        elif kind == "id" and text in ("true", "false", "null"):
            out.append(("lit", {"true": True, "false": False, "null": None}[text]))
        elif kind == "id" and text == "in":
            out.append(("op", "in"))
        else:
            out.append((kind, text))
    return out


class _Parser:
    """Precedence climbing over the tokens; the AST is nested tuples."""

    def __init__(self, src):
        self.toks = _tokens(src)
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self, text=None):
        tok = self.peek()
        if tok[0] is None or (text is not None and tok[1] != text):
            raise Unsupported("expected %r" % text)
        self.i += 1
        return tok

    def parse(self):
        e = self.ternary()
        if self.i != len(self.toks):
            raise Unsupported("trailing %r" % (self.peek(),))
        return e

    def ternary(self):
        cond = self.binary(0)
        if self.peek() == ("op", "?"):
            self.take()
            a = self.ternary()
            self.take(":")
            return ("?:", cond, a, self.ternary())
        return cond

    def binary(self, level):
        if level == len(_BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek()[0] == "op" and self.peek()[1] in _BINARY[level]:
            op = self.take()[1]
            left = (op, left, self.binary(level + 1))
        return left

    def unary(self):
        if self.peek() in (("op", "!"), ("op", "-")):
            op = self.take()[1]
            return ("neg" if op == "-" else "!", self.unary())
        return self.member(self.primary())

    def member(self, e):
        while True:
            tok = self.peek()
            if tok == ("op", "."):
                self.take()
                name = self.take()[1]
                if self.peek() == ("op", "("):
                    e = ("call", name, e, self.args())
                else:
                    e = ("field", e, name)
            elif tok == ("op", "["):
                self.take()
                idx = self.ternary()
                self.take("]")
                e = ("index", e, idx)
            else:
                return e

    def args(self):
        self.take("(")
        out = []
        while self.peek() != ("op", ")"):
            out.append(self.ternary())
            if self.peek() == ("op", ","):
                self.take()
        self.take(")")
        return out

    def primary(self):
        kind, text = self.take()
        if kind == "lit":
            return ("lit", text)
        if kind == "id":
            if self.peek() == ("op", "("):
                return ("call", text, None, self.args())
            return ("var", text)
        if text == "(":
            e = self.ternary()
            self.take(")")
            return e
        if text == "[":
            items = []
            while self.peek() != ("op", "]"):
                items.append(self.ternary())
                if self.peek() == ("op", ","):
                    self.take()
            self.take("]")
            return ("list", items)
        raise Unsupported("unexpected %r" % text)


@functools.lru_cache(maxsize=1024)
def parse(rule):
    """The AST of a rule (cached: every write of a custom resource judges its CRD's rules)."""
    return _Parser(rule).parse()


def uses_old_self(ast):
    if isinstance(ast, tuple):
        if ast == ("var", "oldSelf"):
            return True
        return any(uses_old_self(x) for x in ast[1:])
    if isinstance(ast, list):
        return any(uses_old_self(x) for x in ast)
    return False


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _compare(op, a, b):
    if op == "==":
        return a == b and (isinstance(a, bool) == isinstance(b, bool))
    if op == "!=":
        return not _compare("==", a, b)
    if op == "in":
        if isinstance(b, (list, dict)):
            return a in b
        raise EvalError("no such overload: in")
    if not ((_num(a) and _num(b)) or (isinstance(a, str) and isinstance(b, str))):
        raise EvalError("no such overload: %s" % op)
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _arith(op, a, b):
    if op == "+" and (isinstance(a, str) and isinstance(b, str) or isinstance(a, list) and isinstance(b, list)):
        return a + b
    if not (_num(a) and _num(b)):
        raise EvalError("no such overload: %s" % op)
    if op in ("/", "%") and b == 0:
        raise EvalError("division by zero")
    if op == "/":
        return int(a / b) if isinstance(a, int) and isinstance(b, int) else a / b  # CEL truncates
    if op == "%":
        if not (isinstance(a, int) and isinstance(b, int)):
            raise EvalError("no such overload: %")
        return a - b * int(a / b)
    return a + b if op == "+" else a - b if op == "-" else a * b


_STRING_FUNCS = {
    "startsWith": lambda s, x: s.startswith(x),
    "endsWith": lambda s, x: s.endswith(x),
    "contains": lambda s, x: x in s,
    "matches": lambda s, x: re.search(x, s) is not None,
}


class _Eval:
    def __init__(self, env):
        self.env = env

    def run(self, e):
        op = e[0]
        if op == "lit":
            return e[1]
        if op == "var":
            if e[1] not in self.env:
                raise EvalError("undeclared reference to %s" % e[1])
            return self.env[e[1]]
        if op == "list":
            return [self.run(x) for x in e[1]]
        if op == "field":
            obj = self.run(e[1])
            if not isinstance(obj, dict) or e[2] not in obj:
                raise EvalError("no such key: %s" % e[2])
            return obj[e[2]]
        if op == "index":
            return self._index(self.run(e[1]), self.run(e[2]))
        if op in ("||", "&&"):
            return self._logic(op, e[1], e[2])
        if op == "!":
            v = self.run(e[1])
            if not isinstance(v, bool):
                raise EvalError("no such overload: !")
            return not v
        if op == "neg":
            v = self.run(e[1])
            if not _num(v):
                raise EvalError("no such overload: -")
            return -v
        if op == "?:":
            c = self.run(e[1])
            if not isinstance(c, bool):
                raise EvalError("no such overload: ?:")
            return self.run(e[2] if c else e[3])
        if op in ("==", "!=", "<", "<=", ">", ">=", "in"):
            return _compare(op, self.run(e[1]), self.run(e[2]))
        if op in ("+", "-", "*", "/", "%"):
            return _arith(op, self.run(e[1]), self.run(e[2]))
        if op == "call":
            return self._call(e[1], e[2], e[3])
        raise Unsupported(op)

    @staticmethod
    def _index(obj, key):
        if isinstance(obj, list) and isinstance(key, int) and not isinstance(key, bool) and 0 <= key < len(obj):
            return obj[key]
        if isinstance(obj, dict) and key in obj:
            return obj[key]
        raise EvalError("no such key: %r" % (key,))

    def _logic(self, op, left, right):
        """CEL's commutative && and ||: an error on one side loses to a deciding other side."""
        decide = op == "||"
        try:
            a = self.run(left)
            if not isinstance(a, bool):
                raise EvalError("no such overload: %s" % op)
            if a is decide:
                return decide
        except EvalError:
            b = self.run(right)
            if b is decide:
                return decide
            raise
        b = self.run(right)
        if not isinstance(b, bool):
            raise EvalError("no such overload: %s" % op)
        return b

    def _call(self, name, target, args):
        if name == "has":
            if target is not None or len(args) != 1 or args[0][0] != "field":
                raise Unsupported("has() takes a field selection")
            obj = self.run(args[0][1])
            if not isinstance(obj, dict):
                raise EvalError("has() on a non-object")
            return args[0][2] in obj
        if name in _MACROS and target is not None:
            return self._macro(name, self.run(target), args)
        recv = self.run(target) if target is not None else None
        vals = [self.run(a) for a in args]
        if name == "size":
            v = recv if target is not None else (vals[0] if len(vals) == 1 else None)
            if isinstance(v, (str, list, dict)):
                return len(v)
            raise EvalError("no such overload: size")
        if name in _STRING_FUNCS and isinstance(recv, str) and len(vals) == 1 and isinstance(vals[0], str):
            return _STRING_FUNCS[name](recv, vals[0])
        if name in _STRING_FUNCS or name in ("size",):
            raise EvalError("no such overload: %s" % name)
        raise Unsupported("function %s" % name)

    def _macro(self, name, coll, args):
        if len(args) != 2 or args[0][0] != "var":
            raise Unsupported("%s() takes a variable and an expression" % name)
        var = args[0][1]
        items = list(coll) if isinstance(coll, (list, dict)) else None
        if items is None:
            raise EvalError("no such overload: %s" % name)
        results = []
        for it in items:
            sub = _Eval(dict(self.env, **{var: it}))
            results.append((it, sub.run(args[1])))
        if name == "map":
            return [r for _, r in results]
        if any(not isinstance(r, bool) for _, r in results):
            raise EvalError("no such overload: %s" % name)
        if name == "all":
            return all(r for _, r in results)
        if name == "exists":
            return any(r for _, r in results)
        if name == "exists_one":
            return sum(1 for _, r in results if r) == 1
        return [it for it, r in results if r]


def evaluate(rule, value, old=None, has_old=False):
    """True/False for a rule on `value` (self) and `old` (oldSelf); None when not judged."""
    try:
        ast = parse(rule)
        if uses_old_self(ast) and not has_old:
            return None  # transition rules run on updates only
        env = {"self": value}
        if has_old:
            env["oldSelf"] = old
        v = _Eval(env).run(ast)
    except (Unsupported, EvalError, RecursionError, re.error, ArithmeticError, TypeError, ValueError):
        return None
    return v if isinstance(v, bool) else None

