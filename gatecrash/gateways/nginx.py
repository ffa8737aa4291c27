"""NGINX (nginx-light 1.22) in a gateway or router role: its config, from a `Site`.

Choices (each with its documentation in docs/gateways.md):
- an `upstream` group per callee over the replicas' hop proxies, `keepalive`
  connections; health is *passive* only (open-source NGINX has no active
  checks): `max_fails=1 fail_timeout=10s`, the documented defaults, made explicit;
- `proxy_next_upstream error timeout http_502 http_503 http_504` with
  `proxy_next_upstream_tries 2`: one retry on another replica; NGINX never
  resends a POST it already sent (`non_idempotent` only where it is safe: chat);
- per-hop timeouts from the stack's limits; `proxy_buffering off` for streams;
- API keys through the auth service with `auth_request` (business: the fallback
  service's local signed-key check, so business never needs the identity side);
- the dedicated fallbacks with `error_page 500 502 503 504 = @fallback` to the
  fallback service; the router only on its own errors (`proxy_intercept_errors
  off`), so a gateway's deliberate answers pass;
- route attribution from `$upstream_status` (a comma: a retry) and
  `$upstream_addr` (the last server tried names the instance).
"""

from __future__ import annotations

import json

from gatecrash.gateways.site import Route, Site, error_body, ms
from targets.headers import HEADER_QUOTA_SCOPE
from targets.stack import quota_scope

__all__ = ["render"]

WORKER_CONNECTIONS = 4096
KEEPALIVE = 16
# NGINX's documented defaults for passive health, written out.
MAX_FAILS = 1
FAIL_TIMEOUT_S = 10
TRIES = 2
HOP_HEADERS = ("X-Gatecrash-Route", "X-Gatecrash-Instance", "X-Gatecrash-Gateway")
KEPT_ROUTES = "cache-hit|fallback-cache|fallback-degraded|unknown"


def _json(status: int, message: str, code: str) -> str:
    return _quote(error_body(status, message, code))


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _upstreams(site: Site) -> list[str]:
    out = []
    for name, servers in site.groups.items():
        out.append(f"upstream {_group(name)} {{")
        for server in servers:
            out.append(f"    server {server.address} max_fails={MAX_FAILS} "
                       f"fail_timeout={FAIL_TIMEOUT_S}s;")
        out += [f"    keepalive {KEEPALIVE};", "}"]
    return out


def _group(name: str) -> str:
    return "svc_" + name.replace("-", "_")


def _maps(site: Site) -> list[str]:
    # The last address of $upstream_addr is the server that answered; ports are
    # unique per hop proxy (both runtimes), so the port names the instance.
    ports: dict[int, list[str]] = {}
    for address, iid in site.server_ids().items():
        ports.setdefault(int(address.rsplit(":", 1)[1]), []).append(iid)
    # No upstream contacted (NGINX answered itself): no attribution header at all.
    out = ["map $upstream_addr $gc_instance {", "    default unknown;", '    "" "";']
    for port, ids in sorted(ports.items()):
        if len(ids) == 1:  # one port, several instances (no proxies): unknown, not a guess
            out.append(f'    "~:{port}$" {ids[0]};')
    out += ["}",
            "map $upstream_status $gc_tried {", "    default primary;", '    "" none;',
            '    "~," retry;', "}",
            'map "$gc_tried $upstream_http_x_gatecrash_route" $gc_route {',
            '    "~^none " "";',
            f'    "~ (?<kept>{KEPT_ROUTES})$" $kept;',
            '    "~^retry " retry;',
            '    "~ retry$" retry;',
            "    default primary;", "}"]
    return out


def _headers(site: Site, *, auth: bool) -> list[str]:
    """proxy_set_header lines (a location that sets one inherits none: all, each time)."""
    out = ['proxy_set_header Host $host;', 'proxy_set_header Connection "";']
    if auth:
        # Never the client's own: only what the key check said.
        out += ["proxy_set_header X-Gatecrash-Tenant $gc_tenant;",
                "proxy_set_header X-Gatecrash-User $gc_user;"]
    return out


def _answer_headers(site: Site, route: str, instance: str) -> list[str]:
    if site.is_router:
        return [f"add_header X-Gatecrash-Router {site.instance} always;"]
    return [f"add_header X-Gatecrash-Route {route} always;",
            f"add_header X-Gatecrash-Instance {instance} always;",
            f"add_header X-Gatecrash-Gateway {site.instance} always;"]


def _location(site: Site, route: Route) -> list[str]:
    limits = site.limits
    if route.regex is not None:
        head = f'location ~ "{route.regex}" {{'
    else:
        head = f"location = {route.path} {{"
    methods = "|".join(route.methods)
    read_s = limits.stream_first_byte_timeout_s if route.streams or site.is_router \
        else limits.hop_timeout_s
    # Generation has no side effect: retried before its first byte like a GET.
    safe = "non_idempotent" if route.streams else ""
    body = [
        f"if ($request_method !~ ^(?:{methods})$) {{ return 405 "
        f"{_json(405, 'method not allowed', 'no_route')}; }}",
    ]
    auth = site.auth_group is not None
    if auth:
        body += ["auth_request /_auth;",
                 "auth_request_set $gc_tenant $upstream_http_x_gatecrash_tenant;",
                 "auth_request_set $gc_user $upstream_http_x_gatecrash_user;",
                 "auth_request_set $gc_quota $upstream_http_x_gatecrash_quota;",
                 "error_page 403 = @denied;"]
    body += _headers(site, auth=auth)
    body += [f"proxy_read_timeout {ms(read_s)};",
             f"proxy_send_timeout {ms(limits.hop_timeout_s)};",
             f"proxy_next_upstream error timeout http_502 http_503 http_504 {safe};".replace(
                 " ;", ";"),
             f"proxy_pass http://{_group(route.group)};"]
    if site.is_router:
        # Only NGINX's own errors (the gateway unreachable, timed out): a gateway's
        # deliberate 5xx answer passes to the client as it is.
        body += ["proxy_intercept_errors off;",
                 f"error_page 502 504 = @fallback_{route.domain.value};"]
    elif site.fallback_group is not None:
        body += ["proxy_intercept_errors on;", "error_page 500 502 503 504 = @fallback;"]
    else:
        body += ["error_page 500 502 504 = @unavailable;"]
    body += _answer_headers(site, "$gc_route", "$gc_instance")
    return [head, *("    " + line for line in body), "}"]


