"""HAProxy (2.6) in a gateway or router role: its config, from a `Site`.

Choices (each with its documentation in docs/gateways.md):
- a backend per callee over the replicas' hop proxies, with *active* health
  checks (`option httpchk GET /health`, every `health_interval_s`, down after
  2 failures) and passive ejection (`observe layer4 error-limit 1 on-error
  mark-down`): a refused connection marks the server down at once;
- `retries 1`, `option redispatch 1` and `retry-on conn-failure empty-response
  response-timeout 502 503 504`: one retry, on another server;
- per-hop `timeout connect`/`timeout server`; `option http-no-delay` so that
  stream events are relayed at once;
- API keys: HAProxy has no subrequest (no `auth_request`); rather than Lua or
  an SPOE agent, it verifies the signed key itself with its converters
  (`hmac`, `ub64dec`, `json_query`, `secure_memcmp`): the business gateway's
  local check, done in every role. The auth service's revocation list is not
  consulted (docs/gateways.md says so);
- the tenant's quota in a stick table (`http_req_rate(60s)`), per instance;
- the dedicated fallbacks as `backup` servers: the fallback service serves when
  every replica is down;
- route attribution from `srv_name` (the instance) and the `retries` count.
"""

from __future__ import annotations

import base64
import json

from gatecrash.gateways.site import Route, Site, error_body, ms
from targets.stack import quota_scope

__all__ = ["render"]

MAXCONN = 4096
RETRIES = 1
FALL = 2
RISE = 1
CLIENT_TIMEOUT_S = 60
QUOTA_WINDOW_S = 60
KEY_PREFIX = "gck"
SIGNATURE_BYTES = 24
STREAM = "-stream"
ONCE = "-once"
KEPT_ROUTES = ("cache-hit", "fallback-cache", "fallback-degraded", "unknown")
# Answers 200 once every server of every backend is up (gatecrash.runtimes asks it).
READY_PATH = "/ready"


