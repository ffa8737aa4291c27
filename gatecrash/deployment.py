"""What an experiment asks of the stack it runs on: the options of its deploy."""

from __future__ import annotations

from typing import Any

from chaos.httpfaults.faults import HTTP_FAULTS
from gatecrash.experiment import Experiment
from targets.topology import topology_for

__all__ = ["deploy_options", "http_fault_services"]


def deploy_options(experiment: Experiment, arch: str | None = None) -> dict[str, Any]:
    """How to deploy for `experiment` (on `arch`: with fault layers where its HTTP faults
    aim, and only there: a layer costs CPU on every request through it)."""
    options: dict[str, Any] = {"inference_backend": experiment.deploy.inference,
                               "proxies": experiment.deploy.proxies,
                               "gateway": experiment.deploy.gateway,
                               "llm_router": experiment.deploy.llm_router}
    if experiment.deploy.replicas:
        options["replicas"] = experiment.deploy.replicas
    if experiment.deploy.entries > 1:
        options["entries"] = experiment.deploy.entries
    if arch is not None:
        layered = http_fault_services(experiment, arch)
        if layered:
            options["http_faults"] = layered
    return options


def http_fault_services(experiment: Experiment, arch: str) -> tuple[str, ...]:
    """The services an experiment's HTTP faults target on `arch`."""
    topology = topology_for(arch)
    services: set[str] = set()
    for step in experiment.faults:
        if step.fault not in HTTP_FAULTS:
            continue
        target = step.target_for(arch)
        if target.service:
            services.add(target.service)
        elif target.instance:
            services.add(target.instance.rsplit("-", 1)[0])
        else:
            program, _, role = (target.role or "").partition(":")
            services |= {s.name for s in topology.services
                         if s.program == program and (not role or s.role == role)}
    return tuple(sorted(services))
