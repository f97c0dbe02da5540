#!/usr/bin/env python3
"""A strict, in-memory test API server for oc-release-signature's tests.

It is NOT a Kubernetes cluster. It implements the small part of the kube-apiserver REST API
that the plugin and `kubectl` touch (discovery, ConfigMaps incl. server-side apply, Namespaces
read-only, the OpenShift ClusterVersion read-only), and it answers errors with the same
`Status` bodies, reasons, codes and messages the kube-apiserver uses, so tests can assert on
them. Python 3.11 standard library only (PyYAML is used for apply bodies when installed, a tiny
YAML subset parser otherwise; kubectl and kube-rs send apply bodies as JSON anyway).

Tokens: `Bearer admin-token` (user "admin", everything), `Bearer readonly-token` (user
"readonly", get/list only). Test hooks without auth: POST /_test/fail-next, GET /_test/requests,
POST /_test/reset-log. See tests/apiserver/README.md.
"""

import argparse
import base64
import copy
import datetime
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 3 * 1024 * 1024
MAX_CONFIGMAP = 1024 * 1024
MAX_ANNOTATIONS = 256 * 1024

TOKENS = {"admin-token": "admin", "readonly-token": "readonly"}
READ_VERBS = {"get", "list", "watch"}

PATCH_TYPES = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
    "application/strategic-merge-patch+json",
]

# ---------------------------------------------------------------------------------------------
# Status errors


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self):
        st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": self.message, "reason": self.reason}
        if self.details is not None:
            st["details"] = self.details
        st["code"] = self.code
        return st


def qualified(resource, group):
    return resource if not group else f"{resource}.{group}"


def not_found(resource, name, group=""):
    q = qualified(resource, group)
    d = {"name": name, "kind": resource}
    if group:
        d["group"] = group
    return ApiError(404, "NotFound", f'{q} "{name}" not found', d)


def already_exists(resource, name, group=""):
    d = {"name": name, "kind": resource}
    if group:
        d["group"] = group
    return ApiError(409, "AlreadyExists", f'{qualified(resource, group)} "{name}" already exists', d)


def conflict_rv(resource, name):
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {resource} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                    {"name": name, "kind": resource})


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def invalid(kind, name, errors):
    """errors: list of (field, type, reason-word, detail message)."""
    causes = []
    texts = []
    for field, ctype, text in errors:
        causes.append({"reason": ctype, "message": text, "field": field})
        texts.append(f"{field}: {text}")
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {joined}',
                    {"name": name, "kind": kind, "causes": causes})


def method_not_allowed():
    return ApiError(405, "MethodNotAllowed",
                    "the server does not allow this method on the requested resource",
                    {})


def path_not_found():
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


INJECT_REASONS = {
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected failure"),
    502: ("InternalError", "Internal error occurred: injected failure"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "the server was unable to return a response in the time allotted, "
                     "but may still be processing the request"),
    409: ("Conflict", "injected conflict"),
    401: ("Unauthorized", "Unauthorized"),
    403: ("Forbidden", "forbidden: injected failure"),
    404: ("NotFound", "the server could not find the requested resource"),
}

# ---------------------------------------------------------------------------------------------
# Validation (messages as worded by k8s.io/apimachinery/pkg/util/validation)

DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = DNS1123_LABEL + r"(\." + DNS1123_LABEL + r")*"
DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '" + DNS1123_SUBDOMAIN + "')")
CONFIG_KEY = r"[-._a-zA-Z0-9]+"
CONFIG_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '" + CONFIG_KEY + "')")
QNAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
QNAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used "
    "for validation is '" + QNAME + "')")
LABEL_VALUE = r"(" + QNAME + r")?"
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is '" + LABEL_VALUE + "')")


def full(regex, s):
    return re.fullmatch(regex, s) is not None


def dns1123_subdomain_errors(s):
    errs = []
    if len(s) > 253:
        errs.append("must be no more than 253 characters")
    if not full(DNS1123_SUBDOMAIN, s):
        errs.append(DNS1123_SUBDOMAIN_MSG)
    return errs


