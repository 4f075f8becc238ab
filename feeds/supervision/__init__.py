"""Supervision engine (督导闭环 + 考核评价): lifecycle, routing, SLA clocks, alerts, read models.

Pure rules live in ``lifecycle``, ``routing``, ``workcalendar``, ``sla``, ``alerts`` and ``kpi``;
Redis I/O in ``readmodels``, ``worker``, ``commands`` and ``queries``. See docs/READ_MODELS.md.
"""