def _fallbacks(site: Site) -> list[str]:
    out: list[str] = []
    if site.fallback_group is not None:
        names = (["@fallback_" + d for d in sorted({r.domain.value for r in site.routes})]
                 if site.is_router else ["@fallback"])
        for name in names:
            out += [f"location {name} {{",
                    *("    " + h for h in _headers(site, auth=False)),
                    # A fallback answer has no side effect: safe to try the other replica.
                    "    proxy_next_upstream error timeout http_502 http_503 http_504 "
                    "non_idempotent;",
                    f"    proxy_read_timeout {ms(site.limits.hop_timeout_s)};",
                    f"    proxy_pass http://{_group(site.fallback_group)};"]
            if site.is_router:
                out += [f"    add_header X-Gatecrash-Gateway {site.instance} always;",
                        f"    add_header X-Gatecrash-Router {site.instance} always;"]
            else:
                # The fallback service says which fallback (cache or degraded) it served.
                out += ["    " + line for line in _answer_headers(
                    site, "$upstream_http_x_gatecrash_route", "$gc_instance")]
            out.append("}")
    out += ["location @unavailable {",
            f"    return 503 {_json(503, 'upstream unavailable', 'upstream_unavailable')};",
            "}"]
    return out


def _auth(site: Site) -> list[str]:
    if site.auth_group is None:
        return []
    return [
        "location = /_auth {",
        "    internal;",
        "    proxy_pass_request_body off;",
        '    proxy_set_header Content-Length "";',
        '    proxy_set_header Connection "";',
        "    proxy_set_header Host $host;",
        # The domain whose quota counts this request (a domain gateway's own rule);
        # empty (not sent, whatever the client sent) for `single`'s one counter.
        f'    proxy_set_header {HEADER_QUOTA_SCOPE} "{quota_scope(site.role) or ""}";',
        "    proxy_next_upstream error timeout http_502 http_503 http_504;",
        f"    proxy_read_timeout {ms(site.limits.hop_timeout_s)};",
        f"    proxy_pass http://{_group(site.auth_group)}/v1/authorize;",
        "}",
        # auth_request passes only 401 and 403 on: a 403 marked by the checker
        # is the tenant's quota, answered 429 as the built-in gateway does.
        "location @denied {",
        "    if ($gc_quota = exceeded) { return 429 "
        f"{_json(429, 'quota exceeded', 'quota_exceeded')}; }}",
        f"    return 403 {_json(403, 'forbidden', 'forbidden')};",
        "}",
    ]


def render(site: Site, work_dir: str) -> str:
    """The whole nginx.conf of one instance; `work_dir` holds its pid and temp files."""
    limits = site.limits
    health = json.dumps({"status": "ok", "instance": site.instance, "service": site.service,
                         "role": None if site.is_router else site.role, "product": "nginx"})
    server = [
        f"listen {site.host}:{site.port} reuseport backlog=4096;",
        "location = /health {",
        f"    return 200 {_quote(health)};",
        "}",
        *_auth(site),
    ]
    for route in site.routes:
        server += _location(site, route)
    server += _fallbacks(site)
    server += ["location / {", f"    return 404 {_json(404, 'no route', 'no_route')};", "}"]
    http = [
        "access_log off;",
        "server_tokens off;",
        "default_type application/json;",
        f"client_body_temp_path {work_dir}/client_body;",
        f"proxy_temp_path {work_dir}/proxy;",
        f"fastcgi_temp_path {work_dir}/fastcgi;",
        f"uwsgi_temp_path {work_dir}/uwsgi;",
        f"scgi_temp_path {work_dir}/scgi;",
        f"client_max_body_size {limits.max_body_bytes};",
        # The body stays in memory: a retry or a fallback can send it again.
        f"client_body_buffer_size {limits.max_body_bytes};",
        "proxy_http_version 1.1;",
        "proxy_buffering off;",
        f"proxy_connect_timeout {ms(limits.connect_timeout_s)};",
        f"proxy_next_upstream_tries {TRIES};",
        *(f"proxy_hide_header {h};" for h in (() if site.is_router else HOP_HEADERS)),
        *_upstreams(site),
        *_maps(site),
        "server {", *("    " + line for line in server), "}",
    ]
    lines = [
        f"# Generated by Gatecrash for {site.instance} ({site.role}) of stack {site.stack} "
        f"({site.arch}); do not edit.",
        "daemon off;",
        # One worker: the built-in gateway is one process; both get the same CPU share.
        "worker_processes 1;",
        f"pid {work_dir}/nginx.pid;",
        "error_log stderr warn;",
        f"events {{ worker_connections {WORKER_CONNECTIONS}; }}",
        "http {", *("    " + line for line in http), "}",
    ]
    return "\n".join(lines) + "\n"