def config_key_errors(k):
    errs = []
    if len(k) > 253:
        errs.append("must be no more than 253 characters")
    if not full(CONFIG_KEY, k):
        errs.append(CONFIG_KEY_MSG)
    if k == ".":
        errs.append("must not be '.'")
    elif k == "..":
        errs.append("must not be '..'")
    elif k.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def qualified_name_errors(k):
    errs = []
    parts = k.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs += ["prefix part " + m for m in dns1123_subdomain_errors(prefix)]
    else:
        return [QNAME_MSG.replace("name part must", "a qualified name must", 1)
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if name and not full(QNAME, name):
        errs.append(QNAME_MSG)
    return errs


def label_value_errors(v):
    errs = []
    if len(v) > 63:
        errs.append("must be no more than 63 characters")
    if not full(LABEL_VALUE, v):
        errs.append(LABEL_VALUE_MSG)
    return errs


def decode_error(kind, text):
    return bad_request(f'{kind} in version "v1" cannot be handled as a {kind}: {text}')


GO_TYPES = {bool: "bool", int: "number", float: "number", list: "array", dict: "object"}


def go_type(v):
    if isinstance(v, bool):
        return "bool"
    return GO_TYPES.get(type(v), "string")


META_FIELDS = {"name", "namespace", "generateName", "uid", "resourceVersion", "generation",
               "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
               "annotations", "ownerReferences", "finalizers", "managedFields", "selfLink"}
CM_FIELDS = {"apiVersion", "kind", "metadata", "data", "binaryData", "immutable"}


def check_decode_configmap(obj, field_validation):
    """Type checks as the JSON decoder does (400), plus unknown-field handling.

    Returns the list of warnings (fieldValidation=Warn)."""
    kind = "ConfigMap"
    if not isinstance(obj, dict):
        raise decode_error(kind, f"json: cannot unmarshal {go_type(obj)} into Go value of type "
                                 "struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; "
                                 "Kind string \"json:\\\"kind,omitempty\\\"\" }")
    unknown = [f'unknown field "{k}"' for k in obj if k not in CM_FIELDS]
    meta = obj.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise decode_error(kind, f"json: cannot unmarshal {go_type(meta)} into Go struct field "
                                 "ConfigMap.metadata of type v1.ObjectMeta")
    meta = meta or {}
    unknown += [f'unknown field "metadata.{k}"' for k in meta if k not in META_FIELDS]
    for f in ("name", "namespace", "generateName", "resourceVersion", "uid"):
        if f in meta and meta[f] is not None and not isinstance(meta[f], str):
            raise decode_error(kind, f"json: cannot unmarshal {go_type(meta[f])} into Go struct "
                                     f"field ObjectMeta.metadata.{f} of type string")
    for f in ("labels", "annotations"):
        m = meta.get(f)
        if m is None:
            continue
        if not isinstance(m, dict):
            raise decode_error(kind, f"json: cannot unmarshal {go_type(m)} into Go struct field "
                                     f"ObjectMeta.metadata.{f} of type map[string]string")
        for v in m.values():
            if not isinstance(v, str):
                raise decode_error(kind, f"json: cannot unmarshal {go_type(v)} into Go struct "
                                         f"field ObjectMeta.metadata.{f} of type string")
    for f in ("data", "binaryData"):
        m = obj.get(f)
        if m is None:
            continue
        gotype = "map[string]string" if f == "data" else "map[string][]uint8"
        if not isinstance(m, dict):
            raise decode_error(kind, f"json: cannot unmarshal {go_type(m)} into Go struct field "
                                     f"ConfigMap.{f} of type {gotype}")
        for v in m.values():
            if v is None:
                continue
            if not isinstance(v, str):
                raise decode_error(kind, f"json: cannot unmarshal {go_type(v)} into Go struct "
                                         f"field ConfigMap.{f} of type "
                                         f"{'string' if f == 'data' else '[]uint8'}")
            if f == "binaryData":
                try:
                    base64.b64decode(v, validate=True)
                except Exception:
                    pos = first_bad_base64(v)
                    raise decode_error(kind, f"illegal base64 data at input byte {pos}")
    if "immutable" in obj and obj["immutable"] is not None and not isinstance(obj["immutable"], bool):
        raise decode_error(kind, f"json: cannot unmarshal {go_type(obj['immutable'])} into Go "
                                 "struct field ConfigMap.immutable of type bool")
    if unknown:
        if field_validation == "Strict":
            if len(unknown) == 1:
                raise bad_request("strict decoding error: " + unknown[0])
            raise bad_request("strict decoding error: " + ", ".join(unknown))
        if field_validation == "Warn":
            return unknown
    return []


def first_bad_base64(s):
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    for i, c in enumerate(s):
        if c == "=":
            return i if len(s) % 4 else i
        if c not in alphabet:
            return i
    return len(s) - (len(s) % 4)


def validate_meta(kind, obj, errors):
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    if not name:
        errors.append(("metadata.name", "FieldValueRequired",
                       "Required value: name or generateName is required"))
    else:
        for m in dns1123_subdomain_errors(name):
            errors.append(("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {m}'))
    for k, v in sorted((meta.get("labels") or {}).items()):
        for m in qualified_name_errors(k):
            errors.append(("metadata.labels", "FieldValueInvalid", f'Invalid value: "{k}": {m}'))
        for m in label_value_errors(v):
            errors.append((f"metadata.labels", "FieldValueInvalid", f'Invalid value: "{v}": {m}'))
    total = 0
    for k, v in sorted((meta.get("annotations") or {}).items()):
        for m in qualified_name_errors(k.lower()):
            errors.append(("metadata.annotations", "FieldValueInvalid",
                           f'Invalid value: "{k}": {m}'))
        total += len(k) + len(v)
    if total > MAX_ANNOTATIONS:
        errors.append(("metadata.annotations", "FieldValueTooLong",
                       f"Too long: must have at most {MAX_ANNOTATIONS} bytes"))


def validate_configmap(obj, old=None):
    errors = []
    validate_meta("ConfigMap", obj, errors)
    data = obj.get("data") or {}
    binary = obj.get("binaryData") or {}
    total = 0
    for k in sorted(data):
        for m in config_key_errors(k):
            errors.append((f"data[{k}]", "FieldValueInvalid", f'Invalid value: "{k}": {m}'))
        if k in binary:
            errors.append((f"data[{k}]", "FieldValueInvalid",
                           f'Invalid value: "{k}": duplicate of key present in binaryData'))
        total += len((data[k] or "").encode())
    for k in sorted(binary):
        for m in config_key_errors(k):
            errors.append((f"binaryData[{k}]", "FieldValueInvalid", f'Invalid value: "{k}": {m}'))
        total += len(base64.b64decode(binary[k] or ""))
    if total > MAX_CONFIGMAP:
        errors.append(("[]", "FieldValueTooLong", f"Too long: must have at most {MAX_CONFIGMAP} bytes"))
    if old is not None and old.get("immutable"):
        if not obj.get("immutable"):
            errors.append(("immutable", "FieldValueForbidden",
                           "Forbidden: field is immutable when `immutable` is set"))
        if (old.get("data") or {}) != data:
            errors.append(("data", "FieldValueForbidden",
                           "Forbidden: field is immutable when `immutable` is set"))
        if (old.get("binaryData") or {}) != binary:
            errors.append(("binaryData", "FieldValueForbidden",
                           "Forbidden: field is immutable when `immutable` is set"))
    if errors:
        raise invalid("ConfigMap", (obj.get("metadata") or {}).get("name") or "", errors)


# ---------------------------------------------------------------------------------------------
# Tiny YAML subset (block mappings, scalars, flow {} / []), used only when PyYAML is missing.


def tiny_yaml(text):
    lines = []
    for raw in text.splitlines():
        s = raw.rstrip()
        if not s.strip() or s.strip().startswith("#") or s.strip() in ("---", "..."):
            continue
        lines.append((len(s) - len(s.lstrip(" ")), s.strip()))

    def scalar(v):
        v = v.strip()
        if v.startswith('"'):
            return json.loads(v)
        if v.startswith("'"):
            return v[1:-1].replace("''", "'")
        if " #" in v:
            v = v.split(" #", 1)[0].rstrip()
        if v in ("{}",):
            return {}
        if v in ("[]",):
            return []
        if v in ("null", "~", ""):
            return None
        if v in ("true", "True"):
            return True
        if v in ("false", "False"):
            return False
        if re.fullmatch(r"-?[0-9]+", v):
            return int(v)
        if v.startswith("{") or v.startswith("["):
            return json.loads(v)
        return v

    def block(i, indent):
        if i < len(lines) and lines[i][1].startswith("- "):
            out = []
            while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
                rest = lines[i][1][2:]
                if ":" in rest and not rest.startswith(('"', "'")):
                    lines[i] = (indent + 2, rest)
                    val, i = block(i, indent + 2)
                else:
                    val, i = scalar(rest), i + 1
                out.append(val)
            return out, i
        out = {}
        while i < len(lines) and lines[i][0] == indent:
            s = lines[i][1]
            m = re.match(r'^("(?:[^"\\]|\\.)*"|\'[^\']*\'|[^:]+?)\s*:(?:\s+(.*))?$', s)
            if not m:
                raise ValueError(f"cannot parse line: {s}")
            key = scalar(m.group(1))
            rest = m.group(2)
            i += 1
            if rest is None or rest == "":
                if i < len(lines) and lines[i][0] > indent:
                    out[key], i = block(i, lines[i][0])
                elif i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
                    out[key], i = block(i, indent)
                else:
                    out[key] = None
            elif rest in ("|", "|-", ">", ">-"):
                raise ValueError("block scalars are not supported by the fallback YAML parser")
            else:
                out[key] = scalar(rest)
        return out, i

    if not lines:
        return None
    val, i = block(0, lines[0][0])
    if i != len(lines):
        raise ValueError(f"unexpected indentation at: {lines[i][1]}")
    return val


def parse_yaml_or_json(raw):
    text = raw.decode("utf-8")
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        import yaml  # type: ignore
        return yaml.safe_load(text)
    except ImportError:
        return tiny_yaml(text)


# ---------------------------------------------------------------------------------------------
# Protobuf request bodies: kubectl's typed clients (e.g. `kubectl create configmap`) POST
# `application/vnd.kubernetes.protobuf`. Only decoding is needed (answers are always JSON, which
# those clients accept too).

PROTO_MAGIC = b"k8s\x00"


def pb_fields(buf):
    i, n = 0, len(buf)

    def varint():
        nonlocal i
        shift = result = 0
        while True:
            if i >= n:
                raise ValueError("truncated varint")
            b = buf[i]
            i += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    while i < n:
        key = varint()
        num, wt = key >> 3, key & 7
        if wt == 0:
            yield num, varint()
        elif wt == 2:
            ln = varint()
            if i + ln > n:
                raise ValueError("truncated field")
            yield num, buf[i:i + ln]
            i += ln
        elif wt == 1:
            yield num, buf[i:i + 8]
            i += 8
        elif wt == 5:
            yield num, buf[i:i + 4]
            i += 4
        else:
            raise ValueError(f"unsupported wire type {wt}")


def pb_map_entry(buf, text_value=True):
    k, v = "", b""
    for num, val in pb_fields(buf):
        if num == 1:
            k = val.decode()
        elif num == 2:
            v = val
    return k, (v.decode() if text_value else base64.b64encode(v).decode())


def pb_object_meta(buf):
    meta = {}
    strings = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    for num, val in pb_fields(buf):
        if num in strings:
            if val:
                meta[strings[num]] = val.decode()
        elif num in (11, 12):
            k, v = pb_map_entry(val)
            meta.setdefault("labels" if num == 11 else "annotations", {})[k] = v
        elif num == 14:
            meta.setdefault("finalizers", []).append(val.decode())
    return meta


def decode_protobuf_configmap(body):
    if not body.startswith(PROTO_MAGIC):
        raise ValueError("provided data does not appear to be a protobuf message, expected prefix "
                         "[107 56 115 0]")
    api_version = kind = ""
    raw = b""
    for num, val in pb_fields(body[4:]):
        if num == 1:
            for n2, v2 in pb_fields(val):
                if n2 == 1:
                    api_version = v2.decode()
                elif n2 == 2:
                    kind = v2.decode()
        elif num == 2:
            raw = val
    obj = {"apiVersion": api_version, "kind": kind}
    for num, val in pb_fields(raw):
        if num == 1:
            obj["metadata"] = pb_object_meta(val)
        elif num == 2:
            k, v = pb_map_entry(val)
            obj.setdefault("data", {})[k] = v
        elif num == 3:
            k, v = pb_map_entry(val, text_value=False)
            obj.setdefault("binaryData", {})[k] = v
        elif num == 4:
            obj["immutable"] = bool(val)
    return obj


# ---------------------------------------------------------------------------------------------
# Field ownership (server-side apply) over the leaf fields of a ConfigMap.


def leaves(obj):
    out = {}
    meta = obj.get("metadata") or {}
    for f in ("labels", "annotations"):
        for k, v in (meta.get(f) or {}).items():
            out[("metadata", f, k)] = v
    for f in ("ownerReferences", "finalizers"):
        if meta.get(f):
            out[("metadata", f)] = meta[f]
    for f in ("data", "binaryData"):
        for k, v in (obj.get(f) or {}).items():
            out[(f, k)] = v
    if obj.get("immutable") is not None:
        out[("immutable",)] = obj["immutable"]
    return out


def set_leaf(obj, path, value):
    if path[0] == "metadata":
        meta = obj.setdefault("metadata", {})
        if len(path) == 2:
            meta[path[1]] = value
        else:
            meta.setdefault(path[1], {})[path[2]] = value
    elif len(path) == 1:
        obj[path[0]] = value
    else:
        obj.setdefault(path[0], {})[path[1]] = value


def del_leaf(obj, path):
    if path[0] == "metadata":
        meta = obj.get("metadata") or {}
        if len(path) == 2:
            meta.pop(path[1], None)
        else:
            m = meta.get(path[1]) or {}
            m.pop(path[2], None)
            if not m:
                meta.pop(path[1], None)
    elif len(path) == 1:
        obj.pop(path[0], None)
    else:
        m = obj.get(path[0]) or {}
        m.pop(path[1], None)
        if not m:
            obj.pop(path[0], None)


def fields_v1(paths):
    root = {}
    for p in sorted(paths):
        node = root
        for seg in p:
            node = node.setdefault("f:" + seg, {})
    return root


def paths_of(fields, prefix=()):
    out = set()
    for k, v in fields.items():
        if not k.startswith("f:"):
            continue
        p = prefix + (k[2:],)
        sub = {kk: vv for kk, vv in v.items() if kk.startswith("f:")}
        if sub and not (len(p) == 2 and p[0] == "metadata" and p[1] in ("ownerReferences", "finalizers")):
            out |= paths_of(sub, p)
        else:
            out.add(p)
    return out


def path_str(p):
    return "." + ".".join(p)


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Managers:
    """managedFields as a list of (manager, operation, set-of-paths)."""

    def __init__(self, obj):
        self.entries = []
        for e in (obj.get("metadata") or {}).get("managedFields") or []:
            self.entries.append({"manager": e["manager"], "operation": e["operation"],
                                 "time": e.get("time"),
                                 "paths": paths_of(e.get("fieldsV1") or {})})

    def find(self, manager, operation):
        for e in self.entries:
            if e["manager"] == manager and e["operation"] == operation:
                return e
        e = {"manager": manager, "operation": operation, "time": None, "paths": set()}
        self.entries.append(e)
        return e

    def signature(self):
        return sorted((e["manager"], e["operation"], tuple(sorted(e["paths"])))
                      for e in self.entries if e["paths"])

    def render(self, touched=None, ts=None):
        out = []
        for e in self.entries:
            if not e["paths"]:
                continue
            if touched is e or e["time"] is None:
                e["time"] = ts or now()
            out.append({"manager": e["manager"], "operation": e["operation"],
                        "apiVersion": "v1", "time": e["time"], "fieldsType": "FieldsV1",
                        "fieldsV1": fields_v1(e["paths"])})
        return out

    def record_update(self, manager, old, new):
        """Ownership after a non-apply write: the writer takes the fields it changed."""
        o, n = leaves(old) if old else {}, leaves(new)
        changed = {p for p, v in n.items() if p not in o or o[p] != v}
        removed = set(o) - set(n)
        mine = self.find(manager, "Update")
        for e in self.entries:
            e["paths"] -= removed
            if e is not mine:
                e["paths"] -= changed
        mine["paths"] |= changed
        return mine


def conflict_error(conflicts):
    """conflicts: list of (manager, operation, path)."""
    conflicts = sorted(conflicts, key=lambda c: (c[0], c[2]))
    n = len(conflicts)
    causes = [{"type": "FieldManagerConflict", "message": f'conflict with "{m}" using v1',
               "field": path_str(p)} for m, _, p in conflicts]
    if n == 1:
        m, _, p = conflicts[0]
        text = f'conflict with "{m}" using v1: {path_str(p)}'
    else:
        lines = []
        by = {}
        for m, _, p in conflicts:
            by.setdefault(m, []).append(p)
        for m in sorted(by):
            lines.append(f'conflicts with "{m}" using v1:')
            lines += [f"- {path_str(p)}" for p in by[m]]
        text = "\n".join(lines)
    return ApiError(409, "Conflict", f"Apply failed with {n} conflict{'s' if n > 1 else ''}: {text}",
                    {"causes": causes})


# ---------------------------------------------------------------------------------------------
# Label / field selectors


def split_top(s):
    parts, depth, cur = [], 0, ""
    for c in s:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(sel):
    reqs = []
    for part in split_top(sel):
        m = re.fullmatch(r"(\S+)\s+(in|notin)\s+\(([^)]*)\)", part)
        if m:
            vals = {v.strip() for v in m.group(3).split(",") if v.strip()}
            reqs.append((m.group(1), m.group(2), vals))
            continue
        m = re.fullmatch(r"!\s*(\S+)", part)
        if m:
            reqs.append((m.group(1), "!", None))
            continue
        m = re.fullmatch(r"([^=!\s]+)\s*(==|=|!=)\s*([^=!\s]*)", part)
        if m:
            reqs.append((m.group(1), "!=" if m.group(2) == "!=" else "=", m.group(3)))
            continue
        if re.fullmatch(r"[^=!\s(),]+", part):
            reqs.append((part, "exists", None))
            continue
        raise bad_request(f"unable to parse requirement: found '{part}', expected: "
                          "'=', '!=', '==', 'in', notin'")
    for key, _, vals in reqs:
        errs = qualified_name_errors(key)
        if errs:
            raise bad_request(f'unable to parse requirement: values[0][{key}]: Invalid value: '
                              f'"{key}": {errs[0]}')
    return reqs


def label_match(reqs, labels):
    for key, op, val in reqs:
        has = key in labels
        v = labels.get(key)
        if op == "exists" and not has:
            return False
        if op == "!" and has:
            return False
        if op == "=" and v != val:
            return False
        if op == "!=" and has and v == val:
            return False
        if op == "in" and (not has or v not in val):
            return False
        if op == "notin" and has and v in val:
            return False
    return True


def parse_field_selector(sel, resource_kind):
    reqs = []
    for part in split_top(sel):
        m = re.fullmatch(r"([^=!]+?)\s*(==|=|!=)\s*(.*)", part)
        if not m:
            raise bad_request(f"invalid selector: '{sel}'; can't understand '{part}'")
        field, op, val = m.group(1), m.group(2), m.group(3)
        if field not in ("metadata.name", "metadata.namespace"):
            raise bad_request(f'"{field}" is not a known field selector: only "metadata.name", '
                              '"metadata.namespace"')
        reqs.append((field, op != "!=", val))
    return reqs


def field_match(reqs, obj):
    meta = obj.get("metadata") or {}
    for field, eq, val in reqs:
        actual = meta.get(field.split(".")[1], "")
        if (actual == val) != eq:
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Patches


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = copy.deepcopy(target)
    for k, v in patch.items():
        if k.startswith("$"):  # strategic-merge directives ($patch, $retainKeys, ...)
            continue
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def json_pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(doc, ops):
    doc = copy.deepcopy(doc)
    if not isinstance(ops, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")

    def parent(d, toks):
        for t in toks[:-1]:
            d = d[int(t)] if isinstance(d, list) else d[t]
        return d

    def get(d, toks):
        for t in toks:
            d = d[int(t)] if isinstance(d, list) else d[t]
        return d

    def add(d, toks, v):
        p = parent(d, toks)
        last = toks[-1]
        if isinstance(p, list):
            if last == "-":
                p.append(v)
            else:
                p.insert(int(last), v)
        else:
            p[last] = v

    def remove(d, toks):
        p = parent(d, toks)
        last = toks[-1]
        if isinstance(p, list):
            return p.pop(int(last))
        return p.pop(last)

    for op in ops:
        kind = op.get("op")
        try:
            toks = json_pointer(op.get("path", ""))
            if kind == "add":
                add(doc, toks, copy.deepcopy(op["value"]))
            elif kind == "remove":
                remove(doc, toks)
            elif kind == "replace":
                get(doc, toks)
                remove(doc, toks)
                add(doc, toks, copy.deepcopy(op["value"]))
            elif kind == "test":
                if get(doc, toks) != op.get("value"):
                    raise ApiError(422, "Invalid", "the server rejected our request due to an "
                                   "error in our request", {})
            elif kind in ("move", "copy"):
                src = json_pointer(op["from"])
                v = copy.deepcopy(get(doc, src))
                if kind == "move":
                    remove(doc, src)
                add(doc, toks, v)
            else:
                raise bad_request(f"Unexpected kind: {kind}")
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise ApiError(422, "Invalid", "the server rejected our request due to an error in "
                           f"our request", {}) from e
    return doc


# ---------------------------------------------------------------------------------------------
# Store


class Store:
    def __init__(self, namespaces, cluster_version):
        self.lock = threading.RLock()
        self.rv = 1000
        self.namespaces = {}
        for ns in namespaces:
            self.namespaces[ns] = {
                "metadata": {"name": ns, "uid": str(uuid.uuid4()), "resourceVersion": self.next_rv(),
                             "creationTimestamp": now(),
                             "labels": {"kubernetes.io/metadata.name": ns}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
        self.configmaps = {}  # (ns, name) -> object without kind/apiVersion
        self.cluster_version = None
        if cluster_version is not None:
            cv = copy.deepcopy(cluster_version)
            cv.setdefault("apiVersion", "config.openshift.io/v1")
            cv.setdefault("kind", "ClusterVersion")
            meta = cv.setdefault("metadata", {})
            meta.setdefault("name", "version")
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("resourceVersion", self.next_rv())
            meta.setdefault("creationTimestamp", now())
            self.cluster_version = cv
        self.fail_rules = []
        self.log = []

    def next_rv(self):
        self.rv += 1
        return str(self.rv)


def with_type(obj, kind, api_version="v1"):
    out = {"kind": kind, "apiVersion": api_version}
    out.update(copy.deepcopy(obj))
    return out


# ---------------------------------------------------------------------------------------------
# Discovery

CM_RESOURCE = {"name": "configmaps", "singularName": "configmap", "namespaced": True,
               "kind": "ConfigMap",
               "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update"],
               "shortNames": ["cm"], "storageVersionHash": "qFsyl6wFWjQ="}
NS_RESOURCE = {"name": "namespaces", "singularName": "namespace", "namespaced": False,
               "kind": "Namespace", "verbs": ["get", "list"], "shortNames": ["ns"],
               "storageVersionHash": "Q3oi5N2YM8M="}
CV_RESOURCE = {"name": "clusterversions", "singularName": "clusterversion", "namespaced": False,
               "kind": "ClusterVersion", "verbs": ["get", "list"],
               "storageVersionHash": "LAwvh6S6ZbY="}
CONFIG_GROUP = {"name": "config.openshift.io",
                "versions": [{"groupVersion": "config.openshift.io/v1", "version": "v1"}],
                "preferredVersion": {"groupVersion": "config.openshift.io/v1", "version": "v1"}}

VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.0-testapiserver",
           "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
           "buildDate": "2025-04-23T00:00:00Z", "goVersion": "go1.24.2", "compiler": "gc",
           "platform": "linux/amd64"}


def openapi_v3_index():
    return {"paths": {
        "api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=TESTAPISERVER0001"},
        "apis/config.openshift.io/v1": {
            "serverRelativeURL": "/openapi/v3/apis/config.openshift.io/v1?hash=TESTAPISERVER0002"},
    }}


def openapi_v3_core():
    """A minimal OpenAPI v3 document: enough for kubectl to see that PATCH/POST/PUT accept
    `fieldValidation` (so it asks for server-side validation) and to know the GVKs."""
    def param(name):
        return {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
    write_params = [param("dryRun"), param("fieldManager"), param("fieldValidation")]
    gvk = [{"group": "", "kind": "ConfigMap", "version": "v1"}]
    item = "/api/v1/namespaces/{namespace}/configmaps/{name}"
    coll = "/api/v1/namespaces/{namespace}/configmaps"
    string_map = {"type": "object", "additionalProperties": {"type": "string", "default": ""}}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": {
            coll: {"post": {"operationId": "createCoreV1NamespacedConfigMap",
                            "parameters": write_params,
                            "x-kubernetes-action": "post", "x-kubernetes-group-version-kind": gvk[0]},
                   "get": {"operationId": "listCoreV1NamespacedConfigMap",
                           "x-kubernetes-action": "list", "x-kubernetes-group-version-kind": gvk[0]}},
            item: {"get": {"operationId": "readCoreV1NamespacedConfigMap",
                           "x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk[0]},
                   "put": {"operationId": "replaceCoreV1NamespacedConfigMap",
                           "parameters": write_params,
                           "x-kubernetes-action": "put", "x-kubernetes-group-version-kind": gvk[0]},
                   "patch": {"operationId": "patchCoreV1NamespacedConfigMap",
                             "parameters": write_params + [param("force")],
                             "x-kubernetes-action": "patch",
                             "x-kubernetes-group-version-kind": gvk[0]},
                   "delete": {"operationId": "deleteCoreV1NamespacedConfigMap",
                              "parameters": [param("dryRun")],
                              "x-kubernetes-action": "delete",
                              "x-kubernetes-group-version-kind": gvk[0]}},
        },
        "components": {"schemas": {
            "io.k8s.api.core.v1.ConfigMap": {
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                    "metadata": {"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}], "default": {}},
                    "data": string_map,
                    "binaryData": {"type": "object", "additionalProperties": {"type": "string", "format": "byte"}},
                    "immutable": {"type": "boolean"},
                },
                "x-kubernetes-group-version-kind": gvk,
            },
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "namespace": {"type": "string"},
                               "labels": string_map, "annotations": string_map,
                               "resourceVersion": {"type": "string"}, "uid": {"type": "string"}},
            },
        }},
    }


# ---------------------------------------------------------------------------------------------
# HTTP


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "test-apiserver"
    sys_version = ""

    # -- plumbing ----------------------------------------------------------------------------

    def log_message(self, fmt, *args):  # quiet; we keep our own log
        pass

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def read_body(self):
        """Reads the request body once (cached); 413 past MAX_BODY."""
        if self._body is not None:
            return self._body
        self._body = self._read_body()
        return self._body

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            data = b""
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
                if len(data) > MAX_BODY:
                    self.close_connection = True
                    raise self.too_large()
            return data
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            self.close_connection = True  # the rest of the body is never read
            raise self.too_large()
        return self.rfile.read(n) if n else b""

    @staticmethod
    def too_large():
        return ApiError(413, "RequestEntityTooLarge",
                        f"Request entity too large: limit is {MAX_BODY}", {})

    def send(self, code, body, headers=None, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = dict(headers or {})
        content_type = headers.pop("Content-Type", content_type)
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in headers.items():
            if isinstance(v, list):
                for vv in v:
                    self.send_header(k, vv)
            else:
                self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.status = code

    def dispatch(self, method):
        srv = self.server
        store = srv.store
        self.status = 0
        self._body = None
        self.user = "-"
        self.warnings = []
        url = urlsplit(self.path)
        path, query = url.path, url.query
        self.query = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        self.query_all = parse_qs(query, keep_blank_values=True)
        is_test = path.startswith("/_test/")
        try:
            try:
                if is_test:
                    body = self.read_body()
                    self.test_hook(method, path, body)
                    return
                self.authenticate()
                self.inject(path)
                if srv.delay_ms:
                    time.sleep(srv.delay_ms / 1000.0)
                code, obj, headers = self.route(method, path)
                if self.warnings:
                    headers = dict(headers or {})
                    headers["Warning"] = [f'299 - "{w}"' for w in self.warnings]
                self.send(code, obj, headers)
            except ApiError as e:
                self.send(e.code, e.body(), e.headers)
            except (ConnectionError, ssl.SSLError):
                raise
            except Exception as e:  # a bug in this server: make it loud
                import traceback
                traceback.print_exc()
                err = ApiError(500, "InternalError", f"Internal error occurred: {e!r}", {})
                self.send(500, err.body())
        finally:
            if self._body is None and not self.close_connection:
                try:
                    self.read_body()  # keep the connection in sync
                except ApiError:
                    self.close_connection = True
            if not is_test:
                entry = {"method": method, "path": path, "query": query,
                         "status": self.status, "user": self.user}
                with store.lock:
                    store.log.append(entry)
                    if srv.log_file:
                        q = f"?{query}" if query else ""
                        srv.log_file.write(f"{method} {path}{q} {self.status} {self.user}\n")
                        srv.log_file.flush()

    def test_hook(self, method, path, body):
        store = self.server.store
        if method == "POST" and path == "/_test/fail-next":
            spec = json.loads(body or b"{}")
            rule = {"status": int(spec.get("status", 503)), "count": int(spec.get("count", 1)),
                    "retryAfter": spec.get("retryAfter"), "path": spec.get("path") or "",
                    "method": spec.get("method") or ""}
            with store.lock:
                store.fail_rules.append(rule)
            self.send(200, {"ok": True})
        elif method == "GET" and path == "/_test/requests":
            with store.lock:
                self.send(200, list(store.log))
        elif method == "POST" and path == "/_test/reset-log":
            with store.lock:
                store.log.clear()
            self.send(200, {"ok": True})
        else:
            self.send(404, path_not_found().body())

    def authenticate(self):
        auth = self.headers.get("Authorization") or ""
        token = auth[7:].strip() if auth.startswith("Bearer ") else None
        user = TOKENS.get(token)
        if user is None:
            # Drain the body so the connection stays usable.
            self.read_body()
            raise ApiError(401, "Unauthorized", "Unauthorized", None)
        self.user = user

    def inject(self, path):
        store = self.server.store
        full_path = path + ("?" + urlsplit(self.path).query if urlsplit(self.path).query else "")
        with store.lock:
            for rule in store.fail_rules:
                if rule["count"] > 0 and rule["path"] in full_path and \
                        (not rule["method"] or rule["method"] == self.command):
                    rule["count"] -= 1
                    break
            else:
                return
            store.fail_rules = [r for r in store.fail_rules if r["count"] > 0]
        self.read_body()
        code = rule["status"]
        reason, message = INJECT_REASONS.get(code, ("InternalError", "injected failure"))
        details = {}
        headers = {}
        if rule["retryAfter"] is not None:
            details["retryAfterSeconds"] = int(rule["retryAfter"])
            headers["Retry-After"] = str(int(rule["retryAfter"]))
        raise ApiError(code, reason, message, details, headers)

    def authorize(self, verb, resource, name="", namespace="", group=""):
        if self.user == "admin" or verb in READ_VERBS:
            return
        q = qualified(resource, group)
        who = f'{q} "{name}"' if name else q
        scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        details = {"kind": resource}
        if name:
            details = {"name": name, "kind": resource}
        if group:
            details["group"] = group
        raise ApiError(403, "Forbidden",
                       f'{who} is forbidden: User "{self.user}" cannot {verb} resource '
                       f'"{resource}" in API group "{group}" {scope}', details)

    def check_accept(self):
        accept = self.headers.get("Accept") or ""
        if not accept:
            return
        for part in accept.split(","):
            mt = part.split(";")[0].strip()
            if mt in ("application/json", "*/*", "application/*", "application/yaml"):
                return
        raise ApiError(406, "NotAcceptable",
                       "only the following media types are accepted: application/json", {})

    # -- routing -----------------------------------------------------------------------------

    def route(self, method, path):
        store = self.server.store
        parts = [p for p in path.split("/") if p]
        if method == "GET":
            if path in ("/healthz", "/readyz", "/livez"):
                return 200, b"ok", None
            if path == "/version":
                return 200, VERSION, None
            if path == "/api":
                return 200, {"kind": "APIVersions", "versions": ["v1"],
                             "serverAddressByClientCIDRs": [
                                 {"clientCIDR": "0.0.0.0/0",
                                  "serverAddress": f"127.0.0.1:{self.server.server_port}"}]}, None
            if path == "/api/v1":
                return 200, {"kind": "APIResourceList", "groupVersion": "v1",
                             "resources": [CM_RESOURCE, NS_RESOURCE]}, None
            if path == "/apis":
                return 200, {"kind": "APIGroupList", "apiVersion": "v1",
                             "groups": [CONFIG_GROUP]}, None
            if path == "/apis/config.openshift.io":
                return 200, dict(CONFIG_GROUP, kind="APIGroup", apiVersion="v1"), None
            if path == "/apis/config.openshift.io/v1":
                return 200, {"kind": "APIResourceList", "apiVersion": "v1",
                             "groupVersion": "config.openshift.io/v1",
                             "resources": [CV_RESOURCE]}, None
            if path == "/openapi/v3":
                return 200, openapi_v3_index(), None
            if path == "/openapi/v3/api/v1":
                return 200, openapi_v3_core(), None
            if path == "/openapi/v3/apis/config.openshift.io/v1":
                return 200, {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.33.0"},
                             "paths": {}, "components": {"schemas": {}}}, None
        # /api/v1/...
        if parts[:2] == ["api", "v1"]:
            rest = parts[2:]
            if rest == ["configmaps"]:
                return self.configmaps(method, None, None)
            if rest == ["namespaces"]:
                return self.namespace(method, None)
            if len(rest) == 2 and rest[0] == "namespaces":
                return self.namespace(method, rest[1])
            if len(rest) in (3, 4) and rest[0] == "namespaces" and rest[2] == "configmaps":
                return self.configmaps(method, rest[1], rest[3] if len(rest) == 4 else None)
        if parts[:3] == ["apis", "config.openshift.io", "v1"] and len(parts) >= 4 and \
                parts[3] == "clusterversions" and len(parts) <= 5:
            return self.clusterversions(method, parts[4] if len(parts) == 5 else None)
        self.read_body()
        raise path_not_found()

    # -- namespaces / clusterversions (read-only) ---------------------------------------------

    def namespace(self, method, name):
        store = self.server.store
        verb = {"GET": "get" if name else "list", "POST": "create", "PUT": "update",
                "PATCH": "patch", "DELETE": "delete"}[method]
        self.read_body()
        self.authorize(verb, "namespaces", name or "")
        if method != "GET":
            raise method_not_allowed()
        with store.lock:
            if name is None:
                items = [copy.deepcopy(store.namespaces[n]) for n in sorted(store.namespaces)]
                return 200, {"kind": "NamespaceList", "apiVersion": "v1",
                             "metadata": {"resourceVersion": str(store.rv)}, "items": items}, None
            if name not in store.namespaces:
                raise not_found("namespaces", name)
            return 200, with_type(store.namespaces[name], "Namespace"), None

    def clusterversions(self, method, name):
        store = self.server.store
        group = "config.openshift.io"
        verb = {"GET": "get" if name else "list", "POST": "create", "PUT": "update",
                "PATCH": "patch", "DELETE": "delete"}[method]
        self.read_body()
        self.authorize(verb, "clusterversions", name or "", group=group)
        if method != "GET":
            raise method_not_allowed()
        cv = store.cluster_version
        if name is None:
            return 200, {"kind": "ClusterVersionList", "apiVersion": "config.openshift.io/v1",
                         "metadata": {"resourceVersion": str(store.rv)},
                         "items": [copy.deepcopy(cv)] if cv else []}, None
        if cv is None or cv["metadata"]["name"] != name:
            raise not_found("clusterversions", name, group)
        return 200, copy.deepcopy(cv), None

    # -- configmaps ----------------------------------------------------------------------------

    def configmaps(self, method, ns, name):
        if method == "GET":
            verb = "get" if name else ("watch" if self.query.get("watch") in ("true", "1") else "list")
        elif method == "POST":
            verb = "create"
        elif method == "PUT":
            verb = "update"
        elif method == "PATCH":
            verb = "patch"
        else:
            verb = "delete" if name else "deletecollection"
        if (method == "POST" and name) or (method in ("PUT", "PATCH") and not name) or \
                (ns is None and method != "GET"):
            self.read_body()
            raise method_not_allowed()
        body = self.read_body()
        self.authorize(verb, "configmaps", name or "", ns or "")
        self.check_accept()
        dry_run = self.dry_run()
        if verb == "watch":
            raise ApiError(405, "MethodNotAllowed",
                           "watch is not supported by this test API server", {})
        if verb == "list":
            return self.cm_list(ns)
        if verb == "get":
            return self.cm_get(ns, name)
        if verb == "create":
            return self.cm_create(ns, body, dry_run)
        if verb == "update":
            return self.cm_update(ns, name, body, dry_run)
        if verb == "patch":
            return self.cm_patch(ns, name, body, dry_run)
        if verb == "delete":
            return self.cm_delete(ns, name, body, dry_run)
        return self.cm_delete_collection(ns, dry_run)

    def wants_table(self):
        for part in (self.headers.get("Accept") or "").split(","):
            params = dict(p.strip().split("=", 1) for p in part.split(";")[1:] if "=" in p)
            if params.get("as") == "Table" and params.get("g") == "meta.k8s.io" and \
                    params.get("v") == "v1":
                return True
        return False

    def dry_run(self):
        vals = self.query_all.get("dryRun") or []
        if not vals:
            return False
        if all(v == "All" for v in vals):
            return True
        bad = [v for v in vals if v != "All"]
        raise bad_request(f'dryRun: Unsupported value: []string{{{", ".join(json.dumps(v) for v in bad)}}}: '
                          'supported values: "All"')

    def field_validation(self):
        fv = self.query.get("fieldValidation", "")
        if fv not in ("", "Ignore", "Warn", "Strict"):
            raise bad_request(f'fieldValidation: Unsupported value: "{fv}": supported values: '
                              '"Ignore", "Warn", "Strict"')
        return fv or "Warn"

    def field_manager(self, required=False, op_kind="PatchOptions"):
        fm = self.query.get("fieldManager")
        if fm is None or fm == "":
            if required:
                raise bad_request(f'{op_kind}.meta.k8s.io "" is invalid: fieldManager: Required '
                                  "value: is required for apply patch")
            ua = self.headers.get("User-Agent") or ""
            fm = ua.split("/")[0] if ua else "unknown"
            return fm[:128] or "unknown"
        if len(fm) > 128:
            raise bad_request(f'{op_kind}.meta.k8s.io "" is invalid: fieldManager: Too long: '
                              "may not be more than 128 bytes")
        if not all(0x20 <= ord(c) < 0x7f for c in fm):
            raise bad_request(f'{op_kind}.meta.k8s.io "" is invalid: fieldManager: Invalid value: '
                              f'"{fm}": must be composed of printable characters')
        return fm

    def require_namespace(self, ns):
        if ns not in self.server.store.namespaces:
            raise not_found("namespaces", ns)

    def parse_object(self, body, kind="ConfigMap"):
        """Decodes a POST/PUT body by its Content-Type, as the real server's serializers do."""
        ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip().lower()
        try:
            if ctype == "application/json":
                return json.loads(body.decode("utf-8"))
            if ctype == "application/yaml":
                return parse_yaml_or_json(body)
            if ctype == "application/vnd.kubernetes.protobuf":
                return decode_protobuf_configmap(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise decode_error(kind, str(e))
        raise ApiError(415, "UnsupportedMediaType",
                       "the body of the request was in an unknown format - accepted media types "
                       "include: application/json, application/yaml, "
                       "application/vnd.kubernetes.protobuf", {})

    def check_type(self, obj, ns, name=None):
        av = obj.get("apiVersion")
        kind = obj.get("kind")
        if not kind:
            raise bad_request(f"Object 'Kind' is missing in '{json.dumps(obj)[:200]}'")
        if av != "v1":
            raise bad_request(f"the API version in the data ({av}) does not match the expected "
                              "API version (v1)")
        if kind != "ConfigMap":
            raise bad_request(f"the kind in the data ({kind}) does not match the expected kind "
                              "(ConfigMap)" if av == "v1" else "")
        meta = obj.get("metadata") or {}
        if meta.get("namespace") and meta["namespace"] != ns:
            raise bad_request("the namespace of the provided object does not match the namespace "
                              "sent on the request")
        if name is not None and (meta.get("name") or "") != name:
            raise bad_request(f"the name of the object ({meta.get('name') or ''}) does not match "
                              f"the name on the URL ({name})")

    def finish_write(self, obj, ns, old, managers, touched):
        """Sets server-owned metadata and renders managedFields."""
        store = self.server.store
        meta = obj.setdefault("metadata", {})
        meta["namespace"] = ns
        for f in ("selfLink", "generation", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(f, None)
        if old is not None:
            for f in ("uid", "creationTimestamp", "resourceVersion"):
                meta[f] = old["metadata"][f]
        for f in ("labels", "annotations"):
            if f in meta and not meta[f]:
                del meta[f]
        for f in ("data", "binaryData"):
            if f in obj and not obj[f]:
                del obj[f]
        obj.pop("kind", None)
        obj.pop("apiVersion", None)
        mf = managers.render(touched)
        if mf:
            meta["managedFields"] = mf
        else:
            meta.pop("managedFields", None)
        return obj

    def commit(self, ns, obj, dry_run, create):
        store = self.server.store
        meta = obj["metadata"]
        if create:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now()
        if not dry_run:
            meta["resourceVersion"] = store.next_rv()
            store.configmaps[(ns, meta["name"])] = copy.deepcopy(obj)
        elif create:
            meta.pop("resourceVersion", None)
        return with_type(order_meta(obj), "ConfigMap")

    def cm_get(self, ns, name):
        store = self.server.store
        with store.lock:
            obj = store.configmaps.get((ns, name))
            if obj is None:
                raise not_found("configmaps", name)
            if self.wants_table():
                return 200, configmap_table([obj], None), TABLE_HEADERS
            return 200, with_type(order_meta(obj), "ConfigMap"), None

    def cm_list(self, ns):
        store = self.server.store
        lsel = parse_label_selector(self.query.get("labelSelector", ""))
        fsel = parse_field_selector(self.query.get("fieldSelector", ""), "ConfigMap")
        limit = int(self.query.get("limit") or 0)
        cont = self.query.get("continue") or ""
        start = None
        if cont:
            try:
                start = tuple(json.loads(base64.urlsafe_b64decode(cont.encode()))["start"])
            except Exception:
                raise ApiError(400, "BadRequest", "continue key is not valid: invalid continue "
                               "token", {})
        with store.lock:
            keys = sorted(k for k in store.configmaps if ns is None or k[0] == ns)
            items = []
            for k in keys:
                if start is not None and k <= start:
                    continue
                obj = store.configmaps[k]
                if label_match(lsel, (obj["metadata"].get("labels") or {})) and \
                        field_match(fsel, obj):
                    items.append((k, copy.deepcopy(order_meta(obj))))
            meta = {"resourceVersion": str(store.rv)}
            if limit and len(items) > limit:
                meta["continue"] = base64.urlsafe_b64encode(
                    json.dumps({"start": list(items[limit - 1][0])}).encode()).decode()
                meta["remainingItemCount"] = len(items) - limit
                items = items[:limit]
            if self.wants_table():
                return 200, configmap_table([o for _, o in items], meta), TABLE_HEADERS
            return 200, {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": meta,
                         "items": [o for _, o in items]}, None

    def cm_create(self, ns, body, dry_run):
        store = self.server.store
        fv = self.field_validation()
        manager = self.field_manager(op_kind="CreateOptions")
        obj = self.parse_object(body)
        self.warnings += check_decode_configmap(obj, fv)
        self.check_type(obj, ns)
        meta = obj.setdefault("metadata", {})
        with store.lock:
            self.require_namespace(ns)
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            meta.pop("managedFields", None)
            validate_configmap(obj)
            if (ns, meta["name"]) in store.configmaps:
                raise already_exists("configmaps", meta["name"])
            managers = Managers({})
            touched = managers.record_update(manager, None, obj)
            obj = self.finish_write(obj, ns, None, managers, touched)
            return 201, self.commit(ns, obj, dry_run, create=True), None

    def cm_update(self, ns, name, body, dry_run):
        store = self.server.store
        fv = self.field_validation()
        manager = self.field_manager(op_kind="UpdateOptions")
        obj = self.parse_object(body)
        self.warnings += check_decode_configmap(obj, fv)
        self.check_type(obj, ns, name)
        with store.lock:
            old = store.configmaps.get((ns, name))
            if old is None:
                raise not_found("configmaps", name)
            return self.write_update(ns, name, old, obj, manager, dry_run)

    def write_update(self, ns, name, old, obj, manager, dry_run):
        meta = obj.setdefault("metadata", {})
        rv = meta.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise conflict_rv("configmaps", name)
        uid = meta.get("uid")
        if uid and uid != old["metadata"]["uid"]:
            raise conflict_rv("configmaps", name)
        if meta.get("managedFields"):
            managers = Managers(obj)  # a client may replace managedFields (real behaviour)
        else:
            managers = Managers(old)
        meta.pop("managedFields", None)
        validate_configmap(obj, old)
        touched = managers.record_update(manager, old, obj)
        new = self.finish_write(obj, ns, old, managers, touched)
        if same_object(old, new):
            return 200, with_type(order_meta(old), "ConfigMap"), None
        return 200, self.commit(ns, new, dry_run, create=False), None

    def cm_patch(self, ns, name, body, dry_run):
        store = self.server.store
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype not in PATCH_TYPES:
            raise ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media "
                           "types include: " + ", ".join(PATCH_TYPES), {})
        fv = self.field_validation()
        if ctype == "application/apply-patch+yaml":
            return self.cm_apply(ns, name, body, dry_run, fv)
        if "force" in self.query:
            raise bad_request('PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not '
                              "be specified for non-apply patch")
        manager = self.field_manager()
        try:
            patch = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise bad_request(f"error decoding patch: {e}")
        with store.lock:
            old = store.configmaps.get((ns, name))
            if old is None:
                raise not_found("configmaps", name)
            current = with_type(old, "ConfigMap")
            if ctype == "application/json-patch+json":
                new = json_patch(current, patch)
            else:
                if not isinstance(patch, dict):
                    raise bad_request("error decoding patch: json: cannot unmarshal "
                                      f"{go_type(patch)} into Go value of type map[string]interface {{}}")
                new = merge_patch(current, patch)
            self.warnings += check_decode_configmap(new, fv)
            self.check_type(new, ns, name)
            new_meta = new.setdefault("metadata", {})
            if new_meta.get("resourceVersion") == old["metadata"]["resourceVersion"] and \
                    not (isinstance(patch, dict) and "resourceVersion" in (patch.get("metadata") or {})):
                new_meta.pop("resourceVersion")  # only an explicit rv in the patch is a precondition
            if isinstance(patch, dict) and "managedFields" not in (patch.get("metadata") or {}):
                new_meta.pop("managedFields", None)
            return self.write_update(ns, name, old, new, manager, dry_run)

    def cm_apply(self, ns, name, body, dry_run, fv):
        store = self.server.store
        manager = self.field_manager(required=True)
        force = self.query.get("force", "")
        if force not in ("", "true", "false", "1", "0", "True", "False"):
            raise bad_request(f'strconv.ParseBool: parsing "{force}": invalid syntax')
        force = force in ("true", "1", "True")
        try:
            applied = parse_yaml_or_json(body)
        except Exception as e:
            raise bad_request(f"error decoding YAML: {e}")
        if not isinstance(applied, dict):
            raise bad_request("error decoding YAML: the applied configuration is not an object")
        self.warnings += check_decode_configmap(applied, "Strict" if fv == "Strict" else fv)
        self.check_type(applied, ns, name)
        ameta = applied.get("metadata") or {}
        if ameta.get("managedFields"):
            raise bad_request("metadata.managedFields must be nil")
        with store.lock:
            old = store.configmaps.get((ns, name))
            if old is None:
                self.require_namespace(ns)
            rv = ameta.get("resourceVersion")
            if rv and (old is None or rv != old["metadata"]["resourceVersion"]):
                if old is None:
                    raise not_found("configmaps", name)
                raise conflict_rv("configmaps", name)
            live = copy.deepcopy(old) if old else {"metadata": {"name": name, "namespace": ns}}
            managers = Managers(live)
            want = leaves(applied)
            have = leaves(live)
            conflicts = []
            for p, v in want.items():
                if p in have and have[p] == v:
                    continue
                for e in managers.entries:
                    if e["manager"] == manager and e["operation"] == "Apply":
                        continue
                    if p in e["paths"]:
                        conflicts.append((e["manager"], e["operation"], p))
            if conflicts and not force:
                raise conflict_error(conflicts)
            for m, op, p in conflicts:
                managers.find(m, op)["paths"].discard(p)
            mine = managers.find(manager, "Apply")
            for p in mine["paths"] - set(want):
                if not any(p in e["paths"] for e in managers.entries if e is not mine):
                    del_leaf(live, p)
            mine["paths"] = set(want)
            for p, v in want.items():
                set_leaf(live, p, copy.deepcopy(v))
            live["metadata"].pop("managedFields", None)
            validate_configmap(live, old)
            new = self.finish_write(live, ns, old, managers, mine)
            if old is not None:
                if same_object(old, new):
                    return 200, with_type(order_meta(old), "ConfigMap"), None
                return 200, self.commit(ns, new, dry_run, create=False), None
            return 201, self.commit(ns, new, dry_run, create=True), None

    def cm_delete(self, ns, name, body, dry_run):
        store = self.server.store
        opts = {}
        if body.strip():
            try:
                opts = json.loads(body)
            except ValueError as e:
                raise bad_request(f"error decoding DeleteOptions: {e}")
        pre = (opts or {}).get("preconditions") or {}
        with store.lock:
            old = store.configmaps.get((ns, name))
            if old is None:
                raise not_found("configmaps", name)
            if pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict",
                               f'Operation cannot be fulfilled on configmaps "{name}": Precondition '
                               f'failed: ResourceVersion in precondition: {pre["resourceVersion"]}, '
                               f'ResourceVersion in object meta: {old["metadata"]["resourceVersion"]}',
                               {"name": name, "kind": "configmaps"})
            if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
                raise ApiError(409, "Conflict",
                               f'Operation cannot be fulfilled on configmaps "{name}": Precondition '
                               f'failed: UID in precondition: {pre["uid"]}, UID in object meta: '
                               f'{old["metadata"]["uid"]}', {"name": name, "kind": "configmaps"})
            if not dry_run:
                del store.configmaps[(ns, name)]
                store.next_rv()
            return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                         "details": {"name": name, "kind": "configmaps",
                                     "uid": old["metadata"]["uid"]}}, None

    def cm_delete_collection(self, ns, dry_run):
        store = self.server.store
        lsel = parse_label_selector(self.query.get("labelSelector", ""))
        fsel = parse_field_selector(self.query.get("fieldSelector", ""), "ConfigMap")
        with store.lock:
            gone = []
            for k in sorted(store.configmaps):
                obj = store.configmaps[k]
                if k[0] == ns and label_match(lsel, obj["metadata"].get("labels") or {}) and \
                        field_match(fsel, obj):
                    gone.append(k)
            items = [copy.deepcopy(order_meta(store.configmaps[k])) for k in gone]
            if not dry_run and gone:
                for k in gone:
                    del store.configmaps[k]
                store.next_rv()
            return 200, {"kind": "ConfigMapList", "apiVersion": "v1",
                         "metadata": {"resourceVersion": str(store.rv)}, "items": items}, None


TABLE_HEADERS = {"Content-Type": "application/json;as=Table;v=v1;g=meta.k8s.io"}


def human_duration(seconds):
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        return f"{h // 24}d{h % 24}h" if h % 24 else f"{h // 24}d"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    return f"{h // (24 * 365)}y"


def configmap_table(objs, list_meta):
    """The meta.k8s.io/v1 Table the real server renders for `kubectl get configmaps`."""
    rows = []
    t_now = datetime.datetime.now(datetime.timezone.utc)
    for o in objs:
        meta = o["metadata"]
        created = datetime.datetime.strptime(meta["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ") \
            .replace(tzinfo=datetime.timezone.utc)
        partial = {k: v for k, v in meta.items() if k != "managedFields"}
        rows.append({"cells": [meta["name"], len(o.get("data") or {}) + len(o.get("binaryData") or {}),
                               human_duration((t_now - created).total_seconds())],
                     "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                "metadata": partial}})
    cols = [
        {"name": "Name", "type": "string", "format": "name", "priority": 0,
         "description": "Name must be unique within a namespace."},
        {"name": "Data", "type": "integer", "format": "", "priority": 0, "description": ""},
        {"name": "Age", "type": "string", "format": "", "priority": 0,
         "description": "CreationTimestamp is a timestamp representing the server time when this "
                        "object was created."},
    ]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta or {},
            "columnDefinitions": cols, "rows": rows}


META_ORDER = ["name", "generateName", "namespace", "uid", "resourceVersion", "creationTimestamp",
              "labels", "annotations", "ownerReferences", "finalizers", "managedFields"]


def order_meta(obj):
    out = {}
    meta = obj.get("metadata") or {}
    out["metadata"] = {k: meta[k] for k in META_ORDER if k in meta}
    out["metadata"].update({k: v for k, v in meta.items() if k not in out["metadata"]})
    for k in ("immutable", "data", "binaryData"):
        if k in obj:
            out[k] = obj[k]
    for k, v in obj.items():
        if k not in out:
            out[k] = v
    return out


def same_object(old, new):
    """Equal content and equal field ownership (timestamps aside): a no-op write."""
    def strip(o):
        o = copy.deepcopy(o)
        o.pop("kind", None)
        o.pop("apiVersion", None)
        m = o.get("metadata") or {}
        m.pop("resourceVersion", None)
        mf = m.pop("managedFields", None) or []
        return o, sorted((e["manager"], e["operation"], json.dumps(e["fieldsV1"], sort_keys=True))
                         for e in mf)
    return strip(old) == strip(new)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Python's default listen backlog is 5: a client opening 20 connections at once would see
    # half of them wait for SYN retransmits (~1 s), which no real API server does.
    request_queue_size = 128

    def __init__(self, addr, ctx, store, delay_ms, log_file):
        super().__init__(addr, Handler)
        self.ctx = ctx
        self.store = store
        self.delay_ms = delay_ms
        self.log_file = log_file

    def finish_request(self, request, client_address):
        # TLS handshake in the worker thread, so a slow client cannot stall accept().
        try:
            request.settimeout(60)
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = self.ctx.wrap_socket(request, server_side=True) if self.ctx else request
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (ConnectionError, ssl.SSLError, socket.timeout, TimeoutError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass


def main():
    ap = argparse.ArgumentParser(description="strict in-memory test API server (not a cluster)")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--plain", action="store_true",
                    help="serve plain HTTP: only behind a TLS front (tests/peers/h2front.sh), so "
                         "the front's many upstream connections cost no Python TLS handshakes")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--ready-file")
    ap.add_argument("--namespaces", default="default,openshift-config-managed,openshift-config")
    ap.add_argument("--cluster-version")
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--log")
    ap.add_argument("--token", action="append", default=[], metavar="TOKEN=USER",
                    help="accept another bearer token as USER (admin or readonly), e.g. an OIDC id-token")
    args = ap.parse_args()
    for spec in args.token:
        token, _, user = spec.partition("=")
        TOKENS[token] = user

    cv = None
    if args.cluster_version:
        with open(args.cluster_version) as f:
            cv = json.load(f)
    namespaces = [n.strip() for n in args.namespaces.split(",") if n.strip()]
    store = Store(namespaces, cv)

    ctx = None
    if not args.plain:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        ctx.set_alpn_protocols(["http/1.1"])
    log_file = open(args.log, "a") if args.log else None
    httpd = Server((args.host, args.port), ctx, store, args.delay_ms, log_file)
    port = httpd.server_address[1]
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.replace(tmp, args.ready_file)
    scheme = "http" if args.plain else "https"
    print(f"test apiserver listening on {scheme}://{args.host}:{port}", file=sys.stderr, flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