def _string(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _refusal(status: int, message: str, code: str, condition: str) -> str:
    body = error_body(status, message, code)
    return (f"http-request return status {status} content-type application/json "
            f"string {_string(body)} {condition}")


def _backend_name(group: str) -> str:
    return "be_" + group.replace("-", "_")


def _path_acl(route: Route) -> str:
    if route.regex is not None:
        return f"path_reg {route.regex}"
    return f"path {route.path}"


def _key_check(site: Site) -> list[str]:
    """The signed API key (targets/keys.py), verified by HAProxy's own converters."""
    secret = base64.b64encode(site.signing_key.encode()).decode()
    tenants = " ".join(t.name for t in site.tenants)
    return [
        "http-request set-var(txn.key) req.hdr(authorization),word(2,' ')",
        "http-request set-var(txn.payload) var(txn.key),field(2,.)",
        "http-request set-var(txn.sig) var(txn.key),field(3,.)",
        f"http-request set-var(txn.calc) var(txn.payload),hmac(sha256,{secret}),"
        f"bytes(0,{SIGNATURE_BYTES}),ub64enc",
        "http-request set-var(txn.tenant) var(txn.payload),ub64dec,json_query('$.t')",
        "http-request set-var(txn.user) var(txn.payload),ub64dec,json_query('$.u')",
        f"acl key_form var(txn.key),field(1,.) -m str {KEY_PREFIX}",
        "acl key_signed var(txn.calc),secure_memcmp(txn.sig)",
        f"acl tenant_active var(txn.tenant) -m str {tenants}",
        "acl tenant_asked req.hdr(x-tenant) -m found",
        "acl tenant_same req.hdr(x-tenant),strcmp(txn.tenant) eq 0",
        _refusal(401, "missing or invalid API key", "invalid_api_key",
                 "unless key_form key_signed"),
        _refusal(403, "tenant is not active", "tenant_inactive", "unless tenant_active"),
        _refusal(403, "this API key does not belong to the requested tenant", "wrong_tenant",
                 "if tenant_asked !tenant_same"),
        # Seed 000 §2 step 5: the tenant's quota, counted here per instance.
        "http-request track-sc0 var(txn.tenant) table st_quota",
        # An instance's table counts its own domain in `dual` (its own rule, against the
        # domain's limit), every domain in `single` (targets.stack.TenantSpec).
        *(_refusal(429, f"quota of {limit} requests per minute exceeded",
                   "quota_exceeded", f"if {{ var(txn.tenant) -m str {t.name} }} "
                   f"{{ sc_http_req_rate(0) gt {limit} }}")
          for t in site.tenants for limit in (t.limit(quota_scope(site.role)),)),
        # Never the client's own: only what the key said.
        "http-request set-header X-Gatecrash-Tenant %[var(txn.tenant)]",
        "http-request set-header X-Gatecrash-User %[var(txn.user)]",
    ]


def _frontend(site: Site) -> list[str]:
    limits = site.limits
    health = json.dumps({"status": "ok", "instance": site.instance, "service": site.service,
                         "role": None if site.is_router else site.role, "product": "haproxy"})
    out = [
        f"frontend fe_{site.instance.replace('-', '_')}",
        f"    bind {site.host}:{site.port}",
        f"    http-request return status 200 content-type application/json "
        f"string {_string(health)} if {{ path /health }}",
        *("    " + line for line in _readiness(site)),
    ]
    for i, route in enumerate(site.routes):
        out += [f"    acl r{i} {_path_acl(route)}",
                f"    acl r{i}_method method {' '.join(route.methods)}"]
    known = " || ".join(f"r{i}" for i in range(len(site.routes)))
    out += ["    " + _refusal(404, "no route", "no_route", f"unless {known}")]
    out += ["    " + _refusal(405, "method not allowed", "no_route",
                             f"if r{i} !r{i}_method") for i in range(len(site.routes))]
    out += ["    " + _refusal(413, f"body exceeds the limit of {limits.max_body_bytes} bytes",
                             "body_too_large",
                             f"if {{ req.hdr_val(content-length) gt {limits.max_body_bytes} }}")]
    if not site.is_router:
        out += ["    " + line for line in _key_check(site)]
    for i, route in enumerate(site.routes):
        for method in route.methods:
            if method not in route.idempotent and not site.is_router:
                out.append(f"    use_backend {_backend_name(route.group + ONCE)} "
                           f"if r{i} {{ method {method} }}")
        out.append(f"    use_backend {_backend_name(_backend_of(site, route))} if r{i}")
    return out


def _backend_of(site: Site, route: Route) -> str:
    """Chat streams get a backend of their own: their reads are bounded by the first byte."""
    return f"{route.group}{STREAM}" if route.streams and not site.is_router else route.group


def _backend(site: Site, name: str, group: str, *, streams: bool) -> list[str]:
    limits = site.limits
    read_s = limits.stream_first_byte_timeout_s if streams or site.is_router \
        else limits.hop_timeout_s
    out = [
        f"backend {_backend_name(name)}",
        "    balance roundrobin",
        f"    timeout server {ms(read_s)}",
    ]
    if name.endswith(ONCE):
        # HAProxy's L7 retries resend any method: a POST that is not safe to send
        # twice is retried only when its connection failed (it was never sent).
        out.append("    retry-on conn-failure")
    out += [
        "    option httpchk GET /health",
        "    http-check expect status 200",
        f"    default-server inter {ms(limits.health_interval_s)} fall {FALL} rise {RISE} "
        f"observe {_observed(site)} error-limit 1 on-error mark-down",
    ]
    out += [f"    server {s.id} {s.address} check" for s in site.groups[group]]
    backup = site.fallback_group
    if backup is not None:
        # Backup servers serve once every replica is down: the last retry must be
        # able to reach one when each replica failed in turn, so as many retries as
        # replicas (one retry on another replica when only one failed).
        out += [f"    retries {max(RETRIES, len(site.groups[group]))}", "    option allbackups"]
        out += [f"    server {s.id} {s.address} check backup" for s in site.groups[backup]]
    return out + _attribution(site, backup)


def _observed(site: Site) -> str:
    """What marks a server down at once. A replica's invalid or empty answer (it died
    behind its hop proxy) or 5xx: layer7. A router's gateway answers 5xx on purpose
    (no fallback for `single`'s backends...): only its connection failing counts."""
    return "layer4" if site.is_router else "layer7"


def _attribution(site: Site, backup: str | None) -> list[str]:
    backups = " ".join(s.id for s in site.groups[backup]) if backup is not None else ""
    if site.is_router:
        out = [f"    http-response set-header X-Gatecrash-Router {site.instance}"]
        if backups:
            out.append(f"    http-response set-header X-Gatecrash-Gateway {site.instance} "
                       f"if {{ srv_name -m str {backups} }}")
        return out
    kept = " ".join(KEPT_ROUTES)
    out = [
        "    http-response set-var(txn.up_route) res.hdr(x-gatecrash-route)",
        # %rc: this request's retries ("+" when redispatched to another server);
        # HAProxy 2.6 has it only as a log-format alias, no sample fetch.
        "    http-response set-var-fmt(txn.retries) %rc",
        "    http-response set-header X-Gatecrash-Route primary",
        r"    http-response set-header X-Gatecrash-Route retry if "
        r"{ var(txn.retries) -m reg ^\+?[1-9] } || { var(txn.up_route) -m str retry }",
        r"    http-response set-header X-Gatecrash-Route unknown unless "
        r"{ var(txn.retries) -m reg ^\+?[0-9]+$ }",
        "    http-response set-header X-Gatecrash-Route %[var(txn.up_route)] "
        f"if {{ var(txn.up_route) -m str {kept} }}",
        "    http-response set-header X-Gatecrash-Instance %[srv_name]",
        f"    http-response set-header X-Gatecrash-Gateway {site.instance}",
    ]
    return out


def _backend_groups(site: Site) -> dict[str, tuple[str, bool]]:
    """Every backend: its name -> (the group it balances, whether it carries streams)."""
    found: dict[str, tuple[str, bool]] = {}
    for route in site.routes:
        names = [_backend_of(site, route)]
        if not site.is_router and set(route.methods) - set(route.idempotent):
            names.append(route.group + ONCE)
        for name in names:
            found.setdefault(name, (route.group, route.streams))
    return found


def _readiness(site: Site) -> list[str]:
    """`GET /ready`: 503 while a server of a backend is down. HAProxy starts before
    the services it balances, so their first checks fail and mark them down; until
    the next passing check it answers 503 "no server is available". /health says
    only that HAProxy itself serves."""
    starting = json.dumps({"status": "starting", "instance": site.instance})
    ready = json.dumps({"status": "ready", "instance": site.instance})
    # Each server by name: nbsrv() would count a backend's backup servers once its
    # replicas are all down.
    out = [f"http-request return status 503 content-type application/json "
           f"string {_string(starting)} if {{ path {READY_PATH} }} "
           f"!{{ srv_is_up({_backend_name(name)}/{server.id}) }}"
           for name, (group, _) in _backend_groups(site).items()
           for server in site.groups[group]]
    return [*out, f"http-request return status 200 content-type application/json "
                  f"string {_string(ready)} if {{ path {READY_PATH} }}"]


def _backends(site: Site) -> list[str]:
    out: list[str] = []
    for name, (group, streams) in _backend_groups(site).items():
        out += _backend(site, name, group, streams=streams)
    out += [
        "backend st_quota",
        f"    stick-table type string len 64 size 10k expire {2 * QUOTA_WINDOW_S}s "
        f"store http_req_rate({QUOTA_WINDOW_S}s)",
    ]
    return out


def render(site: Site, work_dir: str) -> str:
    """The whole haproxy.cfg of one instance (`work_dir`: unused, HAProxy writes nothing)."""
    limits = site.limits
    lines = [
        f"# Generated by Gatecrash for {site.instance} ({site.role}) of stack {site.stack} "
        f"({site.arch}); do not edit.",
        "global",
        "    log stderr format short local0 warning",
        f"    maxconn {MAXCONN}",
        # One thread: the built-in gateway is one process; both get the same CPU share.
        "    nbthread 1",
        "    hard-stop-after 3s",
        "defaults",
        "    mode http",
        "    log global",
        "    option dontlognull",
        # Without it, stream events reach the client ~200 ms late.
        "    option http-no-delay",
        "    option http-buffer-request",
        f"    timeout connect {ms(limits.connect_timeout_s)}",
        f"    timeout client {CLIENT_TIMEOUT_S}s",
        f"    timeout server {ms(limits.hop_timeout_s)}",
        "    timeout http-request 10s",
        f"    timeout queue {ms(limits.hop_timeout_s)}",
        f"    retries {RETRIES}",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response response-timeout 502 503 504",
        *_frontend(site),
        *_backends(site),
    ]
    return "\n".join(lines) + "\n"
