"""The strategies: in what order a chat tries a model's deployments.

Deployments cooling down are left out.  One past its cooldown (half-open) comes first, so the
next request probes it; the others follow in the strategy's order:

* ``weighted-random``: drawn by weight, then the rest drawn again (the failover order);
* ``least-busy``: fewest streams open now (shared by every worker), ties by weight;
* ``lowest-latency``: lowest moving average of time to first token; a deployment without one
  comes first, so it gets measured; ties by weight.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from endpoints.catalog.deployments import Deployment, Policy
from endpoints.routing.state import Health


@dataclass(frozen=True, slots=True)
class Pick:
    deployment: Deployment
    health: Health
    probe_until: float | None = None  # half-open: the end of the cooldown it probes


def weighted_order(items: Sequence[tuple[Deployment, Health]], rng: random.Random | None = None) -> list[int]:
    """Indexes of ``items`` drawn by weight without replacement."""
    draw = rng or random
    left = list(range(len(items)))
    order = []
    while left:
        total = sum(items[i][0].weight for i in left)
        point = draw.random() * total
        for position, index in enumerate(left):
            point -= items[index][0].weight
            if point < 0 or position == len(left) - 1:
                order.append(left.pop(position))
                break
    return order


def order(deployments: Sequence[Deployment], healths: Sequence[Health], policy: Policy,
          now: float) -> tuple[list[Pick], float | None]:  # fmt: skip
    """The deployments to try, in order, and (when none may be tried) when the first cooldown ends."""
    if not policy.cooldowns:
        ready = list(zip(deployments, healths, strict=True))
        return [Pick(d, h) for d, h in _by_strategy(ready, policy)], None
    probes, ready, ends = [], [], []
    for deployment, health in zip(deployments, healths, strict=True):
        down = health.down
        if down is None:
            ready.append((deployment, health))
        elif down.get("until", 0) <= now:
            probes.append(Pick(deployment, health, probe_until=float(down["until"])))
        else:
            ends.append(float(down["until"]))
    picks = probes + [Pick(d, h) for d, h in _by_strategy(ready, policy)]
    return picks, (min(ends) if not picks and ends else None)


def _by_strategy(ready: list[tuple[Deployment, Health]], policy: Policy) -> list[tuple[Deployment, Health]]:
    if len(ready) < 2:
        return ready
    drawn = [ready[i] for i in weighted_order(ready)]
    if policy.strategy == "least-busy":
        drawn.sort(key=lambda item: item[1].busy)  # stable: ties keep their weighted draw
    elif policy.strategy == "lowest-latency":
        drawn.sort(key=lambda item: item[1].ttft if item[1].ttft is not None else -1.0)
    return drawn
