"""Scale-out on PostgreSQL: procrastinate jobs, `bridge worker`, shared rate limits.

With a PostgreSQL store, any number of `bridge serve` processes accept webhooks into the
inbox and, in the same transaction, defer a job (:mod:`bridge.jobs.doorbell`); any number
of `bridge worker` processes (:mod:`bridge.jobs.runtime`) run the jobs
(:mod:`bridge.jobs.tasks`). Every job on an escalation holds its procrastinate lock, so
one escalation is never worked by two workers at once. The inbox stays the source of
truth: a sweeper rings again for items whose job was lost. Connectors share one rate
limit per service through PostgreSQL (:mod:`bridge.jobs.limiter`). On the embedded SQLite
store none of this runs: `bridge serve` works its inbox itself.
"""
