"""Balances and spending limits (CONTRACT §8, ``budget_exceeded``).

Before the upstream call a chat's estimated cost (``core.admission.Estimate``,
made by the chat) is *reserved* by the admission check :func:`check.spending`,
in one transaction, on every account the request draws on:

* the user's balance (when ``balance.enabled``), in LibreChat's token credits::

      UPDATE usage_balance SET reserved = reserved + :x
       WHERE user_id = :u AND credits >= reserved + :x AND credits > reserved

* each spending window (a limit, its subject, the day or month) that applies::

      UPDATE usage_spendingwindow SET reserved_usd = reserved_usd + :x
       WHERE … AND spent_usd + reserved_usd + :x <= :amount AND spent_usd + reserved_usd < :amount

A single conditional UPDATE per row is atomic on PostgreSQL (the WHERE is
re-checked on the row version that won the lock) and on SQLite (one writer),
so concurrent requests can never hold more than there is.  If any does not
fit, nothing is held and the chat answers ``budget_exceeded`` (402) before
any upstream call.  A :class:`Reservation` row records what was held; settling
deletes it (exactly once) and, in the same transaction, gives the holds back
and charges the actual cost.  A cost that is unknown (no price) is charged as
0 — the usage record keeps "cost unknown", and admin lists the model as
unpriced.  As in LibreChat, a charge larger than the balance leaves it at 0.

* ``config.py``: the balance settings and enabled spending limits, cached;
* ``holds.py``: reserving and settling (sync: one transaction each);
* ``check.py``: the admission check and its hold.
"""
