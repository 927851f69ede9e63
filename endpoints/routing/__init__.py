"""Health-aware routing: which deployment of a model a chat tries, and in what order.

* ``state.py``: the shared health of each deployment (cooldowns, failure windows, open streams,
  time to first token), in the shared cache (Redis when ``REDIS_URL`` is set), so every worker
  sees one truth;
* ``pick.py``: the strategies (weighted random, least busy, lowest latency) over the deployments
  that are not cooling down, a half-open one first (its probe);
* ``router.py``: what the chat calls: ``choose`` before, ``claim`` (a half-open probe), ``failed``
  or ``opened`` after each try, ``ended`` when the chat settles;
* ``checks.py``: the optional proactive health checks (one worker at a time, by a lease) and
  "test now";
* ``report.py``: the health of every endpoint, model and deployment, for staff.

Endpoints keyed by each user (``user_provided``) and assistants endpoints are not tracked: one
user's key, or one thread's account, says nothing about anyone else's requests.
"""
